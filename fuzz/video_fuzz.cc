// libFuzzer target: video forwarding (media/video.h). The keyframe tests of both codecs and the
// RTCP feedback reader take any bytes without reading past them; a receiver's StreamSwitch fed
// the input as packets of two senders never sends a packet other than its own SSRC's, with our
// payload type and the datagram's length.
#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "media/rtp.h"
#include "media/video.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace verbatim::media;
  const Bytes in(data, size);
  (void)video_keyframe("VP8", in);
  (void)video_keyframe("H264", in);
  for (uint32_t ssrc : keyframe_requests(in)) (void)ssrc;
  // The input as packets: a length byte, then that many bytes; each from sender 1 or 2 in turn.
  StreamSwitch view(0x5eed, 1, 1);
  std::vector<uint8_t> out;
  uint64_t sender = 1;
  for (size_t i = 0; i < size;) {
    const size_t n = std::min<size_t>(data[i], size - i - 1);
    const Bytes packet(data + i + 1, n);
    i += n + 1;
    if (packet.size() > 2 && packet[0] == 0xff) view.want(packet[1] % 3);
    auto rtp = parse_rtp(packet);
    if (!rtp) continue;
    const bool key = video_keyframe("VP8", rtp.value().payload);
    if (view.forward(sender, rtp.value(), packet, key, 100, out)) {
      auto sent = parse_rtp(out);
      if (!sent || sent.value().ssrc != 0x5eed || sent.value().payload_type != 100 ||
          out.size() != packet.size()) {
        __builtin_trap();
      }
    }
    sender = sender == 1 ? 2 : 1;
  }
  return 0;
}
