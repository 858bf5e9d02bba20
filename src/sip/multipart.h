// multipart/mixed bodies (RFC 2046 §5.1), as SIPREC uses them: an SDP part and an
// application/rs-metadata+xml part (RFC 7866 §9.1). Parsing is tolerant of what vendors send
// (LF instead of CRLF, a blank line or preamble before the first boundary, parts without
// headers) and strict about structure (a missing close delimiter or boundary is an error).
// Parts are views into the body they were parsed from.
// Threads and ownership: pure functions; parts view into the body they were parsed from.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace verbatim::sip {

struct MimePart {
  std::vector<std::pair<std::string_view, std::string_view>> headers;  // name, value
  std::string_view body;
  std::string_view header(std::string_view name) const;  // case-insensitive; empty if none
  std::string_view content_type() const;  // "text/plain" when the part has none (RFC 2046)
};

// `boundary` without the leading "--" (as in Content-Type's boundary parameter, unquoted).
// A body that ends without its close delimiter (seen from real SBCs) still yields its parts;
// `unterminated` (when given) says so.
Result<std::vector<MimePart>> parse_multipart(std::string_view body, std::string_view boundary,
                                              bool* unterminated = nullptr);

struct PartSpec {
  std::string content_type;
  std::string body;
  std::string disposition;  // Content-Disposition, optional
};
std::string build_multipart(const std::vector<PartSpec>& parts, std::string_view boundary);

}  // namespace verbatim::sip
