// Saved searches: a search (search/search.h's parameters, a keyword list among them) that runs on
// a schedule over what arrived since it last ran, and alerts on each new hit. Kept in
// <data_dir>/searches.db (SQLite, WAL): the CLI and the REST API save and list them while the
// runner (watcher.h) writes the hits.
//
// "New" means a recording created since the search last ran, or one whose transcript was indexed
// since (so a keyword list catches a call when its words become searchable, minutes after the
// call). A search saved now alerts on what arrives from now on, never on the archive's past. Each
// recording alerts once per search. A hit keeps its webhook delivery state, as a missed
// recording's does.
// One connection per thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "common/sqlite.h"
#include "search/search.h"

namespace verbatim::saved {

struct SavedSearch {
  int64_t id = 0;
  std::string name;
  std::map<std::string, std::string> params;  // as query_from_params takes them
  int64_t every_s = 300;
  std::string webhook;  // empty: none (the hits are listed and logged)
  std::string owner;    // who saved it; its runs are logged as "saved-search:NAME"
  std::vector<std::string> scope_groups, scope_regions;  // the owner's scope
  std::string created_at, last_run_at;
  int64_t next_run_ms = 0;
  int64_t serial_mark = 0, utterance_mark = 0;  // what was looked at

  // Its query: the parameters, checked, with the owner's scope.
  Result<search::Query> query() const;
  nlohmann::json to_json() const;
};

struct SavedHit {
  int64_t id = 0;
  std::string search;  // the saved search's name
  std::string recording_id, found_at;
  nlohmann::json hit;  // search::hit_json of the recording, with "search" and "type"
  std::string webhook = "none";
  int attempts = 0;
  std::string last_error;
  nlohmann::json to_json() const;
};

class SavedSearches {
 public:
  static Result<std::unique_ptr<SavedSearches>> open(const std::string& path);
  // For readers: nullptr when no search was ever saved here.
  static Result<std::unique_ptr<SavedSearches>> open_existing(const std::string& path);

  // Saves (or replaces, keeping its hits) the search named s.name; its marks and first run are
  // set by the caller (the archive's current serial and utterance, now). kInvalidArgument for a
  // bad name, parameters, interval or webhook.
  Status save(const SavedSearch& s);
  Status remove(const std::string& name);  // kNotFound when there is none
  Result<std::vector<SavedSearch>> list();
  Result<std::vector<SavedSearch>> due(int64_t now_ms);
  // A run's outcome: the hits found (each stored once), the new marks and the next run, in one
  // transaction; returns the hits stored now.
  Result<std::vector<SavedHit>> ran(const SavedSearch& s, std::vector<SavedHit> hits,
                                    int64_t serial_mark, int64_t utterance_mark,
                                    const std::string& at, int64_t next_run_ms);
  // Newest first; `name` empty: every search's.
  Result<std::vector<SavedHit>> hits(const std::string& name, size_t limit);
  Result<std::vector<SavedHit>> deliveries_due(int64_t now_ms, size_t limit);
  Status attempted(int64_t hit_id, bool delivered, const std::string& error,
                   std::optional<int64_t> retry_ms);

 private:
  explicit SavedSearches(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}
  std::unique_ptr<SqliteDb> db_;
};

// The archive's newest recording serial and newest indexed utterance: where a search saved now
// starts looking.
Result<std::pair<int64_t, int64_t>> archive_marks(SqliteDb& catalog);

}  // namespace verbatim::saved
