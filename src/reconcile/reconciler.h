// Missed recordings, found live: the gateway keeps every call's policy decisions in its call
// records (calls.db); a call that should have been recorded and has no complete recording in the
// archive `after` its end raises an alert (expectations.h says what counts). The alert goes to
// the log (error), to missed.db (missed_store.h: `verbatim calls missed`, search status "not
// recorded" / "incomplete media"), to a webhook (HTTP POST of the alert's JSON, retried with
// backoff for a day, across restarts) and to the gateway's status totals (totals()).
//
// It follows the call records in the order they were stored and keeps its position with the
// alerts it found, in one transaction, so nothing is alerted twice or skipped across restarts.
// A store that has never run starts with the calls that ended in the last `first_window`, so
// enabling it on a gateway with years of records does not alert on all of them.
//
// Threads and ownership: start() runs pass() on a thread of its own every `interval`; pass() is
// public for tests, which call it on their thread instead (thread = false). totals() may be
// called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/call_records.h"
#include "common/clock.h"
#include "common/periodic.h"
#include "common/result.h"
#include "common/sqlite.h"
#include "common/webhook.h"
#include "reconcile/missed_store.h"

namespace verbatim::reconcile {

struct ReconcilerOptions {
  OpenCallRecords call_records;  // the gateway's (nullptr until it has stored a call)
  std::string archive_db;        // the catalog whose recordings count (<data_dir>/archive)
  std::string store;             // <data_dir>/missed.db
  std::chrono::milliseconds after{std::chrono::seconds(120)};
  std::chrono::milliseconds interval{std::chrono::seconds(1)};
  std::chrono::hours first_window{24};
  Webhook webhook;                 // url empty: no webhook
  std::chrono::hours give_up{24};  // webhook retries stop this long after the alert
  const Clock* clock = nullptr;    // default: the system clock
};

class Reconciler {
 public:
  // Opens the store (an error now, not later) and, with `thread`, starts the thread.
  static Result<std::unique_ptr<Reconciler>> start(ReconcilerOptions options, bool thread = true);
  ~Reconciler();
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  // Reconciles every call due now and makes the webhook deliveries due now.
  Status pass();
  // {"missedRecordings", "notRecorded", "incompleteMedia", "alertWebhooksPending",
  //  "alertWebhooksFailed", "callsReconciled"}: for the gateway's status file.
  nlohmann::json totals() const;

 private:
  Reconciler(ReconcilerOptions options, std::unique_ptr<MissedStore> store);
  Status reconcile_due();
  Status deliver_due();
  void refresh_totals();
  Result<std::vector<search::CallRecording>> archived(const std::string& call_id);
  ReconcilerOptions options_;
  SystemClock system_clock_;
  std::unique_ptr<MissedStore> store_;
  std::unique_ptr<CallRecords> records_;
  std::unique_ptr<SqliteDb> catalog_;
  mutable std::mutex mutex_;  // guards totals_
  nlohmann::json totals_ = nlohmann::json::object();
  std::atomic<int64_t> reconciled_{0};
  std::optional<uint64_t> counted_writes_;  // the store's writes() when totals_ was counted
  std::unique_ptr<Periodic> thread_;
};

}  // namespace verbatim::reconcile
