// libFuzzer target: the CSV reader behind Import-VbDirectory.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/csv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto rows =
      verbatim::parse_csv(std::string_view(reinterpret_cast<const char*>(data), size));
  if (rows) {
    size_t line = 0;
    for (const auto& r : rows.value()) {
      if (r.line < line) __builtin_trap();  // rows come in order
      line = r.line;
    }
  }
  return 0;
}
