// Live listening's reading of the evidence as it grows (media/live_mix.h): a hostile pcap — any
// headers, record lengths, arrival times, IP/UDP framing — carrying RTP for four streams (PCMU,
// PCMA, G.722, Opus) with arbitrary payloads, fed in two pieces, with the frames due asked for
// after each and at a time far ahead (the skip-ahead bound keeps that short).
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "media/live_mix.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using verbatim::media::LiveMix;
  using verbatim::media::LiveStream;
  if (size < 1) return 0;
  // The playback fuzzer's streams, so its seeds serve here too.
  static const std::vector<LiveStream> streams = {
      {"1", 20000, {{0, "PCMU/8000"}, {101, "telephone-event/8000"}}},
      {"2", 20002, {{8, "PCMA/8000"}}},
      {"3", 20004, {{9, "G722/8000"}}},
      {"4", 20006, {{111, "opus/48000/2"}}}};
  auto mix = LiveMix::create(streams, 0, std::chrono::milliseconds(1200));
  if (!mix) __builtin_trap();
  const size_t split = size > 1 ? data[0] % size : 0;
  std::span<const uint8_t> in(data + 1, size - 1);
  const size_t cut = std::min(split, in.size());
  if (!mix.value()->feed(in.first(cut))) return 0;
  (void)mix.value()->frames(int64_t{1'800'000'000} * 1'000'000'000);
  if (!mix.value()->feed(in.subspan(cut))) return 0;
  auto frames = mix.value()->frames(int64_t{4'000'000'000} * 1'000'000'000);
  if (frames && frames.value().size() > 300) __builtin_trap();  // at most the bound's frames
  return 0;
}
