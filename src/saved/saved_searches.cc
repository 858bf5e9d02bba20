#include "saved/saved_searches.h"

#include <sqlite3.h>

#include <filesystem>

#include "common/webhook.h"

namespace verbatim::saved {

namespace {

using nlohmann::json;

constexpr const char* kMigrations[] = {
    // 1: the saved searches, and each recording each one found.
    R"sql(
    CREATE TABLE saved_searches (
      id             INTEGER PRIMARY KEY AUTOINCREMENT,
      name           TEXT NOT NULL UNIQUE,
      definition     TEXT NOT NULL,    -- JSON: params, every, webhook, owner, scope
      created_at     TEXT NOT NULL,
      next_run_ms    INTEGER NOT NULL,
      last_run_at    TEXT,
      serial_mark    INTEGER NOT NULL, -- recordings up to this serial were looked at
      utterance_mark INTEGER NOT NULL  -- transcripts' utterances up to this row were looked at
    );
    CREATE TABLE saved_search_hits (
      id              INTEGER PRIMARY KEY AUTOINCREMENT,
      search_id       INTEGER NOT NULL,
      recording_id    TEXT NOT NULL,
      hit             TEXT NOT NULL,   -- JSON: what the webhook gets
      found_at        TEXT NOT NULL,
      webhook         TEXT NOT NULL,   -- none | pending | delivered | failed
      attempts        INTEGER NOT NULL DEFAULT 0,
      next_attempt_ms INTEGER,
      last_error      TEXT,
      UNIQUE (search_id, recording_id)
    );
    CREATE INDEX saved_hits_due ON saved_search_hits(next_attempt_ms) WHERE webhook = 'pending';
    )sql",
};

Status invalid(const std::string& why) {
  return make_error(ErrorCode::kInvalidArgument, "saved search: " + why);
}

constexpr const char* kSearchColumns =
    "id, name, definition, created_at, next_run_ms, COALESCE(last_run_at, ''), serial_mark, "
    "utterance_mark";

SavedSearch search_of_row(const SqliteStmt& s) {
  SavedSearch out;
  out.id = s.int64(0);
  out.name = s.text(1);
  const json d = json::parse(s.text(2), nullptr, false);
  if (d.is_object()) {
    if (const auto p = d.find("params"); p != d.end() && p->is_object()) {
      for (const auto& [k, v] : p->items()) {
        if (v.is_string()) out.params[k] = v.get<std::string>();
      }
    }
    out.every_s = d.value("everySeconds", int64_t{300});
    out.webhook = d.value("webhook", "");
    out.owner = d.value("owner", "");
    out.scope_groups = d.value("scopeGroups", std::vector<std::string>{});
    out.scope_regions = d.value("scopeRegions", std::vector<std::string>{});
  }
  out.created_at = s.text(3);
  out.next_run_ms = s.int64(4);
  out.last_run_at = s.text(5);
  out.serial_mark = s.int64(6);
  out.utterance_mark = s.int64(7);
  return out;
}

constexpr const char* kHitColumns =
    "h.id, s.name, h.recording_id, h.hit, h.found_at, h.webhook, h.attempts, "
    "COALESCE(h.last_error, '')";

Result<std::vector<SavedHit>> hits_of(SqliteStmt& s, SqliteDb& db) {
  std::vector<SavedHit> out;
  int rc;
  while ((rc = s.step()) == kSqliteRow) {
    SavedHit h;
    h.id = s.int64(0);
    h.search = s.text(1);
    h.recording_id = s.text(2);
    h.hit = json::parse(s.text(3), nullptr, false);
    h.found_at = s.text(4);
    h.webhook = s.text(5);
    h.attempts = static_cast<int>(s.int64(6));
    h.last_error = s.text(7);
    out.push_back(std::move(h));
  }
  if (rc != kSqliteDone) return db.error("reading saved-search hits");
  return out;
}

Result<std::vector<SavedSearch>> searches_of(SqliteStmt& s, SqliteDb& db) {
  std::vector<SavedSearch> out;
  int rc;
  while ((rc = s.step()) == kSqliteRow) out.push_back(search_of_row(s));
  if (rc != kSqliteDone) return db.error("reading saved searches");
  return out;
}

}  // namespace

Result<search::Query> SavedSearch::query() const {
  auto q = search::query_from_params(params);
  if (!q) return q.error();
  q.value().scope_groups = scope_groups;
  q.value().scope_regions = scope_regions;
  return q;
}

json SavedSearch::to_json() const {
  json j = {{"name", name},
            {"params", params},
            {"everySeconds", every_s},
            {"webhook", webhook},
            {"owner", owner},
            {"createdAt", created_at},
            {"lastRunAt", last_run_at.empty() ? json() : json(last_run_at)}};
  if (!scope_groups.empty() || !scope_regions.empty()) {
    j["scope"] = {{"groups", scope_groups}, {"regions", scope_regions}};
  }
  return j;
}

json SavedHit::to_json() const {
  json j = hit;  // its "id" is the recording's
  j["hitId"] = id;
  j["foundAt"] = found_at;
  j["webhook"] = webhook;
  j["attempts"] = attempts;
  if (!last_error.empty()) j["lastError"] = last_error;
  return j;
}

Result<std::unique_ptr<SavedSearches>> SavedSearches::open(const std::string& path) {
  auto db = SqliteDb::open(path);
  if (!db) return db.error();
  VB_TRY(db.value()->migrate(kMigrations, "the saved searches " + path));
  return std::unique_ptr<SavedSearches>(new SavedSearches(std::move(db).value()));
}

Result<std::unique_ptr<SavedSearches>> SavedSearches::open_existing(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::unique_ptr<SavedSearches>();
  return open(path);
}

Status SavedSearches::save(const SavedSearch& s) {
  if (s.name.empty() || s.name.size() > 64 ||
      s.name.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _.-") !=
          std::string::npos) {
    return invalid("name it with 1 to 64 letters, digits, spaces, '_', '.' or '-'");
  }
  if (s.every_s < 1 || s.every_s > int64_t{7} * 86400) {
    return invalid("run it every 1 s to 7 days");
  }
  for (const char* k : {"cursor", "limit"}) {
    if (s.params.count(k)) return invalid(std::string(k) + ": not for a saved search");
  }
  if (s.params.empty()) return invalid("give at least one filter");
  auto q = s.query();
  if (!q) return invalid(q.error().message);
  if (search::is_missed_status(q.value().status)) {
    return invalid("status '" + q.value().status +
                   "': missed recordings alert by themselves (docs/gateway.md)");
  }
  if (!s.webhook.empty()) {
    if (auto u = parse_webhook_url(s.webhook); !u) return invalid(u.error().message);
  }
  const json definition = {
      {"params", s.params}, {"everySeconds", s.every_s},     {"webhook", s.webhook},
      {"owner", s.owner},   {"scopeGroups", s.scope_groups}, {"scopeRegions", s.scope_regions}};
  SqliteStmt st(*db_,
                "INSERT INTO saved_searches(name, definition, created_at, next_run_ms, "
                "serial_mark, utterance_mark) VALUES(?1, ?2, ?3, ?4, ?5, ?6) "
                "ON CONFLICT(name) DO UPDATE SET definition = excluded.definition, "
                "next_run_ms = excluded.next_run_ms");
  st.bind(1, s.name);
  st.bind(2, definition.dump());
  st.bind(3, s.created_at);
  st.bind(4, s.next_run_ms);
  st.bind(5, s.serial_mark);
  st.bind(6, s.utterance_mark);
  if (st.step() != kSqliteDone) return db_->error("saving the search " + s.name);
  return ok_status();
}

Status SavedSearches::remove(const std::string& name) {
  VB_TRY(db_->exec("BEGIN IMMEDIATE"));
  SqliteStmt h(*db_,
               "DELETE FROM saved_search_hits WHERE search_id = "
               "(SELECT id FROM saved_searches WHERE name = ?1)");
  h.bind(1, name);
  SqliteStmt s(*db_, "DELETE FROM saved_searches WHERE name = ?1");
  s.bind(1, name);
  if (h.step() != kSqliteDone || s.step() != kSqliteDone) {
    Error e = db_->error("removing the saved search " + name);
    (void)db_->exec("ROLLBACK");
    return e;
  }
  const bool gone = db_->changes() > 0;
  VB_TRY(db_->exec("COMMIT"));
  if (!gone) return make_error(ErrorCode::kNotFound, "no saved search named '" + name + "'");
  return ok_status();
}

Result<std::vector<SavedSearch>> SavedSearches::list() {
  SqliteStmt s(
      *db_,
      (std::string("SELECT ") + kSearchColumns + " FROM saved_searches ORDER BY name").c_str());
  return searches_of(s, *db_);
}

Result<std::vector<SavedSearch>> SavedSearches::due(int64_t now_ms) {
  SqliteStmt s(*db_, (std::string("SELECT ") + kSearchColumns +
                      " FROM saved_searches WHERE next_run_ms <= ?1 ORDER BY next_run_ms")
                         .c_str());
  s.bind(1, now_ms);
  return searches_of(s, *db_);
}

Result<std::vector<SavedHit>> SavedSearches::ran(const SavedSearch& search,
                                                 std::vector<SavedHit> hits, int64_t serial_mark,
                                                 int64_t utterance_mark, const std::string& at,
                                                 int64_t next_run_ms) {
  VB_TRY(db_->exec("BEGIN IMMEDIATE"));
  auto fail = [&](const std::string& what) {
    Error e = db_->error(what);
    (void)db_->exec("ROLLBACK");
    return e;
  };
  std::vector<SavedHit> stored;
  for (auto& h : hits) {
    h.webhook = search.webhook.empty() ? "none" : "pending";
    SqliteStmt s(*db_,
                 "INSERT OR IGNORE INTO saved_search_hits(search_id, recording_id, hit, found_at, "
                 "webhook, next_attempt_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    s.bind(1, search.id);
    s.bind(2, h.recording_id);
    s.bind(3, h.hit.dump());
    s.bind(4, at);
    s.bind(5, h.webhook);
    s.bind(6, next_run_ms - search.every_s * 1000);  // due at once
    if (s.step() != kSqliteDone) return fail("storing a saved-search hit");
    if (db_->changes() == 0) continue;
    h.id = sqlite3_last_insert_rowid(db_->handle());
    h.found_at = at;
    stored.push_back(h);
  }
  SqliteStmt u(*db_,
               "UPDATE saved_searches SET serial_mark = ?2, utterance_mark = ?3, last_run_at = ?4, "
               "next_run_ms = ?5 WHERE id = ?1");
  u.bind(1, search.id);
  u.bind(2, serial_mark);
  u.bind(3, utterance_mark);
  u.bind(4, at);
  u.bind(5, next_run_ms);
  if (u.step() != kSqliteDone) return fail("storing a saved search's run");
  VB_TRY(db_->exec("COMMIT"));
  return stored;
}

Result<std::vector<SavedHit>> SavedSearches::hits(const std::string& name, size_t limit) {
  SqliteStmt s(*db_, (std::string("SELECT ") + kHitColumns +
                      " FROM saved_search_hits h JOIN saved_searches s ON s.id = h.search_id "
                      "WHERE ?1 = '' OR s.name = ?1 ORDER BY h.id DESC LIMIT ?2")
                         .c_str());
  s.bind(1, name);
  s.bind(2, static_cast<int64_t>(limit));
  return hits_of(s, *db_);
}

Result<std::vector<SavedHit>> SavedSearches::deliveries_due(int64_t now_ms, size_t limit) {
  SqliteStmt s(*db_, (std::string("SELECT ") + kHitColumns +
                      " FROM saved_search_hits h JOIN saved_searches s ON s.id = h.search_id "
                      "WHERE h.webhook = 'pending' AND h.next_attempt_ms <= ?1 "
                      "ORDER BY h.next_attempt_ms, h.id LIMIT ?2")
                         .c_str());
  s.bind(1, now_ms);
  s.bind(2, static_cast<int64_t>(limit));
  return hits_of(s, *db_);
}

Status SavedSearches::attempted(int64_t hit_id, bool delivered, const std::string& error,
                                std::optional<int64_t> retry_ms) {
  SqliteStmt s(*db_,
               "UPDATE saved_search_hits SET webhook = ?2, attempts = attempts + 1, "
               "next_attempt_ms = ?3, last_error = NULLIF(?4, '') WHERE id = ?1");
  s.bind(1, hit_id);
  s.bind(2, std::string(delivered ? "delivered" : retry_ms ? "pending" : "failed"));
  if (retry_ms && !delivered) {
    s.bind(3, *retry_ms);
  } else {
    s.bind_null(3);
  }
  s.bind(4, error);
  if (s.step() != kSqliteDone) return db_->error("storing a webhook delivery");
  return ok_status();
}

Result<std::pair<int64_t, int64_t>> archive_marks(SqliteDb& catalog) {
  SqliteStmt s(catalog,
               "SELECT (SELECT COALESCE(MAX(serial), 0) FROM recordings), "
               "(SELECT COALESCE(MAX(id), 0) FROM search_utterances)");
  if (s.step() != kSqliteRow) return catalog.error("reading the archive's newest recording");
  return std::make_pair(s.int64(0), s.int64(1));
}

}  // namespace verbatim::saved
