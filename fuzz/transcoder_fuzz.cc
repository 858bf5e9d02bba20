// libFuzzer target: the transcoder (media/transcoder.h) takes RTP from the network into libopus
// and spandsp. The input is a direction byte, then packets, each a 2-byte length and that many
// bytes. Whatever comes in, what goes out is RTP of the target's payload type, one 20 ms frame
// a packet (G.711: 160 bytes), never more packets than 20 ms frames were decoded or concealed.
#include <cstdint>
#include <span>
#include <vector>

#include "media/rtp.h"
#include "media/transcoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace verbatim::media;
  if (size < 1) return 0;
  const bool to_g711 = (data[0] & 1) != 0;
  const Transcoder::Codec opus{"opus", 111}, pcmu{"PCMU", 0};
  auto t = to_g711 ? Transcoder::create(opus, pcmu) : Transcoder::create(pcmu, opus);
  if (!t) __builtin_trap();
  std::vector<std::vector<uint8_t>> out;
  size_t at = 1;
  while (at + 2 <= size) {
    const size_t n =
        std::min<size_t>(static_cast<size_t>(data[at] << 8 | data[at + 1]), size - at - 2);
    t.value()->transcode(std::span<const uint8_t>(data + at + 2, n), out);
    at += 2 + n;
  }
  for (const auto& p : out) {
    auto rtp = parse_rtp(p);
    if (!rtp) __builtin_trap();
    if (rtp.value().payload_type != (to_g711 ? 0 : 111)) __builtin_trap();
    if (to_g711 && rtp.value().payload.size() != 160) __builtin_trap();
  }
  return 0;
}
