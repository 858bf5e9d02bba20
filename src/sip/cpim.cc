#include "sip/cpim.h"

#include "common/strings.h"

namespace verbatim::sip {

namespace {

std::string clean(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c != '\r' && c != '\n') out += c;
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// The next line of `text` from `at` (without its CRLF or LF); `at` moves past it.
std::string_view next_line(std::string_view text, size_t& at) {
  const size_t nl = text.find('\n', at);
  const size_t end = nl == std::string_view::npos ? text.size() : nl;
  std::string_view line = text.substr(at, end - at);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  at = nl == std::string_view::npos ? text.size() : nl + 1;
  return line;
}

// Header lines up to a blank line: calls `take(name, value)` for each. False when a line has no
// colon, or the text ends before the blank line.
template <typename Take>
bool headers(std::string_view text, size_t& at, Take take) {
  while (at < text.size()) {
    const std::string_view line = next_line(text, at);
    if (line.empty()) return true;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    take(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
  }
  return false;
}

}  // namespace

std::string build_cpim(const CpimMessage& m) {
  std::string out = "From: " + clean(m.from) + "\r\nTo: " + clean(m.to) + "\r\n";
  if (!m.date_time.empty()) out += "DateTime: " + clean(m.date_time) + "\r\n";
  out += "\r\nContent-Type: " +
         clean(m.content_type.empty() ? "text/plain;charset=utf-8" : m.content_type) + "\r\n\r\n";
  return out + m.body;
}

Result<CpimMessage> parse_cpim(std::string_view text) {
  CpimMessage m;
  size_t at = 0;
  const bool message_headers = headers(text, at, [&](std::string_view n, std::string_view v) {
    if (iequals(n, "From")) m.from = std::string(v);
    if (iequals(n, "To") && m.to.empty()) m.to = std::string(v);
    if (iequals(n, "DateTime")) m.date_time = std::string(v);
  });
  if (!message_headers) {
    return make_error(ErrorCode::kInvalidArgument,
                      "message/cpim: the message headers do not end with a blank line");
  }
  const bool content_headers = headers(text, at, [&](std::string_view n, std::string_view v) {
    if (iequals(n, "Content-Type")) m.content_type = std::string(v);
  });
  if (!content_headers) {
    return make_error(ErrorCode::kInvalidArgument,
                      "message/cpim: the content headers do not end with a blank line");
  }
  m.body = std::string(text.substr(at));
  return m;
}

std::string cpim_address(std::string_view value) {
  const size_t open = value.find('<');
  const size_t close = open == std::string_view::npos ? open : value.find('>', open);
  if (close != std::string_view::npos) return std::string(value.substr(open + 1, close - open - 1));
  return std::string(trim(value));
}

}  // namespace verbatim::sip
