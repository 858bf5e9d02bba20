#include "recorder/job_worker.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

namespace verbatim::recorder {

using json = nlohmann::json;

JobWorker::JobWorker(boost::asio::io_context& io, jobs::JobQueue& queue, std::string kind,
                     Process process)
    : io_(io), queue_(queue), kind_(std::move(kind)), process_(std::move(process)) {}

JobWorker::~JobWorker() { stop(); }

void JobWorker::start() {
  thread_ = std::thread([this] { run(); });
}

void JobWorker::wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  wake_.notify_one();
}

void JobWorker::stop() {
  stop_ = true;
  wake();
  if (thread_.joinable()) thread_.join();
}

Status JobWorker::on_loop(const std::function<void()>& f) {
  struct State {
    std::mutex mutex;
    std::condition_variable cv;
    bool started = false, finished = false, abandoned = false;
  };
  if (stop_) return make_error(ErrorCode::kFailedPrecondition, "shutting down");
  auto st = std::make_shared<State>();
  boost::asio::post(io_, [st, f] {
    {
      std::lock_guard lock(st->mutex);
      if (st->abandoned) return;
      st->started = true;
    }
    f();
    {
      std::lock_guard lock(st->mutex);
      st->finished = true;
    }
    st->cv.notify_one();
  });
  std::unique_lock lock(st->mutex);
  while (!st->finished) {
    if (stop_ && !st->started) {
      st->abandoned = true;
      return make_error(ErrorCode::kFailedPrecondition, "shutting down");
    }
    st->cv.wait_for(lock, std::chrono::milliseconds(50));
  }
  return ok_status();
}

void JobWorker::run() {
  // Idle class: only the CPU the live path leaves over (nice 19 where that is refused).
  sched_param sp{};
  if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0) {
    (void)setpriority(PRIO_PROCESS, 0, 19);
  }
  while (!stop_) {
    auto claimed = queue_.claim(kind_);
    if (!claimed) {
      spdlog::error("jobs: {}", claimed.error().message);
    } else if (claimed.value()) {
      const jobs::Job& job = *claimed.value();
      const auto started = std::chrono::steady_clock::now();
      auto r = process_(*this, job);
      if (r) {
        if (auto st = queue_.done(job.id, r.value().dump()); !st)
          spdlog::error("jobs: {}", st.error().message);
        ++completed_;
        spdlog::info(
            "{} job for recording {} done in {:.2f} s", kind_, job.recording,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      } else if (!stop_) {
        ++failures_;
        // Back-off: 10 s, 40 s, 90 s, ... (the queue fails the job after its attempts).
        const auto delay = std::chrono::seconds(10 * job.attempts * job.attempts);
        spdlog::warn("{} job for recording {} (attempt {}): {}", kind_, job.recording, job.attempts,
                     r.error().message);
        if (auto st = queue_.retry(job.id, r.error().message, delay); !st)
          spdlog::error("jobs: {}", st.error().message);
      }
      continue;
    }
    // Nothing to do: sleep until woken (a recording ended) or a retry may be due.
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, std::chrono::seconds(5), [this] { return woken_ || stop_.load(); });
    woken_ = false;
  }
}

Result<JobInput> load_job_input(JobWorker& worker, archive::Archive& archive,
                                const std::string& recording) {
  JobInput in;
  std::optional<Error> failure;
  VB_TRY(worker.on_loop([&] {
    auto rec = archive.recording(recording);
    if (!rec) {
      in.gone = rec.error().code == ErrorCode::kNotFound;
      if (!in.gone) failure = rec.error();
      return;
    }
    in.catalog = rec.value().metadata;
    auto objects = archive.objects_of(recording);
    if (!objects) {
      failure = objects.error();
      return;
    }
    for (const auto& id : objects.value()) {
      auto info = archive.object_info(id);
      if (!info || info.value().kind != "evidence-pcap" || info.value().status != "sealed")
        continue;
      auto r = archive.read_object(id, worker.kind() + "-job");
      if (!r) {
        failure = r.error();
        return;
      }
      in.evidence = std::move(r).value();
      in.evidence_id = id;
      return;
    }
  }));
  if (failure) return *failure;
  return in;
}

Result<std::string> store_derived(JobWorker& worker, archive::Archive& archive,
                                  const std::string& recording, const std::string& kind,
                                  std::span<const uint8_t> bytes) {
  std::unique_ptr<archive::OpenObject> obj;
  Result<archive::SealedObject> sealed = make_error(ErrorCode::kInternal, "not sealed");
  std::optional<Error> err;
  VB_TRY(worker.on_loop([&] {
    auto o = archive.begin_derived_object(recording, kind);
    if (!o) {
      err = o.error();
      return;
    }
    obj = std::move(o).value();
  }));
  if (err) return *err;
  constexpr size_t kPiece = size_t{512} * 1024;
  for (size_t at = 0; at < bytes.size() && !err; at += kPiece) {
    const auto piece = bytes.subspan(at, std::min(kPiece, bytes.size() - at));
    VB_TRY(worker.on_loop([&] {
      if (auto st = obj->writer().write(piece); !st) err = st.error();
    }));
  }
  if (err) return *err;
  VB_TRY(worker.on_loop([&] { sealed = archive.seal(*obj); }));
  if (!sealed) return sealed.error();
  return obj->id();
}

Status set_metadata_key(JobWorker& worker, archive::Archive& archive, const std::string& recording,
                        const std::string& key, const json& value, const std::string& by,
                        const std::string& reason) {
  Status result = ok_status();
  VB_TRY(worker.on_loop([&] {
    auto rec = archive.recording(recording);
    if (!rec) {
      result = rec.error();
      return;
    }
    json m = rec.value().metadata;
    m[key] = value;
    if (auto v = archive.update_metadata(recording, m, by, reason); !v) result = v.error();
  }));
  return result;
}

}  // namespace verbatim::recorder
