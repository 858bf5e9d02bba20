// The archive tests' fixture: an archive in a temporary directory on a manual clock, and
// helpers to record, verify and find object files.
#pragma once

#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "archive/archive.h"
#include "common/test_dir.h"

namespace verbatim::archive {

class ArchiveTest : public ::testing::Test {
 protected:
  std::unique_ptr<Archive> open(const std::string& at = "", bool shared = false) {
    ArchiveOptions o;
    o.root = at.empty() ? root : at;
    o.shared = shared;
    o.writer.chunk_size = kMinChunkSize;
    // A day by rule, so tests can choose longer periods explicitly (never shorter ones).
    o.retention.default_period = Period{0, 0, 1};
    auto a = Archive::open(o, clock, "test");
    EXPECT_TRUE(a) << (a ? "" : a.error().message);
    return a ? std::move(a).value() : nullptr;
  }
  static std::vector<uint8_t> bytes(size_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<uint8_t> v(n);
    for (auto& b : v) b = static_cast<uint8_t>(rng());
    return v;
  }
  // A recording with `objects` objects of `size` bytes; returns (recording, object ids).
  std::pair<std::string, std::vector<std::string>> record(
      Archive& a, int objects, size_t size, uint64_t seed,
      std::optional<std::chrono::days> keep = {}) {
    auto rec = a.create_recording({{"from", "sip:alice@contoso.com"}, {"seed", seed}}, keep);
    EXPECT_TRUE(rec);
    std::vector<std::string> ids;
    for (int i = 0; i < objects; ++i) {
      auto obj = a.begin_object(rec.value(), i == 0 ? "metadata" : "media");
      EXPECT_TRUE(obj);
      EXPECT_TRUE(obj.value()->writer().write(bytes(size, seed * 100 + static_cast<uint64_t>(i))));
      EXPECT_TRUE(a.seal(*obj.value()));
      ids.push_back(obj.value()->id());
    }
    EXPECT_TRUE(a.complete_recording(rec.value(), "complete"));
    return {rec.value(), ids};
  }
  static std::vector<std::string> findings(Archive& a, bool deep = true) {
    auto f = a.verify(deep);
    EXPECT_TRUE(f) << (f ? "" : f.error().message);
    std::vector<std::string> out;
    if (f) {
      for (const auto& x : f.value()) out.push_back(x.where + ": " + x.what);
    }
    return out;
  }
  std::string path_of(const std::string& object_id) const {
    return root + "/objects/" + object_id.substr(0, 2) + "/" + object_id + ".vbo";
  }

  TestDir tmp{"vb_archive"};
  const std::filesystem::path& base = tmp.path();
  std::string root = (base / "archive").string();
  ManualClock clock{TimePoint{std::chrono::seconds(1800000000)}};
};

}  // namespace verbatim::archive
