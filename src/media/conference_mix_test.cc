#include "media/conference_mix.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

namespace verbatim::media {
namespace {

// A tone's 20 ms payloads in `encoding`, `seconds` long.
std::vector<std::vector<uint8_t>> tone(const std::string& encoding, double hz, double seconds,
                                       int amplitude = 6000) {
  const int rate = 16000;
  std::vector<int16_t> pcm(static_cast<size_t>(rate * seconds));
  for (size_t i = 0; i < pcm.size(); ++i) {
    pcm[i] = static_cast<int16_t>(
        amplitude * std::sin(2 * std::numbers::pi * hz * static_cast<double>(i) / rate));
  }
  auto frames = encode_frames(encoding, pcm, rate);
  EXPECT_TRUE(frames);
  return frames.value();
}

// How strongly `hz` is in `pcm` (Goertzel), relative to the signal's energy: near 1 for a pure
// tone, near 0 for a tone that is not there.
double presence(const std::vector<int16_t>& pcm, int rate, double hz) {
  const double w = 2 * std::numbers::pi * hz / rate;
  double s1 = 0, s2 = 0, energy = 0;
  for (int16_t x : pcm) {
    const double s = x + 2 * std::cos(w) * s1 - s2;
    s2 = s1;
    s1 = s;
    energy += static_cast<double>(x) * x;
  }
  const double power = s1 * s1 + s2 * s2 - 2 * std::cos(w) * s1 * s2;
  return energy > 0 ? 2 * power / (energy * static_cast<double>(pcm.size())) : 0;
}

struct Heard {
  std::map<uint64_t, std::unique_ptr<AudioDecoder>> decoders;
  std::map<uint64_t, std::vector<int16_t>> pcm;
  void take(const std::vector<ConferenceMix::Output>& out,
            const std::map<uint64_t, std::string>& codecs) {
    for (const auto& o : out) {
      auto& d = decoders[o.member];
      if (!d) d = make_decoder(codecs.at(o.member)).value();
      ASSERT_TRUE(d->decode(o.payload, pcm[o.member]));
    }
  }
};

TEST(ConferenceMix, EachMemberHearsEveryoneButThemselvesInTheirOwnCodec) {
  const std::map<uint64_t, std::string> codecs{{1, "PCMU"}, {2, "G722"}, {3, "opus"}, {4, "PCMA"}};
  const std::map<uint64_t, double> hz{{1, 440}, {2, 700}, {3, 1100}, {4, 1500}};
  ConferenceMix mix;
  std::map<uint64_t, std::vector<std::vector<uint8_t>>> sent;
  for (const auto& [id, codec] : codecs) {
    ASSERT_TRUE(mix.add(id, codec));
    sent[id] = tone(codec, hz.at(id), 1.0);
  }
  EXPECT_EQ(mix.add(1, "PCMU").error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(mix.add(9, "GSM").error().code, ErrorCode::kNotFound);
  Heard heard;
  std::vector<ConferenceMix::Output> out;
  for (size_t t = 0; t < 50; ++t) {
    for (const auto& [id, frames] : sent) {
      mix.receive(id, static_cast<uint16_t>(65530 + t), frames[t]);  // wraps at 65535
    }
    mix.tick(out);
    ASSERT_EQ(out.size(), 4u);
    heard.take(out, codecs);
  }
  for (const auto& [id, codec] : codecs) {
    const int rate = decoded_rate(codec);
    // The last half second: past the start and the codecs' own delay.
    std::vector<int16_t> tail(heard.pcm[id].end() - rate / 2, heard.pcm[id].end());
    for (const auto& [other, f] : hz) {
      if (other == id) {
        EXPECT_LT(presence(tail, rate, f), 0.02) << codec << " hears itself";
      } else if (f < rate / 2.0) {
        EXPECT_GT(presence(tail, rate, f), 0.1) << codec << " does not hear " << other;
      }
    }
    EXPECT_EQ(mix.stats(id).concealed, 0u);
    EXPECT_EQ(mix.stats(id).received, 50u);
  }
}

TEST(ConferenceMix, LossIsConcealedLateAndDuplicatePacketsDroppedReorderingPlayedInOrder) {
  ConferenceMix mix;
  ASSERT_TRUE(mix.add(1, "PCMU"));
  ASSERT_TRUE(mix.add(2, "PCMU"));
  auto frames = tone("PCMU", 500, 1.0, 8000);
  std::vector<ConferenceMix::Output> out;
  Heard heard;
  const std::map<uint64_t, std::string> codecs{{1, "PCMU"}, {2, "PCMU"}};
  for (uint16_t t = 0; t < 50; ++t) {
    if (t == 20) {
      // 20 is lost, 21 and 22 come swapped.
    } else if (t == 21) {
      mix.receive(1, 22, frames[22]);
      mix.receive(1, 21, frames[21]);
      mix.receive(1, 21, frames[21]);  // a duplicate
    } else if (t != 22) {
      mix.receive(1, t, frames[t]);
    }
    mix.tick(out);
    heard.take(out, codecs);
  }
  mix.receive(1, 20, frames[20]);  // far too late
  const auto s = mix.stats(1);
  EXPECT_EQ(s.concealed, 1u);
  EXPECT_EQ(s.late, 2u);  // the duplicate and the late one
  EXPECT_EQ(s.received, 49u);
  // What member 2 heard never falls silent for a whole packet while member 1 talks: the lost
  // packet was filled in.
  const auto& pcm = heard.pcm[2];
  size_t run = 0, longest = 0;
  for (size_t i = 8000 / 10; i < 8000 * 9 / 10; ++i) {
    run = std::abs(pcm[i]) < 200 ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  EXPECT_LT(longest, 40u);
  EXPECT_GT(presence(std::vector<int16_t>(pcm.end() - 4000, pcm.end()), 8000, 500), 0.5);
}

TEST(ConferenceMix, AMutedMemberIsHeardByNoOneAndAStoppedOneFallsSilent) {
  ConferenceMix mix;
  for (uint64_t id : {1, 2, 3}) ASSERT_TRUE(mix.add(id, "PCMA"));
  auto a = tone("PCMA", 600, 1.0), b = tone("PCMA", 1300, 1.0);
  mix.set_muted(2, true);
  std::vector<ConferenceMix::Output> out;
  Heard heard;
  const std::map<uint64_t, std::string> codecs{{1, "PCMA"}, {2, "PCMA"}, {3, "PCMA"}};
  for (uint16_t t = 0; t < 50; ++t) {
    mix.receive(1, t, a[t]);
    if (t < 25) mix.receive(2, t, b[t]);
    mix.tick(out);
    heard.take(out, codecs);
  }
  const auto& three = heard.pcm[3];
  EXPECT_LT(presence(std::vector<int16_t>(three.end() - 4000, three.end()), 8000, 1300), 0.02);
  EXPECT_GT(presence(std::vector<int16_t>(three.end() - 4000, three.end()), 8000, 600), 0.5);
  // Member 2 stopped sending at 0.5 s: three packets concealed, then no more.
  EXPECT_EQ(mix.stats(2).concealed, 3u);
  EXPECT_EQ(mix.stats(2).level, 0);
  mix.remove(2);
  mix.tick(out);
  EXPECT_EQ(out.size(), 2u);
  EXPECT_FALSE(mix.has(2));
}

}  // namespace
}  // namespace verbatim::media
