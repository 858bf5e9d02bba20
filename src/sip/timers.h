// Timers for the SIP layers and the gateway. The transaction state machines and the gateway's
// calls never read a clock; they ask a TimerService for the time and to call them back, so tests
// drive them with ManualTimers (virtual time: deterministic, no sleeping) and servers with
// AsioTimers (steady_timer on the io_context). A TimerService belongs to one thread: the
// io_context's (AsioTimers) or the test's (ManualTimers); callbacks run on it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

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
  // The monotonic time the timers count in (steady_clock's in production, virtual in tests).
  virtual std::chrono::steady_clock::time_point now() const = 0;
  // Runs `fn` once what is running now has returned, on the same thread (asio::post; in
  // virtual time at the next advance()).
  virtual void post(std::function<void()> fn) = 0;
};

// One timer of an owner (a call's deadline): idle or armed; start() replaces what is armed, and
// destroying it cancels it, so a callback never runs for an owner that is gone. The owner holds
// it by value; the TimerService must outlive it.
class Timer {
 public:
  explicit Timer(TimerService& service) : service_(&service) {}
  ~Timer() { cancel(); }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  void start(Millis after, std::function<void()> fn);
  void cancel();
  bool armed() const { return id_ != 0; }

 private:
  TimerService* service_;
  uint64_t id_ = 0;
};

// Virtual time: advance() runs every timer that falls due, in time order (timers started by
// a callback run too when they fall within the advance).
class ManualTimers final : public TimerService {
 public:
  uint64_t start(Millis after, std::function<void()> fn) override;
  void cancel(uint64_t id) override;
  void advance(Millis by);
  void post(std::function<void()> fn) override { start(Millis(0), std::move(fn)); }
  std::chrono::steady_clock::time_point now() const override {
    return std::chrono::steady_clock::time_point(now_);
  }
  Millis elapsed() const { return now_; }
  size_t pending() const { return due_.size(); }

 private:
  Millis now_{0};
  uint64_t next_id_ = 1;
  std::multimap<std::pair<Millis, uint64_t>, std::function<void()>> due_;
  std::unordered_map<uint64_t, Millis> when_;
};

// Production timers: one steady_timer on the io_context, armed for the earliest deadline of a
// heap of (deadline, id). A start is a heap push and a hash insert, with no Asio timer and no
// allocation of its own per start (a transaction starts several, a call a few more); a cancel
// erases the callback and leaves its heap entry to be skipped when it comes up, or dropped when
// cancelled entries outnumber live ones. Timers due at the same time run in the order started.
class AsioTimers final : public TimerService {
 public:
  explicit AsioTimers(boost::asio::io_context& io) : io_(io), timer_(io) {}
  ~AsioTimers() override;
  uint64_t start(Millis after, std::function<void()> fn) override;
  void cancel(uint64_t id) override;
  std::chrono::steady_clock::time_point now() const override {
    return std::chrono::steady_clock::now();
  }
  void post(std::function<void()> fn) override;
  size_t pending() const { return live_.size(); }

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Due {
    TimePoint at;
    uint64_t id;
    bool operator>(const Due& o) const { return at != o.at ? at > o.at : id > o.id; }
  };
  void arm();
  void fire();
  void compact();

  boost::asio::io_context& io_;
  boost::asio::steady_timer timer_;
  TimePoint armed_ = TimePoint::max();  // what timer_ waits for; max: not waiting
  uint64_t next_id_ = 1;
  std::vector<Due> heap_;  // std::push_heap/pop_heap with greater<>: the earliest on top
  std::unordered_map<uint64_t, std::function<void()>> live_;
};

}  // namespace verbatim::sip
