#include "transcribe/talk.h"

#include <algorithm>

namespace verbatim::transcribe {

TalkStats talk_stats(const std::vector<Intervals>& tracks, double duration) {
  TalkStats st;
  st.duration = std::max(duration, 0.0);
  st.talk_seconds.assign(tracks.size(), 0);
  std::vector<std::pair<double, int>> events;  // (time, +1 start / -1 end)
  for (size_t t = 0; t < tracks.size(); ++t) {
    for (auto [a, b] : tracks[t]) {
      a = std::clamp(a, 0.0, st.duration);
      b = std::clamp(b, 0.0, st.duration);
      if (b <= a) continue;
      st.talk_seconds[t] += b - a;
      events.emplace_back(a, +1);
      events.emplace_back(b, -1);
    }
  }
  // Ends before starts at the same instant: touching turns are not overtalk.
  std::sort(events.begin(), events.end());
  int talking = 0;
  double at = 0;
  for (const auto& [time, change] : events) {
    if (talking == 0) st.silence_seconds += time - at;
    if (talking >= 2) st.overtalk_seconds += time - at;
    at = time;
    talking += change;
  }
  st.silence_seconds += st.duration - at;
  return st;
}

}  // namespace verbatim::transcribe
