// libFuzzer target: the SIP/tel/absolute URI parser (sip/uri.h). Must never crash; a URI that
// parses must write back (to_string) to text that parses to the same text again.
#include <cstdint>
#include <string>
#include <string_view>

#include "sip/uri.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace verbatim::sip;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto u = parse_uri(text);
  if (!u) return 0;
  (void)u.value().user_unescaped();
  (void)u.value().param("transport");
  const std::string out = u.value().to_string();
  auto again = parse_uri(out);
  if (!again || again.value().to_string() != out) __builtin_trap();
  return 0;
}
