#include "sip/timers.h"

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace verbatim::sip {
namespace {

using std::chrono::milliseconds;

// Runs the io_context until `done` or two seconds have passed.
void run_until(boost::asio::io_context& io, const bool& done) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!done && std::chrono::steady_clock::now() < give_up) io.run_one_for(milliseconds(50));
}

TEST(AsioTimers, RunInDeadlineOrderThenStartOrder) {
  boost::asio::io_context io;
  AsioTimers timers(io);
  std::string order;
  bool done = false;
  timers.start(milliseconds(30), [&] { order += "c"; });
  timers.start(milliseconds(10), [&] { order += "a"; });
  timers.start(milliseconds(20), [&] { order += "b"; });
  timers.start(milliseconds(40), [&] {
    order += "d";
    done = true;
  });
  run_until(io, done);
  EXPECT_EQ(order, "abcd");
  EXPECT_EQ(timers.pending(), 0u);
}

// The wait is for the earliest deadline: a later start that is due sooner re-arms it (had it not,
// the early timer would run only when the late one falls due, 5 s on).
TEST(AsioTimers, AnEarlierStartRearmsAndACancelledTimerNeverRuns) {
  boost::asio::io_context io;
  AsioTimers timers(io);
  std::vector<std::string> ran;
  bool done = false;
  const auto late_due = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  const auto late = timers.start(std::chrono::seconds(5), [&] { ran.push_back("late"); });
  const auto cancelled = timers.start(milliseconds(5), [&] { ran.push_back("cancelled"); });
  timers.start(milliseconds(10), [&] {
    ran.push_back("early");
    EXPECT_LT(std::chrono::steady_clock::now(), late_due);
    timers.cancel(late);
    done = true;
  });
  timers.cancel(cancelled);
  timers.cancel(cancelled);  // twice: nothing
  run_until(io, done);
  EXPECT_EQ(ran, std::vector<std::string>{"early"});
  EXPECT_EQ(timers.pending(), 0u);
}

TEST(AsioTimers, ACallbackMayStartAndCancelTimers) {
  boost::asio::io_context io;
  AsioTimers timers(io);
  int chain = 0;
  bool done = false;
  uint64_t victim = 0;
  std::function<void()> step = [&] {
    if (++chain == 5) {
      timers.cancel(victim);
      timers.start(milliseconds(0), [&] { done = true; });
      return;
    }
    timers.start(milliseconds(1), step);
  };
  victim = timers.start(milliseconds(200), [&] { ADD_FAILURE() << "cancelled from a callback"; });
  timers.start(milliseconds(1), step);
  run_until(io, done);
  EXPECT_TRUE(done);
  EXPECT_EQ(chain, 5);
  EXPECT_EQ(timers.pending(), 0u);
}

// Many long timers cancelled (every transaction's timer B is): the heap is compacted, and the
// live ones still run.
TEST(AsioTimers, CancelledEntriesAreDroppedAndTheRestStillRun) {
  boost::asio::io_context io;
  AsioTimers timers(io);
  std::vector<uint64_t> ids;
  for (int i = 0; i < 5000; ++i) ids.push_back(timers.start(std::chrono::seconds(32), [] {}));
  for (uint64_t id : ids) timers.cancel(id);
  EXPECT_EQ(timers.pending(), 0u);
  bool done = false;
  timers.start(milliseconds(2), [&] { done = true; });
  run_until(io, done);
  EXPECT_TRUE(done);
}

TEST(AsioTimers, DestroyedWithTimersPendingRunsNone) {
  boost::asio::io_context io;
  {
    AsioTimers timers(io);
    timers.start(milliseconds(1), [] { ADD_FAILURE() << "ran after its service was destroyed"; });
  }
  io.run_for(milliseconds(20));
}

}  // namespace
}  // namespace verbatim::sip
