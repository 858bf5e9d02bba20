#include "common/clock.h"

#include <charconv>
#include <cstdio>

#include <cctype>
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

std::optional<TimePoint> parse_iso8601(std::string_view text) {
  auto number = [&](size_t at, size_t len, int& out) {
    if (at + len > text.size()) return false;
    const char* b = text.data() + at;
    auto [p, ec] = std::from_chars(b, b + len, out);
    return ec == std::errc() && p == b + len;
  };
  std::tm tm{};
  int year = 0, month = 0, day = 0;
  if (!number(0, 4, year) || text.size() < 10 || text[4] != '-' || !number(5, 2, month) ||
      text[7] != '-' || !number(8, 2, day) || month < 1 || month > 12 || day < 1 || day > 31) {
    return std::nullopt;
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  size_t at = 10;
  int millis = 0, offset_minutes = 0;
  if (at < text.size()) {
    if ((text[at] != 'T' && text[at] != ' ') || !number(at + 1, 2, tm.tm_hour) ||
        text.size() < at + 9 || text[at + 3] != ':' || !number(at + 4, 2, tm.tm_min) ||
        text[at + 6] != ':' || !number(at + 7, 2, tm.tm_sec) || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60) {
      return std::nullopt;
    }
    at += 9;
    if (at < text.size() && text[at] == '.') {
      size_t digits = 0;
      while (at + 1 + digits < text.size() &&
             std::isdigit(static_cast<unsigned char>(text[at + 1 + digits]))) {
        if (digits < 3) millis = millis * 10 + (text[at + 1 + digits] - '0');
        ++digits;
      }
      if (digits == 0) return std::nullopt;
      for (size_t d = digits; d < 3; ++d) millis *= 10;
      at += 1 + digits;
    }
    if (at < text.size() && text[at] == 'Z') {
      ++at;
    } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
      int h = 0, m = 0;
      if (!number(at + 1, 2, h) || text.size() < at + 6 || text[at + 3] != ':' ||
          !number(at + 4, 2, m)) {
        return std::nullopt;
      }
      offset_minutes = (text[at] == '+' ? 1 : -1) * (h * 60 + m);
      at += 6;
    }
    if (at != text.size()) return std::nullopt;
  }
  const std::time_t secs = timegm(&tm);
  if (secs == static_cast<std::time_t>(-1) && year != 1969) return std::nullopt;
  return std::chrono::time_point_cast<TimePoint::duration>(
      std::chrono::system_clock::from_time_t(secs) + std::chrono::milliseconds(millis) -
      std::chrono::minutes(offset_minutes));
}

}  // namespace verbatim
