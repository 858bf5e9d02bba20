// libFuzzer target: the parties' search keys (archive/catalog_index.h): number_keys and
// part_keys over any text, and part_lookup_start over any query. Checks the property the search
// relies on: text the query finds in the parties' text is under a key that starts with the
// looked-up part (so a range lookup never misses a recording), and an exact lookup (the whole
// query, up to kPartKeyBytes) finds only text that holds the query.
// Input: the parties' text, a zero byte, then the query (lower case, as the search makes it).
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "archive/catalog_index.h"

namespace {

bool any_starts_with(const std::vector<std::string>& keys, std::string_view prefix) {
  // Keys are sorted: the first not below the prefix is the only candidate.
  const auto it = std::lower_bound(keys.begin(), keys.end(), prefix,
                                   [](const std::string& k, std::string_view p) { return k < p; });
  return it != keys.end() && std::string_view(*it).substr(0, prefix.size()) == prefix;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t cut = in.find('\0');
  const std::string_view text = in.substr(0, cut);
  std::string query(cut == std::string_view::npos ? "" : in.substr(cut + 1));
  std::transform(query.begin(), query.end(), query.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto parts = verbatim::archive::part_keys(text);
  const auto numbers = verbatim::archive::number_keys(text);
  if (!std::is_sorted(parts.begin(), parts.end()) ||
      !std::is_sorted(numbers.begin(), numbers.end())) {
    std::abort();
  }
  for (const auto& k : parts) {
    if (k.empty() || k.size() > verbatim::archive::kPartKeyBytes) std::abort();
  }
  if (const auto at = verbatim::archive::part_lookup_start(query)) {
    const std::string_view from = std::string_view(query).substr(*at);
    const std::string_view key = from.substr(0, verbatim::archive::kPartKeyBytes);
    const bool found = any_starts_with(parts, key);
    if (text.find(query) != std::string_view::npos && !found) std::abort();  // a miss
    const bool exact = *at == 0 && query.size() <= verbatim::archive::kPartKeyBytes;
    if (exact && found && text.find(query) == std::string_view::npos) std::abort();
  }
  // Digits: any run of kMinNumberDigits or more in the query, found in the text, has a key.
  const auto digits_end = std::find_if(query.begin(), query.end(),
                                       [](unsigned char c) { return std::isdigit(c) == 0; });
  const std::string digits(query.begin(), digits_end);
  if (digits.size() >= verbatim::archive::kMinNumberDigits &&
      text.find(digits) != std::string_view::npos &&
      !any_starts_with(numbers,
                       std::string_view(digits).substr(0, verbatim::archive::kNumberKeyDigits))) {
    std::abort();
  }
  return 0;
}
