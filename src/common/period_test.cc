#include "common/period.h"

#include <gtest/gtest.h>

namespace verbatim {
namespace {

TimePoint at(int y, unsigned m, unsigned d) {
  return std::chrono::sys_days{std::chrono::year{y} / m / d} + std::chrono::hours(10);
}

TEST(Period, ParsesYearsMonthsDaysAndRoundTrips) {
  EXPECT_EQ(Period::parse("7y").value(), (Period{7, 0, 0}));
  EXPECT_EQ(Period::parse("5y6m").value(), (Period{5, 6, 0}));
  EXPECT_EQ(Period::parse("90d").value(), (Period{0, 0, 90}));
  EXPECT_EQ(Period::parse("1Y2M3D").value(), (Period{1, 2, 3}));
  for (const char* s : {"7y", "5y6m", "90d", "1y2m3d"}) {
    EXPECT_EQ(Period::parse(s).value().str(), s);
  }
}

TEST(Period, RejectsWhatIsNotAPeriodWithTheReason) {
  for (const char* s :
       {"", "7", "y", "7x", "0y", "1d2y", "1y1y", "-1y", "1 y", "99999999y", "1001y"}) {
    auto p = Period::parse(s);
    ASSERT_FALSE(p) << s;
    EXPECT_NE(p.error().message.find("invalid period"), std::string::npos);
  }
}

TEST(Period, AddsCalendarUnitsAndNeverComesUpShort) {
  EXPECT_EQ((Period{7, 0, 0}).after(at(2026, 11, 26)), at(2033, 11, 26));
  EXPECT_EQ((Period{1, 0, 0}).after(at(2024, 2, 29)), at(2025, 3, 1));
  EXPECT_EQ((Period{4, 0, 0}).after(at(2024, 2, 29)), at(2028, 2, 29));
  EXPECT_EQ((Period{0, 1, 0}).after(at(2026, 1, 31)), at(2026, 3, 3));
  EXPECT_EQ((Period{0, 2, 0}).after(at(2026, 11, 30)), at(2027, 1, 30));
  EXPECT_EQ((Period{0, 0, 90}).after(at(2026, 1, 1)), at(2026, 4, 1));
  EXPECT_TRUE((Period{6, 0, 0}).longer_than(Period{5, 11, 30}));
  EXPECT_FALSE((Period{0, 12, 0}).longer_than(Period{1, 0, 0}));
  EXPECT_TRUE((Period{0, 0, 366}).longer_than(Period{1, 0, 0}));
}

}  // namespace
}  // namespace verbatim
