// The durable job queue: work that runs after a call, off the live path (design.md, "Where the
// cost is"): playback files now; transcription and indexing later. One SQLite database,
// <data_dir>/jobs.db, so a job survives any restart:
//   - a job is added when its recording starts, as "waiting" (the recording is not finished,
//     so there is nothing to do yet); the end of the recording makes it "pending";
//   - a worker claims the oldest pending job ("running", attempts + 1) and marks it "done"
//     with a result, or gives it back with the error to retry later (backing off), or
//     "failed" after max_attempts;
//   - at a worker's start (recover()), every "running" job (the process stopped while working on
//     it; failed instead once that happened max_attempts times, so a job that kills the process
//     is not run forever) and every "waiting" job (its recording can no longer be going on:
//     sessions do not survive a restart) becomes pending again, so nothing is lost and nothing
//     waits forever.
// One job per (kind, recording): adding it again changes nothing. Thread-safe (one
// connection behind a mutex: the event loop adds, a worker thread claims).
//
// Redactions (the portal's, run by the recorder's redaction worker, recorder/redact_jobs.h):
// a request (spans, fill, who, why) is kept in its own table, and is one job of kind "redact"
// whose subject is "<recording>/<request id>", so each request has its own state, attempts and
// result, and a recording can have any number of them. The API process adds them; the
// recorder's process runs them (its workers look for pending jobs every few seconds).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include "common/clock.h"

#include "common/result.h"
#include "common/sqlite.h"

namespace verbatim::jobs {

struct Job {
  int64_t id = 0;
  std::string kind;
  std::string recording;
  std::string state;  // waiting | pending | running | done | failed
  int attempts = 0;
  std::string error;   // the last failure
  std::string result;  // JSON, when done
  std::string created_at, updated_at, not_before;
};

constexpr const char* kRedactJob = "redact";

// NOLINTNEXTLINE(bugprone-exception-escape): std::string members move without throwing
struct Redaction {
  int64_t id = 0;
  std::string recording;
  std::string spans;  // JSON: [{"start": s, "end": s, "participant"?: id}], seconds
  std::string fill;   // silence | tone
  std::string reason, requested_by, requested_at;
  Job job;  // its job: state, attempts, error, result (JSON, when done)
};

// A redaction request's spans, checked: a JSON array of 1-100 {"start", "end"} in seconds with
// 0 <= start < end, and an optional "participant" (a SIPREC participant id, address or name of
// one playback file; absent: every participant). Used by the API before it accepts a request,
// and by the job.
Status check_redaction_spans(const nlohmann::json& spans);
// Whether a span concerns a playback file (its "participant" names one of the file's
// participants or addresses, its name or its object; a span naming nobody concerns every file).
bool redaction_concerns(const nlohmann::json& span, const nlohmann::json& file);

class JobQueue {
 public:
  static Result<std::unique_ptr<JobQueue>> open(const std::string& path, const Clock& clock);
  // Running and waiting jobs become pending (see above); returns how many. Only the process
  // that works on the queue calls it, before its first claim.
  Result<int64_t> recover();
  // Adds a job; `ready` false: waiting for its recording to end.
  Status add(const std::string& kind, const std::string& recording, bool ready);
  // A waiting job's recording ended: it can run now.
  Status ready(const std::string& kind, const std::string& recording);
  // The oldest pending job that may run now, marked running; nothing if there is none.
  Result<std::optional<Job>> claim(const std::string& kind);
  Status done(int64_t id, const std::string& result);
  // Back to pending after `delay`, or failed once attempts reached max_attempts.
  Status retry(int64_t id, const std::string& error, std::chrono::seconds delay);
  Result<std::vector<Job>> list(const std::string& state = "");
  // How many jobs are in each state.
  Result<std::vector<std::pair<std::string, int64_t>>> counts();
  int max_attempts = 5;

  // Adds a redaction request and its pending job; returns the request's id.
  Result<int64_t> add_redaction(const Redaction& r);
  // A recording's requests, oldest first; one request (nothing: no such id).
  Result<std::vector<Redaction>> redactions(const std::string& recording);
  Result<std::optional<Redaction>> redaction(int64_t id);
  static std::string redaction_subject(const std::string& recording, int64_t id) {
    return recording + "/" + std::to_string(id);
  }

 private:
  Result<std::vector<Redaction>> select_redactions(const char* where, const std::string& arg);
  JobQueue(std::unique_ptr<SqliteDb> db, const Clock& clock) : db_(std::move(db)), clock_(clock) {}
  std::string now() const { return format_iso8601_ms(clock_.now()); }
  std::unique_ptr<SqliteDb> db_;
  const Clock& clock_;
  std::mutex mutex_;
};

}  // namespace verbatim::jobs
