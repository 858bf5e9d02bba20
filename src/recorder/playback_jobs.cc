#include "recorder/playback_jobs.h"

#include <cmath>

#include "recorder/playback.h"

namespace verbatim::recorder {

using json = nlohmann::json;

Result<PlaybackResult> build_from_evidence(JobWorker& worker, JobInput& in,
                                           const std::string& recording,
                                           PlaybackBuilder::Output output) {
  PlaybackBuilder builder(in.catalog, recording);
  builder.set_output(output);
  for (size_t i = 0; i < in.evidence->chunks().size(); ++i) {
    if (worker.stopping()) return make_error(ErrorCode::kFailedPrecondition, "shutting down");
    auto chunk = in.evidence->read_chunk(i);
    if (!chunk) return chunk.error();
    VB_TRY(builder.feed(chunk.value()));
  }
  return builder.build(&worker.stopping());
}

Result<json> run_playback_job(JobWorker& worker, archive::Archive& archive, const jobs::Job& job) {
  auto in = load_job_input(worker, archive, job.recording);
  if (!in) return in.error();
  if (in.value().gone) return json{{"skipped", "the recording is no longer in the archive"}};
  json& catalog = in.value().catalog;
  if (catalog.contains("playback")) return catalog["playback"];  // stored before a restart
  if (!in.value().evidence)
    return json{{"skipped", "the recording has no sealed evidence"}, {"files", json::array()}};

  auto built =
      build_from_evidence(worker, in.value(), job.recording, PlaybackBuilder::Output::kOgg);
  if (!built) return built.error();
  const PlaybackResult& res = built.value();

  json files = json::array();
  for (const auto& t : res.tracks) {
    auto object =
        store_derived(worker, archive, job.recording, "playback",
                      std::span(reinterpret_cast<const uint8_t*>(t.ogg.data()), t.ogg.size()));
    if (!object) return object.error();
    json f = {{"object", object.value()},
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
  json videos = json::array();
  for (const auto& v : res.videos) {
    const auto& f = v.file;
    auto object =
        store_derived(worker, archive, job.recording, "playback",
                      std::span(reinterpret_cast<const uint8_t*>(f.bytes.data()), f.bytes.size()));
    if (!object) return object.error();
    json entry = {
        {"object", object.value()}, {"name", v.name},
        {"label", v.label},         {"codec", v.encoding},
        {"format", f.format},       {"width", f.width},
        {"height", f.height},       {"frames", f.frames},
        {"keyframes", f.keyframes}, {"durationSeconds", std::round(f.duration_s * 1000) / 1000},
        {"bytes", f.bytes.size()}};
    if (f.frames_lost) entry["framesLost"] = f.frames_lost;
    if (!v.participants.empty()) entry["participants"] = v.participants;
    if (!v.aors.empty()) entry["aors"] = v.aors;
    videos.push_back(std::move(entry));
  }
  const size_t made = files.size() + videos.size();
  json playback = {{"files", files},
                   {"source", in.value().evidence_id},  // the evidence object they were made from
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
  if (!videos.empty()) playback["videos"] = std::move(videos);
  if (!res.without_video.empty()) playback["withoutVideo"] = res.without_video;
  if (res.tracks.empty() && res.videos.empty()) {
    playback["note"] = "no decodable audio in the evidence";
  }
  VB_TRY(set_metadata_key(worker, archive, job.recording, "playback", playback, "playback-job",
                          "playback files made (" + std::to_string(made) + ")"));
  return playback;
}

}  // namespace verbatim::recorder
