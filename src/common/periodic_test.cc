#include "common/periodic.h"

#include <atomic>

#include <gtest/gtest.h>

namespace verbatim {
namespace {

TEST(Periodic, RunsAtOnceThenEveryIntervalUntilDestroyed) {
  std::atomic<int> runs{0};
  {
    Periodic p("test", std::chrono::milliseconds(5), [&] {
      ++runs;
      return runs % 2 ? make_error(ErrorCode::kIo, "odd run") : ok_status();
    });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (runs < 3 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  const int seen = runs;
  EXPECT_GE(seen, 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(runs, seen) << "no run after it was destroyed";
}

}  // namespace
}  // namespace verbatim
