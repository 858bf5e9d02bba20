#include "common/log_limit.h"

#include <gtest/gtest.h>

namespace verbatim {
namespace {

using std::chrono::milliseconds;

TEST(LogLimiter, ABurstThenTheRateAndTheRestCounted) {
  LogLimiter l(60, 5);  // 1 a second after a burst of 5
  const auto t0 = LogLimiter::Clock::time_point(std::chrono::seconds(100));
  int logged = 0;
  for (int i = 0; i < 10000; ++i) logged += l.allow(t0 + milliseconds(i / 10));  // 10 k in 1 s
  EXPECT_LE(logged, 6);
  EXPECT_GE(logged, 5);
  EXPECT_TRUE(l.allow(t0 + milliseconds(3000)));
  EXPECT_EQ(l.suppressed(), static_cast<uint64_t>(10000 - logged));
  EXPECT_EQ(l.suppressed(), 0u);
}

}  // namespace
}  // namespace verbatim
