#include "common/period.h"

#include <cctype>

namespace verbatim {

Result<Period> Period::parse(const std::string& text) {
  auto bad = [&](const std::string& why) -> Error {
    return make_error(ErrorCode::kInvalidArgument,
                      "invalid period '" + text + "': " + why +
                          " (use years, months and days such as \"7y\", \"5y6m\" or \"90d\")");
  };
  Period p;
  int* slots[] = {&p.years, &p.months, &p.days};
  const char units[] = {'y', 'm', 'd'};
  size_t next_unit = 0;
  size_t i = 0;
  if (text.empty()) return bad("empty");
  while (i < text.size()) {
    size_t j = i;
    long value = 0;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) {
      value = value * 10 + (text[j] - '0');
      if (value > 100000) return bad("number too large");
      ++j;
    }
    if (j == i) return bad("a number must come before each unit");
    if (j == text.size()) return bad("a unit (y, m or d) must follow " + text.substr(i));
    const char u = static_cast<char>(std::tolower(static_cast<unsigned char>(text[j])));
    size_t k = next_unit;
    while (k < 3 && units[k] != u) ++k;
    if (k == 3) return bad(std::string("unknown or repeated unit '") + text[j] + "'");
    *slots[k] = static_cast<int>(value);
    next_unit = k + 1;
    i = j + 1;
  }
  if (p.years == 0 && p.months == 0 && p.days == 0) return bad("must be longer than zero");
  if (p.years > 1000) return bad("more than 1000 years");
  return p;
}

std::string Period::str() const {
  std::string s;
  if (years) s += std::to_string(years) + "y";
  if (months) s += std::to_string(months) + "m";
  if (days) s += std::to_string(days) + "d";
  return s.empty() ? "0d" : s;
}

TimePoint Period::after(TimePoint t) const {
  using namespace std::chrono;
  const auto day = floor<std::chrono::days>(t);
  const auto time_of_day = t - day;
  year_month_day ymd{day};
  auto ym =
      year_month{ymd.year(), ymd.month()} + std::chrono::years(years) + std::chrono::months(months);
  // sys_days of an invalid date (Feb 30) counts on from the month's start: it rolls over.
  const sys_days target =
      sys_days(year_month_day{ym.year(), ym.month(), std::chrono::day(1)}) +
      (std::chrono::days(static_cast<unsigned>(ymd.day())) - std::chrono::days(1)) +
      std::chrono::days(days);
  return target + time_of_day;
}

bool Period::longer_than(const Period& other) const {
  const TimePoint ref = std::chrono::sys_days{std::chrono::year{2001} / 1 / 31};
  return after(ref) > other.after(ref);
}

}  // namespace verbatim
