#include "reconcile/missed_search.h"

#include "common/strings.h"

namespace verbatim::reconcile {

Result<MissedPage> search_missed(MissedStore* store, const search::Query& q) {
  std::vector<std::string> refused;
  auto needs_recording = [&](bool given, const char* name) {
    if (given) refused.emplace_back(name);
  };
  needs_recording(!q.origin.empty(), "origin");
  needs_recording(!q.dialed.empty(), "dialed");
  needs_recording(!q.direction.empty(), "direction");
  needs_recording(q.min_duration_ms || q.max_duration_ms, "minDuration/maxDuration");
  needs_recording(!q.region.empty(), "region");
  needs_recording(!q.group.empty(), "group");
  needs_recording(!q.text.empty(), "text");
  needs_recording(!q.keywords.empty(), "keywords");
  needs_recording(!q.phonetic.empty(), "phonetic");
  needs_recording(!q.data.empty(), "data");
  if (!refused.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      join(refused, ", ") + ": not a filter for status '" + q.status +
                          "' (these calls may have no recording; filter them by participant, "
                          "from, to, callId, application or policy)");
  }
  MissedQuery m;
  m.party = q.participant;
  m.status = q.status;
  m.from_ms = q.from_ms;
  m.to_ms = q.to_ms;
  m.call_id = q.call_id;
  m.application = q.application;
  m.policy = q.policy;
  m.limit = q.limit + 1;  // one more: is there a next page?
  if (!q.cursor.empty()) {
    const std::string digits = q.cursor.substr(1);
    if (q.cursor[0] != 'm' || digits.empty() ||
        digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 18) {
      return make_error(ErrorCode::kInvalidArgument, "cursor: not a cursor this search gave");
    }
    m.before_id = std::stoll(digits);
  }
  MissedPage page;
  if (!store) return page;
  auto alerts = store->list(m);
  if (!alerts) return alerts.error();
  page.alerts = std::move(alerts).value();
  if (page.alerts.size() > q.limit) {
    page.alerts.resize(q.limit);
    page.next_cursor = "m" + std::to_string(page.alerts.back().id);
  }
  return page;
}

nlohmann::json missed_page_json(const MissedPage& page) {
  nlohmann::json out = {{"missed", nlohmann::json::array()}};
  for (const auto& a : page.alerts) {
    auto j = a.to_json();
    j["webhook"] = a.webhook;
    out["missed"].push_back(std::move(j));
  }
  out["next"] = page.next_cursor.empty() ? nlohmann::json() : nlohmann::json(page.next_cursor);
  return out;
}

}  // namespace verbatim::reconcile
