#include "common/call_records.h"

#include <algorithm>
#include <cctype>

namespace verbatim {

Status check_query(const CallQuery& q) {
  if (q.limit < 1 || q.limit > 1000) {
    return make_error(ErrorCode::kInvalidArgument, "limit must be between 1 and 1000");
  }
  // YYYY-MM-DD, optionally followed by a time: compared as text with the records' start.
  const auto& s = q.since;
  if (!s.empty() &&
      (s.size() < 10 || s[4] != '-' || s[7] != '-' ||
       !std::all_of(s.begin(), s.begin() + 4, [](char c) { return std::isdigit(c); }))) {
    return make_error(ErrorCode::kInvalidArgument,
                      "since must be an ISO 8601 date or time (2026-11-27 or "
                      "2026-11-27T09:30:00Z), got \"" +
                          s + "\"");
  }
  return ok_status();
}

}  // namespace verbatim
