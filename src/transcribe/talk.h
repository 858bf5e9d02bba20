// Who talked when: per participant the share of the call they spoke, and for the call the share
// where two or more spoke at once (overtalk) and where nobody did (silence). From each track's
// speech as speech_segments() finds it (engine.h), so it does not depend on what the recogniser
// made of the words.
// Threads and ownership: pure functions.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace verbatim::transcribe {

using Intervals = std::vector<std::pair<double, double>>;  // [start, end) seconds, in order

struct TalkStats {
  std::vector<double> talk_seconds;  // per track
  double overtalk_seconds = 0, silence_seconds = 0, duration = 0;
  double talk_ratio(std::size_t track) const {
    return duration > 0 ? talk_seconds[track] / duration : 0;
  }
  double overtalk_ratio() const { return duration > 0 ? overtalk_seconds / duration : 0; }
  double silence_ratio() const { return duration > 0 ? silence_seconds / duration : 0; }
};

// `tracks`: each participant's speech; `duration`: the recording's timeline (seconds). Speech
// past the end is cut at it.
TalkStats talk_stats(const std::vector<Intervals>& tracks, double duration);

}  // namespace verbatim::transcribe
