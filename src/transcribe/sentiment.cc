#include "transcribe/sentiment.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <sodium.h>

#include "common/strings.h"

namespace verbatim::transcribe {

using json = nlohmann::json;

namespace {

constexpr double kIntensifier = 0.293;  // what an intensifier adds to (or takes from) a valence
constexpr double kNegation = -0.74;     // a negated valence: flipped and damped
constexpr double kNormalise = 15;       // compound = x / sqrt(x² + kNormalise)
constexpr double kBeforeBut = 0.5, kAfterBut = 1.5;
// An intensifier's effect fades with its distance from the word it modifies.
constexpr std::array<double, 3> kFade = {1.0, 0.95, 0.9};

// Words that strengthen what follows ("very good") and words that weaken it ("barely good").
const std::unordered_map<std::string_view, double>& intensifiers() {
  static const std::unordered_map<std::string_view, double> k = [] {
    std::unordered_map<std::string_view, double> m;
    for (std::string_view w :
         {"absolutely",    "amazingly",    "awfully",       "completely", "considerably",
          "decidedly",     "deeply",       "enormously",    "entirely",   "especially",
          "exceptionally", "extremely",    "fully",         "greatly",    "highly",
          "hugely",        "incredibly",   "intensely",     "majorly",    "more",
          "most",          "particularly", "purely",        "quite",      "really",
          "remarkably",    "so",           "substantially", "thoroughly", "totally",
          "tremendously",  "truly",        "unbelievably",  "utterly",    "very"}) {
      m[w] = kIntensifier;
    }
    for (std::string_view w :
         {"almost", "barely", "hardly", "kinda", "less", "little", "marginally", "occasionally",
          "partly", "scarcely", "slightly", "somewhat", "sorta"}) {
      m[w] = -kIntensifier;
    }
    return m;
  }();
  return k;
}

// Negations: "not" and its kin, and the contractions written without their apostrophe as
// transcripts may have them. "no" is not one: "no" carries a valence of its own in the lexicon.
bool negates(std::string_view w) {
  static const std::array<std::string_view, 36> k = {
      "not",     "never",   "none",    "nor",    "neither", "nothing", "nowhere", "cannot",
      "without", "nope",    "rarely",  "seldom", "despite", "uhuh",    "aint",    "arent",
      "cant",    "couldnt", "darent",  "didnt",  "doesnt",  "dont",    "hadnt",   "hasnt",
      "havent",  "isnt",    "mightnt", "mustnt", "neednt",  "oughtnt", "shant",   "shouldnt",
      "wasnt",   "werent",  "wont",    "wouldnt"};
  if (std::find(k.begin(), k.end(), w) != k.end()) return true;
  return w.size() > 3 && w.substr(w.size() - 3) == "n't";
}

// Lower case, without the punctuation around it ("Good," → "good"; "isn't" stays).
std::vector<std::string> words_of(std::string_view text) {
  std::vector<std::string> out;
  std::istringstream in{std::string(text)};
  std::string w;
  while (in >> w) {
    size_t a = 0, b = w.size();
    while (a < b && std::ispunct(static_cast<unsigned char>(w[a])) && w[a] != '\'') ++a;
    while (b > a && std::ispunct(static_cast<unsigned char>(w[b - 1])) && w[b - 1] != '\'') --b;
    if (a < b) out.push_back(to_lower(std::string_view(w).substr(a, b - a)));
  }
  return out;
}

std::string sha256_hex(const std::string& bytes) {
  std::array<unsigned char, crypto_hash_sha256_BYTES> h{};
  crypto_hash_sha256(h.data(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  return to_hex(h);
}

double round3(double v) { return std::round(v * 1000) / 1000; }
double round4(double v) { return std::round(v * 10000) / 10000; }

}  // namespace

std::string sentiment_label(double compound) {
  if (compound >= kPositiveFrom) return "positive";
  if (compound <= kNegativeFrom) return "negative";
  return "neutral";
}

json SentimentInfo::to_json() const {
  return {{"name", name}, {"version", version}, {"lexicon", lexicon}};
}

std::string SentimentScorer::built_lexicon_dir() {
#ifdef VERBATIM_BUILT_VADER
  return VERBATIM_BUILT_VADER;
#else
  return "";
#endif
}

Result<std::unique_ptr<SentimentScorer>> SentimentScorer::load(const std::string& dir) {
  const auto path = std::filesystem::path(dir) / "vader_lexicon.txt";
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    return make_error(ErrorCode::kNotFound,
                      "the sentiment lexicon " + path.string() +
                          " is not there (scripts/bootstrap.sh installs it with npm ci)");
  }
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::unique_ptr<SentimentScorer> s(new SentimentScorer());
  std::istringstream lines(bytes);
  std::string line;
  size_t n = 0;
  while (std::getline(lines, line)) {
    ++n;
    if (line.empty() || line == "\r") continue;
    const auto parts = split(line, '\t');
    double v = 0;
    try {
      if (parts.size() < 2) throw std::invalid_argument("no valence");
      size_t used = 0;
      v = std::stod(parts[1], &used);
      if (used != parts[1].size() || !std::isfinite(v) || std::fabs(v) > 4) {
        throw std::invalid_argument("not a valence");
      }
    } catch (const std::exception&) {
      return make_error(ErrorCode::kInvalidArgument,
                        path.string() + " line " + std::to_string(n) +
                            ": not \"word<TAB>valence (-4..4)<TAB>...\"");
    }
    s->valence_[parts[0]] = v;
  }
  if (s->valence_.size() < 1000) {
    return make_error(ErrorCode::kInvalidArgument, path.string() + " has " +
                                                       std::to_string(s->valence_.size()) +
                                                       " words: not VADER's lexicon");
  }
  s->info_.lexicon = "sha256 " + sha256_hex(bytes);
  std::ifstream pkg(std::filesystem::path(dir) / "package.json");
  const json p = pkg ? json::parse(pkg, nullptr, false) : json();
  s->info_.version = p.is_object() ? p.value("name", std::string("vader")) + " " +
                                         p.value("version", std::string("unknown"))
                                   : "unknown";
  return s;
}

SentimentScore SentimentScorer::score(std::string_view text) const {
  const auto words = words_of(text);
  std::vector<double> valences(words.size(), 0);
  const auto& boost = intensifiers();
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (boost.count(w)) continue;                                               // itself no valence
    if (w == "kind" && i + 1 < words.size() && words[i + 1] == "of") continue;  // "kind of"
    auto it = valence_.find(w);
    if (it == valence_.end()) continue;
    double v = it->second;
    for (size_t d = 1; d <= 3 && d <= i; ++d) {
      if (auto b = boost.find(words[i - d]); b != boost.end()) {
        v += (v < 0 ? -b->second : b->second) * kFade[d - 1];
      }
    }
    for (size_t d = 1; d <= 3 && d <= i; ++d) {
      if (negates(words[i - d])) v *= kNegation;
    }
    valences[i] = v;
  }
  if (auto but = std::find(words.begin(), words.end(), "but"); but != words.end()) {
    const auto at = static_cast<size_t>(but - words.begin());
    for (size_t i = 0; i < valences.size(); ++i) {
      if (i < at) valences[i] *= kBeforeBut;
      if (i > at) valences[i] *= kAfterBut;
    }
  }
  SentimentScore out;
  double sum = 0, pos = 0, neg = 0, neu = 0;
  for (const double v : valences) {
    sum += v;
    if (v > 0) pos += v + 1;  // the method's +1: a mildly rated word still counts
    if (v < 0) neg += 1 - v;
    if (v == 0) neu += 1;
  }
  out.compound = std::clamp(sum / std::sqrt(sum * sum + kNormalise), -1.0, 1.0);
  const double total = pos + neg + neu;
  if (total > 0) {
    out.positive = round3(pos / total);
    out.negative = round3(neg / total);
    out.neutral = round3(neu / total);
  }
  out.compound = round4(out.compound);
  return out;
}

json sentiment_summary(const std::vector<ScoredUtterance>& utterances) {
  double weighted = 0, weights = 0;
  int positive = 0, negative = 0, neutral = 0;
  const ScoredUtterance* worst = nullptr;
  for (const auto& u : utterances) {
    const double w = static_cast<double>(std::max<size_t>(u.words, 1));
    weighted += u.compound * w;
    weights += w;
    const std::string label = sentiment_label(u.compound);
    (label == "positive" ? positive : label == "negative" ? negative : neutral) += 1;
    if (!worst || u.compound < worst->compound) worst = &u;
  }
  if (weights == 0) return {{"label", "neutral"}, {"utterances", 0}};
  const double score = round4(weighted / weights);
  json out = {{"score", score},
              {"label", sentiment_label(score)},
              {"utterances", utterances.size()},
              {"positive", positive},
              {"negative", negative},
              {"neutral", neutral}};
  if (worst && worst->compound <= kNegativeFrom) {
    out["mostNegative"] = {{"start", round3(worst->start)}, {"score", worst->compound}};
  }
  return out;
}

}  // namespace verbatim::transcribe
