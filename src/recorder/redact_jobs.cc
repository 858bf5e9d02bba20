#include "recorder/redact_jobs.h"

#include <cmath>
#include <vector>

#include "media/audio.h"

namespace verbatim::recorder {

using json = nlohmann::json;

namespace {

// A redacted file is decoded whole, as a WAV download is, with the same cap: about 4.6 hours
// of 8 kHz audio, 45 minutes at 48 kHz.
constexpr size_t kMaxDecodedBytes = size_t{256} << 20;

}  // namespace

Result<json> run_redact_job(JobWorker& worker, archive::Archive& archive, jobs::JobQueue& queue,
                            const jobs::Job& job) {
  const size_t slash = job.recording.rfind('/');
  if (slash == std::string::npos) return json{{"skipped", "not a redaction job"}};
  const std::string rec = job.recording.substr(0, slash);
  int64_t request_id = 0;
  try {
    request_id = std::stoll(job.recording.substr(slash + 1));
  } catch (const std::exception&) {
    return json{{"skipped", "not a redaction job"}};
  }
  auto found = queue.redaction(request_id);
  if (!found) return found.error();
  if (!found.value()) return json{{"skipped", "the request is gone"}};
  const jobs::Redaction& req = *found.value();
  const json spans = json::parse(req.spans, nullptr, false);
  if (auto st = jobs::check_redaction_spans(spans); !st)
    return json{{"refused", st.error().message}};
  const media::RedactFill fill =
      req.fill == "tone" ? media::RedactFill::kTone : media::RedactFill::kSilence;

  // The latest version's files (the original playback files before any redaction).
  json catalog;
  bool gone = false;
  std::optional<Error> failure;
  VB_TRY(worker.on_loop([&] {
    auto r = archive.recording(rec);
    if (!r) {
      gone = r.error().code == ErrorCode::kNotFound;
      if (!gone) failure = r.error();
      return;
    }
    catalog = r.value().metadata;
  }));
  if (failure) return *failure;
  if (gone) return json{{"skipped", "the recording is no longer in the archive"}};
  const json versions = catalog.contains("redactions") ? catalog["redactions"] : json::array();
  for (const auto& v : versions) {
    if (v.value("request", int64_t{0}) == request_id) return json{{"version", v["version"]}};
  }
  const json base = !versions.empty() ? versions.back()["files"]
                    : catalog.contains("playback") && catalog["playback"].contains("files")
                        ? catalog["playback"]["files"]
                        : json::array();
  if (base.empty()) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "recording " + rec +
                          " has no playback files yet (the playback job makes "
                          "them after the call)");
  }
  const int version = static_cast<int>(versions.size()) + 1;

  json files = json::array();
  double redacted_seconds = 0;
  for (const auto& file : base) {
    std::vector<media::RedactSpan> mine;
    for (const auto& s : spans) {
      if (jobs::redaction_concerns(s, file))
        mine.push_back({s["start"].get<double>(), s["end"].get<double>()});
    }
    if (mine.empty()) {  // untouched: the version before's file
      files.push_back(file);
      continue;
    }
    Result<std::string> ogg = make_error(ErrorCode::kInternal, "not read");
    VB_TRY(
        worker.on_loop([&] { ogg = archive.read_whole(file.value("object", ""), "redact-job"); }));
    if (!ogg) return ogg.error();
    auto audio = media::decode_ogg_opus(ogg.value(), kMaxDecodedBytes);
    if (!audio) return audio.error();
    const size_t replaced =
        media::redact_samples(audio.value().pcm, audio.value().rate, mine, fill);
    auto comments = audio.value().comments;
    comments.emplace_back("VERBATIM_REDACTED", "version " + std::to_string(version));
    const int rate = audio.value().rate;
    auto w = media::OggOpusWriter::create(rate, rate == 8000 ? 40000 : 48000, comments);
    if (!w) return w.error();
    VB_TRY(w.value()->write(audio.value().pcm));
    auto out = w.value()->finish();
    if (!out) return out.error();
    auto object = store_derived(
        worker, archive, rec, "playback-redacted",
        std::span(reinterpret_cast<const uint8_t*>(out.value().data()), out.value().size()));
    if (!object) return object.error();
    json f = file;
    f["object"] = object.value();
    f["bytes"] = out.value().size();
    f["redactedFrom"] = file.value("object", "");
    f["redactedSeconds"] = std::round(static_cast<double>(replaced) / rate * 1000) / 1000;
    redacted_seconds += f["redactedSeconds"].get<double>();
    files.push_back(std::move(f));
  }

  json entry = {{"version", version},
                {"request", request_id},
                {"spans", spans},
                {"fill", req.fill},
                {"reason", req.reason},
                {"requestedBy", req.requested_by},
                {"requestedAt", req.requested_at},
                {"files", files}};
  Status st = ok_status();
  VB_TRY(worker.on_loop([&] {
    auto r = archive.recording(rec);
    if (!r) {
      st = r.error();
      return;
    }
    json m = r.value().metadata;
    if (!m.contains("redactions") || !m["redactions"].is_array()) m["redactions"] = json::array();
    if (static_cast<int>(m["redactions"].size()) + 1 != version) {
      st = make_error(ErrorCode::kConflict, "another redaction of " + rec + " came first");
      return;
    }
    m["redactions"].push_back(entry);
    auto v =
        archive.update_metadata(rec, m, req.requested_by,
                                "redaction version " + std::to_string(version) + ": " + req.reason);
    if (!v) st = v.error();
  }));
  if (!st) return st.error();
  return json{{"version", version}, {"files", files.size()}, {"redactedSeconds", redacted_seconds}};
}

}  // namespace verbatim::recorder
