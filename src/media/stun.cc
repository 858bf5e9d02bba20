#include "media/stun.h"

#include <cstring>

#include <algorithm>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <boost/crc.hpp>

namespace verbatim::media {

namespace {

constexpr uint32_t kMagicCookie = 0x2112A442;
constexpr uint32_t kFingerprintXor = 0x5354554E;
constexpr uint16_t kBindingRequest = 0x0001;
constexpr uint16_t kBindingSuccess = 0x0101;
constexpr uint16_t kBindingError = 0x0111;
// Attributes (RFC 8489 §18.3, RFC 8445 §16.1).
constexpr uint16_t kUsername = 0x0006;
constexpr uint16_t kMessageIntegrity = 0x0008;
constexpr uint16_t kErrorCode = 0x0009;
constexpr uint16_t kXorMappedAddress = 0x0020;
constexpr uint16_t kPriority = 0x0024;
constexpr uint16_t kUseCandidate = 0x0025;
constexpr uint16_t kSoftware = 0x8022;
constexpr uint16_t kFingerprint = 0x8028;
constexpr uint16_t kIceControlled = 0x8029;
constexpr uint16_t kIceControlling = 0x802A;
constexpr size_t kHeader = 20;
constexpr size_t kHmacSize = 20;

uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t get32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
void put16(std::vector<uint8_t>& out, size_t at, uint16_t v) {
  out[at] = static_cast<uint8_t>(v >> 8);
  out[at + 1] = static_cast<uint8_t>(v);
}
void put32(std::vector<uint8_t>& out, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[at + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}

uint32_t crc32(const uint8_t* data, size_t n) {
  boost::crc_32_type crc;
  crc.process_bytes(data, n);
  return crc.checksum();
}

std::array<uint8_t, kHmacSize> hmac_sha1(std::string_view key, const uint8_t* data, size_t n) {
  std::array<uint8_t, kHmacSize> out{};
  unsigned int len = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), data, n, out.data(), &len);
  return out;
}

// The HMAC of `message` up to the attribute at `at` (MESSAGE-INTEGRITY), with the header's
// length covering that attribute, as RFC 8489 §14.5 defines it.
std::array<uint8_t, kHmacSize> integrity_at(std::span<const uint8_t> message, size_t at,
                                            std::string_view password) {
  std::vector<uint8_t> copy(message.begin(), message.begin() + static_cast<ptrdiff_t>(at));
  put16(copy, 2, static_cast<uint16_t>(at + 4 + kHmacSize - kHeader));
  return hmac_sha1(password, copy.data(), copy.size());
}

struct Attribute {
  uint16_t type;
  size_t offset;  // of the attribute's header in the message
  std::span<const uint8_t> value;
};

// The attributes of a STUN message, or nullopt when it is not one (RFC 8489 §5, §6.3).
std::optional<std::vector<Attribute>> parse(std::span<const uint8_t> m) {
  if (m.size() < kHeader || (m[0] & 0xC0) != 0 || get32(m.data() + 4) != kMagicCookie) {
    return std::nullopt;
  }
  const size_t length = get16(m.data() + 2);
  if (length % 4 != 0 || kHeader + length != m.size()) return std::nullopt;
  std::vector<Attribute> out;
  size_t at = kHeader;
  while (at < m.size()) {
    if (at + 4 > m.size()) return std::nullopt;
    const uint16_t type = get16(m.data() + at);
    const size_t len = get16(m.data() + at + 2);
    if (at + 4 + len > m.size()) return std::nullopt;
    out.push_back({type, at, m.subspan(at + 4, len)});
    at += 4 + ((len + 3) & ~size_t{3});
  }
  return out;
}

const Attribute* find(const std::vector<Attribute>& attrs, uint16_t type) {
  for (const auto& a : attrs) {
    if (a.type == type) return &a;
  }
  return nullptr;
}

// Whether MESSAGE-INTEGRITY verifies and FINGERPRINT (when present) matches; the error names
// the failure, with the STUN code to answer.
Status check_hashes(std::span<const uint8_t> m, const std::vector<Attribute>& attrs,
                    std::string_view password) {
  if (const Attribute* fp = find(attrs, kFingerprint)) {
    // FINGERPRINT is last, over everything before it (with the length including it).
    if (fp->value.size() != 4 || fp->offset + 8 != m.size()) {
      return make_error(ErrorCode::kInvalidArgument, "FINGERPRINT is not the last attribute");
    }
    std::vector<uint8_t> copy(m.begin(), m.begin() + static_cast<ptrdiff_t>(fp->offset));
    put16(copy, 2, static_cast<uint16_t>(m.size() - kHeader));
    if ((crc32(copy.data(), copy.size()) ^ kFingerprintXor) != get32(fp->value.data())) {
      return make_error(ErrorCode::kInvalidArgument, "FINGERPRINT does not match");
    }
  }
  const Attribute* mi = find(attrs, kMessageIntegrity);
  if (!mi) return make_error(ErrorCode::kInvalidArgument, "no MESSAGE-INTEGRITY");
  if (mi->value.size() != kHmacSize) {
    return make_error(ErrorCode::kInvalidArgument, "MESSAGE-INTEGRITY of the wrong size");
  }
  // Only FINGERPRINT may follow MESSAGE-INTEGRITY (RFC 8489 §14.5).
  for (const auto& a : attrs) {
    if (a.offset > mi->offset && a.type != kFingerprint) {
      return make_error(ErrorCode::kInvalidArgument, "attributes after MESSAGE-INTEGRITY");
    }
  }
  const auto expected = integrity_at(m, mi->offset, password);
  if (CRYPTO_memcmp(expected.data(), mi->value.data(), kHmacSize) != 0) {
    return make_error(ErrorCode::kUnauthenticated, "MESSAGE-INTEGRITY does not verify");
  }
  return ok_status();
}

std::vector<uint8_t> header(uint16_t type, const StunTransaction& transaction) {
  std::vector<uint8_t> out(kHeader);
  put16(out, 0, type);
  put32(out, 4, kMagicCookie);
  std::memcpy(out.data() + 8, transaction.data(), transaction.size());
  return out;
}

void add(std::vector<uint8_t>& out, uint16_t type, std::span<const uint8_t> value) {
  const size_t at = out.size();
  out.resize(at + 4 + ((value.size() + 3) & ~size_t{3}), 0);
  put16(out, at, type);
  put16(out, at + 2, static_cast<uint16_t>(value.size()));
  if (!value.empty()) std::memcpy(out.data() + at + 4, value.data(), value.size());
  put16(out, 2, static_cast<uint16_t>(out.size() - kHeader));
}

// MESSAGE-INTEGRITY over what `out` holds (RFC 8489 §14.5).
void add_integrity(std::vector<uint8_t>& out, std::string_view password) {
  const size_t at = out.size();
  out.resize(at + 4 + kHmacSize, 0);
  put16(out, at, kMessageIntegrity);
  put16(out, at + 2, kHmacSize);
  const auto mac = integrity_at(out, at, password);
  std::memcpy(out.data() + at + 4, mac.data(), kHmacSize);
  put16(out, 2, static_cast<uint16_t>(out.size() - kHeader));
}

void add_fingerprint(std::vector<uint8_t>& out) {
  put16(out, 2, static_cast<uint16_t>(out.size() + 8 - kHeader));
  const uint32_t crc = crc32(out.data(), out.size()) ^ kFingerprintXor;
  const std::array<uint8_t, 4> v{static_cast<uint8_t>(crc >> 24), static_cast<uint8_t>(crc >> 16),
                                 static_cast<uint8_t>(crc >> 8), static_cast<uint8_t>(crc)};
  add(out, kFingerprint, v);
}

std::span<const uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

Result<BindingRequest> check_binding_request(std::span<const uint8_t> datagram,
                                             std::string_view password) {
  auto attrs = parse(datagram);
  if (!attrs) return make_error(ErrorCode::kNotFound, "not a STUN message");
  if (get16(datagram.data()) != kBindingRequest) {
    return make_error(ErrorCode::kNotFound, "not a Binding request");
  }
  BindingRequest r;
  std::memcpy(r.transaction.data(), datagram.data() + 8, r.transaction.size());
  const Attribute* user = find(*attrs, kUsername);
  if (!user) return make_error(ErrorCode::kInvalidArgument, "no USERNAME");
  r.username.assign(reinterpret_cast<const char*>(user->value.data()), user->value.size());
  if (auto st = check_hashes(datagram, *attrs, password); !st) return st.error();
  if (const Attribute* p = find(*attrs, kPriority); p && p->value.size() == 4) {
    r.priority = get32(p->value.data());
  }
  r.use_candidate = find(*attrs, kUseCandidate) != nullptr;
  r.controlling = find(*attrs, kIceControlling) != nullptr;
  if (r.controlling && find(*attrs, kIceControlled)) {
    return make_error(ErrorCode::kInvalidArgument, "both ICE-CONTROLLING and ICE-CONTROLLED");
  }
  return r;
}

std::vector<uint8_t> binding_success(const StunTransaction& transaction,
                                     const boost::asio::ip::udp::endpoint& from,
                                     std::string_view password, std::string_view software) {
  std::vector<uint8_t> out = header(kBindingSuccess, transaction);
  if (!software.empty()) add(out, kSoftware, bytes_of(software));
  // XOR-MAPPED-ADDRESS: the port XORed with the cookie's high half, the address with the cookie
  // (and, for IPv6, the transaction ID after it).
  std::vector<uint8_t> xa(4);
  const uint16_t port = from.port() ^ static_cast<uint16_t>(kMagicCookie >> 16);
  xa[1] = from.address().is_v6() ? 2 : 1;
  xa[2] = static_cast<uint8_t>(port >> 8);
  xa[3] = static_cast<uint8_t>(port);
  std::array<uint8_t, 16> mask{};
  const std::array<uint8_t, 4> cookie{0x21, 0x12, 0xA4, 0x42};
  std::memcpy(mask.data(), cookie.data(), 4);
  std::memcpy(mask.data() + 4, transaction.data(), transaction.size());
  if (from.address().is_v6()) {
    const auto a = from.address().to_v6().to_bytes();
    for (size_t i = 0; i < 16; ++i) xa.push_back(a[i] ^ mask[i]);
  } else {
    const auto a = from.address().to_v4().to_bytes();
    for (size_t i = 0; i < 4; ++i) xa.push_back(a[i] ^ mask[i]);
  }
  add(out, kXorMappedAddress, xa);
  add_integrity(out, password);
  add_fingerprint(out);
  return out;
}

int stun_error_for(const Error& e) {
  switch (e.code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kUnauthenticated:
      return 401;
    default:
      return 0;
  }
}

std::vector<uint8_t> binding_error(const StunTransaction& transaction, int code,
                                   std::string_view reason) {
  std::vector<uint8_t> out = header(kBindingError, transaction);
  std::vector<uint8_t> v{0, 0, static_cast<uint8_t>(code / 100), static_cast<uint8_t>(code % 100)};
  v.insert(v.end(), reason.begin(), reason.end());
  add(out, kErrorCode, v);
  add_fingerprint(out);
  return out;
}

std::vector<uint8_t> binding_request(const StunTransaction& transaction, std::string_view username,
                                     std::string_view password, uint32_t priority,
                                     bool use_candidate) {
  std::vector<uint8_t> out = header(kBindingRequest, transaction);
  add(out, kUsername, bytes_of(username));
  const std::array<uint8_t, 4> p{
      static_cast<uint8_t>(priority >> 24), static_cast<uint8_t>(priority >> 16),
      static_cast<uint8_t>(priority >> 8), static_cast<uint8_t>(priority)};
  add(out, kPriority, p);
  std::array<uint8_t, 8> tie{};
  RAND_bytes(tie.data(), static_cast<int>(tie.size()));
  add(out, kIceControlling, tie);
  if (use_candidate) add(out, kUseCandidate, {});
  add_integrity(out, password);
  add_fingerprint(out);
  return out;
}

namespace {
std::string random_ice_chars(size_t n) {
  // ice-char: ALPHA / DIGIT / "+" / "/" (RFC 8839 §5.4); 64 of them, so a byte's low 6 bits.
  static constexpr char kChars[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<uint8_t> r(n);
  RAND_bytes(r.data(), static_cast<int>(n));
  std::string out;
  for (uint8_t b : r) out += kChars[b & 63];
  return out;
}
}  // namespace

IceLite::IceLite() : IceLite(random_ice_chars(8), random_ice_chars(24)) {}

IceLite::IceLite(std::string ufrag, std::string pwd)
    : ufrag_(std::move(ufrag)), pwd_(std::move(pwd)) {}

std::vector<uint8_t> IceLite::on_stun(std::span<const uint8_t> datagram,
                                      const boost::asio::ip::udp::endpoint& from) {
  auto r = check_binding_request(datagram, pwd_);
  if (!r) {
    const int code = stun_error_for(r.error());
    if (code == 0 || datagram.size() < kHeader) return {};
    StunTransaction t{};
    std::memcpy(t.data(), datagram.data() + 8, t.size());
    return binding_error(t, code, code == 401 ? "Unauthorized" : "Bad Request");
  }
  // USERNAME is "<our ufrag>:<their ufrag>" (RFC 8445 §7.2.2): a check for another session, or
  // from another peer, is not ours to answer.
  const std::string& user = r.value().username;
  const std::string expected = ufrag_ + ":" + remote_ufrag_;
  const bool ours = remote_ufrag_.empty() ? user.rfind(ufrag_ + ":", 0) == 0 : user == expected;
  if (!ours) return binding_error(r.value().transaction, 401, "Unauthorized");
  if (!checked(from)) {
    if (checked_.size() == kMaxChecked) checked_.erase(checked_.begin());
    checked_.push_back(from);
  }
  if (r.value().use_candidate) nominated_ = from;
  return binding_success(r.value().transaction, from, pwd_, "verbatim");
}

bool IceLite::checked(const boost::asio::ip::udp::endpoint& from) const {
  return std::find(checked_.begin(), checked_.end(), from) != checked_.end();
}

std::optional<boost::asio::ip::udp::endpoint> IceLite::selected() const {
  if (nominated_ && checked(*nominated_)) return nominated_;
  if (checked_.empty()) return std::nullopt;
  return checked_.back();
}

std::optional<boost::asio::ip::udp::endpoint> mapped_address(std::span<const uint8_t> response,
                                                             std::string_view password) {
  auto attrs = parse(response);
  if (!attrs || get16(response.data()) != kBindingSuccess) return std::nullopt;
  if (!check_hashes(response, *attrs, password)) return std::nullopt;
  const Attribute* xa = find(*attrs, kXorMappedAddress);
  if (!xa || xa->value.size() < 8) return std::nullopt;
  const uint16_t port = get16(xa->value.data() + 2) ^ static_cast<uint16_t>(kMagicCookie >> 16);
  std::array<uint8_t, 16> mask{0x21, 0x12, 0xA4, 0x42};
  std::memcpy(mask.data() + 4, response.data() + 8, 12);
  if (xa->value[1] == 1 && xa->value.size() == 8) {
    boost::asio::ip::address_v4::bytes_type a{};
    for (size_t i = 0; i < 4; ++i) a[i] = xa->value[4 + i] ^ mask[i];
    return boost::asio::ip::udp::endpoint(boost::asio::ip::address_v4(a), port);
  }
  if (xa->value[1] == 2 && xa->value.size() == 20) {
    boost::asio::ip::address_v6::bytes_type a{};
    for (size_t i = 0; i < 16; ++i) a[i] = xa->value[4 + i] ^ mask[i];
    return boost::asio::ip::udp::endpoint(boost::asio::ip::address_v6(a), port);
  }
  return std::nullopt;
}

}  // namespace verbatim::media
