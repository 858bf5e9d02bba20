#include "adminapi/router.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>

#include "admin/interpreter.h"
#include "common/strings.h"
#include "gateway/call_log.h"
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

}  // namespace

std::string token_hash(const std::string& token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  return to_hex(digest);
}

Response Router::handle(const Request& req) {
  const std::string_view target(req.target().data(), req.target().size());
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  const auto query = query_params(q == std::string_view::npos ? "" : target.substr(q + 1));

  if (path == "/healthz") return reply(req, http::status::ok, {{"status", "ok"}});
  if (!istarts_with(path, "/api/"))
    return problem(req, http::status::not_found, "no such resource", "NotFound");

  // Authentication.
  const auto auth = req[http::field::authorization];
  const std::string_view bearer(auth.data(), auth.size());
  if (!istarts_with(bearer, "Bearer ") || bearer.size() <= 7) {
    Response r = problem(req, http::status::unauthorized,
                         "missing bearer token (create one with `verbatim token create NAME`)",
                         "Unauthenticated");
    r.set(http::field::www_authenticate, "Bearer");
    return r;
  }
  std::optional<std::string> who;
  {
    std::lock_guard lock(svc_.mutex());
    auto name = svc_.store()
                    ? svc_.store()->token_name(token_hash(std::string(trim(bearer.substr(7)))))
                    : Result<std::optional<std::string>>(std::optional<std::string>());
    if (!name)
      return problem(req, http::status::service_unavailable, name.error().message,
                     "StoreUnavailable");
    who = name.value();
  }
  if (!who) {
    Response r =
        problem(req, http::status::unauthorized, "invalid or revoked token", "Unauthenticated");
    r.set(http::field::www_authenticate, "Bearer error=\"invalid_token\"");
    return r;
  }
  const std::string actor = "api:" + *who;

  if (path == "/api/v1/decision") {
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
    if (req.method() != http::verb::get)
      return problem(req, http::status::method_not_allowed, "use GET", "MethodNotAllowed");
    std::string id;
    if (path != "/api/v1/calls" && !match("/api/v1/calls/{id}", path, id)) {
      return problem(req, http::status::not_found, "no such resource", "NotFound");
    }
    return calls(req, id, query);
  }

  json body = json::object();
  if (!req.body().empty() && req.method() != http::verb::get) {
    body = json::parse(req.body(), nullptr, false);
    if (body.is_discarded()) {
      return problem(req, http::status::bad_request, "the request body is not valid JSON",
                     "InvalidJson");
    }
  }
  admin::Interpreter interp(svc_, actor);

  if (path == "/api/v1/script") {
    if (req.method() != http::verb::post)
      return problem(req, http::status::method_not_allowed, "use POST", "MethodNotAllowed");
    if (!body.is_object() || !body.contains("script") || !body["script"].is_string()) {
      return problem(req, http::status::bad_request, "body must be {\"script\": \"...\"}",
                     "InvalidBody");
    }
    return outcome_reply(req, interp.run_script(body["script"].get<std::string>()),
                         http::status::ok);
  }

  std::string id;
  const char* cmdlet = nullptr;
  const char* id_param = nullptr;
  if (match("/api/v1/cmdlets/{id}", path, id)) {
    if (req.method() != http::verb::post)
      return problem(req, http::status::method_not_allowed, "use POST", "MethodNotAllowed");
    cmdlet = id.c_str();
  } else {
    bool path_known = false;
    for (const Route& r : kRoutes) {
      std::string rid;
      if (!match(r.pattern, path, rid)) continue;
      path_known = true;
      if (r.method != req.method()) continue;
      cmdlet = r.cmdlet;
      id_param = r.id_param;
      id = rid;
      break;
    }
    if (!cmdlet) {
      return path_known ? problem(req, http::status::method_not_allowed, "method not allowed here",
                                  "MethodNotAllowed")
                        : problem(req, http::status::not_found, "no such resource", "NotFound");
    }
  }
  if (!body.is_object()) {
    return problem(req, http::status::bad_request,
                   "the body must be a JSON object of cmdlet parameters", "InvalidBody");
  }
  std::map<std::string, admin::Value> params;
  for (const auto& [k, v] : body.items()) params[k] = admin::from_json(v);
  for (const auto& [k, v] : query) params[k] = admin::Value(v);  // e.g. ?Filter=Tag:*
  if (id_param) params[id_param] = admin::Value(id);
  if (path == "/api/v1/global/policy") params["Global"] = admin::Value(true);
  const http::status ok =
      req.method() == http::verb::post && std::string_view(cmdlet).rfind("New-", 0) == 0
          ? http::status::created
          : http::status::ok;
  return outcome_reply(req, interp.invoke(cmdlet, params), ok);
}

// The gateway's call records: one call by its Call-ID, or the newest that match the query.
Response Router::calls(const Request& req, std::string_view call_id,
                       const std::map<std::string, std::string>& query) {
  if (calls_file_.empty()) {
    return problem(req, http::status::not_found, "this server keeps no call records",
                   "NoCallRecords");
  }
  if (!call_id.empty()) {
    auto found = gateway::find_call(calls_file_, call_id);
    if (!found) {
      return problem(req, http::status::service_unavailable, found.error().message,
                     "CallRecordsUnavailable");
    }
    if (!found.value()) {
      return problem(req, http::status::not_found, "no call " + std::string(call_id),
                     "CallNotFound");
    }
    return reply(req, http::status::ok, *found.value());
  }
  gateway::CallQuery q;
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
  auto list = gateway::find_calls(calls_file_, q);
  if (!list && list.error().code == ErrorCode::kInvalidArgument) {
    return problem(req, http::status::bad_request, list.error().message, "InvalidQuery");
  }
  if (!list) {
    return problem(req, http::status::service_unavailable, list.error().message,
                   "CallRecordsUnavailable");
  }
  json out = json::array();
  for (auto& c : list.value()) out.push_back(std::move(c));
  return reply(req, http::status::ok, {{"calls", std::move(out)}, {"count", list.value().size()}});
}

}  // namespace verbatim::adminapi
