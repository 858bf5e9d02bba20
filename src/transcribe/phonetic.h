// Phonetic search: finds a word the recogniser's vocabulary lacks (a name, a ticker, slang) in
// the phones PocketSphinx recognised (engine.h), by sound rather than spelling.
//   - Phones are the 39 ARPAbet phones of the CMU dictionary, each stored as one character
//     (phone_code: '0' + its index in kPhones), so an utterance's phones are a short string the
//     search scans without parsing.
//   - A query becomes phones through the CMU dictionary (the model's cmudict-en-us.dict) and,
//     for words it lacks, through espeak-ng's IPA (mapped to ARPAbet here: espeak-ng has no
//     ARPAbet output).
//   - The match is an approximate substring match (Sellers' edit distance against any stretch of
//     the utterance), where confusable phones cost less than unrelated ones (vowel for vowel,
//     stop for stop, ...), because phone recognition on telephone audio confuses exactly those.
//     The score is 1 - distance / the query's length, from 0 to 1.
// Written here because no packaged library matches phone strings this way.
// Threads and ownership: values and pure functions; lookups read the dictionary file and may run
// espeak-ng (a child process).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace verbatim::transcribe {

inline constexpr std::array<std::string_view, 39> kPhones = {
    "AA", "AE", "AH", "AO", "AW", "AY", "B",  "CH", "D", "DH", "EH", "ER", "EY",
    "F",  "G",  "HH", "IH", "IY", "JH", "K",  "L",  "M", "N",  "NG", "OW", "OY",
    "P",  "R",  "S",  "SH", "T",  "TH", "UH", "UW", "V", "W",  "Y",  "Z",  "ZH"};

// '0' + index, or nothing for what is not one of kPhones (SIL, fillers).
std::optional<char> phone_code(std::string_view arpabet);
// "K AA L" -> the codes; phones that are not ARPAbet are left out.
std::string encode_phones(const std::vector<std::string>& phones);
std::string encode_phones(std::string_view arpabet);  // "K AA L", space separated
std::string decode_phones(std::string_view codes);    // -> "K AA L"

// ARPAbet phones of espeak-ng IPA ("kwˈɪntɚɹə" -> K W IH N T ER R AH); stress and length
// marks are dropped, unknown symbols skipped.
std::vector<std::string> ipa_to_arpabet(std::string_view ipa);

// The phones of a query: each word from the dictionary, else from espeak-ng. An error when a
// word has neither (espeak-ng missing) or the query has no word.
struct QueryPhones {
  std::string codes;              // every word's phones, in order
  std::vector<std::string> from;  // per word: "cmudict" or "espeak-ng"
};
Result<QueryPhones> query_phones(const std::string& text, const std::string& dictionary_path);

// Where `verbatim search --phonetic` draws the line unless told otherwise (--threshold): made-up
// names spoken by espeak-ng through a telephone band score 0.45-0.6 in the speech that has them
// and under 0.4 in speech that does not (transcribe tests, bench/RESULTS.md).
inline constexpr double kDefaultPhoneticThreshold = 0.45;

// The best approximate match of `query` inside `utterance` (both phone codes): its score (0..1)
// and where it ends (index after the last phone matched).
struct PhoneticMatch {
  double score = 0;
  size_t end = 0;
};
PhoneticMatch phonetic_match(std::string_view query, std::string_view utterance);

}  // namespace verbatim::transcribe
