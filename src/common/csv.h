// CSV reader (RFC 4180: quoted fields, doubled quotes, CRLF or LF, embedded newlines).
// Hand-written because Debian packages no maintained C++ CSV library and directory imports
// need exact line numbers in their error messages; it is forty lines and fuzzed.
// Threads and ownership: pure functions; any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace verbatim {

struct CsvRow {
  size_t line = 0;  // 1-based line where the row starts
  std::vector<std::string> fields;
};

// Blank lines are skipped. An unterminated quote is an error naming its line.
Result<std::vector<CsvRow>> parse_csv(std::string_view text);

}  // namespace verbatim
