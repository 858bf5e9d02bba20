// Quality and reliability views for admins (search/quality.h): per recorder application and per
// site (the recorded users' region), over the last days, from the catalog.
#include <chrono>

#include "adminapi/http_util.h"
#include "adminapi/router.h"
#include "archive/archive.h"
#include "search/quality.h"

namespace verbatim::adminapi {

using nlohmann::json;
using namespace detail;  // NOLINT(google-build-using-namespace)

// GET /api/v1/quality?days=7 (1-90): for each recorder application (with its display name from
// the policy model) and each site, the recordings that ended and how (complete, partial,
// interrupted), their streams' packets, loss, MOS estimate (average, lowest, streams below 3.6)
// and jitter; and usage: per day, the recordings started and the minutes recorded. Aggregates
// only: no participant, so no ledger entry.
Response Router::quality(const Request& req, const std::map<std::string, std::string>& params) {
  const auto days = whole_param(params, "days", 7, 1, 90);
  if (!days) return problem(req, http::status::bad_request, "days: 1 to 90", "InvalidQuery");
  if (!options_.archive) {
    return problem(req, http::status::service_unavailable, "this server has no archive",
                   "ArchiveUnavailable");
  }
  const auto now = std::chrono::system_clock::now();
  const int64_t to_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const int64_t from_ms = to_ms - *days * 86400000;
  search::QualityReport report;
  auto st = options_.archive([&](archive::Archive& a) -> Status {
    auto r = search::quality_report(a.catalog(), from_ms, to_ms);
    if (!r) return r.error();
    report = std::move(r).value();
    return ok_status();
  });
  if (!st) {
    return problem(req, http::status::service_unavailable, st.error().message,
                   "ArchiveUnavailable");
  }
  const auto names = application_names();
  json apps = json::array(), sites = json::array();
  for (const auto& row : report.by_application) {
    json j = row.to_json();
    j["application"] = row.key;
    if (auto it = names.find(row.key); it != names.end()) j["name"] = it->second;
    apps.push_back(std::move(j));
  }
  for (const auto& row : report.by_region) {
    json j = row.to_json();
    j["region"] = row.key;
    sites.push_back(std::move(j));
  }
  json usage = json::array();
  for (const auto& d : report.usage) {
    usage.push_back({{"day", d.day}, {"recordings", d.recordings}, {"minutes", d.minutes}});
  }
  return reply(req, http::status::ok,
               {{"days", *days},
                {"usage", usage},
                {"from", format_iso8601_ms(std::chrono::system_clock::time_point(
                             std::chrono::milliseconds(from_ms)))},
                {"recordings", report.recordings},
                {"poorMos", search::kPoorMos},
                {"byRecorder", apps},
                {"bySite", sites}});
}

std::map<std::string, std::string> Router::application_names() {
  std::map<std::string, std::string> names;
  std::lock_guard lock(svc_.mutex());
  for (const auto& [id, instance] : svc_.state().instances()) {
    if (instance.application_id.empty()) continue;
    names[instance.application_id] =
        instance.display_name.empty() ? instance.user_principal_name : instance.display_name;
  }
  return names;
}

}  // namespace verbatim::adminapi
