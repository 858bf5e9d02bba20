// libFuzzer target: the message/cpim parser (sip/cpim.h). Must never crash; what it parses must
// build back into CPIM that parses to the same fields.
#include <cstdint>
#include <string_view>

#include "sip/cpim.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace verbatim::sip;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  auto m = parse_cpim(in);
  if (!m) return 0;
  (void)cpim_address(m.value().from);
  // Header values never hold CR or LF, so building and parsing again gives them back.
  auto again = parse_cpim(build_cpim(m.value()));
  if (!again || again.value().body != m.value().body) __builtin_trap();
  return 0;
}
