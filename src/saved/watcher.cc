#include "saved/watcher.h"

#include <spdlog/spdlog.h>

namespace verbatim::saved {

namespace {

constexpr size_t kChunk = 400;  // recordings per query (the `only` list)
constexpr size_t kDeliveriesPerPass = 20;
constexpr std::chrono::seconds kDeliveryBudget{2};

int64_t unix_ms(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// The recordings created, or whose transcripts were indexed, after the marks and up to the new
// ones.
Result<std::vector<std::string>> arrivals(SqliteDb& catalog, const SavedSearch& s,
                                          std::pair<int64_t, int64_t> marks) {
  SqliteStmt q(catalog,
               "SELECT id FROM recordings WHERE serial > ?1 AND serial <= ?2 UNION "
               "SELECT recording_id FROM search_utterances WHERE id > ?3 AND id <= ?4");
  q.bind(1, s.serial_mark);
  q.bind(2, marks.first);
  q.bind(3, s.utterance_mark);
  q.bind(4, marks.second);
  std::vector<std::string> out;
  int rc;
  while ((rc = q.step()) == kSqliteRow) out.push_back(q.text(0));
  if (rc != kSqliteDone) return catalog.error("reading what arrived in the archive");
  return out;
}

}  // namespace

Result<std::unique_ptr<Watcher>> Watcher::start(WatcherOptions options, bool thread) {
  auto store = SavedSearches::open(options.store);
  if (!store) return store.error();
  std::unique_ptr<Watcher> w(new Watcher(std::move(options), std::move(store).value()));
  if (thread) {
    w->thread_ = std::make_unique<Periodic>("saved searches", w->options_.interval,
                                            [p = w.get()] { return p->pass(); });
  }
  return w;
}

Watcher::Watcher(WatcherOptions options, std::unique_ptr<SavedSearches> store)
    : options_(std::move(options)), store_(std::move(store)) {
  if (!options_.clock) options_.clock = &system_clock_;
}

Watcher::~Watcher() { thread_.reset(); }  // before what its passes use

Status Watcher::pass() {
  const Status ran = run_due();
  const Status delivered = deliver_due();
  return ran ? delivered : ran;
}

Status Watcher::run_due() {
  auto due = store_->due(unix_ms(options_.clock->now()));
  if (!due) return due.error();
  if (due.value().empty()) return ok_status();
  if (!archive_) {
    auto opened = options_.open_archive();
    if (!opened && opened.error().code == ErrorCode::kNotFound) return ok_status();  // none yet
    if (!opened) return opened.error();
    archive_ = std::move(opened).value();
  }
  for (const auto& s : due.value()) {
    VB_TRY(run_one(s));
  }
  return ok_status();
}

Status Watcher::run_one(const SavedSearch& s) {
  const TimePoint now = options_.clock->now();
  SqliteDb& catalog = archive_->catalog();
  auto marks = archive_marks(catalog);
  if (!marks) return marks.error();
  auto query = s.query();
  std::vector<SavedHit> hits;
  if (query) {
    auto ids = arrivals(catalog, s, marks.value());
    if (!ids) return ids.error();
    query.value().dictionary = options_.dictionary;
    query.value().limit = 1000;
    for (size_t i = 0; i < ids.value().size(); i += kChunk) {
      const auto end = std::min(ids.value().size(), i + kChunk);
      query.value().only.assign(ids.value().begin() + static_cast<std::ptrdiff_t>(i),
                                ids.value().begin() + static_cast<std::ptrdiff_t>(end));
      auto page = search::run(catalog, query.value());
      if (!page) return page.error();
      for (const auto& h : page.value().hits) {
        SavedHit hit;
        hit.recording_id = h.id;
        hit.hit = search::hit_json(h);
        hit.hit["type"] = "savedSearchHit";
        hit.hit["search"] = s.name;
        hits.push_back(std::move(hit));
      }
    }
  } else {
    // Saved when valid: a later version may read it differently. Said once per run, not fatal.
    spdlog::error("saved search {}: {}; not run", s.name, query.error().message);
  }
  if (!hits.empty()) {
    std::vector<std::string> ids;
    ids.reserve(hits.size());
    for (const auto& h : hits) ids.push_back(h.recording_id);
    auto logged = query.value().to_json();
    logged["savedSearch"] = s.name;
    VB_TRY(archive_->log_search(logged, ids, "saved-search:" + s.name));
  }
  auto stored = store_->ran(s, std::move(hits), marks.value().first, marks.value().second,
                            format_iso8601_ms(now), unix_ms(now) + s.every_s * 1000);
  if (!stored) return stored.error();
  for (const auto& h : stored.value()) {
    spdlog::warn("saved search {}: recording {} ({}){}", s.name, h.recording_id,
                 h.hit.value("started", ""),
                 h.hit.contains("matches") && !h.hit["matches"].empty()
                     ? ": " + h.hit["matches"][0].value("text", "")
                     : "");
  }
  return ok_status();
}

Status Watcher::deliver_due() {
  const TimePoint now = options_.clock->now();
  auto due = store_->deliveries_due(unix_ms(now), kDeliveriesPerPass);
  if (!due) return due.error();
  if (due.value().empty()) return ok_status();
  auto searches = store_->list();
  if (!searches) return searches.error();
  // As the reconciler's: a webhook that does not answer does not hold up the searches' runs.
  const auto stop_at = std::chrono::steady_clock::now() + kDeliveryBudget;
  for (const auto& h : due.value()) {
    if (std::chrono::steady_clock::now() > stop_at) break;
    std::string url;
    for (const auto& s : searches.value()) {
      if (s.name == h.search) url = s.webhook;
    }
    if (url.empty()) {  // its webhook was taken off since: nothing to deliver to
      VB_TRY(store_->attempted(h.id, false, "the saved search has no webhook now", std::nullopt));
      continue;
    }
    const std::string error = deliver_json({url, "", options_.webhook_timeout}, h.to_json().dump());
    if (error.empty()) {
      VB_TRY(store_->attempted(h.id, true, "", std::nullopt));
      continue;
    }
    const auto found = parse_iso8601(h.found_at).value_or(now);
    std::optional<int64_t> retry;
    if (auto at = next_attempt(h.attempts, found, now)) retry = unix_ms(*at);
    spdlog::warn("saved search {}: hit {}: webhook failed (attempt {}): {}{}", h.search,
                 h.recording_id, h.attempts + 1, error, retry ? "; retrying" : "; given up");
    VB_TRY(store_->attempted(h.id, false, error, retry));
  }
  return ok_status();
}

}  // namespace verbatim::saved
