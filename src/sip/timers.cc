#include "sip/timers.h"

#include <algorithm>

#include <boost/asio/post.hpp>

#include "common/containers.h"

namespace verbatim::sip {

void Timer::start(Millis after, std::function<void()> fn) {
  cancel();
  id_ = service_->start(after, [this, fn = std::move(fn)] {
    id_ = 0;  // before fn, which may start it again or destroy its owner
    fn();
  });
}

void Timer::cancel() {
  if (id_ == 0) return;
  service_->cancel(id_);
  id_ = 0;
}

uint64_t ManualTimers::start(Millis after, std::function<void()> fn) {
  const uint64_t id = next_id_++;
  due_.emplace(std::make_pair(now_ + after, id), std::move(fn));
  when_[id] = now_ + after;
  return id;
}

void ManualTimers::cancel(uint64_t id) {
  auto it = when_.find(id);
  if (it == when_.end()) return;
  due_.erase(std::make_pair(it->second, id));
  when_.erase(it);
}

void ManualTimers::advance(Millis by) {
  const Millis until = now_ + by;
  while (!due_.empty() && due_.begin()->first.first <= until) {
    auto it = due_.begin();
    now_ = it->first.first;
    auto fn = std::move(it->second);
    when_.erase(it->first.second);
    due_.erase(it);
    fn();
  }
  now_ = until;
}

AsioTimers::~AsioTimers() {
  // A destructor never throws: Asio reports a failed cancel by exception, and there is nothing
  // left to do about it here. The waiting handler, if any, runs with operation_aborted and
  // touches nothing of ours.
  try {
    timer_.cancel();
  } catch (...) {
  }
}

uint64_t AsioTimers::start(Millis after, std::function<void()> fn) {
  const uint64_t id = next_id_++;
  const TimePoint at = now() + after;
  live_.emplace(id, std::move(fn));
  heap_.push_back({at, id});
  std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
  if (at < armed_) arm();
  return id;
}

void AsioTimers::post(std::function<void()> fn) { boost::asio::post(io_, std::move(fn)); }

void AsioTimers::cancel(uint64_t id) {
  if (live_.erase(id) == 0) return;
  shrink_if_sparse(live_);
  if (heap_.size() > 1024 && heap_.size() > 2 * live_.size()) compact();
}

void AsioTimers::compact() {
  std::erase_if(heap_, [this](const Due& d) { return !live_.contains(d.id); });
  std::make_heap(heap_.begin(), heap_.end(), std::greater<>());
}

// Waits for the heap's top. Re-arming cancels the wait before it; a handler that had already
// completed when it was cancelled still runs with success, and fire() then finds nothing due
// or runs what is, so an extra wake-up is harmless.
void AsioTimers::arm() {
  armed_ = heap_.front().at;
  timer_.expires_at(armed_);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;  // re-armed or destroyed
    fire();
  });
}

// Runs what is due by now, in deadline order. Timers a callback starts for now or earlier run
// on the next wake-up, so a callback that restarts itself with no delay cannot starve the loop.
void AsioTimers::fire() {
  armed_ = TimePoint::max();
  const TimePoint until = now();
  while (!heap_.empty() && heap_.front().at <= until) {
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
    const uint64_t id = heap_.back().id;
    heap_.pop_back();
    auto it = live_.find(id);
    if (it == live_.end()) continue;  // cancelled
    auto fn = std::move(it->second);
    live_.erase(it);
    fn();  // may start or cancel timers, or destroy their owners
  }
  shrink_if_sparse(live_);
  while (!heap_.empty() && !live_.contains(heap_.front().id)) {
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
    heap_.pop_back();
  }
  if (!heap_.empty() && heap_.front().at < armed_) arm();
}

}  // namespace verbatim::sip
