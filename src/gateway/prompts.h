// The spoken notices the gateway plays into calls: "this call is being recorded" to parties
// that cannot show the recording indicator, and the warning before a user is removed because
// the recording required by their policy stopped.
//
// Built-in prompts are rendered by espeak-ng at build time from share/prompts/texts.tsv (English,
// German, French, Spanish, Italian, Japanese) into VERBATIM_BUILT_PROMPTS/<language>/<prompt>.wav.
// Admins supply their own as <prompts_dir>/<language>/<prompt>.{wav,flac,ogg} (any rate, mono or
// stereo: libsndfile reads them, they are resampled and encoded once per codec and kept).
// A language is looked up as its whole tag ("de-ch"), then its primary subtag ("de"), then
// English; in each, the admin's file before the built-in one. An admin file that does not read
// is logged and skipped (the built-in one plays), never a reason to drop a notice.
// Not thread-safe: the gateway's thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "common/result.h"

namespace verbatim::gateway {

enum class Prompt {
  kRecordingStarted,
  kRecordingStopped,
  kMeetingPin,
  kMeetingPinWrong,
  kMeetingRecordingStarted,      // to everyone in a meeting when its recording starts
  kMeetingRecordingUnavailable,  // RequiredBeforeMeetingJoin not met: not admitted
  kMeetingRecordingStopped,      // RequiredDuringMeeting: the warning before removal
  // The dial-in language menu: "For English, press N." in that language, N = 1...5.
  kLanguageChoice1,
  kLanguageChoice2,
  kLanguageChoice3,
  kLanguageChoice4,
  kLanguageChoice5,
};
inline constexpr size_t kLanguageChoices = 5;
// The menu's entry for key `n` (1...kLanguageChoices).
Prompt language_choice(size_t n);
// "recording-started", "recording-stopped", "meeting-pin", "meeting-pin-wrong",
// "meeting-recording-started", "meeting-recording-unavailable", "meeting-recording-stopped",
// "language-choice-1" ... "language-choice-5"
std::string_view prompt_name(Prompt p);

// A prompt encoded for one codec: RTP payloads of 20 ms each.
struct EncodedPrompt {
  std::string language;  // the directory it came from ("de")
  std::string file;
  std::string encoding;
  uint32_t ticks_per_frame = 160;
  std::shared_ptr<const std::vector<std::vector<uint8_t>>> frames;
  int64_t duration_ms() const { return static_cast<int64_t>(frames->size()) * 20; }
};

class PromptLibrary {
 public:
  static constexpr int kMaxSeconds = 30;  // a longer file is refused (a notice, not music)

  // `dirs` in the order they are searched for each language (the admin's first).
  explicit PromptLibrary(std::vector<std::string> dirs) : dirs_(std::move(dirs)) {}

  // The prompt for `language` (a BCP 47 tag; empty: English) encoded as `encoding` (PCMU,
  // PCMA, G722, opus). kNotFound when no directory has it in that language or English.
  Result<std::shared_ptr<const EncodedPrompt>> get(Prompt p, std::string_view language,
                                                   const std::string& encoding);

  // Prompts one after the other, each in its own language (the dial-in language menu), as one.
  // kNotFound when one of them has no file in its own language (an English fallback would name
  // the wrong key).
  Result<std::shared_ptr<const EncodedPrompt>> sequence(
      const std::vector<std::pair<Prompt, std::string>>& parts, const std::string& encoding);

  // Every prompt file in the directories, read: the problems found ("path: why"), for the
  // operator at start-up.
  std::vector<std::string> check() const;

  // Reads a sound file as mono 16-bit samples; the rate goes to `rate`.
  static Result<std::vector<int16_t>> read(const std::string& path, int& rate);

 private:
  Result<std::shared_ptr<const EncodedPrompt>> load(const std::string& path,
                                                    const std::string& language,
                                                    const std::string& encoding);
  std::vector<std::string> dirs_;
  // (prompt, language asked for, encoding) -> the prompt found; (file, encoding) -> encoded.
  std::map<std::tuple<Prompt, std::string, std::string>, std::shared_ptr<const EncodedPrompt>>
      found_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const EncodedPrompt>> encoded_;
  std::map<std::string, std::string> bad_;  // file -> why (logged once)
};

}  // namespace verbatim::gateway
