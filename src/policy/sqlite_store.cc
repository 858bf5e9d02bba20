#include "policy/sqlite_store.h"

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

std::optional<json> parse_doc(const SqliteStmt& s, int col) {
  if (s.is_null(col)) return std::nullopt;
  return json::parse(s.text(col), nullptr, false);
}

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path) {
  auto db = SqliteDb::open(path);
  if (!db) return db.error();
  std::unique_ptr<SqliteStore> store(new SqliteStore(std::move(db).value()));
  static_assert(std::size(kMigrations) == kSchemaVersion);
  VB_TRY(store->db_->migrate(kMigrations, "policy database"));
  return store;
}

Result<int64_t> SqliteStore::last_seq() {
  SqliteStmt s(*db_, "SELECT COALESCE(MAX(seq), 0) FROM audit_log");
  if (!s.ok() || s.step() != kSqliteRow) return db_->error("reading the audit log");
  return s.int64(0);
}

Result<int64_t> SqliteStore::load(PolicyState& state) {
  VB_TRY(exec("BEGIN"));
  SqliteStmt s(*db_, "SELECT kind, key, doc FROM objects ORDER BY kind, key");
  int rc;
  while ((rc = s.step()) == kSqliteRow) {
    auto kind = kind_from_name(s.text(0));
    auto doc = parse_doc(s, 2);
    if (!kind || !doc || doc->is_discarded()) {
      (void)exec("ROLLBACK");
      return make_error(ErrorCode::kIo, "corrupt object row " + s.text(0) + "/" + s.text(1));
    }
    state.apply(*kind, s.text(1), doc);
  }
  if (rc != kSqliteDone) {
    (void)exec("ROLLBACK");
    return db_->error("loading objects");
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
  SqliteStmt put(*db_,
                 "INSERT INTO objects(kind, key, doc) VALUES(?1, ?2, ?3) "
                 "ON CONFLICT(kind, key) DO UPDATE SET doc = excluded.doc");
  SqliteStmt del(*db_, "DELETE FROM objects WHERE kind = ?1 AND key = ?2");
  SqliteStmt audit(*db_,
                   "INSERT INTO audit_log(at, actor, command, kind, key, before, after) "
                   "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!put.ok() || !del.ok() || !audit.ok()) return fail(db_->error("preparing commit"));
  for (const Change& c : changes) {
    const std::string kind = kind_name(c.kind);
    SqliteStmt& w = c.after ? put : del;
    w.bind(1, kind);
    w.bind(2, c.key);
    if (c.after) w.bind(3, c.after->dump());
    if (w.step() != kSqliteDone) return fail(db_->error("writing " + kind + " " + c.key));
    w.reset();
    audit.bind(1, info.at);
    audit.bind(2, info.actor);
    audit.bind(3, c.command);
    audit.bind(4, kind);
    audit.bind(5, c.key);
    const auto before = audit_document(c.kind, c.before);
    const auto after = audit_document(c.kind, c.after);
    if (before)
      audit.bind(6, before->dump());
    else
      audit.bind_null(6);
    if (after)
      audit.bind(7, after->dump());
    else
      audit.bind_null(7);
    if (audit.step() != kSqliteDone) return fail(db_->error("writing the audit log"));
    audit.reset();
  }
  auto after = last_seq();
  if (!after) return fail(after.error());
  if (auto st = exec("COMMIT"); !st) return fail(st.error());
  return after.value();
}

Result<std::vector<AuditEntry>> SqliteStore::audit_since(int64_t after_seq, size_t limit) {
  SqliteStmt s(*db_,
               "SELECT seq, at, actor, command, kind, key, before, after FROM audit_log "
               "WHERE seq > ?1 ORDER BY seq LIMIT ?2");
  s.bind(1, after_seq);
  s.bind(2, static_cast<int64_t>(limit));
  std::vector<AuditEntry> out;
  int rc;
  while ((rc = s.step()) == kSqliteRow) {
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
  if (rc != kSqliteDone) return db_->error("reading the audit log");
  return out;
}

Result<std::optional<json>> SqliteStore::object(Kind kind, const std::string& key) {
  SqliteStmt s(*db_, "SELECT doc FROM objects WHERE kind = ?1 AND key = ?2");
  s.bind(1, std::string(kind_name(kind)));
  s.bind(2, key);
  const int rc = s.step();
  if (rc == kSqliteDone) return std::optional<json>();
  if (rc != kSqliteRow) return db_->error("reading " + std::string(kind_name(kind)) + " " + key);
  auto doc = parse_doc(s, 0);
  if (!doc || doc->is_discarded()) {
    return make_error(ErrorCode::kIo,
                      "corrupt object row " + std::string(kind_name(kind)) + "/" + key);
  }
  return doc;
}

Status SqliteStore::put_token(const std::string& name, const std::string& hash,
                              const std::string& created) {
  SqliteStmt s(*db_, "INSERT INTO api_tokens(name, hash, created) VALUES(?1, ?2, ?3)");
  s.bind(1, name);
  s.bind(2, hash);
  s.bind(3, created);
  const int rc = s.step();
  if (rc == kSqliteConstraint) {
    return make_error(ErrorCode::kAlreadyExists, "a token named '" + name + "' already exists");
  }
  if (rc != kSqliteDone) return db_->error("storing the token");
  return ok_status();
}

Result<std::optional<std::string>> SqliteStore::token_name(const std::string& hash) {
  SqliteStmt s(*db_, "SELECT name FROM api_tokens WHERE hash = ?1");
  s.bind(1, hash);
  const int rc = s.step();
  if (rc == kSqliteRow) return std::optional<std::string>(s.text(0));
  if (rc != kSqliteDone) return db_->error("checking the token");
  return std::optional<std::string>();
}

Result<std::vector<ApiToken>> SqliteStore::list_tokens() {
  SqliteStmt s(*db_, "SELECT name, created FROM api_tokens ORDER BY name");
  std::vector<ApiToken> out;
  while (s.step() == kSqliteRow) out.push_back(ApiToken{s.text(0), s.text(1)});
  return out;
}

Result<bool> SqliteStore::delete_token(const std::string& name) {
  SqliteStmt s(*db_, "DELETE FROM api_tokens WHERE name = ?1");
  s.bind(1, name);
  if (s.step() != kSqliteDone) return db_->error("deleting the token");
  return db_->changes() > 0;
}

}  // namespace verbatim::policy
