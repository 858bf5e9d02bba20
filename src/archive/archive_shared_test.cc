// One writer, many readers: the recorder's archive open while other processes read it and log
// to its ledger.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "archive/archive_test.h"

namespace verbatim::archive {
namespace {

class SharedArchiveTest : public ArchiveTest {
 protected:
  static std::vector<std::string> search_interrupted(Archive& a) {
    std::vector<std::string> out;
    SqliteStmt s(a.catalog(), "SELECT id FROM recordings WHERE status = 'interrupted'");
    while (s.step() == kSqliteRow) out.push_back(s.text(0));
    return out;
  }
};

TEST_F(SharedArchiveTest, ReadsHoldsAndLogsBesideTheWriter) {
  auto writer = open();
  auto [rec, ids] = record(*writer, 2, 3000, 1);
  auto reader = open("", true);
  ASSERT_TRUE(reader);
  // Everything the CLI and the admin API do beside the recorder.
  auto info = reader->recording(rec);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info.value().status, "complete");
  auto r = reader->read_object(ids[1], "officer");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r.value()->verify());
  ASSERT_TRUE(reader->set_hold("case-1", rec, "officer"));
  ASSERT_TRUE(reader->log_access("metadata", rec, "officer"));
  // The writer goes on recording in between, and sees the hold.
  auto [second, second_ids] = record(*writer, 1, 2000, 2);
  EXPECT_EQ(writer->recording(rec).value().active_holds, std::vector<std::string>{"case-1"});
  ASSERT_TRUE(reader->release_hold("case-1", rec, "officer"));
  ASSERT_TRUE(reader->recording(second));
  // Both sign heads; the ledger, heads and witness verify whoever wrote what.
  ASSERT_TRUE(reader->sign_head());
  ASSERT_TRUE(writer->sign_head());
  EXPECT_EQ(reader->ledger().size(), writer->ledger().size());
  const auto f = findings(*writer);
  EXPECT_TRUE(f.empty()) << f.front();
}

TEST_F(SharedArchiveTest, OnlyTheWriterCreatesAndItMustExist) {
  auto none = Archive::open(
      [&] {
        ArchiveOptions o;
        o.root = root;
        o.shared = true;
        return o;
      }(),
      clock, "test");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
  EXPECT_NE(none.error().message.find("no archive"), std::string::npos) << none.error().message;
  EXPECT_FALSE(std::filesystem::exists(root + "/archive.db"));

  auto writer = open();
  auto [rec, ids] = record(*writer, 1, 1000, 3);
  auto reader = open("", true);
  auto created = reader->create_recording({{"from", "sip:x@y"}});
  ASSERT_FALSE(created);
  EXPECT_NE(created.error().message.find("needs the archive's writer"), std::string::npos);
  EXPECT_FALSE(reader->begin_object(rec, "media"));
  EXPECT_FALSE(reader->begin_derived_object(rec, "playback"));
  // Rotating the master key waits for every shared process to be gone.
  auto rotated = writer->rotate_master_key(base / "new.key", "admin");
  ASSERT_FALSE(rotated);
  EXPECT_NE(rotated.error().message.find("stop them first"), std::string::npos)
      << rotated.error().message;
  reader.reset();
  writer.reset();
  auto again = open();
  EXPECT_TRUE(again->rotate_master_key(base / "new.key", "admin"));
}

// Another process appends access events as fast as it can while this one records: every entry
// lands once, in sequence, and the whole ledger verifies against every head either signed.
TEST_F(SharedArchiveTest, AppendsFromTwoProcessesInterleaveIntoOneVerifiableLedger) {
  auto writer = open();
  auto [first, first_ids] = record(*writer, 1, 500, 4);
  const int kChildAppends = 60;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto reader = open("", true);
    bool ok = reader != nullptr;
    for (int i = 0; ok && i < kChildAppends; ++i) {
      ok = static_cast<bool>(reader->log_access("metadata", first, "reader"));
      if (ok && i % 20 == 19) ok = static_cast<bool>(reader->sign_head());
    }
    ::_exit(ok ? 0 : 1);
  }
  std::vector<std::string> recorded;
  for (int i = 0; i < 15; ++i) recorded.push_back(record(*writer, 1, 500, 10 + i).first);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  ASSERT_TRUE(writer->sign_head());
  const auto f = findings(*writer);
  EXPECT_TRUE(f.empty()) << f.front();
  int access = 0;
  for (uint64_t i = 0; i < writer->ledger().size(); ++i) {
    const auto bytes = writer->ledger().entry_bytes(i).value();
    const auto e = nlohmann::json::parse(bytes.begin(), bytes.end());
    EXPECT_EQ(e["seq"], i);
    if (e["type"] == "access.metadata") ++access;
  }
  EXPECT_EQ(access, kChildAppends);
  for (const auto& id : recorded) EXPECT_EQ(writer->recording(id).value().status, "complete");
}

// What a crashed writer left open is recovered by the next process to open the archive when no
// writer runs, never under a running writer's feet.
TEST_F(SharedArchiveTest, RecoversOnlyWhenNoWriterRuns) {
  std::string live;
  {
    auto writer = open();
    live = writer->create_recording({{"from", "sip:alice@contoso.com"}}).value();
    auto obj = writer->begin_object(live, "media").value();
    ASSERT_TRUE(obj->writer().write(bytes(3000, 1)));
    ASSERT_TRUE(obj->writer().flush());
    auto beside = open("", true);  // the writer runs: its open object is left alone
    EXPECT_EQ(beside->recording(live).value().status, "recording");
    ASSERT_TRUE(obj->writer().write(bytes(1000, 2)));
    ASSERT_TRUE(writer->seal(*obj));
    ASSERT_TRUE(writer->complete_recording(live, "complete"));
  }
  const pid_t pid = ::fork();  // a writer that dies mid-object
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto writer = open();
    auto rec = writer->create_recording({{"from", "sip:bob@contoso.com"}});
    auto obj = writer->begin_object(rec.value(), "media");
    (void)obj.value()->writer().write(bytes(2000, 3));
    (void)obj.value()->writer().flush();
    ::kill(::getpid(), SIGKILL);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  auto after = open("", true);
  auto q = search_interrupted(*after);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(after->recording(live).value().status, "complete");
  const auto f = findings(*after);
  EXPECT_TRUE(f.empty()) << f.front();
}

}  // namespace
}  // namespace verbatim::archive
