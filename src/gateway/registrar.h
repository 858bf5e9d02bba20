// The gateway's registrar (RFC 3261 §10) and its authentication of users.
//   - REGISTER: the user authenticates with digest (sip/digest.h: SHA-256 and MD5 challenges,
//     stateless nonces, replays refused) against the hashes `Set-VbUser -SipPassword` stored;
//     the digest username and realm are the user part and domain of the user's SIP address, and
//     a user registers only their own address (403 otherwise). Bindings: Contact URIs with their
//     expiry (the Contact's expires, else Expires, else 3600 s; capped at max_expires; below
//     min_expires: 423 with Min-Expires), "*" with Expires: 0 removes all, no Contact is a
//     query; at most max_bindings per user (the oldest go). The 200 lists every binding.
//   - Requests from users (INVITE): authenticate() answers with the user or the challenge.
//   - Realms: the tenant's SIP domains (configured, or those of the directory's users), never
//     whatever a request names in To/From; a request for another domain gets 403 and no
//     challenge, so requests cannot make the registrar keep state for realms of their choosing.
//   - Brute force (T33): an identity that fails `max_failures` times in a minute from one source
//     is refused (403) without verification for ten minutes, and so is a source that fails 5 x
//     `max_failures` times across identities; a success clears only its own identity's count.
//     Unknown users cost the same as wrong passwords. Failures and blocks are logged, at most a
//     few lines a second (LogLimiter).
// Bindings are kept in memory and saved by the gateway (gateway-registrations.json), so a
// restarted gateway calls phones at once; bindings expire as registered.
// Threads and ownership: the Registrar (owned by the Gateway) holds the bindings and nonce state;
// the gateway's io_context thread only.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/log_limit.h"
#include "sip/digest.h"
#include "sip/message.h"
#include "sip/timers.h"
#include "sip/transaction.h"
#include "sip/user_agent.h"

namespace verbatim::gateway {

struct RegistrarOptions {
  std::vector<sip::DigestAlgorithm> algorithms{sip::DigestAlgorithm::kSha256,
                                               sip::DigestAlgorithm::kMd5};
  std::chrono::seconds default_expires{3600}, min_expires{60}, max_expires{7200};
  size_t max_bindings = 10;
  size_t max_failures = 20;
};

struct Binding {
  std::string contact;  // the Contact URI as registered
  sip::Peer source;     // where the REGISTER came from: requests for the user go there
  std::chrono::steady_clock::time_point expires;
  std::string call_id;
  uint32_t cseq = 0;
};

// The clocks a Registrar reads (binding expiry, lockouts: `monotonic`; nonces, Date: `wall`);
// null: the system's. The gateway passes its own, so tests run registrations in virtual time.
struct RegistrarClocks {
  const sip::TimerService* monotonic = nullptr;
  const Clock* wall = nullptr;
};

class Registrar {
 public:
  // HA1 for a digest username in a realm, or nullopt (unknown user, no password set).
  using Ha1Lookup = std::function<std::optional<std::string>(
      std::string_view username, std::string_view realm, sip::DigestAlgorithm)>;
  // Whether a (lower-case) domain is one of the tenant's SIP domains.
  using DomainCheck = std::function<bool(const std::string& domain)>;
  Registrar(std::array<uint8_t, 32> secret, Ha1Lookup lookup, DomainCheck domains,
            RegistrarOptions options = {}, RegistrarClocks clocks = {});

  struct Reply {
    int status = 200;
    std::string reason = "OK";
    sip::HeaderList headers;
  };
  Reply on_register(const sip::Message& request, const sip::Peer& from);

  // The authenticated "user@realm" of a request, or the reply to send instead (401 with
  // challenges, or 403).
  struct Auth {
    std::string identity;  // "alice@contoso.com" (lower case)
    Reply reply;
    bool ok() const { return !identity.empty(); }
  };
  // A browser's connection (SIP over WebSocket) is bound to the first user who authenticates on
  // it: a request on it for anyone else is refused (403), whatever credentials it carries.
  Auth authenticate(const sip::Message& request, const sip::Peer& from);
  // Such a connection has closed: its user binding goes, and so do the registrations made over
  // it (nothing can reach them now). The number of registrations removed.
  size_t flow_closed(const sip::Peer& flow);
  // The user a browser's connection is signed in as; empty: none yet (or not such a connection).
  std::string flow_user(const sip::Peer& flow) const;

  // The live bindings of "user@domain", newest first.
  std::vector<Binding> bindings(const std::string& identity);
  size_t registered_users() const { return bindings_.size(); }

  // The bindings as JSON (expiry as wall-clock time), for a restart: a restarted gateway calls
  // phones at once instead of waiting for them to register again. `changed()` says whether
  // there is anything new to save since the last snapshot().
  nlohmann::json snapshot();
  bool changed() const { return changed_; }
  // Takes bindings from a snapshot; expired and malformed entries are skipped (counted).
  size_t restore(const nlohmann::json& saved);

 private:
  std::chrono::steady_clock::time_point steady_now() const {
    return clocks_.monotonic ? clocks_.monotonic->now() : std::chrono::steady_clock::now();
  }
  std::chrono::system_clock::time_point wall_now() const {
    return clocks_.wall ? clocks_.wall->now() : std::chrono::system_clock::now();
  }
  RegistrarClocks clocks_;
  sip::DigestServer& server(const std::string& realm);
  Reply challenge(const std::string& realm, bool stale, bool md5_first);
  void expire(std::vector<Binding>& list, std::chrono::steady_clock::time_point now) const;

  std::array<uint8_t, 32> secret_;
  Ha1Lookup lookup_;
  DomainCheck domains_;
  RegistrarOptions options_;
  LogLimiter failure_log_{120, 20};
  std::map<std::string, std::unique_ptr<sip::DigestServer>> servers_;  // by realm
  std::map<std::string, std::vector<Binding>> bindings_;               // by "user@domain"
  std::map<std::string, std::string> flow_users_;  // browser connection -> "user@domain"
  sip::AuthFailureLimiter limiter_;
  bool changed_ = false;
};

// "user@domain" (lower case) of a SIP URI, empty when it has no user part.
std::string identity_of(const sip::Uri& uri);

}  // namespace verbatim::gateway
