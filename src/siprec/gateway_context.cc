#include "siprec/gateway_context.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "common/strings.h"

namespace verbatim::siprec {

namespace {

constexpr int64_t kMaxAgeSeconds = 300;

// Group names may hold commas: each list item is percent-encoded (',', '%', controls).
std::string encode_item(std::string_view s) {
  std::string out;
  for (char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == ',' || ch == '%' || u < 0x20 || u == 0x7f) {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", u);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out;
}

std::string decode_item(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      auto hex = from_hex(s.substr(i + 1, 2));
      if (hex && hex->size() == 1) {
        out += static_cast<char>((*hex)[0]);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

// The signed text: a version line, the Call-ID, the time, then each context header as sent.
std::string signed_text(std::string_view sip_call_id, int64_t t,
                        const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string text = "verbatim-gateway-context/1\n";
  text.append(sip_call_id).append("\n").append(std::to_string(t)).append("\n");
  for (const auto& [name, value] : headers)
    text.append(name).append(":").append(value).append("\n");
  return text;
}

std::string mac_hex(const GatewayKey& key, const std::string& text) {
  // libsodium's HMAC-SHA-256 (a 32-byte key): OpenSSL 3's one-shot HMAC() looks the digest
  // up again on every call, two INVITEs per recorded call.
  static_assert(crypto_auth_hmacsha256_KEYBYTES == std::tuple_size_v<GatewayKey>);
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256(mac, reinterpret_cast<const unsigned char*>(text.data()), text.size(),
                         key.data());
  return to_hex(std::span<const uint8_t>(mac, sizeof mac));
}

std::vector<std::pair<std::string, std::string>> fields(const GatewayContext& c) {
  std::vector<std::string> groups;
  for (const auto& g : c.groups) groups.push_back(encode_item(g));
  std::vector<std::pair<std::string, std::string>> out = {{kApplicationIdHeader, c.application_id},
                                                          {kPolicyHeader, c.policy},
                                                          {kCallIdHeader, c.call_id}};
  if (!groups.empty()) out.emplace_back(kGroupsHeader, join(groups, ","));
  return out;
}

std::string header_value(const sip::Message& m, std::string_view name) {
  const sip::Header* h = m.find(name);
  return h ? std::string(trim(h->value)) : std::string();
}

}  // namespace

sip::HeaderList context_headers(const GatewayContext& context, std::string_view sip_call_id,
                                const GatewayKey& key, std::chrono::system_clock::time_point now) {
  const auto f = fields(context);
  const int64_t t =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  sip::HeaderList out(f.begin(), f.end());
  out.emplace_back(kSignatureHeader, "t=" + std::to_string(t) +
                                         ";mac=" + mac_hex(key, signed_text(sip_call_id, t, f)));
  return out;
}

ContextReading read_context(const sip::Message& request, const std::optional<GatewayKey>& key,
                            std::chrono::system_clock::time_point now) {
  ContextReading r;
  GatewayContext c;
  c.application_id = header_value(request, kApplicationIdHeader);
  c.policy = header_value(request, kPolicyHeader);
  c.call_id = header_value(request, kCallIdHeader);
  const std::string groups = header_value(request, kGroupsHeader);
  if (!groups.empty()) {
    for (const auto& g : split(groups, ',')) c.groups.push_back(decode_item(trim(g)));
  }
  const std::string signature = header_value(request, kSignatureHeader);
  if (c.application_id.empty() && c.policy.empty() && c.call_id.empty() && groups.empty()) {
    return r;  // nothing claimed
  }
  if (!key) {
    r.ignored = "X-Verbatim headers present, but this recorder has no gateway key to check them";
    return r;
  }
  if (signature.empty()) {
    r.ignored =
        "X-Verbatim headers without X-Verbatim-Signature (not from an authenticated gateway)";
    return r;
  }
  int64_t t = -1;
  std::string mac;
  for (const auto& part : split(signature, ';')) {
    const auto p = trim(part);
    if (p.rfind("t=", 0) == 0) {
      try {
        t = std::stoll(std::string(p.substr(2)));
      } catch (const std::exception&) {
        t = -1;
      }
    }
    if (p.rfind("mac=", 0) == 0) mac = std::string(p.substr(4));
  }
  const int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  auto call_id = request.call_id();
  const std::string expect =
      mac_hex(*key, signed_text(call_id ? call_id.value() : "", t, fields(c)));
  if (t < 0 || mac.size() != expect.size() ||
      CRYPTO_memcmp(mac.data(), expect.data(), mac.size()) != 0) {
    r.ignored = "X-Verbatim-Signature does not verify (wrong key, or the headers were altered)";
    return r;
  }
  if (now_s - t > kMaxAgeSeconds || t - now_s > kMaxAgeSeconds) {
    r.ignored = "X-Verbatim-Signature is " + std::to_string(now_s - t) +
                " s old (more than 300 s: replayed, or the clocks disagree)";
    return r;
  }
  r.context = std::move(c);
  return r;
}

Result<GatewayKey> load_gateway_key(const std::string& path, bool create) {
  GatewayKey key{};
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (!create) return make_error(ErrorCode::kNotFound, "no gateway key at " + path);
    if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) {
      return make_error(ErrorCode::kIo, "no randomness for the gateway key");
    }
    // Written whole under a temporary name, then linked into place: a role starting at the same
    // moment either wins the link or reads the complete file the other one linked.
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return make_error(ErrorCode::kIo, "cannot create " + tmp);
    const std::string text = to_hex(key) + "\n";
    const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                    ::fsync(fd) == 0;
    ::close(fd);
    const int linked = ok ? ::link(tmp.c_str(), path.c_str()) : -1;
    const int err = errno;
    ::unlink(tmp.c_str());
    if (!ok) return make_error(ErrorCode::kIo, "cannot write " + tmp);
    if (linked != 0) {
      if (err == EEXIST) return load_gateway_key(path, false);  // another role made it first
      return make_error(ErrorCode::kIo, "cannot create " + path);
    }
    return key;
  }
  if (st.st_mode & 077) {
    return make_error(ErrorCode::kInvalidArgument,
                      path + " may be read by group or others: chmod 600 it");
  }
  std::ifstream in(path);
  std::string text;
  in >> text;
  auto bytes = from_hex(text);
  if (!bytes || bytes->size() != key.size()) {
    return make_error(ErrorCode::kInvalidArgument, path + " must hold 64 hexadecimal digits");
  }
  std::copy(bytes->begin(), bytes->end(), key.begin());
  return key;
}

}  // namespace verbatim::siprec
