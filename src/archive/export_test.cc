#include "archive/export.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "archive/tarball.h"
#include "common/test_dir.h"

namespace verbatim::archive {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ArchiveOptions o;
    o.root = (base / "archive").string();
    archive = Archive::open(o, clock, "test").value();
    for (int r = 0; r < 2; ++r) {
      auto rec = archive->create_recording({{"call", r}, {"from", "sip:alice@contoso.com"}});
      for (int i = 0; i < 2; ++i) {
        auto obj = archive->begin_object(rec.value(), "media");
        std::vector<uint8_t> data(3000 + static_cast<size_t>(r * 10 + i),
                                  static_cast<uint8_t>(r * 10 + i));
        ASSERT_TRUE(obj.value()->writer().write(data));
        ASSERT_TRUE(archive->seal(*obj.value()));
      }
      ASSERT_TRUE(archive->complete_recording(rec.value(), "complete"));
      recs.push_back(rec.value());
    }
    pkg = (base / "package").string();
    auto s = export_package(*archive, recs, pkg, "officer:jane");
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s.value().objects, 4u);
    pk = archive->ledger().public_key();
  }

  std::map<std::string, std::string> verdicts(const std::array<uint8_t, 32>& key) {
    auto v = verify_package(pkg, key);
    EXPECT_TRUE(v);
    std::map<std::string, std::string> out;
    for (const auto& x : v.value()) {
      out[x.recording] = x.verdict;
      for (const auto& p : x.problems) std::cerr << x.recording << ": " << p << "\n";
    }
    return out;
  }
  json manifest() {
    std::ifstream in(pkg + "/manifest.json");
    return json::parse(in);
  }
  void save(const json& m) { std::ofstream(pkg + "/manifest.json") << m.dump(2); }

  TestDir tmp{"vb_export"};
  const fs::path& base = tmp.path();
  ManualClock clock{TimePoint{std::chrono::seconds(1800000000)}};
  std::unique_ptr<Archive> archive;
  std::vector<std::string> recs;
  std::string pkg;
  std::array<uint8_t, 32> pk{};
};

TEST_F(ExportTest, ValidPackageVerifiesOffline) {
  const auto v = verdicts(pk);
  EXPECT_EQ(v.at(recs[0]), "valid");
  EXPECT_EQ(v.at(recs[1]), "valid");
  // The export is on the record.
  bool logged = false;
  for (uint64_t i = 0; i < archive->ledger().size(); ++i) {
    logged |= json::parse(archive->ledger().entry_bytes(i).value())["type"] == "access.export";
  }
  EXPECT_TRUE(logged);
  EXPECT_TRUE(fs::exists(pkg + "/recordings/" + recs[0] + "/metadata.json"));
}

TEST_F(ExportTest, EveryMetadataVersionTravelsAndVerifies) {
  ASSERT_TRUE(archive->update_metadata(recs[0], {{"call", 0}, {"note", "a"}}, "officer:1", "fix"));
  ASSERT_TRUE(archive->update_metadata(recs[0], {{"call", 0}, {"note", "b"}}, "officer:2", "fix"));
  const std::string again = (base / "package2").string();
  ASSERT_TRUE(export_package(*archive, recs, again, "officer:jane"));
  pkg = again;
  auto v = verdicts(pk);
  EXPECT_EQ(v.at(recs[0]), "valid");
  EXPECT_EQ(v.at(recs[1]), "valid");
  const json m = manifest();
  const json& versions = m["recordings"][0]["metadata_versions"];
  ASSERT_EQ(versions.size(), 3u);
  EXPECT_EQ(versions[2]["changed_by"], "officer:2");
  std::ifstream first(pkg + "/" + versions[0]["file"].get<std::string>());
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(first), {}),
            archive->metadata_history(recs[0]).value()[0].text);
  // Altering an interim version in the package is tampering.
  std::ofstream(pkg + "/" + versions[1]["file"].get<std::string>()) << R"({"call":0,"note":"z"})";
  v = verdicts(pk);
  EXPECT_EQ(v.at(recs[0]), "tampered");
  EXPECT_EQ(v.at(recs[1]), "valid");
}

TEST_F(ExportTest, TarPackagesVerifyAndTamperingInsideIsFound) {
  const std::string tar = (base / "package.tar").string();
  auto s = export_package(*archive, recs, tar, "officer:jane");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s.value().dir, tar);
  EXPECT_EQ(fs::status(tar).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  for (const auto& entry : fs::directory_iterator(base)) {
    EXPECT_EQ(entry.path().string().find(".partial"), std::string::npos) << "staging left behind";
  }
  auto v = verify_package(tar, pk);
  ASSERT_TRUE(v) << v.error().message;
  ASSERT_EQ(v.value().size(), 2u);
  EXPECT_EQ(v.value()[0].verdict, "valid");
  EXPECT_EQ(v.value()[1].verdict, "valid");
  EXPECT_FALSE(export_package(*archive, recs, tar, "officer:jane")) << "never overwrites";

  // Unpack, change one decrypted media file, pack again: that recording is tampered.
  const std::string dir = (base / "unpacked").string();
  fs::create_directories(dir);
  ASSERT_TRUE(unpack_tar(tar, dir));
  const json m = json::parse(std::ifstream(dir + "/manifest.json"));
  const std::string media =
      dir + "/" + m["recordings"][1]["objects"][0]["media_file"].get<std::string>();
  std::fstream(media, std::ios::in | std::ios::out | std::ios::binary).put('\x7f');
  const std::string repacked = (base / "repacked.tar.gz").string();
  ASSERT_TRUE(pack_directory(dir, repacked));
  v = verify_package(repacked, pk);
  ASSERT_TRUE(v);
  EXPECT_EQ(v.value()[0].verdict, "valid");
  EXPECT_EQ(v.value()[1].verdict, "tampered");

  // Not a tar at all: a clear error.
  std::ofstream(base / "junk.tar") << "this is not a tar file";
  auto junk = verify_package((base / "junk.tar").string(), pk);
  ASSERT_FALSE(junk);
  EXPECT_NE(junk.error().message.find("junk.tar"), std::string::npos) << junk.error().message;
}

// Found by package_fuzz: a manifest naming a directory, a path outside the package, or a
// field of the wrong type must give a verdict or a clear error, never a crash or a read
// outside the package.
TEST_F(ExportTest, HostileManifestFieldsAreTamperingOrAClearError) {
  json m = manifest();
  m["recordings"][0]["objects"][0]["media_file"] = "recordings";
  m["recordings"][0]["objects"][1]["stored_file"] = "../../../../etc/passwd";
  m["recordings"][1]["metadata_file"] = "/etc/hostname";
  save(m);
  auto v = verdicts(pk);
  EXPECT_EQ(v.at(recs[0]), "tampered");
  EXPECT_EQ(v.at(recs[1]), "tampered");
  m["recordings"][0]["metadata_file"] = 42;
  save(m);
  auto bad = verify_package(pkg, pk);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("malformed"), std::string::npos) << bad.error().message;
}

TEST_F(ExportTest, TamperedMediaIsReportedForItsRecordingOnly) {
  const json m = manifest();
  const std::string media =
      pkg + "/" + m["recordings"][1]["objects"][0]["media_file"].get<std::string>();
  std::fstream f(media, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(10);
  f.put('Z');
  f.close();
  const auto v = verdicts(pk);
  EXPECT_EQ(v.at(recs[0]), "valid");
  EXPECT_EQ(v.at(recs[1]), "tampered");
}

TEST_F(ExportTest, EditedMetadataOrEntryIsTampered) {
  std::ofstream(pkg + "/recordings/" + recs[0] + "/metadata.json")
      << R"({"call":0,"from":"sip:mallory@contoso.com"})";
  json m = manifest();
  std::string entry = m["recordings"][1]["objects"][1]["ledger"]["entry"];
  entry.replace(entry.find("media"), 5, "medib");
  m["recordings"][1]["objects"][1]["ledger"]["entry"] = entry;
  save(m);
  const auto v = verdicts(pk);
  EXPECT_EQ(v.at(recs[0]), "tampered");
  EXPECT_EQ(v.at(recs[1]), "tampered");
}

TEST_F(ExportTest, WrongKeyOrMissingProofIsUnverifiableNeverValid) {
  std::array<uint8_t, 32> other{};
  other[0] = 1;
  for (const auto& [rec, verdict] : verdicts(other)) EXPECT_EQ(verdict, "unverifiable") << rec;
  json m = manifest();
  m["recordings"][0]["objects"][0].erase("data_key");
  m["recordings"][1]["ledger"].erase("proof");
  save(m);
  const auto v = verdicts(pk);
  EXPECT_EQ(v.at(recs[0]), "unverifiable");
  EXPECT_EQ(v.at(recs[1]), "unverifiable");
}

TEST_F(ExportTest, RefusesNonEmptyTargetAndUnknownRecordings) {
  EXPECT_FALSE(export_package(*archive, recs, pkg, "x"));
  EXPECT_FALSE(
      export_package(*archive, {"00000000000000000000000000000000"}, (base / "p2").string(), "x"));
  EXPECT_FALSE(verify_package((base / "nowhere").string(), pk));
}

// A package proves it is complete: the ledger entry that ended each recording lists its objects,
// so one dropped from the package (the manifest edited to match) is found.
TEST_F(ExportTest, ExportPackageProvesThatItIsComplete) {
  json m = manifest();
  ASSERT_TRUE(m["recordings"][0].contains("ended"));
  m["recordings"][0]["objects"].erase(1);  // an insider leaves an object out
  save(m);
  auto v = verify_package(pkg, pk);
  ASSERT_TRUE(v);
  EXPECT_EQ(v.value()[0].verdict, "tampered");
  bool named = false;
  for (const auto& p : v.value()[0].problems) {
    named |= p.find("is missing from the package") != std::string::npos;
  }
  EXPECT_TRUE(named);
  EXPECT_EQ(v.value()[1].verdict, "valid");
  // Without the end entry at all, completeness is unproven: unverifiable, never valid.
  m["recordings"][1].erase("ended");
  save(m);
  EXPECT_EQ(verdicts(pk).at(recs[1]), "unverifiable");
}

// Packages hold decrypted media and data keys: owner-only directories and files.
TEST_F(ExportTest, DirectoryExportsAreOwnerOnly) {
  EXPECT_EQ(fs::status(pkg).permissions() & fs::perms::all, fs::perms::owner_all);
  for (const auto& e : fs::recursive_directory_iterator(pkg)) {
    const auto perms = e.status().permissions() & fs::perms::all;
    if (e.is_directory()) {
      EXPECT_EQ(perms, fs::perms::owner_all) << e.path();
    } else {
      EXPECT_EQ(perms, fs::perms::owner_read | fs::perms::owner_write) << e.path();
    }
  }
}

}  // namespace
}  // namespace verbatim::archive
