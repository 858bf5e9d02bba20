#include "archive/keys.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace verbatim::archive {
namespace {

namespace fs = std::filesystem;

class KeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("vb_keys_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  fs::path dir;
};

TEST_F(KeysTest, MasterKeyFileIsOwnerOnlyAndRoundTrips) {
  const std::string path = (dir / "master.key").string();
  auto created = create_master_key(path);
  ASSERT_TRUE(created);
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_FALSE(create_master_key(path));  // never overwrites
  auto loaded = load_master_key(path);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded.value().key, created.value().key);
  EXPECT_EQ(loaded.value().id, created.value().id);
  ::chmod(path.c_str(), 0644);
  auto refused = load_master_key(path);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("chmod 600"), std::string::npos);
  std::ofstream((dir / "bad.key").string()) << "not hex\n";
  ::chmod((dir / "bad.key").c_str(), 0600);
  EXPECT_FALSE(load_master_key((dir / "bad.key").string()));
  EXPECT_FALSE(load_master_key((dir / "missing.key").string()));
}

TEST_F(KeysTest, WrappedKeysAreBoundToTheirObjectAndMaster) {
  auto m1 = create_master_key((dir / "m1").string()).value();
  auto m2 = create_master_key((dir / "m2").string()).value();
  const DataKey k = random_data_key();
  const ObjectId a = random_object_id();
  const ObjectId b = random_object_id();
  const auto wrapped = wrap_data_key(m1, k, a).value();
  EXPECT_EQ(unwrap_data_key(m1, wrapped, a).value(), k);
  EXPECT_FALSE(unwrap_data_key(m1, wrapped, b));  // moved to another object
  EXPECT_FALSE(unwrap_data_key(m2, wrapped, a));  // wrong master
  auto flipped = wrapped;
  flipped[30] ^= 1;
  EXPECT_FALSE(unwrap_data_key(m1, flipped, a));
  // Rotation: unwrap under the old master, wrap under the new; the object is untouched.
  const auto rewrapped = wrap_data_key(m2, unwrap_data_key(m1, wrapped, a).value(), a).value();
  EXPECT_EQ(unwrap_data_key(m2, rewrapped, a).value(), k);
}

TEST_F(KeysTest, HexEdgeCases) {
  EXPECT_TRUE(unhex("").value().empty());
  EXPECT_FALSE(unhex("abc"));
  EXPECT_FALSE(unhex("zz"));
  EXPECT_EQ(unhex("00ff").value(), (std::vector<uint8_t>{0x00, 0xff}));
}

TEST_F(KeysTest, SigningKeys) {
  const std::string path = (dir / "signing.key").string();
  auto k = load_or_create_signing_key(path);
  ASSERT_TRUE(k);
  auto again = load_or_create_signing_key(path);
  ASSERT_TRUE(again);
  EXPECT_EQ(again.value().public_key, k.value().public_key);
  EXPECT_EQ(load_public_key(path + ".pub").value(), k.value().public_key);
  auto sig = sign(k.value(), "hello").value();
  EXPECT_TRUE(verify_signature(k.value().public_key, "hello", sig));
  EXPECT_FALSE(verify_signature(k.value().public_key, "hellp", sig));
  sig[0] ^= 1;
  EXPECT_FALSE(verify_signature(k.value().public_key, "hello", sig));
}

}  // namespace
}  // namespace verbatim::archive
