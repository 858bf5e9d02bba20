// libFuzzer target: the multipart/mixed parser (sip/multipart.h). The first line of the input
// is the boundary, the rest the body. Must never crash or read outside the body; every part
// it returns must lie inside the body.
#include <cstdint>
#include <string_view>

#include "sip/multipart.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace verbatim::sip;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nl = in.find('\n');
  if (nl == std::string_view::npos) return 0;
  const std::string_view boundary = in.substr(0, nl);
  const std::string_view body = in.substr(nl + 1);
  bool unterminated = false;
  auto parts = parse_multipart(body, boundary, &unterminated);
  if (!parts) return 0;
  for (const auto& p : parts.value()) {
    if (!p.body.empty() && (p.body.data() < body.data() ||
                            p.body.data() + p.body.size() > body.data() + body.size())) {
      __builtin_trap();
    }
    (void)p.content_type();
    (void)p.header("Content-Disposition");
  }
  return 0;
}
