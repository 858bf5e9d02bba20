// Missed-recording reconciliation: how many ended calls one reconciler pass checks per second on
// one core (reconcile/reconciler.h), on an archive of 4,000 recordings: half the calls recorded
// whole, a quarter never stored (alerts), a quarter cut short (alerts). What sets the delay from
// a call's end to its alert is gateway.missed_recording_after_s plus at most one interval (1 s)
// plus the pass's time for the calls due; this gives the last term (bench/RESULTS.md).
// Against a naive baseline in the same run: the same check without the search index's Call-ID
// column, reading every recording's metadata per call (what a first version would do).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>

#include <spdlog/spdlog.h>

#include "archive/archive.h"
#include "common/clock.h"
#include "reconcile/reconciler.h"

namespace {

using namespace verbatim;  // NOLINT(google-build-using-namespace)
using nlohmann::json;

constexpr int kCalls = 4000;
constexpr int64_t kStart = 1'800'000'000'000;

json record(int i) {
  const auto start = TimePoint(std::chrono::milliseconds(kStart + int64_t{i} * 1000));
  return {{"callId", "call-" + std::to_string(i)},
          {"start", format_iso8601_ms(start)},
          {"end", format_iso8601_ms(start + std::chrono::seconds(61))},
          {"caller", {{"aor", "sip:alice@contoso.com"}}},
          {"callee", {{"aor", "sip:bob@contoso.com"}}},
          {"timings", {{"connectedMs", 1000}}},
          {"recordings",
           {{{"party", "sip:alice@contoso.com"},
             {"policy", "Traders"},
             {"applications",
              {{{"application", "Recorder"},
                {"recorded", true},
                {"instances",
                 {{{"applicationId", "app-1"},
                   {"uri", "sip:srs@10.0.0.7"},
                   {"answeredMs", 100}}}}}}}}}}};
}

class Records final : public CallRecords {
 public:
  Result<std::vector<json>> find_calls(const CallQuery&) override { return std::vector<json>{}; }
  Result<std::optional<json>> find_call(std::string_view) override { return std::optional<json>(); }
  Result<std::vector<std::pair<int64_t, json>>> calls_after(int64_t seq, size_t limit) override {
    std::vector<std::pair<int64_t, json>> out;
    for (int64_t i = seq; i < kCalls && out.size() < limit; ++i) out.emplace_back(i + 1, record(i));
    return out;
  }
};

struct Corpus {
  std::filesystem::path dir;
  ManualClock clock{TimePoint(std::chrono::milliseconds(kStart + int64_t{kCalls} * 1000)) +
                    std::chrono::hours(1)};
  Corpus() {
    spdlog::set_level(spdlog::level::off);  // 2,000 alerts a pass: the terminal is not measured
    dir =
        std::filesystem::temp_directory_path() / ("vb-reconcile-bench-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir);
    archive::ArchiveOptions o;
    o.root = (dir / "archive").string();
    o.min_free_bytes = 0;
    auto a = std::move(archive::Archive::open(o, clock, "bench")).value();
    for (int i = 0; i < kCalls; ++i) {
      if (i % 4 == 1) continue;  // never stored
      const auto start = TimePoint(std::chrono::milliseconds(kStart + int64_t{i} * 1000));
      auto id = a->create_recording({{"callId", "call-" + std::to_string(i)},
                                     {"application_id", "app-1"},
                                     {"startedAt", format_iso8601_ms(start)},
                                     {"durationSeconds", i % 4 == 3 ? 20.0 : 61.5},
                                     {"call", {{"direction", "outbound"}}}});
      (void)a->complete_recording(id.value(), "complete");
    }
  }
  ~Corpus() { std::filesystem::remove_all(dir); }
};

Corpus& corpus() {
  static Corpus c;
  return c;
}

void BM_ReconcilePass(benchmark::State& st) {
  Corpus& c = corpus();
  int run = 0;
  for (auto _ : st) {
    st.PauseTiming();
    reconcile::ReconcilerOptions o;
    o.call_records = []() -> Result<std::unique_ptr<CallRecords>> {
      return std::unique_ptr<CallRecords>(std::make_unique<Records>());
    };
    o.archive_db = (c.dir / "archive" / "archive.db").string();
    o.store = (c.dir / ("missed-" + std::to_string(++run) + ".db")).string();
    o.first_window = std::chrono::hours(24 * 365);
    o.clock = &c.clock;
    auto r = std::move(reconcile::Reconciler::start(o, false)).value();
    st.ResumeTiming();
    if (!r->pass()) st.SkipWithError("pass failed");
    st.PauseTiming();
    if (r->totals()["missedRecordings"] != kCalls / 2) st.SkipWithError("wrong alerts");
    r.reset();
    std::filesystem::remove(o.store);
    st.ResumeTiming();
  }
  st.counters["calls"] = benchmark::Counter(static_cast<double>(st.iterations()) * kCalls,
                                            benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ReconcilePass)->Unit(benchmark::kMillisecond)->Iterations(5);

// The baseline: per call, every recording's metadata read and parsed to find the call's.
void BM_NaiveReconcile(benchmark::State& st) {
  Corpus& c = corpus();
  auto db = std::move(SqliteDb::open((c.dir / "archive" / "archive.db").string())).value();
  constexpr int kChecked = 100;
  for (auto _ : st) {
    int missed = 0;
    for (int i = 0; i < kChecked; ++i) {
      const json rec = record(i);
      const auto expected = reconcile::expectations_of(rec);
      std::vector<search::CallRecording> found;
      SqliteStmt s(*db, "SELECT id, status, metadata FROM recordings");
      while (s.step() == kSqliteRow) {
        const json m = json::parse(s.text(2));
        if (m.value("callId", "") != rec["callId"]) continue;
        const auto started = reconcile::iso_millis(m.value("startedAt", "")).value_or(0);
        found.push_back({s.text(0), m.value("application_id", ""), "outbound", s.text(1), "",
                         started, static_cast<int64_t>(m.value("durationSeconds", 0.0) * 1000)});
      }
      if (reconcile::assess(expected[0], found)) ++missed;
    }
    benchmark::DoNotOptimize(missed);
  }
  st.counters["calls"] = benchmark::Counter(static_cast<double>(st.iterations()) * kChecked,
                                            benchmark::Counter::kIsRate);
}
BENCHMARK(BM_NaiveReconcile)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
