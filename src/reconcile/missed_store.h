// The missed recordings the reconciler found, and how far it got: <data_dir>/missed.db (SQLite,
// WAL: `verbatim calls missed`, `verbatim search --status "not recorded"` and the REST API read it
// while the gateway's reconciler writes). One row per call, party and application, never two:
// a finding is stored once with the reconciler's new position, in one transaction, so a restart
// neither repeats nor skips an alert. Each alert carries its webhook delivery state (pending,
// delivered, failed) so that retries survive a restart too.
// One connection per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "common/sqlite.h"
#include "reconcile/expectations.h"

namespace verbatim::reconcile {

struct Alert {
  int64_t id = 0;
  std::string call_id, party, application, policy, status, reason;
  // The recorder application's ids (the recordings' `application`): `application` is its name.
  std::vector<std::string> application_ids;
  std::string call_start, call_end, detected_at;  // ISO 8601
  nlohmann::json caller, callee;                  // as the call record names them
  std::vector<std::string> recordings;
  std::string webhook = "none";  // none | pending | delivered | failed
  int attempts = 0;
  std::string last_error;

  static Alert of(const Expectation& e, const Finding& f, const nlohmann::json& record,
                  const std::string& detected_at);
  // What the webhook receives and the JSON listings print.
  nlohmann::json to_json() const;
  // One line for the CLI.
  std::string line() const;
};

struct MissedQuery {
  std::string party;   // a substring of either party's address, number or name (any case)
  std::string status;  // "" | missed (either) | not recorded | incomplete media
  std::optional<int64_t> from_ms, to_ms;  // the call started in [from, to)
  std::string call_id, policy;
  std::string application;  // the application's name or one of its ids (as recordings are searched)
  int64_t before_id = 0;    // the page after the alert numbered so (0: the first page)
  size_t limit = 100;
};

// One day's reconciliation (the UTC day the calls started): how many recordings the policies
// expected (call, party, application) and how many of them were missed.
struct DayCount {
  std::string day;  // YYYY-MM-DD
  int64_t expected = 0, missed = 0;
};

class MissedStore {
 public:
  static Result<std::unique_ptr<MissedStore>> open(const std::string& path);
  // For readers: nullptr when the reconciler has never run here.
  static Result<std::unique_ptr<MissedStore>> open_existing(const std::string& path);

  // The last call record reconciled (CallRecords::calls_after's numbering); 0 at first.
  Result<int64_t> position();
  // Stores `alerts` (the webhook pending when `webhook`), adds `days` to the daily counts and
  // moves the position to `through`, in one transaction (a restart neither repeats nor skips a
  // call); an alert stored before for the same call, party and application is left as it is.
  // The alerts get their ids; returns those stored now.
  Result<std::vector<Alert>> record(std::vector<Alert> alerts, int64_t through, bool webhook,
                                    const std::vector<DayCount>& days = {});
  // The daily counts from `since` (YYYY-MM-DD) on, oldest first; days without calls are absent.
  Result<std::vector<DayCount>> daily(const std::string& since);
  // Newest first.
  Result<std::vector<Alert>> list(const MissedQuery& q);
  // Alerts whose webhook delivery is due at `now_ms`, oldest first.
  Result<std::vector<Alert>> due(int64_t now_ms, size_t limit);
  // A delivery attempt's outcome: delivered, or failed with `error` and retried at `retry_ms`
  // (nullopt: given up).
  Status attempted(int64_t id, bool delivered, const std::string& error,
                   std::optional<int64_t> retry_ms);
  struct Totals {
    int64_t alerts = 0, not_recorded = 0, incomplete = 0, pending = 0, failed = 0;
  };
  Result<Totals> totals();
  // How many times this store changed alerts (record, attempted): totals() counts every alert,
  // so the reconciler recounts only after a change.
  uint64_t writes() const { return writes_; }

 private:
  explicit MissedStore(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}
  std::unique_ptr<SqliteDb> db_;
  uint64_t writes_ = 0;
};

}  // namespace verbatim::reconcile
