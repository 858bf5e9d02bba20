// LogLimiter: rate-limits a kind of log line that an attacker can cause at will (refused
// requests, failed logins), so a flood cannot fill the disk or drown the lines that matter. A
// token bucket: `burst` lines at once, then `per_minute` a minute; what it holds back is
// counted and reported with the next line it lets through ("... and 1204 more like it").
// Time is passed in (steady clock), so tests drive it. Not thread-safe: one per thread or
// guarded by its owner.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>

namespace verbatim {

class LogLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit LogLimiter(double per_minute = 60, double burst = 10)
      : rate_per_s_(per_minute / 60.0), burst_(burst), tokens_(burst) {}

  // Whether to log now; when it says yes, suppressed() tells how many were held back since the
  // last line that got through (then resets).
  bool allow(Clock::time_point now) {
    if (started_) {
      const double dt = std::chrono::duration<double>(now - last_).count();
      if (dt > 0) tokens_ = std::min(burst_, tokens_ + dt * rate_per_s_);
    }
    started_ = true;
    last_ = now;
    if (tokens_ >= 1.0) {
      tokens_ -= 1.0;
      return true;
    }
    ++held_;
    return false;
  }
  uint64_t suppressed() {
    const uint64_t n = held_;
    held_ = 0;
    return n;
  }

 private:
  double rate_per_s_, burst_, tokens_;
  bool started_ = false;
  Clock::time_point last_{};
  uint64_t held_ = 0;
};

}  // namespace verbatim
