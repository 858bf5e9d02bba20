// Test and benchmark speech: a sentence spoken by espeak-ng (a formant synthesiser: `voice` is
// its voice, "en-us") or by Festival (diphone and HTS voices, closer to a human voice:
// "festival:voice_kal_diphone"), as a telephone would carry it (8 kHz) and as an engine takes it
// (upsampled to 16 kHz). Header-only, for tests and bench/.
#pragma once

#include <sndfile.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "media/audio.h"

namespace verbatim::transcribe::testing {

// The sentence at 16 kHz after an 8 kHz telephone leg; empty if espeak-ng failed.
inline std::vector<int16_t> telephone_speech(const std::string& text,
                                             const std::string& voice = "en-us") {
  char path[] = "/tmp/verbatim-speech-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return {};
  close(fd);
  const std::string festival = "festival:";
  const std::string cmd =
      voice.rfind(festival, 0) == 0
          ? "echo \"" + text + "\" | text2wave -eval '(" + voice.substr(festival.size()) +
                ")' -o " + path + " 2>/dev/null"
          : "espeak-ng -v " + voice + " -s 140 -w " + path + " \"" + text + "\"";
  std::vector<int16_t> raw;
  int rate = 0;
  if (std::system(cmd.c_str()) == 0) {
    SF_INFO info{};
    if (SNDFILE* f = sf_open(path, SFM_READ, &info)) {
      raw.resize(static_cast<size_t>(info.frames) * static_cast<size_t>(info.channels));
      raw.resize(
          static_cast<size_t>(sf_read_short(f, raw.data(), static_cast<sf_count_t>(raw.size()))));
      rate = info.samplerate;
      sf_close(f);
    }
  }
  std::remove(path);
  if (raw.empty()) return {};
  auto down = media::Resampler::create(rate, 8000);
  auto up = media::Resampler::create(8000, 16000);
  if (!down || !up) return {};
  std::vector<int16_t> narrow, wide;
  down.value()->process(raw, narrow);
  up.value()->process(narrow, wide);
  return wide;
}

}  // namespace verbatim::transcribe::testing
