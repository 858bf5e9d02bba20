#include "jobs/queue.h"

#include <sqlite3.h>

#include <array>
#include <cmath>

namespace verbatim::jobs {

namespace {

constexpr size_t kMaxSpans = 100;

constexpr std::array<const char*, 2> kMigrations = {
    R"sql(
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  recording TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('waiting', 'pending', 'running', 'done', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  result TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  not_before TEXT NOT NULL DEFAULT '',
  UNIQUE (kind, recording)
);
CREATE INDEX jobs_by_state ON jobs (kind, state, id);
)sql",
    R"sql(
CREATE TABLE redactions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  recording TEXT NOT NULL,
  spans TEXT NOT NULL,
  fill TEXT NOT NULL CHECK (fill IN ('silence', 'tone')),
  reason TEXT NOT NULL,
  requested_by TEXT NOT NULL,
  requested_at TEXT NOT NULL
);
CREATE INDEX redactions_by_recording ON redactions (recording, id);
)sql"};

constexpr const char* kColumns =
    "id, kind, recording, state, attempts, error, result, created_at, updated_at, not_before";

Job row(const SqliteStmt& s) {
  Job j;
  j.id = s.int64(0);
  j.kind = s.text(1);
  j.recording = s.text(2);
  j.state = s.text(3);
  j.attempts = static_cast<int>(s.int64(4));
  j.error = s.text(5);
  j.result = s.text(6);
  j.created_at = s.text(7);
  j.updated_at = s.text(8);
  j.not_before = s.text(9);
  return j;
}

}  // namespace

Result<std::unique_ptr<JobQueue>> JobQueue::open(const std::string& path, const Clock& clock) {
  auto db = SqliteDb::open(path);
  if (!db) return db.error();
  VB_TRY(db.value()->migrate(kMigrations, "job queue " + path));
  return std::unique_ptr<JobQueue>(new JobQueue(std::move(db).value(), clock));
}

Result<int64_t> JobQueue::recover() {
  std::lock_guard lock(mutex_);
  {  // A job the process died in every time it ran (a poison job) is not run again.
    SqliteStmt f(*db_,
                 "UPDATE jobs SET state = 'failed', updated_at = ?1, error = 'the process stopped "
                 "during each of its ' || attempts || ' attempts' "
                 "WHERE state = 'running' AND attempts >= ?2");
    f.bind(1, now());
    f.bind(2, int64_t{max_attempts});
    if (f.step() != kSqliteDone) return db_->error("recovering jobs");
  }
  SqliteStmt s(*db_,
               "UPDATE jobs SET state = 'pending', updated_at = ?1 "
               "WHERE state IN ('running', 'waiting')");
  s.bind(1, now());
  if (s.step() != kSqliteDone) return db_->error("recovering jobs");
  return db_->changes();
}

Status JobQueue::add(const std::string& kind, const std::string& recording, bool ready) {
  std::lock_guard lock(mutex_);
  SqliteStmt s(*db_,
               "INSERT INTO jobs (kind, recording, state, created_at, updated_at) "
               "VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (kind, recording) DO NOTHING");
  s.bind(1, kind);
  s.bind(2, recording);
  s.bind(3, std::string(ready ? "pending" : "waiting"));
  s.bind(4, now());
  if (s.step() != kSqliteDone) return db_->error("adding a " + kind + " job");
  return ok_status();
}

Status JobQueue::ready(const std::string& kind, const std::string& recording) {
  std::lock_guard lock(mutex_);
  SqliteStmt s(*db_,
               "UPDATE jobs SET state = 'pending', updated_at = ?3 "
               "WHERE kind = ?1 AND recording = ?2 AND state = 'waiting'");
  s.bind(1, kind);
  s.bind(2, recording);
  s.bind(3, now());
  if (s.step() != kSqliteDone) return db_->error("releasing a " + kind + " job");
  return ok_status();
}

Result<std::optional<Job>> JobQueue::claim(const std::string& kind) {
  std::lock_guard lock(mutex_);
  const std::string t = now();
  std::optional<Job> job;
  {
    SqliteStmt s(*db_, (std::string("SELECT ") + kColumns +
                        " FROM jobs WHERE kind = ?1 AND state = 'pending' AND not_before <= ?2 "
                        "ORDER BY id LIMIT 1")
                           .c_str());
    s.bind(1, kind);
    s.bind(2, t);
    const int rc = s.step();
    if (rc == kSqliteRow) {
      job = row(s);
    } else if (rc != kSqliteDone) {
      return db_->error("claiming a job");
    }
  }
  if (!job) return job;
  SqliteStmt u(*db_,
               "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_at = ?2 "
               "WHERE id = ?1 AND state = 'pending'");
  u.bind(1, job->id);
  u.bind(2, t);
  if (u.step() != kSqliteDone) return db_->error("claiming a job");
  job->state = "running";
  ++job->attempts;
  job->updated_at = t;
  return job;
}

Status JobQueue::done(int64_t id, const std::string& result) {
  std::lock_guard lock(mutex_);
  SqliteStmt s(*db_,
               "UPDATE jobs SET state = 'done', result = ?2, error = '', updated_at = ?3 "
               "WHERE id = ?1");
  s.bind(1, id);
  s.bind(2, result);
  s.bind(3, now());
  if (s.step() != kSqliteDone) return db_->error("finishing a job");
  return ok_status();
}

Status JobQueue::retry(int64_t id, const std::string& error, std::chrono::seconds delay) {
  std::lock_guard lock(mutex_);
  SqliteStmt s(*db_,
               "UPDATE jobs SET state = CASE WHEN attempts >= ?4 THEN 'failed' ELSE 'pending' END, "
               "error = ?2, updated_at = ?3, not_before = ?5 WHERE id = ?1");
  s.bind(1, id);
  s.bind(2, error);
  s.bind(3, now());
  s.bind(4, int64_t{max_attempts});
  s.bind(5, format_iso8601_ms(clock_.now() + delay));
  if (s.step() != kSqliteDone) return db_->error("returning a job");
  return ok_status();
}

Result<std::vector<Job>> JobQueue::list(const std::string& state) {
  std::lock_guard lock(mutex_);
  SqliteStmt s(*db_, (std::string("SELECT ") + kColumns +
                      " FROM jobs WHERE ?1 = '' OR state = ?1 ORDER BY id")
                         .c_str());
  s.bind(1, state);
  std::vector<Job> out;
  int rc;
  while ((rc = s.step()) == kSqliteRow) out.push_back(row(s));
  if (rc != kSqliteDone) return db_->error("listing jobs");
  return out;
}

Result<std::vector<std::pair<std::string, int64_t>>> JobQueue::counts() {
  std::lock_guard lock(mutex_);
  SqliteStmt s(*db_, "SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state");
  std::vector<std::pair<std::string, int64_t>> out;
  int rc;
  while ((rc = s.step()) == kSqliteRow) out.emplace_back(s.text(0), s.int64(1));
  if (rc != kSqliteDone) return db_->error("counting jobs");
  return out;
}

Result<int64_t> JobQueue::add_redaction(const Redaction& r) {
  std::lock_guard lock(mutex_);
  VB_TRY(db_->exec("BEGIN IMMEDIATE"));
  auto fail = [&](const char* what) {
    Error e = db_->error(what);
    (void)db_->exec("ROLLBACK");
    return e;
  };
  const std::string t = now();
  SqliteStmt s(*db_,
               "INSERT INTO redactions (recording, spans, fill, reason, requested_by, "
               "requested_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  s.bind(1, r.recording);
  s.bind(2, r.spans);
  s.bind(3, r.fill);
  s.bind(4, r.reason);
  s.bind(5, r.requested_by);
  s.bind(6, t);
  if (s.step() != kSqliteDone) return fail("adding a redaction");
  const int64_t id = sqlite3_last_insert_rowid(db_->handle());
  SqliteStmt j(*db_,
               "INSERT INTO jobs (kind, recording, state, created_at, updated_at) "
               "VALUES (?1, ?2, 'pending', ?3, ?3)");
  j.bind(1, std::string(kRedactJob));
  j.bind(2, redaction_subject(r.recording, id));
  j.bind(3, t);
  if (j.step() != kSqliteDone) return fail("adding a redaction job");
  VB_TRY(db_->exec("COMMIT"));
  return id;
}

Result<std::vector<Redaction>> JobQueue::select_redactions(const char* where,
                                                           const std::string& arg) {
  std::lock_guard lock(mutex_);
  SqliteStmt s(*db_, (std::string("SELECT r.id, r.recording, r.spans, r.fill, r.reason, "
                                  "r.requested_by, r.requested_at, j.id, j.kind, j.recording, "
                                  "j.state, j.attempts, j.error, j.result, j.created_at, "
                                  "j.updated_at, j.not_before FROM redactions r LEFT JOIN jobs j "
                                  "ON j.kind = 'redact' AND j.recording = r.recording || '/' || "
                                  "r.id WHERE ") +
                      where + " ORDER BY r.id")
                         .c_str());
  s.bind(1, arg);
  std::vector<Redaction> out;
  int rc;
  while ((rc = s.step()) == kSqliteRow) {
    Redaction r;
    r.id = s.int64(0);
    r.recording = s.text(1);
    r.spans = s.text(2);
    r.fill = s.text(3);
    r.reason = s.text(4);
    r.requested_by = s.text(5);
    r.requested_at = s.text(6);
    r.job.id = s.int64(7);
    r.job.kind = s.text(8);
    r.job.recording = s.text(9);
    r.job.state = s.text(10);
    r.job.attempts = static_cast<int>(s.int64(11));
    r.job.error = s.text(12);
    r.job.result = s.text(13);
    r.job.created_at = s.text(14);
    r.job.updated_at = s.text(15);
    r.job.not_before = s.text(16);
    out.push_back(std::move(r));
  }
  if (rc != kSqliteDone) return db_->error("listing redactions");
  return out;
}

Result<std::vector<Redaction>> JobQueue::redactions(const std::string& recording) {
  return select_redactions("r.recording = ?1", recording);
}

Result<std::optional<Redaction>> JobQueue::redaction(int64_t id) {
  auto found = select_redactions("r.id = CAST(?1 AS INTEGER)", std::to_string(id));
  if (!found) return found.error();
  if (found.value().empty()) return std::optional<Redaction>();
  return std::optional<Redaction>(std::move(found.value().front()));
}

Status check_redaction_spans(const nlohmann::json& spans) {
  if (!spans.is_array() || spans.empty() || spans.size() > kMaxSpans) {
    return make_error(ErrorCode::kInvalidArgument,
                      "spans: a list of 1 to " + std::to_string(kMaxSpans) +
                          " {\"start\": seconds, \"end\": seconds} is needed");
  }
  for (const auto& s : spans) {
    if (!s.is_object() || !s.contains("start") || !s.contains("end") || !s["start"].is_number() ||
        !s["end"].is_number()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "spans: each needs numeric \"start\" and \"end\" (seconds from the "
                        "recording's start)");
    }
    const double a = s["start"].get<double>(), b = s["end"].get<double>();
    if (!std::isfinite(a) || !std::isfinite(b) || a < 0 || b <= a || b > 7 * 24 * 3600.0) {
      return make_error(ErrorCode::kInvalidArgument,
                        "spans: " + s.dump() + " is not 0 <= start < end");
    }
    if (s.contains("participant") &&
        (!s["participant"].is_string() || s["participant"].get<std::string>().empty())) {
      return make_error(ErrorCode::kInvalidArgument,
                        "spans: \"participant\" names a participant (id, address or name)");
    }
  }
  return ok_status();
}

bool redaction_concerns(const nlohmann::json& span, const nlohmann::json& file) {
  if (!span.contains("participant")) return true;
  const std::string who = span["participant"].get<std::string>();
  auto listed = [&](const char* key) {
    if (!file.contains(key) || !file[key].is_array()) return false;
    for (const auto& v : file[key]) {
      if (v.is_string() && (v.get<std::string>() == who || v.get<std::string>() == "sip:" + who))
        return true;
    }
    return false;
  };
  return listed("participants") || listed("aors") || file.value("name", "") == who ||
         file.value("object", "") == who;
}

}  // namespace verbatim::jobs
