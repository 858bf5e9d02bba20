// Common Presence and Instant Messaging message format (RFC 3862, message/cpim): a chat message
// with who sent it, to whom, when, and its own content. The gateway wraps each chat message of a
// meeting in it, so the members it relays the message to and the recorders that keep it learn
// the sender (an in-dialog MESSAGE's From is the meeting's URI, not the sender). Hand-written: a
// few header lines and a body; no Debian package parses CPIM outside a whole messaging stack.
// Pure functions: callable from any thread.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace verbatim::sip {

struct CpimMessage {
  std::string from;          // "Alice <sip:alice@contoso.com>" (as written)
  std::string to;            // "<sip:meet-123@contoso.com>"
  std::string date_time;     // RFC 3339
  std::string content_type;  // of the content: "text/plain;charset=utf-8"
  std::string body;          // the content itself
};

// message/cpim: the message headers (From, To, DateTime), a blank line, the content headers
// (Content-Type), a blank line, the content. CR and LF are dropped from the header values.
std::string build_cpim(const CpimMessage& m);

// Parses message/cpim (lines ended by CRLF or LF). kInvalidArgument when it is not CPIM: no blank
// line after the message headers, or a header line without a colon.
Result<CpimMessage> parse_cpim(std::string_view text);

// The address inside a CPIM (or SIP) name-addr: "sip:alice@contoso.com" of
// "Alice <sip:alice@contoso.com>"; the whole trimmed value when there are no angle brackets.
std::string cpim_address(std::string_view value);

}  // namespace verbatim::sip
