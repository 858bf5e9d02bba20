#include "search/transcript.h"

#include <algorithm>
#include <sstream>

namespace verbatim::search {

using json = nlohmann::json;

Result<json> read_transcript(archive::Archive& archive, const std::string& recording_id,
                             const std::string& who) {
  auto rec = archive.recording(recording_id);
  if (!rec) return rec.error();
  const json& m = rec.value().metadata;
  if (!m.contains("transcripts") || !m["transcripts"].is_object()) {
    return make_error(ErrorCode::kNotFound,
                      "recording " + recording_id +
                          " has no transcript (it is made after the call when the recorder's "
                          "recorder.transcription is on; `verbatim jobs list` shows the queue)");
  }
  const json& t = m["transcripts"];
  json utterances = json::array();
  for (const auto& f : t.value("files", json::array())) {
    const std::string object = f.value("object", "");
    auto content = archive.read_whole(object, who);
    if (!content) return content.error();
    const json doc = json::parse(content.value(), nullptr, false);
    if (!doc.is_object() || !doc.contains("utterances") || !doc["utterances"].is_array()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "transcript object " + object + " is not a transcript");
    }
    const std::string speaker = doc.value("track", json::object()).value("name", "");
    for (auto u : doc["utterances"]) {
      u["speaker"] = speaker;
      u.erase("phones");
      u.erase("phoneStarts");
      utterances.push_back(std::move(u));
    }
  }
  std::stable_sort(utterances.begin(), utterances.end(), [](const json& a, const json& b) {
    return a.value("start", 0.0) < b.value("start", 0.0);
  });
  return json{{"recording", recording_id},
              {"engine", t.value("engine", json::object())},
              {"utterances", utterances}};
}

std::string transcript_lines(const json& transcript) {
  std::ostringstream out;
  for (const auto& u : transcript.value("utterances", json::array())) {
    const auto at = static_cast<int64_t>(u.value("start", 0.0));
    out << at / 60 << ":" << (at % 60 < 10 ? "0" : "") << at % 60 << "  "
        << u.value("speaker", std::string("?")) << ": " << u.value("text", std::string()) << "\n";
  }
  return out.str();
}

}  // namespace verbatim::search
