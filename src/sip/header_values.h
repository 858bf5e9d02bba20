// Typed views of the header fields the SIP layers act on (RFC 3261 §20, §25): name-addr /
// addr-spec lists (From, To, Contact, Route, Record-Route, ...), Via, CSeq, numbers, token
// lists, media types. Every parser takes the field value as received — folded lines count as
// whitespace — and returns views into it, or a Error naming what is wrong.
// Threads and ownership: pure functions; parsed values may view into the message they came from.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/outcome/result.hpp>

#include "sip/uri.h"

namespace verbatim::sip {

// A SIP protocol error: kInvalidArgument with the status a UAS answers with (0: discard, as for
// a malformed response), why, and the line of the message it is about (0: none).
Error protocol_error(int status, std::string reason, uint32_t line = 0);

struct NameAddr {
  std::string_view display_name;  // as written (with quotes if quoted), may be empty
  Uri uri;
  bool angle_brackets = false;
  std::vector<Param> params;  // header parameters (tag, expires, q, lr is a URI param)
  std::optional<std::string_view> param(std::string_view name) const;
  std::optional<std::string_view> tag() const { return param("tag"); }
};

// One name-addr or addr-spec with parameters (From, To, Reply-To, Refer-To, P-Asserted-...),
// or a comma-separated list of them (Contact, Route, Record-Route). Contact may also be "*".
Result<NameAddr> parse_name_addr(std::string_view value);
Result<std::vector<NameAddr>> parse_name_addr_list(std::string_view value);
bool is_star_contact(std::string_view value);

struct Via {
  std::string_view protocol;   // "SIP"
  std::string_view version;    // "2.0"
  std::string_view transport;  // "UDP", "TCP", "TLS", "SCTP", "WS", or an extension token
  std::string_view host;
  HostKind host_kind = HostKind::kNone;
  std::optional<uint16_t> port;
  std::vector<Param> params;
  std::optional<std::string_view> param(std::string_view name) const;
  std::optional<std::string_view> branch() const { return param("branch"); }
};
Result<std::vector<Via>> parse_via_list(std::string_view value);

struct CSeq {
  uint32_t number = 0;  // < 2^31 (RFC 3261 §8.1.1.5)
  std::string_view method;
};
Result<CSeq> parse_cseq(std::string_view value);

// 1*DIGIT no larger than `max` (Content-Length, Max-Forwards 0-255, Expires ...).
Result<uint64_t> parse_number(std::string_view value, uint64_t max);

// token *(COMMA token): Require, Supported, Proxy-Require, Unsupported, Allow.
Result<std::vector<std::string_view>> parse_token_list(std::string_view value);

struct MediaType {
  std::string_view type;
  std::string_view subtype;
  std::vector<Param> params;  // values keep their quotes
  std::optional<std::string_view> param(std::string_view name) const;
};
Result<MediaType> parse_media_type(std::string_view value);

// word ["@" word]
Result<std::string_view> parse_call_id(std::string_view value);

// rfc1123-date ending in "GMT" (RFC 3261 §20.17).
Result<std::string_view> parse_date(std::string_view value);

// Removes the quotes and backslash escapes of a quoted-string (or returns a token as is).
std::string unquote(std::string_view s);

}  // namespace verbatim::sip
