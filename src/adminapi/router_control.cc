// Call control over REST: pausing and resuming the recording of a call in progress (a card
// payment), recording a call on demand and stopping such a recording. The request goes to the
// gateway that has the call through the call control table (common/call_control.h); this waits
// for its answer (at most kWait) and logs what was asked and what happened in the archive's
// ledger, one entry per recording of the call (access.pause, access.resume, access.record,
// access.stop-recording, with the reason).
// Who: compliance officers and supervisors, for calls with a party in the groups or regions of
// their account; a call out of scope and one that does not exist get the same 403 (T36).
#include <chrono>

#include <spdlog/spdlog.h>

#include "adminapi/http_util.h"
#include "adminapi/metrics.h"
#include "adminapi/router.h"
#include "archive/archive.h"
#include "common/call_control.h"
#include "common/data_paths.h"
#include "common/strings.h"
#include "search/search.h"

namespace verbatim::adminapi {

using nlohmann::json;
using namespace detail;  // NOLINT(google-build-using-namespace)

namespace {

// How long a request waits for the gateway: it polls every 200 ms, so 4 s is a gateway that is
// stopped or stuck. A request it took is waited for a little longer.
constexpr auto kWait = std::chrono::seconds(4);
constexpr auto kWaitTaken = std::chrono::seconds(2);
// A status file older than this is a gateway that is not running.
constexpr double kStaleStatusSeconds = 10;

// The portal's names for the actions, and the gateway's.
const std::map<std::string, std::string, std::less<>> kActions = {
    {"pause", "pause"}, {"resume", "resume"}, {"record", "start"}, {"stop-recording", "stop"}};

}  // namespace

// The calls at the gateway, from its status file (rewritten every second); an error when the
// gateway is not running.
Result<json> Router::gateway_calls() const {
  if (options_.data_dir.empty()) {
    return make_error(ErrorCode::kFailedPrecondition, "this server has no data directory");
  }
  const DataPaths paths(options_.data_dir);
  auto status = read_status_file(paths.gateway_status());
  const double age = status_age_seconds(paths.gateway_status(), std::chrono::system_clock::now());
  if (!status || age < 0 || age > kStaleStatusSeconds) {
    return make_error(
        ErrorCode::kFailedPrecondition,
        "the gateway is not running (its status file " +
            (age < 0 ? std::string("is missing") : fmt::format("is {:.0f} s old", age)) + ")");
  }
  return status->value("activeCalls", json::array());
}

// What a call's scope is matched on: its parties' groups and regions.
json Router::call_scope(const json& call) {
  json groups = json::array(), regions = json::array();
  for (const char* side : {"caller", "callee"}) {
    const json& p = call.value(side, json::object());
    for (const auto& g : p.value("groups", json::array())) groups.push_back(g);
    if (p.contains("region") && p["region"].is_string()) regions.push_back(p["region"]);
  }
  return {{"groups", groups}, {"region", regions}};
}

Response Router::call_control(const Request& req, const Principal& who, std::string_view path) {
  const auto parts = split(path.substr(std::string_view("/api/v1/live/calls/").size()), '/');
  if (parts.size() != 2 || parts[0].empty()) {
    return problem(req, http::status::not_found, "no such resource", "NotFound");
  }
  const std::string call_id = url_decode(parts[0]);
  const std::string& action = parts[1];
  if (req.method() != http::verb::post) {
    return problem(req, http::status::method_not_allowed, "use POST", "MethodNotAllowed");
  }
  if (!may_monitor(who.account.role)) return forbidden(req);
  const auto named = kActions.find(action);
  if (named == kActions.end()) {
    return problem(req, http::status::not_found,
                   "no such action: " + action + " (pause, resume, record, stop-recording)",
                   "NoSuchAction");
  }
  auto parsed = object_body(req);
  if (!parsed) {
    return problem(req, http::status::bad_request, "the body must be a JSON object", "InvalidBody");
  }
  const json& body = *parsed;
  ControlRequest r;
  r.call_id = call_id;
  r.action = named->second;
  r.requested_by = who.actor();
  r.reason = body.contains("reason") && body["reason"].is_string()
                 ? body["reason"].get<std::string>()
                 : "";
  r.party =
      body.contains("party") && body["party"].is_string() ? body["party"].get<std::string>() : "";
  r.policy = body.contains("policy") && body["policy"].is_string()
                 ? body["policy"].get<std::string>()
                 : "";
  const std::string reason(trim(r.reason));
  if ((reason.empty() && action != "resume") || r.reason.size() > 500) {
    return problem(req, http::status::bad_request,
                   "give a reason of 1 to 500 characters (it goes into the ledger)",
                   "InvalidReason");
  }
  if (!r.party.empty() && r.party != "caller" && r.party != "callee") {
    return problem(req, http::status::bad_request, "party must be caller or callee",
                   "InvalidParty");
  }
  if (r.policy.size() > 256) {
    return problem(req, http::status::bad_request, "policy: at most 256 characters",
                   "InvalidPolicy");
  }
  auto calls = gateway_calls();
  if (!calls) {
    return problem(req, http::status::service_unavailable, calls.error().message,
                   "GatewayUnavailable");
  }
  const json* call = nullptr;
  for (const auto& c : calls.value()) {
    if (c.value("callId", "") == call_id) call = &c;
  }
  auto log = [&](const std::string& what, const json& detail,
                 const std::vector<std::string>& recordings) -> Status {
    if (!options_.archive) return ok_status();
    return options_.archive([&](archive::Archive& a) -> Status {
      if (recordings.empty()) return a.log_access(what, "", who.actor(), detail);
      for (const auto& rec : recordings) {
        VB_TRY(a.log_access(what, rec, who.actor(), detail));
      }
      return ok_status();
    });
  };
  if (!call || !policy::in_scope(who.account, call_scope(*call))) {
    (void)log("denied", {{"callId", call_id}, {"action", action}}, {});
    security_event(who.actor(), "access.denied", {{"call", call_id}, {"path", std::string(path)}});
    return forbidden(req);
  }
  auto control = CallControl::open(DataPaths(options_.data_dir).call_control_db());
  if (!control) {
    return problem(req, http::status::service_unavailable, control.error().message,
                   "GatewayUnavailable");
  }
  auto id = control.value()->request(r);
  if (!id) {
    return problem(req, http::status::service_unavailable, id.error().message,
                   "GatewayUnavailable");
  }
  // The gateway's answer.
  auto waited = control.value()->wait_answer(id.value(), kWait, kWaitTaken);
  std::optional<ControlRequest> answer = waited ? std::move(waited).value() : std::nullopt;
  // The recordings of the call in progress now (a recording on demand appears once its recorder
  // answered, after this).
  std::vector<std::string> recordings;
  if (options_.archive) {
    (void)options_.archive([&](archive::Archive& a) -> Status {
      auto same = search::recordings_of_call(a.catalog(), call_id);
      if (same) {
        for (const auto& c : same.value()) {
          if (c.status == "recording") recordings.push_back(c.id);
        }
      }
      return ok_status();
    });
  }
  json detail = {{"callId", call_id}, {"reason", reason}};
  if (!r.party.empty()) detail["party"] = r.party;
  if (!r.policy.empty()) detail["policy"] = r.policy;
  if (!answer) {
    detail["result"] = "no gateway answered";
    (void)log(action, detail, recordings);
    return problem(req, http::status::gateway_timeout,
                   "the gateway did not answer within " + std::to_string(kWait.count()) + " s",
                   "GatewayTimeout");
  }
  detail["result"] = answer->result;
  detail["done"] = answer->state == "done";
  if (auto st = log(action, detail, recordings); !st) {
    spdlog::error("call {}: {} by {} not in the ledger: {}", call_id, action, who.actor(),
                  st.error().message);
  }
  spdlog::info("admin-api {}: {} call {} ({}): {} {}", who.actor(), action, call_id, reason,
               answer->state, answer->result);
  if (answer->state != "done") {
    return problem(req, http::status::conflict, answer->result, "ControlRefused");
  }
  return reply(req, http::status::ok,
               {{"callId", call_id},
                {"action", action},
                {"result", answer->result},
                {"recordings", recordings}});
}

}  // namespace verbatim::adminapi
