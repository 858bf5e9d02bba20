// The background verification of the archive (role archive-verify), on the caller's io_context:
// one bounded step of the IncrementalVerifier every 100 ms while a pass runs, the configured
// interval between passes. Findings are logged as errors (alerts); progress goes to the log
// and to a status file that `verbatim verify --status` reads. Owns its verifier (which opens
// the archive read-only per step); call start() and stop() on the io_context's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "archive/verifier.h"
#include "common/clock.h"

namespace verbatim::archive {

class VerifyLoop {
 public:
  // `rate_mb_s`: archive.verify_rate_mb_s; `interval`: archive.verify_interval_s; the status
  // goes to `status_file` (<archive>/verify-status.json).
  VerifyLoop(boost::asio::io_context& io, ArchiveOptions options, const Clock& clock,
             uint64_t rate_mb_s, std::chrono::seconds interval, std::string status_file)
      : timer_(io),
        verifier_(std::move(options), clock, /*deep=*/false, (rate_mb_s << 20) / 10),
        interval_(interval),
        status_file_(std::move(status_file)) {}
  void start() { schedule(std::chrono::milliseconds(0)); }
  void stop() { timer_.cancel(); }

 private:
  void schedule(std::chrono::milliseconds after) {
    timer_.expires_after(after);
    timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) run_step();
    });
  }
  void run_step();

  boost::asio::steady_timer timer_;
  IncrementalVerifier verifier_;
  std::chrono::seconds interval_;
  std::string status_file_;
  std::chrono::steady_clock::time_point last_write_{};
  int last_decile_ = -1;
  bool waiting_ = false;
};

}  // namespace verbatim::archive
