// Clock: the source of wall-clock time. Production uses SystemClock; tests inject
// ManualClock so timestamps in outputs and audit rows are reproducible.
// Threads and ownership: SystemClock is stateless (any thread); a ManualClock belongs to the test
// that advances it. Clocks are borrowed, never owned, by what reads them.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace verbatim {

using TimePoint = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::system_clock::now(); }
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint t) : t_(t) {}
  TimePoint now() const override { return t_; }
  void advance(std::chrono::milliseconds d) { t_ += d; }

 private:
  TimePoint t_;
};

// "2026-11-26T12:00:00Z" (UTC, seconds precision).
std::string format_iso8601(TimePoint t);
// "2026-11-26T12:00:00.123Z" (UTC, milliseconds).
std::string format_iso8601_ms(TimePoint t);
// The inverse of both, and a date alone ("2026-11-26": its midnight, UTC); a time without the Z
// or with another offset ("+01:00") is read as it says. nullopt for anything else.
std::optional<TimePoint> parse_iso8601(std::string_view text);

}  // namespace verbatim
