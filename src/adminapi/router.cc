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
#include "archive/archive.h"
#include "archive/export.h"
#include "archive/tarball.h"
#include "common/clock.h"
#include "common/ids.h"
#include "common/strings.h"
#include "policy/explain.h"

namespace verbatim::adminapi {

using nlohmann::json;

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

Response reply(const Request& req, http::status status, const json& body) {
  Response res{status, req.version()};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.body() = body.dump(2) + "\n";
  res.prepare_payload();
  return res;
}

// 200 with bytes to download (recordings' objects, export packages): never cached; with
// `filename`, offered as an attachment.
Response download(const Request& req, const std::string& content_type, std::string bytes,
                  const std::string& filename = "") {
  Response res{http::status::ok, req.version()};
  res.set(http::field::content_type, content_type);
  if (!filename.empty()) {
    res.set(http::field::content_disposition, "attachment; filename=\"" + filename + "\"");
  }
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(bytes);
  res.prepare_payload();
  return res;
}

// The request's body as a JSON object ({} when there is none); nullopt when it is anything else.
std::optional<json> object_body(const Request& req) {
  if (req.body().empty()) return json::object();
  json body = json::parse(req.body(), nullptr, false);
  if (!body.is_object()) return std::nullopt;
  return body;
}

Response problem(const Request& req, http::status status, const std::string& message,
                 const std::string& id) {
  return reply(req, status, {{"error", {{"message", message}, {"errorId", id}}}});
}

std::string url_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> query_params(std::string_view query) {
  std::map<std::string, std::string> out;
  for (const auto& part : split(query, '&')) {
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    out[to_lower(url_decode(part.substr(0, eq)))] =
        eq == std::string::npos ? "" : url_decode(part.substr(eq + 1));
  }
  return out;
}

// Matches `path` against `pattern`; fills `id` from the {id} segment.
bool match(std::string_view pattern, std::string_view path, std::string& id) {
  const auto p = split(pattern, '/');
  const auto s = split(path, '/');
  if (p.size() != s.size()) return false;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == "{id}") {
      if (s[i].empty()) return false;
      id = url_decode(s[i]);
    } else if (p[i] != s[i]) {
      return false;
    }
  }
  return true;
}

http::status status_for(const admin::PsError& e) {
  if (e.category == "ObjectNotFound") return http::status::not_found;
  if (e.category == "PermissionDenied") return http::status::forbidden;
  if (e.category == "ResourceExists" || e.category == "InvalidOperation") {
    return http::status::conflict;
  }
  if (e.category == "WriteError") return http::status::service_unavailable;
  return http::status::bad_request;
}

json outcome_json(const admin::Interpreter::Outcome& o) {
  json objects = json::array();
  for (const auto& v : o.objects) objects.push_back(admin::to_json(v));
  return {{"objects", objects}, {"output", o.output}};
}

Response outcome_reply(const Request& req, const admin::Interpreter::Outcome& o,
                       http::status ok_status) {
  if (!o.ok()) {
    const admin::PsError& e = *o.error;
    return reply(req, status_for(e),
                 {{"error",
                   {{"message", e.message},
                    {"category", e.category},
                    {"errorId", e.error_id},
                    {"cmdlet", e.cmdlet},
                    {"target", e.target},
                    {"text", o.error_text}}}});
  }
  return reply(req, ok_status, outcome_json(o));
}

using policy::Right;

// One answer for "your role may not" and "there is no such thing": ids cannot be probed.
Response forbidden(const Request& req) {
  return problem(req, http::status::forbidden, "forbidden, or no such resource", "Forbidden");
}

// What a cmdlet needs: reading, changing recorders (applications, endpoints), changing policy.
Right right_for_cmdlet(std::string_view name) {
  if (iequals(name, "Get-VbAuditLog")) return Right::kAuditRead;
  if (istarts_with(name, "Get-")) return Right::kPolicyRead;
  const auto noun = name.substr(std::min(name.size(), name.find('-') + 1));
  if (iequals(noun, "VbRecorderEndpoint") || iequals(noun, "CsOnlineApplicationInstance")) {
    return Right::kRecordersWrite;
  }
  return Right::kPolicyWrite;
}

// Changing where recordings go is four-eyes (an endpoint moved to an attacker's recorder would
// silently take every call).
bool needs_approval(std::string_view cmdlet) {
  return !istarts_with(cmdlet, "Get-") &&
         iequals(cmdlet.substr(std::min(cmdlet.size(), cmdlet.find('-') + 1)),
                 "VbRecorderEndpoint");
}

std::string right_name(Right r) {
  switch (r) {
    case Right::kPolicyRead:
      return "policy-read";
    case Right::kPolicyWrite:
      return "policy-write";
    case Right::kRecordersWrite:
      return "recorders-write";
    case Right::kCallsRead:
      return "calls-read";
    case Right::kRecordingsRead:
      return "recordings-read";
    case Right::kRecordingsHold:
      return "recordings-hold";
    case Right::kAuditRead:
      return "audit-read";
    case Right::kLedgerRead:
      return "ledger-read";
    case Right::kAccountsManage:
      return "accounts-manage";
  }
  return "?";
}

std::optional<Right> right_from_name(std::string_view n) {
  for (Right r : {Right::kPolicyRead, Right::kPolicyWrite, Right::kRecordersWrite,
                  Right::kCallsRead, Right::kRecordingsRead, Right::kRecordingsHold,
                  Right::kAuditRead, Right::kLedgerRead, Right::kAccountsManage}) {
    if (right_name(r) == n) return r;
  }
  return std::nullopt;
}

std::string now_iso() { return format_iso8601(std::chrono::system_clock::now()); }

Response accepted_for_approval(const Request& req, int64_t id, const std::string& what) {
  return reply(req, http::status::accepted,
               {{"approval",
                 {{"id", id},
                  {"status", "pending"},
                  {"message", what +
                                  " needs a second person's approval: another account with the "
                                  "right approves it with POST /api/v1/approvals/" +
                                  std::to_string(id) + "/approve"}}}});
}

std::vector<std::string> strings_in(const json& v) {
  std::vector<std::string> out;
  if (v.is_string()) {
    for (const auto& p : split(v.get<std::string>(), ',')) {
      if (!trim(p).empty()) out.emplace_back(trim(p));
    }
  } else if (v.is_array()) {
    for (const auto& x : v) {
      if (x.is_string()) out.push_back(x.get<std::string>());
    }
  }
  return out;
}

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
  return istarts_with(target, "/api/v1/calls");
}

Router::Router(policy::PolicyService& svc, RouterOptions options)
    : svc_(svc), options_(std::move(options)) {}

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
  if (!istarts_with(path, "/api/"))
    return problem(req, http::status::not_found, "no such resource", "NotFound");

  // Authentication: the token names an account; the account its role and scope.
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
  if (!istarts_with(bearer, "Bearer ") || bearer.size() <= 7) {
    refuse("no token");
    Response r = problem(req, http::status::unauthorized,
                         "missing bearer token (create one with `verbatim token create ACCOUNT`)",
                         "Unauthenticated");
    r.set(http::field::www_authenticate, "Bearer");
    return r;
  }
  Principal who;
  {
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
    who.token_id = token.value()->id;
  }
  Response res = route(req, who, path, query);
  spdlog::info("admin-api {} ({}, token {}) from {}: {} {} -> {}", who.actor(),
               policy::role_name(who.account.role), who.token_id, peer.empty() ? "?" : peer,
               std::string(req.method_string()), std::string(req.target()), res.result_int());
  return res;
}

Response Router::route(const Request& req, const Principal& who, std::string_view path,
                       const std::map<std::string, std::string>& query) {
  const policy::Role role = who.account.role;
  auto may = [&](Right r) { return policy::has_right(role, r); };

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
  if (istarts_with(path, "/api/v1/recordings/")) return recordings(req, who, path);
  if (istarts_with(path, "/api/v1/accounts") || istarts_with(path, "/api/v1/tokens")) {
    return accounts(req, who, path);
  }
  if (istarts_with(path, "/api/v1/approvals")) return approvals(req, who, path);
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

  json body = json::object();
  if (!req.body().empty() && req.method() != http::verb::get) {
    body = json::parse(req.body(), nullptr, false);
    if (body.is_discarded()) {
      return problem(req, http::status::bad_request, "the request body is not valid JSON",
                     "InvalidJson");
    }
  }
  if (path == "/api/v1/script") {
    if (!may(Right::kPolicyWrite)) return forbidden(req);
    if (req.method() != http::verb::post)
      return problem(req, http::status::method_not_allowed, "use POST", "MethodNotAllowed");
    if (!body.is_object() || !body.contains("script") || !body["script"].is_string()) {
      return problem(req, http::status::bad_request, "body must be {\"script\": \"...\"}",
                     "InvalidBody");
    }
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
Response Router::calls(const Request& req, const Principal& who, std::string_view call_id,
                       const std::map<std::string, std::string>& query) {
  if (!options_.call_records) {
    return problem(req, http::status::not_found, "this server keeps no call records",
                   "NoCallRecords");
  }
  auto opened = options_.call_records();
  if (!opened) {
    return problem(req, http::status::service_unavailable, opened.error().message,
                   "CallRecordsUnavailable");
  }
  const std::unique_ptr<CallRecords> log = std::move(opened).value();
  std::set<std::string> members;  // lower-case UPNs and SIP addresses of the scope's users
  const bool scoped = who.account.role == policy::Role::kSupervisor;
  if (scoped) {
    std::lock_guard lock(svc_.mutex());
    const auto& state = svc_.state();
    for (const auto& g : who.account.groups) {
      const policy::Group* group = state.group_by_id(g);
      if (!group) {
        auto named = state.groups_by_display_name(g);
        if (!named.empty()) group = named.front();
      }
      if (!group) continue;
      for (const auto& uid : state.members_of(group->object_id)) {
        if (const policy::User* u = state.user_by_id(uid)) {
          members.insert(to_lower(u->user_principal_name));
          members.insert(to_lower(u->sip_address));
        }
      }
    }
  }
  auto visible = [&](const json& c) {
    if (!scoped) return true;
    for (const char* side : {"caller", "callee"}) {
      if (!c.contains(side)) continue;
      const json& p = c[side];
      if (members.count(to_lower(p.value("user", ""))) ||
          members.count(to_lower(p.value("aor", ""))))
        return true;
    }
    return false;
  };
  if (!call_id.empty()) {
    if (!log) return forbidden(req);
    auto found = log->find_call(call_id);
    if (!found) {
      return problem(req, http::status::service_unavailable, found.error().message,
                     "CallRecordsUnavailable");
    }
    if (!found.value() || !visible(*found.value())) return forbidden(req);
    return reply(req, http::status::ok, *found.value());
  }
  CallQuery q;
  if (auto it = query.find("party"); it != query.end()) q.party = it->second;
  if (auto it = query.find("since"); it != query.end()) q.since = it->second;
  if (auto it = query.find("limit"); it != query.end()) {
    const auto& v = it->second;
    if (v.empty() || v.size() > 6 ||
        !std::all_of(v.begin(), v.end(), [](char c) { return std::isdigit(c); })) {
      return problem(req, http::status::bad_request, "limit must be a number from 1 to 1000",
                     "InvalidQuery");
    }
    q.limit = std::stoul(v);
  }
  if (scoped) q.limit = std::max<size_t>(q.limit, 1000);  // filtered below
  if (auto st = check_query(q); !st) {
    return problem(req, http::status::bad_request, st.error().message, "InvalidQuery");
  }
  if (!log) return reply(req, http::status::ok, {{"calls", json::array()}, {"count", 0}});
  auto list = log->find_calls(q);
  if (!list && list.error().code == ErrorCode::kInvalidArgument) {
    return problem(req, http::status::bad_request, list.error().message, "InvalidQuery");
  }
  if (!list) {
    return problem(req, http::status::service_unavailable, list.error().message,
                   "CallRecordsUnavailable");
  }
  json out = json::array();
  for (auto& c : list.value()) {
    if (visible(c)) out.push_back(std::move(c));
  }
  const size_t n = out.size();
  return reply(req, http::status::ok, {{"calls", std::move(out)}, {"count", n}});
}

// Recordings, for compliance officers within their scope. A recording out of scope and one that
// does not exist get the same 403; both attempts go into the ledger (access.denied).
Response Router::recordings(const Request& req, const Principal& who, std::string_view path) {
  const auto parts = split(path.substr(std::string_view("/api/v1/recordings/").size()), '/');
  const std::string rec = parts.empty() ? "" : url_decode(parts[0]);
  const bool reading = req.method() == http::verb::get;
  const Right needed = reading ? Right::kRecordingsRead : Right::kRecordingsHold;
  if (!options_.archive) {
    return problem(req, http::status::service_unavailable, "this server has no archive",
                   "ArchiveUnavailable");
  }
  auto parsed = object_body(req);
  if (!parsed) {
    return problem(req, http::status::bad_request, "the body must be a JSON object", "InvalidBody");
  }
  const json body = std::move(*parsed);
  std::optional<Response> out;
  auto st = options_.archive([&](archive::Archive& a) -> Status {
    auto deny = [&]() {
      (void)a.log_access("denied", rec, who.actor());
      security_event(who.actor(), "access.denied",
                     {{"recording", rec}, {"path", std::string(path)}});
      out = forbidden(req);
      return ok_status();
    };
    if (!policy::has_right(who.account.role, needed)) return deny();
    auto info = a.recording(rec);
    if (!info || !policy::in_scope(who.account, info.value().metadata)) return deny();
    const auto& r = info.value();
    // GET /recordings/{id}: the catalog entry (access.metadata in the ledger).
    if (parts.size() == 1 && reading) {
      VB_TRY(a.log_access("metadata", rec, who.actor()));
      json objects = json::array();
      auto ids = a.objects_of(rec);
      if (!ids) return ids.error();
      for (const auto& oid : ids.value()) {
        auto o = a.object_info(oid);
        if (!o) return o.error();
        objects.push_back({{"id", o.value().id},
                           {"kind", o.value().kind},
                           {"status", o.value().status},
                           {"bytes", o.value().plaintext_size},
                           {"sha256", o.value().sha256}});
      }
      out = reply(req, http::status::ok,
                  {{"id", r.id},
                   {"serial", a.node_id() + "-" + std::to_string(r.serial)},
                   {"status", r.status},
                   {"metadata", r.metadata},
                   {"created", r.created_at},
                   {"completed", r.completed_at},
                   {"retentionUntil", r.retention_until},
                   {"legalHolds", r.active_holds},
                   {"objects", objects}});
      return ok_status();
    }
    // GET /recordings/{id}/objects/{oid}: the decrypted content (access.read in the ledger).
    if (parts.size() == 3 && parts[1] == "objects" && reading) {
      const std::string oid = url_decode(parts[2]);
      auto o = a.object_info(oid);
      if (!o || o.value().recording_id != rec) return deny();
      auto reader = a.read_object(oid, who.actor());
      if (!reader) return reader.error();
      VB_TRY(reader.value()->verify());
      std::string content;
      for (size_t i = 0; i < reader.value()->chunks().size(); ++i) {
        auto chunk = reader.value()->read_chunk(i);
        if (!chunk) return chunk.error();
        content.append(reinterpret_cast<const char*>(chunk.value().data()), chunk.value().size());
      }
      out = download(req, o.value().kind == "playback" ? "audio/ogg" : "application/octet-stream",
                     std::move(content));
      return ok_status();
    }
    // POST /recordings/{id}/export: an offline-verifiable package (tar), logged as an export.
    if (parts.size() == 2 && parts[1] == "export" && req.method() == http::verb::post) {
      const std::filesystem::path base = options_.work_dir.empty()
                                             ? std::filesystem::temp_directory_path()
                                             : std::filesystem::path(options_.work_dir);
      const std::string scratch = (base / ("export-" + random_hex(8))).string();
      std::error_code ec;
      std::filesystem::create_directories(scratch, ec);
      std::filesystem::permissions(scratch, std::filesystem::perms::owner_all,
                                   std::filesystem::perm_options::replace, ec);
      const std::string tar = scratch + "/package.tar";
      auto done = archive::export_package(a, {rec}, tar, who.actor());
      std::string bytes;
      if (done) {
        std::ifstream in(tar, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
      }
      std::filesystem::remove_all(scratch, ec);
      if (!done) return done.error();
      out = download(req, "application/x-tar", std::move(bytes), "recording-" + rec + ".tar");
      return ok_status();
    }
    // POST /recordings/{id}/holds {"case"}: a legal hold.
    if (parts.size() == 2 && parts[1] == "holds" && req.method() == http::verb::post) {
      const std::string case_id = body.value("case", "");
      VB_TRY(a.set_hold(case_id, rec, who.actor()));
      out = reply(req, http::status::created, {{"recording", rec}, {"case", case_id}});
      return ok_status();
    }
    // DELETE /recordings/{id}/holds/{case}: released only with a second officer's approval.
    if (parts.size() == 3 && parts[1] == "holds" && req.method() == http::verb::delete_) {
      const std::string case_id = url_decode(parts[2]);
      if (std::find(r.active_holds.begin(), r.active_holds.end(), case_id) ==
          r.active_holds.end()) {
        return deny();
      }
      json action = {{"type", "release-hold"},
                     {"recording", rec},
                     {"case", case_id},
                     {"right", right_name(Right::kRecordingsHold)},
                     {"scope", {{"groups", who.account.groups}, {"regions", who.account.regions}}}};
      policy::Approval ap{0,         action, who.actor(), now_iso(), body.value("reason", ""),
                          "pending", "",     "",          ""};
      std::lock_guard lock(svc_.mutex());
      auto id = svc_.store()->add_approval(ap);
      if (!id) return id.error();
      (void)svc_.store()->log_security_event({0,
                                              now_iso(),
                                              who.actor(),
                                              "approval.requested",
                                              {{"id", id.value()}, {"action", action}}});
      out = accepted_for_approval(req, id.value(), "releasing a legal hold");
      return ok_status();
    }
    // DELETE /recordings/{id}: disposal, which the archive refuses (and records) before the
    // retention date or under a legal hold, whoever asks (T25).
    if (parts.size() == 1 && req.method() == http::verb::delete_) {
      VB_TRY(a.dispose(rec, who.actor()));
      out = reply(req, http::status::ok, {{"disposed", rec}});
      return ok_status();
    }
    // POST /recordings/{id}/retention {"until"}: longer only (the archive refuses shorter).
    if (parts.size() == 2 && parts[1] == "retention" && req.method() == http::verb::post) {
      VB_TRY(a.extend_retention(rec, body.value("until", ""), who.actor()));
      out = reply(req, http::status::ok, {{"recording", rec}, {"retentionUntil", body["until"]}});
      return ok_status();
    }
    out = problem(req, http::status::not_found, "no such resource", "NotFound");
    return ok_status();
  });
  if (!st) {
    const auto code = st.error().code;
    return problem(req,
                   code == ErrorCode::kFailedPrecondition || code == ErrorCode::kInvalidArgument
                       ? http::status::conflict
                       : http::status::service_unavailable,
                   st.error().message,
                   code == ErrorCode::kFailedPrecondition ? "Refused" : "ArchiveUnavailable");
  }
  return std::move(*out);
}

// Accounts and tokens. Creating an account (granting a role) is a request a second admin
// approves. Over the API a token is made for one's own account only: an admin cannot mint a
// compliance officer's token and read recordings with it (the host's operator can, with
// `verbatim token create`).
Response Router::accounts(const Request& req, const Principal& who, std::string_view path) {
  const bool admin = policy::has_right(who.account.role, Right::kAccountsManage);
  auto parsed = object_body(req);
  if (!parsed) {
    return problem(req, http::status::bad_request, "the body must be a JSON object", "InvalidBody");
  }
  const json body = std::move(*parsed);
  std::lock_guard lock(svc_.mutex());
  policy::Store* store = svc_.store();
  if (path == "/api/v1/accounts" && req.method() == http::verb::get) {
    if (!admin) return forbidden(req);
    auto list = store->list_accounts();
    if (!list) {
      return problem(req, http::status::service_unavailable, list.error().message,
                     "StoreUnavailable");
    }
    json out = json::array();
    for (const auto& a : list.value()) out.push_back(a.to_json());
    return reply(req, http::status::ok, {{"accounts", out}});
  }
  if (path == "/api/v1/accounts" && req.method() == http::verb::post) {
    if (!admin) return forbidden(req);
    const std::string name = body.value("name", "");
    if (auto st = policy::check_account_name(name); !st) {
      return problem(req, http::status::bad_request, st.error().message, "InvalidAccount");
    }
    if (!policy::role_from_name(body.value("role", ""))) {
      return problem(req, http::status::bad_request, "role must be one of " + policy::role_names(),
                     "InvalidRole");
    }
    json action = {{"type", "grant-role"},
                   {"name", name},
                   {"role", body["role"]},
                   {"groups", strings_in(body.value("groups", json::array()))},
                   {"regions", strings_in(body.value("regions", json::array()))},
                   {"right", right_name(Right::kAccountsManage)}};
    if (body.contains("password")) {
      if (!body["password"].is_string()) {
        return problem(req, http::status::bad_request, "password must be a string", "InvalidBody");
      }
      auto hash = policy::hash_password(body["password"].get<std::string>());
      if (!hash)
        return problem(req, http::status::bad_request, hash.error().message, "BadPassword");
      action["passwordHash"] = hash.value();
    }
    policy::Approval ap{0,         action, who.actor(), now_iso(), body.value("reason", ""),
                        "pending", "",     "",          ""};
    auto id = store->add_approval(ap);
    if (!id) {
      return problem(req, http::status::service_unavailable, id.error().message,
                     "StoreUnavailable");
    }
    json logged = action;
    logged.erase("passwordHash");
    (void)store->log_security_event({0,
                                     now_iso(),
                                     who.actor(),
                                     "approval.requested",
                                     {{"id", id.value()}, {"action", logged}}});
    return accepted_for_approval(req, id.value(),
                                 "granting the role " + body["role"].get<std::string>());
  }
  if (path == "/api/v1/tokens" && req.method() == http::verb::get) {
    auto list = store->list_tokens();
    if (!list) {
      return problem(req, http::status::service_unavailable, list.error().message,
                     "StoreUnavailable");
    }
    json out = json::array();
    for (const auto& t : list.value()) {
      if (admin || t.account == who.account.name) {
        out.push_back({{"id", t.id}, {"account", t.account}, {"created", t.created}});
      }
    }
    return reply(req, http::status::ok, {{"tokens", out}});
  }
  if (path == "/api/v1/tokens" && req.method() == http::verb::post) {
    auto issued = issue_token(*store, who.account.name, now_iso());
    if (!issued) {
      return problem(req, http::status::conflict, issued.error().message, "TokenExists");
    }
    const auto& t = issued.value().record;
    (void)store->log_security_event(
        {0, now_iso(), who.actor(), "token.created", {{"token", t.id}, {"account", t.account}}});
    return reply(req, http::status::created,
                 {{"id", t.id},
                  {"account", t.account},
                  {"token", issued.value().secret},
                  {"note", "shown once: store it safely"}});
  }
  std::string id;
  if (match("/api/v1/tokens/{id}", path, id) && req.method() == http::verb::delete_) {
    auto list = store->list_tokens();
    if (!list) {
      return problem(req, http::status::service_unavailable, list.error().message,
                     "StoreUnavailable");
    }
    auto it = std::find_if(list.value().begin(), list.value().end(),
                           [&](const policy::ApiToken& t) { return t.id == id; });
    if (it == list.value().end() || (!admin && it->account != who.account.name)) {
      return forbidden(req);
    }
    if (auto st = store->delete_token(id); !st) {
      return problem(req, http::status::service_unavailable, st.error().message,
                     "StoreUnavailable");
    }
    (void)store->log_security_event(
        {0, now_iso(), who.actor(), "token.revoked", {{"token", id}, {"account", it->account}}});
    return reply(req, http::status::ok, {{"revoked", id}});
  }
  return problem(req, http::status::not_found, "no such resource", "NotFound");
}

// The four-eyes requests: listed for whoever could decide them (and their requesters); decided
// by a different account that holds the right the action needs.
Response Router::approvals(const Request& req, const Principal& who, std::string_view path) {
  std::unique_lock lock(svc_.mutex());
  policy::Store* store = svc_.store();
  auto can_decide = [&](const policy::Approval& a) {
    auto r = right_from_name(a.action.value("right", ""));
    return r && policy::has_right(who.account.role, *r);
  };
  if (path == "/api/v1/approvals" && req.method() == http::verb::get) {
    auto list = store->list_approvals(false);
    if (!list) {
      return problem(req, http::status::service_unavailable, list.error().message,
                     "StoreUnavailable");
    }
    json out = json::array();
    for (auto& a : list.value()) {
      if (!can_decide(a) && a.requested_by != who.actor()) continue;
      a.action.erase("passwordHash");
      out.push_back(a.to_json());
    }
    return reply(req, http::status::ok, {{"approvals", out}});
  }
  const auto parts =
      split(path.substr(std::min(path.size(), std::string_view("/api/v1/approvals/").size())), '/');
  if (parts.size() != 2 || req.method() != http::verb::post ||
      (parts[1] != "approve" && parts[1] != "reject")) {
    return problem(req, http::status::not_found, "no such resource", "NotFound");
  }
  const int64_t id = std::strtoll(std::string(parts[0]).c_str(), nullptr, 10);
  auto found = store->approval(id);
  if (!found) {
    return problem(req, http::status::service_unavailable, found.error().message,
                   "StoreUnavailable");
  }
  if (!found.value() || !can_decide(*found.value())) return forbidden(req);
  policy::Approval a = *found.value();
  if (a.status != "pending") {
    return problem(req, http::status::conflict, "request " + parts[0] + " was already " + a.status,
                   "AlreadyDecided");
  }
  if (a.requested_by == who.actor()) {
    return problem(
        req, http::status::forbidden,
        "the second pair of eyes must be another account's: " + who.actor() + " asked for this",
        "SameAccount");
  }
  // A compliance officer approves a hold release only within their own scope.
  if (a.action.value("type", "") == "release-hold" &&
      !(who.account.groups.empty() && who.account.regions.empty())) {
    const auto& scope = a.action["scope"];
    if (scope.value("groups", json::array()).empty() &&
        scope.value("regions", json::array()).empty()) {
      return forbidden(req);
    }
  }
  a.decided_by = who.actor();
  a.decided_at = now_iso();
  if (parts[1] == "reject") {
    a.status = "rejected";
    a.outcome = "rejected";
    if (auto st = store->decide_approval(a); !st) {
      return problem(req, http::status::conflict, st.error().message, "AlreadyDecided");
    }
    (void)store->log_security_event({0, now_iso(), who.actor(), "approval.rejected", {{"id", id}}});
    return reply(req, http::status::ok, a.to_json());
  }
  lock.unlock();  // the action takes the locks it needs
  auto done = execute(a.action, a.requested_by, who.actor());
  lock.lock();
  a.status = done ? "approved" : "failed";
  a.outcome = done ? done.value().dump() : done.error().message;
  if (auto st = store->decide_approval(a); !st) {
    return problem(req, http::status::conflict, st.error().message, "AlreadyDecided");
  }
  (void)store->log_security_event({0,
                                   now_iso(),
                                   who.actor(),
                                   done ? "approval.approved" : "approval.failed",
                                   {{"id", id}, {"outcome", a.outcome}}});
  a.action.erase("passwordHash");
  return reply(req, done ? http::status::ok : http::status::conflict, a.to_json());
}

Result<json> Router::execute(const json& action, const std::string& requester,
                             const std::string& approver) {
  const std::string type = action.value("type", "");
  const std::string both = requester + " approved by " + approver;
  if (type == "cmdlet") {
    std::map<std::string, admin::Value> values;
    for (const auto& [k, v] : action["params"].items()) values[k] = admin::from_json(v);
    admin::Interpreter interp(svc_, both);
    const auto o = interp.invoke(action.value("cmdlet", ""), values);
    if (!o.ok()) return make_error(ErrorCode::kFailedPrecondition, o.error->message);
    json objects = json::array();
    for (const auto& v : o.objects) objects.push_back(admin::to_json(v));
    return json{{"objects", objects}};
  }
  if (type == "release-hold") {
    if (!options_.archive) return make_error(ErrorCode::kFailedPrecondition, "no archive");
    VB_TRY(options_.archive([&](archive::Archive& a) {
      return a.release_hold(action.value("case", ""), action.value("recording", ""), both);
    }));
    return json{{"released", action.value("case", "")},
                {"recording", action.value("recording", "")}};
  }
  if (type == "grant-role") {
    policy::Account acct;
    acct.name = action.value("name", "");
    acct.role = policy::role_from_name(action.value("role", "")).value_or(policy::Role::kAuditor);
    acct.groups = strings_in(action.value("groups", json::array()));
    acct.regions = strings_in(action.value("regions", json::array()));
    acct.password_hash = action.value("passwordHash", "");
    acct.created = now_iso();
    acct.created_by = both;
    std::lock_guard lock(svc_.mutex());
    VB_TRY(svc_.store()->put_account(acct));
    return acct.to_json();
  }
  return make_error(ErrorCode::kInvalidArgument, "unknown action " + type);
}

}  // namespace verbatim::adminapi
