#include "archive/ledger.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "common/test_dir.h"

#include "archive/schema.h"

namespace verbatim::archive {
namespace {

namespace fs = std::filesystem;

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key = load_or_create_signing_key((dir / "signing.key").string()).value();
    open();
  }
  void open() {
    ledger.reset();
    db.reset();
    db = SqliteDb::open((dir / "archive.db").string()).value();
    ASSERT_TRUE(db->migrate(archive_migrations(), "archive database"));
    auto l = Ledger::open(*db, key, clock, (dir / "ledger-heads").string());
    ASSERT_TRUE(l) << l.error().message;
    ledger = std::move(l).value();
  }
  void append(int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(ledger->append({{"type", "object.sealed"}, {"object", std::to_string(i)}}));
    }
  }
  std::vector<std::string> findings() {
    auto f = ledger->verify();
    EXPECT_TRUE(f);
    std::vector<std::string> out;
    for (const auto& x : f.value()) out.push_back(x.where + ": " + x.what);
    return out;
  }
  bool any(const std::vector<std::string>& f, const std::string& needle) {
    for (const auto& s : f) {
      if (s.find(needle) != std::string::npos) return true;
    }
    return false;
  }

  TestDir tmp{"vb_ledger"};
  const fs::path& dir = tmp.path();
  SigningKey key;
  ManualClock clock{TimePoint{std::chrono::seconds(1800000000)}};
  std::unique_ptr<SqliteDb> db;
  std::unique_ptr<Ledger> ledger;
};

TEST_F(LedgerTest, ProofsVerifyAgainstSignedHeadsAndSurviveReopen) {
  append(37);
  const TreeHead h1 = ledger->sign_head().value();
  append(50);
  clock.advance(std::chrono::seconds(1));
  const TreeHead h2 = ledger->sign_head().value();
  EXPECT_TRUE(h1.verify(ledger->public_key()));
  for (uint64_t i = 0; i < h2.size; i += 7) {
    auto proof = ledger->inclusion_proof(i, h2.size);
    ASSERT_TRUE(proof);
    EXPECT_TRUE(verify_inclusion(i, h2.size, ledger->leaf(i).value(), proof.value(), h2.root));
  }
  auto cons = ledger->consistency_proof(h1.size, h2.size);
  ASSERT_TRUE(cons);
  EXPECT_TRUE(verify_consistency(h1.size, h2.size, h1.root, h2.root, cons.value()));
  const Hash root = ledger->root();
  open();
  EXPECT_EQ(ledger->size(), 87u);
  EXPECT_EQ(ledger->root(), root);
  EXPECT_TRUE(findings().empty());
  EXPECT_EQ(TreeHead::from_line(h2.to_line()).value().root, h2.root);
}

TEST_F(LedgerTest, EditedEntryIsReportedExactly) {
  append(20);
  ledger->sign_head().value();
  ASSERT_TRUE(
      db->exec("UPDATE ledger_entries SET entry = replace(entry, 'object.sealed', "
               "'object.sealex') WHERE seq = 7"));
  const auto f = findings();
  EXPECT_TRUE(any(f, "ledger entry 7: content does not match")) << f.size();
  EXPECT_FALSE(any(f, "ledger entry 6"));
}

TEST_F(LedgerTest, RewrittenHistoryIsAFork) {
  append(20);
  ledger->sign_head().value();
  // Rewrite entry 3 and its leaf consistently: only the signed heads can tell.
  nlohmann::json forged = {{"type", "object.sealed"},
                           {"object", "forged"},
                           {"seq", 3},
                           {"time", "2027-01-15T08:00:00Z"}};
  const std::string bytes = forged.dump();
  const Hash leaf =
      leaf_hash(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  SqliteStmt s(*db, "UPDATE ledger_entries SET entry = ?1, leaf = ?2 WHERE seq = 3");
  s.bind(1, bytes);
  s.bind_blob(2, leaf);
  ASSERT_EQ(s.step(), kSqliteDone);
  const auto f = findings();
  EXPECT_TRUE(any(f, "tree head 0 (size 20): root does not match"));
  EXPECT_TRUE(any(f, "witnessed head, line 1: root does not match"));
}

TEST_F(LedgerTest, DeletedEntryIsMissing) {
  append(10);
  ASSERT_TRUE(db->exec("DELETE FROM ledger_entries WHERE seq = 4"));
  EXPECT_TRUE(any(findings(), "ledger entry 4: missing"));
}

TEST_F(LedgerTest, RestoredOldSnapshotIsARollback) {
  append(10);
  ledger->sign_head().value();
  ledger.reset();
  db.reset();
  fs::copy_file(dir / "archive.db", dir / "snapshot.db");
  open();
  append(10);
  ledger->sign_head().value();
  ledger.reset();
  db.reset();
  for (const char* suffix : {"-wal", "-shm"})
    fs::remove(dir / (std::string("archive.db") + suffix));
  fs::copy_file(dir / "snapshot.db", dir / "archive.db", fs::copy_options::overwrite_existing);
  open();
  const auto f = findings();
  EXPECT_TRUE(any(f, "witnessed head, line 2: covers 20 entries but the ledger has 10"));
}

TEST_F(LedgerTest, ForgedHeadSignatureIsReported) {
  append(5);
  ASSERT_TRUE(ledger->sign_head());
  ASSERT_TRUE(db->exec("UPDATE tree_heads SET timestamp_ms = timestamp_ms + 1"));
  EXPECT_TRUE(any(findings(), "tree head 0 (size 5): signature does not verify"));
}

}  // namespace
}  // namespace verbatim::archive
