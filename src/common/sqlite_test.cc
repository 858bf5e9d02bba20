#include "common/sqlite.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "common/test_dir.h"

namespace verbatim {
namespace {

constexpr std::array<const char*, 2> kSchema = {
    "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)",
    "CREATE INDEX t_by_v ON t(v)",
};

// Two roles of one process (the gateway's writer and its reconciler) or two processes open a
// database that does not exist yet at the same moment: each must wait for the other instead of
// failing with "database is locked" (a CI run once lost a gateway start to this).
TEST(SqliteDb, ConnectionsOpeningAFreshDatabaseTogetherAllSucceed) {
  TestDir dir("sqlite-race");
  constexpr int kRounds = 40;
  constexpr int kThreads = 6;
  for (int round = 0; round < kRounds; ++round) {
    const std::string path = (dir.path() / ("r" + std::to_string(round) + ".db")).string();
    std::atomic<int> ready{0};
    std::vector<std::string> errors(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        ready.fetch_add(1);
        while (ready.load() < kThreads) std::this_thread::yield();
        auto db = SqliteDb::open(path);
        if (!db) {
          errors[static_cast<size_t>(i)] = db.error().message;
          return;
        }
        if (auto st = db.value()->migrate(kSchema, "test database"); !st) {
          errors[static_cast<size_t>(i)] = st.error().message;
        }
      });
    }
    for (auto& t : threads) t.join();
    for (const auto& e : errors) ASSERT_EQ(e, "") << "round " << round;
  }
}

}  // namespace
}  // namespace verbatim
