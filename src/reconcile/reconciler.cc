#include "reconcile/reconciler.h"

#include <filesystem>

#include <spdlog/spdlog.h>

#include "common/strings.h"

namespace verbatim::reconcile {

namespace {

constexpr size_t kPage = 200;
constexpr size_t kDeliveriesPerPass = 20;
constexpr std::chrono::seconds kDeliveryBudget{2};

int64_t unix_ms(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

Result<std::unique_ptr<Reconciler>> Reconciler::start(ReconcilerOptions options, bool thread) {
  if (!options.webhook.url.empty()) {
    if (auto u = parse_webhook_url(options.webhook.url); !u) return u.error();
  }
  auto store = MissedStore::open(options.store);
  if (!store) return store.error();
  std::unique_ptr<Reconciler> r(new Reconciler(std::move(options), std::move(store).value()));
  r->refresh_totals();
  if (thread) {
    r->thread_ = std::make_unique<Periodic>("missed-recording reconciliation", r->options_.interval,
                                            [p = r.get()] { return p->pass(); });
  }
  return r;
}

Reconciler::Reconciler(ReconcilerOptions options, std::unique_ptr<MissedStore> store)
    : options_(std::move(options)), store_(std::move(store)) {
  if (!options_.clock) options_.clock = &system_clock_;
}

Reconciler::~Reconciler() { thread_.reset(); }  // before what its passes use

nlohmann::json Reconciler::totals() const {
  std::lock_guard lock(mutex_);
  return totals_;
}

Status Reconciler::pass() {
  const Status reconciled = reconcile_due();
  const Status delivered = deliver_due();
  refresh_totals();
  return reconciled ? delivered : reconciled;
}

// The alerts are counted again only after this store changed them (the reconciler is missed.db's
// one writer): a pass every second over a table that only grows would read it all each time.
void Reconciler::refresh_totals() {
  std::optional<MissedStore::Totals> counted;
  if (counted_writes_ != store_->writes()) {
    const uint64_t writes = store_->writes();
    if (auto t = store_->totals(); t) {
      counted = t.value();
      counted_writes_ = writes;
    }
  }
  std::lock_guard lock(mutex_);
  if (counted) {
    totals_ = {{"missedRecordings", counted->alerts},
               {"notRecorded", counted->not_recorded},
               {"incompleteMedia", counted->incomplete},
               {"alertWebhooksPending", counted->pending},
               {"alertWebhooksFailed", counted->failed}};
  }
  totals_["callsReconciled"] = reconciled_.load();
}

Result<std::vector<search::CallRecording>> Reconciler::archived(const std::string& call_id) {
  if (!catalog_) {
    std::error_code ec;
    // No archive yet (no recorder has run here): nothing was stored.
    if (!std::filesystem::exists(options_.archive_db, ec)) {
      return std::vector<search::CallRecording>{};
    }
    auto db = SqliteDb::open(options_.archive_db);
    if (!db) return db.error();
    catalog_ = std::move(db).value();
  }
  return search::recordings_of_call(*catalog_, call_id);
}

Status Reconciler::reconcile_due() {
  if (!records_) {
    if (!options_.call_records) return ok_status();
    auto opened = options_.call_records();
    if (!opened) return opened.error();
    if (!opened.value()) return ok_status();  // the gateway has stored no call yet
    records_ = std::move(opened).value();
  }
  auto pos = store_->position();
  if (!pos) return pos.error();
  const bool first_run = pos.value() == 0;
  const TimePoint now = options_.clock->now();
  for (;;) {
    auto page = records_->calls_after(pos.value(), kPage);
    if (!page) return page.error();
    std::vector<Alert> alerts;
    std::map<std::string, DayCount> days;
    int64_t through = pos.value();
    bool waiting = false;
    for (const auto& [seq, record] : page.value()) {
      const auto end = parse_iso8601(record.value("end", std::string()));
      if (end && *end + options_.after > now) {
        waiting = true;  // stored in the order the calls ended: the rest is not due either
        break;
      }
      through = seq;
      if (first_run && end && *end + options_.first_window < now) continue;
      const auto expected = expectations_of(record);
      reconciled_.fetch_add(1);
      if (expected.empty()) continue;
      auto found = archived(expected.front().call_id);
      if (!found) return found.error();  // tried again on the next pass, from the same call
      DayCount& day = days[record.value("start", std::string()).substr(0, 10)];
      for (const auto& e : expected) {
        ++day.expected;
        if (auto f = assess(e, found.value())) {
          ++day.missed;
          alerts.push_back(Alert::of(e, *f, record, format_iso8601_ms(now)));
        }
      }
    }
    if (through == pos.value()) return ok_status();
    std::vector<DayCount> counted;
    for (auto& [name, d] : days) {
      d.day = name;
      counted.push_back(d);
    }
    auto stored =
        store_->record(std::move(alerts), through, !options_.webhook.url.empty(), counted);
    if (!stored) return stored.error();
    for (const auto& a : stored.value()) {
      spdlog::error("missed recording: call {} ({} to {}), {} by {} ({}): {}: {}", a.call_id,
                    a.call_start, a.call_end, a.party, a.application, a.policy, a.status, a.reason);
    }
    pos = through;
    if (waiting || page.value().size() < kPage) return ok_status();
  }
}

Status Reconciler::deliver_due() {
  if (options_.webhook.url.empty()) return ok_status();
  const TimePoint now = options_.clock->now();
  auto due = store_->due(unix_ms(now), kDeliveriesPerPass);
  if (!due) return due.error();
  // A webhook that does not answer costs its timeout per alert: after kDeliveryBudget the rest
  // wait for the next pass, so that reconciling the calls that end goes on meanwhile.
  const auto stop_at = std::chrono::steady_clock::now() + kDeliveryBudget;
  for (const auto& a : due.value()) {
    if (std::chrono::steady_clock::now() > stop_at) break;
    const std::string error = deliver_json(options_.webhook, a.to_json().dump());
    if (error.empty()) {
      VB_TRY(store_->attempted(a.id, true, "", std::nullopt));
      continue;
    }
    const auto detected = parse_iso8601(a.detected_at).value_or(now);
    std::optional<int64_t> retry;
    if (auto at = next_attempt(a.attempts, detected, now, options_.give_up)) retry = unix_ms(*at);
    if (retry) {
      spdlog::warn("missed-recording alert {} (call {}): webhook failed (attempt {}): {}; retrying",
                   a.id, a.call_id, a.attempts + 1, error);
    } else {
      spdlog::error(
          "missed-recording alert {} (call {}): webhook failed {} times, the last: {}; "
          "given up (the alert stays in `verbatim calls missed`)",
          a.id, a.call_id, a.attempts + 1, error);
    }
    VB_TRY(store_->attempted(a.id, false, error, retry));
  }
  return ok_status();
}

}  // namespace verbatim::reconcile
