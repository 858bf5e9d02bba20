#include "archive/archive.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "archive/archive_test.h"
#include "common/test_dir.h"

namespace verbatim::archive {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TEST_F(ArchiveTest, RecordsReadsBackAndVerifiesClean) {
  auto a = open();
  auto [rec, ids] = record(*a, 3, 5000, 1);
  auto info = a->recording(rec);
  ASSERT_TRUE(info);
  EXPECT_EQ(info.value().status, "complete");
  EXPECT_EQ(info.value().metadata["from"], "sip:alice@contoso.com");
  auto r = a->read_object(ids[1], "officer:jane");
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value()->read(0, 5000).value(), bytes(5000, 101));
  EXPECT_TRUE(findings(*a).empty());
  ASSERT_TRUE(a->sign_head());
  a.reset();
  a = open();  // reopen: ledger rebuilt, still clean
  EXPECT_TRUE(findings(*a).empty());
  EXPECT_FALSE(a->begin_object(rec, "media"));  // completed recordings take no new objects
}

// Every kind of tampering, each on a fresh copy of a 200-object archive: verify reports the
// tampered thing and nothing else.
TEST_F(ArchiveTest, MutationCampaignReportsExactlyWhatWasTampered) {
  std::vector<std::string> all_objects;
  std::vector<std::string> recordings;
  std::map<std::string, std::string> recording_of;  // object -> recording
  std::string held, disposed;
  {
    auto a = open();
    // One recording kept a day and disposed legitimately, the others kept for years; one held.
    disposed = record(*a, 2, 700, 99, std::chrono::days(1)).first;
    clock.advance(std::chrono::hours(49));
    ASSERT_TRUE(a->dispose(disposed, "retention-job"));
    for (int r = 0; r < 40; ++r) {
      auto [rec, ids] =
          record(*a, 5, 1500 + static_cast<size_t>(r) * 37, static_cast<uint64_t>(r + 1));
      recordings.push_back(rec);
      all_objects.insert(all_objects.end(), ids.begin(), ids.end());
      for (const auto& id : ids) recording_of[id] = rec;
    }
    held = recordings[7];
    ASSERT_TRUE(a->set_hold("CASE-7", held, "legal:kim"));
    ASSERT_TRUE(a->sign_head());
    ASSERT_TRUE(findings(*a).empty());
  }
  ASSERT_EQ(all_objects.size(), 200u);
  std::mt19937 rng(2027);
  auto pick = [&] { return all_objects[rng() % all_objects.size()]; };
  int campaign = 0;
  // Runs `tamper` on a copy: every name in `expect` must be reported, and every finding must
  // mention one of `expect` or `consequences` (what the tampering necessarily also breaks).
  auto run = [&](const std::string& name, const std::function<void(const std::string&)>& tamper,
                 const std::vector<std::string>& expect,
                 const std::vector<std::string>& consequences = {}) {
    SCOPED_TRACE(name);
    const std::string copy = (base / ("copy" + std::to_string(campaign++))).string();
    fs::copy(root, copy, fs::copy_options::recursive);
    tamper(copy);
    ArchiveOptions o;
    o.root = copy;
    auto a = Archive::open(o, clock, "auditor");
    ASSERT_TRUE(a) << a.error().message;
    const auto f = findings(*a.value());
    ASSERT_FALSE(f.empty()) << "tampering went unnoticed";
    for (const auto& line : f) {
      bool matched = false;
      for (const auto& e : expect) matched |= line.find(e) != std::string::npos;
      for (const auto& e : consequences) matched |= line.find(e) != std::string::npos;
      EXPECT_TRUE(matched) << "unexpected finding: " << line;
    }
    for (const auto& e : expect) {
      bool seen = false;
      for (const auto& line : f) seen |= line.find(e) != std::string::npos;
      EXPECT_TRUE(seen) << "not reported: " << e;
    }
  };
  auto obj_path = [](const std::string& at, const std::string& id) {
    return at + "/objects/" + id.substr(0, 2) + "/" + id + ".vbo";
  };
  auto sql = [](const std::string& at, const std::string& statement) {
    auto db = SqliteDb::open(at + "/archive.db").value();
    ASSERT_TRUE(db->exec(statement.c_str())) << statement;
  };
  for (int round = 0; round < 3; ++round) {
    const std::string victim = pick();
    run("flip a byte",
        [&](const std::string& at) {
          std::fstream f(obj_path(at, victim), std::ios::in | std::ios::out | std::ios::binary);
          const auto size = static_cast<long>(fs::file_size(obj_path(at, victim)));
          f.seekp(static_cast<long>(rng() % static_cast<unsigned>(size)));
          char c = 0;
          f.seekg(f.tellp());
          f.read(&c, 1);
          f.seekp(-1, std::ios::cur);
          c = static_cast<char>(c ^ 0x20);
          f.write(&c, 1);
        },
        {victim});
    run("truncate",
        [&](const std::string& at) {
          fs::resize_file(obj_path(at, victim),
                          fs::file_size(obj_path(at, victim)) - 1 - rng() % 100);
        },
        {victim});
    run("delete file", [&](const std::string& at) { fs::remove(obj_path(at, victim)); }, {victim});
    const std::string other = pick();
    if (other != victim) {
      run("swap files",
          [&](const std::string& at) {
            fs::rename(obj_path(at, victim), at + "/tmp");
            fs::rename(obj_path(at, other), obj_path(at, victim));
            fs::rename(at + "/tmp", obj_path(at, other));
          },
          {victim, other});
    }
    run("extra file",
        [&](const std::string& at) {
          fs::create_directories(at + "/objects/zz");
          fs::copy_file(obj_path(at, victim), at + "/objects/zz/forged.vbo");
        },
        {"forged.vbo"});
    run("edit catalog object row",
        [&](const std::string& at) {
          sql(at, "UPDATE objects SET stored_size = stored_size + 1 WHERE id = '" + victim + "'");
        },
        {victim});
    run("delete catalog object row",
        [&](const std::string& at) { sql(at, "DELETE FROM objects WHERE id = '" + victim + "'"); },
        {victim});
    const std::string rec = recordings[rng() % recordings.size()];
    run("edit recording metadata",
        [&](const std::string& at) {
          sql(at,
              "UPDATE recordings SET metadata = '{\"from\":\"sip:mallory@contoso.com\"}' WHERE id "
              "= '" +
                  rec + "'");
        },
        {"recording " + rec});
    const uint64_t entry = 1 + rng() % 300;
    std::vector<std::string> touched = {"tree head", "witnessed head"};
    {
      auto db = SqliteDb::open(root + "/archive.db").value();
      SqliteStmt q(*db, "SELECT entry FROM ledger_entries WHERE seq = ?1");
      q.bind(1, static_cast<int64_t>(entry));
      ASSERT_EQ(q.step(), kSqliteRow);
      const auto blob = q.blob(0);
      const auto e = json::parse(blob.begin(), blob.end());
      for (const char* k : {"object", "recording"}) {
        if (e.contains(k)) touched.push_back(e[k].get<std::string>());
      }
    }
    // Disposal behind the archive's back: the catalog says disposed, the keys and files are
    // gone, but no recording.disposed entry of the ledger says so.
    const std::string gone = recording_of[victim];
    run("mark disposed and delete the files",
        [&](const std::string& at) {
          for (const auto& [o, r] : recording_of) {
            if (r == gone) fs::remove(obj_path(at, o));
          }
          sql(at, "UPDATE objects SET status = 'disposed' WHERE recording_id = '" + gone + "'");
          sql(at, "UPDATE recordings SET status = 'disposed' WHERE id = '" + gone + "'");
          sql(at,
              "UPDATE data_keys SET wrapped = NULL WHERE object_id IN (SELECT id FROM objects "
              "WHERE recording_id = '" +
                  gone + "')");
        },
        {"recording " + gone}, {"object "});
    run("mark one object disposed",
        [&](const std::string& at) {
          sql(at, "UPDATE objects SET status = 'disposed' WHERE id = '" + victim + "'");
        },
        {victim});
    run("un-dispose a disposed recording",
        [&](const std::string& at) {
          sql(at, "UPDATE recordings SET status = 'complete' WHERE id = '" + disposed + "'");
        },
        {"recording " + disposed});
    run("shorten retention in the catalog",
        [&](const std::string& at) {
          sql(at, "UPDATE recordings SET retention_until = '2000-01-01T00:00:00Z' WHERE id = '" +
                      rec + "'");
        },
        {"recording " + rec});
    run("release a legal hold in the catalog",
        [&](const std::string& at) {
          sql(at, "UPDATE legal_holds SET released_at = '2030-01-01T00:00:00Z'");
        },
        {"legal hold CASE-7"});
    run("delete a legal hold row",
        [&](const std::string& at) { sql(at, "DELETE FROM legal_holds"); }, {"legal hold CASE-7"});
    run("hide a ledger entry from the recording index",
        [&](const std::string& at) {
          sql(at,
              "UPDATE ledger_entries SET recording_id = NULL WHERE CAST(entry AS TEXT) LIKE "
              "'%hold.set%'");
        },
        {"ledger entry"});
    run("delete the witness file", [&](const std::string& at) { fs::remove(at + "/ledger-heads"); },
        {"witness file"});
    run("truncate the witness file",
        [&](const std::string& at) {
          const std::string w = at + "/ledger-heads";
          fs::resize_file(w, fs::file_size(w) - 1 - rng() % 150);
        },
        {"witness"});
    run(
        "edit ledger entry",
        [&](const std::string& at) {
          sql(at,
              "UPDATE ledger_entries SET entry = CAST(replace(CAST(entry AS TEXT), '\"type\"', "
              "'\"typ3\"') AS BLOB) WHERE seq = " +
                  std::to_string(entry));
        },
        {"ledger entry " + std::to_string(entry)}, touched);
  }
}

TEST_F(ArchiveTest, RolledBackDatabaseIsDetected) {
  {
    auto a = open();
    record(*a, 2, 1000, 1);
    ASSERT_TRUE(a->sign_head());
  }
  fs::copy_file(root + "/archive.db", base / "snapshot.db");
  {
    auto a = open();
    record(*a, 2, 1000, 2);
    ASSERT_TRUE(a->sign_head());
  }
  for (const char* suffix : {"-wal", "-shm"}) fs::remove(root + "/archive.db" + suffix);
  fs::copy_file(base / "snapshot.db", root + "/archive.db", fs::copy_options::overwrite_existing);
  auto a = open();
  bool rollback = false;
  for (const auto& f : findings(*a)) rollback |= f.find("rolled back") != std::string::npos;
  EXPECT_TRUE(rollback);
}

// The recorder is killed (SIGKILL) at random points while streaming; after restart nothing
// sealed is lost, the interrupted object holds what was flushed, and verify passes.
TEST_F(ArchiveTest, KilledWriterRecoversToItsLastFlush) {
  std::mt19937 rng(7);
  std::vector<std::string> sealed_before;
  {
    auto a = open();
    sealed_before = record(*a, 2, 3000, 99).second;
  }
  for (int trial = 0; trial < 6; ++trial) {
    const int writes_before_kill = 1 + static_cast<int>(rng() % 40);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto a = open();
      auto rec = a->create_recording({{"trial", trial}});
      auto obj = a->begin_object(rec.value(), "media");
      for (int i = 0;; ++i) {
        if (i == writes_before_kill) ::kill(::getpid(), SIGKILL);
        (void)obj.value()->writer().write(bytes(700, static_cast<uint64_t>(i)));
        if (i % 5 == 4) (void)obj.value()->writer().flush();
      }
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status));
    auto a = open();  // recovery runs here
    const auto f = findings(*a);
    EXPECT_TRUE(f.empty()) << f.front();
    for (const auto& id : sealed_before) {
      auto r = a->read_object(id, "test");
      ASSERT_TRUE(r);
      EXPECT_TRUE(r.value()->verify());
    }
    // The interrupted recording: its object holds at least every flushed write (a SIGKILL
    // keeps the page cache, so whole chunks written after the flush may survive too), and
    // what it holds is exactly a prefix of what was written.
    auto catalog = SqliteDb::open(root + "/archive.db").value();
    SqliteStmt s(*catalog,
                 "SELECT o.id, o.plaintext_size, r.status FROM objects o JOIN recordings r "
                 "ON r.id = o.recording_id ORDER BY o.rowid DESC LIMIT 1");
    ASSERT_EQ(s.step(), kSqliteRow);
    const int64_t flushed = static_cast<int64_t>((writes_before_kill / 5) * 5) * 700;
    const int64_t kept = s.int64(1);
    EXPECT_GE(kept, flushed) << writes_before_kill;
    EXPECT_LE(kept, static_cast<int64_t>(writes_before_kill) * 700);
    EXPECT_EQ(s.text(2), "interrupted");
    auto r = a->read_object(s.text(0), "test");
    ASSERT_TRUE(r);
    std::vector<uint8_t> written;
    for (int i = 0; i < writes_before_kill; ++i) {
      const auto b = bytes(700, static_cast<uint64_t>(i));
      written.insert(written.end(), b.begin(), b.end());
    }
    const auto got = r.value()->read(0, static_cast<size_t>(kept)).value();
    ASSERT_EQ(static_cast<int64_t>(got.size()), kept);
    EXPECT_TRUE(std::equal(got.begin(), got.end(), written.begin()));
  }
}

// Objects made from a recording after it ended (playback files): refused while it records,
// taken once it is complete; a crash while writing one leaves the recording complete.
TEST_F(ArchiveTest, DerivedObjectsComeAfterTheRecordingAndNeverChangeItsStatus) {
  std::string rec;
  {
    auto a = open();
    auto created = a->create_recording({{"from", "sip:alice@contoso.com"}});
    ASSERT_TRUE(created);
    rec = created.value();
    auto early = a->begin_derived_object(rec, "playback");
    ASSERT_FALSE(early);
    EXPECT_NE(early.error().message.find("once it ended"), std::string::npos);
    ASSERT_TRUE(a->complete_recording(rec, "complete"));
    auto obj = a->begin_derived_object(rec, "playback");
    ASSERT_TRUE(obj) << obj.error().message;
    ASSERT_TRUE(obj.value()->writer().write(bytes(900, 5)));
    ASSERT_TRUE(a->seal(*obj.value()));
  }
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto a = open();
    auto obj = a->begin_derived_object(rec, "playback");
    (void)obj.value()->writer().write(bytes(700, 1));
    (void)obj.value()->writer().flush();
    ::kill(::getpid(), SIGKILL);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  auto a = open();  // recovers the half-written file
  EXPECT_EQ(a->recording(rec).value().status, "complete");
  EXPECT_EQ(a->objects_of(rec).value().size(), 2u);
  const auto f = findings(*a);
  EXPECT_TRUE(f.empty()) << f.front();
}

// Signed heads at an interval: a change is covered by a signed head at most sign_interval
// later (at the next change or tick), and everything is signed when the writer closes.
TEST_F(ArchiveTest, SignsHeadsAtTheIntervalAndOnClose) {
  ArchiveOptions o;
  o.root = root;
  o.sign_interval = std::chrono::seconds(60);
  auto a = Archive::open(o, clock, "test").value();
  auto head_size = [&] { return a->ledger().latest_head().value().value().size; };
  const uint64_t initial = head_size();
  (void)a->create_recording({{"n", 1}}).value();
  EXPECT_EQ(head_size(), initial) << "within the interval: not yet";
  clock.advance(std::chrono::seconds(30));
  ASSERT_TRUE(a->tick());
  EXPECT_EQ(head_size(), initial);
  clock.advance(std::chrono::seconds(31));
  ASSERT_TRUE(a->tick());
  EXPECT_EQ(head_size(), a->ledger().size()) << "a quiet period is signed by tick()";
  (void)a->create_recording({{"n", 2}}).value();
  clock.advance(std::chrono::seconds(61));
  (void)a->create_recording({{"n", 3}}).value();
  EXPECT_EQ(head_size(), a->ledger().size()) << "the next change after the interval signs";
  (void)a->create_recording({{"n", 4}}).value();
  const uint64_t size = a->ledger().size();
  EXPECT_LT(head_size(), size);
  a.reset();
  auto again = Archive::open(o, clock, "test").value();
  EXPECT_EQ(again->ledger().latest_head().value().value().size, size) << "signed on close";
  EXPECT_TRUE(findings(*again).empty());
}

// Audit-trail re-creation (T29, SEC 17a-4(f)(2)(ii)(A)): metadata edited three times; the
// original and every interim version come back byte-exact with who, when and why; tampering
// with any version is reported as exactly that version.
TEST_F(ArchiveTest, MetadataEditsKeepEveryVersionByteExact) {
  auto a = open();
  const auto rec = record(*a, 1, 300, 9);
  const std::string original = a->recording(rec.first).value().metadata_text;
  std::vector<std::string> texts{original};
  for (int i = 1; i <= 3; ++i) {
    clock.advance(std::chrono::minutes(5));
    json m = json::parse(texts.back());
    m["note"] = "edit " + std::to_string(i);
    auto v = a->update_metadata(rec.first, m, "officer:" + std::to_string(i), "case 7 review");
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(v.value(), i + 1);
    texts.push_back(m.dump());
  }
  auto h = a->metadata_history(rec.first).value();
  ASSERT_EQ(h.size(), 4u);
  for (size_t i = 0; i < h.size(); ++i) {
    EXPECT_EQ(h[i].version, static_cast<int>(i + 1));
    EXPECT_EQ(h[i].text, texts[i]);
    if (i > 0) {
      EXPECT_EQ(h[i].changed_by, "officer:" + std::to_string(i));
      EXPECT_EQ(h[i].reason, "case 7 review");
      EXPECT_GT(h[i].changed_at, h[i - 1].changed_at);
      const auto e = json::parse(a->ledger().entry_bytes(h[i].ledger_seq).value());
      EXPECT_EQ(e["type"], "metadata.updated");
      EXPECT_EQ(e["by"], "officer:" + std::to_string(i));
    }
  }
  EXPECT_EQ(a->recording(rec.first).value().metadata_text, texts.back());
  EXPECT_EQ(a->recording(rec.first).value().metadata_version, 4);
  EXPECT_TRUE(findings(*a).empty());
  // Bad edits are refused with the reason.
  EXPECT_EQ(a->update_metadata(rec.first, json::array(), "x", "why").error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_NE(a->update_metadata(rec.first, json::object(), "x", "").error().message.find("why"),
            std::string::npos);
  EXPECT_EQ(a->update_metadata("00", json::object(), "x", "y").error().code, ErrorCode::kNotFound);
  a.reset();
  {  // Tamper with version 2 behind the archive's back, and delete version 3.
    auto db = SqliteDb::open(root + "/archive.db").value();
    ASSERT_TRUE(
        db->exec("UPDATE metadata_versions SET metadata = '{\"note\":\"forged\"}' "
                 "WHERE version = 2"));
    ASSERT_TRUE(db->exec("DELETE FROM metadata_versions WHERE version = 3"));
  }
  a = open();
  const auto f = findings(*a, false);
  ASSERT_EQ(f.size(), 2u) << f.front();
  EXPECT_EQ(f[0], "recording " + rec.first +
                      " metadata version 2: differs from what was recorded (edited row)");
  EXPECT_EQ(f[1],
            "recording " + rec.first +
                " metadata version 3: in the ledger but missing from the catalog (deleted row)");
}

// Recording identity across restarts and nodes (T30): every recording id unique over three
// archives (nodes) with restarts and a writer killed mid-creation; serials per node run
// 1..N without gaps (an aborted creation takes its serial back with it).
TEST_F(ArchiveTest, RecordingIdsAreUniqueAndSerialsGaplessAcrossRestartsAndNodes) {
  std::set<std::string> ids, nodes;
  size_t total = 0;
  for (int node = 0; node < 3; ++node) {
    const std::string at = root + "-node" + std::to_string(node);
    for (int restart = 0; restart < 3; ++restart) {
      auto a = open(at);
      for (int i = 0; i < 150; ++i) ASSERT_TRUE(a->create_recording({{"i", i}}));
    }
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto a = open(at);
      for (int i = 0;; ++i) {
        if (i == 40) ::kill(::getpid(), SIGKILL);
        (void)a->create_recording({{"killed", i}});
      }
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    auto a = open(at);
    nodes.insert(a->node_id());
    EXPECT_TRUE(findings(*a, false).empty());
    auto db = SqliteDb::open(at + "/archive.db").value();
    SqliteStmt s(*db, "SELECT id, serial FROM recordings ORDER BY serial");
    int64_t expect = 1;
    while (s.step() == kSqliteRow) {
      EXPECT_TRUE(ids.insert(s.text(0)).second) << "duplicate id " << s.text(0);
      EXPECT_EQ(s.int64(1), expect++) << "gap in the serials of node " << node;
      ++total;
    }
    EXPECT_GE(expect, 451);
  }
  EXPECT_EQ(ids.size(), total);
  EXPECT_EQ(nodes.size(), 3u);
}

// Retention by rule: CFTC 1 y for one application, MiFID 5 y by group, SEC 6 y for another
// group; the longest applicable rule wins; disposal exactly at the end (not a day before).
TEST_F(ArchiveTest, RetentionRulesByApplicationAndGroupLongestWins) {
  ArchiveOptions o;
  o.root = root;
  o.retention.default_period = Period{7, 0, 0};
  o.retention.rules = {{"application", "11111111-1111-1111-1111-111111111111", Period{1, 0, 0}},
                       {"group", "MiFID-Desk", Period{5, 0, 0}},
                       {"group", "sec-brokers", Period{6, 0, 0}}};
  auto a = Archive::open(o, clock, "test").value();
  const TimePoint t0 = clock.now();
  auto make = [&](const json& meta) {
    auto id = a->create_recording(meta).value();
    EXPECT_TRUE(a->complete_recording(id, "complete"));
    return id;
  };
  const auto cftc = make({{"application_id", "11111111-1111-1111-1111-111111111111"}});
  const auto mifid = make({{"groups", {"mifid-desk"}}});
  const auto both = make({{"groups", {"MiFID-Desk", "SEC-Brokers"}},
                          {"application_id", "11111111-1111-1111-1111-111111111111"}});
  const auto plain = make({{"groups", {"Sales"}}});
  EXPECT_EQ(a->recording(cftc).value().retention_until, format_iso8601(Period{1, 0, 0}.after(t0)));
  EXPECT_EQ(a->recording(mifid).value().retention_until, format_iso8601(Period{5, 0, 0}.after(t0)));
  EXPECT_EQ(a->recording(both).value().retention_until, format_iso8601(Period{6, 0, 0}.after(t0)));
  EXPECT_EQ(a->recording(plain).value().retention_until, format_iso8601(Period{7, 0, 0}.after(t0)));
  // The rule is in the ledger with the date.
  const auto created =
      json::parse(a->ledger().entry_bytes(a->recording(both).value().ledger_seq).value());
  EXPECT_EQ(created["retention_rule"], "group=sec-brokers");
  // A day before the end: refused. At the end: disposed.
  clock.advance(std::chrono::duration_cast<std::chrono::milliseconds>(Period{1, 0, 0}.after(t0) -
                                                                      t0 - std::chrono::hours(24)));
  EXPECT_TRUE(a->dispose_expired("retention-job").value().empty());
  EXPECT_FALSE(a->dispose(cftc, "admin"));
  clock.advance(std::chrono::hours(24));
  EXPECT_EQ(a->dispose_expired("retention-job").value(), std::vector<std::string>{cftc});
}

// Retention time travel (T26): 1 y, 5 y and 6 y recordings, one on legal hold, one extended.
TEST_F(ArchiveTest, RetentionHoldsAndWriteOnce) {
  auto a = open();
  const auto one = record(*a, 1, 500, 1, std::chrono::days(365));
  const auto five = record(*a, 1, 500, 2, std::chrono::days(5 * 365));
  const auto six = record(*a, 1, 500, 3, std::chrono::days(6 * 365));
  const auto held = record(*a, 1, 500, 4, std::chrono::days(365));
  const auto extended = record(*a, 1, 500, 5, std::chrono::days(365));
  ASSERT_TRUE(a->set_hold("CASE-42", held.first, "legal:kim"));
  ASSERT_TRUE(a->extend_retention(extended.first, "2031-06-01T00:00:00Z", "regulator-request"));
  EXPECT_FALSE(a->extend_retention(extended.first, "2029-01-01T00:00:00Z", "mallory"));  // shorten
  // Before expiry: refused, whoever asks; and no deletion of sealed objects ever.
  auto refused = a->dispose(one.first, "admin:root");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("retained until"), std::string::npos);
  auto no_delete = a->delete_object(one.second[0], "admin:root");
  ASSERT_FALSE(no_delete);
  EXPECT_NE(no_delete.error().message.find("write-once"), std::string::npos);
  EXPECT_TRUE(fs::exists(path_of(one.second[0])));
  // One year and a day later: only the unheld 1-year recording goes.
  clock.advance(std::chrono::hours(24 * 366));
  auto gone = a->dispose_expired("retention-job");
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone.value(), std::vector<std::string>{one.first});
  EXPECT_FALSE(fs::exists(path_of(one.second[0])));
  EXPECT_FALSE(a->read_object(one.second[0], "officer"));  // key destroyed
  EXPECT_FALSE(a->dispose(held.first, "admin"));           // on hold
  ASSERT_TRUE(a->release_hold("CASE-42", held.first, "legal:kim"));
  EXPECT_TRUE(a->dispose(held.first, "admin"));
  EXPECT_FALSE(a->dispose(extended.first, "admin"));  // extended to 2031
  EXPECT_TRUE(a->read_object(five.second[0], "officer"));
  clock.advance(std::chrono::hours(24 * 365 * 5));  // 6 years and a day after creation
  gone = a->dispose_expired("retention-job");
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone.value().size(), 3u);  // five, six and extended
  EXPECT_TRUE(findings(*a).empty());
  // Every refusal and disposal is in the ledger.
  int refusals = 0, disposals = 0;
  for (uint64_t i = 0; i < a->ledger().size(); ++i) {
    const auto e = json::parse(a->ledger().entry_bytes(i).value());
    const std::string type = e["type"];
    refusals += type.find(".refused") != std::string::npos;
    disposals += type == "recording.disposed";
  }
  EXPECT_GE(refusals, 4);
  EXPECT_EQ(disposals, 5);
}

// Disk nearly full: new objects are refused with a clear error; an object already being
// written goes on and seals; everything verifies.
TEST_F(ArchiveTest, LowDiskRefusesNewObjectsButFinishesRunningOnes) {
  auto a = open();
  auto rec = a->create_recording({{"call", 1}}).value();
  auto running = a->begin_object(rec, "media");
  ASSERT_TRUE(running);
  ASSERT_TRUE(running.value()->writer().write(bytes(5000, 1)));
  a->set_min_free_bytes(UINT64_MAX);  // below threshold from now on
  auto refused = a->begin_object(rec, "media");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(refused.error().message.find("below the"), std::string::npos);
  ASSERT_TRUE(running.value()->writer().write(bytes(5000, 2)));
  auto sealed = a->seal(*running.value());
  ASSERT_TRUE(sealed);
  EXPECT_EQ(sealed.value().plaintext_size, 10000u);
  EXPECT_TRUE(findings(*a).empty());
}

TEST_F(ArchiveTest, OneWriterAtATimeReadersAlways) {
  auto writer = open();
  ArchiveOptions o;
  o.root = root;
  auto second = Archive::open(o, clock);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("open for writing by another process"), std::string::npos);
  record(*writer, 1, 100, 1);
  o.read_only = true;
  auto reader = Archive::open(o, clock);
  ASSERT_TRUE(reader) << reader.error().message;
  EXPECT_TRUE(findings(*reader.value()).empty());
  EXPECT_FALSE(reader.value()->sign_head());  // read-only: no secret key
}

TEST_F(ArchiveTest, MasterKeyRotationRewrapsWithoutTouchingObjects) {
  auto a = open();
  auto [rec, ids] = record(*a, 3, 2000, 1);
  const auto before = file_sha256(path_of(ids[0])).value();
  auto n = a->rotate_master_key((base / "master-2026.key").string(), "admin");
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n.value(), 3u);
  EXPECT_EQ(file_sha256(path_of(ids[0])).value(), before);
  EXPECT_TRUE(a->read_object(ids[2], "officer"));
  a.reset();
  // The old key file no longer opens the archive, with a clear message.
  ArchiveOptions o;
  o.root = root;
  auto old = Archive::open(o, clock);
  ASSERT_FALSE(old);
  EXPECT_NE(old.error().message.find("wrapped under master key"), std::string::npos);
  o.master_key_file = (base / "master-2026.key").string();
  auto fresh = Archive::open(o, clock);
  ASSERT_TRUE(fresh);
  EXPECT_TRUE(findings(*fresh.value()).empty());
}

// The catalog is not evidence: an edited retention date, a released hold or a "disposed" status
// in a catalog row changes nothing about what may be disposed; only the ledger decides, and only
// while it verifies.
TEST_F(ArchiveTest, T25bDisposeTrustsOnlyWhatTheLedgerProves) {
  auto a = open();
  const auto kept = record(*a, 1, 500, 1, std::chrono::days(10));
  const auto held = record(*a, 1, 500, 2, std::chrono::days(1));
  ASSERT_TRUE(a->set_hold("CASE-9", held.first, "legal:kim"));
  ASSERT_TRUE(a->sign_head());
  auto sql = [&](const std::string& statement) {
    auto db = SqliteDb::open(root + "/archive.db").value();
    ASSERT_TRUE(db->exec(statement.c_str())) << statement;
  };
  // An insider edits the catalog: both recordings look expired and free of holds.
  sql("UPDATE recordings SET retention_until = '2000-01-01T00:00:00Z'");
  sql("UPDATE legal_holds SET released_at = '2000-01-02T00:00:00Z'");
  clock.advance(std::chrono::hours(24 * 2));  // the held one's real retention has passed
  auto refused = a->dispose(kept.first, "mallory");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("retained until"), std::string::npos);
  refused = a->dispose(held.first, "mallory");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("legal hold (case CASE-9)"), std::string::npos);
  auto swept = a->dispose_expired("retention-job");
  ASSERT_TRUE(swept);
  EXPECT_TRUE(swept.value().empty());
  EXPECT_TRUE(fs::exists(path_of(kept.second[0])));
  EXPECT_TRUE(fs::exists(path_of(held.second[0])));
  // A catalog row that claims the recording was disposed does not make dispose() skip it either.
  sql("UPDATE recordings SET status = 'disposed' WHERE id = '" + kept.first + "'");
  EXPECT_FALSE(a->dispose(kept.first, "mallory"));
  // Hiding the hold from the ledger's recording index: the ledger no longer verifies, and
  // nothing is disposed until it does.
  sql("UPDATE ledger_entries SET recording_id = NULL WHERE CAST(entry AS TEXT) LIKE '%hold.set%'");
  refused = a->dispose(held.first, "mallory");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("the ledger does not verify"), std::string::npos);
  EXPECT_FALSE(a->dispose_expired("retention-job"));
  EXPECT_TRUE(fs::exists(path_of(held.second[0])));
  // Every edit is a finding.
  const auto f = findings(*a);
  auto reported = [&](const std::string& text) {
    for (const auto& line : f) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(reported("recording " + kept.first + ": retention until 2000-01-01"));
  EXPECT_TRUE(reported("legal hold CASE-9: active in the ledger, released in the catalog"));
  EXPECT_TRUE(reported("recording " + kept.first + ": marked disposed in the catalog"));
  EXPECT_TRUE(reported("recording index"));
}

// A deleted signing key is never regenerated in place on an archive that has a ledger: the
// writer refuses to start, verify reports it, and only the explicit recovery makes a new key —
// recorded in the ledger, with the heads signed before still verifiable under the old key.
TEST_F(ArchiveTest, ALostSigningKeyIsAFindingAndOnlyAnExplicitRecoveryReplacesIt) {
  std::string old_public;
  {
    auto a = open();
    record(*a, 2, 800, 1);
    ASSERT_TRUE(a->sign_head());
    old_public = hex(a->ledger().public_key());
  }
  fs::remove(root + "/signing.key");
  ArchiveOptions o;
  o.root = root;
  auto refused = Archive::open(o, clock, "test");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("replace-signing-key"), std::string::npos);
  EXPECT_FALSE(fs::exists(root + "/signing.key"));  // nothing created silently
  {
    ArchiveOptions ro = o;
    ro.read_only = true;
    auto a = Archive::open(ro, clock, "auditor");
    ASSERT_TRUE(a) << a.error().message;
    bool reported = false;
    for (const auto& line : findings(*a.value(), false)) {
      reported |= line.find("signing key") != std::string::npos &&
                  line.find("is missing") != std::string::npos;
    }
    EXPECT_TRUE(reported);
  }
  o.replace_lost_signing_key = true;
  EXPECT_FALSE(Archive::open(o, clock, "admin:ops"));  // a reason is required
  o.replacement_reason = "key file lost with the old disk (ticket 4711)";
  {
    auto a = Archive::open(o, clock, "admin:ops");
    ASSERT_TRUE(a) << a.error().message;
    EXPECT_NE(hex(a.value()->ledger().public_key()), old_public);
    const auto last =
        json::parse(a.value()->ledger().entry_bytes(a.value()->ledger().size() - 1).value());
    EXPECT_EQ(last["type"], "key.signing_replaced");
    EXPECT_EQ(last["from"], old_public);
    EXPECT_EQ(last["by"], "admin:ops");
    EXPECT_TRUE(findings(*a.value()).empty());  // old heads verify under the old key
    record(*a.value(), 1, 300, 2);
  }
  EXPECT_FALSE(Archive::open(o, clock, "admin:ops"));  // the key is there: nothing to replace
  auto a = open();
  EXPECT_TRUE(findings(*a).empty());
}

// `archive import --retention-days` (an explicit period) can lengthen what the rules keep, never
// shorten it.
TEST_F(ArchiveTest, ArchiveImportRetentionDaysCanShortenRetention) {
  ArchiveOptions o;
  o.root = root;
  o.retention.default_period = Period{7, 0, 0};
  auto a = Archive::open(o, clock, "test").value();
  auto shorter = a->create_recording({{"from", "x"}}, std::chrono::days(30));
  ASSERT_FALSE(shorter);
  EXPECT_NE(shorter.error().message.find("never shortened"), std::string::npos);
  auto longer = a->create_recording({{"from", "x"}}, std::chrono::days(365 * 10));
  ASSERT_TRUE(longer);
  EXPECT_EQ(a->recording(longer.value()).value().retention_until.substr(0, 4), "2037");
}

}  // namespace
}  // namespace verbatim::archive
