// Call control: what an officer or a supervisor asks of a call in progress (pause and resume its
// recording for a card payment, record it on demand, stop a recording made on demand), kept in
// <data_dir>/call-control.db until the gateway that has the call carries it out.
//
// The portal (adminapi/router_control.cc) writes a request and waits for its answer; each
// gateway checks for new requests every 200 ms (PRAGMA data_version: nothing is read while
// nothing changed), takes those for calls it has (an UPDATE from pending to taken, so a request
// is carried out once and never after its asker gave up) and answers each: done, or refused
// with why. A request no gateway takes within the asker's wait is refused by the asker ("no
// gateway has this call"). A table, not a socket: the gateway may be the portal's own process
// (verbatim serve) or another (verbatim gateway), and the two already share the data directory
// (calls.db); the rows stay as a record of what was asked and what the gateway did.
// Threads: one connection per object, one thread at a time; WAL, so the gateway's reads never
// wait for the portal's writes.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/sqlite.h"

namespace verbatim {

struct ControlRequest {
  int64_t id = 0;
  std::string call_id;  // the caller's Call-ID, as the call records name the call
  std::string action;   // pause, resume, start, stop; a meeting's: mute, unmute, remove
  // start: "caller" or "callee", empty: each party that is a user; a meeting's: the member's
  // address (call_id is then "meet-<id>").
  std::string party;
  std::string policy;  // start: the policy whose applications record; empty: the party's own
  std::string requested_by, reason, requested_at;
  std::string state = "pending";  // pending, taken, done, refused
  std::string result;             // what the gateway did, or why it did not
  std::string answered_at;
};

// The actions a request may name.
bool valid_control_action(const std::string& action);

class CallControl {
 public:
  static Result<std::unique_ptr<CallControl>> open(const std::string& path);

  // Stores a pending request; returns its id.
  Result<int64_t> request(const ControlRequest& r);
  Result<std::optional<ControlRequest>> get(int64_t id);
  // Whether another connection wrote since the last call (the first call: true).
  bool changed();
  // Requests not yet taken, oldest first.
  Result<std::vector<ControlRequest>> pending(size_t limit = 100);
  // Takes a pending request: false when it is no longer pending (another gateway took it, or
  // its asker gave up).
  Result<bool> take(int64_t id);
  // The answer to a taken request.
  Status answer(int64_t id, bool done, const std::string& result);
  // The asker gives up on a request still pending: false when a gateway has taken it.
  Result<bool> give_up(int64_t id, const std::string& why);
  // The asker waits for the answer to request `id` (polling every 50 ms): the answered request,
  // or none when no gateway took it within `wait` (it is then given up), or one that took it did
  // not answer within `wait_taken` more.
  Result<std::optional<ControlRequest>> wait_answer(int64_t id, std::chrono::milliseconds wait,
                                                    std::chrono::milliseconds wait_taken);

 private:
  explicit CallControl(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}
  std::unique_ptr<SqliteDb> db_;
  int64_t data_version_ = -1;
};

}  // namespace verbatim
