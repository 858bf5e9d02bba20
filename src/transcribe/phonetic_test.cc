#include "transcribe/phonetic.h"

#include <gtest/gtest.h>

#include "transcribe/engine.h"
#include "transcribe/speech_testing.h"

namespace verbatim::transcribe {
namespace {

const std::string kDict = "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict";

std::string codes(const std::string& arpabet) { return encode_phones(std::string_view(arpabet)); }

TEST(Phonetic, PhonesAreOneCharacterEach) {
  EXPECT_EQ(phone_code("AA"), '0');
  EXPECT_EQ(phone_code("ZH"), static_cast<char>('0' + 38));
  EXPECT_FALSE(phone_code("SIL"));
  EXPECT_EQ(decode_phones(codes("K AA L SIL")), "K AA L");
  EXPECT_EQ(decode_phones(std::string("0\x7f") + "1"), "AA AE");  // not a code: left out
}

TEST(Phonetic, EspeakIpaBecomesArpabet) {
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& p : v) s += (s.empty() ? "" : " ") + p;
    return s;
  };
  EXPECT_EQ(join(ipa_to_arpabet("kwˈɪntɚɹə")), "K W IH N T ER R AH");
  EXPECT_EQ(join(ipa_to_arpabet("dʒˈʌdʒ tʃˈɜːtʃ")), "JH AH JH CH ER CH");
  EXPECT_EQ(join(ipa_to_arpabet("bˈɔɪ kˈaʊ")), "B OY K AW");
  EXPECT_EQ(join(ipa_to_arpabet("?!")), "");
}

TEST(Phonetic, QueriesFromTheDictionaryAndFromEspeak) {
  auto q = query_phones("Market ZORBLAX", kDict);
  ASSERT_TRUE(q) << q.error().message;
  ASSERT_EQ(q.value().from.size(), 2u);
  EXPECT_EQ(q.value().from[0], "cmudict");
  EXPECT_EQ(q.value().from[1], "espeak-ng");
  const std::string phones = decode_phones(q.value().codes);
  EXPECT_EQ(phones.rfind("M AA R K AH T Z ", 0), 0u) << phones;
  EXPECT_NE(phones.find("B L AE K S"), std::string::npos) << phones;
  EXPECT_FALSE(query_phones("  ?? ", kDict));
  // Quotes or shell syntax never reach espeak-ng's command line.
  auto odd = query_phones("zorb'; touch /tmp/x #", kDict);
  ASSERT_TRUE(odd) << odd.error().message;
}

TEST(Phonetic, FuzzyMatchScoresByHowClose) {
  const std::string q = codes("Z AO R B L AE K S");
  EXPECT_DOUBLE_EQ(phonetic_match(q, codes("DH AH Z AO R B L AE K S K AH M")).score, 1.0);
  // One vowel heard as another: half a phone's cost.
  const auto near = phonetic_match(q, codes("DH AH Z IY R B L AE K S"));
  EXPECT_DOUBLE_EQ(near.score, 1.0 - 0.5 / 8);
  EXPECT_EQ(near.end, 10u);
  // Z heard as its voiceless twin S (a quarter), and the last phone left out (one).
  EXPECT_DOUBLE_EQ(phonetic_match(q, codes("S AO R B L AE K")).score, 1.0 - 1.25 / 8);
  // A consonant heard as another of another class: a whole phone.
  EXPECT_DOUBLE_EQ(phonetic_match(q, codes("Z AO R M L AE K S")).score, 1.0 - 1.0 / 8);
  // Nothing like it.
  EXPECT_LT(phonetic_match(q, codes("M IY T IH NG IH Z AA N M AH N D EY")).score, 0.5);
  EXPECT_EQ(phonetic_match(q, "").score, 0.0);
  EXPECT_EQ(phonetic_match("", q).score, 0.0);
  // Bytes that are not phone codes are left out of the query as of the utterance (the fuzzer
  // found the query's were not).
  EXPECT_DOUBLE_EQ(phonetic_match(std::string("\xfe") + q + "\x7f", q).score, 1.0);
  EXPECT_EQ(phonetic_match("\xfe\xff", q).score, 0.0);
  // A query longer than 63 phones is cut there, and scores what it matches.
  EXPECT_LT(phonetic_match(std::string(200, q[0]), q).score, 0.1);
}

TEST(Phonetic, FindsAMadeUpNameInRecognisedSpeech) {
  auto engine = make_pocketsphinx({});
  ASSERT_TRUE(engine) << engine.error().message;
  auto phones_of = [&](const std::string& text) {
    auto r = engine.value()->transcribe(testing::telephone_speech(text), nullptr);
    EXPECT_TRUE(r) << r.error().message;
    std::string all;
    for (const auto& u : r.value()) all += encode_phones(u.phones);
    return all;
  };
  const std::string with = phones_of("we should call Zorblax Capital about the deal");
  const std::string without = phones_of("the meeting is on monday at ten o'clock");
  auto q = query_phones("zorblax", kDict);
  ASSERT_TRUE(q) << q.error().message;
  const double hit = phonetic_match(q.value().codes, with).score;
  const double miss = phonetic_match(q.value().codes, without).score;
  // The telephone band takes most of Z's sound away: the recogniser hears "G AO ER G K AE P"
  // for "zorblax", still well above the same name's best match in other speech.
  EXPECT_GT(hit, miss + 0.1) << decode_phones(with) << " / " << decode_phones(without);
  EXPECT_GE(hit, kDefaultPhoneticThreshold);
  EXPECT_LT(miss, kDefaultPhoneticThreshold);
}

}  // namespace
}  // namespace verbatim::transcribe
