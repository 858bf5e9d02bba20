// The REST API's accounts and tokens (/api/v1/accounts, /api/v1/tokens) and the four-eyes
// approvals (/api/v1/approvals) with the actions they run once approved.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include <spdlog/spdlog.h>

#include "adminapi/http_util.h"
#include "adminapi/router.h"
#include "archive/archive.h"
#include "archive/export.h"
#include "archive/tarball.h"
#include "cases/cases.h"
#include "common/strings.h"
#include "policy/explain.h"

namespace verbatim::adminapi {

using nlohmann::json;
using namespace detail;  // NOLINT(google-build-using-namespace)

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
  // A case's hold is released only by someone who may see the case (its owner or access list).
  if (a.action.value("type", "") == "release-case-hold") {
    auto cs = cases::CaseStore::open(options_.cases_db);
    auto c = cs ? cs.value()->get(a.action.value("case", ""))
                : Result<std::optional<cases::Case>>(cs.error());
    if (!c || !c.value() || !c.value()->visible_to(who.account.name)) return forbidden(req);
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
  if (type == "release-case-hold") return release_case_hold(action, both);
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
