#include "policy/sqlite_store.h"

#include <sqlite3.h>

namespace verbatim::policy {

using nlohmann::json;

namespace {

// Migrations in order; index i brings the schema from version i to i+1. Never edit one
// that has shipped: append a new one.
constexpr const char* kMigrations[] = {
    // 1: objects as JSON documents keyed by kind and key, the audit log, API tokens.
    R"sql(
    CREATE TABLE objects (
      kind TEXT NOT NULL,
      key  TEXT NOT NULL,
      doc  TEXT NOT NULL,
      PRIMARY KEY (kind, key)
    ) WITHOUT ROWID;
    CREATE TABLE audit_log (
      seq     INTEGER PRIMARY KEY AUTOINCREMENT,
      at      TEXT NOT NULL,
      actor   TEXT NOT NULL,
      command TEXT NOT NULL,
      kind    TEXT NOT NULL,
      key     TEXT NOT NULL,
      before  TEXT,
      after   TEXT
    );
    CREATE TABLE api_tokens (
      name    TEXT PRIMARY KEY,
      hash    TEXT NOT NULL UNIQUE,
      created TEXT NOT NULL
    );
    )sql",
};

// RAII prepared statement.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  void bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void bind(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }
  void bind_null(int i) { sqlite3_bind_null(s_, i); }
  int step() { return sqlite3_step(s_); }
  void reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  std::string text(int i) const {
    const auto* p = sqlite3_column_text(s_, i);
    return p ? std::string(reinterpret_cast<const char*>(p)) : std::string();
  }
  bool is_null(int i) const { return sqlite3_column_type(s_, i) == SQLITE_NULL; }
  int64_t int64(int i) const { return sqlite3_column_int64(s_, i); }

 private:
  sqlite3_stmt* s_ = nullptr;
  int rc_;
};

std::optional<json> parse_doc(const Stmt& s, int col) {
  if (s.is_null(col)) return std::nullopt;
  return json::parse(s.text(col), nullptr, false);
}

}  // namespace

Error SqliteStore::db_error(const std::string& what) const {
  return make_error(ErrorCode::kIo, what + ": " + sqlite3_errmsg(db_));
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return make_error(ErrorCode::kIo, "cannot open " + path + ": " + msg);
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(db));
  sqlite3_busy_timeout(db, 10000);
  VB_TRY(store->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
  VB_TRY(store->migrate());
  return store;
}

SqliteStore::~SqliteStore() { sqlite3_close(db_); }

Status SqliteStore::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return make_error(ErrorCode::kIo, "sqlite: " + msg);
  }
  return ok_status();
}

Status SqliteStore::migrate() {
  constexpr int kCount = static_cast<int>(std::size(kMigrations));
  static_assert(kCount == kSchemaVersion);
  VB_TRY(exec("BEGIN IMMEDIATE"));
  Stmt v(db_, "PRAGMA user_version");
  int version = v.step() == SQLITE_ROW ? static_cast<int>(v.int64(0)) : 0;
  if (version > kCount) {
    (void)exec("ROLLBACK");
    return make_error(ErrorCode::kFailedPrecondition,
                      "the policy database has schema version " + std::to_string(version) +
                          ", newer than this binary supports (" + std::to_string(kCount) +
                          "); upgrade verbatim");
  }
  for (; version < kCount; ++version) {
    if (auto st = exec(kMigrations[version]); !st) {
      (void)exec("ROLLBACK");
      return st;
    }
    const std::string set = "PRAGMA user_version=" + std::to_string(version + 1);
    if (auto st = exec(set.c_str()); !st) {
      (void)exec("ROLLBACK");
      return st;
    }
  }
  return exec("COMMIT");
}

Result<int64_t> SqliteStore::last_seq() {
  Stmt s(db_, "SELECT COALESCE(MAX(seq), 0) FROM audit_log");
  if (!s.ok() || s.step() != SQLITE_ROW) return db_error("reading the audit log");
  return s.int64(0);
}

Result<int64_t> SqliteStore::load(PolicyState& state) {
  VB_TRY(exec("BEGIN"));
  Stmt s(db_, "SELECT kind, key, doc FROM objects ORDER BY kind, key");
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    auto kind = kind_from_name(s.text(0));
    auto doc = parse_doc(s, 2);
    if (!kind || !doc || doc->is_discarded()) {
      (void)exec("ROLLBACK");
      return make_error(ErrorCode::kIo, "corrupt object row " + s.text(0) + "/" + s.text(1));
    }
    state.apply(*kind, s.text(1), doc);
  }
  if (rc != SQLITE_DONE) {
    (void)exec("ROLLBACK");
    return db_error("loading objects");
  }
  auto seq = last_seq();
  (void)exec("COMMIT");
  return seq;
}

Result<int64_t> SqliteStore::commit(const std::vector<Change>& changes, const CommitInfo& info,
                                    int64_t expected_seq) {
  VB_TRY(exec("BEGIN IMMEDIATE"));
  auto fail = [&](Error e) -> Result<int64_t> {
    (void)exec("ROLLBACK");
    return e;
  };
  auto seq = last_seq();
  if (!seq) return fail(seq.error());
  if (seq.value() != expected_seq) {
    return fail(make_error(ErrorCode::kConflict,
                           "another administrator changed the configuration meanwhile; "
                           "nothing was changed, run the command again"));
  }
  Stmt put(db_,
           "INSERT INTO objects(kind, key, doc) VALUES(?1, ?2, ?3) "
           "ON CONFLICT(kind, key) DO UPDATE SET doc = excluded.doc");
  Stmt del(db_, "DELETE FROM objects WHERE kind = ?1 AND key = ?2");
  Stmt audit(db_,
             "INSERT INTO audit_log(at, actor, command, kind, key, before, after) "
             "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!put.ok() || !del.ok() || !audit.ok()) return fail(db_error("preparing commit"));
  for (const Change& c : changes) {
    const std::string kind = kind_name(c.kind);
    Stmt& w = c.after ? put : del;
    w.bind(1, kind);
    w.bind(2, c.key);
    if (c.after) w.bind(3, c.after->dump());
    if (w.step() != SQLITE_DONE) return fail(db_error("writing " + kind + " " + c.key));
    w.reset();
    audit.bind(1, info.at);
    audit.bind(2, info.actor);
    audit.bind(3, c.command);
    audit.bind(4, kind);
    audit.bind(5, c.key);
    if (c.before)
      audit.bind(6, c.before->dump());
    else
      audit.bind_null(6);
    if (c.after)
      audit.bind(7, c.after->dump());
    else
      audit.bind_null(7);
    if (audit.step() != SQLITE_DONE) return fail(db_error("writing the audit log"));
    audit.reset();
  }
  auto after = last_seq();
  if (!after) return fail(after.error());
  if (auto st = exec("COMMIT"); !st) return fail(st.error());
  return after.value();
}

Result<std::vector<AuditEntry>> SqliteStore::audit_since(int64_t after_seq, size_t limit) {
  Stmt s(db_,
         "SELECT seq, at, actor, command, kind, key, before, after FROM audit_log "
         "WHERE seq > ?1 ORDER BY seq LIMIT ?2");
  s.bind(1, after_seq);
  s.bind(2, static_cast<int64_t>(limit));
  std::vector<AuditEntry> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    AuditEntry e;
    e.seq = s.int64(0);
    e.at = s.text(1);
    e.actor = s.text(2);
    e.command = s.text(3);
    auto kind = kind_from_name(s.text(4));
    if (!kind) return make_error(ErrorCode::kIo, "corrupt audit row " + std::to_string(e.seq));
    e.kind = *kind;
    e.key = s.text(5);
    e.before = parse_doc(s, 6);
    e.after = parse_doc(s, 7);
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return db_error("reading the audit log");
  return out;
}

Status SqliteStore::put_token(const std::string& name, const std::string& hash,
                              const std::string& created) {
  Stmt s(db_, "INSERT INTO api_tokens(name, hash, created) VALUES(?1, ?2, ?3)");
  s.bind(1, name);
  s.bind(2, hash);
  s.bind(3, created);
  const int rc = s.step();
  if (rc == SQLITE_CONSTRAINT) {
    return make_error(ErrorCode::kAlreadyExists, "a token named '" + name + "' already exists");
  }
  if (rc != SQLITE_DONE) return db_error("storing the token");
  return ok_status();
}

Result<std::optional<std::string>> SqliteStore::token_name(const std::string& hash) {
  Stmt s(db_, "SELECT name FROM api_tokens WHERE hash = ?1");
  s.bind(1, hash);
  const int rc = s.step();
  if (rc == SQLITE_ROW) return std::optional<std::string>(s.text(0));
  if (rc != SQLITE_DONE) return db_error("checking the token");
  return std::optional<std::string>();
}

Result<std::vector<ApiToken>> SqliteStore::list_tokens() {
  Stmt s(db_, "SELECT name, created FROM api_tokens ORDER BY name");
  std::vector<ApiToken> out;
  while (s.step() == SQLITE_ROW) out.push_back(ApiToken{s.text(0), s.text(1)});
  return out;
}

Result<bool> SqliteStore::delete_token(const std::string& name) {
  Stmt s(db_, "DELETE FROM api_tokens WHERE name = ?1");
  s.bind(1, name);
  if (s.step() != SQLITE_DONE) return db_error("deleting the token");
  return sqlite3_changes(db_) > 0;
}

}  // namespace verbatim::policy
