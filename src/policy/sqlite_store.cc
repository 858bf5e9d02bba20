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
    // 2: accounts with roles (tokens belong to one: a token made before accounts existed becomes
    //    an admin account of its name, what it could do before), four-eyes approvals, and the
    //    security log.
    R"sql(
    CREATE TABLE accounts (
      name          TEXT PRIMARY KEY,
      role          TEXT NOT NULL,
      groups        TEXT NOT NULL DEFAULT '[]',
      regions       TEXT NOT NULL DEFAULT '[]',
      password_hash TEXT,
      created       TEXT NOT NULL,
      created_by    TEXT NOT NULL
    );
    INSERT INTO accounts(name, role, created, created_by)
      SELECT name, 'admin', created, 'schema migration 2' FROM api_tokens;
    ALTER TABLE api_tokens ADD COLUMN account TEXT;
    UPDATE api_tokens SET account = name;
    CREATE TABLE approvals (
      id           INTEGER PRIMARY KEY AUTOINCREMENT,
      action       TEXT NOT NULL,
      requested_by TEXT NOT NULL,
      requested_at TEXT NOT NULL,
      reason       TEXT NOT NULL DEFAULT '',
      status       TEXT NOT NULL,
      decided_by   TEXT,
      decided_at   TEXT,
      outcome      TEXT
    );
    CREATE TABLE security_log (
      seq    INTEGER PRIMARY KEY AUTOINCREMENT,
      at     TEXT NOT NULL,
      actor  TEXT NOT NULL,
      action TEXT NOT NULL,
      detail TEXT NOT NULL
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

namespace {
std::vector<std::string> strings_of(const std::string& text) {
  std::vector<std::string> out;
  auto j = json::parse(text, nullptr, false);
  if (j.is_array()) {
    for (const auto& v : j) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
  }
  return out;
}

Account account_of(const SqliteStmt& s) {
  Account a;
  a.name = s.text(0);
  a.role = role_from_name(s.text(1)).value_or(Role::kAuditor);
  a.groups = strings_of(s.text(2));
  a.regions = strings_of(s.text(3));
  a.password_hash = s.is_null(4) ? "" : s.text(4);
  a.created = s.text(5);
  a.created_by = s.text(6);
  return a;
}

Approval approval_of(const SqliteStmt& s) {
  Approval a;
  a.id = s.int64(0);
  a.action = json::parse(s.text(1), nullptr, false);
  a.requested_by = s.text(2);
  a.requested_at = s.text(3);
  a.reason = s.text(4);
  a.status = s.text(5);
  a.decided_by = s.is_null(6) ? "" : s.text(6);
  a.decided_at = s.is_null(7) ? "" : s.text(7);
  a.outcome = s.is_null(8) ? "" : s.text(8);
  return a;
}

constexpr const char* kAccountColumns =
    "name, role, groups, regions, password_hash, created, created_by";
constexpr const char* kApprovalColumns =
    "id, action, requested_by, requested_at, reason, status, decided_by, decided_at, outcome";
}  // namespace

Status SqliteStore::put_account(const Account& a) {
  SqliteStmt s(*db_,
               "INSERT OR REPLACE INTO accounts(name, role, groups, regions, password_hash, "
               "created, created_by) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  s.bind(1, a.name);
  s.bind(2, std::string(role_name(a.role)));
  s.bind(3, json(a.groups).dump());
  s.bind(4, json(a.regions).dump());
  if (a.password_hash.empty()) {
    s.bind_null(5);
  } else {
    s.bind(5, a.password_hash);
  }
  s.bind(6, a.created);
  s.bind(7, a.created_by);
  if (s.step() != kSqliteDone) return db_->error("storing the account");
  return ok_status();
}

Result<std::optional<Account>> SqliteStore::account(const std::string& name) {
  const std::string sql =
      std::string("SELECT ") + kAccountColumns + " FROM accounts WHERE name = ?1";
  SqliteStmt s(*db_, sql.c_str());
  s.bind(1, name);
  const int rc = s.step();
  if (rc == kSqliteRow) return std::optional<Account>(account_of(s));
  if (rc != kSqliteDone) return db_->error("reading the account");
  return std::optional<Account>();
}

Result<std::vector<Account>> SqliteStore::list_accounts() {
  const std::string sql = std::string("SELECT ") + kAccountColumns + " FROM accounts ORDER BY name";
  SqliteStmt s(*db_, sql.c_str());
  std::vector<Account> out;
  while (s.step() == kSqliteRow) out.push_back(account_of(s));
  return out;
}

Status SqliteStore::put_token(const ApiToken& t, const std::string& hash) {
  SqliteStmt s(*db_, "INSERT INTO api_tokens(name, hash, created, account) VALUES(?1, ?2, ?3, ?4)");
  s.bind(1, t.id);
  s.bind(2, hash);
  s.bind(3, t.created);
  s.bind(4, t.account);
  const int rc = s.step();
  if (rc == kSqliteConstraint) {
    return make_error(ErrorCode::kAlreadyExists, "a token " + t.id + " already exists");
  }
  if (rc != kSqliteDone) return db_->error("storing the token");
  return ok_status();
}

Result<std::optional<ApiToken>> SqliteStore::token_by_hash(const std::string& hash) {
  SqliteStmt s(*db_,
               "SELECT name, COALESCE(account, name), created FROM api_tokens WHERE hash = ?1");
  s.bind(1, hash);
  const int rc = s.step();
  if (rc == kSqliteRow) return std::optional<ApiToken>(ApiToken{s.text(0), s.text(1), s.text(2)});
  if (rc != kSqliteDone) return db_->error("checking the token");
  return std::optional<ApiToken>();
}

Result<std::vector<ApiToken>> SqliteStore::list_tokens() {
  SqliteStmt s(*db_,
               "SELECT name, COALESCE(account, name), created FROM api_tokens ORDER BY account, "
               "created, name");
  std::vector<ApiToken> out;
  while (s.step() == kSqliteRow) out.push_back(ApiToken{s.text(0), s.text(1), s.text(2)});
  return out;
}

Result<bool> SqliteStore::delete_token(const std::string& id) {
  SqliteStmt s(*db_, "DELETE FROM api_tokens WHERE name = ?1");
  s.bind(1, id);
  if (s.step() != kSqliteDone) return db_->error("deleting the token");
  return db_->changes() > 0;
}

Result<int64_t> SqliteStore::add_approval(const Approval& a) {
  SqliteStmt s(*db_,
               "INSERT INTO approvals(action, requested_by, requested_at, reason, status) "
               "VALUES(?1, ?2, ?3, ?4, 'pending') RETURNING id");
  s.bind(1, a.action.dump());
  s.bind(2, a.requested_by);
  s.bind(3, a.requested_at);
  s.bind(4, a.reason);
  if (s.step() != kSqliteRow) return db_->error("storing the approval request");
  return s.int64(0);
}

Result<std::optional<Approval>> SqliteStore::approval(int64_t id) {
  const std::string sql =
      std::string("SELECT ") + kApprovalColumns + " FROM approvals WHERE id = ?1";
  SqliteStmt s(*db_, sql.c_str());
  s.bind(1, id);
  const int rc = s.step();
  if (rc == kSqliteRow) return std::optional<Approval>(approval_of(s));
  if (rc != kSqliteDone) return db_->error("reading the approval request");
  return std::optional<Approval>();
}

Result<std::vector<Approval>> SqliteStore::list_approvals(bool pending_only) {
  const std::string sql = std::string("SELECT ") + kApprovalColumns + " FROM approvals" +
                          (pending_only ? " WHERE status = 'pending'" : "") + " ORDER BY id";
  SqliteStmt s(*db_, sql.c_str());
  std::vector<Approval> out;
  while (s.step() == kSqliteRow) out.push_back(approval_of(s));
  return out;
}

Status SqliteStore::decide_approval(const Approval& a) {
  SqliteStmt s(*db_,
               "UPDATE approvals SET status = ?2, decided_by = ?3, decided_at = ?4, outcome = ?5 "
               "WHERE id = ?1 AND status = 'pending'");
  s.bind(1, a.id);
  s.bind(2, a.status);
  s.bind(3, a.decided_by);
  s.bind(4, a.decided_at);
  s.bind(5, a.outcome);
  if (s.step() != kSqliteDone) return db_->error("recording the decision");
  if (db_->changes() != 1) {
    return make_error(ErrorCode::kConflict,
                      "request " + std::to_string(a.id) + " is no longer pending");
  }
  return ok_status();
}

Status SqliteStore::log_security_event(const SecurityEvent& e) {
  SqliteStmt s(*db_, "INSERT INTO security_log(at, actor, action, detail) VALUES(?1, ?2, ?3, ?4)");
  s.bind(1, e.at);
  s.bind(2, e.actor);
  s.bind(3, e.action);
  s.bind(4, e.detail.dump());
  if (s.step() != kSqliteDone) return db_->error("writing the security log");
  return ok_status();
}

Result<std::vector<SecurityEvent>> SqliteStore::security_events(int64_t after_seq, size_t limit) {
  SqliteStmt s(*db_,
               "SELECT seq, at, actor, action, detail FROM security_log WHERE seq > ?1 "
               "ORDER BY seq LIMIT ?2");
  s.bind(1, after_seq);
  s.bind(2, static_cast<int64_t>(limit));
  std::vector<SecurityEvent> out;
  while (s.step() == kSqliteRow) {
    out.push_back(
        {s.int64(0), s.text(1), s.text(2), s.text(3), json::parse(s.text(4), nullptr, false)});
  }
  return out;
}

}  // namespace verbatim::policy
