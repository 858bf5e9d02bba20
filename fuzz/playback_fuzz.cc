// The playback job's reading of evidence (recorder/playback.h): a hostile pcap — any headers,
// record lengths, link types, IP/UDP framing — carrying RTP for four streams (PCMU, PCMA, G.722,
// Opus) with arbitrary sequence numbers, timestamps, SSRCs and payloads, fed in two pieces;
// then decoding, mixing and Ogg/Opus encoding. The timeline is bounded to 10 s so a run stays
// short (production: 24 h).
#include <cstddef>
#include <cstdint>
#include <span>

#include <nlohmann/json.hpp>

#include "recorder/playback.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const nlohmann::json catalog = {
      {"media",
       {{{"label", "1"}, {"port", 20000}, {"payloads", {{"0", "PCMU/8000"}, {"101", "x/8000"}}}},
        {{"label", "2"}, {"port", 20002}, {"payloads", {{"8", "PCMA/8000"}}}},
        {{"label", "3"}, {"port", 20004}, {"payloads", {{"9", "G722/8000"}}}},
        {{"label", "4"}, {"port", 20006}, {"payloads", {{"111", "opus/48000/2"}}}}}},
      {"participants",
       {{{"id", "a"}, {"aor", "sip:a@x"}, {"sendsOnLabels", {"1", "3"}}},
        {{"id", "b"}, {"aor", "sip:b@x"}, {"sendsOnLabels", {"4"}}}}}};
  if (size < 1) return 0;
  const size_t split = size > 1 ? data[0] % size : 0;
  std::span<const uint8_t> in(data + 1, size - 1);
  verbatim::recorder::PlaybackBuilder b(catalog, "fuzz", std::chrono::seconds(10));
  const size_t cut = std::min(split, in.size());
  if (!b.feed(in.first(cut))) return 0;
  if (!b.feed(in.subspan(cut))) return 0;
  auto r = b.build();
  if (r) {
    for (const auto& t : r.value().tracks) {
      if (t.ogg.size() < 4) __builtin_trap();  // every file has its Ogg pages
    }
  }
  return 0;
}
