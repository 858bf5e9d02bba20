#include "archive/object_format.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "common/test_dir.h"

namespace verbatim::archive {
namespace {

namespace fs = std::filesystem;

class ObjectFormatTest : public ::testing::Test {
 protected:
  std::vector<uint8_t> random_bytes(size_t n, uint64_t seed = 1) {
    std::mt19937_64 rng(seed);
    std::vector<uint8_t> v(n);
    for (auto& b : v) b = static_cast<uint8_t>(rng());
    return v;
  }

  // Writes `data` in pieces of `piece` bytes, flushing every `flush_every` pieces; seals.
  SealedObject write_object(const std::string& path, const std::vector<uint8_t>& data,
                            size_t piece = 1000, size_t flush_every = 7) {
    auto w = ObjectWriter::create(path, key, random_object_id(), clock, {kMinChunkSize * 4});
    EXPECT_TRUE(w) << (w ? "" : w.error().message);
    for (size_t off = 0, n = 0; off < data.size(); off += piece, ++n) {
      const size_t len = std::min(piece, data.size() - off);
      EXPECT_TRUE(w.value()->write(std::span(data).subspan(off, len)));
      if (n % flush_every == flush_every - 1) {
        EXPECT_TRUE(w.value()->flush());
      }
    }
    auto sealed = w.value()->seal();
    EXPECT_TRUE(sealed);
    return sealed.value();
  }

  std::string p(const char* name) const { return (dir / name).string(); }

  static std::vector<uint8_t> slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  static void spit(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<long>(bytes.size()));
  }

  TestDir tmp{"vb_obj"};
  const fs::path& dir = tmp.path();
  DataKey key = random_data_key();
  ManualClock clock{TimePoint{std::chrono::seconds(1800000000)}};
};

TEST_F(ObjectFormatTest, RoundTripsAnySizeAndReadsFromTheMiddle) {
  for (size_t size :
       {size_t{0}, size_t{1}, size_t{4095}, size_t{4096}, size_t{4097}, size_t{100000}}) {
    SCOPED_TRACE(size);
    const auto data = random_bytes(size, size);
    const std::string path = p(("o" + std::to_string(size)).c_str());
    const SealedObject s = write_object(path, data);
    EXPECT_EQ(s.plaintext_size, size);
    EXPECT_FALSE(s.interrupted);
    EXPECT_EQ(s.stored_size, fs::file_size(path));
    EXPECT_EQ(s.stored_sha256, file_sha256(path).value());
    auto r = ObjectReader::open(path, key);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r.value()->verify());
    EXPECT_EQ(r.value()->plaintext_size(), size);
    EXPECT_EQ(r.value()->read(0, size + 10).value(), data);
    std::mt19937 rng(3);
    for (int k = 0; k < 20 && size > 0; ++k) {
      const size_t off = rng() % size;
      const size_t len = 1 + rng() % 9000;
      const auto got = r.value()->read(off, len).value();
      const size_t expect = std::min(len, size - off);
      ASSERT_EQ(got.size(), expect);
      EXPECT_TRUE(std::equal(got.begin(), got.end(), data.begin() + static_cast<long>(off)));
    }
  }
}

TEST_F(ObjectFormatTest, EveryKindOfTamperingIsDetected) {
  const auto data = random_bytes(50000);
  const std::string good = p("good");
  write_object(good, data, 1000, 3);
  const auto bytes = slurp(good);
  auto r0 = ObjectReader::open(good, key);
  ASSERT_TRUE(r0);
  const auto chunks = r0.value()->chunks();
  ASSERT_GT(chunks.size(), 4u);
  auto check = [&](const char* what, const std::vector<uint8_t>& tampered, const DataKey& k) {
    SCOPED_TRACE(what);
    const std::string path = p(what);
    spit(path, tampered);
    auto r = ObjectReader::open(path, k);
    if (!r) return;  // refusing to open is a detection too
    EXPECT_FALSE(r.value()->verify());
  };
  auto flipped = bytes;
  flipped[chunks[2].file_offset + 20] ^= 0x01;
  check("flipped-ciphertext", flipped, key);
  flipped = bytes;
  flipped[30] ^= 0x01;  // nonce prefix in the header
  check("flipped-header", flipped, key);
  check("truncated-before-final",
        std::vector<uint8_t>(bytes.begin(),
                             bytes.begin() + static_cast<long>(chunks.back().file_offset)),
        key);
  check("truncated-mid-record", std::vector<uint8_t>(bytes.begin(), bytes.end() - 5), key);
  auto appended = bytes;
  appended.insert(appended.end(), bytes.begin() + kHeaderSize,
                  bytes.begin() + static_cast<long>(chunks[1].file_offset));
  check("appended-chunk", appended, key);
  // Swap two chunks of equal length (1000-byte writes, flush every 3 -> equal chunks).
  auto swapped = bytes;
  ASSERT_EQ(chunks[1].stored_len, chunks[2].stored_len);
  std::swap_ranges(swapped.begin() + static_cast<long>(chunks[1].file_offset),
                   swapped.begin() + static_cast<long>(chunks[2].file_offset),
                   swapped.begin() + static_cast<long>(chunks[2].file_offset));
  check("swapped-chunks", swapped, key);
  // Splice: a chunk from another object under the same key.
  const std::string other = p("other");
  write_object(other, data, 1000, 3);
  const auto other_bytes = slurp(other);
  auto spliced = bytes;
  std::copy(other_bytes.begin() + static_cast<long>(chunks[1].file_offset),
            other_bytes.begin() + static_cast<long>(chunks[2].file_offset),
            spliced.begin() + static_cast<long>(chunks[1].file_offset));
  check("spliced", spliced, key);
  check("wrong-key", bytes, random_data_key());
  // The untouched object still verifies.
  EXPECT_TRUE(r0.value()->verify());
}

TEST_F(ObjectFormatTest, CrashRecoveryKeepsWhatWasFlushed) {
  const auto data = random_bytes(30000);
  const std::string path = p("crashed");
  {
    auto w = ObjectWriter::create(path, key, random_object_id(), clock, {kMinChunkSize * 4});
    ASSERT_TRUE(w);
    ASSERT_TRUE(w.value()->write(std::span(data).first(20000)));
    ASSERT_TRUE(w.value()->flush());
    ASSERT_TRUE(w.value()->write(std::span(data).subspan(20000, 3000)));  // buffered only
    // The process dies here: no seal.
  }
  // A torn record at the end, as a crash mid-write leaves it.
  auto bytes = slurp(path);
  bytes.insert(bytes.end(), {0x10, 0x00, 0x00, 0x00, 0xAA, 0xBB});
  spit(path, bytes);
  auto r = ObjectReader::open(path, key);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r.value()->verify());
  auto s = recover_object(path, key);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(s.value().interrupted);
  EXPECT_EQ(s.value().plaintext_size, 20000u);
  auto after = ObjectReader::open(path, key);
  ASSERT_TRUE(after);
  EXPECT_TRUE(after.value()->verify());
  EXPECT_EQ(after.value()->read(0, 20000).value(),
            std::vector<uint8_t>(data.begin(), data.begin() + 20000));
  EXPECT_EQ(s.value().stored_sha256, file_sha256(path).value());
  // Recovering again (or a sealed object) changes nothing.
  auto again = recover_object(path, key);
  ASSERT_TRUE(again);
  EXPECT_FALSE(again.value().interrupted);
  EXPECT_EQ(again.value().stored_sha256, s.value().stored_sha256);
}

TEST_F(ObjectFormatTest, FlushIntervalBoundsTheLoss) {
  const std::string path = p("timed");
  auto w = ObjectWriter::create(path, key, random_object_id(), clock,
                                {kMinChunkSize * 4, std::chrono::milliseconds(500)});
  ASSERT_TRUE(w);
  const auto data = random_bytes(100);
  ASSERT_TRUE(w.value()->write(data));
  EXPECT_EQ(fs::file_size(path), kHeaderSize);  // buffered
  clock.advance(std::chrono::milliseconds(600));
  ASSERT_TRUE(w.value()->write(data));  // interval elapsed: chunk + fdatasync
  EXPECT_EQ(fs::file_size(path), kHeaderSize + 4 + 200 + kTagSize);
}

TEST_F(ObjectFormatTest, NeverOverwritesAnExistingObject) {
  write_object(p("exists"), random_bytes(10));
  auto w = ObjectWriter::create(p("exists"), key, random_object_id(), clock);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, ErrorCode::kIo);
}

TEST_F(ObjectFormatTest, GarbageIsRefusedNotParsed) {
  spit(p("junk"), random_bytes(5000));
  EXPECT_FALSE(ObjectReader::open(p("junk"), key));
  spit(p("short"), {'V', 'B'});
  EXPECT_FALSE(ObjectReader::open(p("short"), key));
}

// Disk full (an injected write error: RLIMIT_FSIZE makes write() fail with EFBIG): the writer
// reports it, refuses further work, and what was flushed before is recoverable.
TEST_F(ObjectFormatTest, WriteErrorStopsTheWriterAndKeepsFlushedData) {
  const std::string path = p("full");
  const auto data = random_bytes(200000);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{50000, 50000};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    auto w = ObjectWriter::create(path, key, random_object_id(), clock, {kMinChunkSize * 4});
    if (!w) ::_exit(10);
    if (!w.value()->write(std::span(data).first(30000)) || !w.value()->flush()) ::_exit(11);
    const bool failed_write = !w.value()->write(std::span(data).subspan(30000, 100000));
    const bool refused_after = !w.value()->write(std::span(data).first(10));
    const bool refused_seal = !w.value()->seal();
    ::_exit(failed_write && w.value()->failed() && refused_after && refused_seal ? 0 : 12);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  auto s = recover_object(path, key);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(s.value().interrupted);
  EXPECT_GE(s.value().plaintext_size, 30000u);
  auto r = ObjectReader::open(path, key);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r.value()->verify());
  const auto got = r.value()->read(0, s.value().plaintext_size).value();
  EXPECT_TRUE(std::equal(got.begin(), got.end(), data.begin()));
}

}  // namespace
}  // namespace verbatim::archive
