#include "common/periodic.h"

#include <spdlog/spdlog.h>

namespace verbatim {

Periodic::Periodic(std::string what, std::chrono::milliseconds interval,
                   std::function<Status()> pass)
    : what_(std::move(what)), interval_(interval), pass_(std::move(pass)) {
  thread_ = std::thread([this] { run(); });
}

Periodic::~Periodic() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Periodic::run() {
  std::string last_problem;
  std::unique_lock lock(mutex_);
  while (!stop_) {
    lock.unlock();
    const Status st = pass_();
    const std::string problem = st ? "" : st.error().message;
    if (problem != last_problem) {
      if (!problem.empty()) spdlog::error("{}: {}", what_, problem);
      if (problem.empty()) spdlog::info("{}: works again", what_);
      last_problem = problem;
    }
    lock.lock();
    wake_.wait_for(lock, interval_, [this] { return stop_; });
  }
}

}  // namespace verbatim
