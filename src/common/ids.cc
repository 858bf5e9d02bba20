#include "common/ids.h"

#include <array>
#include <cctype>
#include <cstdio>

#include <sodium.h>

#include "common/strings.h"

namespace verbatim {
namespace {
bool ensure_sodium() {
  static const bool ok = sodium_init() >= 0;
  return ok;
}
}  // namespace

std::string RandomIdGenerator::new_guid() {
  ensure_sodium();
  std::array<unsigned char, 16> b{};
  randombytes_buf(b.data(), b.size());
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  std::string h = to_hex(b);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20, 12);
}

std::string SequentialIdGenerator::new_guid() {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-0000-4000-8000-%012llx", prefix_,
                static_cast<unsigned long long>(next_++));
  return buf;
}

bool is_guid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

std::string random_hex(size_t bytes) {
  ensure_sodium();
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  return to_hex(std::span(reinterpret_cast<const uint8_t*>(raw.data()), raw.size()));
}

}  // namespace verbatim
