#include "sip/header_values.h"

#include <charconv>

#include "common/strings.h"
#include "sip/chars.h"

namespace verbatim::sip {

Error protocol_error(int status, std::string reason, uint32_t line) {
  Error e{ErrorCode::kInvalidArgument, std::move(reason)};
  e.status = status;
  e.line = line;
  return e;
}

namespace {

Error err(std::string reason) { return protocol_error(400, std::move(reason)); }

bool is_lws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// A cursor over one header field value.
struct Scanner {
  std::string_view s;
  size_t i = 0;

  bool done() const { return i >= s.size(); }
  char peek() const { return i < s.size() ? s[i] : '\0'; }
  bool skip_lws() {
    const size_t start = i;
    while (i < s.size() && is_lws(s[i])) ++i;
    return i > start;
  }
  // SWS c SWS
  bool eat_sep(char c) {
    const size_t save = i;
    skip_lws();
    if (peek() == c) {
      ++i;
      skip_lws();
      return true;
    }
    i = save;
    return false;
  }
  std::string_view token() {
    const size_t start = i;
    while (i < s.size() && is_token_char(s[i])) ++i;
    return s.substr(start, i - start);
  }
  // A quoted-string starting at '"'; returns it with its quotes.
  Result<std::string_view> quoted() {
    const size_t start = i;
    ++i;
    while (i < s.size()) {
      if (s[i] == '\\') {
        if (i + 1 >= s.size()) break;
        i += 2;
        continue;
      }
      if (s[i] == '"') {
        ++i;
        return s.substr(start, i - start);
      }
      ++i;
    }
    return err("unterminated quoted string");
  }
};

// generic-param = token [ EQUAL gen-value ]; gen-value = token / host / quoted-string.
// Hosts include IPv6 with or without brackets (RFC 5118 §4.5), so ':' '[' ']' are allowed.
Result<Param> generic_param(Scanner& sc) {
  const std::string_view name = sc.token();
  if (name.empty()) {
    return err(sc.done() || sc.peek() == ';' || sc.peek() == ','
                   ? "empty parameter"
                   : std::string("bad character '") + sc.peek() + "' in a parameter name");
  }
  if (!sc.eat_sep('=')) return Param{name, std::nullopt};
  if (sc.peek() == '"') {
    auto q = sc.quoted();
    if (!q) return q.error();
    return Param{name, q.value()};
  }
  const size_t start = sc.i;
  while (sc.i < sc.s.size() && (is_token_char(sc.s[sc.i]) || sc.s[sc.i] == ':' ||
                                sc.s[sc.i] == '[' || sc.s[sc.i] == ']')) {
    ++sc.i;
  }
  if (sc.i == start) return err("parameter '" + std::string(name) + "' has an empty value");
  return Param{name, sc.s.substr(start, sc.i - start)};
}

// *( SEMI generic-param ), stopping before ',' or the end.
Result<std::vector<Param>> params(Scanner& sc) {
  std::vector<Param> out;
  if (sc.i < sc.s.size() && sc.s.find(';', sc.i) != std::string_view::npos) out.reserve(4);
  while (sc.eat_sep(';')) {
    auto p = generic_param(sc);
    if (!p) return p.error();
    out.push_back(p.value());
  }
  return out;
}

std::optional<std::string_view> find_param(const std::vector<Param>& ps, std::string_view name) {
  for (const auto& p : ps) {
    if (iequals(p.name, name)) return p.value.value_or(std::string_view());
  }
  return std::nullopt;
}

Result<NameAddr> name_addr(Scanner& sc, bool in_list) {
  NameAddr na;
  sc.skip_lws();
  const size_t start = sc.i;
  if (sc.peek() == '"') {
    auto q = sc.quoted();
    if (!q) return q.error();
    na.display_name = q.value();
    sc.skip_lws();
    if (sc.peek() != '<') return err("a quoted display name must be followed by <URI>");
  } else {
    // Unquoted display name: tokens separated by LWS, then '<'. Without a '<' this is an
    // addr-spec.
    size_t j = sc.i;
    while (j < sc.s.size() && sc.s[j] != '<' && sc.s[j] != ';' && !(in_list && sc.s[j] == ',')) {
      ++j;
    }
    if (j < sc.s.size() && sc.s[j] == '<') {
      const std::string_view dn = trim_lws(sc.s.substr(start, j - start));
      for (char c : dn) {
        if (!is_token_char(c) && !is_lws(c)) {
          return err(std::string("character '") + c +
                     "' in an unquoted display name (quote it: \"...\")");
        }
      }
      na.display_name = dn;
      sc.i = j;
    }
  }
  if (sc.peek() == '<') {
    ++sc.i;
    const size_t close = sc.s.find('>', sc.i);
    if (close == std::string_view::npos) return err("'<' without '>'");
    const std::string_view inner = sc.s.substr(sc.i, close - sc.i);
    for (char c : inner) {
      if (is_lws(c)) return err("whitespace inside <URI>");
    }
    auto u = parse_uri(inner);
    if (!u) return err(u.error().message);
    na.uri = u.value();
    na.angle_brackets = true;
    sc.i = close + 1;
  } else {
    // addr-spec: the URI ends at ';', ',' (lists) or whitespace; it cannot carry ';' '?' ','
    // of its own (RFC 3261 §20: then it must be in angle brackets).
    const size_t from = sc.i;
    while (sc.i < sc.s.size() && !is_lws(sc.s[sc.i]) && sc.s[sc.i] != ';' &&
           !(in_list && sc.s[sc.i] == ',')) {
      ++sc.i;
    }
    const std::string_view text = sc.s.substr(from, sc.i - from);
    if (text.empty()) return err("no URI");
    if (text.find('?') != std::string_view::npos) {
      return err("a URI with headers ('?') must be enclosed in <>");
    }
    auto u = parse_uri(text);
    if (!u) return err(u.error().message);
    na.uri = u.value();
  }
  auto ps = params(sc);
  if (!ps) return ps.error();
  na.params = std::move(ps).value();
  return na;
}

}  // namespace

std::optional<std::string_view> NameAddr::param(std::string_view name) const {
  return find_param(params, name);
}
std::optional<std::string_view> Via::param(std::string_view name) const {
  return find_param(params, name);
}
std::optional<std::string_view> MediaType::param(std::string_view name) const {
  return find_param(params, name);
}

Result<NameAddr> parse_name_addr(std::string_view value) {
  Scanner sc{value};
  auto na = name_addr(sc, false);
  if (!na) return na.error();
  sc.skip_lws();
  if (!sc.done()) {
    return err(sc.peek() == ',' ? "more than one value in a single-value header"
                                : std::string("unexpected '") + sc.peek() + "' after the address");
  }
  return na;
}

bool is_star_contact(std::string_view value) { return trim_lws(value) == "*"; }

Result<std::vector<NameAddr>> parse_name_addr_list(std::string_view value) {
  Scanner sc{value};
  std::vector<NameAddr> out;
  do {
    auto na = name_addr(sc, true);
    if (!na) return na.error();
    out.push_back(std::move(na).value());
    sc.skip_lws();
  } while (sc.eat_sep(','));
  if (!sc.done()) return err(std::string("unexpected '") + sc.peek() + "' in the address list");
  return out;
}

Result<std::vector<Via>> parse_via_list(std::string_view value) {
  Scanner sc{value};
  std::vector<Via> out;
  out.reserve(2);
  do {
    Via v;
    sc.skip_lws();
    v.protocol = sc.token();
    if (v.protocol.empty() || !sc.eat_sep('/')) return err("Via: expected SIP/2.0/transport");
    v.version = sc.token();
    if (v.version.empty() || !sc.eat_sep('/')) return err("Via: expected SIP/2.0/transport");
    v.transport = sc.token();
    if (v.transport.empty()) return err("Via: missing transport");
    if (!sc.skip_lws()) return err("Via: expected whitespace before the sent-by host");
    const size_t start = sc.i;
    if (sc.peek() == '[') {
      const size_t close = sc.s.find(']', sc.i);
      if (close == std::string_view::npos) return err("Via: unterminated IPv6 reference");
      sc.i = close + 1;
    } else {
      while (sc.i < sc.s.size() &&
             (is(sc.s[sc.i], kAlnum) || sc.s[sc.i] == '-' || sc.s[sc.i] == '.')) {
        ++sc.i;
      }
    }
    v.host = sc.s.substr(start, sc.i - start);
    v.host_kind = classify_host(v.host);
    if (v.host_kind == HostKind::kNone) {
      return err("Via: '" + std::string(v.host) + "' is not a valid host");
    }
    if (sc.eat_sep(':')) {
      const size_t ps = sc.i;
      while (sc.i < sc.s.size() && is(sc.s[sc.i], kDigit)) ++sc.i;
      unsigned port = 0;
      auto [p, ec] = std::from_chars(sc.s.data() + ps, sc.s.data() + sc.i, port);
      if (sc.i == ps || ec != std::errc() || port > 65535) return err("Via: invalid port");
      v.port = static_cast<uint16_t>(port);
    }
    auto ps = params(sc);
    if (!ps) return protocol_error(400, "Via: " + ps.error().message);
    v.params = std::move(ps).value();
    for (const auto& p : v.params) {
      if (iequals(p.name, "branch") && (!p.value || p.value->empty())) {
        return err("Via: empty branch parameter");
      }
    }
    out.push_back(std::move(v));
    sc.skip_lws();
  } while (sc.eat_sep(','));
  if (!sc.done()) {
    return err(std::string("Via: unexpected '") + sc.peek() + "'" +
               (sc.peek() == ',' ? " (an empty Via entry)" : ""));
  }
  return out;
}

Result<uint64_t> parse_number(std::string_view value, uint64_t max) {
  const std::string_view v = trim_lws(value);
  if (v.empty()) return err("empty number");
  uint64_t n = 0;
  for (char c : v) {
    if (!is(c, kDigit)) return err("'" + std::string(v.substr(0, 40)) + "' is not a number");
    if (n > (max - static_cast<uint64_t>(c - '0')) / 10) {
      return err("number " + std::string(v.substr(0, 40)) + " is larger than " +
                 std::to_string(max));
    }
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

Result<CSeq> parse_cseq(std::string_view value) {
  Scanner sc{value};
  sc.skip_lws();
  const size_t start = sc.i;
  while (sc.i < sc.s.size() && is(sc.s[sc.i], kDigit)) ++sc.i;
  auto n = parse_number(sc.s.substr(start, sc.i - start), (uint64_t{1} << 31) - 1);
  if (!n) return err("CSeq: " + n.error().message);
  if (!sc.skip_lws()) return err("CSeq: expected 'number method'");
  CSeq c;
  c.number = static_cast<uint32_t>(n.value());
  c.method = sc.token();
  if (c.method.empty()) return err("CSeq: missing method");
  sc.skip_lws();
  if (!sc.done()) return err("CSeq: unexpected text after the method");
  return c;
}

Result<std::vector<std::string_view>> parse_token_list(std::string_view value) {
  Scanner sc{value};
  std::vector<std::string_view> out;
  sc.skip_lws();
  if (sc.done()) return out;
  do {
    const auto t = sc.token();
    if (t.empty()) return err("expected an option tag or token");
    out.push_back(t);
    sc.skip_lws();
  } while (sc.eat_sep(','));
  if (!sc.done()) return err(std::string("unexpected '") + sc.peek() + "' in a token list");
  return out;
}

Result<MediaType> parse_media_type(std::string_view value) {
  Scanner sc{value};
  sc.skip_lws();
  MediaType m;
  m.type = sc.token();
  if (m.type.empty() || !sc.eat_sep('/')) return err("Content-Type: expected type/subtype");
  m.subtype = sc.token();
  if (m.subtype.empty()) return err("Content-Type: missing subtype");
  auto ps = params(sc);
  if (!ps) return protocol_error(400, "Content-Type: " + ps.error().message);
  m.params = std::move(ps).value();
  sc.skip_lws();
  if (!sc.done()) return err("Content-Type: unexpected text");
  return m;
}

Result<std::string_view> parse_call_id(std::string_view value) {
  const std::string_view v = trim_lws(value);
  if (v.empty()) return err("empty Call-ID");
  for (char c : v) {
    if (!is(c, kAlnum | kWordExtra) && c != '@') {
      return err("Call-ID: character " + std::string(1, c) + " is not allowed");
    }
  }
  if (v.find('@') != v.rfind('@')) return err("Call-ID: more than one '@'");
  return v;
}

Result<std::string_view> parse_date(std::string_view value) {
  const std::string_view v = trim_lws(value);
  // "Sat, 13 Nov 2010 23:29:00 GMT": wkday "," SP date1 SP time SP "GMT"
  if (v.size() != 29 || v[3] != ',' || v.substr(26) != "GMT") {
    return err("Date must be an RFC 1123 date in GMT, such as 'Sat, 13 Nov 2010 23:29:00 GMT'");
  }
  return v;
}

std::string unquote(std::string_view s) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') return std::string(s);
  std::string out;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    if (s[i] == '\\' && i + 2 < s.size()) ++i;
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace verbatim::sip
