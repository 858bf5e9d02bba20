// Phonetic search's rate in audio hours searched per second on one core (issue 17's target:
// 1,000). Two figures:
//   - BM_PhoneticMatch: the fuzzy phone match alone (transcribe/phonetic.h) over utterances of
//     recognised phones;
//   - BM_PhoneticSearch: `verbatim search --phonetic` as it runs (search/search.h): the SQL
//     scan of the archive's utterance index with the match as an SQL function, ranking and the
//     page's matches, on an archive of 400 recordings x 60 utterances.
// Against a naive baseline in the same run: the same edit distance in its textbook form (the
// whole matrix, phones as strings), which is what a first version would write.
// Phones per audio second: 5.8, as bench_transcribe --phones measured on its recordings (speech
// and the silence around it, one participant's track); an audio hour is 3,600 s of one track.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <random>

#include "archive/archive.h"
#include "common/clock.h"
#include "search/search.h"
#include "transcribe/phonetic.h"

namespace {

using namespace verbatim;

constexpr double kPhonesPerSecond = 5.8;
constexpr size_t kUtterancePhones = 45;

// Utterances of phones drawn with English-like frequencies (vowels common), reproducibly.
std::vector<std::string> utterances(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<double> weights(transcribe::kPhones.size(), 1.0);
  for (const char* common : {"AH", "IH", "N", "T", "R", "S", "D", "L", "IY", "K", "EH", "M"}) {
    weights[static_cast<size_t>(*transcribe::phone_code(common) - '0')] = 4.0;
  }
  std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
  std::vector<std::string> out(n);
  for (auto& u : out) {
    for (size_t i = 0; i < kUtterancePhones; ++i) u.push_back(static_cast<char>('0' + pick(rng)));
  }
  return out;
}

const std::string& query() {
  static const std::string q = [] {
    std::string s;
    for (const char* p : {"Z", "AO", "R", "B", "L", "AE", "K", "S"})
      s += *transcribe::phone_code(p);
    return s;
  }();
  return q;
}

void set_rate(benchmark::State& st, size_t phones) {
  const double per_iteration_hours = static_cast<double>(phones) / kPhonesPerSecond / 3600.0;
  st.counters["audio_hours"] = benchmark::Counter(
      per_iteration_hours * static_cast<double>(st.iterations()), benchmark::Counter::kIsRate);
}

void BM_PhoneticMatch(benchmark::State& st) {
  const auto us = utterances(10'000, 1);
  size_t phones = 0;
  for (const auto& u : us) phones += u.size();
  for (auto _ : st) {
    double best = 0;
    for (const auto& u : us) best = std::max(best, transcribe::phonetic_match(query(), u).score);
    benchmark::DoNotOptimize(best);
  }
  set_rate(st, phones);
}
BENCHMARK(BM_PhoneticMatch)->Unit(benchmark::kMillisecond);

// The textbook edit distance over phone names, the whole (m+1) x (n+1) matrix, free start.
double naive_match(const std::vector<std::string>& q, const std::vector<std::string>& t) {
  std::vector<std::vector<double>> d(q.size() + 1, std::vector<double>(t.size() + 1, 0));
  for (size_t i = 1; i <= q.size(); ++i) d[i][0] = static_cast<double>(i);
  for (size_t i = 1; i <= q.size(); ++i) {
    for (size_t j = 1; j <= t.size(); ++j) {
      d[i][j] = std::min(
          {d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (q[i - 1] == t[j - 1] ? 0.0 : 1.0)});
    }
  }
  double best = d[q.size()][0];
  for (size_t j = 0; j <= t.size(); ++j) best = std::min(best, d[q.size()][j]);
  return 1.0 - best / static_cast<double>(q.size());
}

std::vector<std::string> names(const std::string& codes) {
  std::vector<std::string> out;
  for (char c : codes) out.emplace_back(transcribe::kPhones[static_cast<size_t>(c - '0')]);
  return out;
}

void BM_NaiveMatch(benchmark::State& st) {
  const auto us = utterances(10'000, 1);
  std::vector<std::vector<std::string>> named;
  size_t phones = 0;
  for (const auto& u : us) {
    named.push_back(names(u));
    phones += u.size();
  }
  const auto q = names(query());
  for (auto _ : st) {
    double best = 0;
    for (const auto& u : named) best = std::max(best, naive_match(q, u));
    benchmark::DoNotOptimize(best);
  }
  set_rate(st, phones);
}
BENCHMARK(BM_NaiveMatch)->Unit(benchmark::kMillisecond);

struct Corpus {
  std::filesystem::path dir;
  std::unique_ptr<archive::Archive> archive;
  size_t phones = 0;
  SystemClock clock;
  Corpus() {
    dir =
        std::filesystem::temp_directory_path() / ("vb-phonetic-bench-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir);
    archive::ArchiveOptions o;
    o.root = dir.string();
    archive = std::move(archive::Archive::open(o, clock, "bench")).value();
    uint64_t seed = 10;
    for (int r = 0; r < 400; ++r) {
      auto id = archive->create_recording(
          {{"startedAt", "2026-12-01T09:00:00.000Z"},
           {"participants",
            {{{"aor", "sip:alice@example.com"}}, {{"aor", "sip:bob@example.com"}}}}});
      (void)archive->complete_recording(id.value(), "complete");
      std::vector<archive::IndexedUtterance> rows;
      int64_t at = 0;
      for (const auto& u : utterances(60, ++seed)) {
        rows.push_back({"Alice", at, at + 4000, "some words", u});
        phones += u.size();
        at += 5000;
      }
      (void)archive->index_transcript(id.value(), "obj", rows);
    }
  }
  ~Corpus() {
    archive.reset();
    std::filesystem::remove_all(dir);
  }
};

void BM_PhoneticSearch(benchmark::State& st) {
  static Corpus corpus;
  search::Query q;
  q.phonetic = "zorblax";
  q.limit = 50;
  // The query's phones are looked up once per search (the dictionary, then espeak-ng); that
  // is measured too, as a search pays it.
  for (auto _ : st) {
    auto page = search::run(corpus.archive->catalog(), q);
    if (!page) st.SkipWithError(page.error().message.c_str());
    benchmark::DoNotOptimize(page);
  }
  set_rate(st, corpus.phones);
}
BENCHMARK(BM_PhoneticSearch)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
