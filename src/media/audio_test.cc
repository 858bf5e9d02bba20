#include "media/audio.h"

#include <cmath>
#include <numbers>

#include <gtest/gtest.h>
#include <opus/opusfile.h>

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

// An Ogg/Opus file as an independent reader (opusfile) sees it.
struct Read {
  bool opened = false;
  int64_t total = -1;  // samples at 48 kHz, pre-skip and end trimming applied
  uint32_t input_rate = 0;
  std::vector<std::string> comments;
  std::vector<int16_t> pcm;  // 48 kHz
};
Read read_ogg(const std::string& ogg) {
  Read r;
  int err = 0;
  OggOpusFile* f =
      op_open_memory(reinterpret_cast<const unsigned char*>(ogg.data()), ogg.size(), &err);
  if (!f) return r;
  r.opened = true;
  r.total = op_pcm_total(f, -1);
  r.input_rate = op_head(f, -1)->input_sample_rate;
  const OpusTags* tags = op_tags(f, -1);
  for (int i = 0; i < tags->comments; ++i) r.comments.emplace_back(tags->user_comments[i]);
  std::vector<int16_t> buf(5760);
  int n;
  while ((n = op_read(f, buf.data(), static_cast<int>(buf.size()), nullptr)) > 0) {
    r.pcm.insert(r.pcm.end(), buf.begin(), buf.begin() + n);
  }
  if (n < 0) r.opened = false;  // a decoding error part way
  op_free(f);
  return r;
}

TEST(OggOpus, EveryRateAndLengthDecodesToExactlyItsSamplesWithItsTags) {
  // Native Opus rates are encoded as they are; 11025 and 44100 are resampled to 48 kHz first.
  for (int rate : {8000, 16000, 48000, 11025, 44100}) {
    for (double seconds : {0.0, 0.001, 0.02, 1.0, 2.345}) {
      SCOPED_TRACE(std::to_string(rate) + " Hz, " + std::to_string(seconds) + " s");
      auto w = OggOpusWriter::create(rate, 32000, {{"TITLE", "Alice"}, {"VERBATIM_X", "a=b"}});
      ASSERT_TRUE(w) << w.error().message;
      const auto in = tone(440, rate, seconds);
      // In uneven pieces, as the playback job writes them.
      for (size_t at = 0; at < in.size(); at += 77) {
        ASSERT_TRUE(
            w.value()->write(std::span(in).subspan(at, std::min<size_t>(77, in.size() - at))));
      }
      auto ogg = w.value()->finish();
      ASSERT_TRUE(ogg) << ogg.error().message;
      EXPECT_FALSE(w.value()->finish());  // once only
      EXPECT_FALSE(w.value()->write(in));
      const Read r = read_ogg(ogg.value());
      ASSERT_TRUE(r.opened);
      EXPECT_EQ(r.input_rate, uint32_t(rate));
      EXPECT_EQ(r.comments, (std::vector<std::string>{"TITLE=Alice", "VERBATIM_X=a=b"}));
      const double expected = double(in.size()) * 48000 / rate;
      // Exact for the native rates (the granule positions trim the padding); the resampler's
      // own delay moves the others by a few samples.
      EXPECT_NEAR(double(r.total), expected, rate % 8000 ? 64 : 0);
      EXPECT_EQ(r.pcm.size(), size_t(r.total));
      if (seconds >= 1) {  // the tone, in place: 440 Hz dominates 1 kHz after the start-up
        EXPECT_GT(power_at(r.pcm, 4800, 440, 48000), 100 * power_at(r.pcm, 4800, 1000, 48000));
      }
    }
  }
}

TEST(OggOpus, AsWavAtTheRateItWasMadeFrom) {
  auto w = OggOpusWriter::create(8000, 40000, {});
  ASSERT_TRUE(w);
  ASSERT_TRUE(w.value()->write(tone(440, 8000, 1.0)));
  auto ogg = w.value()->finish();
  ASSERT_TRUE(ogg);
  auto wav = ogg_opus_to_wav(ogg.value(), 1 << 20);
  ASSERT_TRUE(wav) << wav.error().message;
  const std::string& f = wav.value();
  ASSERT_GT(f.size(), 44u);
  EXPECT_EQ(f.substr(0, 4), "RIFF");
  EXPECT_EQ(f.substr(8, 8), "WAVEfmt ");
  auto le = [&](size_t at, int bytes) {
    uint32_t v = 0;
    for (int i = 0; i < bytes; ++i)
      v |= static_cast<uint32_t>(static_cast<uint8_t>(f[at + i])) << (8 * i);
    return v;
  };
  EXPECT_EQ(le(22, 2), 1u);     // mono
  EXPECT_EQ(le(24, 4), 8000u);  // the rate it was encoded from
  EXPECT_EQ(le(34, 2), 16u);
  EXPECT_EQ(f.substr(36, 4), "data");
  EXPECT_EQ(le(40, 4), f.size() - 44);
  // One second of 8 kHz samples (give or take the resampler's edges), and the tone is there.
  EXPECT_NEAR(static_cast<double>(f.size() - 44) / 2, 8000, 200);
  double energy = 0;
  for (size_t i = 44 + 2000; i + 1 < f.size() - 2000; i += 2) {
    const auto v = static_cast<int16_t>(le(i, 2));
    energy += static_cast<double>(v) * v;
  }
  EXPECT_GT(energy / ((f.size() - 4044) / 2.0), 1e6);  // a tone, not silence
  EXPECT_FALSE(ogg_opus_to_wav("not an ogg file", 1 << 20));
  EXPECT_FALSE(ogg_opus_to_wav(ogg.value(), 1000));  // over the cap: refused, not cut
}

TEST(Redact, SilenceAndToneReplaceExactlyTheSpansAndSurviveReEncoding) {
  const int rate = 8000;
  auto pcm = tone(440, rate, 3.0);
  const std::vector<int16_t> before = pcm;
  const std::vector<RedactSpan> spans = {{0.5, 1.0}, {2.0, 2.25}, {-1, 0.001}, {2.9, 9}, {1, 0.5}};
  // 0.5 s + 0.25 s + the first 8 samples + the last 0.1 s; the reversed span changes nothing.
  EXPECT_EQ(redact_samples(pcm, rate, spans, RedactFill::kSilence), 4000u + 2000 + 8 + 800);
  for (size_t i = 4000; i < 8000; ++i) ASSERT_EQ(pcm[i], 0) << i;
  EXPECT_TRUE(std::equal(pcm.begin() + 8000, pcm.begin() + 16000, before.begin() + 8000));
  EXPECT_TRUE(std::equal(pcm.begin() + 8, pcm.begin() + 4000, before.begin() + 8));

  auto toned = before;
  redact_samples(toned, rate, spans, RedactFill::kTone);
  const std::vector<int16_t> span(toned.begin() + 4000, toned.begin() + 8000);
  EXPECT_GT(power_at(span, 0, 1000, rate), 100 * power_at(span, 0, 440, rate));

  // Through Ogg/Opus and back (what a redacted version is): the silence stays near silent, the
  // speech around it stays, and the tags are kept.
  auto w = OggOpusWriter::create(rate, 32000, {{"TITLE", "Alice"}});
  ASSERT_TRUE(w);
  ASSERT_TRUE(w.value()->write(pcm));
  auto ogg = w.value()->finish();
  ASSERT_TRUE(ogg);
  auto back = decode_ogg_opus(ogg.value(), 1 << 20);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back.value().rate, rate);
  EXPECT_EQ(back.value().comments,
            (std::vector<std::pair<std::string, std::string>>{{"TITLE", "Alice"}}));
  ASSERT_NEAR(double(back.value().pcm.size()), 24000, 100);
  auto rms = [&](size_t from, size_t to) {
    double e = 0;
    for (size_t i = from; i < to; ++i) e += double(back.value().pcm[i]) * back.value().pcm[i];
    return std::sqrt(e / double(to - from));
  };
  EXPECT_LT(rms(4400, 7600), 50);     // inside the silenced span
  EXPECT_GT(rms(9000, 15000), 2000);  // the tone outside it
  EXPECT_FALSE(decode_ogg_opus("no", 1 << 20));
}

TEST(OggOpus, ANonsenseRateIsAClearError) {
  auto w = OggOpusWriter::create(0, 32000, {});
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message.find("sample rate"), std::string::npos);
}

// Concealment for G.711 and G.722: a lost packet of a steady voice-like tone is filled with the
// tone (its pitch period repeated), a long loss fades out and is silent from 60 ms.
TEST(Audio, ALostPacketIsFilledWithTheLastPitchPeriodAndALongLossFadesToSilence) {
  for (const std::string codec : {"PCMA", "G722"}) {
    const int rate = decoded_rate(codec);
    std::vector<int16_t> pcm(static_cast<size_t>(rate) / 5);  // 200 ms of 250 Hz
    for (size_t i = 0; i < pcm.size(); ++i) {
      pcm[i] = static_cast<int16_t>(8000 * std::sin(2 * std::numbers::pi * 250 * double(i) / rate));
    }
    auto frames = encode_frames(codec, pcm, rate).value();
    auto dec = make_decoder(codec).value();
    std::vector<int16_t> out;
    for (size_t f = 0; f < 5; ++f) ASSERT_TRUE(dec->decode(frames[f], out));
    const size_t hole = out.size();
    const int frame = rate / 50;
    dec->conceal(frame, out);  // packet 5 lost
    // What was made up follows the tone: close to what was really sent (codec delay aside,
    // the comparison is by level and by correlation with the true signal shifted into phase).
    double peak = 0;
    for (size_t i = hole; i < out.size(); ++i) peak = std::max(peak, std::abs(double(out[i])));
    EXPECT_GT(peak, 6000) << codec;
    EXPECT_LT(peak, 9000) << codec;
    // A long loss: silent from 50 ms (checked from 60 ms).
    for (int k = 0; k < 4; ++k) dec->conceal(frame, out);
    const size_t silent_from = hole + static_cast<size_t>(rate) * 60 / 1000;
    for (size_t i = silent_from; i < out.size(); ++i) ASSERT_EQ(out[i], 0) << codec << " at " << i;
    // Back to real audio without a jump at the seam.
    const size_t seam = out.size();
    ASSERT_TRUE(dec->decode(frames[9], out));
    EXPECT_LT(std::abs(double(out[seam])), 4000) << codec;
  }
}

}  // namespace
}  // namespace verbatim::media
