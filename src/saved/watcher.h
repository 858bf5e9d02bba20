// The runner of saved searches (saved_searches.h): on a thread of its own, every second it runs
// each search that is due over the recordings created and the transcripts indexed since its last
// run, stores each new hit (once per recording and search), logs it, and POSTs it to the
// search's webhook (retried as missed-recording alerts are: common/webhook.h). Each run that
// lists recordings is an access.search entry in the ledger by "saved-search:NAME".
// Threads and ownership: start() runs pass() on its thread; pass() is public for tests, which
// call it on theirs instead (thread = false). The archive is the watcher's own (opened shared
// through `open_archive`, on its thread).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "archive/archive.h"
#include "common/clock.h"
#include "common/periodic.h"
#include "common/result.h"
#include "common/webhook.h"
#include "saved/saved_searches.h"

namespace verbatim::saved {

struct WatcherOptions {
  std::string store;  // <data_dir>/searches.db
  // Opens the archive beside its writer; kNotFound while there is none yet.
  std::function<Result<std::unique_ptr<archive::Archive>>()> open_archive;
  std::string dictionary;  // the phonetic dictionary (search::Query::dictionary)
  std::chrono::milliseconds interval{std::chrono::seconds(1)};
  std::chrono::milliseconds webhook_timeout{std::chrono::seconds(10)};
  const Clock* clock = nullptr;  // default: the system clock
};

class Watcher {
 public:
  static Result<std::unique_ptr<Watcher>> start(WatcherOptions options, bool thread = true);
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  Status pass();

 private:
  Watcher(WatcherOptions options, std::unique_ptr<SavedSearches> store);
  Status run_due();
  Status run_one(const SavedSearch& s);
  Status deliver_due();
  WatcherOptions options_;
  SystemClock system_clock_;
  std::unique_ptr<SavedSearches> store_;
  std::unique_ptr<archive::Archive> archive_;
  std::unique_ptr<Periodic> thread_;
};

}  // namespace verbatim::saved
