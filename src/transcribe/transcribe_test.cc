#include <algorithm>
#include <cmath>
#include <numbers>

#include <gtest/gtest.h>

#include "transcribe/engine.h"
#include "transcribe/speech_testing.h"
#include "transcribe/talk.h"

namespace verbatim::transcribe {
namespace {

void append_tone(std::vector<int16_t>& s, double seconds, int amplitude, int rate = 16000) {
  const auto n = static_cast<size_t>(seconds * rate);
  for (size_t i = 0; i < n; ++i) {
    s.push_back(static_cast<int16_t>(
        amplitude * std::sin(2 * std::numbers::pi * 300 * static_cast<double>(i) / rate)));
  }
}

void append_silence(std::vector<int16_t>& s, double seconds, int rate = 16000) {
  s.insert(s.end(), static_cast<size_t>(seconds * rate), 0);
}

TEST(SpeechSegments, FindsSpeechBridgesShortGapsAndDropsClicks) {
  std::vector<int16_t> s;
  append_silence(s, 1.0);
  append_tone(s, 0.5, 8000);  // 1.0-1.5
  append_silence(s, 0.2);     // bridged
  append_tone(s, 0.5, 8000);  // 1.7-2.2
  append_silence(s, 1.0);
  append_tone(s, 0.05, 8000);  // 3.2: a click
  append_silence(s, 1.0);
  append_tone(s, 0.4, 8000);  // 4.25-4.65
  append_silence(s, 0.5);
  const auto seg = speech_segments(s, 16000);
  ASSERT_EQ(seg.size(), 2u);
  EXPECT_NEAR(seg[0].first / 16000.0, 1.0 - 0.15, 0.011);
  EXPECT_NEAR(seg[0].second / 16000.0, 2.2 + 0.15, 0.011);
  EXPECT_NEAR(seg[1].first / 16000.0, 4.25 - 0.15, 0.011);
  EXPECT_NEAR(seg[1].second / 16000.0, 4.65 + 0.15, 0.011);
}

TEST(SpeechSegments, NothingInSilenceAndLongSpeechIsCut) {
  std::vector<int16_t> s;
  append_silence(s, 3.0);
  EXPECT_TRUE(speech_segments(s, 16000).empty());
  EXPECT_TRUE(speech_segments({}, 16000).empty());
  // 25 s of speech with a dip at 12 s: cut there, at most 20 s each.
  std::vector<int16_t> long_speech;
  append_tone(long_speech, 12.0, 8000);
  append_tone(long_speech, 0.1, 1000);
  append_tone(long_speech, 12.9, 8000);
  const auto seg = speech_segments(long_speech, 16000, 20);
  ASSERT_EQ(seg.size(), 2u);
  EXPECT_NEAR(seg[0].second / 16000.0, 12.0, 0.11);
  EXPECT_EQ(seg[0].second, seg[1].first);
  EXPECT_EQ(seg[1].second, long_speech.size());
}

TEST(SpeechSegments, AQuietLineAboveItsNoiseFloorIsSpeech) {
  // Background noise at -60 dBFS with speech at about -30 dBFS.
  std::vector<int16_t> s;
  uint32_t x = 1;
  for (int i = 0; i < 16000 * 3; ++i) {
    x = x * 1664525 + 1013904223;
    s.push_back(static_cast<int16_t>(static_cast<int>(x >> 16) % 64 - 32));
  }
  std::vector<int16_t> speech;
  append_tone(speech, 1.0, 1000);
  for (size_t i = 0; i < speech.size(); ++i)
    s[16000 + i] = static_cast<int16_t>(s[16000 + i] + speech[i]);
  const auto seg = speech_segments(s, 16000);
  ASSERT_EQ(seg.size(), 1u);
  EXPECT_NEAR(seg[0].first / 16000.0, 0.85, 0.02);
  EXPECT_NEAR(seg[0].second / 16000.0, 2.15, 0.02);
}

TEST(Talk, WhoTalkedOverWhomAndWhenNobodyDid) {
  // A 10 s call: A speaks 0-4 and 8-9, B 3-6 (one second over A); nobody 6-8 and 9-10.
  const auto st = talk_stats({{{0, 4}, {8, 9}}, {{3, 6}}}, 10);
  ASSERT_EQ(st.talk_seconds.size(), 2u);
  EXPECT_DOUBLE_EQ(st.talk_seconds[0], 5);
  EXPECT_DOUBLE_EQ(st.talk_seconds[1], 3);
  EXPECT_DOUBLE_EQ(st.overtalk_seconds, 1);
  EXPECT_DOUBLE_EQ(st.silence_seconds, 3);
  EXPECT_DOUBLE_EQ(st.talk_ratio(0), 0.5);
  EXPECT_DOUBLE_EQ(st.overtalk_ratio(), 0.1);
  EXPECT_DOUBLE_EQ(st.silence_ratio(), 0.3);
  // Turns that touch are not overtalk; speech past the end is cut there.
  const auto turns = talk_stats({{{0, 2}}, {{2, 4}}, {{8, 12}}}, 10);
  EXPECT_DOUBLE_EQ(turns.overtalk_seconds, 0);
  EXPECT_DOUBLE_EQ(turns.talk_seconds[2], 2);
  EXPECT_DOUBLE_EQ(turns.silence_seconds, 4);
  // Three at once count once.
  EXPECT_DOUBLE_EQ(talk_stats({{{0, 2}}, {{0, 2}}, {{1, 2}}}, 2).overtalk_seconds, 2);
  const auto nobody = talk_stats({}, 5);
  EXPECT_DOUBLE_EQ(nobody.silence_ratio(), 1);
  EXPECT_DOUBLE_EQ(talk_stats({}, 0).silence_ratio(), 0);
}

TEST(Utterances, RoundTripThroughTheStoredForm) {
  Utterance u{1.5,
              2.75,
              "buy now",
              0.75,
              {{"buy", 1.5, 1.9, 0.8}, {"now", 2.0, 2.7, 0.7}},
              {"B", "AY", "N", "AW"},
              {1.5, 1.6, 2.0, 2.1}};
  const auto j = utterances_json({u});
  auto back = utterances_from_json(j);
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back.value().size(), 1u);
  EXPECT_EQ(back.value()[0].text, "buy now");
  EXPECT_EQ(back.value()[0].words[1].text, "now");
  EXPECT_DOUBLE_EQ(back.value()[0].words[1].start, 2.0);
  EXPECT_EQ(back.value()[0].phones, u.phones);
  EXPECT_EQ(back.value()[0].phone_starts, u.phone_starts);
  auto bad = j;
  bad[0]["phoneStarts"].erase(0);
  EXPECT_FALSE(utterances_from_json(bad));
  EXPECT_FALSE(utterances_from_json(nlohmann::json{{"start", 1}}));
  EXPECT_FALSE(utterances_from_json(nlohmann::json::array({{{"start", "x"}}})));
  auto far = j;
  far[0]["words"][0]["end"] = 1e300;
  EXPECT_FALSE(utterances_from_json(far));
  auto sure = j;
  sure[0]["confidence"] = 1.5;
  EXPECT_FALSE(utterances_from_json(sure));
}

TEST(Pocketsphinx, TranscribesTelephoneSpeechOnItsTimeline) {
  auto engine = make_pocketsphinx({});
  ASSERT_TRUE(engine) << engine.error().message;
  EXPECT_EQ(engine.value()->info().name, "pocketsphinx");
  EXPECT_NE(engine.value()->info().version, "");
  EXPECT_NE(engine.value()->info().model.find("sha256 "), std::string::npos);
  const auto speech = testing::telephone_speech("we will sell the bonds at the market price");
  ASSERT_FALSE(speech.empty()) << "espeak-ng did not speak";
  std::vector<int16_t> audio;
  append_silence(audio, 2.0);
  audio.insert(audio.end(), speech.begin(), speech.end());
  append_silence(audio, 1.0);
  auto r = engine.value()->transcribe(audio, nullptr);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r.value().size(), 1u);
  const Utterance& u = r.value()[0];
  // PocketSphinx's US English model hears espeak's voice through a telephone band poorly (the
  // word error rate is in bench/RESULTS.md), but this much it gets, every time.
  EXPECT_NE(u.text.find("on the market"), std::string::npos) << u.text;
  const double speech_end = 2.0 + static_cast<double>(speech.size()) / 16000;
  for (const auto& w : u.words) {
    EXPECT_GE(w.start, 2.0 - 0.2) << w.text;
    EXPECT_LE(w.end, speech_end + 0.2) << w.text;
    EXPECT_LT(w.start, w.end) << w.text;
    EXPECT_GE(w.confidence, 0.0);
    EXPECT_LE(w.confidence, 1.0);
  }
  // "market" is near the end of the speech.
  const auto market = std::find_if(u.words.begin(), u.words.end(),
                                   [](const Word& w) { return w.text == "market"; });
  ASSERT_NE(market, u.words.end());
  EXPECT_NEAR(market->end, speech_end, 1.5);  // "price" follows it
  EXPECT_GT(market->start, 2.0 + 1.0);
  // Phones for phonetic search: "market" is M AA R K AH T; the phone recogniser hears less, the
  // fuzzy match (search/phonetic.h) takes that into account.
  ASSERT_FALSE(u.phones.empty());
  EXPECT_EQ(u.phones.size(), u.phone_starts.size());
  std::string phones;
  for (const auto& p : u.phones) phones += p + " ";
  EXPECT_NE(phones.find("M AA"), std::string::npos) << phones;
}

TEST(Pocketsphinx, CancelsAndRefusesAMissingModel) {
  auto missing = make_pocketsphinx({"/nonexistent/model", true});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("/nonexistent/model"), std::string::npos);
  auto engine = make_pocketsphinx({"/usr/share/pocketsphinx/model/en-us", false});
  ASSERT_TRUE(engine) << engine.error().message;
  std::vector<int16_t> audio;
  append_tone(audio, 1.0, 8000);
  std::atomic<bool> cancel{true};
  auto r = engine.value()->transcribe(audio, &cancel);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
}

}  // namespace
}  // namespace verbatim::transcribe
