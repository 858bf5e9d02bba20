// The portal's sign-in sessions: server-side, held by the process that serves the portal.
//
// A browser signs in with an account's password (POST /api/v1/session) and gets a random
// secret in a `__Host-vb_session` cookie (Secure, HttpOnly, SameSite=Strict, Path=/); only the
// secret's SHA-256 is kept here. A session ends after `idle` without a request, after `absolute`
// since sign-in whatever happens, at sign-out, and when its account is signed out everywhere.
// Requests that change anything carry the session's CSRF token in `X-CSRF-Token` (a
// synchroniser token, compared in constant time). Sensitive actions (exports, releases,
// approvals, accounts, tokens, disposal) need the password again within `reauth` (see
// Router::sensitive). Failed sign-ins are counted per account: after kMaxFailures within
// kFailureWindow the account is refused for kLockout (the same answer as a wrong password).
// An OIDC hook would create a session here too (create() takes the account name from whoever
// authenticated it); only local passwords do so today.
// Thread-safe (one mutex): the server's loop and its worker threads use it at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace verbatim::adminapi {

class SessionStore {
 public:
  using Clock = std::chrono::steady_clock;
  struct Limits {
    std::chrono::seconds idle{15 * 60};
    std::chrono::seconds absolute{8 * 3600};
    std::chrono::seconds reauth{5 * 60};
  };
  static constexpr int kMaxFailures = 5;
  static constexpr std::chrono::seconds kFailureWindow{15 * 60};
  static constexpr std::chrono::seconds kLockout{15 * 60};
  static constexpr size_t kMaxSessionsPerAccount = 20;  // the oldest ends beyond this

  struct Session {
    std::string id;  // a short public id for logs and the security log (not the secret)
    std::string account;
    std::string cosigner;  // four-eyes sign-in: the second account; empty: none
    std::string csrf;
    Clock::time_point created, last_seen, authenticated;  // authenticated: sign-in or reauth
  };
  struct Created {
    Session session;
    std::string secret;  // the cookie's value; shown once
  };

  explicit SessionStore(Limits limits) : limits_(limits) {}
  SessionStore() : SessionStore(Limits{}) {}
  const Limits& limits() const { return limits_; }

  Created create(const std::string& account, const std::string& cosigner, Clock::time_point now);
  // The session of `secret` if it is still valid, marked as used at `now`; nullopt otherwise
  // (an expired one is removed).
  std::optional<Session> find(const std::string& secret, Clock::time_point now);
  // Password given again: sensitive actions are allowed until now + reauth.
  bool reauthenticated(const std::string& secret, Clock::time_point now);
  bool recently_authenticated(const Session& s, Clock::time_point now) const {
    return now - s.authenticated <= limits_.reauth;
  }
  bool remove(const std::string& secret);
  size_t remove_account(const std::string& account);  // "sign out everywhere"
  size_t size() const;

  // Sign-in throttling, per account name (whether or not it exists).
  bool locked(const std::string& account, Clock::time_point now);
  // Counts a failure; true when this one locked the account.
  bool failed(const std::string& account, Clock::time_point now);
  void succeeded(const std::string& account);

 private:
  struct Failures {
    int count = 0;
    Clock::time_point first, locked_until;
  };
  bool expired(const Session& s, Clock::time_point now) const;

  Limits limits_;
  mutable std::mutex mu_;
  std::map<std::string, Session> by_hash_;  // SHA-256 hex of the secret -> session
  std::map<std::string, Failures> failures_;
};

// The cookie that carries the session ("__Host-": the browser only accepts it over HTTPS, for
// this host, at Path=/).
inline constexpr const char* kSessionCookie = "__Host-vb_session";
// The cookie's value in a Cookie header, or "".
std::string cookie_value(std::string_view cookie_header, std::string_view name);
// Equal in time independent of where they differ (tokens).
bool same_secret(std::string_view a, std::string_view b);

}  // namespace verbatim::adminapi
