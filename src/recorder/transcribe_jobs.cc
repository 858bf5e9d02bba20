#include "recorder/transcribe_jobs.h"

#include <chrono>
#include <cmath>

#include "common/clock.h"
#include "media/audio.h"
#include "recorder/playback_jobs.h"
#include "transcribe/phonetic.h"
#include "transcribe/talk.h"

namespace verbatim::recorder {

using json = nlohmann::json;

Result<json> Transcriber::run(JobWorker& worker, archive::Archive& archive, const jobs::Job& job) {
  auto in = load_job_input(worker, archive, job.recording);
  if (!in) return in.error();
  if (in.value().gone) return json{{"skipped", "the recording is no longer in the archive"}};
  const json& catalog = in.value().catalog;
  if (catalog.contains("transcripts")) return catalog["transcripts"];  // stored before a restart
  if (!in.value().evidence) return json{{"skipped", "the recording has no sealed evidence"}};
  const auto started = std::chrono::steady_clock::now();

  auto built =
      build_from_evidence(worker, in.value(), job.recording, PlaybackBuilder::Output::kPcm);
  if (!built) return built.error();
  PlaybackResult& res = built.value();

  // An earlier attempt may have indexed some tracks before it stopped.
  Status dropped = ok_status();
  VB_TRY(worker.on_loop([&] { dropped = archive.drop_transcripts(job.recording); }));
  VB_TRY(dropped);

  const auto& info = engine_->info();
  const std::string timeline_start =
      format_iso8601_ms(TimePoint(std::chrono::duration_cast<TimePoint::duration>(
          std::chrono::nanoseconds(res.timeline_start_ns))));
  json files = json::array();
  std::vector<transcribe::Intervals> talk;              // per track: when it spoke
  std::vector<transcribe::ScoredUtterance> all_scored;  // every participant's, for the call
  double audio_s = 0;
  for (auto& t : res.tracks) {
    std::vector<int16_t> wide;
    if (t.sample_rate == transcribe::kSampleRate) {
      wide = std::move(t.pcm);
    } else {
      auto rs = media::Resampler::create(t.sample_rate, transcribe::kSampleRate);
      if (!rs) return rs.error();
      rs.value()->process(t.pcm, wide);
    }
    t.pcm = {};
    audio_s += static_cast<double>(wide.size()) / transcribe::kSampleRate;
    auto& spoke = talk.emplace_back();
    for (const auto& [a, b] : transcribe::speech_segments(wide, transcribe::kSampleRate, 1e6, 0)) {
      spoke.emplace_back(static_cast<double>(a) / transcribe::kSampleRate,
                         static_cast<double>(b) / transcribe::kSampleRate);
    }
    auto utterances = engine_->transcribe(wide, &worker.stopping());
    if (!utterances) return utterances.error();
    size_t words = 0;
    double confidence = 0;
    for (const auto& u : utterances.value()) {
      words += u.words.size();
      for (const auto& w : u.words) confidence += w.confidence;
    }
    // Sentiment per utterance, and the participant's over the call.
    json uts = transcribe::utterances_json(utterances.value());
    std::vector<transcribe::ScoredUtterance> scored;
    if (sentiment_) {
      for (size_t i = 0; i < utterances.value().size() && i < uts.size(); ++i) {
        const auto& u = utterances.value()[i];
        const auto sc = sentiment_->score(u.text);
        uts[i]["sentiment"] = sc.compound;
        scored.push_back({u.start, u.words.size(), sc.compound});
      }
      all_scored.insert(all_scored.end(), scored.begin(), scored.end());
    }
    json track = {{"name", t.name}, {"labels", t.labels}};
    if (!t.participants.empty()) track["participants"] = t.participants;
    if (!t.aors.empty()) track["aors"] = t.aors;
    const json doc = {{"format", "verbatim-transcript/1"},
                      {"recording", job.recording},
                      {"engine", info.to_json()},
                      {"track", track},
                      {"timelineStart", timeline_start},
                      {"audioSeconds", std::round(t.duration_s * 1000) / 1000},
                      {"utterances", std::move(uts)}};
    const std::string text = doc.dump();
    auto object =
        store_derived(worker, archive, job.recording, "transcript",
                      std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
    if (!object) return object.error();
    std::vector<archive::IndexedUtterance> rows;
    for (const auto& u : utterances.value()) {
      rows.push_back({t.name, std::llround(u.start * 1000), std::llround(u.end * 1000), u.text,
                      transcribe::encode_phones(u.phones)});
    }
    Status indexed = ok_status();
    VB_TRY(worker.on_loop(
        [&] { indexed = archive.index_transcript(job.recording, object.value(), rows); }));
    VB_TRY(indexed);
    json f = track;
    f["object"] = object.value();
    f["utterances"] = utterances.value().size();
    f["words"] = words;
    if (words) f["confidence"] = std::round(confidence / static_cast<double>(words) * 1000) / 1000;
    if (sentiment_) f["sentiment"] = transcribe::sentiment_summary(scored);
    files.push_back(std::move(f));
  }
  const auto stats = transcribe::talk_stats(talk, res.duration_s);
  auto share = [](double r) { return std::round(r * 1000) / 1000; };
  for (size_t i = 0; i < files.size(); ++i) {
    files[i]["talkSeconds"] = std::round(stats.talk_seconds[i] * 10) / 10;
    files[i]["talkRatio"] = share(stats.talk_ratio(i));
  }
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  json transcripts = {{"engine", info.to_json()},
                      {"files", files},
                      {"audioSeconds", std::round(audio_s * 1000) / 1000},
                      {"talk",
                       {{"durationSeconds", std::round(res.duration_s * 10) / 10},
                        {"overtalkRatio", share(stats.overtalk_ratio())},
                        {"silenceRatio", share(stats.silence_ratio())}}},
                      {"processingSeconds", std::round(took * 1000) / 1000}};
  if (sentiment_) {
    transcripts["sentiment"] = {{"engine", sentiment_->info().to_json()},
                                {"overall", transcribe::sentiment_summary(all_scored)}};
  }
  if (audio_s > 0) transcripts["realTimeFactor"] = std::round(took / audio_s * 1000) / 1000;
  if (res.tracks.empty()) transcripts["note"] = "no decodable audio in the evidence";
  VB_TRY(set_metadata_key(worker, archive, job.recording, "transcripts", transcripts,
                          "transcribe-job",
                          "transcribed by " + info.name + " " + info.version + " (" +
                              std::to_string(files.size()) + " participant(s))"));
  return transcripts;
}

}  // namespace verbatim::recorder
