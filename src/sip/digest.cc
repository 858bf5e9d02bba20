#include "sip/digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>
#include <random>

#include "common/strings.h"
#include "sip/chars.h"
#include "sip/uri.h"

namespace verbatim::sip {

namespace {

std::string hash_hex(DigestAlgorithm a, std::string_view text) {
  const EVP_MD* md = a == DigestAlgorithm::kMd5 ? EVP_md5() : EVP_sha256();
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), out, &len, md, nullptr);
  return to_hex(std::span<const uint8_t>(out, len));
}

std::string join3(std::string_view a, std::string_view b, std::string_view c) {
  std::string s;
  s.reserve(a.size() + b.size() + c.size() + 2);
  s.append(a).append(":").append(b).append(":").append(c);
  return s;
}

std::optional<DigestAlgorithm> algorithm_of(std::string_view name) {
  if (name.empty() || iequals(name, "MD5")) return DigestAlgorithm::kMd5;  // RFC 2617 default
  if (iequals(name, "SHA-256")) return DigestAlgorithm::kSha256;
  return std::nullopt;
}

// response = H(HA1:nonce:nc:cnonce:qop:H(method:uri)), or H(HA1:nonce:H(A2)) without qop.
std::string response_for(DigestAlgorithm a, std::string_view ha1, const DigestParams& p,
                         std::string_view method) {
  const std::string ha2 = hash_hex(a, std::string(method) + ":" + p.get("uri"));
  const std::string qop = p.get("qop");
  if (qop.empty()) return hash_hex(a, join3(ha1, p.get("nonce"), ha2));
  return hash_hex(a, std::string(ha1) + ":" + p.get("nonce") + ":" + p.get("nc") + ":" +
                         p.get("cnonce") + ":" + qop + ":" + ha2);
}

// RFC 3261 §19.1.4, for what a digest uri must match: scheme, user, host (case-insensitive)
// and port; parameters are not compared (clients differ in which they repeat).
bool same_target(std::string_view a, std::string_view b) {
  if (a == b) return true;
  auto x = parse_uri(a);
  auto y = parse_uri(b);
  if (!x || !y) return false;
  const Uri& u = x.value();
  const Uri& v = y.value();
  return u.scheme == v.scheme && u.user_unescaped() == v.user_unescaped() &&
         iequals(u.host, v.host) && u.port == v.port &&
         (u.scheme != Uri::Scheme::kOther || u.opaque == v.opaque);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::string_view algorithm_name(DigestAlgorithm a) {
  return a == DigestAlgorithm::kMd5 ? "MD5" : "SHA-256";
}

std::string digest_ha1(DigestAlgorithm a, std::string_view username, std::string_view realm,
                       std::string_view password) {
  return hash_hex(a, join3(username, realm, password));
}

std::string DigestParams::get(const std::string& name) const {
  auto it = params.find(name);
  return it == params.end() ? std::string() : it->second;
}

Result<DigestParams> parse_digest(std::string_view v) {
  auto bad = [](const std::string& why) {
    return make_error(ErrorCode::kInvalidArgument, "digest credentials: " + why);
  };
  DigestParams d;
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n')) ++i;
  };
  skip_ws();
  const size_t s = i;
  while (i < v.size() && is_token_char(v[i])) ++i;
  d.scheme = std::string(v.substr(s, i - s));
  if (d.scheme.empty()) return bad("no scheme");
  for (;;) {
    skip_ws();
    if (i >= v.size()) break;
    const size_t ns = i;
    while (i < v.size() && is_token_char(v[i])) ++i;
    std::string name = to_lower(std::string(v.substr(ns, i - ns)));
    if (name.empty()) return bad("expected a parameter name");
    skip_ws();
    if (i >= v.size() || v[i] != '=') return bad("parameter '" + name + "' has no value");
    ++i;
    skip_ws();
    std::string value;
    if (i < v.size() && v[i] == '"') {
      ++i;
      bool closed = false;
      while (i < v.size()) {
        if (v[i] == '\\' && i + 1 < v.size()) {
          value.push_back(v[i + 1]);
          i += 2;
          continue;
        }
        if (v[i] == '"') {
          closed = true;
          ++i;
          break;
        }
        value.push_back(v[i++]);
      }
      if (!closed) return bad("unterminated quoted value of '" + name + "'");
    } else {
      const size_t vs = i;
      while (i < v.size() && v[i] != ',' && v[i] != ' ' && v[i] != '\t') ++i;
      value = std::string(v.substr(vs, i - vs));
    }
    if (d.params.count(name)) return bad("parameter '" + name + "' given twice");
    if (d.params.size() >= 32 || value.size() > 1024) return bad("too large");
    d.params[name] = value;
    skip_ws();
    if (i < v.size()) {
      if (v[i] != ',') return bad("expected ',' between parameters");
      ++i;
    }
  }
  return d;
}

Result<std::string> digest_authorize(std::string_view challenge, std::string_view method,
                                     std::string_view uri, std::string_view username,
                                     std::string_view password, std::string_view cnonce,
                                     uint32_t nonce_count) {
  auto c = parse_digest(challenge);
  if (!c) return c.error();
  if (!iequals(c.value().scheme, "Digest")) {
    return make_error(ErrorCode::kInvalidArgument, "not a Digest challenge");
  }
  const auto alg = algorithm_of(c.value().get("algorithm"));
  if (!alg) {
    return make_error(ErrorCode::kInvalidArgument,
                      "unsupported digest algorithm " + c.value().get("algorithm"));
  }
  const std::string realm = c.value().get("realm");
  const std::string nonce = c.value().get("nonce");
  if (nonce.empty()) return make_error(ErrorCode::kInvalidArgument, "the challenge has no nonce");
  const bool qop_auth = [&] {
    for (const auto& q : split(c.value().get("qop"), ',')) {
      if (trim(q) == "auth") return true;
    }
    return false;
  }();
  char nc[9];
  std::snprintf(nc, sizeof nc, "%08x", nonce_count);
  DigestParams p;
  p.params = {{"uri", std::string(uri)}, {"nonce", nonce}};
  if (qop_auth) {
    p.params["qop"] = "auth";
    p.params["nc"] = nc;
    p.params["cnonce"] = std::string(cnonce);
  }
  const std::string ha1 = digest_ha1(*alg, username, realm, password);
  const std::string response = response_for(*alg, ha1, p, method);
  std::string out = "Digest username=\"" + std::string(username) + "\", realm=\"" + realm +
                    "\", nonce=\"" + nonce + "\", uri=\"" + std::string(uri) + "\", response=\"" +
                    response + "\", algorithm=" + std::string(algorithm_name(*alg));
  if (qop_auth)
    out += ", qop=auth, nc=" + std::string(nc) + ", cnonce=\"" + std::string(cnonce) + "\"";
  if (const std::string opaque = c.value().get("opaque"); !opaque.empty()) {
    out += ", opaque=\"" + opaque + "\"";
  }
  return out;
}

DigestServer::DigestServer(std::string realm, std::array<uint8_t, 32> secret, Ha1Lookup lookup,
                           std::chrono::seconds nonce_lifetime, size_t replay_table_size)
    : realm_(std::move(realm)),
      secret_(secret),
      lookup_(std::move(lookup)),
      lifetime_(nonce_lifetime),
      replay_capacity_(replay_table_size),
      salt_base_((uint64_t{std::random_device{}()} << 32) ^ std::random_device{}()) {}

std::string DigestServer::make_nonce(std::chrono::system_clock::time_point now,
                                     uint64_t salt) const {
  const int64_t ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  char ts[33];
  std::snprintf(ts, sizeof ts, "%016llx%016llx", static_cast<unsigned long long>(ms),
                static_cast<unsigned long long>(salt));
  const std::string msg = std::string(ts) + ":" + realm_;
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), mac, &len);
  return std::string(ts) + "." + to_hex(std::span<const uint8_t>(mac, len));
}

bool DigestServer::nonce_is_ours(std::string_view nonce, int64_t* issued_ms) const {
  if (nonce.size() != 32 + 1 + 64 || nonce[32] != '.') return false;
  unsigned long long ms = 0, salt = 0;
  auto [p, ec] = std::from_chars(nonce.data(), nonce.data() + 16, ms, 16);
  if (ec != std::errc() || p != nonce.data() + 16) return false;
  auto [q, ec2] = std::from_chars(nonce.data() + 16, nonce.data() + 32, salt, 16);
  if (ec2 != std::errc() || q != nonce.data() + 32) return false;
  // A forged issue time far outside any clock (year 3000+) would overflow the time point.
  if (ms > 32503680000000ULL) return false;
  const std::string expect =
      make_nonce(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)), salt);
  if (!constant_time_equal(expect, nonce)) return false;
  *issued_ms = static_cast<int64_t>(ms);
  return true;
}

std::vector<std::string> DigestServer::challenges(std::chrono::system_clock::time_point now,
                                                  bool stale) const {
  // Unique, not secret (the HMAC is what makes a nonce ours): a per-server random start, counted
  // up. No OpenSSL RNG here: its lazily built state would be heap the first challenge allocates.
  const uint64_t salt = salt_base_ + next_salt_.fetch_add(1, std::memory_order_relaxed);
  const std::string nonce = make_nonce(now, salt);
  std::vector<std::string> out;
  for (DigestAlgorithm a : algorithms_) {
    out.push_back("Digest realm=\"" + realm_ + "\", nonce=\"" + nonce +
                  "\", algorithm=" + std::string(algorithm_name(a)) + ", qop=\"auth\"" +
                  (stale ? ", stale=true" : ""));
  }
  return out;
}

DigestVerdict DigestServer::verify(std::string_view authorization, std::string_view method,
                                   std::string_view request_uri,
                                   std::chrono::system_clock::time_point now) {
  auto d = parse_digest(authorization);
  if (!d || !iequals(d.value().scheme, "Digest")) return DigestVerdict::kMalformed;
  const DigestParams& p = d.value();
  const auto alg = algorithm_of(p.get("algorithm"));
  const std::string username = p.get("username");
  const std::string nonce = p.get("nonce");
  const std::string qop = p.get("qop");
  if (!alg || username.empty() || p.get("uri").empty() || p.get("response").empty()) {
    return DigestVerdict::kMalformed;
  }
  if (!qop.empty() && (qop != "auth" || p.get("cnonce").empty() || p.get("nc").size() != 8)) {
    return DigestVerdict::kMalformed;
  }
  int64_t issued = 0;
  if (!nonce_is_ours(nonce, &issued)) {
    // A nonce of our shape under another secret is most likely one we issued before a restart
    // (the secret is new at every start): re-challenge with stale=true so the client retries
    // without asking its user again. Anything else: an ordinary challenge.
    return nonce.size() == 32 + 1 + 64 && nonce[32] == '.' ? DigestVerdict::kStale
                                                           : DigestVerdict::kMalformed;
  }
  // The same work whether or not the user exists, and the same verdict for a wrong password.
  const std::optional<std::string> ha1 = lookup_(username, *alg);
  const bool known = ha1.has_value() && p.get("realm") == realm_;
  const std::string ha1_used = known ? *ha1 : digest_ha1(*alg, username, realm_, "\x01unknown");
  const std::string expected = response_for(*alg, ha1_used, p, method);
  const bool match = constant_time_equal(expected, p.get("response")) && known;
  if (!match) return DigestVerdict::kBadCredentials;
  // The answer is for this request's target, not one captured from another request.
  if (!same_target(p.get("uri"), request_uri)) return DigestVerdict::kWrongUri;
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const int64_t lifetime_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(lifetime_).count();
  if (now_ms - issued > lifetime_ms || issued - now_ms > 60000 || issued <= floor_ms_) {
    return DigestVerdict::kStale;
  }
  // Replays: with qop the nonce-count must grow; without qop a nonce is good once.
  uint32_t nc = 1;
  if (!qop.empty()) {
    // One string for both ends of the range (two calls to get() would be two temporaries).
    const std::string nc_text = p.get("nc");
    auto [q, ec] = std::from_chars(nc_text.data(), nc_text.data() + nc_text.size(), nc, 16);
    if (ec != std::errc() || q != nc_text.data() + nc_text.size()) return DigestVerdict::kMalformed;
  }
  auto it = last_nc_.find(nonce);
  if (it != last_nc_.end()) {
    if (nc <= it->second) return DigestVerdict::kReplay;
    it->second = nc;
  } else {
    while (last_nc_.size() >= replay_capacity_ && !nc_order_.empty()) {
      // The oldest first. Dropping a nonce that is still live would let its answers be replayed:
      // instead, from now on every nonce issued no later than it counts as expired.
      const auto& [old_nonce, old_issued] = nc_order_.front();
      if (now_ms - old_issued <= lifetime_ms) floor_ms_ = std::max(floor_ms_, old_issued);
      last_nc_.erase(old_nonce);
      nc_order_.pop_front();
    }
    if (issued <= floor_ms_) return DigestVerdict::kStale;
    last_nc_.emplace(nonce, nc);
    nc_order_.emplace_back(nonce, issued);
  }
  return DigestVerdict::kOk;
}

AuthFailureLimiter::AuthFailureLimiter(size_t max_failures, std::chrono::seconds window,
                                       std::chrono::seconds block_for, size_t max_entries,
                                       size_t max_source_failures)
    : max_failures_(max_failures),
      max_source_failures_(max_source_failures),
      window_(window),
      block_for_(block_for),
      max_entries_(max_entries) {}

bool AuthFailureLimiter::blocked(const std::string& source, const std::string& identity,
                                 TimePoint now) {
  auto s = sources_.entries.find(source);
  if (s != sources_.entries.end() && now < s->second.blocked_until) return true;
  auto p = pairs_.entries.find(source + " " + identity);
  return p != pairs_.entries.end() && now < p->second.blocked_until;
}

bool AuthFailureLimiter::count(Table& t, const std::string& key, size_t limit, TimePoint now) {
  auto it = t.entries.find(key);
  if (it == t.entries.end()) {
    if (t.entries.size() >= max_entries_ && !t.order.empty()) {
      t.entries.erase(t.order.front());
      t.order.pop_front();
    }
    it = t.entries.emplace(key, Entry{now, 0, {}}).first;
    t.order.push_back(key);
  }
  Entry& e = it->second;
  if (now - e.window_start > window_) {
    e.window_start = now;
    e.failures = 0;
  }
  if (++e.failures == limit) {
    e.blocked_until = now + block_for_;
    return true;
  }
  return false;
}

bool AuthFailureLimiter::failure(const std::string& source, const std::string& identity,
                                 TimePoint now) {
  const bool pair = count(pairs_, source + " " + identity, max_failures_, now);
  const bool src = count(sources_, source, max_source_failures_, now);
  return pair || src;
}

void AuthFailureLimiter::success(const std::string& source, const std::string& identity) {
  // A blocked pair is never verified, so this only clears the count of a legitimate user who
  // mistyped a few times — theirs alone, never another identity's from the same source.
  auto it = pairs_.entries.find(source + " " + identity);
  if (it != pairs_.entries.end()) it->second.failures = 0;
}

}  // namespace verbatim::sip
