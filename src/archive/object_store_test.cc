#include "archive/object_store.h"

#include <filesystem>
#include <map>

#include <gtest/gtest.h>

#include "archive/archive.h"
#include "common/test_dir.h"

namespace verbatim::archive {
namespace {

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

std::string read_all(const ObjectSource& src) {
  std::vector<uint8_t> buf(src.size());
  EXPECT_TRUE(src.read_at(0, buf));
  return {buf.begin(), buf.end()};
}

TEST(LocalObjectStore, CreatesExclusivelyReadsListsResumesAndRemoves) {
  TestDir dir("vb_store");
  auto store = open_local_store(dir / "objects").value();
  auto sink = store->create("ab/abc.vbo", "");
  ASSERT_TRUE(sink) << sink.error().message;
  ASSERT_TRUE(sink.value()->append(bytes("hello ")));
  ASSERT_TRUE(sink.value()->sync());
  ASSERT_TRUE(sink.value()->append(bytes("world")));
  ASSERT_TRUE(sink.value()->commit());
  EXPECT_FALSE(sink.value()->append(bytes("!"))) << "a committed sink takes nothing more";
  EXPECT_FALSE(store->create("ab/abc.vbo", "")) << "never overwrites";

  auto src = store->open("ab/abc.vbo").value();
  EXPECT_EQ(src->size(), 11u);
  EXPECT_EQ(read_all(*src), "hello world");
  std::vector<uint8_t> past(4);
  EXPECT_FALSE(src->read_at(9, past)) << "reading past the end is an error";
  EXPECT_TRUE(store->exists("ab/abc.vbo").value());
  EXPECT_FALSE(store->exists("ab/none.vbo").value());
  EXPECT_EQ(store->list().value(), std::vector<std::string>{"ab/abc.vbo"});

  auto resumed = store->resume("ab/abc.vbo", 5).value();
  ASSERT_TRUE(resumed->append(bytes("!")));
  ASSERT_TRUE(resumed->commit());
  EXPECT_EQ(read_all(*store->open("ab/abc.vbo").value()), "hello!");

  ASSERT_TRUE(store->remove("ab/abc.vbo"));
  EXPECT_TRUE(store->list().value().empty());
  EXPECT_GT(store->free_bytes().value(), 0u);
}

// The recorder's path: syncs handed to another thread, one of them still pending when the object
// is committed; no descriptor is leaked or closed under a pending sync.
TEST(LocalObjectStore, DeferredSyncsOutliveTheCommit) {
  TestDir dir("vb_store_deferred");
  auto store = open_local_store(dir / "objects").value();
  auto count_fds = [] {
    size_t n = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd");
         it != std::filesystem::directory_iterator(); ++it)
      ++n;
    return n;
  };
  const size_t before = count_fds();
  auto sink = store->create("cd/cde.vbo", "").value();
  ASSERT_TRUE(sink->append(bytes("first")));
  auto first = sink->deferred_sync();  // makes the name durable too
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_TRUE(first.value());
  ASSERT_TRUE(sink->append(bytes(" second")));
  auto second = sink->deferred_sync().value();
  EXPECT_EQ(count_fds(), before + 1) << "no descriptor per pending sync";
  EXPECT_TRUE(first.value()());
  ASSERT_TRUE(sink->commit());
  EXPECT_EQ(count_fds(), before + 1) << "kept open for the pending sync";
  EXPECT_TRUE(second());
  second = nullptr;
  first.value() = nullptr;
  EXPECT_EQ(count_fds(), before) << "closed by the last holder";
  EXPECT_EQ(read_all(*store->open("cd/cde.vbo").value()), "first second");
}

TEST(LocalObjectStore, RefusesKeysThatLeaveItsDirectory) {
  TestDir dir("vb_store");
  auto store = open_local_store(dir / "objects").value();
  for (const char* key : {"", "/etc/passwd", "../x", "a/../../x", "./a"}) {
    auto r = store->create(key, "");
    ASSERT_FALSE(r) << key;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << key;
    EXPECT_FALSE(store->open(key)) << key;
    EXPECT_FALSE(store->remove(key)) << key;
  }
}

// A second, independent implementation of the contract (objects in memory). The archive
// working unchanged on it shows that nothing in the archive bypasses the interface, which is
// what an S3-compatible store relies on.
class MemoryStore final : public ObjectStore {
 public:
  std::map<std::string, std::vector<uint8_t>> objects;
  std::string describe(const std::string& key) const override { return "mem://" + key; }
  Result<std::unique_ptr<ObjectSink>> create(const std::string& key,
                                             const std::string& /*retain_until*/) override {
    if (objects.count(key)) return make_error(ErrorCode::kAlreadyExists, key + " exists");
    objects[key];
    return std::unique_ptr<ObjectSink>(new Sink(*this, key));
  }
  Result<std::unique_ptr<ObjectSource>> open(const std::string& key) const override {
    auto it = objects.find(key);
    if (it == objects.end()) return make_error(ErrorCode::kNotFound, key + " not found");
    return std::unique_ptr<ObjectSource>(new Source(describe(key), it->second));
  }
  Result<bool> exists(const std::string& key) const override { return objects.count(key) > 0; }
  Result<std::unique_ptr<ObjectSink>> resume(const std::string& key, uint64_t size) override {
    objects.at(key).resize(size);
    return std::unique_ptr<ObjectSink>(new Sink(*this, key));
  }
  Status remove(const std::string& key) override {
    objects.erase(key);
    return ok_status();
  }
  Result<std::vector<std::string>> list() const override {
    std::vector<std::string> keys;
    for (const auto& [k, v] : objects) keys.push_back(k);
    return keys;
  }
  Result<uint64_t> free_bytes() const override { return uint64_t{1} << 40; }

 private:
  struct Sink final : ObjectSink {
    Sink(MemoryStore& s, std::string k) : store(s), key(std::move(k)), label("mem://" + key) {}
    const std::string& name() const override { return label; }
    Status append(std::span<const uint8_t> d) override {
      auto& o = store.objects.at(key);
      o.insert(o.end(), d.begin(), d.end());
      return ok_status();
    }
    Status sync() override { return ok_status(); }
    Status commit() override { return ok_status(); }
    MemoryStore& store;
    std::string key, label;
  };
  struct Source final : ObjectSource {
    Source(std::string n, std::vector<uint8_t> d) : label(std::move(n)), data(std::move(d)) {}
    const std::string& name() const override { return label; }
    uint64_t size() const override { return data.size(); }
    Status read_at(uint64_t off, std::span<uint8_t> out) const override {
      if (off + out.size() > data.size()) return make_error(ErrorCode::kIo, "short read");
      std::copy_n(data.begin() + static_cast<long>(off), out.size(), out.begin());
      return ok_status();
    }
    std::string label;
    std::vector<uint8_t> data;
  };
};

TEST(ObjectStoreContract, TheArchiveRunsOnAnotherStoreAndVerifiesThroughIt) {
  TestDir dir("vb_store");
  ManualClock clock(std::chrono::system_clock::time_point{} + std::chrono::hours(500000));
  auto mem = std::make_shared<MemoryStore>();
  ArchiveOptions o;
  o.root = dir / "archive";
  o.store = mem;
  auto a = Archive::open(o, clock, "test").value();
  auto rec = a->create_recording({{"from", "sip:alice@contoso.com"}}).value();
  auto obj = a->begin_object(rec, "media").value();
  ASSERT_TRUE(obj->writer().write(bytes(std::string(5000, 'x'))));
  ASSERT_TRUE(a->seal(*obj));
  ASSERT_TRUE(a->complete_recording(rec, "complete"));
  ASSERT_EQ(mem->objects.size(), 1u);
  EXPECT_FALSE(std::filesystem::exists(dir / "archive/objects/" + mem->objects.begin()->first))
      << "nothing bypasses the store";
  auto reader = a->read_object(obj->id(), "officer").value();
  EXPECT_EQ(reader->read(0, 5000).value(), bytes(std::string(5000, 'x')));
  EXPECT_TRUE(a->verify(true).value().empty());

  mem->objects.begin()->second[100] ^= 1;
  mem->objects["zz/forged.vbo"] = bytes("forged");
  auto f = a->verify(true).value();
  ASSERT_EQ(f.size(), 2u);
  EXPECT_NE(f[0].where.find("zz/forged.vbo"), std::string::npos) << f[0].where;
  EXPECT_NE(f[1].what.find("altered"), std::string::npos) << f[1].what;
}

}  // namespace
}  // namespace verbatim::archive
