#include "gateway/prompts.h"

#include <sndfile.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>

#include "common/strings.h"
#include "media/audio.h"

namespace verbatim::gateway {

namespace fs = std::filesystem;

namespace {

constexpr std::array<std::string_view, 3> kExtensions = {".wav", ".flac", ".ogg"};

// "de_CH" -> {"de-ch", "de", "en"}; "" -> {"en"}.
std::vector<std::string> candidates(std::string_view language) {
  std::string tag = to_lower(language);
  std::replace(tag.begin(), tag.end(), '_', '-');
  std::vector<std::string> out;
  auto add = [&out](std::string s) {
    // Only what can be a directory name of ours: letters, digits and '-'.
    if (s.empty() || std::any_of(s.begin(), s.end(), [](char ch) {
          return !std::isalnum(static_cast<unsigned char>(ch)) && ch != '-';
        })) {
      return;
    }
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(std::move(s));
  };
  add(tag);
  add(tag.substr(0, tag.find('-')));
  add("en");
  return out;
}

}  // namespace

std::string_view prompt_name(Prompt p) {
  switch (p) {
    case Prompt::kRecordingStarted:
      return "recording-started";
    case Prompt::kRecordingStopped:
      return "recording-stopped";
    case Prompt::kMeetingPin:
      return "meeting-pin";
    case Prompt::kMeetingPinWrong:
      return "meeting-pin-wrong";
    case Prompt::kMeetingRecordingStarted:
      return "meeting-recording-started";
    case Prompt::kMeetingRecordingUnavailable:
      return "meeting-recording-unavailable";
    case Prompt::kMeetingRecordingStopped:
      return "meeting-recording-stopped";
    case Prompt::kLanguageChoice1:
      return "language-choice-1";
    case Prompt::kLanguageChoice2:
      return "language-choice-2";
    case Prompt::kLanguageChoice3:
      return "language-choice-3";
    case Prompt::kLanguageChoice4:
      return "language-choice-4";
    case Prompt::kLanguageChoice5:
      return "language-choice-5";
  }
  return "";
}

Prompt language_choice(size_t n) {
  static constexpr std::array<Prompt, kLanguageChoices> kChoices{
      Prompt::kLanguageChoice1, Prompt::kLanguageChoice2, Prompt::kLanguageChoice3,
      Prompt::kLanguageChoice4, Prompt::kLanguageChoice5};
  return kChoices.at(n - 1);
}

Result<std::shared_ptr<const EncodedPrompt>> PromptLibrary::sequence(
    const std::vector<std::pair<Prompt, std::string>>& parts, const std::string& encoding) {
  auto out = std::make_shared<EncodedPrompt>();
  auto frames = std::make_shared<std::vector<std::vector<uint8_t>>>();
  for (const auto& [prompt, language] : parts) {
    auto one = get(prompt, language, encoding);
    if (!one) return one.error();
    // Found in its own language ("de" for "de-DE"), not in the English fallback.
    const std::string& found = one.value()->language;
    if (!iequals(found, language) && !istarts_with(language, found + "-")) {
      return make_error(ErrorCode::kNotFound, "no prompt " + std::string(prompt_name(prompt)) +
                                                  " in language '" + language + "'");
    }
    if (out->file.empty()) {
      out->language = found;
      out->encoding = one.value()->encoding;
      out->ticks_per_frame = one.value()->ticks_per_frame;
    }
    out->file += (out->file.empty() ? "" : " + ") + one.value()->file;
    frames->insert(frames->end(), one.value()->frames->begin(), one.value()->frames->end());
  }
  out->frames = std::move(frames);
  return std::shared_ptr<const EncodedPrompt>(std::move(out));
}

Result<std::vector<int16_t>> PromptLibrary::read(const std::string& path, int& rate) {
  SF_INFO info{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  if (!f) return make_error(ErrorCode::kInvalidArgument, sf_strerror(nullptr));
  struct Closer {
    SNDFILE* f;
    ~Closer() { sf_close(f); }
  } closer{f};
  if (info.channels < 1 || info.channels > 8 || info.samplerate < 8000 ||
      info.samplerate > 192000) {
    return make_error(ErrorCode::kInvalidArgument,
                      "unsupported format (" + std::to_string(info.channels) + " channels at " +
                          std::to_string(info.samplerate) + " Hz)");
  }
  if (info.frames <= 0) return make_error(ErrorCode::kInvalidArgument, "no audio in it");
  if (info.frames > static_cast<sf_count_t>(kMaxSeconds) * info.samplerate) {
    return make_error(ErrorCode::kInvalidArgument,
                      "longer than " + std::to_string(kMaxSeconds) + " s");
  }
  std::vector<int16_t> interleaved(static_cast<size_t>(info.frames * info.channels));
  const sf_count_t n = sf_readf_short(f, interleaved.data(), info.frames);
  if (n <= 0) return make_error(ErrorCode::kInvalidArgument, "no audio could be read");
  std::vector<int16_t> mono(static_cast<size_t>(n));
  const auto ch = static_cast<size_t>(info.channels);
  for (size_t i = 0; i < mono.size(); ++i) {
    int sum = 0;
    for (size_t c = 0; c < ch; ++c) sum += interleaved[i * ch + c];
    mono[i] = static_cast<int16_t>(sum / static_cast<int>(ch));
  }
  rate = info.samplerate;
  return mono;
}

Result<std::shared_ptr<const EncodedPrompt>> PromptLibrary::load(const std::string& path,
                                                                 const std::string& language,
                                                                 const std::string& encoding) {
  const auto key = std::pair{path, to_lower(encoding)};
  if (auto it = encoded_.find(key); it != encoded_.end()) return it->second;
  int rate = 0;
  auto pcm = read(path, rate);
  if (!pcm) return pcm.error();
  auto frames = media::encode_frames(encoding, pcm.value(), rate);
  if (!frames) return frames.error();
  auto p = std::make_shared<EncodedPrompt>();
  p->language = language;
  p->file = path;
  p->encoding = encoding;
  p->ticks_per_frame = media::frame_ticks(encoding);
  p->frames = std::make_shared<const std::vector<std::vector<uint8_t>>>(std::move(frames).value());
  encoded_[key] = p;
  return std::shared_ptr<const EncodedPrompt>(p);
}

Result<std::shared_ptr<const EncodedPrompt>> PromptLibrary::get(Prompt p, std::string_view language,
                                                                const std::string& encoding) {
  if (!media::can_decode(encoding)) {
    return make_error(ErrorCode::kNotFound, "no prompt encoder for " + encoding);
  }
  const auto key = std::tuple{p, std::string(language), to_lower(encoding)};
  if (auto it = found_.find(key); it != found_.end()) return it->second;
  for (const std::string& lang : candidates(language)) {
    for (const std::string& dir : dirs_) {
      for (std::string_view ext : kExtensions) {
        const std::string path =
            (fs::path(dir) / lang / (std::string(prompt_name(p)) + std::string(ext))).string();
        std::error_code ec;
        if (bad_.count(path) || !fs::is_regular_file(path, ec)) continue;
        auto loaded = load(path, lang, encoding);
        if (!loaded) {
          bad_[path] = loaded.error().message;
          spdlog::error("prompt {}: {} (skipped: the next one in line plays instead)", path,
                        loaded.error().message);
          continue;
        }
        found_[key] = loaded.value();
        return loaded;
      }
    }
  }
  return make_error(ErrorCode::kNotFound, std::string("no prompt ") + std::string(prompt_name(p)) +
                                              " for language '" + std::string(language) +
                                              "' or English");
}

std::vector<std::string> PromptLibrary::check() const {
  std::vector<std::string> problems;
  for (const std::string& dir : dirs_) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
      const auto ext = to_lower(e.path().extension().string());
      if (!e.is_regular_file() ||
          std::find(kExtensions.begin(), kExtensions.end(), ext) == kExtensions.end()) {
        continue;
      }
      int rate = 0;
      if (auto r = read(e.path().string(), rate); !r) {
        problems.push_back(e.path().string() + ": " + r.error().message);
      }
    }
  }
  return problems;
}

}  // namespace verbatim::gateway
