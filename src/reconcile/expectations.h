// What the gateway expected to be recorded, and whether the archive has it: the pure half of
// missed-recording reconciliation (reconciler.h runs it as calls end).
//
// A call the gateway connected has, for each party a policy records and each application of that
// policy, one expectation: a complete recording in the archive by one of the application's
// instances (or its paired application), of that party's side of the call, covering the call
// from its answer to its end. assess() compares one expectation with the archive's recordings of
// the call (search::recordings_of_call) and says what is wrong, if anything:
//   - "not recorded": no recording of it at all — no recorder answered, or one answered (a
//     recorder that stores nothing) and the archive has nothing;
//   - "incomplete media": recordings exist but none is complete (partial: a stream without
//     media; interrupted: a crash; still open long after the call ended), or together they leave
//     more than a tolerance of the connected call uncovered (a recorder lost mid-call and never
//     replaced).
// Calls that never connected (refused, cancelled, blocked because a required recorder failed)
// have nothing to record; users whom no policy records have no expectations at all.
// Threads and ownership: pure functions over values; any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "search/search.h"

namespace verbatim::reconcile {

inline constexpr const char* kNotRecorded = "not recorded";
inline constexpr const char* kIncompleteMedia = "incomplete media";

struct Expectation {
  std::string call_id;
  std::string party;        // the recorded party's address
  std::string side;         // caller | callee | "" (a party that came by a transfer)
  std::string application;  // the policy's application as the call record names it
  std::string policy;
  std::vector<std::string> application_ids;  // its instances' ObjectIds (and its pair's)
  std::vector<std::string> recorder_uris;    // the endpoints invited
  bool answered = false;                     // an instance answered the gateway's INVITE
  std::string why_not;                       // why the instances were refused or lost
  int64_t call_start_ms = 0, call_end_ms = 0;
  int64_t connected_ms = 0;    // the answer, Unix milliseconds
  bool check_coverage = true;  // false when the party moved (transfers): its span is not known
};

// A string member of a JSON object ("" when absent or not a string), and an ISO 8601 time as
// Unix milliseconds (nullopt when it is not one).
std::string member_text(const nlohmann::json& j, const char* key);
std::optional<int64_t> iso_millis(const std::string& iso);

// The expectations of one call record (gateway/call_record.cc's JSON); none for a call that never
// connected or that no policy records. A record that is not a gateway call record gives none.
std::vector<Expectation> expectations_of(const nlohmann::json& record);

struct Finding {
  std::string status;                   // kNotRecorded | kIncompleteMedia
  std::string reason;                   // for people: what was found
  std::vector<std::string> recordings;  // the archive's recordings of this party and application
};

// How much of the connected call the recordings may leave uncovered: the larger of `floor` and
// `fraction` of the call.
struct Tolerance {
  std::chrono::milliseconds floor{2000};
  double fraction = 0.02;
};

// nullopt: the archive holds what was expected.
std::optional<Finding> assess(const Expectation& expected,
                              const std::vector<search::CallRecording>& archived,
                              Tolerance tolerance = {});

}  // namespace verbatim::reconcile
