#include "recorder/playback_jobs.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "recorder/playback.h"

namespace verbatim::recorder {

using json = nlohmann::json;

PlaybackJobs::PlaybackJobs(boost::asio::io_context& io, archive::Archive& archive,
                           jobs::JobQueue& queue)
    : io_(io), archive_(archive), queue_(queue) {}

PlaybackJobs::~PlaybackJobs() { stop(); }

Status PlaybackJobs::start() {
  auto n = queue_.recover();
  if (!n) return n.error();
  if (n.value() > 0) spdlog::info("jobs: {} job(s) resumed from before the restart", n.value());
  thread_ = std::thread([this] { run(); });
  return ok_status();
}

void PlaybackJobs::wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  wake_.notify_one();
}

void PlaybackJobs::stop() {
  stop_ = true;
  wake();
  if (thread_.joinable()) thread_.join();
}

Status PlaybackJobs::on_loop(const std::function<void()>& f) {
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

void PlaybackJobs::run() {
  // Idle class: only the CPU the live path leaves over (nice 19 where that is refused).
  sched_param sp{};
  if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0) {
    (void)setpriority(PRIO_PROCESS, 0, 19);
  }
  while (!stop_) {
    auto claimed = queue_.claim(kKind);
    if (!claimed) {
      spdlog::error("jobs: {}", claimed.error().message);
    } else if (claimed.value()) {
      const jobs::Job& job = *claimed.value();
      const auto started = std::chrono::steady_clock::now();
      auto r = process(job);
      if (r) {
        if (auto st = queue_.done(job.id, r.value().dump()); !st)
          spdlog::error("jobs: {}", st.error().message);
        ++completed_;
        spdlog::info(
            "playback files for recording {}: {} file(s) in {:.2f} s", job.recording,
            r.value().contains("files") ? r.value()["files"].size() : 0,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      } else if (!stop_) {
        ++failures_;
        // Back-off: 10 s, 40 s, 90 s, ... (the queue fails the job after its attempts).
        const auto delay = std::chrono::seconds(10 * job.attempts * job.attempts);
        spdlog::warn("playback job for recording {} (attempt {}): {}", job.recording, job.attempts,
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

Result<json> PlaybackJobs::process(const jobs::Job& job) {
  json catalog;
  std::unique_ptr<archive::ObjectReader> evidence;
  std::string evidence_id;
  std::optional<Error> failure;
  bool gone = false;
  VB_TRY(on_loop([&] {
    auto rec = archive_.recording(job.recording);
    if (!rec) {
      gone = rec.error().code == ErrorCode::kNotFound;
      failure = rec.error();
      return;
    }
    catalog = rec.value().metadata;
    if (catalog.contains("playback")) return;
    auto objects = archive_.objects_of(job.recording);
    if (!objects) {
      failure = objects.error();
      return;
    }
    for (const auto& id : objects.value()) {
      auto info = archive_.object_info(id);
      if (!info || info.value().kind != "evidence-pcap" || info.value().status != "sealed")
        continue;
      auto r = archive_.read_object(id, "playback-job");
      if (!r) {
        failure = r.error();
        return;
      }
      evidence = std::move(r).value();
      evidence_id = id;
      return;
    }
  }));
  if (gone) return json{{"skipped", "the recording is no longer in the archive"}};
  if (failure) return *failure;
  if (catalog.contains("playback")) return catalog["playback"];  // stored before a restart
  if (!evidence)
    return json{{"skipped", "the recording has no sealed evidence"}, {"files", json::array()}};

  PlaybackBuilder builder(catalog, job.recording);
  for (size_t i = 0; i < evidence->chunks().size(); ++i) {
    if (stop_) return make_error(ErrorCode::kFailedPrecondition, "shutting down");
    auto chunk = evidence->read_chunk(i);
    if (!chunk) return chunk.error();
    VB_TRY(builder.feed(chunk.value()));
  }
  auto built = builder.build(&stop_);
  if (!built) return built.error();
  const PlaybackResult& res = built.value();

  json files = json::array();
  for (const auto& t : res.tracks) {
    std::unique_ptr<archive::OpenObject> obj;
    Result<archive::SealedObject> sealed = make_error(ErrorCode::kInternal, "not sealed");
    std::optional<Error> err;
    // Written in pieces, one event-loop turn each, so a long file never stalls the live path.
    VB_TRY(on_loop([&] {
      auto o = archive_.begin_derived_object(job.recording, "playback");
      if (!o) {
        err = o.error();
        return;
      }
      obj = std::move(o).value();
    }));
    if (err) return *err;
    constexpr size_t kPiece = size_t{512} * 1024;
    for (size_t at = 0; at < t.ogg.size() && !err; at += kPiece) {
      const auto piece = std::span(reinterpret_cast<const uint8_t*>(t.ogg.data()) + at,
                                   std::min(kPiece, t.ogg.size() - at));
      VB_TRY(on_loop([&] {
        if (auto st = obj->writer().write(piece); !st) err = st.error();
      }));
    }
    if (err) return *err;
    VB_TRY(on_loop([&] { sealed = archive_.seal(*obj); }));
    if (!sealed) return sealed.error();
    json f = {{"object", obj->id()},
              {"name", t.name},
              {"labels", t.labels},
              {"sampleRate", t.sample_rate},
              {"durationSeconds", std::round(t.duration_s * 1000) / 1000},
              {"packets", t.packets},
              {"bytes", t.ogg.size()},
              {"format", "audio/ogg; codecs=opus"}};
    if (!t.participants.empty()) f["participants"] = t.participants;
    if (!t.aors.empty()) f["aors"] = t.aors;
    if (t.not_decoded) f["notDecoded"] = t.not_decoded;
    if (t.decode_errors) f["decodeErrors"] = t.decode_errors;
    files.push_back(std::move(f));
  }
  json playback = {{"files", files},
                   {"source", evidence_id},  // the evidence object they were made from
                   {"durationSeconds", std::round(res.duration_s * 1000) / 1000},
                   {"packets", res.packets}};
  if (!res.tracks.empty()) {
    playback["timelineStart"] =
        format_iso8601_ms(TimePoint(std::chrono::duration_cast<TimePoint::duration>(
            std::chrono::nanoseconds(res.timeline_start_ns))));
  }
  if (res.unknown_port) playback["packetsOnUnknownPorts"] = res.unknown_port;
  if (res.out_of_span) playback["packetsOutOfSpan"] = res.out_of_span;
  if (res.truncated_bytes) playback["evidenceTruncatedBytes"] = res.truncated_bytes;
  if (!res.without_audio.empty()) playback["withoutAudio"] = res.without_audio;
  if (res.tracks.empty()) playback["note"] = "no decodable audio in the evidence";
  catalog["playback"] = playback;
  Result<int> v = 0;
  VB_TRY(on_loop([&] {
    v = archive_.update_metadata(job.recording, catalog, "playback-job",
                                 "playback files made (" + std::to_string(files.size()) + ")");
  }));
  if (!v) return v.error();
  return playback;
}

}  // namespace verbatim::recorder
