// SIP digest authentication (RFC 3261 §22, RFC 7616 as profiled for SIP by RFC 8760): the
// server side (challenges, verification with nonce expiry and replay protection) and the
// client side (answering a challenge). Algorithms: SHA-256 (preferred, offered first) and MD5
// (for old phones), with qop=auth.
//
// Passwords are never stored: the server looks up HA1 = H(username:realm:password), which is
// what `Set-VbUser -SipPassword` keeps (one per algorithm). Nonces are stateless —
// hex(issued-at ms) hex(salt) "." HMAC-SHA-256(secret, issued-at || salt || realm) — so any node
// holding the secret can check them, and a bounded table of the highest nonce-count seen per nonce
// refuses replays. That table never forgets a nonce that is still accepted: when it is full and
// must drop a live nonce, every nonce issued up to that one's time is treated as expired from then
// on (the client is re-challenged with stale=true). The secret is the caller's: the gateway draws
// a new one at every start, so nonces from before a restart (whose replay state is gone) are
// never accepted after it. The digest uri must name the Request-URI (RFC 3261 §22.4), so an
// answer captured from one request cannot be replayed on another target. Unknown users are
// checked against a dummy HA1 so they take as long and get the same answer as a wrong password
// (user enumeration, reliability test T33).
// Hand-written: the hashing is OpenSSL's; the header grammar and the rules are SIP's.
// Threads and ownership: the functions are pure; a DigestServer and an AuthFailureLimiter hold
// replay and failure state and belong to one thread (their owner's io_context).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.h"

namespace verbatim::sip {

enum class DigestAlgorithm { kMd5, kSha256 };
std::string_view algorithm_name(DigestAlgorithm a);  // "MD5", "SHA-256"

// H(username ":" realm ":" password), lower-case hex.
std::string digest_ha1(DigestAlgorithm a, std::string_view username, std::string_view realm,
                       std::string_view password);

// The parameters of a WWW-Authenticate / Authorization value ("Digest k=v, k=\"v\"").
struct DigestParams {
  std::string scheme;                         // "Digest"
  std::map<std::string, std::string> params;  // names lower-case, values unquoted
  std::string get(const std::string& name) const;
};
Result<DigestParams> parse_digest(std::string_view header_value);

// Client: the Authorization (or Proxy-Authorization) value answering `challenge`.
Result<std::string> digest_authorize(std::string_view challenge, std::string_view method,
                                     std::string_view uri, std::string_view username,
                                     std::string_view password, std::string_view cnonce,
                                     uint32_t nonce_count);

enum class DigestVerdict {
  kOk,
  kStale,           // a correct answer to an expired nonce: challenge again with stale=true
  kBadCredentials,  // wrong password, unknown user, wrong realm: the same answer for all
  kReplay,          // a nonce-count not above the last one seen for that nonce
  kMalformed,       // not a digest answer we can check: challenge again
  kWrongUri,        // the digest uri is not the request's Request-URI (a captured answer moved)
};

class DigestServer {
 public:
  // HA1 for (username, algorithm), or nullopt for an unknown user.
  using Ha1Lookup =
      std::function<std::optional<std::string>(std::string_view username, DigestAlgorithm)>;
  DigestServer(std::string realm, std::array<uint8_t, 32> secret, Ha1Lookup lookup,
               std::chrono::seconds nonce_lifetime = std::chrono::seconds(300),
               size_t replay_table_size = 100000);

  // Which challenges to send, in order (default SHA-256 then MD5, RFC 8760 §2.4). Some
  // clients only read the first challenge and only know MD5 (SIPp 3.6 among them): a
  // deployment with such phones offers MD5 alone.
  void set_algorithms(std::vector<DigestAlgorithm> algorithms) {
    algorithms_ = std::move(algorithms);
  }

  // WWW-Authenticate values to send.
  std::vector<std::string> challenges(std::chrono::system_clock::time_point now,
                                      bool stale = false) const;
  // `request_uri`: the Request-URI of the request that carries `authorization`.
  DigestVerdict verify(std::string_view authorization, std::string_view method,
                       std::string_view request_uri, std::chrono::system_clock::time_point now);
  const std::string& realm() const { return realm_; }

 private:
  // hex(issued-at ms) hex(salt) "." HMAC: the random salt makes every challenge's nonce unique
  // (two challenges in one millisecond must not share a nonce, or their nc=1 answers replay).
  std::string make_nonce(std::chrono::system_clock::time_point now, uint64_t salt) const;
  bool nonce_is_ours(std::string_view nonce, int64_t* issued_ms) const;

  std::string realm_;
  std::array<uint8_t, 32> secret_;
  Ha1Lookup lookup_;
  std::chrono::seconds lifetime_;
  size_t replay_capacity_;
  std::unordered_map<std::string, uint32_t> last_nc_;    // nonce -> highest nc
  std::list<std::pair<std::string, int64_t>> nc_order_;  // (nonce, issued ms): eviction order
  int64_t floor_ms_ = INT64_MIN;  // nonces issued at or before this are no longer accepted
  std::vector<DigestAlgorithm> algorithms_{DigestAlgorithm::kSha256, DigestAlgorithm::kMd5};
  uint64_t salt_base_ = 0;
  mutable std::atomic<uint64_t> next_salt_{0};
};

// Brute-force protection (reliability test T33), keyed by source and identity: `max_failures`
// failures of one identity from one source within `window` block that pair for `block_for`;
// `max_source_failures` failures from one source across all identities (enumeration, password
// spraying) block the source. A success clears only its own pair's count, so one account's
// login never resets the failures of another tried from the same place. Blocked requests get
// no verification (the registrar answers 403). Memory is bounded by `max_entries` per table (the
// oldest entries go first).
class AuthFailureLimiter {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  AuthFailureLimiter(size_t max_failures = 20,
                     std::chrono::seconds window = std::chrono::seconds(60),
                     std::chrono::seconds block_for = std::chrono::seconds(600),
                     size_t max_entries = 100000, size_t max_source_failures = 100);
  bool blocked(const std::string& source, const std::string& identity, TimePoint now);
  // True when this failure blocked the pair or the source (to log it once).
  bool failure(const std::string& source, const std::string& identity, TimePoint now);
  void success(const std::string& source, const std::string& identity);

 private:
  struct Entry {
    TimePoint window_start{};
    size_t failures = 0;
    TimePoint blocked_until{};
  };
  struct Table {
    std::unordered_map<std::string, Entry> entries;
    std::list<std::string> order;
  };
  bool count(Table& t, const std::string& key, size_t limit, TimePoint now);
  size_t max_failures_, max_source_failures_;
  std::chrono::seconds window_, block_for_;
  size_t max_entries_;
  Table pairs_;    // "source identity"
  Table sources_;  // "source"
};

}  // namespace verbatim::sip
