// The archive's objects on S3 (Ceph's radosgw, started by this binary on loopback:
// CephRgwPeer) against the same archive on local files, in the same run: recordings
// of one object each are created, written (4 MiB, or 40 MiB for multipart), sealed and made
// durable where they live. For S3 that means uploaded, checksum-checked and locked (the spool's
// outbox empty), which is what bounds how fast a recorder can hand recordings to the store.
#include <benchmark/benchmark.h>
#include <sodium.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <sstream>

#include "archive/archive.h"
#include "archive/ceph_rgw_peer.h"
#include "archive/s3_store.h"

namespace verbatim::archive {
namespace {

S3Config g_s3;  // NOLINT: set by main

std::vector<uint8_t> payload(size_t n) {
  std::vector<uint8_t> v(n);
  randombytes_buf(v.data(), v.size());
  return v;
}

// Each iteration: `batch` recordings of one object of `mib` MiB, sealed; on S3, then waited for
// until the outbox is empty.
void run(benchmark::State& st, bool s3, size_t mib, int batch) {
  const auto chunk = payload(64 * 1024);
  const std::string dir = "/tmp/vb_s3_bench_" + std::to_string(::getpid()) + (s3 ? "_s3" : "_fs");
  std::filesystem::remove_all(dir);
  SystemClock clock;
  ArchiveOptions ao;
  ao.root = dir;
  std::shared_ptr<S3ObjectStore> store;
  if (s3) {
    S3StoreOptions so;
    so.s3 = g_s3;
    so.s3.bucket = "bench-" + std::to_string(::getpid()) + "-" + std::to_string(mib);
    auto client = S3Client::make(so.s3);
    if (!client || !client.value().create_bucket(true)) {
      st.SkipWithError("cannot create the bucket");
      return;
    }
    so.spool_dir = dir + "/spool";
    auto opened = open_s3_store(so);
    if (!opened) {
      st.SkipWithError(opened.error().message.c_str());
      return;
    }
    store = opened.value();
    ao.store = store;
  }
  auto a = Archive::open(ao, clock, "bench");
  if (!a) {
    st.SkipWithError(a.error().message.c_str());
    return;
  }
  for (auto _ : st) {
    for (int i = 0; i < batch; ++i) {
      auto rec = a.value()->create_recording({{"call", i}}).value();
      auto obj = a.value()->begin_object(rec, "media").value();
      for (size_t off = 0; off < (mib << 20); off += chunk.size()) {
        (void)obj->writer().write(chunk);
      }
      (void)a.value()->seal(*obj);
      (void)a.value()->complete_recording(rec, "complete", "");
    }
    if (store && !store->wait_uploaded(std::chrono::minutes(5))) {
      st.SkipWithError(("upload: " + store->spool_state().last_error).c_str());
      break;
    }
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations()) * batch *
                       static_cast<int64_t>(mib << 20));
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations()) * batch);
  a.value().reset();
  store.reset();
  std::filesystem::remove_all(dir);
}

// 8 objects of 4 MiB or 3 of 40 MiB an iteration (Ceph's memstore holds everything in RAM).
int batch(size_t mib) { return mib >= 40 ? 3 : 8; }
// The peer: the same bytes as bare PUTs with this client (no archive, spool, checks or lock).
void BM_RawPut(benchmark::State& st) {
  const size_t mib = static_cast<size_t>(st.range(0));
  S3Config c = g_s3;
  c.bucket = "raw-" + std::to_string(::getpid()) + "-" + std::to_string(mib);
  auto client = S3Client::make(c);
  if (!client || !client.value().create_bucket(false)) {
    st.SkipWithError("cannot create the bucket");
    return;
  }
  const auto data = payload(mib << 20);
  const std::string_view body(reinterpret_cast<const char*>(data.data()), data.size());
  int n = 0;
  for (auto _ : st) {
    for (int i = 0; i < batch(mib); ++i) {
      if (!client.value().put("k" + std::to_string(n++), body, "")) st.SkipWithError("PUT failed");
    }
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations()) * batch(mib) *
                       static_cast<int64_t>(mib << 20));
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations()) * batch(mib));
}
BENCHMARK(BM_RawPut)->Arg(4)->Arg(40)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_LocalFiles(benchmark::State& st) {
  const auto mib = static_cast<size_t>(st.range(0));
  run(st, false, mib, batch(mib));
}
void BM_S3ObjectLock(benchmark::State& st) {
  const auto mib = static_cast<size_t>(st.range(0));
  run(st, true, mib, batch(mib));
}
BENCHMARK(BM_LocalFiles)
    ->Arg(4)
    ->Arg(40)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_S3ObjectLock)
    ->Arg(4)
    ->Arg(40)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace verbatim::archive

int main(int argc, char** argv) {
  if (sodium_init() < 0) return 1;
  verbatim::archive::CephRgwPeer ceph;
  if (ceph.exit_status() != 0) {
    std::fprintf(stderr, "could not start Ceph (tests/peers/ceph-rgw.sh): %s\n",
                 ceph.output().c_str());
    return 1;
  }
  verbatim::archive::g_s3 = ceph.s3();
  {
    // The cluster's first bucket and object create its pools: not part of any measure.
    verbatim::archive::S3Config c = verbatim::archive::g_s3;
    c.bucket = "warm-up";
    auto client = verbatim::archive::S3Client::make(c);
    if (!client || !client.value().create_bucket(false) || !client.value().put("k", "x", "")) {
      std::fprintf(stderr, "the S3 store does not answer\n");
      return 1;
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
