// Cases: what a compliance officer investigates. A case is a saved query (the search API's
// parameters) plus recordings added by hand, with an access list (the accounts besides its
// owner that may see it). A legal hold on a case holds each of its recordings in the archive
// under the case's name (Archive::set_hold), and recordings that join a held case are held too;
// releasing it is a four-eyes request (adminapi). Export jobs write one offline-verifiable
// package of all its recordings. Annotations (notes at a time of a recording) are kept here too.
// Each step is in the case's history here and in the archive's
// ledger (case.* entries, and the archive's own hold.*, access.export and access.key entries).
// Stored in <data_dir>/cases.db (SQLite, WAL), opened per request by the API; any thread, one
// object per thread.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "common/sqlite.h"

namespace verbatim::cases {

struct Case {
  std::string name;  // its id: 1-64 of [A-Za-z0-9._-], starting with a letter or digit
  std::string description;
  std::map<std::string, std::string> query;  // search parameters; empty: members only
  std::vector<std::string> members;          // recordings added by hand
  std::vector<std::string> access;           // accounts besides the owner
  std::string owner;                         // "api:<account>"
  std::string created_at;
  bool held = false;
  std::vector<std::string> held_recordings;  // what the hold covers in the archive now
  nlohmann::json to_json() const;
  bool visible_to(const std::string& account) const;  // owner or on the access list
};

struct Event {
  int64_t seq = 0;
  std::string at, actor, action;  // created, updated, hold, release-requested, released, export
  nlohmann::json detail;
  nlohmann::json to_json() const;
};

struct ExportJob {
  int64_t id = 0;
  std::string case_name;
  std::string state = "queued";  // queued | running | done | failed
  int64_t done = 0, total = 0;   // recordings
  std::string file;              // the package (tar), once done
  std::string error;
  std::string requested_by, requested_at, finished_at;
  nlohmann::json to_json() const;  // without the file's path
};

Status check_case_name(std::string_view name);

// A note an officer anchored at a time of a recording ("said the account number here"). Kept
// as written, never changed or removed; its text is in the archive's ledger too
// (access.annotation), so what was noted, by whom and when is tamper-evident.
struct Annotation {
  int64_t id = 0;
  std::string recording;
  double at_seconds = 0;  // on the playback files' timeline
  std::string text;
  std::string author;
  std::string created;
  nlohmann::json to_json() const;
};

class CaseStore {
 public:
  static Result<std::unique_ptr<CaseStore>> open(const std::string& path);

  // Refuses a name in use (kAlreadyExists).
  Status create(const Case& c);
  Result<std::optional<Case>> get(const std::string& name);
  Result<std::vector<Case>> list();
  Status update(const Case& c);

  Status log(const std::string& name, const std::string& actor, const std::string& action,
             const nlohmann::json& detail);
  Result<std::vector<Event>> history(const std::string& name);

  Result<int64_t> add_export(const ExportJob& job);
  Status update_export(const ExportJob& job);
  Result<std::optional<ExportJob>> export_job(int64_t id);
  Result<std::vector<ExportJob>> exports(const std::string& name);

  Result<int64_t> add_annotation(const Annotation& a);
  // A recording's annotations in time order.
  Result<std::vector<Annotation>> annotations(const std::string& recording);

 private:
  explicit CaseStore(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}
  std::unique_ptr<SqliteDb> db_;
};

}  // namespace verbatim::cases
