#include "sip/message.h"

#include <array>
#include <cstring>

#include "common/strings.h"
#include "sip/chars.h"

namespace verbatim::sip {

namespace {

struct HeaderName {
  std::string_view name;
  std::string_view compact;
  HeaderId id;
};

constexpr HeaderName kHeaderNames[] = {
    {"Accept", "", HeaderId::kAccept},
    {"Allow", "", HeaderId::kAllow},
    {"Authorization", "", HeaderId::kAuthorization},
    {"Call-ID", "i", HeaderId::kCallId},
    {"Call-Info", "", HeaderId::kCallInfo},
    {"Contact", "m", HeaderId::kContact},
    {"Content-Disposition", "", HeaderId::kContentDisposition},
    {"Content-Encoding", "e", HeaderId::kContentEncoding},
    {"Content-Length", "l", HeaderId::kContentLength},
    {"Content-Type", "c", HeaderId::kContentType},
    {"CSeq", "", HeaderId::kCSeq},
    {"Date", "", HeaderId::kDate},
    {"Event", "o", HeaderId::kEvent},
    {"Expires", "", HeaderId::kExpires},
    {"From", "f", HeaderId::kFrom},
    {"Max-Forwards", "", HeaderId::kMaxForwards},
    {"Min-SE", "", HeaderId::kMinSe},
    {"P-Asserted-Identity", "", HeaderId::kPAssertedIdentity},
    {"Proxy-Authenticate", "", HeaderId::kProxyAuthenticate},
    {"Proxy-Authorization", "", HeaderId::kProxyAuthorization},
    {"Proxy-Require", "", HeaderId::kProxyRequire},
    {"RAck", "", HeaderId::kRAck},
    {"Reason", "", HeaderId::kReason},
    {"Record-Route", "", HeaderId::kRecordRoute},
    {"Refer-To", "r", HeaderId::kReferTo},
    {"Referred-By", "b", HeaderId::kReferredBy},
    {"Require", "", HeaderId::kRequire},
    {"Route", "", HeaderId::kRoute},
    {"RSeq", "", HeaderId::kRSeq},
    {"Session-Expires", "x", HeaderId::kSessionExpires},
    {"Subject", "s", HeaderId::kSubject},
    {"Supported", "k", HeaderId::kSupported},
    {"To", "t", HeaderId::kTo},
    {"Unsupported", "", HeaderId::kUnsupported},
    {"Via", "v", HeaderId::kVia},
    {"Warning", "", HeaderId::kWarning},
    {"WWW-Authenticate", "", HeaderId::kWwwAuthenticate},
};

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

Error error_at(uint32_t line, int status, std::string reason) {
  return protocol_error(status, std::move(reason), line);
}

}  // namespace

namespace {

// ASCII case-insensitive comparison of equal-length names (inlined: it runs per header line).
bool same_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if ((a[i] | 0x20) != (b[i] | 0x20)) return false;
  }
  return true;
}

// Header names bucketed by lower-case first letter, so a lookup compares at most a few.
struct NameIndex {
  std::array<std::array<uint8_t, 8>, 26> full{};  // indexes into kHeaderNames, 0xff ends
  std::array<HeaderId, 26> compact{};
  NameIndex() {
    for (auto& b : full) b.fill(0xff);
    compact.fill(HeaderId::kOther);
    for (size_t i = 0; i < std::size(kHeaderNames); ++i) {
      const auto& h = kHeaderNames[i];
      auto& bucket = full[static_cast<size_t>(lower(h.name.front()) - 'a')];
      size_t k = 0;
      while (bucket[k] != 0xff) ++k;
      bucket[k] = static_cast<uint8_t>(i);
      if (!h.compact.empty()) compact[static_cast<size_t>(h.compact.front() - 'a')] = h.id;
    }
  }
};
const NameIndex kNameIndex;

}  // namespace

HeaderId header_id(std::string_view name) {
  if (name.empty()) return HeaderId::kOther;
  const char first = lower(name.front());
  if (first < 'a' || first > 'z') return HeaderId::kOther;
  const size_t letter = static_cast<size_t>(first - 'a');
  if (name.size() == 1) return kNameIndex.compact[letter];
  for (uint8_t i : kNameIndex.full[letter]) {
    if (i == 0xff) break;
    if (same_name(kHeaderNames[i].name, name)) return kHeaderNames[i].id;
  }
  return HeaderId::kOther;
}

std::string_view canonical_name(HeaderId id) {
  for (const auto& h : kHeaderNames) {
    if (h.id == id) return h.name;
  }
  return {};
}

// --- parsing ------------------------------------------------------------------------------

namespace {

// The next line of `s` from `pos`: its text without CR LF, and where the following line starts.
// Bare LF line ends are tolerated (captures and some stacks produce them).
struct Line {
  std::string_view text;
  size_t next = 0;
  bool complete = false;  // ended by LF
};

Line next_line(std::string_view s, size_t pos) {
  const void* nl = std::memchr(s.data() + pos, '\n', s.size() - pos);
  if (!nl) return {s.substr(pos), s.size(), false};
  const size_t end = static_cast<size_t>(static_cast<const char*>(nl) - s.data());
  size_t text_end = end;
  if (text_end > pos && s[text_end - 1] == '\r') --text_end;
  return {s.substr(pos, text_end - pos), end + 1, true};
}

Result<uint64_t> content_length_value(const Header& h) {
  auto n = parse_number(h.value, 1u << 30);
  if (!n) {
    const std::string_view v = trim_lws(h.value);
    return error_at(h.line, 400,
                    (!v.empty() && v.front() == '-' ? "negative Content-Length '"
                                                    : "invalid Content-Length '") +
                        std::string(v.substr(0, 40)) + "'");
  }
  return n.value();
}

}  // namespace

Result<Message> Message::parse(std::string_view bytes, const ParseOptions& options) {
  if (bytes.size() > options.max_size && options.datagram) {
    return error_at(0, 513,
                    "message of " + std::to_string(bytes.size()) +
                        " bytes is larger than the limit of " + std::to_string(options.max_size));
  }
  Message m;
  m.buffer_ = std::make_unique<std::string>(bytes);
  const std::string_view s = *m.buffer_;
  size_t pos = 0;
  while (pos + 1 < s.size() && s[pos] == '\r' && s[pos + 1] == '\n') pos += 2;  // keep-alives
  while (pos < s.size() && s[pos] == '\n') ++pos;
  const size_t start = pos;
  uint32_t line_no = 1;

  // Start line.
  Line first = next_line(s, pos);
  if (!first.complete) return error_at(1, 400, "incomplete message: no end of the start line");
  const std::string_view sl = first.text;
  pos = first.next;
  const bool response = sl.size() >= 4 && iequals(sl.substr(0, 4), "SIP/");
  m.is_request_ = !response;
  if (response) {
    const size_t sp = sl.find(' ');
    if (sp == std::string_view::npos) return error_at(1, 0, "malformed status line");
    m.version_ = sl.substr(0, sp);
    const std::string_view rest = sl.substr(sp + 1);
    if (rest.size() < 3 || !is(rest[0], kDigit) || !is(rest[1], kDigit) || !is(rest[2], kDigit) ||
        (rest.size() > 3 && rest[3] != ' ')) {
      return error_at(1, 0, "the status code must be three digits");
    }
    m.status_ = (rest[0] - '0') * 100 + (rest[1] - '0') * 10 + (rest[2] - '0');
    if (m.status_ < 100) return error_at(1, 0, "status code below 100");
    m.reason_ = rest.size() > 4 ? rest.substr(4) : std::string_view();
    for (char c : m.reason_) {
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) {
        return error_at(1, 0, "control character in the reason phrase");
      }
    }
  } else {
    const size_t sp1 = sl.find(' ');
    const size_t sp2 = sp1 == std::string_view::npos ? sp1 : sl.find(' ', sp1 + 1);
    if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) {
      return error_at(1, 400, "malformed request line (expected 'METHOD URI SIP/2.0')");
    }
    m.method_ = sl.substr(0, sp1);
    m.request_uri_ = sl.substr(sp1 + 1, sp2 - sp1 - 1);
    m.version_ = sl.substr(sp2 + 1);
    if (m.request_uri_.empty() || m.version_.find(' ') != std::string_view::npos ||
        m.version_.empty()) {
      return error_at(1, 400,
                      "malformed request line: elements must be separated by exactly one space"
                      " (whitespace inside the Request-URI or after the version?)");
    }
    if (!is_token(m.method_)) return error_at(1, 400, "the method is not a token");
    if (m.request_uri_.find('\t') != std::string_view::npos) {
      return error_at(1, 400, "whitespace inside the Request-URI");
    }
  }

  // Header fields.
  m.headers_.reserve(16);
  for (;;) {
    ++line_no;
    if (pos - start > options.max_header_bytes) {
      return error_at(
          line_no, response ? 0 : 400,
          "header section larger than " + std::to_string(options.max_header_bytes) + " bytes");
    }
    Line l = next_line(s, pos);
    if (!l.complete) return error_at(line_no, response ? 0 : 400, "incomplete header section");
    pos = l.next;
    if (l.text.empty()) break;
    if (is_ws(l.text.front())) {  // folded continuation of the previous field
      if (m.headers_.empty()) {
        return error_at(line_no, response ? 0 : 400, "continuation line before any header");
      }
      Header& h = m.headers_.back();
      const std::string_view cont = trim_lws(l.text);
      if (!cont.empty()) {
        const char* begin = h.value.empty() ? cont.data() : h.value.data();
        h.value = std::string_view(begin, static_cast<size_t>(cont.data() + cont.size() - begin));
      }
      continue;
    }
    // The name: token characters up to the colon (one pass: names are short, and this runs
    // for every header line).
    size_t colon = 0;
    bool token = true;
    while (colon < l.text.size() && l.text[colon] != ':') {
      token = token && is_token_char(l.text[colon]);
      ++colon;
    }
    if (colon == l.text.size()) {
      return error_at(line_no, response ? 0 : 400, "header line without ':'");
    }
    std::string_view name = l.text.substr(0, colon);
    token = token && colon > 0;
    if (!token) {  // perhaps only whitespace before the colon ("Subject :"), which is allowed
      while (!name.empty() && is_ws(name.back())) name.remove_suffix(1);
      token = is_token(name);
    }
    if (!token) {
      return error_at(line_no, response ? 0 : 400,
                      "invalid header name '" + std::string(name.substr(0, 60)) + "'");
    }
    if (m.headers_.size() >= options.max_headers) {
      return error_at(line_no, response ? 0 : 400,
                      "more than " + std::to_string(options.max_headers) + " header fields");
    }
    Header h;
    h.name = name;
    h.value = trim_lws(l.text.substr(colon + 1));
    if (h.value.empty()) h.value = std::string_view(l.text.data() + l.text.size(), 0);
    h.id = header_id(name);
    h.line = line_no;
    m.headers_.push_back(h);
  }

  // Body, framed by Content-Length.
  const Header* cl = nullptr;
  for (const Header& h : m.headers_) {
    if (h.id != HeaderId::kContentLength) continue;
    if (cl) {
      return error_at(h.line, response ? 0 : 400,
                      "more than one Content-Length: the body cannot be framed");
    }
    cl = &h;
  }
  const size_t available = s.size() - pos;
  size_t body_len = available;
  if (cl) {
    auto n = content_length_value(*cl);
    if (!n) {
      auto e = n.error();
      if (response) e.status = 0;
      return e;
    }
    if (n.value() > available) {
      return error_at(cl->line, response ? 0 : 400,
                      "Content-Length " + std::to_string(n.value()) + " but only " +
                          std::to_string(available) + " bytes of body");
    }
    body_len = static_cast<size_t>(n.value());
  } else if (!options.datagram) {
    body_len = 0;  // a stream without Content-Length: no body (RFC 3261 §18.3 requires it)
  }
  m.body_ = s.substr(pos, body_len);
  m.raw_ = s.substr(start, pos + body_len - start);
  if (m.raw_.size() > options.max_size) {
    return error_at(0, response ? 0 : 513,
                    "message larger than " + std::to_string(options.max_size) + " bytes");
  }
  return m;
}

Result<size_t> frame_length(std::string_view buffer, const ParseOptions& options) {
  size_t pos = 0;
  while (pos + 1 < buffer.size() && buffer[pos] == '\r' && buffer[pos + 1] == '\n') pos += 2;
  size_t end = buffer.find("\r\n\r\n", pos);
  size_t sep = 4;
  if (end == std::string_view::npos) {
    end = buffer.find("\n\n", pos);
    sep = 2;
  }
  if (end == std::string_view::npos) {
    if (buffer.size() - pos > options.max_header_bytes) {
      return error_at(
          0, 400,
          "header section larger than " + std::to_string(options.max_header_bytes) + " bytes");
    }
    return size_t{0};
  }
  if (end - pos > options.max_header_bytes) {
    return error_at(
        0, 400,
        "header section larger than " + std::to_string(options.max_header_bytes) + " bytes");
  }
  // Find Content-Length (or "l") among the header lines, at line starts only.
  uint64_t body = 0;
  bool seen = false;
  size_t i = pos;
  while (i < end) {
    size_t nl = buffer.find('\n', i);
    if (nl == std::string_view::npos || nl > end) nl = end;
    std::string_view line = buffer.substr(i, nl - i);
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos && !line.empty() && !is_ws(line.front())) {
      std::string_view name = line.substr(0, colon);
      while (!name.empty() && is_ws(name.back())) name.remove_suffix(1);
      if (header_id(name) == HeaderId::kContentLength) {
        if (seen)
          return error_at(0, 400, "more than one Content-Length: the stream cannot be framed");
        seen = true;
        auto n = parse_number(line.substr(colon + 1), options.max_size);
        if (!n) return error_at(0, 400, "invalid Content-Length: " + n.error().message);
        body = n.value();
      }
    }
    i = nl + 1;
  }
  const size_t total = end + sep + static_cast<size_t>(body);
  if (total > options.max_size + pos) {
    return error_at(0, 513, "message larger than " + std::to_string(options.max_size) + " bytes");
  }
  return buffer.size() >= total ? total : size_t{0};
}

// --- building and editing -----------------------------------------------------------------

std::string_view Message::keep(std::string_view s) {
  added_.emplace_back(s);
  return added_.back();
}

Header Message::make_header(std::string_view name, std::string_view value) {
  Header h;
  h.name = keep(name);
  h.value = keep(trim_lws(value));
  h.id = header_id(name);
  return h;
}

Message Message::request(std::string_view method, std::string_view request_uri) {
  Message m;
  m.is_request_ = true;
  m.method_ = m.keep(method);
  m.request_uri_ = m.keep(request_uri);
  m.version_ = "SIP/2.0";
  return m;
}

Message Message::response(int status, std::string_view reason) {
  Message m;
  m.is_request_ = false;
  m.status_ = status;
  m.reason_ = m.keep(reason);
  m.version_ = "SIP/2.0";
  return m;
}

Message Message::clone() const {
  ParseOptions o;
  o.max_size = SIZE_MAX / 2;
  o.max_headers = SIZE_MAX / 2;
  o.max_header_bytes = SIZE_MAX / 2;
  auto copy = parse(serialize(), o);
  return std::move(copy).value();
}

void Message::add_header(std::string_view name, std::string_view value) {
  headers_.push_back(make_header(name, value));
  raw_ = {};
}

void Message::prepend_header(std::string_view name, std::string_view value) {
  headers_.insert(headers_.begin(), make_header(name, value));
  raw_ = {};
}

size_t Message::remove_headers(HeaderId id) {
  const size_t before = headers_.size();
  std::erase_if(headers_, [id](const Header& h) { return h.id == id; });
  if (headers_.size() != before) raw_ = {};
  return before - headers_.size();
}

void Message::replace_header(const Header* field, std::string_view value) {
  for (Header& h : headers_) {
    if (&h == field) {
      h.value = keep(trim_lws(value));
      raw_ = {};
      return;
    }
  }
}

void Message::set_body(std::string_view content_type, std::string_view body) {
  remove_headers(HeaderId::kContentType);
  if (!content_type.empty()) add_header("Content-Type", content_type);
  body_ = keep(body);
  raw_ = {};
}

std::string Message::serialize() const {
  if (!raw_.empty()) return std::string(raw_);
  std::string out;
  size_t size = 64 + body_.size();
  for (const Header& h : headers_) size += h.name.size() + h.value.size() + 4;
  out.reserve(size);
  if (is_request_) {
    out.append(method_).append(" ").append(request_uri_).append(" ").append(version_);
  } else {
    out.append(version_).append(" ").append(std::to_string(status_)).append(" ").append(reason_);
  }
  out.append("\r\n");
  for (const Header& h : headers_) {
    if (h.id == HeaderId::kContentLength) continue;
    out.append(h.name).append(": ").append(h.value).append("\r\n");
  }
  out.append("Content-Length: ").append(std::to_string(body_.size())).append("\r\n\r\n");
  out.append(body_);
  return out;
}

// --- typed access ---------------------------------------------------------------------------

const Header* Message::find(HeaderId id) const {
  for (const Header& h : headers_) {
    if (h.id == id) return &h;
  }
  return nullptr;
}

const Header* Message::find(std::string_view name) const {
  const HeaderId id = header_id(name);
  if (id != HeaderId::kOther) return find(id);
  for (const Header& h : headers_) {
    if (iequals(h.name, name)) return &h;
  }
  return nullptr;
}

std::vector<const Header*> Message::all(HeaderId id) const {
  std::vector<const Header*> out;
  for (const Header& h : headers_) {
    if (h.id == id) out.push_back(&h);
  }
  return out;
}

size_t Message::count(HeaderId id) const {
  size_t n = 0;
  for (const Header& h : headers_) n += h.id == id;
  return n;
}

namespace {

Error missing(HeaderId id) {
  return error_at(0, 400, "missing " + std::string(canonical_name(id)) + " header");
}

template <typename T>
Result<T> at_line(Result<T> r, const Header& h) {
  if (!r) {
    Error e = r.error();
    e.line = h.line;
    if (e.message.find(':') == std::string::npos || e.message.find(' ') < e.message.find(':')) {
      e.message = std::string(canonical_name(h.id)) + ": " + e.message;
    }
    return e;
  }
  return r;
}

}  // namespace

Result<std::vector<Via>> Message::vias() const {
  std::vector<Via> out;
  for (const Header& h : headers_) {
    if (h.id != HeaderId::kVia) continue;
    auto v = parse_via_list(h.value);
    if (!v) {
      Error e = v.error();
      e.line = h.line;
      return e;
    }
    if (out.empty()) {
      out = std::move(v).value();
    } else {
      for (auto& x : v.value()) out.push_back(std::move(x));
    }
  }
  if (out.empty()) return missing(HeaderId::kVia);
  return out;
}

Result<NameAddr> Message::from() const {
  const Header* h = find(HeaderId::kFrom);
  if (!h) return missing(HeaderId::kFrom);
  return at_line(parse_name_addr(h->value), *h);
}

Result<NameAddr> Message::to() const {
  const Header* h = find(HeaderId::kTo);
  if (!h) return missing(HeaderId::kTo);
  return at_line(parse_name_addr(h->value), *h);
}

Result<CSeq> Message::cseq() const {
  const Header* h = find(HeaderId::kCSeq);
  if (!h) return missing(HeaderId::kCSeq);
  return at_line(parse_cseq(h->value), *h);
}

Result<std::string_view> Message::call_id() const {
  const Header* h = find(HeaderId::kCallId);
  if (!h) return missing(HeaderId::kCallId);
  return at_line(parse_call_id(h->value), *h);
}

Result<uint64_t> Message::max_forwards() const {
  const Header* h = find(HeaderId::kMaxForwards);
  if (!h) return missing(HeaderId::kMaxForwards);
  return at_line(parse_number(h->value, 255), *h);
}

Result<MediaType> Message::content_type() const {
  const Header* h = find(HeaderId::kContentType);
  if (!h) return missing(HeaderId::kContentType);
  return at_line(parse_media_type(h->value), *h);
}

namespace {
Result<std::vector<NameAddr>> address_lists(const Message& m, HeaderId id) {
  std::vector<NameAddr> out;
  for (const Header* h : m.all(id)) {
    if (id == HeaderId::kContact && is_star_contact(h->value)) continue;
    auto l = at_line(parse_name_addr_list(h->value), *h);
    if (!l) return l.error();
    for (auto& x : l.value()) out.push_back(std::move(x));
  }
  return out;
}
}  // namespace

Result<std::vector<NameAddr>> Message::contacts() const {
  return address_lists(*this, HeaderId::kContact);
}
Result<std::vector<NameAddr>> Message::routes() const {
  return address_lists(*this, HeaderId::kRoute);
}
Result<std::vector<NameAddr>> Message::record_routes() const {
  return address_lists(*this, HeaderId::kRecordRoute);
}

Result<std::vector<std::string_view>> Message::tokens(HeaderId id) const {
  std::vector<std::string_view> out;
  for (const Header* h : all(id)) {
    auto l = at_line(parse_token_list(h->value), *h);
    if (!l) return l.error();
    out.insert(out.end(), l.value().begin(), l.value().end());
  }
  return out;
}

// --- validation -----------------------------------------------------------------------------

std::vector<Error> problems(const Message& m) {
  std::vector<Error> out;
  const int bad = m.is_request() ? 400 : 0;  // responses with errors are discarded
  auto add = [&](Error e) {
    if (e.status != 0 && e.status != 505 && e.status != 513) e.status = bad;
    out.push_back(std::move(e));
  };
  if (m.version() != "SIP/2.0") {
    add(error_at(1, m.is_request() ? 505 : 0,
                 "version " + std::string(m.version()) + " is not supported (SIP/2.0 is)"));
  }
  if (m.is_request()) {
    auto uri = parse_uri(m.request_uri());
    if (!uri) {
      add(error_at(1, 400, "Request-URI: " + uri.error().message));
    } else if (!uri.value().headers.empty()) {
      add(error_at(1, 400, "the Request-URI must not carry URI headers ('?...')"));
    }
  }
  for (HeaderId id :
       {HeaderId::kTo, HeaderId::kFrom, HeaderId::kCSeq, HeaderId::kCallId, HeaderId::kVia}) {
    if (!m.find(id)) add(missing(id));
  }
  for (HeaderId id : {HeaderId::kTo, HeaderId::kFrom, HeaderId::kCSeq, HeaderId::kCallId,
                      HeaderId::kMaxForwards, HeaderId::kContentType}) {
    const auto fields = m.all(id);
    if (fields.size() > 1) {
      add(error_at(fields[1]->line, 400,
                   "more than one " + std::string(canonical_name(id)) + " header"));
    }
  }
  for (const Header& h : m.headers()) {
    Result<void> r = boost::outcome_v2::success();
    auto check = [&](auto result) {
      if (!result) r = result.error();
    };
    switch (h.id) {
      case HeaderId::kVia:
        check(parse_via_list(h.value));
        break;
      case HeaderId::kFrom:
      case HeaderId::kTo:
      case HeaderId::kReferTo:
      case HeaderId::kReferredBy:
        check(parse_name_addr(h.value));
        break;
      case HeaderId::kContact:
        if (!is_star_contact(h.value)) check(parse_name_addr_list(h.value));
        break;
      case HeaderId::kRoute:
      case HeaderId::kRecordRoute:
      case HeaderId::kPAssertedIdentity:
        check(parse_name_addr_list(h.value));
        break;
      case HeaderId::kCSeq:
        check(parse_cseq(h.value));
        break;
      case HeaderId::kCallId:
        check(parse_call_id(h.value));
        break;
      case HeaderId::kMaxForwards:
        check(parse_number(h.value, 255));
        break;
      case HeaderId::kExpires:
      case HeaderId::kMinSe:
      case HeaderId::kRSeq:
        check(parse_number(h.value, 0xffffffffu));
        break;
      case HeaderId::kContentType:
        check(parse_media_type(h.value));
        break;
      case HeaderId::kRequire:
      case HeaderId::kSupported:
      case HeaderId::kProxyRequire:
      case HeaderId::kUnsupported:
      case HeaderId::kAllow:
        check(parse_token_list(h.value));
        break;
      case HeaderId::kDate:
        check(parse_date(h.value));
        break;
      default:
        break;
    }
    if (!r) {
      Error e = r.error();
      e.line = h.line;
      if (e.message.rfind(std::string(canonical_name(h.id)), 0) != 0) {
        e.message = std::string(canonical_name(h.id)) + ": " + e.message;
      }
      add(std::move(e));
    }
  }
  if (m.is_request()) {
    if (auto c = m.cseq(); c && c.value().method != m.method()) {
      add(error_at(m.find(HeaderId::kCSeq)->line, 400,
                   "CSeq method " + std::string(c.value().method) +
                       " does not match the request method " + std::string(m.method())));
    }
  }
  return out;
}

Result<void> validate(const Message& m) {
  auto p = problems(m);
  if (p.empty()) return boost::outcome_v2::success();
  return p.front();
}

Message make_response(const Message& request, int status, std::string_view reason,
                      std::string_view to_tag) {
  Message r = Message::response(status, reason);
  for (const Header* v : request.all(HeaderId::kVia)) r.add_header("Via", v->value);
  if (const Header* f = request.find(HeaderId::kFrom)) r.add_header("From", f->value);
  if (const Header* t = request.find(HeaderId::kTo)) {
    std::string to(t->value);
    auto parsed = parse_name_addr(t->value);
    if (status > 100 && !to_tag.empty() && parsed && !parsed.value().tag())
      to += ";tag=" + std::string(to_tag);
    r.add_header("To", to);
  }
  if (const Header* c = request.find(HeaderId::kCallId)) r.add_header("Call-ID", c->value);
  if (const Header* c = request.find(HeaderId::kCSeq)) r.add_header("CSeq", c->value);
  return r;
}

}  // namespace verbatim::sip
