// The gateway's call records: one JSON object per ended call, appended to
// <data_dir>/gateway-calls.jsonl (Gateway::record_of has the fields; docs/gateway.md). Read by
// `verbatim calls show|list` and the admin REST API (/api/v1/calls), so both answer alike.
// A line that does not parse (a crash mid-append) is skipped, never an error for the others.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace verbatim::gateway {

struct CallQuery {
  std::string party;  // a substring of either party's address, user or number (any case)
  std::string since;  // ISO 8601: calls that started at or after it
  size_t limit = 100;
};

// Newest first. A missing file is no calls.
Result<std::vector<nlohmann::json>> find_calls(const std::string& path, const CallQuery& q);
// The record of a call by its Call-ID (the last one, should a Call-ID come twice).
Result<std::optional<nlohmann::json>> find_call(const std::string& path, std::string_view call_id);
// Checks a CallQuery from user input: kInvalidArgument with what is wrong.
Status check_query(const CallQuery& q);

}  // namespace verbatim::gateway
