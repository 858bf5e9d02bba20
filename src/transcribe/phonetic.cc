#include "transcribe/phonetic.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <utility>

#include "transcribe/engine.h"

namespace verbatim::transcribe {

namespace {

// Classes of phones a recogniser confuses with each other: vowels, stops, fricatives, nasals,
// liquids and glides, affricates.
enum Class : uint8_t { kVowel, kStop, kFricative, kNasal, kLiquid, kAffricate };

constexpr std::array<Class, kPhones.size()> kClass = {
    kVowel,     kVowel,  kVowel,     kVowel,     kVowel,  kVowel,     kStop,        // AA..B
    kAffricate, kStop,   kFricative, kVowel,     kVowel,  kVowel,                   // CH..EY
    kFricative, kStop,   kFricative, kVowel,     kVowel,  kAffricate, kStop,        // F..K
    kLiquid,    kNasal,  kNasal,     kNasal,     kVowel,  kVowel,                   // L..OY
    kStop,      kLiquid, kFricative, kFricative, kStop,   kFricative,               // P..TH
    kVowel,     kVowel,  kFricative, kLiquid,    kLiquid, kFricative, kFricative};  // UH..ZH

// Costs in quarter phones: the same phone 0; its voiced or voiceless twin (S/Z, T/D, ...), or
// R for ER, 1; another of its class 2; any other 4; a phone left out or added 4.
constexpr int kIndel = 4;

constexpr std::pair<std::string_view, std::string_view> kTwins[] = {
    {"P", "B"},   {"T", "D"},   {"K", "G"},  {"F", "V"},   {"TH", "DH"}, {"S", "Z"},
    {"SH", "ZH"}, {"CH", "JH"}, {"R", "ER"}, {"AA", "AO"}, {"IH", "IY"}, {"UH", "UW"}};

size_t index_of(std::string_view p) {
  return static_cast<size_t>(std::find(kPhones.begin(), kPhones.end(), p) - kPhones.begin());
}

struct CostTable {
  std::array<std::array<uint8_t, kPhones.size()>, kPhones.size()> sub{};
  CostTable() {
    for (size_t a = 0; a < kPhones.size(); ++a) {
      for (size_t b = 0; b < kPhones.size(); ++b) {
        sub[a][b] = a == b ? 0 : kClass[a] == kClass[b] ? 2 : 4;
      }
    }
    for (const auto& [x, y] : kTwins) {
      const size_t a = index_of(x), b = index_of(y);
      if (a < kPhones.size() && b < kPhones.size()) sub[a][b] = sub[b][a] = 1;
    }
  }
};
const CostTable kCosts;

// IPA (as espeak-ng writes it) to ARPAbet, longest symbol first.
constexpr std::pair<std::string_view, std::string_view> kIpa[] = {
    {"aɪ", "AY"}, {"aʊ", "AW"}, {"eɪ", "EY"}, {"oʊ", "OW"}, {"əʊ", "OW"}, {"ɔɪ", "OY"},
    {"tʃ", "CH"}, {"dʒ", "JH"}, {"ɑ", "AA"},  {"ɒ", "AA"},  {"a", "AA"},  {"æ", "AE"},
    {"ʌ", "AH"},  {"ə", "AH"},  {"ɐ", "AH"},  {"ɔ", "AO"},  {"o", "AO"},  {"ɛ", "EH"},
    {"e", "EH"},  {"ɚ", "ER"},  {"ɝ", "ER"},  {"ɜ", "ER"},  {"ɪ", "IH"},  {"ᵻ", "IH"},
    {"i", "IY"},  {"ʊ", "UH"},  {"u", "UW"},  {"b", "B"},   {"d", "D"},   {"ð", "DH"},
    {"f", "F"},   {"ɡ", "G"},   {"g", "G"},   {"h", "HH"},  {"k", "K"},   {"x", "K"},
    {"l", "L"},   {"ɬ", "L"},   {"m", "M"},   {"n", "N"},   {"ŋ", "NG"},  {"p", "P"},
    {"ɹ", "R"},   {"r", "R"},   {"s", "S"},   {"ʃ", "SH"},  {"t", "T"},   {"ɾ", "T"},
    {"θ", "TH"},  {"v", "V"},   {"w", "W"},   {"j", "Y"},   {"z", "Z"},   {"ʒ", "ZH"},
};

// The dictionary's first pronunciation of each word that has one.
std::map<std::string, std::vector<std::string>> from_dictionary(
    const std::string& path, const std::vector<std::string>& words) {
  std::map<std::string, std::vector<std::string>> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line) && out.size() < words.size()) {
    const auto sp = line.find(' ');
    if (sp == std::string::npos) continue;
    const std::string_view head(line.data(), sp);
    if (head.find('(') != std::string_view::npos) continue;  // alternates: the first is enough
    if (std::find(words.begin(), words.end(), head) == words.end()) continue;
    std::vector<std::string> phones;
    for (size_t at = sp + 1; at < line.size();) {
      const size_t end = std::min(line.find(' ', at), line.size());
      if (end > at) phones.push_back(line.substr(at, end - at));
      at = end + 1;
    }
    out.emplace(std::string(head), std::move(phones));
  }
  return out;
}

// espeak-ng's IPA for one word (letters and digits only: nothing reaches a shell unquoted).
Result<std::string> espeak_ipa(const std::string& word) {
  const std::string cmd = "espeak-ng -q -v en-us --ipa '" + word + "' 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  if (!p) return make_error(ErrorCode::kFailedPrecondition, "espeak-ng could not be run");
  std::string out;
  std::array<char, 256> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p.get())) > 0) out.append(buf.data(), n);
  if (pclose(p.release()) != 0 || out.find_first_not_of(" \n") == std::string::npos) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "no pronunciation for '" + word + "': espeak-ng failed (Debian: espeak-ng)");
  }
  return out;
}

}  // namespace

std::optional<char> phone_code(std::string_view arpabet) {
  for (size_t i = 0; i < kPhones.size(); ++i) {
    if (kPhones[i] == arpabet) return static_cast<char>('0' + i);
  }
  return std::nullopt;
}

std::string encode_phones(const std::vector<std::string>& phones) {
  std::string out;
  for (const auto& p : phones) {
    if (auto c = phone_code(p)) out.push_back(*c);
  }
  return out;
}

std::string encode_phones(std::string_view arpabet) {
  std::string out;
  for (size_t at = 0; at < arpabet.size();) {
    const size_t sp = std::min(arpabet.find(' ', at), arpabet.size());
    if (auto c = phone_code(arpabet.substr(at, sp - at))) out.push_back(*c);
    at = sp + 1;
  }
  return out;
}

std::string decode_phones(std::string_view codes) {
  std::string out;
  for (char c : codes) {
    const auto i = static_cast<size_t>(c - '0');
    if (c < '0' || i >= kPhones.size()) continue;
    out.append(out.empty() ? "" : " ").append(kPhones[i]);
  }
  return out;
}

std::vector<std::string> ipa_to_arpabet(std::string_view ipa) {
  std::vector<std::string> out;
  for (size_t at = 0; at < ipa.size();) {
    bool matched = false;
    for (const auto& [sym, phone] : kIpa) {
      if (ipa.substr(at, sym.size()) == sym) {
        out.emplace_back(phone);
        at += sym.size();
        matched = true;
        break;
      }
    }
    if (matched) continue;
    // Anything else (stress, length, separators, a symbol we do not map): skip one UTF-8
    // character.
    ++at;
    while (at < ipa.size() && (static_cast<unsigned char>(ipa[at]) & 0xC0) == 0x80) ++at;
  }
  return out;
}

Result<QueryPhones> query_phones(const std::string& text, const std::string& dictionary_path) {
  const auto words = spoken_words(text);
  if (words.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "phonetic: give a word to listen for");
  }
  const auto known = from_dictionary(dictionary_path, words);
  QueryPhones q;
  for (const auto& w : words) {
    if (auto it = known.find(w); it != known.end()) {
      q.codes += encode_phones(it->second);
      q.from.emplace_back("cmudict");
      continue;
    }
    std::string plain;
    for (char c : w) {
      if (std::isalnum(static_cast<unsigned char>(c))) plain.push_back(c);
    }
    if (plain.empty()) continue;
    auto ipa = espeak_ipa(plain);
    if (!ipa) return ipa.error();
    q.codes += encode_phones(ipa_to_arpabet(ipa.value()));
    q.from.emplace_back("espeak-ng");
  }
  if (q.codes.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "phonetic: '" + text + "' has no sounds");
  }
  return q;
}

PhoneticMatch phonetic_match(std::string_view query, std::string_view utterance) {
  // The query's phones (at most 63; anything that is not a phone code is left out, as in the
  // utterance below).
  std::array<uint8_t, 63> q{};
  size_t mm = 0;
  for (char c : query) {
    const auto p = static_cast<uint8_t>(c - '0');
    if (p < kPhones.size() && mm < q.size()) q[mm++] = p;
  }
  if (mm == 0 || utterance.empty()) return {};
  // Sellers: column j holds the cost of the query's first j phones ending at the utterance's
  // current phone; row 0 is free (a match may start anywhere).
  std::array<int, 64> col{};
  for (size_t j = 0; j <= mm; ++j) col[j] = static_cast<int>(j) * kIndel;
  int best = col[mm];
  size_t best_end = 0;
  for (size_t i = 0; i < utterance.size(); ++i) {
    const auto t = static_cast<uint8_t>(utterance[i] - '0');
    if (t >= kPhones.size()) continue;
    const auto& sub = kCosts.sub[t];
    int diag = 0;  // col[0] of the previous row
    for (size_t j = 1; j <= mm; ++j) {
      const int up = col[j];
      const int v = std::min({diag + sub[q[j - 1]], up + kIndel, col[j - 1] + kIndel});
      diag = up;
      col[j] = v;
    }
    if (col[mm] < best) {
      best = col[mm];
      best_end = i + 1;
    }
  }
  const double score = 1.0 - static_cast<double>(best) / (static_cast<double>(mm) * kIndel);
  return {std::max(score, 0.0), best_end};
}

}  // namespace verbatim::transcribe
