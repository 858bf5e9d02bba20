// The portal's sign-in over the REST API (adminapi/sessions.h): /api/v1/session and its
// reauthentication, and the principal of a request that carries the session cookie.
#include <spdlog/spdlog.h>

#include "adminapi/http_util.h"
#include "adminapi/router.h"
#include "common/strings.h"

namespace verbatim::adminapi {

using nlohmann::json;
using namespace detail;  // NOLINT(google-build-using-namespace)

namespace {

using Clock = SessionStore::Clock;

constexpr Right kAllRights[] = {Right::kPolicyRead, Right::kPolicyWrite,    Right::kRecordersWrite,
                                Right::kCallsRead,  Right::kRecordingsRead, Right::kRecordingsHold,
                                Right::kAuditRead,  Right::kLedgerRead,     Right::kAccountsManage};

bool safe_method(const Request& req) {
  return req.method() == http::verb::get || req.method() == http::verb::head;
}

std::string session_secret(const Request& req) {
  const auto c = req[http::field::cookie];
  return cookie_value(std::string_view(c.data(), c.size()), kSessionCookie);
}

// Checked when an account has no password or does not exist, so a wrong name takes as long as a
// wrong password.
const std::string& decoy_hash() {
  static const std::string h = [] {
    auto r = policy::hash_password("decoy password, never an account's");
    return r ? r.value() : std::string();
  }();
  return h;
}

}  // namespace

bool same_origin(const Request& req) {
  const auto origin = req[http::field::origin];
  if (origin.empty()) return true;
  const std::string_view o(origin.data(), origin.size());
  const size_t sep = o.find("://");
  const auto host = req[http::field::host];
  return sep != std::string_view::npos && !host.empty() &&
         o.substr(sep + 3) == std::string_view(host.data(), host.size());
}

bool sensitive(const Request& req, std::string_view path) {
  if (safe_method(req)) return false;
  if (istarts_with(path, "/api/v1/recordings/")) {
    return req.method() == http::verb::delete_ || path.ends_with("/export") ||
           path.ends_with("/redactions");
  }
  if (istarts_with(path, "/api/v1/cases/")) {
    return (req.method() == http::verb::delete_ && path.ends_with("/hold")) ||
           (req.method() == http::verb::post && path.ends_with("/exports"));
  }
  return istarts_with(path, "/api/v1/approvals/") || istarts_with(path, "/api/v1/accounts") ||
         istarts_with(path, "/api/v1/tokens");
}

Response Router::session(const Request& req, std::string_view path, const std::string& peer) {
  const auto now = Clock::now();
  if (!same_origin(req))
    return problem(req, http::status::forbidden, "cross-origin request", "CsrfFailed");
  const std::string secret = session_secret(req);
  auto describe = [&](const SessionStore::Session& s, const policy::Account& a) {
    json rights = json::array();
    for (Right r : kAllRights) {
      if (policy::has_right(a.role, r)) rights.push_back(right_name(r));
    }
    const auto& lim = sessions_.limits();
    return json{
        {"account", a.to_json()},
        {"rights", rights},
        {"session", s.id},
        {"cosigner", s.cosigner.empty() ? json() : json(s.cosigner)},
        {"csrfToken", s.csrf},
        {"idleTimeoutSeconds", lim.idle.count()},
        {"expiresInSeconds",
         std::chrono::duration_cast<std::chrono::seconds>(s.created + lim.absolute - now).count()},
        {"reauthSeconds", lim.reauth.count()},
        {"playbackReasonRequired", listed(options_.reason_roles, a.role)}};
  };
  auto unauthenticated = [&](const std::string& message, const std::string& id) {
    return problem(req, http::status::unauthorized, message, id);
  };
  // A password check that counts failures and locks the name after too many.
  auto password_ok = [&](const std::string& name, const std::string& password,
                         std::optional<policy::Account>& out) {
    if (sessions_.locked(name, now)) {
      security_event("portal", "session.refused",
                     {{"account", name}, {"why", "locked"}, {"peer", peer}});
      return false;
    }
    auto a = account(name);
    const bool usable = a && a.value() && !a.value()->password_hash.empty();
    const bool ok =
        policy::password_matches(usable ? a.value()->password_hash : decoy_hash(), password) &&
        usable;
    if (ok) {
      sessions_.succeeded(name);
      out = *a.value();
      return true;
    }
    const bool locked = sessions_.failed(name, now);
    security_event("portal", locked ? "session.locked" : "session.failed",
                   {{"account", name}, {"peer", peer}});
    return false;
  };
  constexpr const char* kWrong = "wrong account name or password";

  if (path == "/api/v1/session/reauth") {
    if (req.method() != http::verb::post) {
      return problem(req, http::status::method_not_allowed, "use POST", "MethodNotAllowed");
    }
    auto s = sessions_.find(secret, now);
    if (!s) return unauthenticated("signed out: sign in again", "SessionExpired");
    if (!same_secret(header(req, "X-CSRF-Token"), s->csrf)) {
      return problem(req, http::status::forbidden, "missing or wrong X-CSRF-Token", "CsrfFailed");
    }
    auto body = object_body(req);
    std::optional<policy::Account> a;
    if (!body || !password_ok(s->account, body->value("password", ""), a)) {
      return unauthenticated(kWrong, "Unauthenticated");
    }
    sessions_.reauthenticated(secret, now);
    security_event("api:" + s->account, "session.reauthenticated",
                   {{"session", s->id}, {"peer", peer}});
    return reply(req, http::status::ok, describe(*sessions_.find(secret, now), *a));
  }

  if (req.method() == http::verb::get) {
    auto s = sessions_.find(secret, now);
    if (!s) return unauthenticated("signed out: sign in again", "SessionExpired");
    auto a = account(s->account);
    if (!a || !a.value()) {
      sessions_.remove(secret);
      return unauthenticated("signed out: sign in again", "SessionExpired");
    }
    return reply(req, http::status::ok, describe(*s, *a.value()));
  }
  if (req.method() == http::verb::delete_) {
    auto s = sessions_.find(secret, now);
    if (!s) return unauthenticated("signed out: sign in again", "SessionExpired");
    if (!same_secret(header(req, "X-CSRF-Token"), s->csrf)) {
      return problem(req, http::status::forbidden, "missing or wrong X-CSRF-Token", "CsrfFailed");
    }
    sessions_.remove(secret);
    security_event("api:" + s->account, "session.ended", {{"session", s->id}, {"peer", peer}});
    Response r = reply(req, http::status::ok, {{"signedOut", true}});
    r.set(http::field::set_cookie,
          std::string(kSessionCookie) + "=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
    return r;
  }
  if (req.method() != http::verb::post) {
    return problem(req, http::status::method_not_allowed, "use GET, POST or DELETE",
                   "MethodNotAllowed");
  }

  // Sign in: {"name", "password"}, and {"cosigner": {"name", "password"}} for a role that needs
  // a second account's co-signature.
  auto body = object_body(req);
  if (!body || !(*body)["name"].is_string() || !(*body)["password"].is_string()) {
    return problem(req, http::status::bad_request, "give name and password", "InvalidRequest");
  }
  const std::string name = (*body)["name"];
  std::optional<policy::Account> a;
  if (!password_ok(name, (*body)["password"], a)) return unauthenticated(kWrong, "Unauthenticated");
  std::string cosigner;
  if (listed(options_.cosign_roles, a->role)) {
    const json co = body->value("cosigner", json::object());
    const std::string co_name = co.is_object() ? co.value("name", "") : "";
    const std::string role(policy::role_name(a->role));
    if (co_name.empty() || co_name == name) {
      return unauthenticated("a " + role + " signs in with a second " + role +
                                 " co-signing: give their name and password",
                             "CosignRequired");
    }
    std::optional<policy::Account> c;
    if (!password_ok(co_name, co.value("password", ""), c)) {
      return unauthenticated("the co-signer's " + std::string(kWrong), "CosignRequired");
    }
    if (c->role != a->role) {
      return unauthenticated("the co-signer must be another " + role, "CosignRequired");
    }
    cosigner = co_name;
  }
  auto created = sessions_.create(name, cosigner, now);
  security_event("api:" + name, "session.created",
                 {{"session", created.session.id},
                  {"cosigner", cosigner.empty() ? json() : json(cosigner)},
                  {"peer", peer}});
  Response r = reply(req, http::status::created, describe(created.session, *a));
  r.set(http::field::set_cookie, std::string(kSessionCookie) + "=" + created.secret +
                                     "; Path=/; Secure; HttpOnly; SameSite=Strict");
  return r;
}

std::variant<Router::Principal, Response> Router::session_principal(const Request& req,
                                                                    std::string_view path) {
  const auto now = Clock::now();
  auto s = sessions_.find(session_secret(req), now);
  if (!s)
    return problem(req, http::status::unauthorized, "signed out: sign in again", "SessionExpired");
  if (!safe_method(req) &&
      (!same_origin(req) || !same_secret(header(req, "X-CSRF-Token"), s->csrf))) {
    return problem(req, http::status::forbidden, "missing or wrong X-CSRF-Token, or another origin",
                   "CsrfFailed");
  }
  if (sensitive(req, path) && !sessions_.recently_authenticated(*s, now)) {
    return problem(req, http::status::unauthorized,
                   "enter your password again to do this (POST /api/v1/session/reauth)",
                   "ReauthRequired");
  }
  auto a = account(s->account);
  if (!a || !a.value()) {
    sessions_.remove(session_secret(req));
    return problem(req, http::status::unauthorized, "signed out: sign in again", "SessionExpired");
  }
  return Principal{*a.value(), "session " + s->id};
}

}  // namespace verbatim::adminapi
