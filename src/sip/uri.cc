#include "sip/uri.h"

#include <arpa/inet.h>

#include <charconv>

#include "common/strings.h"
#include "sip/chars.h"

namespace verbatim::sip {

namespace {

Error bad(std::string_view uri, const std::string& why) {
  return make_error(ErrorCode::kInvalidArgument,
                    "invalid URI '" + std::string(uri.substr(0, 200)) + "': " + why);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Checks that every byte of `s` is in `allowed` or part of a %XX escape; returns the offset
// of the first bad byte, or npos.
size_t first_bad(std::string_view s, uint16_t allowed) {
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size() || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0) return i;
      i += 2;
      continue;
    }
    if (!is(c, allowed)) return i;
  }
  return std::string_view::npos;
}

std::string describe_char(char c) {
  if (c == ' ') return "a space";
  if (c == '\t') return "a tab";
  if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
    const uint8_t b = static_cast<uint8_t>(c);
    return "byte 0x" + verbatim::to_hex(std::span<const uint8_t>(&b, 1));
  }
  return std::string("'") + c + "'";
}

bool valid_hostname(std::string_view h) {
  if (h.empty() || h.size() > 255) return false;
  if (h.back() == '.') h.remove_suffix(1);
  size_t start = 0;
  std::string_view last;
  while (start <= h.size()) {
    size_t dot = h.find('.', start);
    if (dot == std::string_view::npos) dot = h.size();
    const std::string_view label = h.substr(start, dot - start);
    if (label.empty() || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!is(c, kAlnum) && c != '-') return false;
    }
    last = label;
    start = dot + 1;
  }
  // toplabel starts with a letter (so an IPv4-like string that is not an address fails).
  return is(last.front(), kAlpha);
}

bool valid_ipv4(std::string_view h) {
  int parts = 0;
  size_t i = 0;
  while (i < h.size()) {
    size_t j = i;
    unsigned v = 0;
    while (j < h.size() && is(h[j], kDigit) && j - i < 3)
      v = v * 10 + static_cast<unsigned>(h[j++] - '0');
    if (j == i || v > 255 || (j < h.size() && h[j] != '.')) return false;
    ++parts;
    i = j + 1;
    if (j == h.size()) break;
    if (i == h.size()) return false;  // trailing dot
  }
  return parts == 4;
}

std::vector<Param> parse_params(std::string_view s, char sep) {
  std::vector<Param> out;
  out.reserve(4);
  size_t i = 0;
  while (i <= s.size()) {
    size_t end = s.find(sep, i);
    if (end == std::string_view::npos) end = s.size();
    const std::string_view p = s.substr(i, end - i);
    const size_t eq = p.find('=');
    if (eq == std::string_view::npos) {
      out.push_back({p, std::nullopt});
    } else {
      out.push_back({p.substr(0, eq), p.substr(eq + 1)});
    }
    i = end + 1;
  }
  return out;
}

}  // namespace

HostKind classify_host(std::string_view host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    const std::string addr(host.substr(1, host.size() - 2));
    in6_addr a{};
    return ::inet_pton(AF_INET6, addr.c_str(), &a) == 1 ? HostKind::kIpv6 : HostKind::kNone;
  }
  if (valid_ipv4(host)) return HostKind::kIpv4;
  if (valid_hostname(host)) return HostKind::kHostname;
  return HostKind::kNone;
}

std::string unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::optional<std::string_view> Uri::param(std::string_view name) const {
  for (const auto& p : params) {
    if (iequals(p.name, name)) return p.value.value_or(std::string_view());
  }
  return std::nullopt;
}

bool Uri::has_param(std::string_view name) const { return param(name).has_value(); }

std::string Uri::user_unescaped() const { return unescape(user); }

std::string Uri::to_string() const {
  std::string s(scheme_text);
  s += ':';
  if (scheme == Scheme::kOther) return s + std::string(opaque);
  if (scheme == Scheme::kTel) {
    s += user;
  } else {
    if (!user.empty() || password) {
      s += user;
      if (password) {
        s += ':';
        s += *password;
      }
      s += '@';
    }
    s += host;
    if (port) s += ':' + std::to_string(*port);
  }
  for (const auto& p : params) {
    s += ';';
    s += p.name;
    if (p.value) {
      s += '=';
      s += *p.value;
    }
  }
  for (size_t i = 0; i < headers.size(); ++i) {
    s += i == 0 ? '?' : '&';
    s += headers[i].name;
    s += '=';
    s += headers[i].value.value_or("");
  }
  return s;
}

Result<Uri> parse_uri(std::string_view text) {
  Uri u;
  u.text = text;
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) return bad(text, "no scheme");
  u.scheme_text = text.substr(0, colon);
  if (!is(u.scheme_text.front(), kAlpha)) return bad(text, "the scheme must start with a letter");
  for (char c : u.scheme_text) {
    if (!is(c, kAlnum | kSchemeExtra)) return bad(text, "bad character in the scheme");
  }
  std::string_view rest = text.substr(colon + 1);
  if (iequals(u.scheme_text, "sip")) {
    u.scheme = Uri::Scheme::kSip;
  } else if (iequals(u.scheme_text, "sips")) {
    u.scheme = Uri::Scheme::kSips;
  } else if (iequals(u.scheme_text, "tel")) {
    u.scheme = Uri::Scheme::kTel;
  } else {
    u.scheme = Uri::Scheme::kOther;
    if (rest.empty()) return bad(text, "nothing after the scheme");
    for (size_t i = 0; i < rest.size(); ++i) {
      if (!is(rest[i], kUriChar)) {
        return bad(text, describe_char(rest[i]) + " at " + std::to_string(colon + 1 + i));
      }
    }
    u.opaque = rest;
    return u;
  }
  if (u.scheme == Uri::Scheme::kTel) {
    const size_t semi = rest.find(';');
    u.user = rest.substr(0, semi);
    if (u.user.empty()) return bad(text, "a tel URI needs a number");
    for (char c : u.user) {
      if (!is(c, kHex) && c != '+' && c != '-' && c != '.' && c != '(' && c != ')' && c != '*' &&
          c != '#') {
        return bad(text, describe_char(c) + " in the telephone number");
      }
    }
    if (semi != std::string_view::npos) {
      const std::string_view params = rest.substr(semi + 1);
      if (auto b = first_bad(params, kAlnum | kMark | kParamUnreserved | kUserUnreserved);
          b != std::string_view::npos) {
        return bad(text, describe_char(params[b]) + " in the parameters");
      }
      u.params = parse_params(params, ';');
    }
    return u;
  }
  // sip / sips: [userinfo "@"] hostport params [headers]. '@' never appears unescaped after
  // the userinfo, so the first one ends it.
  const size_t at = rest.find('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    const size_t pw = userinfo.find(':');
    u.user = userinfo.substr(0, pw);
    if (pw != std::string_view::npos) u.password = userinfo.substr(pw + 1);
    if (u.user.empty()) return bad(text, "empty user part before '@'");
    if (auto b = first_bad(u.user, kAlnum | kMark | kUserUnreserved); b != std::string_view::npos) {
      return bad(text, describe_char(u.user[b]) + " in the user part");
    }
    if (u.password) {
      if (auto b = first_bad(*u.password, kAlnum | kMark | kPasswordExtra);
          b != std::string_view::npos) {
        return bad(text, describe_char((*u.password)[b]) + " in the password");
      }
    }
    rest = rest.substr(at + 1);
  }
  // hostport ends at ';' or '?'.
  size_t end = rest.find_first_of(";?");
  std::string_view hostport = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (hostport.empty()) return bad(text, "no host");
  std::string_view port_text;
  if (hostport.front() == '[') {
    const size_t close = hostport.find(']');
    if (close == std::string_view::npos) return bad(text, "unterminated IPv6 reference");
    u.host = hostport.substr(0, close + 1);
    const std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad(text, "junk after the IPv6 reference");
      port_text = after.substr(1);
      if (port_text.empty()) return bad(text, "empty port");
    }
  } else {
    const size_t pc = hostport.find(':');
    u.host = hostport.substr(0, pc);
    if (pc != std::string_view::npos) {
      port_text = hostport.substr(pc + 1);
      if (port_text.empty()) return bad(text, "empty port");
    }
  }
  u.host_kind = classify_host(u.host);
  if (u.host_kind == HostKind::kNone) {
    return bad(text, "'" + std::string(u.host) + "' is not a valid host" +
                         (u.host.find(':') != std::string_view::npos ||
                                  port_text.find(':') != std::string_view::npos
                              ? " (an IPv6 address must be in brackets)"
                              : ""));
  }
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || p != port_text.data() + port_text.size() || port > 65535) {
      return bad(text, "invalid port '" + std::string(port_text) + "'" +
                           (port_text.find(':') != std::string_view::npos
                                ? " (an IPv6 address must be in brackets)"
                                : ""));
    }
    u.port = static_cast<uint16_t>(port);
  }
  if (!rest.empty() && rest.front() == ';') {
    const size_t q = rest.find('?');
    const std::string_view params = rest.substr(1, q == std::string_view::npos ? q : q - 1);
    if (auto b = first_bad(params, kAlnum | kMark | kParamUnreserved);
        b != std::string_view::npos && params[b] != ';' && params[b] != '=') {
      return bad(text, describe_char(params[b]) + " in the URI parameters");
    }
    for (const Param& p : parse_params(params, ';')) {
      if (p.name.empty()) return bad(text, "empty URI parameter");
      if (p.name.find('=') != std::string_view::npos) return bad(text, "bad URI parameter");
      u.params.push_back(p);
    }
    rest = q == std::string_view::npos ? std::string_view() : rest.substr(q);
  }
  if (!rest.empty()) {  // '?' headers
    const std::string_view hs = rest.substr(1);
    if (auto b = first_bad(hs, kAlnum | kMark | kHnvUnreserved);
        b != std::string_view::npos && hs[b] != '&' && hs[b] != '=') {
      return bad(text, describe_char(hs[b]) + " in the URI headers");
    }
    for (const Param& h : parse_params(hs, '&')) {
      if (h.name.empty() || !h.value) return bad(text, "URI headers must be name=value");
      u.headers.push_back(h);
    }
  }
  return u;
}

}  // namespace verbatim::sip
