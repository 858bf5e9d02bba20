#include "media/audio.h"

#include <cmath>
#include <numbers>

#include <gtest/gtest.h>

namespace verbatim::media {
namespace {

std::vector<int16_t> tone(double hz, int rate, double seconds) {
  std::vector<int16_t> s(static_cast<size_t>(rate * seconds));
  for (size_t i = 0; i < s.size(); ++i) {
    s[i] = static_cast<int16_t>(8000 * std::sin(2 * std::numbers::pi * hz * double(i) / rate));
  }
  return s;
}

// The power of one frequency in `s` (Goertzel), per sample.
double power_at(const std::vector<int16_t>& s, size_t from, double hz, int rate) {
  const double k = 2 * std::cos(2 * std::numbers::pi * hz / rate);
  double s1 = 0, s2 = 0;
  for (size_t i = from; i < s.size(); ++i) {
    const double v = s[i] + k * s1 - s2;
    s2 = s1;
    s1 = v;
  }
  return (s1 * s1 + s2 * s2 - k * s1 * s2) / double(s.size() - from);
}

TEST(Audio, EncodedFramesDecodeBackToWhatWasEncoded) {
  // One second at 22.05 kHz (espeak-ng's rate): resampled to each codec's own rate, 50 frames.
  const auto in = tone(440, 22050, 1.0);
  for (const char* codec : {"PCMU", "PCMA", "G722", "opus"}) {
    SCOPED_TRACE(codec);
    auto frames = encode_frames(codec, in, 22050);
    ASSERT_TRUE(frames) << frames.error().message;
    EXPECT_EQ(frames.value().size(), 50u);
    EXPECT_EQ(frame_ticks(codec), std::string(codec) == "opus" ? 960u : 160u);
    auto dec = make_decoder(codec);
    ASSERT_TRUE(dec);
    std::vector<int16_t> out;
    for (const auto& f : frames.value()) {
      if (std::string(codec) != "opus") {
        EXPECT_EQ(f.size(), 160u);  // 20 ms: 160 samples of G.711, 320 of G.722 in 160 bytes
      }
      ASSERT_TRUE(dec.value()->decode(f, out));
    }
    const int rate = dec.value()->sample_rate();
    EXPECT_NEAR(double(out.size()), double(rate), rate * 0.01);
    // The tone, not something else: 440 Hz dominates 1 kHz by far after the codec's start-up.
    const size_t skip = static_cast<size_t>(rate / 10);
    EXPECT_GT(power_at(out, skip, 440, rate), 100 * power_at(out, skip, 1000, rate));
    EXPECT_GT(power_at(out, skip, 440, rate), 1e6);
  }
  EXPECT_FALSE(encode_frames("G729", in, 22050));
}

}  // namespace
}  // namespace verbatim::media
