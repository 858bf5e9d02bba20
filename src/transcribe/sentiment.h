// Sentiment of what was said: a score per utterance and a summary per participant, from VADER's
// published lexicon (Hutto & Gilbert, 2014: 7,500 words and emoticons rated by people for
// valence). The lexicon is the one the npm package vader-sentiment ships, installed from its
// lockfile by scripts/bootstrap.sh (third_party/lexicons) and copied into the build's
// share/lexicons/vader; every score is stamped with the package's version and the lexicon's
// SHA-256, so a score can be traced to the exact word list that made it.
//
// Hand-written (the rules, not the lexicon): no Debian package or C/C++ library implements VADER.
// What it does, after the published method: each word's valence from the lexicon, raised or
// lowered by an intensifier ("very", "barely") up to three words before it, flipped and damped by
// a negation ("not", "never", "isn't") up to three words before it; a "but" shifts the weight to
// what follows it (before ×0.5, after ×1.5); the sum is normalised to a compound score in [-1, 1]
// (x / sqrt(x² + 15)). Positive from 0.05, negative from -0.05, neutral between. Transcripts are
// lower case without punctuation, so the rules for capitals and exclamation marks are left out.
// Threads and ownership: a loaded scorer is immutable; score() may be called from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace verbatim::transcribe {

struct SentimentScore {
  double compound = 0;                             // -1 (most negative) .. 1 (most positive)
  double positive = 0, negative = 0, neutral = 1;  // shares of the text's weight, summing to 1
};

// "positive", "negative" or "neutral".
// VADER's labels: positive from kPositiveFrom, negative from kNegativeFrom down, else neutral.
constexpr double kPositiveFrom = 0.05;
constexpr double kNegativeFrom = -0.05;
std::string sentiment_label(double compound);

struct SentimentInfo {
  std::string name = "vader";
  std::string version;  // "vader-sentiment 1.1.3" (the npm package the lexicon came from)
  std::string lexicon;  // "sha256 <hex>"
  nlohmann::json to_json() const;
};

class SentimentScorer {
 public:
  // `dir` holds vader_lexicon.txt (word, mean valence, deviation, ratings; tab-separated) and
  // the package.json of the package it came from. A missing or malformed file is a clear error.
  static Result<std::unique_ptr<SentimentScorer>> load(const std::string& dir);
  // The lexicon of this build (share/lexicons/vader in the build directory).
  static std::string built_lexicon_dir();

  SentimentScore score(std::string_view text) const;
  const SentimentInfo& info() const { return info_; }
  size_t words() const { return valence_.size(); }

 private:
  SentimentScorer() = default;
  std::unordered_map<std::string, double> valence_;
  SentimentInfo info_;
};

// A participant's (or a whole call's) sentiment from its utterances' compound scores, weighted
// by each utterance's length in words: {"score", "label", "positive", "negative", "neutral"
// (utterance counts), "mostNegative": {"start", "score"}} ; {"label": "neutral"} when empty.
struct ScoredUtterance {
  double start = 0;
  size_t words = 0;
  double compound = 0;
};
nlohmann::json sentiment_summary(const std::vector<ScoredUtterance>& utterances);

}  // namespace verbatim::transcribe
