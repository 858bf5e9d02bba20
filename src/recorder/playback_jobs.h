// The playback job worker: takes "playback" jobs from the durable queue (jobs/queue.h) and
// turns a finished recording's evidence into one Ogg/Opus file per participant
// (playback.h), stored through the archive as objects of kind "playback", and lists them in
// a new version of the recording's catalog metadata ("playback": file per participant, with
// its object id, streams, duration and packet counts).
//
// Off the live path: one thread of its own at the idle scheduling class (SCHED_IDLE), so it
// only gets the CPU the recorder's event loop leaves over — load never costs evidence, jobs
// lag instead and catch up. The archive is not thread-safe, so every archive call (reading the
// catalog, opening the evidence, writing and sealing the files) is posted to the event loop
// that owns it; the decoding and encoding run here. A failure is retried with back-off (the
// queue marks the job failed after its attempts); a restart resumes what was left.
// Idempotent: a job whose recording already lists playback files (the process stopped after
// storing them, before marking the job done) just completes.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "archive/archive.h"
#include "jobs/queue.h"

namespace verbatim::recorder {

class PlaybackJobs {
 public:
  PlaybackJobs(boost::asio::io_context& io, archive::Archive& archive, jobs::JobQueue& queue);
  ~PlaybackJobs();
  PlaybackJobs(const PlaybackJobs&) = delete;
  PlaybackJobs& operator=(const PlaybackJobs&) = delete;

  // Recovers the queue (jobs.h) and starts the worker thread.
  Status start();
  // A job became pending.
  void wake();
  // Stops the worker: the job in progress is abandoned (pending again on the next start). The
  // event loop must keep running until this returns (the worker may be waiting for it).
  void stop();
  uint64_t completed() const { return completed_; }
  uint64_t failures() const { return failures_; }

  static constexpr const char* kKind = "playback";

 private:
  void run();
  // Runs `f` on the event loop and waits for it; an error once stopping.
  Status on_loop(const std::function<void()>& f);
  Result<nlohmann::json> process(const jobs::Job& job);

  boost::asio::io_context& io_;
  archive::Archive& archive_;
  jobs::JobQueue& queue_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool woken_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> completed_{0}, failures_{0};
  std::thread thread_;
};

}  // namespace verbatim::recorder
