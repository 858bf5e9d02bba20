#include "transcribe/engine.h"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace verbatim::transcribe {

using json = nlohmann::json;

namespace {

// Times are kept to the millisecond and confidences to three places: enough for playback and
// ranking, and it keeps transcripts small.
double ms(double seconds) { return std::round(seconds * 1000) / 1000; }

}  // namespace

json EngineInfo::to_json() const {
  return {{"name", name}, {"version", version}, {"model", model}};
}

std::vector<std::pair<size_t, size_t>> speech_segments(std::span<const int16_t> pcm, int rate,
                                                       double max_seconds, double pad) {
  const size_t frame = static_cast<size_t>(rate) / 100;
  if (frame == 0 || pcm.size() < frame) return {};
  const size_t frames = pcm.size() / frame;
  std::vector<double> db(frames);
  for (size_t f = 0; f < frames; ++f) {
    double sum = 0;
    for (size_t i = f * frame; i < (f + 1) * frame; ++i)
      sum += static_cast<double>(pcm[i]) * pcm[i];
    const double mean = sum / static_cast<double>(frame) / (32768.0 * 32768.0);
    db[f] = mean > 1e-12 ? 10 * std::log10(mean) : -120;
  }
  // The noise floor: the 10th percentile of the frames that are not digital silence.
  std::vector<double> heard;
  for (double d : db) {
    if (d > -100) heard.push_back(d);
  }
  if (heard.empty()) return {};
  std::sort(heard.begin(), heard.end());
  const double floor = heard[heard.size() / 10];
  const double peak = heard.back();
  const double threshold = std::max(std::min(floor + 12, peak - 20), -55.0);

  std::vector<bool> speech(frames);
  for (size_t f = 0; f < frames; ++f) speech[f] = db[f] >= threshold;
  std::vector<std::pair<size_t, size_t>> runs;  // in frames
  for (size_t f = 0; f < frames;) {
    if (!speech[f]) {
      ++f;
      continue;
    }
    size_t end = f;
    while (end < frames && speech[end]) ++end;
    if (!runs.empty() && f - runs.back().second < 30) {
      runs.back().second = end;  // a gap under 0.3 s: one utterance
    } else {
      runs.emplace_back(f, end);
    }
    f = end;
  }
  std::vector<std::pair<size_t, size_t>> out;
  const auto max_frames = static_cast<size_t>(std::max(max_seconds, 1.0) * 100);
  for (auto [first, last] : runs) {
    if (last - first < 10) continue;  // a click, not a word
    const auto padding = static_cast<size_t>(std::lround(std::max(pad, 0.0) * 100));
    first = first >= padding ? first - padding : 0;
    last = std::min(last + padding, frames);
    if (!out.empty() && first <= out.back().second) {
      out.back().second = last;
    } else {
      out.emplace_back(first, last);
    }
  }
  std::vector<std::pair<size_t, size_t>> cut;
  for (const auto& range : out) {
    size_t first = range.first;
    const size_t last = range.second;
    while (last - first > max_frames) {
      // The quietest frame in the second half of the allowed length.
      size_t at = first + max_frames / 2;
      for (size_t f = at; f < first + max_frames; ++f) {
        if (db[f] < db[at]) at = f;
      }
      cut.emplace_back(first, at);
      first = at;
    }
    cut.emplace_back(first, last);
  }
  for (auto& [first, last] : cut) {
    first *= frame;
    last = std::min(last * frame, pcm.size());
  }
  return cut;
}

std::vector<std::string> spoken_words(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '\'') {
      cur.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    } else if (!cur.empty()) {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

json utterances_json(const std::vector<Utterance>& utterances) {
  json out = json::array();
  for (const auto& u : utterances) {
    json words = json::array();
    for (const auto& w : u.words) {
      words.push_back({{"word", w.text},
                       {"start", ms(w.start)},
                       {"end", ms(w.end)},
                       {"confidence", std::round(w.confidence * 1000) / 1000}});
    }
    json j = {{"start", ms(u.start)},
              {"end", ms(u.end)},
              {"text", u.text},
              {"confidence", std::round(u.confidence * 1000) / 1000},
              {"words", words}};
    if (!u.phones.empty()) {
      std::string phones;
      for (const auto& p : u.phones) phones.append(phones.empty() ? "" : " ").append(p);
      json starts = json::array();
      for (double s : u.phone_starts) starts.push_back(ms(s));
      j["phones"] = phones;
      j["phoneStarts"] = starts;
    }
    out.push_back(std::move(j));
  }
  return out;
}

Result<std::vector<Utterance>> utterances_from_json(const json& j) {
  if (!j.is_array()) return make_error(ErrorCode::kInvalidArgument, "utterances: not a list");
  std::vector<Utterance> out;
  // Times are seconds on a recording's timeline (under 10^7: 115 days); confidences 0..1.
  auto time_ok = [](double t) { return std::isfinite(t) && t >= 0 && t < 1e7; };
  auto conf_ok = [](double c) { return std::isfinite(c) && c >= 0 && c <= 1; };
  auto bad = [] {
    return make_error(ErrorCode::kInvalidArgument,
                      "utterances: a time outside 0..10^7 s or a confidence outside 0..1");
  };
  try {
    for (const auto& u : j) {
      Utterance x;
      x.start = u.at("start").get<double>();
      x.end = u.at("end").get<double>();
      x.text = u.at("text").get<std::string>();
      x.confidence = u.value("confidence", 0.0);
      if (!time_ok(x.start) || !time_ok(x.end) || !conf_ok(x.confidence)) return bad();
      for (const auto& w : u.at("words")) {
        x.words.push_back({w.at("word").get<std::string>(), w.at("start").get<double>(),
                           w.at("end").get<double>(), w.value("confidence", 0.0)});
        const Word& k = x.words.back();
        if (!time_ok(k.start) || !time_ok(k.end) || !conf_ok(k.confidence)) return bad();
      }
      if (u.contains("phones")) {
        std::string p = u.at("phones").get<std::string>();
        for (size_t at = 0; at < p.size();) {
          const size_t sp = std::min(p.find(' ', at), p.size());
          if (sp > at) x.phones.push_back(p.substr(at, sp - at));
          at = sp + 1;
        }
        x.phone_starts = u.at("phoneStarts").get<std::vector<double>>();
        for (double t : x.phone_starts) {
          if (!time_ok(t)) return bad();
        }
        if (x.phone_starts.size() != x.phones.size()) {
          return make_error(ErrorCode::kInvalidArgument,
                            "utterances: phones and phoneStarts differ in length");
        }
      }
      out.push_back(std::move(x));
    }
  } catch (const json::exception& e) {
    return make_error(ErrorCode::kInvalidArgument, std::string("utterances: ") + e.what());
  }
  return out;
}

}  // namespace verbatim::transcribe
