// libFuzzer target: the archive object reader (object_format.h) on arbitrary file bytes —
// open, index, verify, read from the middle, and recovery of a damaged tail. Must never
// crash, over-allocate or accept garbage as a valid object.
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "archive/object_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace verbatim::archive;
  static const DataKey key = [] {
    DataKey k{};
    for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(i);
    return k;
  }();
  const std::string path = "/tmp/vb_object_fuzz_" + std::to_string(::getpid()) + ".vbo";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  if (auto r = ObjectReader::open(path, key)) {
    const bool valid = static_cast<bool>(r.value()->verify());
    (void)r.value()->read(size / 3, 5000);
    // Random bytes must not authenticate under a key they were not sealed with.
    if (valid && size > 0 && data[0] != 'V') __builtin_trap();
  }
  (void)recover_object(path, key);
  ::unlink(path.c_str());
  return 0;
}
