// The archive's key operations with the keys in an HSM (SoftHSM2 through PKCS#11, hsm.h) against
// the same operations with key files, in the same run: wrapping a data key (once per object the
// recorder begins) and signing a tree head (at most once per archive.sign_interval_s). The token
// lives in a directory of the benchmark's own, made with softhsm2-util.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "archive/hsm.h"
#include "archive/keys.h"

namespace verbatim::archive {
namespace {

namespace fs = std::filesystem;

const fs::path& scratch() {
  static const fs::path dir =
      fs::temp_directory_path() / ("vb_hsm_bench_" + std::to_string(::getpid()));
  return dir;
}

// The token, once per process (SoftHSM reads its configuration when first loaded).
std::shared_ptr<Hsm> token() {
  static const std::shared_ptr<Hsm> hsm = []() -> std::shared_ptr<Hsm> {
    const fs::path d = scratch();
    fs::create_directories(d / "tokens");
    std::ofstream(d / "softhsm2.conf") << "directories.tokendir = " << (d / "tokens").string()
                                       << "\nobjectstore.backend = file\nlog.level = ERROR\n";
    ::setenv("SOFTHSM2_CONF", (d / "softhsm2.conf").c_str(), 1);
    if (std::system("softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 12345678 "
                    ">/dev/null") != 0) {
      return nullptr;
    }
    HsmOptions o;
    o.module = "/usr/lib/softhsm/libsofthsm2.so";
    o.token = "bench";
    o.pin = "1234";
    auto h = Hsm::open(o);
    return h ? h.value() : nullptr;
  }();
  return hsm;
}

void BM_WrapDataKeyFile(benchmark::State& st) {
  fs::create_directories(scratch());
  const std::string path = (scratch() / "master.key").string();
  fs::remove(path);
  const MasterKey m = create_master_key(path).value();
  const DataKey k = random_data_key();
  const ObjectId id = random_object_id();
  for (auto _ : st) benchmark::DoNotOptimize(wrap_data_key(m, k, id));
}
BENCHMARK(BM_WrapDataKeyFile);

void BM_WrapDataKeyHsm(benchmark::State& st) {
  auto hsm = token();
  if (!hsm) return st.SkipWithError("SoftHSM2 is not installed (scripts/bootstrap.sh)");
  auto m = hsm_master_key(hsm, true);
  if (!m) return st.SkipWithError(m.error().message.c_str());
  const DataKey k = random_data_key();
  const ObjectId id = random_object_id();
  for (auto _ : st) {
    auto w = wrap_data_key(m.value(), k, id);
    if (!w) return st.SkipWithError(w.error().message.c_str());
    benchmark::DoNotOptimize(w);
  }
}
BENCHMARK(BM_WrapDataKeyHsm);

void BM_SignHeadFile(benchmark::State& st) {
  fs::create_directories(scratch());
  const std::string path = (scratch() / "signing.key").string();
  const SigningKey k = load_or_create_signing_key(path).value();
  const std::string head = "1048576 " + std::string(64, 'a') + " 1796688582916";
  for (auto _ : st) benchmark::DoNotOptimize(sign(k, head));
}
BENCHMARK(BM_SignHeadFile);

void BM_SignHeadHsm(benchmark::State& st) {
  auto hsm = token();
  if (!hsm) return st.SkipWithError("SoftHSM2 is not installed (scripts/bootstrap.sh)");
  auto found = find_hsm_signing_key(hsm);
  auto k = found && found.value()
               ? Result<SigningKey>(*found.value())
               : create_hsm_signing_key(hsm, (scratch() / "signing.key.pub").string());
  if (!k) return st.SkipWithError(k.error().message.c_str());
  const std::string head = "1048576 " + std::string(64, 'a') + " 1796688582916";
  for (auto _ : st) {
    auto sig = sign(k.value(), head);
    if (!sig) return st.SkipWithError(sig.error().message.c_str());
    benchmark::DoNotOptimize(sig);
  }
}
BENCHMARK(BM_SignHeadHsm);

}  // namespace
}  // namespace verbatim::archive

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::error_code ec;
  std::filesystem::remove_all(verbatim::archive::scratch(), ec);
  return 0;
}
