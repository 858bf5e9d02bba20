// Live monitoring over REST: the calls being recorded now, and listening to one (live.h).
// Who: compliance officers and supervisors, each within the groups and regions of their
// account; a recording outside that scope and one that does not exist get the same 403, logged
// (access.denied), as for recordings (T36).
#include <chrono>

#include <spdlog/spdlog.h>

#include "adminapi/http_util.h"
#include "adminapi/router.h"
#include "archive/archive.h"
#include "common/strings.h"
#include "search/search.h"

namespace verbatim::adminapi {

using nlohmann::json;
using namespace detail;  // NOLINT(google-build-using-namespace)

bool Router::may_monitor(policy::Role role) {
  return policy::has_right(role, Right::kRecordingsRead) || role == policy::Role::kSupervisor;
}

Response Router::live_calls(const Request& req, const Principal& who) {
  if (!may_monitor(who.account.role)) return forbidden(req);
  if (!options_.archive) {
    return problem(req, http::status::service_unavailable, "this server has no archive",
                   "ArchiveUnavailable");
  }
  json calls = json::array();
  const auto names = application_names();
  auto recorder = [&](const std::string& application) {
    json r = {{"application", application}};
    if (auto it = names.find(application); it != names.end()) r["name"] = it->second;
    return r;
  };
  auto st = options_.archive([&](archive::Archive& a) -> Status {
    search::Query q;
    q.status = "recording";
    q.limit = 1000;
    q.scope_groups = who.account.groups;
    q.scope_regions = who.account.regions;
    auto page = search::run(a.catalog(), q);
    if (!page) return page.error();
    std::vector<std::string> ids;
    for (const auto& h : page.value().hits) {
      auto r = a.recording(h.id);
      if (!r || r.value().status != "recording") continue;  // ended since
      json j = search::hit_json(h);
      const json& m = r.value().metadata;
      // The recorders: this recording's application, and the others recording the same call, each
      // with the name of its instance.
      json recorders = json::array();
      if (!h.application.empty()) recorders.push_back(recorder(h.application));
      if (!h.call_id.empty()) {
        auto others = search::recordings_of_call(a.catalog(), h.call_id);
        if (others) {
          for (const auto& o : others.value()) {
            if (o.id != h.id && !o.application.empty())
              recorders.push_back(recorder(o.application));
          }
        }
      }
      j["recorders"] = recorders;
      if (m.contains("groups")) j["groups"] = m["groups"];
      j["listen"] = "/api/v1/live/" + h.id + "/listen";
      ids.push_back(h.id);
      calls.push_back(std::move(j));
    }
    return a.log_search({{"status", "recording"},
                         {"live", true},
                         {"scope", {{"groups", q.scope_groups}, {"regions", q.scope_regions}}}},
                        ids, who.actor());
  });
  if (!st) {
    return problem(req, http::status::service_unavailable, st.error().message,
                   "ArchiveUnavailable");
  }
  json out{{"count", calls.size()}, {"calls", calls}};
  // Every call at the gateway within the caller's scope, recorded or not: what call control
  // (router_control.cc) acts on. Without a running gateway, why not.
  if (auto at_gateway = gateway_calls(); !at_gateway) {
    out["gatewayError"] = at_gateway.error().message;
  } else {
    json mine = json::array();
    for (auto& c : at_gateway.value()) {
      if (!policy::in_scope(who.account, call_scope(c))) continue;
      json ids = json::array();
      for (const auto& rec : calls) {
        if (rec.value("callId", "") == c.value("callId", "")) ids.push_back(rec["id"]);
      }
      c["recordingIds"] = std::move(ids);
      for (const char* side : {"caller", "callee"}) {
        if (c.contains(side)) c[side].erase("groups");
      }
      mine.push_back(std::move(c));
    }
    out["gatewayCalls"] = std::move(mine);
  }
  return reply(req, http::status::ok, out);
}

std::variant<Response, std::unique_ptr<LiveFeed>> Router::live_open(const Request& req,
                                                                    const std::string& peer) {
  const std::string_view target(req.target().data(), req.target().size());
  const std::string_view path = target.substr(0, target.find('?'));
  std::string rec;
  if (!match("/api/v1/live/{id}/listen", path, rec)) {
    return problem(req, http::status::not_found, "no such resource", "NotFound");
  }
  rec = url_decode(rec);
  // Browsers send their page's origin with every WebSocket; another site's page is refused.
  if (!same_origin(req)) {
    return problem(req, http::status::forbidden, "cross-origin request", "CsrfFailed");
  }
  auto authenticated = authenticate(req, path, peer);
  if (auto* r = std::get_if<Response>(&authenticated)) return std::move(*r);
  const Principal& who = std::get<Principal>(authenticated);
  if (!options_.archive || !options_.open_archive) {
    return problem(req, http::status::service_unavailable, "this server has no archive",
                   "ArchiveUnavailable");
  }
  bool allowed = false;
  auto st = options_.archive([&](archive::Archive& a) -> Status {
    auto info = a.recording(rec);
    allowed = may_monitor(who.account.role) && info &&
              policy::in_scope(who.account, info.value().metadata);
    if (!allowed) {
      (void)a.log_access("denied", rec, who.actor(), {{"live", true}});
      security_event(who.actor(), "access.denied",
                     {{"recording", rec}, {"path", std::string(path)}});
    }
    return ok_status();
  });
  if (!st) {
    return problem(req, http::status::service_unavailable, st.error().message,
                   "ArchiveUnavailable");
  }
  if (!allowed) return forbidden(req);
  auto view = options_.open_archive();
  if (!view) {
    return problem(req, http::status::service_unavailable, view.error().message,
                   "ArchiveUnavailable");
  }
  auto feed = LiveFeed::open(std::move(view).value(), rec, who.actor());
  if (!feed) {
    return problem(req,
                   feed.error().code == ErrorCode::kFailedPrecondition
                       ? http::status::conflict
                       : http::status::service_unavailable,
                   feed.error().message,
                   feed.error().code == ErrorCode::kFailedPrecondition ? "NotInProgress"
                                                                       : "ArchiveUnavailable");
  }
  spdlog::info("admin-api {} ({}) from {}: listening to {}", who.actor(),
               policy::role_name(who.account.role), peer.empty() ? "?" : peer, rec);
  return std::move(feed).value();
}

}  // namespace verbatim::adminapi
