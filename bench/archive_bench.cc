// Archive benchmarks (issue 4): the sealing path's encrypt+hash throughput compared in the
// same run with its two ingredients alone (libsodium XChaCha20-Poly1305 and SHA-256), and
// the ledger's append rate (one transaction per event, as the archive commits them, and in
// batches). The writer writes to /dev/shm so the figure is CPU, not disk.
#include <benchmark/benchmark.h>
#include <sodium.h>
#include <unistd.h>

#include <filesystem>

#include "archive/ledger.h"
#include "archive/object_format.h"
#include "archive/schema.h"
#include "archive/sha256.h"

namespace verbatim::archive {
namespace {

constexpr size_t kChunk = 64 * 1024;

std::vector<uint8_t> payload(size_t n) {
  std::vector<uint8_t> v(n);
  randombytes_buf(v.data(), v.size());
  return v;
}

void BM_RawXChaCha20Poly1305(benchmark::State& st) {
  if (sodium_init() < 0) st.SkipWithError("libsodium failed to initialise");
  const auto in = payload(kChunk);
  std::vector<uint8_t> out(kChunk + 16);
  uint8_t key[32], nonce[24] = {};
  crypto_aead_xchacha20poly1305_ietf_keygen(key);
  for (auto _ : st) {
    unsigned long long len = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out.data(), &len, in.data(), in.size(), nullptr, 0,
                                               nullptr, nonce, key);
    benchmark::DoNotOptimize(out.data());
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * kChunk));
}
BENCHMARK(BM_RawXChaCha20Poly1305);

void BM_RawSha256(benchmark::State& st) {  // libsodium
  if (sodium_init() < 0) st.SkipWithError("libsodium failed to initialise");
  const auto in = payload(kChunk);
  uint8_t h[32];
  for (auto _ : st) {
    crypto_hash_sha256(h, in.data(), in.size());
    benchmark::DoNotOptimize(h);
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * kChunk));
}
BENCHMARK(BM_RawSha256);

void BM_OpenSslSha256(benchmark::State& st) {  // what the archive uses (archive/sha256.h)
  const auto in = payload(kChunk);
  for (auto _ : st) benchmark::DoNotOptimize(Sha256::of(in));
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * kChunk));
}
BENCHMARK(BM_OpenSslSha256);

// The real ObjectWriter: chunk, encrypt, hash, write (tmpfs), seal.
void BM_ObjectWriterSeal(benchmark::State& st) {
  const auto data = payload(kChunk);
  const size_t object_bytes = 64 * kChunk;  // 4 MiB objects
  const DataKey key = random_data_key();
  SystemClock clock;
  const std::string dir = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
  const std::string path = dir + "/vb_bench_" + std::to_string(::getpid()) + ".vbo";
  for (auto _ : st) {
    std::filesystem::remove(path);
    auto w = ObjectWriter::create(path, key, random_object_id(), clock,
                                  {static_cast<uint32_t>(kChunk), std::chrono::hours(1)});
    for (size_t off = 0; off < object_bytes; off += kChunk) (void)w.value()->write(data);
    benchmark::DoNotOptimize(w.value()->seal());
  }
  std::filesystem::remove(path);
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * object_bytes));
}
BENCHMARK(BM_ObjectWriterSeal)->Unit(benchmark::kMillisecond);

// A ledger in a fresh directory under /tmp, removed afterwards.
struct BenchLedger {
  explicit BenchLedger(const std::string& name)
      : dir("/tmp/vb_" + name + "_" + std::to_string(::getpid())) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    db = SqliteDb::open(dir + "/archive.db").value();
    (void)db->migrate(archive_migrations(), "archive database");
    auto key = load_or_create_signing_key(dir + "/signing.key").value();
    ledger = Ledger::open(*db, key, clock, dir + "/heads").value();
  }
  ~BenchLedger() {
    ledger.reset();
    db.reset();
    std::filesystem::remove_all(dir);
  }
  std::string dir;
  SystemClock clock;
  std::unique_ptr<SqliteDb> db;
  std::unique_ptr<Ledger> ledger;
};

void ledger_appends(benchmark::State& st, int per_transaction) {
  BenchLedger b("ledger_bench");
  auto& db = b.db;
  auto& ledger = b.ledger;
  int64_t n = 0;
  for (auto _ : st) {
    (void)db->exec("BEGIN IMMEDIATE");
    for (int i = 0; i < per_transaction; ++i) {
      (void)ledger->append(
          {{"type", "object.sealed"},
           {"object", std::to_string(n++)},
           {"sha256", "0000000000000000000000000000000000000000000000000000000000000000"}});
    }
    (void)db->exec("COMMIT");
  }
  st.SetItemsProcessed(n);
}
void BM_LedgerAppendEach(benchmark::State& st) { ledger_appends(st, 1); }
void BM_LedgerAppendBatch100(benchmark::State& st) { ledger_appends(st, 100); }
BENCHMARK(BM_LedgerAppendEach)->MinTime(2.0);
BENCHMARK(BM_LedgerAppendBatch100)->MinTime(2.0);

// `verbatim verify`'s ledger part over 1 M entries (issue target: <= 60 s without media):
// recompute every leaf from the stored bytes, parse every entry, check signed and witnessed
// heads against roots over the recomputed leaves.
void BM_LedgerVerify1M(benchmark::State& st) {
  BenchLedger b("ledger_verify");
  auto& db = b.db;
  auto& ledger = b.ledger;
  constexpr int kEntries = 1'000'000;
  for (int batch = 0; batch < kEntries / 10000; ++batch) {
    (void)db->exec("BEGIN IMMEDIATE");
    for (int i = 0; i < 10000; ++i) {
      (void)ledger->append(
          {{"type", "object.sealed"},
           {"object", std::to_string(batch * 10000 + i)},
           {"recording", "0123456789abcdef0123456789abcdef"},
           {"sha256", "0000000000000000000000000000000000000000000000000000000000000000"},
           {"stored_size", 123456}});
    }
    (void)db->exec("COMMIT");
    if (batch % 25 == 24) (void)ledger->sign_head();  // 4 heads along the way
  }
  for (auto _ : st) {
    auto findings = ledger->verify();
    if (!findings || !findings.value().empty()) st.SkipWithError("verify found problems");
  }
  st.counters["entries"] = kEntries;
}
BENCHMARK(BM_LedgerVerify1M)->Iterations(1)->Unit(benchmark::kSecond);

}  // namespace
}  // namespace verbatim::archive

BENCHMARK_MAIN();
