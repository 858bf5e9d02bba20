#include "sip/timers.h"

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
  // A destructor never throws: Asio reports a failed cancel or close by exception, and there is
  // nothing left to do about it here.
  try {
    for (auto& [id, t] : timers_) t->cancel();
  } catch (...) {
  }
}

uint64_t AsioTimers::start(Millis after, std::function<void()> fn) {
  const uint64_t id = next_id_++;
  auto timer = std::make_unique<boost::asio::steady_timer>(io_, after);
  timer->async_wait([this, id, fn = std::move(fn)](boost::system::error_code ec) {
    if (ec) return;  // cancelled
    // A cancel() between expiry and this handler running removed the entry: do nothing.
    auto it = timers_.find(id);
    if (it == timers_.end()) return;
    timers_.erase(it);
    shrink_if_sparse(timers_);
    fn();
  });
  timers_.emplace(id, std::move(timer));
  return id;
}

void AsioTimers::post(std::function<void()> fn) { boost::asio::post(io_, std::move(fn)); }

void AsioTimers::cancel(uint64_t id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  it->second->cancel();
  timers_.erase(it);
  shrink_if_sparse(timers_);
}

}  // namespace verbatim::sip
