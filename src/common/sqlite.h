// Thin RAII helpers over the SQLite C API shared by the stores (policy, archive): an owned
// connection with exec and versioned migrations, and a prepared statement with typed binds
// and columns. Errors come back as Result, never exceptions. One thread per connection.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace verbatim {

class SqliteDb {
 public:
  // Opens or creates `path` in WAL mode with synchronous=FULL and a busy timeout.
  static Result<std::unique_ptr<SqliteDb>> open(const std::string& path);
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  sqlite3* handle() const { return db_; }
  Status exec(const char* sql);
  // Runs migrations[v..] for a database at user_version v, each with its version bump in one
  // transaction; refuses a database newer than migrations.size().
  Status migrate(std::span<const char* const> migrations, const std::string& what);
  Error error(const std::string& what) const;
  int64_t changes() const;

 private:
  static constexpr int kBusyTimeoutMs = 10000;
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  // exec, retried while the database is busy, up to kBusyTimeoutMs (sqlite.cc says why).
  Status exec_when_free(const char* sql);
  sqlite3* db_;
};

class SqliteStmt {
 public:
  SqliteStmt(const SqliteDb& db, const char* sql);
  ~SqliteStmt();
  SqliteStmt(const SqliteStmt&) = delete;
  SqliteStmt& operator=(const SqliteStmt&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  void bind(int i, const std::string& v);
  void bind(int i, int64_t v);
  void bind_real(int i, double v);
  void bind_blob(int i, std::span<const uint8_t> v);
  void bind_null(int i);
  int step();  // SQLITE_ROW, SQLITE_DONE or an error code
  void reset();
  std::string text(int i) const;
  std::vector<uint8_t> blob(int i) const;
  int64_t int64(int i) const;
  double real(int i) const;
  bool is_null(int i) const;

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

inline constexpr int kSqliteRow = 100;   // SQLITE_ROW
inline constexpr int kSqliteDone = 101;  // SQLITE_DONE
inline constexpr int kSqliteConstraint = 19;

}  // namespace verbatim
