#include "transcribe/sentiment.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace verbatim::transcribe {
namespace {

using nlohmann::json;

const SentimentScorer& scorer() {
  static const auto s = SentimentScorer::load(SentimentScorer::built_lexicon_dir());
  EXPECT_TRUE(s) << s.error().message;
  return *s.value();
}

TEST(Sentiment, TheLexiconIsThePublishedOneStampedWithItsPackage) {
  EXPECT_GT(scorer().words(), 7000u);
  EXPECT_EQ(scorer().info().name, "vader");
  EXPECT_EQ(scorer().info().version.rfind("vader-sentiment ", 0), 0u) << scorer().info().version;
  EXPECT_EQ(scorer().info().lexicon.size(), 7u + 64u);
}

TEST(Sentiment, IntensifiersNegationsAndButMoveTheScore) {
  const double good = scorer().score("good").compound;
  EXPECT_NEAR(good, 0.4404, 1e-4);  // 1.9 / sqrt(1.9² + 15)
  EXPECT_GT(scorer().score("very good").compound, good);
  EXPECT_LT(scorer().score("barely good").compound, good);
  EXPECT_LT(scorer().score("not good").compound, 0);
  EXPECT_LT(scorer().score("isn't good").compound, 0);
  EXPECT_GT(scorer().score("we never had a problem").compound, 0);
  EXPECT_EQ(scorer().score("the market opens at nine").compound, 0);
  EXPECT_EQ(sentiment_label(scorer().score("the market opens at nine").compound), "neutral");
  // What follows "but" weighs more.
  EXPECT_LT(scorer().score("great but terrible").compound, 0);
  EXPECT_GT(scorer().score("terrible but great").compound, 0);
  // Punctuation and case around words do not matter.
  EXPECT_EQ(scorer().score("Good, ").compound, good);
  const auto s = scorer().score("i am not happy");
  EXPECT_NEAR(s.positive + s.negative + s.neutral, 1.0, 0.002);
  EXPECT_GT(s.negative, 0);
}

// Interop: the same sentences through the package's own JavaScript implementation (node), which
// must agree with ours on lower-case speech without punctuation, as transcripts are.
TEST(Sentiment, AgreesWithThePackagesOwnImplementation) {
  const std::string module =
      std::filesystem::canonical(std::filesystem::path(VERBATIM_SOURCE_DIR) /
                                 "third_party/lexicons/node_modules/vader-sentiment")
          .string();
  if (std::system("node --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "no node";
  const std::vector<std::string> sentences = {"good morning how are you today",
                                              "i am not very happy with this trade",
                                              "that was a terrible terrible loss",
                                              "thank you so much that is really helpful",
                                              "i hate this it is awful and unacceptable",
                                              "we never had a problem with them",
                                              "it is hardly worth it",
                                              "the price is great but the delivery was terrible",
                                              "sell ten thousand at market please",
                                              "this deal is absolutely fantastic",
                                              "we cannot accept this it is wrong",
                                              "no problem at all happy to help",
                                              "i'm not sure this is a good idea",
                                              "the client was extremely angry and upset",
                                              "there is nothing wrong with the report",
                                              "off the record i would not worry"};
  const auto dir =
      std::filesystem::temp_directory_path() / ("vb_vader_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream js(dir / "score.js");
    js << "const v = require(" << json(module).dump() << ");\n"
       << "const s = JSON.parse(require('fs').readFileSync(0, 'utf8'));\n"
       << "console.log(JSON.stringify(s.map(x => "
          "v.SentimentIntensityAnalyzer.polarity_scores(x).compound)));\n";
    std::ofstream(dir / "in.json") << json(sentences).dump();
  }
  const std::string cmd =
      "node " + (dir / "score.js").string() + " < " + (dir / "in.json").string();
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_TRUE(p);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ASSERT_EQ(pclose(p), 0) << out;
  std::filesystem::remove_all(dir);
  const json theirs = json::parse(out);
  ASSERT_EQ(theirs.size(), sentences.size());
  for (size_t i = 0; i < sentences.size(); ++i) {
    EXPECT_NEAR(scorer().score(sentences[i]).compound, theirs[i].get<double>(), 0.002)
        << sentences[i];
  }
}

TEST(Sentiment, AParticipantsSummaryWeighsUtterancesByLength) {
  const json none = sentiment_summary({});
  EXPECT_EQ(none["label"], "neutral");
  const json s = sentiment_summary({{1.0, 10, 0.5}, {4.0, 2, -0.6}, {7.0, 3, 0.0}});
  EXPECT_NEAR(s["score"].get<double>(), (0.5 * 10 - 0.6 * 2) / 15, 0.001);
  EXPECT_EQ(s["label"], "positive");
  EXPECT_EQ(s["positive"], 1);
  EXPECT_EQ(s["negative"], 1);
  EXPECT_EQ(s["neutral"], 1);
  EXPECT_EQ(s["mostNegative"]["start"], 4.0);
}

TEST(Sentiment, AMissingOrForeignLexiconIsAClearError) {
  auto missing = SentimentScorer::load("/nonexistent");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("bootstrap"), std::string::npos);
  const auto dir = std::filesystem::temp_directory_path() / ("vb_lex_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "vader_lexicon.txt") << "good\t1.9\t0.9\t[]\nbad\tvery\t1\t[]\n";
  auto bad = SentimentScorer::load(dir.string());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("line 2"), std::string::npos) << bad.error().message;
  std::ofstream(dir / "vader_lexicon.txt") << "good\t1.9\t0.9\t[]\n";
  bad = SentimentScorer::load(dir.string());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("not VADER"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace verbatim::transcribe
