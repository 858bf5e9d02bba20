// Period: a calendar duration such as a retention period ("7y", "18m", "90d", "1y6m").
// Years and months are calendar units (2024-02-29 + 1y = 2025-03-01: never shorter than the
// period), which is how regulations state retention (MiFID II 5 years, SEC 17a-4 6 years).
// Threads and ownership: pure functions over values; any thread.
#pragma once

#include <string>

#include "common/clock.h"
#include "common/result.h"

namespace verbatim {

struct Period {
  int years = 0;
  int months = 0;
  int days = 0;

  // "7y", "5y6m", "90d", "1y2m3d" (each unit at most once, in this order; total > 0).
  static Result<Period> parse(const std::string& text);
  std::string str() const;
  // t + this period. A day that does not exist in the target month rolls into the next one.
  TimePoint after(TimePoint t) const;
  // Compares by the length from a fixed reference date (for "the longest period wins").
  bool longer_than(const Period& other) const;
  bool operator==(const Period&) const = default;
};

}  // namespace verbatim
