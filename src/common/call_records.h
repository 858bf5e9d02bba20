// Reading the gateway's call records, as the REST API and the CLI see them: the query, its
// check, and the interface a store of call records offers. The gateway's CallLog (SQLite,
// gateway/call_log.h) is the implementation; readers depend on this header only, so the REST
// API does not link the gateway.
//
// A CallRecords object is one connection: use it on one thread at a time.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace verbatim {

struct CallQuery {
  std::string party;  // a substring of either party's address, user, number or name (any case)
  std::string since;  // ISO 8601: calls that started at or after it
  size_t limit = 100;
};

// Checks a CallQuery from user input: kInvalidArgument with what is wrong.
Status check_query(const CallQuery& q);

class CallRecords {
 public:
  virtual ~CallRecords() = default;
  // The newest first.
  virtual Result<std::vector<nlohmann::json>> find_calls(const CallQuery& q) = 0;
  // The record of a call by its Call-ID (the last one, should a Call-ID come twice).
  virtual Result<std::optional<nlohmann::json>> find_call(std::string_view call_id) = 0;
  // Records in the order they were stored (by the end of their call), after the one numbered
  // `seq` (0: from the first), at most `limit`: (number, record). For those that follow the
  // records as they come (the missed-recording reconciler).
  virtual Result<std::vector<std::pair<int64_t, nlohmann::json>>> calls_after(int64_t seq,
                                                                              size_t limit) = 0;
};

// A call record as text (what `verbatim calls show` prints and the REST API returns with
// ?format=text): parties and their policies, timings, queue offers, forwards, transfers, each
// recording's applications and instances, notices.
std::string describe_call(const nlohmann::json& record);

// What a party search matches in a call record: each party's address, user, number and name in
// lower case, one per line.
std::string party_text(const nlohmann::json& record);

// Opens the call records for reading: nullptr when none have been kept yet.
using OpenCallRecords = std::function<Result<std::unique_ptr<CallRecords>>()>;

}  // namespace verbatim
