// The SIP stack's timers (sip::AsioTimers: one steady_timer over a heap of deadlines) against a
// steady_timer allocated per start (how AsioTimers worked until issue 16), in the same run.
// The pattern is a busy gateway's: a large standing population of long timers (timer B, J and
// the gateway's deadlines, 32 s), each transaction starting a long timer that is cancelled a
// little later (the response came) and a short one that fires (retransmission, timer K).
#include <deque>
#include <memory>
#include <unordered_map>

#include <benchmark/benchmark.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "sip/timers.h"

namespace {

using verbatim::sip::Millis;

// The baseline: what AsioTimers was, one Asio timer per start.
class SteadyTimerPerStart {
 public:
  explicit SteadyTimerPerStart(boost::asio::io_context& io) : io_(io) {}
  uint64_t start(Millis after, std::function<void()> fn) {
    const uint64_t id = next_++;
    auto t = std::make_unique<boost::asio::steady_timer>(io_, after);
    t->async_wait([this, id, fn = std::move(fn)](boost::system::error_code ec) {
      if (ec) return;
      if (timers_.erase(id) == 0) return;
      fn();
    });
    timers_.emplace(id, std::move(t));
    return id;
  }
  void cancel(uint64_t id) {
    auto it = timers_.find(id);
    if (it == timers_.end()) return;
    it->second->cancel();
    timers_.erase(it);
  }

 private:
  boost::asio::io_context& io_;
  uint64_t next_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<boost::asio::steady_timer>> timers_;
};

template <typename Timers>
void transactions(benchmark::State& state) {
  boost::asio::io_context io;
  Timers timers(io);
  const auto standing = static_cast<size_t>(state.range(0));
  for (size_t i = 0; i < standing; ++i) timers.start(Millis(32000 + i % 1000), [] {});
  std::deque<uint64_t> in_flight;
  int64_t fired = 0;
  int64_t n = 0;
  for (auto _ : state) {
    in_flight.push_back(timers.start(Millis(32000), [] {}));  // timer B
    timers.start(Millis(0), [&fired] { ++fired; });           // fires on the next poll
    if (in_flight.size() > 200) {                             // the response came: B is cancelled
      timers.cancel(in_flight.front());
      in_flight.pop_front();
    }
    if (++n % 64 == 0) io.poll();  // the loop wakes for a batch of events, not for each
  }
  state.counters["fired"] = static_cast<double>(fired);
  state.SetItemsProcessed(state.iterations());
}

void BM_AsioTimers(benchmark::State& state) { transactions<verbatim::sip::AsioTimers>(state); }
void BM_SteadyTimerPerStart(benchmark::State& state) { transactions<SteadyTimerPerStart>(state); }

BENCHMARK(BM_SteadyTimerPerStart)->Arg(1000)->Arg(100000);
BENCHMARK(BM_AsioTimers)->Arg(1000)->Arg(100000);

}  // namespace

BENCHMARK_MAIN();
