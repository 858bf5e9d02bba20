#include "sip/multipart.h"

#include "common/strings.h"
#include "sip/chars.h"

namespace verbatim::sip {

namespace {

Error bad(const std::string& why) {
  return make_error(ErrorCode::kInvalidArgument, "multipart body: " + why);
}

// Offset of the next "--boundary" at the start of a line, from `from`.
size_t find_delimiter(std::string_view body, std::string_view dash_boundary, size_t from) {
  for (size_t at = body.find(dash_boundary, from); at != std::string_view::npos;
       at = body.find(dash_boundary, at + 1)) {
    if (at == 0 || body[at - 1] == '\n') return at;
  }
  return std::string_view::npos;
}

}  // namespace

std::string_view MimePart::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return v;
  }
  return {};
}

std::string_view MimePart::content_type() const {
  const std::string_view ct = header("Content-Type");
  return ct.empty() ? std::string_view("text/plain") : ct;
}

Result<std::vector<MimePart>> parse_multipart(std::string_view body, std::string_view boundary,
                                              bool* unterminated) {
  if (unterminated) *unterminated = false;
  if (boundary.empty() || boundary.size() > 70) return bad("invalid boundary");
  const std::string dash = "--" + std::string(boundary);
  size_t at = find_delimiter(body, dash, 0);
  if (at == std::string_view::npos)
    return bad("boundary '" + std::string(boundary) + "' not found");
  std::vector<MimePart> parts;
  for (;;) {
    size_t pos = at + dash.size();
    if (body.substr(pos, 2) == "--") return parts;        // close delimiter (epilogue ignored)
    while (pos < body.size() && is_ws(body[pos])) ++pos;  // transport padding
    if (body.substr(pos, 2) == "\r\n") {
      pos += 2;
    } else if (body.substr(pos, 1) == "\n") {
      pos += 1;
    } else {
      return bad("junk after a boundary line");
    }
    size_t next = find_delimiter(body, dash, pos);
    const bool last = next == std::string_view::npos;
    if (last) {
      if (unterminated) *unterminated = true;
      next = body.size();
    }
    // The line break before the delimiter belongs to it.
    size_t end = next;
    if (end > pos && body[end - 1] == '\n') --end;
    if (end > pos && body[end - 1] == '\r') --end;
    std::string_view part = body.substr(pos, end - pos);
    MimePart p;
    // Headers up to the first empty line (a part may have none and start with it).
    for (;;) {
      const size_t nl = part.find('\n');
      std::string_view line = part.substr(0, nl);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty()) {
        part = nl == std::string_view::npos ? std::string_view() : part.substr(nl + 1);
        break;
      }
      if (nl == std::string_view::npos) {  // a part of headers only, no body
        part = {};
        break;
      }
      if (is_ws(line.front()) && !p.headers.empty()) {  // folded
        auto& v = p.headers.back().second;
        v = std::string_view(v.data(), static_cast<size_t>(line.data() + line.size() - v.data()));
      } else {
        const size_t colon = line.find(':');
        if (colon == std::string_view::npos || !is_token(trim_lws(line.substr(0, colon)))) {
          return bad("part " + std::to_string(parts.size() + 1) + ": malformed header line");
        }
        p.headers.emplace_back(trim_lws(line.substr(0, colon)), trim_lws(line.substr(colon + 1)));
      }
      part = part.substr(nl + 1);
    }
    p.body = part;
    parts.push_back(p);
    if (parts.size() > 64) return bad("more than 64 parts");
    if (last) return parts;
    at = next;
  }
}

std::string build_multipart(const std::vector<PartSpec>& parts, std::string_view boundary) {
  std::string out;
  for (const auto& p : parts) {
    out += "--";
    out += boundary;
    out += "\r\nContent-Type: " + p.content_type + "\r\n";
    if (!p.disposition.empty()) out += "Content-Disposition: " + p.disposition + "\r\n";
    out += "\r\n" + p.body + "\r\n";
  }
  out += "--";
  out += boundary;
  out += "--\r\n";
  return out;
}

}  // namespace verbatim::sip
