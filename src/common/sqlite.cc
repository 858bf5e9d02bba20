#include "common/sqlite.h"

#include <sqlite3.h>

#include <chrono>
#include <thread>

static_assert(verbatim::kSqliteRow == SQLITE_ROW && verbatim::kSqliteDone == SQLITE_DONE &&
              verbatim::kSqliteConstraint == SQLITE_CONSTRAINT);

namespace verbatim {

Result<std::unique_ptr<SqliteDb>> SqliteDb::open(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return make_error(ErrorCode::kIo, "cannot open " + path + ": " + msg);
  }
  std::unique_ptr<SqliteDb> out(new SqliteDb(db));
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  VB_TRY(out->exec_when_free(
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
  return out;
}

// SQLite does not call the busy handler everywhere: while another connection turns a new file
// into WAL or initialises its shared-memory index, a statement fails at once with SQLITE_BUSY
// (or SQLITE_LOCKED) instead of waiting. Two roles opening a database that does not exist yet
// at the same moment (the gateway's call-record writer and its reconciler) met exactly that, so
// the statements that set a connection up are retried until the busy timeout has passed.
Status SqliteDb::exec_when_free(const char* sql) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(kBusyTimeoutMs);
  for (auto pause = std::chrono::milliseconds(2);;
       pause = std::min(pause * 2, std::chrono::milliseconds(50))) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
    if (rc == SQLITE_OK) return ok_status();
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    const int primary = rc & 0xff;
    if ((primary != SQLITE_BUSY && primary != SQLITE_LOCKED) ||
        std::chrono::steady_clock::now() >= give_up) {
      return make_error(ErrorCode::kIo, "sqlite: " + msg);
    }
    if (sqlite3_get_autocommit(db_) == 0)
      (void)sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    std::this_thread::sleep_for(pause);
  }
}

// close_v2: if a statement outlives its connection, the close completes when it is finalized
// instead of leaking the connection.
SqliteDb::~SqliteDb() { sqlite3_close_v2(db_); }

Error SqliteDb::error(const std::string& what) const {
  return make_error(ErrorCode::kIo, what + ": " + sqlite3_errmsg(db_));
}

int64_t SqliteDb::changes() const { return sqlite3_changes(db_); }

Status SqliteDb::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return make_error(ErrorCode::kIo, "sqlite: " + msg);
  }
  return ok_status();
}

Status SqliteDb::migrate(std::span<const char* const> migrations, const std::string& what) {
  const int count = static_cast<int>(migrations.size());
  VB_TRY(exec_when_free("BEGIN IMMEDIATE"));
  int version = 0;
  {
    SqliteStmt v(*this, "PRAGMA user_version");
    if (v.step() == SQLITE_ROW) version = static_cast<int>(v.int64(0));
  }
  if (version > count) {
    (void)exec("ROLLBACK");
    return make_error(ErrorCode::kFailedPrecondition,
                      "the " + what + " has schema version " + std::to_string(version) +
                          ", newer than this binary supports (" + std::to_string(count) +
                          "); upgrade verbatim");
  }
  for (; version < count; ++version) {
    const std::string bump = "PRAGMA user_version=" + std::to_string(version + 1);
    if (auto st = exec(migrations[static_cast<size_t>(version)]); !st) {
      (void)exec("ROLLBACK");
      return st;
    }
    if (auto st = exec(bump.c_str()); !st) {
      (void)exec("ROLLBACK");
      return st;
    }
  }
  return exec("COMMIT");
}

SqliteStmt::SqliteStmt(const SqliteDb& db, const char* sql) {
  if (sqlite3_prepare_v2(db.handle(), sql, -1, &stmt_, nullptr) != SQLITE_OK) {
    sqlite3_finalize(stmt_);
    stmt_ = nullptr;
  }
}

SqliteStmt::~SqliteStmt() { sqlite3_finalize(stmt_); }

void SqliteStmt::bind(int i, const std::string& v) {
  sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}
void SqliteStmt::bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
void SqliteStmt::bind_real(int i, double v) { sqlite3_bind_double(stmt_, i, v); }
void SqliteStmt::bind_blob(int i, std::span<const uint8_t> v) {
  sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}
void SqliteStmt::bind_null(int i) { sqlite3_bind_null(stmt_, i); }
int SqliteStmt::step() { return stmt_ ? sqlite3_step(stmt_) : SQLITE_MISUSE; }
void SqliteStmt::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}
std::string SqliteStmt::text(int i) const {
  const auto* p = sqlite3_column_text(stmt_, i);
  return p ? std::string(reinterpret_cast<const char*>(p)) : std::string();
}
std::vector<uint8_t> SqliteStmt::blob(int i) const {
  const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, i));
  const int n = sqlite3_column_bytes(stmt_, i);
  return p ? std::vector<uint8_t>(p, p + n) : std::vector<uint8_t>();
}
int64_t SqliteStmt::int64(int i) const { return sqlite3_column_int64(stmt_, i); }
double SqliteStmt::real(int i) const { return sqlite3_column_double(stmt_, i); }
bool SqliteStmt::is_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }

}  // namespace verbatim
