// libFuzzer target: what an S3 store (or anything posing as one) sends back: error documents,
// listings, version listings, multipart upload ids and Object Lock configurations. No crash, no
// hang; a cut listing always carries the token or marker that continues it.
#include <cstdint>
#include <string_view>

#include "archive/s3_client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace verbatim::archive;
  const std::string_view xml(reinterpret_cast<const char*>(data), size);
  (void)parse_s3_error(xml);
  if (auto l = parse_s3_listing(xml); l && l.value().next_token.empty()) {
    (void)l.value().keys.size();
  }
  if (auto v = parse_s3_versions(xml)) {
    for (const auto& version : v.value().versions) (void)version.key.size();
  }
  (void)parse_s3_upload_id(xml);
  (void)parse_s3_lock_configuration(xml);
  return 0;
}
