// The S3 object store against a real one: a one-node Ceph cluster with the RADOS Gateway that
// this binary starts once for all its tests (CephRgwPeer) and stops at the end. Exits
// 77 (skipped) when Ceph is not installed.
#include "archive/s3_store.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "archive/archive.h"
#include "archive/ceph_rgw_peer.h"
#include "common/clock.h"
#include "common/test_dir.h"

namespace verbatim::archive {
namespace {

S3Config g_rgw;  // NOLINT: set once by main before the tests run

S3Config config(const std::string& bucket) {
  S3Config c = g_rgw;
  c.bucket = bucket;
  c.timeout = std::chrono::seconds(20);
  return c;
}

std::string unique_bucket(const std::string& stem) {
  static int n = 0;
  return stem + "-" + std::to_string(::getpid()) + "-" + std::to_string(++n);
}

S3Client locked_bucket(const std::string& stem) {
  auto c = S3Client::make(config(unique_bucket(stem))).value();
  auto st = c.create_bucket(true);
  EXPECT_TRUE(st) << st.error().message;
  return c;
}

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& ch : s) ch = static_cast<char>(rng());
  return s;
}

std::string future(std::chrono::hours h) {
  return format_iso8601(
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now() + h));
}

Result<std::shared_ptr<S3ObjectStore>> store_on(const S3Client& bucket, const std::string& spool,
                                                uint64_t part_size = uint64_t{16} << 20) {
  S3StoreOptions o;
  o.s3 = bucket.config();
  o.prefix = "archive";
  o.spool_dir = spool;
  o.part_size = part_size;
  return open_s3_store(o);
}

Status write_object(ObjectStore& store, const std::string& key, const std::string& data,
                    const std::string& until) {
  auto sink = store.create(key, until);
  if (!sink) return sink.error();
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  const size_t half = data.size() / 2;
  VB_TRY(sink.value()->append({p, half}));
  VB_TRY(sink.value()->sync());
  VB_TRY(sink.value()->append({p + half, data.size() - half}));
  return sink.value()->commit();
}

std::string read_all(const ObjectStore& store, const std::string& key) {
  auto src = store.open(key);
  EXPECT_TRUE(src) << src.error().message;
  if (!src) return "";
  std::string out(src.value()->size(), '\0');
  // Odd-sized reads at odd offsets, as the archive's chunk reader does.
  for (size_t off = 0; off < out.size(); off += 70001) {
    const size_t n = std::min<size_t>(70001, out.size() - off);
    auto st = src.value()->read_at(off, std::span(reinterpret_cast<uint8_t*>(out.data() + off), n));
    EXPECT_TRUE(st) << st.error().message;
  }
  return out;
}

TEST(S3Store, RefusesABucketWithoutObjectLock) {
  TestDir dir("vb_s3");
  auto c = S3Client::make(config(unique_bucket("plain"))).value();
  ASSERT_TRUE(c.create_bucket(false));
  auto s = store_on(c, dir / "spool");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("does not have Object Lock"), std::string::npos)
      << s.error().message;
}

TEST(S3Store, UploadsCommittedObjectsLockedInComplianceModeAndReadsThemBack) {
  TestDir dir("vb_s3");
  S3Client bucket = locked_bucket("lock");
  auto store = store_on(bucket, dir / "spool").value();
  const std::string data = random_bytes(300'000, 1);
  const std::string until = future(std::chrono::hours(24 * 400));
  {
    auto first = store->create("3f/3f01.vbo", until);
    ASSERT_TRUE(first);
    EXPECT_FALSE(store->create("3f/3f01.vbo", until)) << "never overwrites";
    ASSERT_TRUE(first.value()->commit());
  }
  ASSERT_TRUE(write_object(*store, "3f/3f00.vbo", data, until));
  EXPECT_TRUE(store->exists("3f/3f00.vbo").value());
  EXPECT_EQ(read_all(*store, "3f/3f00.vbo"), data) << "read from the spool before the upload";
  ASSERT_TRUE(store->wait_uploaded(std::chrono::seconds(30))) << store->spool_state().last_error;
  EXPECT_EQ(store->spool_state().uploaded, 2u);
  EXPECT_FALSE(std::filesystem::exists(dir / "spool/outbox/3f/3f00.vbo"))
      << "the spool copy goes once the bucket confirmed it";

  auto head = bucket.head("archive/3f/3f00.vbo");
  ASSERT_TRUE(head && head.value()) << "the key in the bucket is the prefix and the object id";
  EXPECT_EQ(head.value()->size, data.size());
  EXPECT_EQ(head.value()->etag, md5_hex(data));
  EXPECT_EQ(head.value()->lock_mode, "COMPLIANCE");
  EXPECT_EQ(head.value()->retain_until.substr(0, 19), until.substr(0, 19));
  EXPECT_EQ(read_all(*store, "3f/3f00.vbo"), data) << "read from the bucket";
  EXPECT_EQ(store->list().value(), (std::vector<std::string>{"3f/3f00.vbo", "3f/3f01.vbo"}));
  EXPECT_EQ(read_all(*store, "3f/3f01.vbo"), "") << "an empty object";
}

TEST(S3Store, UploadsLongRecordingsInPartsWithTheirChecksums) {
  TestDir dir("vb_s3");
  S3Client bucket = locked_bucket("multi");
  auto store = store_on(bucket, dir / "spool", uint64_t{5} << 20).value();
  const std::string data = random_bytes((uint64_t{12} << 20) + 12345, 2);
  ASSERT_TRUE(write_object(*store, "aa/long.vbo", data, future(std::chrono::hours(48))));
  ASSERT_TRUE(store->wait_uploaded(std::chrono::seconds(60))) << store->spool_state().last_error;
  auto head = bucket.head("archive/aa/long.vbo").value();
  ASSERT_TRUE(head);
  EXPECT_EQ(head->size, data.size());
  EXPECT_TRUE(head->etag.ends_with("-3")) << head->etag << ": three parts of 5 MiB at most";
  EXPECT_EQ(head->lock_mode, "COMPLIANCE");
  EXPECT_EQ(read_all(*store, "aa/long.vbo"), data);
}

// T25 (c): the storage's own credentials (the bucket's owner) cannot delete, overwrite or
// shorten the retention of a locked recording; the store itself refuses.
TEST(S3Store, T25TheStoreRefusesDeletionOverwriteAndShorterRetentionBeforeTheDate) {
  TestDir dir("vb_s3");
  S3Client bucket = locked_bucket("t25");
  auto store = store_on(bucket, dir / "spool").value();
  const std::string data = random_bytes(4096, 3);
  const std::string until = future(std::chrono::hours(24 * 30));
  ASSERT_TRUE(write_object(*store, "bb/kept.vbo", data, until));
  ASSERT_TRUE(store->wait_uploaded(std::chrono::seconds(30)));
  const std::string key = "archive/bb/kept.vbo";
  const std::string version = bucket.head(key).value()->version_id;
  ASSERT_FALSE(version.empty());

  auto del = bucket.delete_version(key, version);
  ASSERT_FALSE(del) << "deleting a locked version";
  EXPECT_NE(del.error().message.find("HTTP 403"), std::string::npos) << del.error().message;
  auto bypass = bucket.send("DELETE", key, {{"versionId", version}},
                            {{"x-amz-bypass-governance-retention", "true"}}, "");
  ASSERT_TRUE(bypass);
  EXPECT_EQ(bypass.value().status, 403) << "the governance bypass does not apply to COMPLIANCE";
  EXPECT_FALSE(bucket.put_retention(key, version, future(std::chrono::hours(1))))
      << "shortening the retention";
  auto store_remove = store->remove("bb/kept.vbo");
  EXPECT_FALSE(store_remove) << "the archive's own remove is refused by the store too";

  // An "overwrite" is a new version; the locked one stays as it was. A plain delete only hides it.
  ASSERT_TRUE(bucket.put(key, "tampered", ""));
  ASSERT_TRUE(bucket.delete_current(key));
  auto versions = bucket.versions(key).value();
  bool kept = false;
  for (const auto& v : versions) kept = kept || v.version_id == version;
  EXPECT_TRUE(kept);
  auto old = bucket.send("GET", key, {{"versionId", version}}, {}, "");
  ASSERT_TRUE(old);
  EXPECT_EQ(old.value().body, data);

  // Longer is allowed.
  EXPECT_TRUE(store->extend_retention("bb/kept.vbo", future(std::chrono::hours(24 * 60))));
  EXPECT_EQ(bucket.head(key).value() ? 1 : 0, 0) << "the current version is the delete marker";
  auto r = bucket.send("GET", key, {{"versionId", version}, {"retention", ""}}, {}, "");
  ASSERT_TRUE(r);
  EXPECT_NE(r.value().body.find(future(std::chrono::hours(24 * 60)).substr(0, 10)),
            std::string::npos)
      << r.value().body;
}

// The store out of reach: recording goes on into the spool; the next start (here, a store on the
// same spool that can reach the bucket) sends it, in order and once.
TEST(S3Store, KeepsRecordingIntoTheSpoolWhileTheStoreIsOutOfReach) {
  TestDir dir("vb_s3");
  S3Client bucket = locked_bucket("outage");
  S3StoreOptions o;
  o.s3 = bucket.config();
  o.s3.endpoint = "http://127.0.0.1:9";  // nothing listens
  o.s3.attempts = 1;
  o.s3.timeout = std::chrono::milliseconds(300);
  o.require_object_lock = false;
  o.spool_dir = dir / "spool";
  o.longest_retry_wait = std::chrono::milliseconds(200);
  std::vector<std::string> data;
  {
    auto cut_off = open_s3_store(o).value();
    for (int i = 0; i < 5; ++i) {
      data.push_back(random_bytes(1000 + i, 10 + i));
      ASSERT_TRUE(write_object(*cut_off, "cc/" + std::to_string(i) + ".vbo", data.back(),
                               future(std::chrono::hours(24))));
    }
    EXPECT_FALSE(cut_off->wait_uploaded(std::chrono::milliseconds(800)));
    const auto st = cut_off->spool_state();
    EXPECT_EQ(st.waiting, 5u);
    EXPECT_NE(st.last_error.find("127.0.0.1:9"), std::string::npos) << st.last_error;
    EXPECT_EQ(read_all(*cut_off, "cc/3.vbo"), data[3]);
  }
  auto back = store_on(bucket, dir / "spool").value();
  ASSERT_TRUE(back->wait_uploaded(std::chrono::seconds(30))) << back->spool_state().last_error;
  for (int i = 0; i < 5; ++i) {
    const std::string key = "archive/cc/" + std::to_string(i) + ".vbo";
    EXPECT_EQ(bucket.versions(key).value().size(), 1u) << key << " sent once";
    EXPECT_EQ(read_all(*back, "cc/" + std::to_string(i) + ".vbo"), data[i]);
  }
}

// A crash before the commit: the object stays in the spool's open folder; recovery cuts it,
// appends, commits, and it is uploaded like any other. A committed one cannot be reopened.
TEST(S3Store, AnObjectLeftOpenByACrashIsUploadedOnceRecoveryCommitsIt) {
  TestDir dir("vb_s3");
  S3Client bucket = locked_bucket("crash");
  const std::string until = future(std::chrono::hours(24));
  {
    auto store = store_on(bucket, dir / "spool").value();
    auto sink = store->create("dd/open.vbo", until).value();
    ASSERT_TRUE(sink->append(std::span(reinterpret_cast<const uint8_t*>("0123456789"), 10)));
    ASSERT_TRUE(sink->sync());
  }  // "crash": never committed
  auto store = store_on(bucket, dir / "spool").value();
  EXPECT_TRUE(store->wait_uploaded(std::chrono::milliseconds(100))) << "nothing queued";
  EXPECT_FALSE(bucket.head("archive/dd/open.vbo").value());
  auto resumed = store->resume("dd/open.vbo", 4);
  ASSERT_TRUE(resumed) << resumed.error().message;
  ASSERT_TRUE(resumed.value()->append(std::span(reinterpret_cast<const uint8_t*>("end"), 3)));
  ASSERT_TRUE(resumed.value()->commit());
  ASSERT_TRUE(store->wait_uploaded(std::chrono::seconds(30))) << store->spool_state().last_error;
  EXPECT_EQ(read_all(*store, "dd/open.vbo"), "0123end");
  EXPECT_EQ(bucket.head("archive/dd/open.vbo").value()->lock_mode, "COMPLIANCE");
  auto again = store->resume("dd/open.vbo", 0);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
}

TEST(S3Store, AnArchiveOnS3RecordsVerifiesAndMirrorsRetentionAndHolds) {
  TestDir dir("vb_s3");
  S3Client bucket = locked_bucket("archive");
  auto store = store_on(bucket, dir / "spool").value();
  SystemClock clock;
  ArchiveOptions ao;
  ao.root = dir / "archive";
  ao.store = store;
  auto a = Archive::open(ao, clock, "test").value();
  auto rec = a->create_recording({{"call_id", "c1"}, {"user", "alice@example.com"}}).value();
  auto obj = a->begin_object(rec, "media").value();
  const std::string payload = random_bytes(200'000, 5);
  ASSERT_TRUE(obj->writer().write(
      std::span(reinterpret_cast<const uint8_t*>(payload.data()), payload.size())));
  ASSERT_TRUE(a->seal(*obj));
  ASSERT_TRUE(a->complete_recording(rec, "complete", ""));
  ASSERT_TRUE(store->wait_uploaded(std::chrono::seconds(30))) << store->spool_state().last_error;

  auto objects = bucket.list("").value();
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_EQ(objects[0].find("alice"), std::string::npos) << "no personal data in the key";
  auto findings = a->verify(true);
  ASSERT_TRUE(findings) << findings.error().message;
  for (const auto& f : findings.value()) ADD_FAILURE() << f.where << ": " << f.what;
  auto info = a->recording(rec).value();
  auto head = bucket.head(objects[0]).value();
  EXPECT_EQ(head->retain_until.substr(0, 19), info.retention_until.substr(0, 19));

  const std::string later = info.retention_until.substr(0, 4) == "2099"
                                ? "2100-01-01T00:00:00Z"
                                : std::to_string(std::stoi(info.retention_until.substr(0, 4)) + 2) +
                                      info.retention_until.substr(4);
  ASSERT_TRUE(a->extend_retention(rec, later, "regulator"));
  EXPECT_EQ(bucket.head(objects[0]).value()->retain_until.substr(0, 19), later.substr(0, 19));
  ASSERT_TRUE(a->set_hold("case-1", rec, "officer"));
  EXPECT_EQ(bucket.head(objects[0]).value()->legal_hold, "ON");
  ASSERT_TRUE(a->release_hold("case-1", rec, "officer"));
  EXPECT_EQ(bucket.head(objects[0]).value()->legal_hold, "OFF");
}

}  // namespace
}  // namespace verbatim::archive

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  verbatim::archive::CephRgwPeer ceph;
  if (ceph.exit_status() == 77) {
    std::printf("SKIPPED: Ceph is not installed (scripts/bootstrap.sh installs it)\n");
    return 77;
  }
  if (ceph.exit_status() != 0) {
    std::fprintf(stderr, "could not start Ceph:\n%s\n", ceph.output().c_str());
    return 1;
  }
  verbatim::archive::g_rgw = ceph.s3();
  return RUN_ALL_TESTS();
}
