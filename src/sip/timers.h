// Timers for the SIP layers. The transaction state machines never read a clock; they ask a
// TimerService to call them back, so tests drive them with ManualTimers (deterministic, no
// sleeping) and servers with AsioTimers (steady_timer on the io_context).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace verbatim::sip {

using Millis = std::chrono::milliseconds;

class TimerService {
 public:
  virtual ~TimerService() = default;
  // Calls `fn` once after `after`; returns an id for cancel(). Ids are never 0.
  virtual uint64_t start(Millis after, std::function<void()> fn) = 0;
  virtual void cancel(uint64_t id) = 0;
};

// Virtual time: advance() runs every timer that falls due, in time order (timers started by
// a callback run too when they fall within the advance).
class ManualTimers final : public TimerService {
 public:
  uint64_t start(Millis after, std::function<void()> fn) override;
  void cancel(uint64_t id) override;
  void advance(Millis by);
  Millis now() const { return now_; }
  size_t pending() const { return due_.size(); }

 private:
  Millis now_{0};
  uint64_t next_id_ = 1;
  std::multimap<std::pair<Millis, uint64_t>, std::function<void()>> due_;
  std::unordered_map<uint64_t, Millis> when_;
};

class AsioTimers final : public TimerService {
 public:
  explicit AsioTimers(boost::asio::io_context& io) : io_(io) {}
  ~AsioTimers() override;
  uint64_t start(Millis after, std::function<void()> fn) override;
  void cancel(uint64_t id) override;

 private:
  boost::asio::io_context& io_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<boost::asio::steady_timer>> timers_;
};

}  // namespace verbatim::sip
