// Periodic: a function run on a thread of its own, at once and then every interval, until the
// object is destroyed (which waits for a run under way). An error it returns is logged as
// "<what>: <message>" once, until it changes or goes away, so a lasting fault (a database that
// cannot be opened) is one line, not one per second. The missed-recording reconciler and the
// saved-search watcher run this way.
// Threads and ownership: the owner creates and destroys it on one thread; `pass` runs on the
// Periodic's thread only.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.h"

namespace verbatim {

class Periodic {
 public:
  Periodic(std::string what, std::chrono::milliseconds interval, std::function<Status()> pass);
  ~Periodic();
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;

 private:
  void run();

  std::string what_;
  std::chrono::milliseconds interval_;
  std::function<Status()> pass_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace verbatim
