// SIP, SIPS and tel URIs (RFC 3261 §19.1 and §25.1, RFC 3966), and other absolute URIs kept
// as they are. A parsed Uri holds views into the text it was parsed from (zero-copy: the
// caller keeps that text alive); to_string() writes it back.
//
// Hand-written: no packaged C++ library parses the SIP URI grammar (userinfo with escaped
// and user-unreserved characters, IPv6 references, parameters without values, URI headers),
// and the parser sits on the per-message hot path.
// Threads and ownership: a Uri views into the text it was parsed from, which must outlive it;
// pure functions; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace verbatim::sip {

struct Param {
  std::string_view name;
  std::optional<std::string_view> value;  // nullopt: a parameter without "=" (";lr")
};

enum class HostKind { kNone, kHostname, kIpv4, kIpv6 };

struct Uri {
  enum class Scheme { kSip, kSips, kTel, kOther };
  Scheme scheme = Scheme::kSip;
  std::string_view scheme_text;  // as written ("sip", "SIP", "tel", "isbn", ...)
  std::string_view user;         // escaped as written; for tel: the number
  std::optional<std::string_view> password;
  std::string_view host;  // IPv6 with its brackets
  HostKind host_kind = HostKind::kNone;
  std::optional<uint16_t> port;
  std::vector<Param> params;
  std::vector<Param> headers;  // "?name=value&..." (never acted on in a Request-URI)
  std::string_view opaque;     // kOther: everything after "scheme:"
  std::string_view text;       // the whole URI as parsed

  bool is_sip() const { return scheme == Scheme::kSip || scheme == Scheme::kSips; }
  std::optional<std::string_view> param(std::string_view name) const;  // case-insensitive
  bool has_param(std::string_view name) const;
  // The user part with %XX escapes decoded (may hold NUL bytes; never truncated).
  std::string user_unescaped() const;
  std::string to_string() const;
};

// Parses a whole URI (no surrounding whitespace or angle brackets). Errors say what is wrong
// and where ("bad character ' ' at 17").
Result<Uri> parse_uri(std::string_view text);

// Validates a host (hostname, IPv4 address or bracketed IPv6 reference) and says which.
HostKind classify_host(std::string_view host);

// %XX-decodes; malformed escapes are kept as they are.
std::string unescape(std::string_view s);

}  // namespace verbatim::sip
