#include "reconcile/missed_store.h"

#include <sqlite3.h>

#include <filesystem>

#include "common/call_records.h"
#include "common/clock.h"
#include "common/strings.h"

namespace verbatim::reconcile {

namespace {

using nlohmann::json;

constexpr const char* kMigrations[] = {
    // 1: one row per missed recording (call, party, application); the reconciler's position.
    R"sql(
    CREATE TABLE missed (
      id          INTEGER PRIMARY KEY AUTOINCREMENT,
      call_id     TEXT NOT NULL,
      party       TEXT NOT NULL,
      application TEXT NOT NULL,
      policy      TEXT NOT NULL,
      status      TEXT NOT NULL,   -- not recorded | incomplete media
      call_start  TEXT NOT NULL,   -- ISO 8601
      call_start_ms INTEGER NOT NULL,
      parties     TEXT NOT NULL,   -- lower case: each party's address, user, number and name
      alert       TEXT NOT NULL,   -- the alert's JSON (Alert::to_json, without delivery state)
      detected_at TEXT NOT NULL,
      webhook     TEXT NOT NULL,   -- none | pending | delivered | failed
      attempts    INTEGER NOT NULL DEFAULT 0,
      next_attempt_ms INTEGER,
      last_error  TEXT,
      UNIQUE (call_id, party, application)
    );
    CREATE INDEX missed_by_start ON missed(call_start_ms);
    CREATE INDEX missed_due ON missed(next_attempt_ms) WHERE webhook = 'pending';
    CREATE TABLE reconcile_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    )sql",
    // 2: per day, the recordings expected and missed (the dashboard's trend). Counted from this
    // version on: the days before it have alerts but no count of what was expected.
    R"sql(
    CREATE TABLE daily (day TEXT PRIMARY KEY, expected INTEGER NOT NULL, missed INTEGER NOT NULL);
    )sql",
};

constexpr const char* kColumns = "id, alert, webhook, attempts, COALESCE(last_error, '')";

Alert alert_of_row(const SqliteStmt& s) {
  const json j = json::parse(s.text(1), nullptr, false);
  Alert a;
  if (j.is_object()) {
    a.call_id = member_text(j, "callId");
    a.party = member_text(j, "party");
    a.application = member_text(j, "application");
    if (const auto ids = j.find("applicationIds"); ids != j.end() && ids->is_array()) {
      for (const auto& id : *ids) {
        if (id.is_string()) a.application_ids.push_back(id.get<std::string>());
      }
    }
    a.policy = member_text(j, "policy");
    a.status = member_text(j, "status");
    a.reason = member_text(j, "reason");
    a.call_start = member_text(j, "callStart");
    a.call_end = member_text(j, "callEnd");
    a.detected_at = member_text(j, "detectedAt");
    a.caller = j.value("caller", json());
    a.callee = j.value("callee", json());
    if (const auto r = j.find("recordings"); r != j.end() && r->is_array()) {
      for (const auto& id : *r) {
        if (id.is_string()) a.recordings.push_back(id.get<std::string>());
      }
    }
  }
  a.id = s.int64(0);
  a.webhook = s.text(2);
  a.attempts = static_cast<int>(s.int64(3));
  a.last_error = s.text(4);
  return a;
}

Result<std::vector<Alert>> collect(SqliteStmt& s, SqliteDb& db) {
  std::vector<Alert> out;
  int rc;
  while ((rc = s.step()) == kSqliteRow) out.push_back(alert_of_row(s));
  if (rc != kSqliteDone) return db.error("reading missed recordings");
  return out;
}

}  // namespace

Alert Alert::of(const Expectation& e, const Finding& f, const json& record,
                const std::string& detected_at) {
  Alert a;
  a.call_id = e.call_id;
  a.party = e.party;
  a.application = e.application;
  a.application_ids = e.application_ids;
  a.policy = e.policy;
  a.status = f.status;
  a.reason = f.reason;
  a.call_start = member_text(record, "start");
  a.call_end = member_text(record, "end");
  a.detected_at = detected_at;
  a.caller = record.value("caller", json());
  a.callee = record.value("callee", json());
  a.recordings = f.recordings;
  return a;
}

json Alert::to_json() const {
  json j = {{"type", "missedRecording"}, {"status", status},        {"reason", reason},
            {"callId", call_id},         {"party", party},          {"application", application},
            {"policy", policy},          {"callStart", call_start}, {"callEnd", call_end},
            {"detectedAt", detected_at}, {"recordings", recordings}};
  if (!application_ids.empty()) j["applicationIds"] = application_ids;
  if (!caller.is_null()) j["caller"] = caller;
  if (!callee.is_null()) j["callee"] = callee;
  if (id) j["id"] = id;
  return j;
}

std::string Alert::line() const {
  std::string out = call_start + "  " + status + "  " + party + "  " + application + "  call " +
                    call_id + "\n    " + reason;
  if (!recordings.empty()) out += "\n    recordings: " + join(recordings, ", ");
  if (webhook != "none") {
    out += "\n    webhook: " + webhook + " after " + std::to_string(attempts) + " attempt(s)";
    if (!last_error.empty() && webhook != "delivered") out += " (" + last_error + ")";
  }
  return out;
}

Result<std::unique_ptr<MissedStore>> MissedStore::open(const std::string& path) {
  auto db = SqliteDb::open(path);
  if (!db) return db.error();
  VB_TRY(db.value()->migrate(kMigrations, "the missed-recordings store " + path));
  return std::unique_ptr<MissedStore>(new MissedStore(std::move(db).value()));
}

Result<std::unique_ptr<MissedStore>> MissedStore::open_existing(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::unique_ptr<MissedStore>();
  return open(path);
}

Result<int64_t> MissedStore::position() {
  SqliteStmt s(*db_, "SELECT value FROM reconcile_state WHERE key = 'calls_through'");
  const int rc = s.step();
  if (rc == kSqliteRow) return std::strtoll(s.text(0).c_str(), nullptr, 10);
  if (rc != kSqliteDone) return db_->error("reading the reconciler's position");
  return int64_t{0};
}

Result<std::vector<Alert>> MissedStore::record(std::vector<Alert> alerts, int64_t through,
                                               bool webhook, const std::vector<DayCount>& days) {
  VB_TRY(db_->exec("BEGIN IMMEDIATE"));
  auto fail = [&](const std::string& what) {
    Error e = db_->error(what);
    (void)db_->exec("ROLLBACK");
    return e;
  };
  std::vector<Alert> stored;
  for (auto& a : alerts) {
    a.webhook = webhook ? "pending" : "none";
    SqliteStmt s(*db_,
                 "INSERT OR IGNORE INTO missed(call_id, party, application, policy, status, "
                 "call_start, call_start_ms, parties, alert, detected_at, webhook, "
                 "next_attempt_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
    s.bind(1, a.call_id);
    s.bind(2, a.party);
    s.bind(3, a.application);
    s.bind(4, a.policy);
    s.bind(5, a.status);
    s.bind(6, a.call_start);
    s.bind(7, iso_millis(a.call_start).value_or(0));
    s.bind(8, party_text({{"caller", a.caller}, {"callee", a.callee}}));
    s.bind(9, a.to_json().dump());
    s.bind(10, a.detected_at);
    s.bind(11, a.webhook);
    s.bind(12, iso_millis(a.detected_at).value_or(0));
    if (s.step() != kSqliteDone) return fail("storing a missed recording");
    if (db_->changes() == 0) continue;  // found before (a restart between finding and moving on)
    a.id = sqlite3_last_insert_rowid(db_->handle());
    stored.push_back(a);
  }
  for (const auto& d : days) {
    SqliteStmt s(*db_,
                 "INSERT INTO daily(day, expected, missed) VALUES(?1, ?2, ?3) ON CONFLICT(day) DO "
                 "UPDATE SET expected = expected + excluded.expected, "
                 "missed = missed + excluded.missed");
    s.bind(1, d.day);
    s.bind(2, d.expected);
    s.bind(3, d.missed);
    if (s.step() != kSqliteDone) return fail("counting a day's recordings");
  }
  SqliteStmt p(*db_,
               "INSERT INTO reconcile_state(key, value) VALUES('calls_through', ?1) "
               "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  p.bind(1, std::to_string(through));
  if (p.step() != kSqliteDone) return fail("storing the reconciler's position");
  VB_TRY(db_->exec("COMMIT"));
  if (!stored.empty()) ++writes_;
  return stored;
}

Result<std::vector<DayCount>> MissedStore::daily(const std::string& since) {
  SqliteStmt s(*db_, "SELECT day, expected, missed FROM daily WHERE day >= ?1 ORDER BY day");
  s.bind(1, since);
  std::vector<DayCount> out;
  int rc = 0;
  while ((rc = s.step()) == kSqliteRow) out.push_back({s.text(0), s.int64(1), s.int64(2)});
  if (rc != kSqliteDone) return db_->error("reading the daily counts");
  return out;
}

Result<std::vector<Alert>> MissedStore::list(const MissedQuery& q) {
  std::string sql = std::string("SELECT ") + kColumns + " FROM missed WHERE 1";
  std::vector<std::pair<int, std::string>> texts;
  std::vector<std::pair<int, int64_t>> numbers;
  int n = 0;
  auto text_arg = [&](const char* cond, const std::string& v) {
    sql += std::string(" AND ") + cond + " ?" + std::to_string(++n);
    texts.emplace_back(n, v);
  };
  auto number_arg = [&](const char* cond, int64_t v) {
    sql += std::string(" AND ") + cond + " ?" + std::to_string(++n);
    numbers.emplace_back(n, v);
  };
  if (!q.party.empty()) {
    sql += " AND parties LIKE ?" + std::to_string(++n) + " ESCAPE '\\'";
    texts.emplace_back(n, like_pattern(q.party));
  }
  if (!q.status.empty() && q.status != "missed") text_arg("status =", q.status);
  if (q.from_ms) number_arg("call_start_ms >=", *q.from_ms);
  if (q.to_ms) number_arg("call_start_ms <", *q.to_ms);
  if (!q.call_id.empty()) text_arg("call_id =", q.call_id);
  if (!q.application.empty()) {  // its name, or one of its ids (alerts stored before: the name)
    const std::string at = "?" + std::to_string(++n);
    sql += " AND (application = " + at +
           " OR EXISTS (SELECT 1 FROM json_each(alert, '$.applicationIds') WHERE value = " + at +
           "))";
    texts.emplace_back(n, q.application);
  }
  if (!q.policy.empty()) text_arg("policy =", q.policy);
  if (q.before_id > 0) number_arg("id <", q.before_id);
  sql += " ORDER BY id DESC LIMIT ?" + std::to_string(++n);
  numbers.emplace_back(n, static_cast<int64_t>(q.limit));
  SqliteStmt s(*db_, sql.c_str());
  for (const auto& [i, v] : texts) s.bind(i, v);
  for (const auto& [i, v] : numbers) s.bind(i, v);
  return collect(s, *db_);
}

Result<std::vector<Alert>> MissedStore::due(int64_t now_ms, size_t limit) {
  SqliteStmt s(*db_, (std::string("SELECT ") + kColumns +
                      " FROM missed WHERE webhook = 'pending' AND next_attempt_ms <= ?1 "
                      "ORDER BY next_attempt_ms, id LIMIT ?2")
                         .c_str());
  s.bind(1, now_ms);
  s.bind(2, static_cast<int64_t>(limit));
  return collect(s, *db_);
}

Status MissedStore::attempted(int64_t id, bool delivered, const std::string& error,
                              std::optional<int64_t> retry_ms) {
  SqliteStmt s(*db_,
               "UPDATE missed SET webhook = ?2, attempts = attempts + 1, next_attempt_ms = ?3, "
               "last_error = ?4 WHERE id = ?1");
  s.bind(1, id);
  s.bind(2, std::string(delivered ? "delivered" : retry_ms ? "pending" : "failed"));
  if (retry_ms && !delivered) {
    s.bind(3, *retry_ms);
  } else {
    s.bind_null(3);
  }
  if (error.empty()) {
    s.bind_null(4);
  } else {
    s.bind(4, error);
  }
  if (s.step() != kSqliteDone) return db_->error("storing a webhook delivery");
  ++writes_;
  return ok_status();
}

Result<MissedStore::Totals> MissedStore::totals() {
  SqliteStmt s(*db_,
               "SELECT COUNT(*), COALESCE(SUM(status = 'not recorded'), 0), "
               "COALESCE(SUM(status = 'incomplete media'), 0), "
               "COALESCE(SUM(webhook = 'pending'), 0), COALESCE(SUM(webhook = 'failed'), 0) "
               "FROM missed");
  if (s.step() != kSqliteRow) return db_->error("counting missed recordings");
  return Totals{s.int64(0), s.int64(1), s.int64(2), s.int64(3), s.int64(4)};
}

}  // namespace verbatim::reconcile
