// SIP messages (RFC 3261 §7, §25): parsing, typed access, validation and serialisation.
//
// Message::parse() takes one message from a datagram or from a stream buffer (framing by
// Content-Length, frame_length()), keeps its own copy of the bytes, and indexes the start
// line and every header field as views into it: nothing else is copied, and unknown headers
// are kept byte for byte (name as written, value with its folding). serialize() writes the
// message back; an unmodified message serialises to exactly the bytes it was parsed from
// (apart from bytes after its body, which a datagram may carry and which are ignored).
//
// validate() applies the grammar of the header fields the stack acts on and the rules of
// RFC 3261 §8.2 / §16.3 / RFC 4475 (mandatory headers, single-value headers, CSeq method,
// scalar ranges), returning the first problem with its line and the status a UAS answers
// (400, 505, 416 ...), or 0 for a response that must be discarded. problems() lists them all
// (for `verbatim sip lint`).
//
// Hand-written: no maintained C++ SIP stack is packaged for Debian 12 (see docs/sip.md);
// sofia-sip (C) is the peer the benchmark compares against.
// Threads and ownership: a Message owns its text; header views point into it, so a Message is
// moved, not copied piecemeal. Any thread, one message per thread.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sip/header_values.h"

namespace verbatim::sip {

enum class HeaderId : uint8_t {
  kOther,
  kAccept,
  kAllow,
  kAuthorization,
  kCallId,
  kCallInfo,
  kContact,
  kContentDisposition,
  kContentEncoding,
  kContentLength,
  kContentType,
  kCSeq,
  kDate,
  kEvent,
  kExpires,
  kFrom,
  kMaxForwards,
  kMinSe,
  kPAssertedIdentity,
  kProxyAuthenticate,
  kProxyAuthorization,
  kProxyRequire,
  kRAck,
  kReason,
  kRecordRoute,
  kReferTo,
  kReferredBy,
  kRequire,
  kRoute,
  kRSeq,
  kSessionExpires,
  kSubject,
  kSupported,
  kTo,
  kUnsupported,
  kVia,
  kWarning,
  kWwwAuthenticate,
  kCount
};

// Case-insensitive, compact forms included ("v" = Via, "l" = Content-Length, ...).
HeaderId header_id(std::string_view name);
std::string_view canonical_name(HeaderId id);

struct Header {
  std::string_view name;   // as written
  std::string_view value;  // as written, without surrounding whitespace; may contain folds
  HeaderId id = HeaderId::kOther;
  uint32_t line = 0;  // 1-based line where the field starts (0 for added fields)
};

struct ParseOptions {
  bool datagram = true;             // UDP: the datagram is the message; otherwise a stream frame
  size_t max_size = 65535;          // bytes of one message, headers and body
  size_t max_headers = 200;         // header fields
  size_t max_header_bytes = 16384;  // of the header section (start line included)
};

class Message {
 public:
  static Result<Message> parse(std::string_view bytes, const ParseOptions& options = {});

  // New messages (built by the stack rather than parsed).
  static Message request(std::string_view method, std::string_view request_uri);
  static Message response(int status, std::string_view reason);

  Message(Message&&) noexcept = default;
  Message& operator=(Message&&) noexcept = default;
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;
  Message clone() const;

  bool is_request() const { return is_request_; }
  std::string_view method() const { return method_; }
  std::string_view request_uri() const { return request_uri_; }
  std::string_view version() const { return version_; }
  int status() const { return status_; }
  std::string_view reason() const { return reason_; }
  const std::vector<Header>& headers() const { return headers_; }
  std::string_view body() const { return body_; }

  // The first field with this id / name, if any; all of them (in order).
  const Header* find(HeaderId id) const;
  const Header* find(std::string_view name) const;
  std::vector<const Header*> all(HeaderId id) const;
  size_t count(HeaderId id) const;

  // Typed access to the fields the stack uses (parsed on demand from the stored views).
  Result<std::vector<Via>> vias() const;  // every Via field, in order
  Result<NameAddr> from() const;
  Result<NameAddr> to() const;
  Result<CSeq> cseq() const;
  Result<std::string_view> call_id() const;
  Result<std::vector<NameAddr>> contacts() const;
  Result<std::vector<NameAddr>> routes() const;         // every Route field, in order
  Result<std::vector<NameAddr>> record_routes() const;  // every Record-Route field
  Result<uint64_t> max_forwards() const;
  Result<MediaType> content_type() const;
  Result<std::vector<std::string_view>> tokens(HeaderId id) const;  // Require, Supported...

  // Editing (the stack builds requests and responses with these).
  void add_header(std::string_view name, std::string_view value);
  void prepend_header(std::string_view name, std::string_view value);  // e.g. a new top Via
  size_t remove_headers(HeaderId id);
  // Replaces the value of one field (a pointer from find()/all()); keeps its position.
  void replace_header(const Header* field, std::string_view value);
  void set_body(std::string_view content_type, std::string_view body);

  // Start line, headers (Content-Length last, computed from the body), empty line, body.
  std::string serialize() const;

 private:
  Message() = default;
  std::string_view keep(std::string_view s);  // copies into the message's own storage
  Header make_header(std::string_view name, std::string_view value);

  std::unique_ptr<std::string> buffer_;  // the parsed bytes (stable across moves)
  std::deque<std::string> added_;        // storage for edited or added text
  bool is_request_ = true;
  std::string_view method_, request_uri_, version_, reason_, body_;
  int status_ = 0;
  std::vector<Header> headers_;
  std::string_view raw_;  // the original message bytes (empty once edited)
  friend Result<Message> parse_message(std::string_view, const ParseOptions&);
};

// Stream framing: the size of the first complete message in `buffer` (leading CRLFs of
// keep-alives included), 0 if more bytes are needed, or an error when the header section is
// larger than max_header_bytes, Content-Length is missing, malformed or too large.
Result<size_t> frame_length(std::string_view buffer, const ParseOptions& options);

// The grammar and rules above the framing; see the comment at the top.
Result<void> validate(const Message& m);
std::vector<Error> problems(const Message& m);

// A response to `request` (RFC 3261 §8.2.6): its Via fields, From, To (with `to_tag` added
// when it has none and the status is above 100), Call-ID and CSeq.
Message make_response(const Message& request, int status, std::string_view reason,
                      std::string_view to_tag = "");

}  // namespace verbatim::sip
