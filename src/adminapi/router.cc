#include "adminapi/router.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <spdlog/spdlog.h>

#include "admin/interpreter.h"
#include "adminapi/http_util.h"
#include "adminapi/metrics.h"
#include "archive/archive.h"
#include "archive/export.h"
#include "archive/tarball.h"
#include "common/clock.h"
#include "common/data_paths.h"
#include "common/ids.h"
#include "common/strings.h"
#include "policy/explain.h"

namespace verbatim::adminapi {

using nlohmann::json;
using namespace detail;  // NOLINT(google-build-using-namespace)

namespace {

struct Route {
  http::verb method;
  const char* pattern;  // "{id}" matches one path segment
  const char* cmdlet;
  const char* id_param;  // parameter that receives {id}
};

// Resource routes: each is one cmdlet, the JSON body giving its other parameters.
constexpr Route kRoutes[] = {
    {http::verb::get, "/api/v1/users", "Get-CsOnlineUser", nullptr},
    {http::verb::post, "/api/v1/users", "New-VbUser", nullptr},
    {http::verb::get, "/api/v1/users/{id}", "Get-CsOnlineUser", "Identity"},
    {http::verb::patch, "/api/v1/users/{id}", "Set-VbUser", "Identity"},
    {http::verb::delete_, "/api/v1/users/{id}", "Remove-VbUser", "Identity"},
    {http::verb::post, "/api/v1/users/{id}/policy", "Grant-CsTeamsComplianceRecordingPolicy",
     "Identity"},
    {http::verb::get, "/api/v1/users/{id}/policy-assignment", "Get-CsUserPolicyAssignment",
     "Identity"},
    {http::verb::get, "/api/v1/groups", "Get-VbGroup", nullptr},
    {http::verb::post, "/api/v1/groups", "New-VbGroup", nullptr},
    {http::verb::get, "/api/v1/groups/{id}", "Get-VbGroup", "Identity"},
    {http::verb::patch, "/api/v1/groups/{id}", "Set-VbGroup", "Identity"},
    {http::verb::delete_, "/api/v1/groups/{id}", "Remove-VbGroup", "Identity"},
    {http::verb::get, "/api/v1/groups/{id}/members", "Get-VbGroupMember", "Group"},
    {http::verb::post, "/api/v1/groups/{id}/members", "Add-VbGroupMember", "Group"},
    {http::verb::post, "/api/v1/groups/{id}/policy", "Grant-CsTeamsComplianceRecordingPolicy",
     "Group"},
    {http::verb::get, "/api/v1/group-assignments", "Get-CsGroupPolicyAssignment", nullptr},
    {http::verb::post, "/api/v1/global/policy", "Grant-CsTeamsComplianceRecordingPolicy", nullptr},
    {http::verb::get, "/api/v1/application-instances", "Get-CsOnlineApplicationInstance", nullptr},
    {http::verb::post, "/api/v1/application-instances", "New-CsOnlineApplicationInstance", nullptr},
    {http::verb::get, "/api/v1/application-instances/{id}", "Get-CsOnlineApplicationInstance",
     "Identity"},
    {http::verb::patch, "/api/v1/application-instances/{id}", "Set-CsOnlineApplicationInstance",
     "Identity"},
    {http::verb::delete_, "/api/v1/application-instances/{id}",
     "Remove-CsOnlineApplicationInstance", "Identity"},
    {http::verb::get, "/api/v1/recorder-endpoints", "Get-VbRecorderEndpoint", nullptr},
    {http::verb::post, "/api/v1/recorder-endpoints", "New-VbRecorderEndpoint", nullptr},
    {http::verb::get, "/api/v1/recorder-endpoints/{id}", "Get-VbRecorderEndpoint", "Identity"},
    {http::verb::patch, "/api/v1/recorder-endpoints/{id}", "Set-VbRecorderEndpoint", "Identity"},
    {http::verb::delete_, "/api/v1/recorder-endpoints/{id}", "Remove-VbRecorderEndpoint",
     "Identity"},
    {http::verb::get, "/api/v1/policies", "Get-CsTeamsComplianceRecordingPolicy", nullptr},
    {http::verb::post, "/api/v1/policies", "New-CsTeamsComplianceRecordingPolicy", nullptr},
    {http::verb::get, "/api/v1/policies/{id}", "Get-CsTeamsComplianceRecordingPolicy", "Identity"},
    {http::verb::patch, "/api/v1/policies/{id}", "Set-CsTeamsComplianceRecordingPolicy",
     "Identity"},
    {http::verb::delete_, "/api/v1/policies/{id}", "Remove-CsTeamsComplianceRecordingPolicy",
     "Identity"},
    {http::verb::get, "/api/v1/audit", "Get-VbAuditLog", nullptr},
};

}  // namespace

std::string token_hash(const std::string& token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  return to_hex(digest);
}

std::string new_token() { return "vbt_" + random_hex(24); }

Result<IssuedToken> issue_token(policy::Store& store, const std::string& account,
                                const std::string& now_iso) {
  IssuedToken t{{account + "-" + random_hex(4), account, now_iso}, new_token()};
  VB_TRY(store.put_token(t.record, token_hash(t.secret)));
  return t;
}

bool Router::runs_off_loop(const Request& req) {
  const std::string_view target(req.target().data(), req.target().size());
  // Call control waits for the gateway's answer (up to a few seconds).
  return istarts_with(target, "/api/v1/calls") || istarts_with(target, "/api/v1/live/calls/");
}

Router::Router(policy::PolicyService& svc, RouterOptions options)
    : svc_(svc),
      options_(std::move(options)),
      static_files_(options_.web_root, options_.client),
      sessions_(options_.session_limits) {}

Result<std::optional<policy::Account>> Router::account(const std::string& name) {
  std::lock_guard lock(svc_.mutex());
  if (!svc_.store()) return std::optional<policy::Account>();
  return svc_.store()->account(name);
}

void Router::security_event(const std::string& actor, const std::string& action,
                            const json& detail) {
  std::lock_guard lock(svc_.mutex());
  if (!svc_.store()) return;
  if (auto st = svc_.store()->log_security_event({0, now_iso(), actor, action, detail}); !st) {
    spdlog::error("security log: {}", st.error().message);
  }
}

Response Router::handle(const Request& req, const std::string& peer) {
  const std::string_view target(req.target().data(), req.target().size());
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  const auto query = query_params(q == std::string_view::npos ? "" : target.substr(q + 1));

  if (path == "/healthz") return reply(req, http::status::ok, {{"status", "ok"}});
  if (!istarts_with(path, "/api/") && path != "/metrics") {
    if (static_files_.enabled()) return static_files_.serve(req, path);
    return problem(req, http::status::not_found, "no such resource", "NotFound");
  }
  if (path == "/api/v1/session" || path == "/api/v1/session/reauth") {
    return session(req, path, peer);
  }
  if (path == "/api/v1/client") {
    // Public: the page needs it before anyone signs in (the user signs in to the gateway).
    const json c = options_.client ? options_.client() : json();
    if (req.method() != http::verb::get) {
      return problem(req, http::status::method_not_allowed, "use GET", "MethodNotAllowed");
    }
    if (c.is_null()) {
      return problem(req, http::status::not_found,
                     "this server has no web client: the gateway listens for no WebSocket "
                     "(gateway.wss_listen)",
                     "NoWebClient");
    }
    return reply(req, http::status::ok, c);
  }

  auto who = authenticate(req, path, peer);
  if (auto* r = std::get_if<Response>(&who)) return std::move(*r);
  const auto& p = std::get<Principal>(who);
  Response res = route(req, p, path, query);
  spdlog::info("admin-api {} ({}, {}) from {}: {} {} -> {}", p.actor(),
               policy::role_name(p.account.role), p.token_id, peer.empty() ? "?" : peer,
               std::string(req.method_string()), std::string(req.target()), res.result_int());
  return res;
}

std::variant<Router::Principal, Response> Router::authenticate(const Request& req,
                                                               std::string_view path,
                                                               const std::string& peer) {
  // The token names an account; the account its role and scope. The portal's session cookie
  // does the same for requests without a token.
  const auto auth = req[http::field::authorization];
  const std::string_view bearer(auth.data(), auth.size());
  auto refuse = [&](const std::string& why) {
    if (auth_log_.allow(std::chrono::steady_clock::now())) {
      const uint64_t held = auth_log_.suppressed();
      spdlog::warn("admin-api {} {} from {}: refused ({}){}", std::string(req.method_string()),
                   std::string(path), peer.empty() ? "?" : peer, why,
                   held ? " (and " + std::to_string(held) + " more not logged)" : "");
    }
  };
  if (bearer.empty() && req.find(http::field::cookie) != req.end()) {
    auto who = session_principal(req, path);
    if (auto* r = std::get_if<Response>(&who)) {
      refuse("portal session: " + std::string(r->body().substr(0, 120)));
    }
    return who;
  }
  if (!istarts_with(bearer, "Bearer ") || bearer.size() <= 7) {
    refuse("no token");
    Response r = problem(req, http::status::unauthorized,
                         "missing bearer token (create one with `verbatim token create ACCOUNT`)",
                         "Unauthenticated");
    r.set(http::field::www_authenticate, "Bearer");
    return r;
  }
  Principal who;
  std::lock_guard lock(svc_.mutex());
  if (!svc_.store()) {
    return problem(req, http::status::service_unavailable, "no store", "StoreUnavailable");
  }
  auto token = svc_.store()->token_by_hash(token_hash(std::string(trim(bearer.substr(7)))));
  if (!token) {
    return problem(req, http::status::service_unavailable, token.error().message,
                   "StoreUnavailable");
  }
  std::optional<policy::Account> acct;
  if (token.value()) {
    auto a = svc_.store()->account(token.value()->account);
    if (a && a.value()) acct = a.value();
  }
  if (!acct) {
    refuse("invalid or revoked token");
    Response r =
        problem(req, http::status::unauthorized, "invalid or revoked token", "Unauthenticated");
    r.set(http::field::www_authenticate, "Bearer error=\"invalid_token\"");
    return r;
  }
  who.account = std::move(*acct);
  who.token_id = "token " + token.value()->id;
  return who;
}

Response Router::route(const Request& req, const Principal& who, std::string_view path,
                       const std::map<std::string, std::string>& query) {
  const policy::Role role = who.account.role;
  auto may = [&](Right r) { return policy::has_right(role, r); };

  // GET /api/v1/status: what each role sharing this data directory last wrote (its status file)
  // and how long ago: the gateway (calls, recorder endpoints' health, totals), the recorder, the
  // archive's verification. For admins, recorder admins and auditors.
  if (path == "/api/v1/status") {
    if (!may(Right::kPolicyRead) && !may(Right::kLedgerRead)) return forbidden(req);
    if (options_.data_dir.empty())
      return problem(req, http::status::not_found, "no status here", "NotFound");
    const DataPaths paths(options_.data_dir);
    json out = json::object();
    for (const auto& [role, file] : {std::pair{"gateway", paths.gateway_status()},
                                     std::pair{"recorder", paths.recorder_status()},
                                     std::pair{"verification", paths.verify_status()}}) {
      auto status = read_status_file(file);
      // Who is on which call is for the Live page (its scope), not for the status.
      if (status && status->is_object()) status->erase("activeCalls");
      const double age = status_age_seconds(file, std::chrono::system_clock::now());
      out[role] = {{"status", status ? *status : json()},
                   {"ageSeconds", age < 0 ? json() : json(age)}};
    }
    return reply(req, http::status::ok, out);
  }
  // Prometheus: any account's token (an auditor's is the usual choice for a scraper).
  if (path == "/metrics") {
    if (options_.data_dir.empty())
      return problem(req, http::status::not_found, "no metrics here", "NotFound");
    Response r{http::status::ok, req.version()};
    r.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    r.set(http::field::cache_control, "no-store");
    r.body() = prometheus_metrics(DataPaths(options_.data_dir), std::chrono::system_clock::now());
    r.prepare_payload();
    r.keep_alive(req.keep_alive());
    return r;
  }
  if (path == "/api/v1/decision") {
    if (!may(Right::kPolicyRead)) return forbidden(req);
    if (req.method() != http::verb::get)
      return problem(req, http::status::method_not_allowed, "use GET", "MethodNotAllowed");
    auto it = query.find("party");
    if (it == query.end() || it->second.empty()) {
      return problem(req, http::status::bad_request, "query parameter 'party' is required",
                     "MissingParty");
    }
    return reply(req, http::status::ok,
                 policy::decision_json(svc_.engine().decide(it->second), it->second));
  }
  if (path == "/api/v1/explain") {
    if (!may(Right::kPolicyRead)) return forbidden(req);
    auto it = query.find("user");
    if (it == query.end() || it->second.empty()) {
      return problem(req, http::status::bad_request, "query parameter 'user' is required",
                     "MissingUser");
    }
    std::lock_guard lock(svc_.mutex());
    (void)svc_.refresh();
    const policy::User* u = svc_.state().user_by_address(it->second);
    if (!u) {
      auto named = svc_.state().users_by_display_name(it->second);
      if (named.size() == 1) u = named.front();
    }
    if (!u)
      return problem(req, http::status::not_found, "no user \"" + it->second + "\"",
                     "UserNotFound");
    return reply(req, http::status::ok,
                 policy::explanation_json(policy::explain(svc_.state(), *u)));
  }
  if (path == "/api/v1/calls" || istarts_with(path, "/api/v1/calls/")) {
    if (!may(Right::kCallsRead)) return forbidden(req);
    if (req.method() != http::verb::get)
      return problem(req, http::status::method_not_allowed, "use GET", "MethodNotAllowed");
    std::string id;
    if (path != "/api/v1/calls" && !match("/api/v1/calls/{id}", path, id)) {
      return problem(req, http::status::not_found, "no such resource", "NotFound");
    }
    return calls(req, who, id, query);
  }
  if (path == "/api/v1/saved-searches" || istarts_with(path, "/api/v1/saved-searches/")) {
    if (!may(Right::kRecordingsRead)) return forbidden(req);
    return saved_searches(req, who, path, query);
  }
  if (path == "/api/v1/meetings" || istarts_with(path, "/api/v1/meetings/")) {
    return meetings(req, who, path, query);
  }
  if (path == "/api/v1/quality") {
    if (!may(Right::kPolicyRead) && !may(Right::kAuditRead)) {
      return forbidden(req);
    }
    if (req.method() != http::verb::get)
      return problem(req, http::status::method_not_allowed, "use GET", "MethodNotAllowed");
    return quality(req, query);
  }
  if (path == "/api/v1/missed-recordings/trend") {
    if (!may(Right::kCallsRead) && !may(Right::kRecordingsRead)) return forbidden(req);
    if (req.method() != http::verb::get)
      return problem(req, http::status::method_not_allowed, "use GET", "MethodNotAllowed");
    return missed_trend(req, who, query);
  }
  if (path == "/api/v1/missed-recordings") {
    if (!may(Right::kCallsRead) && !may(Right::kRecordingsRead)) return forbidden(req);
    if (req.method() != http::verb::get)
      return problem(req, http::status::method_not_allowed, "use GET", "MethodNotAllowed");
    return missed_recordings(req, who, query);
  }
  if (path == "/api/v1/recordings") {
    if (!may(Right::kRecordingsRead)) return forbidden(req);
    if (req.method() != http::verb::get)
      return problem(req, http::status::method_not_allowed, "use GET", "MethodNotAllowed");
    return search_recordings(req, who, query);
  }
  if (istarts_with(path, "/api/v1/recordings/")) return recordings(req, who, path);
  if (path == "/api/v1/live") {
    if (req.method() != http::verb::get)
      return problem(req, http::status::method_not_allowed, "use GET", "MethodNotAllowed");
    return live_calls(req, who);
  }
  if (istarts_with(path, "/api/v1/live/calls/")) return call_control(req, who, path);
  if (istarts_with(path, "/api/v1/live/")) {
    return problem(
        req, http::status::upgrade_required,
        "listening is a WebSocket: GET " + std::string(path) + " with Upgrade: websocket",
        "WebSocketRequired");
  }
  if (istarts_with(path, "/api/v1/accounts") || istarts_with(path, "/api/v1/tokens")) {
    return accounts(req, who, path);
  }
  if (istarts_with(path, "/api/v1/approvals")) return approvals(req, who, path);
  if (path == "/api/v1/cases" || istarts_with(path, "/api/v1/cases/")) {
    return cases(req, who, path);
  }
  if (path == "/api/v1/security-log") {
    if (!may(Right::kAuditRead)) return forbidden(req);
    int64_t after = 0;
    if (auto it = query.find("after"); it != query.end()) {
      after = static_cast<int64_t>(std::strtoll(it->second.c_str(), nullptr, 10));
    }
    std::lock_guard lock(svc_.mutex());
    auto events = svc_.store()->security_events(after, 1000);
    if (!events) {
      return problem(req, http::status::service_unavailable, events.error().message,
                     "StoreUnavailable");
    }
    json out = json::array();
    for (const auto& e : events.value()) {
      out.push_back({{"seq", e.seq},
                     {"at", e.at},
                     {"actor", e.actor},
                     {"action", e.action},
                     {"detail", e.detail}});
    }
    return reply(req, http::status::ok, {{"events", out}});
  }
  if (path == "/api/v1/ledger/head") {
    if (!may(Right::kLedgerRead)) return forbidden(req);
    if (!options_.archive) {
      return problem(req, http::status::service_unavailable, "this server has no archive",
                     "ArchiveUnavailable");
    }
    json out;
    auto st = options_.archive([&](archive::Archive& a) -> Status {
      auto head = a.ledger().latest_head();
      if (!head) return head.error();
      out = {{"size", a.ledger().size()},
             {"publicKey", archive::hex(a.ledger().public_key())},
             {"head", head.value() ? head.value()->to_line() : ""}};
      return ok_status();
    });
    if (!st) {
      return problem(req, http::status::service_unavailable, st.error().message,
                     "ArchiveUnavailable");
    }
    return reply(req, http::status::ok, out);
  }

  // GET /api/v1/ledger/entries?type=PREFIX&recording=ID&before=SEQ&limit=N: the ledger's
  // entries, newest first, for auditors and officers (who did what to which recording: reads,
  // listens, redactions, notes, holds, exports). Scans at most 100,000 entries per page; `next`
  // continues where it stopped.
  if (path == "/api/v1/ledger/entries") {
    if (!may(Right::kLedgerRead)) return forbidden(req);
    if (!options_.archive) {
      return problem(req, http::status::service_unavailable, "this server has no archive",
                     "ArchiveUnavailable");
    }
    const auto limit = whole_param(query, "limit", 100, 1, 1000);
    const auto before =
        whole_param(query, "before", INT64_MAX, 0, INT64_MAX);  // a sequence number: from it back
    if (!limit || !before) {
      return problem(req, http::status::bad_request, "limit: 1-1000; before: a sequence number",
                     "InvalidQuery");
    }
    const std::string type = query.count("type") ? query.at("type") : "";
    const std::string rec = query.count("recording") ? query.at("recording") : "";
    json out;
    auto st = options_.archive([&](archive::Archive& a) -> Status {
      VB_TRY(a.ledger().sync());  // what other processes (the recorder) appended
      json entries = json::array();
      uint64_t i = std::min<uint64_t>(static_cast<uint64_t>(*before), a.ledger().size());
      uint64_t scanned = 0;
      while (i > 0 && entries.size() < static_cast<size_t>(*limit) && scanned < 100000) {
        --i;
        ++scanned;
        auto bytes = a.ledger().entry_bytes(i);
        if (!bytes) return bytes.error();
        json e = json::parse(bytes.value().begin(), bytes.value().end(), nullptr, false);
        if (!e.is_object()) continue;
        if (!type.empty() && !e.value("type", "").starts_with(type)) continue;
        if (!rec.empty() && e.value("recording", "") != rec && e.value("target", "") != rec)
          continue;
        entries.push_back(std::move(e));
      }
      out = {{"size", a.ledger().size()}, {"entries", entries}};
      if (i > 0) out["next"] = i;
      return ok_status();
    });
    if (!st) {
      return problem(req, http::status::service_unavailable, st.error().message,
                     "ArchiveUnavailable");
    }
    return reply(req, http::status::ok, out);
  }

  json body = json::object();
  if (!req.body().empty() && req.method() != http::verb::get) {
    body = json::parse(req.body(), nullptr, false);
    if (body.is_discarded()) {
      return problem(req, http::status::bad_request, "the request body is not valid JSON",
                     "InvalidJson");
    }
  }
  // POST /api/v1/script/preview: what the script would print and whom it would start or stop
  // recording; nothing is committed or audited.
  // Both script routes: a policy writer POSTs {"script": "..."}; nullopt when it is fine.
  auto script_refused = [&]() -> std::optional<Response> {
    if (!may(Right::kPolicyWrite)) return forbidden(req);
    if (req.method() != http::verb::post)
      return problem(req, http::status::method_not_allowed, "use POST", "MethodNotAllowed");
    if (!body.is_object() || !body.contains("script") || !body["script"].is_string()) {
      return problem(req, http::status::bad_request, "body must be {\"script\": \"...\"}",
                     "InvalidBody");
    }
    return std::nullopt;
  };
  if (path == "/api/v1/script/preview") {
    if (auto refused = script_refused()) return std::move(*refused);
    admin::Interpreter interp(svc_, who.actor());
    if (!options_.import_dir.empty()) interp.confine_to(options_.import_dir);
    const auto p = interp.preview_script(body["script"].get<std::string>());
    json out = outcome_json(p.outcome);
    json changes = json::array();
    for (const auto& c : p.changes) {
      changes.push_back({{"user", c.user},
                         {"recordedBefore", c.recorded_before},
                         {"recordedAfter", c.recorded_after},
                         {"policyBefore", c.policy_before},
                         {"policyAfter", c.policy_after}});
    }
    out["changes"] = changes;
    out["usersCompared"] = p.users;
    out["committed"] = false;
    if (!p.outcome.ok()) {
      out["error"] = {{"message", p.outcome.error->message}, {"text", p.outcome.error_text}};
    }
    return reply(req, p.outcome.ok() ? http::status::ok : status_for(*p.outcome.error), out);
  }
  if (path == "/api/v1/script") {
    if (auto refused = script_refused()) return std::move(*refused);
    const std::string script = body["script"].get<std::string>();
    if (to_lower(script).find("vbrecorderendpoint") != std::string::npos &&
        to_lower(script).find("get-vbrecorderendpoint") == std::string::npos) {
      return problem(req, http::status::forbidden,
                     "recorder endpoints change only by a request a second account approves: "
                     "use the /api/v1/recorder-endpoints routes",
                     "NeedsApproval");
    }
    admin::Interpreter interp(svc_, who.actor());
    if (!options_.import_dir.empty()) interp.confine_to(options_.import_dir);
    return outcome_reply(req, interp.run_script(script), http::status::ok);
  }

  std::string id;
  std::string name;
  const char* id_param = nullptr;
  if (match("/api/v1/cmdlets/{id}", path, id)) {
    if (req.method() != http::verb::post)
      return problem(req, http::status::method_not_allowed, "use POST", "MethodNotAllowed");
    name = id;
    id.clear();
  } else {
    bool path_known = false;
    for (const Route& r : kRoutes) {
      std::string rid;
      if (!match(r.pattern, path, rid)) continue;
      path_known = true;
      if (r.method != req.method()) continue;
      name = r.cmdlet;
      id_param = r.id_param;
      id = rid;
      break;
    }
    if (name.empty()) {
      return path_known ? problem(req, http::status::method_not_allowed, "method not allowed here",
                                  "MethodNotAllowed")
                        : problem(req, http::status::not_found, "no such resource", "NotFound");
    }
  }
  if (!body.is_object()) {
    return problem(req, http::status::bad_request,
                   "the body must be a JSON object of cmdlet parameters", "InvalidBody");
  }
  std::map<std::string, json> params;
  for (const auto& [k, v] : body.items()) params[k] = v;
  for (const auto& [k, v] : query) params[k] = v;  // e.g. ?Filter=Tag:*
  if (id_param) params[id_param] = id;
  if (path == "/api/v1/global/policy") params["Global"] = true;
  const http::status ok = req.method() == http::verb::post && istarts_with(name, "New-")
                              ? http::status::created
                              : http::status::ok;
  return cmdlet(req, who, name, std::move(params), ok);
}

Response Router::cmdlet(const Request& req, const Principal& who, const std::string& name,
                        std::map<std::string, json> params, http::status ok) {
  const Right needed = right_for_cmdlet(name);
  if (!policy::has_right(who.account.role, needed)) return forbidden(req);
  // Import-VbDirectory over REST reads only the import folder; a CSV can be uploaded with it.
  if (iequals(name, "Import-VbDirectory")) {
    if (options_.import_dir.empty()) {
      return problem(req, http::status::forbidden,
                     "this server has no import folder for Import-VbDirectory", "NoImportFolder");
    }
    if (auto it = params.find("Content"); it != params.end()) {
      if (!it->second.is_string()) {
        return problem(req, http::status::bad_request, "Content must be the CSV text",
                       "InvalidBody");
      }
      std::error_code ec;
      std::filesystem::create_directories(options_.import_dir, ec);
      const std::string file = "upload-" + random_hex(8) + ".csv";
      {
        std::ofstream out(std::filesystem::path(options_.import_dir) / file, std::ios::binary);
        out << it->second.get<std::string>();
      }
      params.erase(it);
      params["Path"] = file;
    }
  }
  if (needs_approval(name)) {
    json action = {
        {"type", "cmdlet"}, {"cmdlet", name}, {"params", params}, {"right", right_name(needed)}};
    policy::Approval a{0, action, who.actor(), now_iso(), "", "pending", "", "", ""};
    std::lock_guard lock(svc_.mutex());
    auto id = svc_.store()->add_approval(a);
    if (!id) {
      return problem(req, http::status::service_unavailable, id.error().message,
                     "StoreUnavailable");
    }
    (void)svc_.store()->log_security_event({0,
                                            now_iso(),
                                            who.actor(),
                                            "approval.requested",
                                            {{"id", id.value()}, {"action", action}}});
    return accepted_for_approval(req, id.value(), name);
  }
  std::map<std::string, admin::Value> values;
  for (const auto& [k, v] : params) values[k] = admin::from_json(v);
  admin::Interpreter interp(svc_, who.actor());
  if (!options_.import_dir.empty()) interp.confine_to(options_.import_dir);
  return outcome_reply(req, interp.invoke(name, values), ok);
}

// The gateway's call records: one call by its Call-ID, or the newest that match the query.
// Supervisors see only calls in which a member of one of their groups took part.

}  // namespace verbatim::adminapi
