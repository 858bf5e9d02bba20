// The playback job's cost: a 60 s two-party G.711 call's evidence (1 % loss, some reordering)
// turned into two Ogg/Opus files on one timeline (recorder/playback.h), against two peers in
// the same run:
//   - opusenc (Debian opus-tools, libopusenc at complexity 10, the bitrate the job uses) on
//     the same two tracks as WAV files: the tool a user would otherwise run;
//   - a naive loop that only decodes the payloads in arrival order and encodes them (no pcap,
//     no ordering, no timeline, no silence).
// The figure that matters is audio seconds made per CPU second: how many speaker tracks one
// core keeps up with in real time. Quality is checked alongside: each file is decoded again
// (opusfile) and compared with the audio that went in (SNR at the best alignment), so a faster
// encoder that sounds worse would show.
#include <benchmark/benchmark.h>
#include <opus/opusfile.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "common/clock.h"
#include "media/audio.h"
#include "media/pcap.h"
#include "recorder/playback.h"

namespace {

using verbatim::TimePoint;
constexpr int kSeconds = 60;

uint8_t ulaw(int sample) {  // G.711 µ-law (the bench makes its own input)
  const int sign = sample < 0 ? 0x80 : 0;
  int s = std::min(std::abs(sample), 32635) + 0x84;
  int exponent = 7;
  for (int mask = 0x4000; exponent > 0 && !(s & mask); mask >>= 1) --exponent;
  return static_cast<uint8_t>(~(sign | exponent << 4 | ((s >> (exponent + 3)) & 0x0f)));
}

struct Call {
  std::vector<uint8_t> pcap;
  std::vector<std::vector<uint8_t>> payloads;  // arrival order, both streams
};

const Call& call() {
  static const Call c = [] {
    Call out;
    out.pcap = verbatim::media::pcap_file_header();
    std::mt19937 rng(3);
    auto from = verbatim::media::UdpEndpoint::parse("192.0.2.10", 40000).value();
    const int64_t t0 = int64_t{1'800'000'000} * 1'000'000'000;
    struct P {
      int64_t at;
      uint16_t port;
      std::vector<uint8_t> rtp, payload;
    };
    std::vector<P> ps;
    for (int s = 0; s < 2; ++s) {
      for (int i = 0; i < kSeconds * 50; ++i) {
        if (rng() % 100 == 0) continue;  // 1 % loss
        std::vector<uint8_t> payload(160);
        for (int k = 0; k < 160; ++k) {  // a voice-like signal: harmonics with a slow envelope
          const double t = (i * 160 + k) / 8000.0;
          const double env = 0.5 + 0.5 * std::sin(2 * M_PI * 0.7 * t + s);
          payload[k] = ulaw(static_cast<int>(
              6000 * env *
              (std::sin(2 * M_PI * (180 + 60 * s) * t) + 0.5 * std::sin(2 * M_PI * 720 * t))));
        }
        std::vector<uint8_t> rtp = {0x80, 0, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
        const uint32_t ts = static_cast<uint32_t>(i * 160),
                       ssrc = 0x1000u + static_cast<uint32_t>(s);
        for (int sh : {24, 16, 8, 0}) rtp.push_back(static_cast<uint8_t>(ts >> sh));
        for (int sh : {24, 16, 8, 0}) rtp.push_back(static_cast<uint8_t>(ssrc >> sh));
        rtp.insert(rtp.end(), payload.begin(), payload.end());
        const int64_t jitter = static_cast<int64_t>(rng() % 40) * 1'000'000;  // reorders some
        ps.push_back({t0 + int64_t{i} * 20'000'000 + jitter, static_cast<uint16_t>(20000 + 2 * s),
                      rtp, payload});
      }
    }
    std::stable_sort(ps.begin(), ps.end(), [](const P& a, const P& b) { return a.at < b.at; });
    for (const auto& p : ps) {
      auto to = verbatim::media::UdpEndpoint::parse("192.0.2.1", p.port).value();
      (void)verbatim::media::append_pcap_udp(
          out.pcap,
          TimePoint(
              std::chrono::duration_cast<TimePoint::duration>(std::chrono::nanoseconds(p.at))),
          from, to, p.rtp);
      out.payloads.push_back(p.payload);
    }
    return out;
  }();
  return c;
}

const nlohmann::json& catalog() {
  static const nlohmann::json c = {
      {"media",
       {{{"label", "1"}, {"port", 20000}, {"payloads", {{"0", "PCMU/8000"}}}},
        {{"label", "2"}, {"port", 20002}, {"payloads", {{"0", "PCMU/8000"}}}}}},
      {"participants",
       {{{"id", "a"}, {"aor", "sip:alice@example.com"}, {"sendsOnLabels", {"1"}}},
        {{"id", "b"}, {"aor", "sip:bob@example.com"}, {"sendsOnLabels", {"2"}}}}}};
  return c;
}

// Each track as the job puts it on the timeline: the input both encoders get.
const std::vector<std::vector<int16_t>>& timeline_pcm() {
  static const std::vector<std::vector<int16_t>> t = [] {
    verbatim::recorder::PlaybackBuilder b(catalog());
    b.set_output(verbatim::recorder::PlaybackBuilder::Output::kPcm);
    (void)b.feed(call().pcap);
    auto built = b.build();
    std::vector<std::vector<int16_t>> out;
    if (!built) return out;
    for (auto& track : built.value().tracks) out.push_back(std::move(track.pcm));
    return out;
  }();
  return t;
}

// An Ogg/Opus file decoded again (opusfile, 48 kHz) against the 8 kHz audio that went in
// (upsampled the same way for every file): the SNR in dB at the alignment that fits best.
double snr_db(const std::string& ogg, const std::vector<int16_t>& input) {
  int err = 0;
  OggOpusFile* f =
      op_open_memory(reinterpret_cast<const unsigned char*>(ogg.data()), ogg.size(), &err);
  if (!f) return 0;
  std::vector<int16_t> d, buf(5760);
  int n;
  while ((n = op_read(f, buf.data(), static_cast<int>(buf.size()), nullptr)) > 0)
    d.insert(d.end(), buf.begin(), buf.begin() + n);
  op_free(f);
  std::vector<int16_t> ref;
  auto up = verbatim::media::Resampler::create(8000, 48000).value();
  up->process(input, ref);
  // The alignment: the lag (±10 ms) with the most correlation over one second of speech.
  int best = 0;
  double best_corr = -1e300;
  for (int lag = -480; lag <= 480; ++lag) {
    double c = 0;
    for (size_t i = 48000; i < 96000 && i + lag < d.size(); ++i) c += double(ref[i]) * d[i + lag];
    if (c > best_corr) best_corr = c, best = lag;
  }
  double sig = 0, noise = 0;
  for (size_t i = 4800; i + 4800 < ref.size() && i + best < d.size(); ++i) {
    const double r = ref[i], e = r - d[i + best];
    sig += r * r;
    noise += e * e;
  }
  return noise > 0 ? 10 * std::log10(sig / noise) : 99;
}

void BM_PlaybackJob(benchmark::State& state) {
  const Call& c = call();
  size_t bytes = 0;
  std::string ogg;
  for (auto _ : state) {
    verbatim::recorder::PlaybackBuilder b(catalog());
    if (!b.feed(c.pcap)) state.SkipWithError("feed");
    auto r = b.build();
    if (!r || r.value().tracks.size() != 2) state.SkipWithError("build");
    bytes = r.value().tracks[0].ogg.size() + r.value().tracks[1].ogg.size();
    ogg = r.value().tracks[0].ogg;
  }
  state.counters["audio_s_per_s"] =
      benchmark::Counter(2.0 * kSeconds, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["ogg_bytes"] = static_cast<double>(bytes);
  state.counters["snr_db"] = snr_db(ogg, timeline_pcm()[0]);
}
BENCHMARK(BM_PlaybackJob)->Unit(benchmark::kMillisecond)->MinTime(3);

// The peer: opusenc on the same two tracks (8 kHz WAV files), its own CPU time (the children's
// rusage) as the iteration's time.
void write_wav(const std::filesystem::path& path, const std::vector<int16_t>& pcm) {
  std::string h = "RIFF";
  auto le = [&h](uint32_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) h.push_back(static_cast<char>(v >> (8 * i)));
  };
  const auto data = static_cast<uint32_t>(pcm.size() * 2);
  le(36 + data, 4);
  h += "WAVEfmt ";
  le(16, 4), le(1, 2), le(1, 2), le(8000, 4), le(16000, 4), le(2, 2), le(16, 2);
  h += "data";
  le(data, 4);
  std::ofstream f(path, std::ios::binary);
  f.write(h.data(), static_cast<std::streamsize>(h.size()));
  f.write(reinterpret_cast<const char*>(pcm.data()), static_cast<std::streamsize>(data));
}

double children_cpu() {
  rusage u{};
  getrusage(RUSAGE_CHILDREN, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

bool run_opusenc(const std::string& in, const std::string& out) {
  const pid_t pid = fork();
  if (pid == 0) {
    execlp("opusenc", "opusenc", "--quiet", "--speech", "--bitrate", "40", in.c_str(), out.c_str(),
           static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
         WEXITSTATUS(status) == 0;
}

void BM_Opusenc(benchmark::State& state) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("verbatim-bench-playback-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const auto& tracks = timeline_pcm();
  for (size_t i = 0; i < tracks.size(); ++i)
    write_wav(dir / ("track" + std::to_string(i) + ".wav"), tracks[i]);
  double cpu = 0;
  for (auto _ : state) {
    const double before = children_cpu();
    for (size_t i = 0; i < tracks.size(); ++i) {
      const auto base = dir / ("track" + std::to_string(i));
      if (!run_opusenc(base.string() + ".wav", base.string() + ".opus"))
        state.SkipWithError("opusenc (Debian opus-tools) did not run");
    }
    const double spent = children_cpu() - before;
    cpu += spent;
    state.SetIterationTime(spent);
  }
  std::ifstream f(dir / "track0.opus", std::ios::binary);
  const std::string ogg((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  state.counters["audio_s_per_s"] =
      cpu > 0 ? 2.0 * kSeconds * static_cast<double>(state.iterations()) / cpu : 0;
  state.counters["ogg_bytes"] =
      static_cast<double>(std::filesystem::file_size(dir / "track0.opus") +
                          std::filesystem::file_size(dir / "track1.opus"));
  state.counters["snr_db"] = snr_db(ogg, tracks[0]);
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_Opusenc)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(5);

// The naive baseline: decode every payload as it comes and encode, one encoder per stream.
void BM_NaiveDecodeEncode(benchmark::State& state) {
  const Call& c = call();
  for (auto _ : state) {
    std::vector<std::unique_ptr<verbatim::media::OggOpusWriter>> w;
    for (int s = 0; s < 2; ++s)
      w.push_back(verbatim::media::OggOpusWriter::create(8000, 40000, {}).value());
    auto dec = verbatim::media::make_decoder("PCMU").value();
    std::vector<int16_t> pcm;
    size_t i = 0;
    for (const auto& p : c.payloads) {
      pcm.clear();
      (void)dec->decode(p, pcm);
      (void)w[i++ % 2]->write(pcm);
    }
    for (auto& x : w) benchmark::DoNotOptimize(x->finish());
  }
  state.counters["audio_s_per_s"] =
      benchmark::Counter(2.0 * kSeconds, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_NaiveDecodeEncode)->Unit(benchmark::kMillisecond)->MinTime(3);

}  // namespace

BENCHMARK_MAIN();
