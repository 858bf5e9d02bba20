// libFuzzer target: what transcripts and their search parse. The input's first byte picks one:
//   0: a stored transcript's utterances (transcribe::utterances_from_json), written back and
//      read again, which must give the same utterances;
//   1: espeak-ng IPA to ARPAbet (transcribe::ipa_to_arpabet), whose phones must all encode;
//   2: a phone-code query against phone codes (transcribe::phonetic_match): the score stays in
//      [0, 1] and the match ends inside the utterance;
//   3: search parameters with a text or phonetic query (search::query_from_params).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "search/search.h"
#include "transcribe/engine.h"
#include "transcribe/phonetic.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      const auto j = nlohmann::json::parse(in, nullptr, false);
      if (j.is_discarded()) return 0;
      auto u = verbatim::transcribe::utterances_from_json(j);
      if (!u) return 0;
      auto again = verbatim::transcribe::utterances_from_json(
          verbatim::transcribe::utterances_json(u.value()));
      if (!again || again.value().size() != u.value().size()) std::abort();
      for (size_t i = 0; i < u.value().size(); ++i) {
        if (again.value()[i].phones != u.value()[i].phones ||
            again.value()[i].words.size() != u.value()[i].words.size())
          std::abort();
      }
      return 0;
    }
    case 1: {
      const auto phones = verbatim::transcribe::ipa_to_arpabet(in);
      if (verbatim::transcribe::encode_phones(phones).size() != phones.size()) std::abort();
      return 0;
    }
    case 2: {
      const size_t cut = in.empty() ? 0 : static_cast<uint8_t>(in[0]) % in.size();
      const std::string q = in.substr(0, cut), t = in.substr(cut);
      const auto m = verbatim::transcribe::phonetic_match(q, t);
      if (m.score < 0 || m.score > 1 || m.end > t.size()) std::abort();
      return 0;
    }
    default: {
      const auto eq = in.find('=');
      std::map<std::string, std::string> params;
      if (eq == std::string::npos) {
        params["text"] = in;
      } else {
        params[in.substr(0, eq)] = in.substr(eq + 1);
      }
      (void)verbatim::search::query_from_params(params);
      return 0;
    }
  }
}
