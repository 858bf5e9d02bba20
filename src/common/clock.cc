#include "common/clock.h"

#include <cstdio>

#include <ctime>

namespace verbatim {

std::string format_iso8601(TimePoint t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string format_iso8601_ms(TimePoint t) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - secs).count();
  std::string s = format_iso8601(secs);
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms));
  s.replace(s.size() - 1, 1, frac);
  return s;
}

}  // namespace verbatim
