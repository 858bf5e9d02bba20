// Meetings: conferences scheduled by an organiser, each with its conference URI
// (sip:meet-<id>@<domain>) and a dial-in PIN, kept in <data_dir>/meetings.db. The CLI
// (`verbatim meeting`) and the REST API (/api/v1/meetings) create, list and cancel them; the
// gateway will admit callers of the URI, and dial-in callers by the PIN, from the same table.
// A PIN is unique among the meetings not cancelled (the dial-in IVR finds the meeting by it
// alone); it is 9 digits unless given (4 to 12), like the conference IDs Teams prints.
// Who may organise (a directory user) is checked by the caller, which has the directory.
// Threads: one connection per object, one thread at a time; WAL, so readers never wait.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "common/sqlite.h"

namespace verbatim {

struct Meeting {
  std::string id;         // 10 digits
  std::string uri;        // sip:meet-<id>@<domain>
  std::string organizer;  // the organiser's UPN
  std::string subject;
  std::string starts_at;  // ISO 8601 UTC; empty: not scheduled (any time)
  std::string pin;
  std::string created_at, created_by;
  std::string cancelled_at, cancelled_by, cancel_reason;  // empty while the meeting stands

  bool cancelled() const { return !cancelled_at.empty(); }
  nlohmann::json to_json() const;
};

// What a meeting is created from; the store fills in the rest.
struct NewMeeting {
  std::string organizer, subject;
  std::string start;   // ISO 8601 (any offset) or empty
  std::string pin;     // empty: a random one
  std::string domain;  // of the URI
  std::string created_by;
};

class MeetingStore {
 public:
  static Result<std::unique_ptr<MeetingStore>> open(const std::string& path);

  // Checks and stores a meeting: a subject of 1 to 256 characters without control characters,
  // a start that parses, a PIN of 4 to 12 digits not in use by another meeting that stands, a
  // domain. Errors say which (kInvalidArgument; kAlreadyExists for a PIN in use).
  Result<Meeting> create(const NewMeeting& m);
  Result<std::optional<Meeting>> get(const std::string& id);
  // The meeting that stands with this PIN (the dial-in IVR's lookup).
  Result<std::optional<Meeting>> by_pin(const std::string& pin);
  // Newest first; `organizer` empty: everyone's; cancelled ones only when asked.
  Result<std::vector<Meeting>> list(const std::string& organizer, bool with_cancelled,
                                    size_t limit = 1000);
  // Cancels a meeting that stands (its PIN is free again); false when there is none.
  Result<bool> cancel(const std::string& id, const std::string& by, const std::string& reason);

 private:
  explicit MeetingStore(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}
  // The meeting matching `where` (one "?" for `value`), if any.
  Result<std::optional<Meeting>> one(const char* where, const std::string& value);
  std::unique_ptr<SqliteDb> db_;
};

}  // namespace verbatim
