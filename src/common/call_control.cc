#include "common/call_control.h"

#include <algorithm>
#include <array>
#include <thread>

#include <sqlite3.h>

#include "common/clock.h"

namespace verbatim {

namespace {

constexpr std::array<const char*, 1> kMigrations = {
    "CREATE TABLE requests ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  call_id TEXT NOT NULL, action TEXT NOT NULL, party TEXT NOT NULL, policy TEXT NOT NULL,"
    "  requested_by TEXT NOT NULL, reason TEXT NOT NULL, requested_at TEXT NOT NULL,"
    "  state TEXT NOT NULL, result TEXT NOT NULL DEFAULT '', answered_at TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE INDEX requests_pending ON requests(state, id);"};

constexpr const char* kColumns =
    "id, call_id, action, party, policy, requested_by, reason, requested_at, state, result, "
    "answered_at";

ControlRequest row(const SqliteStmt& s) {
  ControlRequest r;
  r.id = s.int64(0);
  r.call_id = s.text(1);
  r.action = s.text(2);
  r.party = s.text(3);
  r.policy = s.text(4);
  r.requested_by = s.text(5);
  r.reason = s.text(6);
  r.requested_at = s.text(7);
  r.state = s.text(8);
  r.result = s.text(9);
  r.answered_at = s.text(10);
  return r;
}

std::string now() { return format_iso8601_ms(std::chrono::system_clock::now()); }

}  // namespace

bool valid_control_action(const std::string& action) {
  return action == "pause" || action == "resume" || action == "start" || action == "stop" ||
         action == "mute" || action == "unmute" || action == "remove";
}

Result<std::optional<ControlRequest>> CallControl::wait_answer(
    int64_t id, std::chrono::milliseconds wait, std::chrono::milliseconds wait_taken) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  bool taken = false;
  for (;;) {
    auto got = get(id);
    if (!got) return got.error();
    if (got.value() && got.value()->state != "pending" && got.value()->state != "taken") {
      return got;
    }
    if (got.value() && got.value()->state == "taken" && !taken) {
      taken = true;
      deadline = std::max(deadline, std::chrono::steady_clock::now() + wait_taken);
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      auto gave_up = give_up(id, "no gateway answered in time");
      if (gave_up && gave_up.value()) return std::optional<ControlRequest>();
      if (std::chrono::steady_clock::now() >= deadline + wait_taken) {
        return std::optional<ControlRequest>();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Result<std::unique_ptr<CallControl>> CallControl::open(const std::string& path) {
  auto db = SqliteDb::open(path);
  if (!db) return db.error();
  VB_TRY(db.value()->migrate(kMigrations, "call control"));
  return std::unique_ptr<CallControl>(new CallControl(std::move(db).value()));
}

Result<int64_t> CallControl::request(const ControlRequest& r) {
  if (!valid_control_action(r.action)) {
    return make_error(ErrorCode::kInvalidArgument, "unknown call control action: " + r.action);
  }
  SqliteStmt s(*db_,
               "INSERT INTO requests (call_id, action, party, policy, requested_by, reason, "
               "requested_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')");
  s.bind(1, r.call_id);
  s.bind(2, r.action);
  s.bind(3, r.party);
  s.bind(4, r.policy);
  s.bind(5, r.requested_by);
  s.bind(6, r.reason);
  s.bind(7, r.requested_at.empty() ? now() : r.requested_at);
  if (s.step() != SQLITE_DONE) return db_->error("storing a call control request");
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_->handle()));
}

Result<std::optional<ControlRequest>> CallControl::get(int64_t id) {
  SqliteStmt s(*db_, (std::string("SELECT ") + kColumns + " FROM requests WHERE id = ?").c_str());
  s.bind(1, id);
  const int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<ControlRequest>();
  if (rc != SQLITE_ROW) return db_->error("reading a call control request");
  return std::optional<ControlRequest>(row(s));
}

bool CallControl::changed() {
  SqliteStmt s(*db_, "PRAGMA data_version");
  if (s.step() != SQLITE_ROW) return true;
  const int64_t v = s.int64(0);
  const bool out = v != data_version_;
  data_version_ = v;
  return out;
}

Result<std::vector<ControlRequest>> CallControl::pending(size_t limit) {
  SqliteStmt s(*db_, (std::string("SELECT ") + kColumns +
                      " FROM requests WHERE state = 'pending' ORDER BY id LIMIT ?")
                         .c_str());
  s.bind(1, static_cast<int64_t>(limit));
  std::vector<ControlRequest> out;
  int rc = 0;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(row(s));
  if (rc != SQLITE_DONE) return db_->error("reading call control requests");
  return out;
}

Result<bool> CallControl::take(int64_t id) {
  SqliteStmt s(*db_, "UPDATE requests SET state = 'taken' WHERE id = ? AND state = 'pending'");
  s.bind(1, id);
  if (s.step() != SQLITE_DONE) return db_->error("taking a call control request");
  return db_->changes() == 1;
}

Status CallControl::answer(int64_t id, bool done, const std::string& result) {
  SqliteStmt s(*db_,
               "UPDATE requests SET state = ?, result = ?, answered_at = ? WHERE id = ? AND "
               "state = 'taken'");
  s.bind(1, std::string(done ? "done" : "refused"));
  s.bind(2, result);
  s.bind(3, now());
  s.bind(4, id);
  if (s.step() != SQLITE_DONE) return db_->error("answering a call control request");
  return ok_status();
}

Result<bool> CallControl::give_up(int64_t id, const std::string& why) {
  SqliteStmt s(*db_,
               "UPDATE requests SET state = 'refused', result = ?, answered_at = ? WHERE id = ? "
               "AND state = 'pending'");
  s.bind(1, why);
  s.bind(2, now());
  s.bind(3, id);
  if (s.step() != SQLITE_DONE) return db_->error("giving up a call control request");
  return db_->changes() == 1;
}

}  // namespace verbatim
