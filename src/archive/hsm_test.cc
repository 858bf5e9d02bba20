// The archive's keys in an HSM: SoftHSM2, a real PKCS#11 module, with a token in a directory of
// this test binary's own (one token per process: SoftHSM reads its configuration once; each
// test uses keys of its own labels). Skipped, with the reason, where SoftHSM2 is not installed.
#include "archive/hsm.h"

#include <sqlite3.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "archive/archive_test.h"
#include "archive/keys.h"

namespace verbatim::archive {
namespace {

namespace fs = std::filesystem;

constexpr char kToken[] = "verbatim-test";
constexpr char kPin[] = "4321";

std::string softhsm_module() {
  for (const char* p :
       {"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"}) {
    if (fs::exists(p)) return p;
  }
  return "";
}

// The process's token, made once before the module is first loaded.
const std::string& token_dir() {
  static const std::string dir = [] {
    const fs::path d = fs::temp_directory_path() / ("vb_softhsm_" + std::to_string(::getpid()));
    fs::remove_all(d);
    fs::create_directories(d / "tokens");
    std::ofstream(d / "softhsm2.conf") << "directories.tokendir = " << (d / "tokens").string()
                                       << "\nobjectstore.backend = file\nlog.level = ERROR\n";
    ::setenv("SOFTHSM2_CONF", (d / "softhsm2.conf").c_str(), 1);
    const std::string cmd = std::string("softhsm2-util --init-token --free --label ") + kToken +
                            " --pin " + kPin + " --so-pin 87654321 >/dev/null";
    if (std::system(cmd.c_str()) != 0) return std::string();
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(fs::temp_directory_path() / ("vb_softhsm_" + std::to_string(::getpid())), ec);
    });
    return d.string();
  }();
  return dir;
}

HsmOptions hsm_options(const std::string& name) {
  HsmOptions o;
  o.module = softhsm_module();
  o.token = kToken;
  o.pin = kPin;
  o.master_key_label = name + "-master";
  o.signing_key_label = name + "-signing";
  return o;
}

#define REQUIRE_SOFTHSM()                                                                \
  if (softhsm_module().empty() || token_dir().empty())                                   \
  GTEST_SKIP() << "SoftHSM2 is not installed (scripts/bootstrap.sh installs softhsm2): " \
                  "the HSM tests need a real PKCS#11 module"

TEST(HsmTest, KeysStayInTheTokenAndDoWhatTheArchiveNeeds) {
  REQUIRE_SOFTHSM();
  auto hsm = Hsm::open(hsm_options("basic"));
  ASSERT_TRUE(hsm) << hsm.error().message;
  Hsm& h = *hsm.value();
  EXPECT_FALSE(h.find_secret_key("basic-master").value());
  auto id = h.create_secret_key("basic-master");
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(id.value().size(), 16U);
  EXPECT_EQ(h.find_secret_key("basic-master").value(), id.value());

  const std::vector<uint8_t> secret(32, 7), aad = {1, 2, 3}, other = {1, 2, 4};
  auto sealed = h.encrypt("basic-master", secret, aad);
  ASSERT_TRUE(sealed) << sealed.error().message;
  EXPECT_EQ(sealed.value().size(), 12U + 32U + 16U);
  EXPECT_EQ(h.decrypt("basic-master", sealed.value(), aad).value(), secret);
  EXPECT_FALSE(h.decrypt("basic-master", sealed.value(), other));  // bound to its object
  auto flipped = sealed.value();
  flipped[20] ^= 1;
  EXPECT_FALSE(h.decrypt("basic-master", flipped, aad));
  EXPECT_NE(h.encrypt("basic-master", secret, aad).value(), sealed.value());  // fresh IV

  auto pk = h.create_signing_key("basic-signing");
  ASSERT_TRUE(pk) << pk.error().message;
  const std::string msg = "4 0ff3 1796688582916";
  auto sig =
      h.sign("basic-signing", std::span(reinterpret_cast<const uint8_t*>(msg.data()), msg.size()));
  ASSERT_TRUE(sig) << sig.error().message;
  EXPECT_TRUE(verify_signature(pk.value(), msg, sig.value()));  // plain Ed25519 (libsodium)
  EXPECT_FALSE(verify_signature(pk.value(), msg + "x", sig.value()));

  ASSERT_TRUE(h.destroy_secret_key("basic-master"));
  EXPECT_FALSE(h.find_secret_key("basic-master").value());
  auto gone = h.decrypt("basic-master", sealed.value(), aad);
  ASSERT_FALSE(gone);
  EXPECT_NE(gone.error().message.find("no key labelled 'basic-master'"), std::string::npos);
}

TEST(HsmTest, AnUnusableHsmIsRefusedWithTheReason) {
  REQUIRE_SOFTHSM();
  auto o = hsm_options("refused");
  o.pin = "0000";
  auto wrong = Hsm::open(o);
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("CKR_PIN_INCORRECT"), std::string::npos);
  o = hsm_options("refused");
  o.token = "elsewhere";
  auto absent = Hsm::open(o);
  ASSERT_FALSE(absent);
  EXPECT_NE(absent.error().message.find("no token labelled 'elsewhere'"), std::string::npos);
  EXPECT_NE(absent.error().message.find(kToken), std::string::npos);  // the tokens there
  o = hsm_options("refused");
  o.module = "/nonexistent/libpkcs11.so";
  auto module = Hsm::open(o);
  ASSERT_FALSE(module);
  EXPECT_NE(module.error().message.find("cannot load the PKCS#11 module"), std::string::npos);
}

class HsmArchiveTest : public ArchiveTest {
 protected:
  std::unique_ptr<Archive> open_hsm(const HsmOptions& hsm, std::string* error = nullptr) {
    ArchiveOptions o;
    o.root = root;
    o.writer.chunk_size = kMinChunkSize;
    o.retention.default_period = Period{0, 0, 1};
    o.hsm = hsm;
    auto a = Archive::open(o, clock, "test");
    if (!a && error) *error = a.error().message;
    return a ? std::move(a).value() : nullptr;
  }
  std::set<std::string> files() const {
    std::set<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      if (e.is_regular_file()) {
        out.insert(e.path().string() + ":" + std::to_string(e.file_size()));
      }
    }
    return out;
  }
  // Every wrapped data key in the catalog (read with SQLite directly).
  std::vector<std::vector<uint8_t>> wrapped_keys() const {
    sqlite3* db = nullptr;
    std::vector<std::vector<uint8_t>> out;
    if (sqlite3_open_v2((root + "/archive.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
        SQLITE_OK) {
      sqlite3_stmt* s = nullptr;
      sqlite3_prepare_v2(db, "SELECT wrapped FROM data_keys WHERE wrapped IS NOT NULL", -1, &s,
                         nullptr);
      while (s && sqlite3_step(s) == SQLITE_ROW) {
        const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(s, 0));
        out.emplace_back(p, p + sqlite3_column_bytes(s, 0));
      }
      sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return out;
  }
};

TEST_F(HsmArchiveTest, AnArchiveWithItsKeysInTheHsmHasNoKeyOnDisk) {
  REQUIRE_SOFTHSM();
  const auto hsm = hsm_options("archive");
  auto a = open_hsm(hsm);
  ASSERT_TRUE(a);
  auto [rec, ids] = record(*a, 3, 5000, 1);
  EXPECT_EQ(a->read_object(ids[2], "officer:jane").value()->read(0, 5000).value(),
            bytes(5000, 102));
  ASSERT_TRUE(a->sign_head());
  EXPECT_TRUE(findings(*a).empty());
  a.reset();
  // No master or signing key file: only the public key, for auditors, which verifies the heads.
  EXPECT_FALSE(fs::exists(root + "/master.key"));
  EXPECT_FALSE(fs::exists(root + "/signing.key"));
  ASSERT_TRUE(fs::exists(root + "/signing.key.pub"));
  for (const auto& w : wrapped_keys()) {
    EXPECT_EQ(w.size(), 61U);
    EXPECT_EQ(w[0], 2);  // AES-GCM by the HSM
  }
  EXPECT_EQ(wrapped_keys().size(), 3U);

  a = open_hsm(hsm);  // reopened: the same keys from the token
  ASSERT_TRUE(a);
  EXPECT_EQ(a->read_object(ids[0], "officer:jane").value()->read(0, 5000).value(),
            bytes(5000, 100));
  EXPECT_TRUE(findings(*a).empty());
  auto head = a->sign_head();
  ASSERT_TRUE(head);
  auto pub = load_public_key(root + "/signing.key.pub");
  EXPECT_TRUE(verify_signature(pub.value(), head.value().signed_text(), head.value().signature));

  // Crypto-shredding as with key files: after disposal nothing decrypts the objects.
  clock.advance(std::chrono::hours(24 * 3));
  ASSERT_TRUE(a->dispose(rec, "officer:jane"));
  EXPECT_FALSE(a->read_object(ids[0], "officer:jane"));
  EXPECT_TRUE(findings(*a).empty());
}

TEST_F(HsmArchiveTest, T38AnUnavailableHsmAtRestartStopsTheArchiveAndWritesNothing) {
  REQUIRE_SOFTHSM();
  const auto hsm = hsm_options("t38");
  {
    auto a = open_hsm(hsm);
    ASSERT_TRUE(a);
    record(*a, 2, 3000, 5);
  }
  const auto before = files();
  std::string error;
  // The PIN is wrong (or was changed), the token is gone, the module is not installed: the
  // archive does not open, so the recorder does not start and the gateway applies the policy
  // (the call is refused or goes on unrecorded, as its Required* flags say); never an object
  // the archive could not encrypt.
  auto wrong_pin = hsm;
  wrong_pin.pin = "0000";
  EXPECT_FALSE(open_hsm(wrong_pin, &error));
  EXPECT_NE(error.find("CKR_PIN_INCORRECT"), std::string::npos) << error;
  EXPECT_NE(error.find("nothing is recorded until it can"), std::string::npos) << error;
  auto no_token = hsm;
  no_token.token = "pulled-out";
  EXPECT_FALSE(open_hsm(no_token, &error));
  EXPECT_NE(error.find("no token labelled 'pulled-out'"), std::string::npos) << error;
  auto no_module = hsm;
  no_module.module = "/opt/hsm/lib/libgone.so";
  EXPECT_FALSE(open_hsm(no_module, &error));
  EXPECT_NE(error.find("libgone.so"), std::string::npos) << error;
  // A token that answers but lacks the archive's master key (another partition, a token
  // restored without it): refused, and no new key is made in its place.
  auto other_key = hsm;
  other_key.master_key_label = "t38-elsewhere";
  EXPECT_FALSE(open_hsm(other_key, &error));
  EXPECT_NE(error.find("no master key labelled 't38-elsewhere'"), std::string::npos) << error;
  EXPECT_FALSE(Hsm::open(hsm).value()->find_secret_key("t38-elsewhere").value());
  EXPECT_EQ(files(), before);  // nothing written, not even a lock file's content
  // Back: the same archive opens and verifies.
  auto a = open_hsm(hsm);
  ASSERT_TRUE(a);
  EXPECT_TRUE(findings(*a).empty());
}

TEST_F(HsmArchiveTest, AnHsmLostWhileRecordingRefusesNewObjectsAndKeepsWhatIsRecorded) {
  REQUIRE_SOFTHSM();
  const auto hsm = hsm_options("lost");
  auto a = open_hsm(hsm);
  ASSERT_TRUE(a);
  auto [rec, ids] = record(*a, 1, 2000, 3);
  auto next = a->create_recording({{"from", "sip:bob@contoso.com"}});
  ASSERT_TRUE(next);
  auto open_object = a->begin_object(next.value(), "media");  // wrapped before the loss
  ASSERT_TRUE(open_object);
  // The token loses the master key (an operator's mistake, a partition wiped).
  ASSERT_TRUE(Hsm::open(hsm).value()->destroy_secret_key("lost-master"));
  const auto before = files();
  auto refused = a->begin_object(next.value(), "media");
  ASSERT_FALSE(refused);  // the recorder answers 503 with this reason
  EXPECT_NE(refused.error().message.find("HSM: encrypting under 'lost-master'"), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(files().size(), before.size());  // no object without its key
  // The object begun before the loss is written and sealed as usual.
  ASSERT_TRUE(open_object.value()->writer().write(bytes(1000, 4)));
  ASSERT_TRUE(a->seal(*open_object.value()));
}

TEST_F(HsmArchiveTest, AnArchiveOfKeyFilesMovesToTheHsmOnlyWhenAsked) {
  REQUIRE_SOFTHSM();
  std::vector<std::string> ids;
  {
    auto a = open();  // key files
    ASSERT_TRUE(a);
    ids = record(*a, 2, 1000, 9).second;
    ASSERT_TRUE(a->sign_head());
  }
  const auto old_public = load_public_key(root + "/signing.key.pub").value();
  std::string error;
  EXPECT_FALSE(open_hsm(hsm_options("moved"), &error));  // never silently
  EXPECT_NE(error.find("no master key labelled 'moved-master'"), std::string::npos) << error;
  EXPECT_FALSE(Hsm::open(hsm_options("moved")).value()->find_secret_key("moved-master").value());

  const fs::path saved = base / "saved";
  fs::create_directories(saved);
  fs::copy_file(root + "/master.key", saved / "master.key");
  fs::copy_file(root + "/signing.key", saved / "signing.key");
  ArchiveOptions o;
  o.root = root;
  o.hsm = hsm_options("moved");
  o.moving_to_hsm = true;
  {  // `verbatim archive move-keys-to-hsm`
    auto a = Archive::open(o, clock, "test");
    ASSERT_TRUE(a) << a.error().message;
    auto moved = a.value()->move_keys_to_hsm("admin:kim");
    ASSERT_TRUE(moved) << moved.error().message;
    EXPECT_EQ(moved.value(), 2U);
    EXPECT_EQ(a.value()->move_keys_to_hsm("admin:kim").value(), 0U);  // done: nothing left
  }
  // As if the move had stopped before deleting the key files: run again, it finishes the move
  // (the token's keys are the ones the ledger and the catalog name) and nothing is re-done.
  fs::copy_file(saved / "master.key", root + "/master.key");
  fs::copy_file(saved / "signing.key", root + "/signing.key");
  {
    auto a = Archive::open(o, clock, "test");
    ASSERT_TRUE(a) << a.error().message;
    auto moved = a.value()->move_keys_to_hsm("admin:kim");
    ASSERT_TRUE(moved) << moved.error().message;
    EXPECT_EQ(moved.value(), 0U);
    EXPECT_TRUE(findings(*a.value()).empty());
  }
  EXPECT_FALSE(fs::exists(root + "/master.key"));
  EXPECT_FALSE(fs::exists(root + "/signing.key"));
  EXPECT_NE(load_public_key(root + "/signing.key.pub").value(), old_public);
  for (const auto& w : wrapped_keys()) EXPECT_EQ(w[0], 2);
  auto a = open_hsm(hsm_options("moved"));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->read_object(ids[1], "officer:jane").value()->read(0, 1000).value(),
            bytes(1000, 901));
  // Heads before the move verify with the file's key, those after with the token's.
  EXPECT_TRUE(findings(*a).empty());
  record(*a, 1, 500, 10);
  EXPECT_TRUE(findings(*a).empty());
}

}  // namespace
}  // namespace verbatim::archive
