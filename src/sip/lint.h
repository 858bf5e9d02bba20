// `verbatim sip lint`: is one captured SIP message valid, and if not, why (line and reason),
// with its parsed form as JSON. Reads messages as people paste them: CRLF or bare LF line
// ends (LF-only text is normalised to CRLF, the body too when that is what makes
// Content-Length agree), and notes what a UAS would answer to a well-formed but unusual
// message (501 unknown method, 416 URI scheme, 505 version, 483 Max-Forwards 0).
// Threads and ownership: pure functions; any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace verbatim::sip {

// NOLINTNEXTLINE(bugprone-exception-escape): nlohmann::json members move without throwing
struct LintReport {
  bool valid = false;
  std::vector<std::string> problems;  // "line N: reason (answer: 400)"
  std::vector<std::string> notes;
  nlohmann::json parsed;  // the message's parsed form (when it parses)
  nlohmann::json to_json() const;
  std::string to_text() const;
};

LintReport lint_message(std::string_view bytes);

// A captured message as it was on the wire: LF-only text becomes CRLF (the body too when that
// is what makes Content-Length agree); `notes` says so. Parse the result with Message::parse.
std::string read_capture(std::string_view bytes, std::vector<std::string>* notes = nullptr);

}  // namespace verbatim::sip
