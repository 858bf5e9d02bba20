// Speech to text behind one interface, so an engine can be swapped or added without touching the
// jobs that run it (recorder/transcribe_jobs.h) or the search over what it found.
//
// An engine turns one participant's audio (mono, 16-bit, 16 kHz: telephony's 8 kHz is
// upsampled before it gets here) into utterances: the stretches of speech found by
// speech_segments() below, each with its words (text, start, end, confidence) and, where the
// engine recognises phones, its phone string for phonetic search. Times are seconds from the
// start of the audio given, which is the recording's timeline (playback.h), so a word's time is
// where it plays. Every result is stamped with the engine's name, version and model
// (EngineInfo) so a transcript says what made it.
// Threads and ownership: an engine is used by one thread at a time (a job worker owns one).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace verbatim::transcribe {

constexpr int kSampleRate = 16000;

struct Word {
  std::string text;  // lower case, as the engine's dictionary spells it
  double start = 0, end = 0;
  double confidence = 0;  // posterior probability, 0..1
};

struct Utterance {
  double start = 0, end = 0;
  std::string text;       // the words, space separated
  double confidence = 0;  // mean of the words'
  std::vector<Word> words;
  // Phones (ARPAbet, "K AA L"), with each one's start; empty when not recognised.
  std::vector<std::string> phones;
  std::vector<double> phone_starts;
};

struct EngineInfo {
  std::string name, version, model;
  nlohmann::json to_json() const;
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual const EngineInfo& info() const = 0;
  // Transcribes 16 kHz audio. `cancel`, when set, stops it (kFailedPrecondition).
  virtual Result<std::vector<Utterance>> transcribe(std::span<const int16_t> pcm,
                                                    const std::atomic<bool>* cancel) = 0;
};

struct PocketsphinxOptions {
  // Holds en-us/ (the acoustic model), en-us.lm.bin, en-us-phone.lm.bin and
  // cmudict-en-us.dict, as Debian's pocketsphinx-en-us installs them.
  std::string model_dir = "/usr/share/pocketsphinx/model/en-us";
  bool phones = true;  // also recognise phones (for phonetic search; about 1.5x the time)
};
// The default engine: CMU PocketSphinx (Debian's libpocketsphinx3) with its US English model.
Result<std::unique_ptr<Engine>> make_pocketsphinx(const PocketsphinxOptions& options);

// Where speech is: [first, last) sample ranges, from each 10 ms frame's energy against the
// audio's own noise floor (digital silence, where a participant sent nothing, is below any
// floor). Gaps under 0.3 s are bridged, blips under 0.1 s dropped, each range padded by `pad`
// seconds (0.15: an engine wants the onset and the trailing sound), and a range longer than
// `max_seconds` cut at its quietest frame, so an engine decodes sentence-sized pieces. Written here
// rather than taken from the engine: PocketSphinx's own voice detection drops the silence it finds,
// and with it the words' places on the timeline.
std::vector<std::pair<size_t, size_t>> speech_segments(std::span<const int16_t> pcm, int rate,
                                                       double max_seconds = 20, double pad = 0.15);

// The words of typed or recognised text: runs of letters, digits and apostrophes, lower case
// ("Off the RECORD!" -> off, the, record), as search and scoring compare them.
std::vector<std::string> spoken_words(std::string_view text);

// A transcript as stored (docs/archive-format.md, "Transcripts"), and back.
nlohmann::json utterances_json(const std::vector<Utterance>& utterances);
Result<std::vector<Utterance>> utterances_from_json(const nlohmann::json& j);

}  // namespace verbatim::transcribe
