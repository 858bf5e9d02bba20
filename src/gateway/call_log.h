// The gateway's call records: one JSON object per ended call (Gateway::record_of has the fields;
// docs/gateway.md), kept in an indexed SQLite database (<data_dir>/calls.db) that
// `verbatim calls show|list` and the REST API (/api/v1/calls) query without reading every record,
// and appended as a line to <data_dir>/gateway-calls.jsonl for log shippers (rotated by size).
//
//   - CallLog: the database. Queries use the indexes (Call-ID, start time); the parties' names
//     and numbers are kept in a lower-case column for substring search. Records older than the
//     retention (gateway.call_records_days) are deleted; a JSONL file from before the database
//     existed is imported once. One connection per thread; WAL, so readers in other processes
//     never wait for the writer.
//   - CallLogWriter: the gateway's side. append() hands the record to a thread of its own, which
//     writes the database and the JSONL file: the SIP thread never waits on the disk. Records
//     are gathered for up to 200 ms and stored in one transaction (one sync for many calls).
#pragma once

#include <condition_variable>
#include <deque>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/call_records.h"
#include "common/result.h"
#include "common/sqlite.h"

namespace verbatim::gateway {

// A call record ready to store: its JSON text and the indexed fields taken from it.
struct CallLogEntry {
  std::string call_id, start, parties, text;
  static CallLogEntry of(const nlohmann::json& record);
};

class CallLog : public CallRecords {
 public:
  // Opens (creating) the database; imports `legacy_jsonl` once when the database is new.
  static Result<std::unique_ptr<CallLog>> open(const std::string& db_path,
                                               const std::string& legacy_jsonl = "");
  // For readers: opens the records when the gateway has kept any (the database, or a JSONL
  // file to import); nullptr when it has not.
  static Result<std::unique_ptr<CallLog>> open_existing(const std::string& db_path,
                                                        const std::string& legacy_jsonl);
  Status append(const nlohmann::json& record);
  // Appends `entries` in one transaction (one write to the disk for all of them, not one per
  // call). A record that cannot be stored does not keep the others out: the error names how
  // many failed and the first reason.
  Status append_all(const std::deque<CallLogEntry>& entries);
  Result<std::vector<nlohmann::json>> find_calls(const CallQuery& q) override;
  Result<std::optional<nlohmann::json>> find_call(std::string_view call_id) override;
  Result<std::vector<std::pair<int64_t, nlohmann::json>>> calls_after(int64_t seq,
                                                                      size_t limit) override;
  // Deletes records of calls that started before `before` (ISO 8601); returns how many.
  Result<int64_t> expire(const std::string& before);

 private:
  explicit CallLog(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}
  Status insert(SqliteStmt& s, const CallLogEntry& e);
  std::unique_ptr<SqliteDb> db_;
};

class CallLogWriter {
 public:
  struct Options {
    std::string db_path;                     // <data_dir>/calls.db
    std::string jsonl_path;                  // <data_dir>/gateway-calls.jsonl; empty: none
    uint64_t jsonl_max_bytes = 64ull << 20;  // then renamed to <path>.1 (.1 to .4 kept)
    int keep_days = 400;                     // records older are deleted (checked hourly)
  };
  // Opens the database (an error now, not on the first call) and starts the thread.
  static Result<std::unique_ptr<CallLogWriter>> start(Options options);
  ~CallLogWriter();  // writes what is queued, then stops
  CallLogWriter(const CallLogWriter&) = delete;
  CallLogWriter& operator=(const CallLogWriter&) = delete;

  // Serialises the record here (the caller's thread builds and frees its JSON tree, which
  // the allocator handles far better than freeing it on the writer's thread) and queues it.
  void append(const nlohmann::json& record);
  // Blocks until everything appended so far is written (tests, shutdown).
  void flush();

 private:
  CallLogWriter(Options options, std::unique_ptr<CallLog> log);
  void run();
  void write_jsonl(const std::deque<CallLogEntry>& entries);

  Options options_;
  std::unique_ptr<CallLog> log_;
  std::ofstream jsonl_;      // open while the file is below jsonl_max_bytes
  uint64_t jsonl_size_ = 0;  // its size as written
  std::mutex mutex_;
  std::condition_variable wake_, drained_;
  std::deque<CallLogEntry> queue_;
  bool stop_ = false;
  int flushing_ = 0;  // callers of flush() waiting: no gathering then
  size_t busy_ = 0;
  std::thread thread_;
};

}  // namespace verbatim::gateway
