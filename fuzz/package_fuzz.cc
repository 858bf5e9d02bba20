// libFuzzer target: offline verification of export packages (export.h, tarball.h) on hostile
// input. The first byte picks what the rest is: an even byte, a package tar file (unpacked
// defensively, then verified); an odd byte, the manifest.json of a package directory. Must
// never crash, escape the scratch directory, or call anything but "valid" valid: a forged
// manifest cannot verify without the archive's signing key.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "archive/export.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace verbatim::archive;
  if (size == 0) return 0;
  static const std::array<uint8_t, 32> public_key{1, 2, 3};  // no secret key matches it
  const std::string base = "/tmp/vb_package_fuzz_" + std::to_string(::getpid());
  std::filesystem::remove_all(base);
  std::filesystem::create_directories(base + "/dir");
  const bool tar = (data[0] & 1) == 0;
  const std::string input = tar ? base + "/package.tar" : base + "/dir/manifest.json";
  {
    std::ofstream out(input, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  }
  auto verdicts = verify_package(tar ? input : base + "/dir", public_key);
  if (verdicts) {
    for (const auto& v : verdicts.value()) {
      if (v.verdict == "valid") __builtin_trap();
    }
  }
  std::filesystem::remove_all(base);
  return 0;
}
