// A worker for one kind of job on the durable queue (jobs/queue.h): playback files
// (playback_jobs.h), transcripts (transcribe_jobs.h). Each kind has its own thread, so a slow
// kind (transcription) never holds up a fast one (playback), and each kind's backlog shows on
// its own (`verbatim calls jobs`).
//
// Off the live path: the thread runs at the idle scheduling class (SCHED_IDLE), so it only gets
// the CPU the recorder's event loop leaves over — load never costs evidence, jobs lag instead
// and catch up. The archive is not thread-safe, so every archive call a job makes goes through
// on_loop(), which runs it on the event loop that owns the archive and waits; the heavy work
// (decoding, encoding, recognising) runs on the worker's thread. A failure is retried with
// back-off (the queue marks the job failed after its attempts); a restart resumes what was left
// (the queue is recovered once, before the first worker starts).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "archive/archive.h"
#include "jobs/queue.h"

namespace verbatim::recorder {

class JobWorker {
 public:
  // Runs one job on the worker's thread: its result (kept by the queue), or an error (retried).
  using Process = std::function<Result<nlohmann::json>(JobWorker&, const jobs::Job&)>;

  JobWorker(boost::asio::io_context& io, jobs::JobQueue& queue, std::string kind, Process process);
  ~JobWorker();
  JobWorker(const JobWorker&) = delete;
  JobWorker& operator=(const JobWorker&) = delete;

  void start();
  // A job became pending.
  void wake();
  // Stops the worker: the job in progress is abandoned (pending again on the next start). The
  // event loop must keep running until this returns (the worker may be waiting for it).
  void stop();
  // Runs `f` on the event loop and waits for it; an error once stopping.
  Status on_loop(const std::function<void()>& f);
  const std::atomic<bool>& stopping() const { return stop_; }
  const std::string& kind() const { return kind_; }
  uint64_t completed() const { return completed_; }
  uint64_t failures() const { return failures_; }

 private:
  void run();

  boost::asio::io_context& io_;
  jobs::JobQueue& queue_;
  std::string kind_;
  Process process_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool woken_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> completed_{0}, failures_{0};
  std::thread thread_;
};

// What a job made from a recording needs first: its catalog metadata and its sealed evidence.
// NOLINTNEXTLINE(bugprone-exception-escape): nlohmann::json members move without throwing
struct JobInput {
  nlohmann::json catalog;
  std::unique_ptr<archive::ObjectReader> evidence;  // null: no sealed evidence
  std::string evidence_id;
  bool gone = false;  // the recording is no longer in the archive
};
Result<JobInput> load_job_input(JobWorker& worker, archive::Archive& archive,
                                const std::string& recording);

// Stores `bytes` as a derived object of the recording (archive.h), written in pieces, one
// event-loop turn each, so a long file never stalls the live path; returns its id.
Result<std::string> store_derived(JobWorker& worker, archive::Archive& archive,
                                  const std::string& recording, const std::string& kind,
                                  std::span<const uint8_t> bytes);

// Sets one top-level key of the recording's metadata as a new version, read and written in one
// event-loop turn, so jobs of different kinds never undo each other's keys.
Status set_metadata_key(JobWorker& worker, archive::Archive& archive, const std::string& recording,
                        const std::string& key, const nlohmann::json& value, const std::string& by,
                        const std::string& reason);

}  // namespace verbatim::recorder
