#include "cases/cases.h"

#include <algorithm>

namespace verbatim::cases {

using nlohmann::json;

namespace {

constexpr const char* kMigrations[] = {
    // 1: cases (their definition as JSON), their history, their export jobs.
    R"sql(
    CREATE TABLE cases (
      name       TEXT PRIMARY KEY,
      definition TEXT NOT NULL,   -- JSON: description, query, members, access, owner, hold
      created_at TEXT NOT NULL
    );
    CREATE TABLE case_history (
      seq       INTEGER PRIMARY KEY AUTOINCREMENT,
      case_name TEXT NOT NULL,
      at        TEXT NOT NULL,
      actor     TEXT NOT NULL,
      action    TEXT NOT NULL,
      detail    TEXT NOT NULL
    );
    CREATE INDEX case_history_by_case ON case_history(case_name, seq);
    CREATE TABLE case_exports (
      id           INTEGER PRIMARY KEY AUTOINCREMENT,
      case_name    TEXT NOT NULL,
      job          TEXT NOT NULL  -- JSON: state, done, total, file, error, who, when
    );
    CREATE INDEX case_exports_by_case ON case_exports(case_name, id);
    )sql",
    // 2: annotations: notes anchored at a time of a recording (never changed or removed).
    R"sql(
    CREATE TABLE annotations (
      id         INTEGER PRIMARY KEY AUTOINCREMENT,
      recording  TEXT NOT NULL,
      at_seconds REAL NOT NULL,
      text       TEXT NOT NULL,
      author     TEXT NOT NULL,
      created_at TEXT NOT NULL
    );
    CREATE INDEX annotations_by_recording ON annotations(recording, at_seconds, id);
    )sql",
};

std::vector<std::string> strings(const json& j, const char* key) {
  std::vector<std::string> out;
  if (j.contains(key) && j[key].is_array()) {
    for (const auto& v : j[key]) {
      if (v.is_string()) out.push_back(v);
    }
  }
  return out;
}

json definition(const Case& c) {
  return {{"description", c.description},
          {"query", c.query},
          {"members", c.members},
          {"access", c.access},
          {"owner", c.owner},
          {"held", c.held},
          {"heldRecordings", c.held_recordings}};
}

Case from_row(const std::string& name, const std::string& text, const std::string& created) {
  const json d = json::parse(text, nullptr, false);
  Case c;
  c.name = name;
  c.created_at = created;
  if (!d.is_object()) return c;
  c.description = d.value("description", "");
  if (d.contains("query") && d["query"].is_object()) {
    for (const auto& [k, v] : d["query"].items()) {
      if (v.is_string()) c.query[k] = v;
    }
  }
  c.members = strings(d, "members");
  c.access = strings(d, "access");
  c.owner = d.value("owner", "");
  c.held = d.value("held", false);
  c.held_recordings = strings(d, "heldRecordings");
  return c;
}

json job_json(const ExportJob& j) {
  return {{"state", j.state},
          {"done", j.done},
          {"total", j.total},
          {"file", j.file},
          {"error", j.error},
          {"requestedBy", j.requested_by},
          {"requestedAt", j.requested_at},
          {"finishedAt", j.finished_at}};
}

ExportJob job_from(int64_t id, const std::string& name, const std::string& text) {
  const json d = json::parse(text, nullptr, false);
  ExportJob j;
  j.id = id;
  j.case_name = name;
  if (!d.is_object()) return j;
  j.state = d.value("state", "");
  j.done = d.value("done", int64_t{0});
  j.total = d.value("total", int64_t{0});
  j.file = d.value("file", "");
  j.error = d.value("error", "");
  j.requested_by = d.value("requestedBy", "");
  j.requested_at = d.value("requestedAt", "");
  j.finished_at = d.value("finishedAt", "");
  return j;
}

}  // namespace

json Case::to_json() const {
  json j = definition(*this);
  j["name"] = name;
  j["created"] = created_at;
  return j;
}

bool Case::visible_to(const std::string& account) const {
  return owner == "api:" + account ||
         std::find(access.begin(), access.end(), account) != access.end();
}

json Event::to_json() const {
  return {{"seq", seq}, {"at", at}, {"actor", actor}, {"action", action}, {"detail", detail}};
}

json ExportJob::to_json() const {
  json j = job_json(*this);
  j.erase("file");
  j["id"] = id;
  j["case"] = case_name;
  return j;
}

Status check_case_name(std::string_view name) {
  const bool ok =
      !name.empty() && name.size() <= 64 && std::isalnum(static_cast<uint8_t>(name[0])) &&
      std::all_of(name.begin(), name.end(), [](char ch) {
        return std::isalnum(static_cast<uint8_t>(ch)) || ch == '.' || ch == '_' || ch == '-';
      });
  if (ok) return ok_status();
  return make_error(ErrorCode::kInvalidArgument,
                    "a case name is 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit");
}

Result<std::unique_ptr<CaseStore>> CaseStore::open(const std::string& path) {
  auto db = SqliteDb::open(path);
  if (!db) return db.error();
  VB_TRY(db.value()->migrate(kMigrations, "the cases " + path));
  return std::unique_ptr<CaseStore>(new CaseStore(std::move(db).value()));
}

Status CaseStore::create(const Case& c) {
  VB_TRY(check_case_name(c.name));
  SqliteStmt s(*db_, "INSERT INTO cases (name, definition, created_at) VALUES (?1, ?2, ?3)");
  s.bind(1, c.name);
  s.bind(2, definition(c).dump());
  s.bind(3, c.created_at);
  const int rc = s.step();
  if (rc == kSqliteConstraint) {
    return make_error(ErrorCode::kAlreadyExists, "there is already a case named '" + c.name + "'");
  }
  if (rc != kSqliteDone) return db_->error("add case " + c.name);
  return ok_status();
}

Result<std::optional<Case>> CaseStore::get(const std::string& name) {
  SqliteStmt s(*db_, "SELECT name, definition, created_at FROM cases WHERE name = ?1");
  s.bind(1, name);
  const int rc = s.step();
  if (rc == kSqliteDone) return std::optional<Case>();
  if (rc != kSqliteRow) return db_->error("read case " + name);
  return std::optional<Case>(from_row(s.text(0), s.text(1), s.text(2)));
}

Result<std::vector<Case>> CaseStore::list() {
  SqliteStmt s(*db_, "SELECT name, definition, created_at FROM cases ORDER BY created_at, name");
  std::vector<Case> out;
  int rc = 0;
  while ((rc = s.step()) == kSqliteRow) out.push_back(from_row(s.text(0), s.text(1), s.text(2)));
  if (rc != kSqliteDone) return db_->error("list cases");
  return out;
}

Status CaseStore::update(const Case& c) {
  SqliteStmt s(*db_, "UPDATE cases SET definition = ?2 WHERE name = ?1");
  s.bind(1, c.name);
  s.bind(2, definition(c).dump());
  if (s.step() != kSqliteDone) return db_->error("update case " + c.name);
  if (db_->changes() == 0) return make_error(ErrorCode::kNotFound, "no case " + c.name);
  return ok_status();
}

Status CaseStore::log(const std::string& name, const std::string& actor, const std::string& action,
                      const json& detail) {
  SqliteStmt s(*db_,
               "INSERT INTO case_history (case_name, at, actor, action, detail) "
               "VALUES (?1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?2, ?3, ?4)");
  s.bind(1, name);
  s.bind(2, actor);
  s.bind(3, action);
  s.bind(4, detail.dump());
  if (s.step() != kSqliteDone) return db_->error("case history of " + name);
  return ok_status();
}

Result<std::vector<Event>> CaseStore::history(const std::string& name) {
  SqliteStmt s(*db_,
               "SELECT seq, at, actor, action, detail FROM case_history WHERE case_name = ?1 "
               "ORDER BY seq");
  s.bind(1, name);
  std::vector<Event> out;
  int rc = 0;
  while ((rc = s.step()) == kSqliteRow) {
    out.push_back(
        {s.int64(0), s.text(1), s.text(2), s.text(3), json::parse(s.text(4), nullptr, false)});
  }
  if (rc != kSqliteDone) return db_->error("case history of " + name);
  return out;
}

Result<int64_t> CaseStore::add_export(const ExportJob& job) {
  SqliteStmt s(*db_, "INSERT INTO case_exports (case_name, job) VALUES (?1, ?2)");
  s.bind(1, job.case_name);
  s.bind(2, job_json(job).dump());
  if (s.step() != kSqliteDone) return db_->error("export job of " + job.case_name);
  SqliteStmt id(*db_, "SELECT last_insert_rowid()");
  id.step();
  return id.int64(0);
}

Status CaseStore::update_export(const ExportJob& job) {
  SqliteStmt s(*db_, "UPDATE case_exports SET job = ?2 WHERE id = ?1");
  s.bind(1, job.id);
  s.bind(2, job_json(job).dump());
  if (s.step() != kSqliteDone) return db_->error("export job " + std::to_string(job.id));
  return ok_status();
}

Result<std::optional<ExportJob>> CaseStore::export_job(int64_t id) {
  SqliteStmt s(*db_, "SELECT id, case_name, job FROM case_exports WHERE id = ?1");
  s.bind(1, id);
  const int rc = s.step();
  if (rc == kSqliteDone) return std::optional<ExportJob>();
  if (rc != kSqliteRow) return db_->error("export job " + std::to_string(id));
  return std::optional<ExportJob>(job_from(s.int64(0), s.text(1), s.text(2)));
}

Result<std::vector<ExportJob>> CaseStore::exports(const std::string& name) {
  SqliteStmt s(*db_,
               "SELECT id, case_name, job FROM case_exports WHERE case_name = ?1 ORDER BY id");
  s.bind(1, name);
  std::vector<ExportJob> out;
  int rc = 0;
  while ((rc = s.step()) == kSqliteRow) out.push_back(job_from(s.int64(0), s.text(1), s.text(2)));
  if (rc != kSqliteDone) return db_->error("export jobs of " + name);
  return out;
}

json Annotation::to_json() const {
  return {{"id", id},     {"recording", recording}, {"atSeconds", at_seconds},
          {"text", text}, {"author", author},       {"created", created}};
}

Result<int64_t> CaseStore::add_annotation(const Annotation& a) {
  SqliteStmt s(*db_,
               "INSERT INTO annotations (recording, at_seconds, text, author, created_at) "
               "VALUES (?1, ?2, ?3, ?4, ?5)");
  s.bind(1, a.recording);
  s.bind_real(2, a.at_seconds);
  s.bind(3, a.text);
  s.bind(4, a.author);
  s.bind(5, a.created);
  if (s.step() != kSqliteDone) return db_->error("annotation of " + a.recording);
  SqliteStmt id(*db_, "SELECT last_insert_rowid()");
  id.step();
  return id.int64(0);
}

Result<std::vector<Annotation>> CaseStore::annotations(const std::string& recording) {
  SqliteStmt s(*db_,
               "SELECT id, recording, at_seconds, text, author, created_at FROM annotations "
               "WHERE recording = ?1 ORDER BY at_seconds, id");
  s.bind(1, recording);
  std::vector<Annotation> out;
  int rc = 0;
  while ((rc = s.step()) == kSqliteRow) {
    out.push_back({s.int64(0), s.text(1), s.real(2), s.text(3), s.text(4), s.text(5)});
  }
  if (rc != kSqliteDone) return db_->error("annotations of " + recording);
  return out;
}

}  // namespace verbatim::cases
