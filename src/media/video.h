// Video forwarding without transcoding, as a selective forwarding unit does it: telling a
// keyframe from the RTP payload (VP8, RFC 7741; H.264, RFC 6184), asking a sender for one with
// RTCP feedback (PLI, RFC 4585 §6.3.1; FIR, RFC 5104 §4.3.1), reading those requests from a
// receiver's RTCP, and switching what one receiver sees between senders (StreamSwitch).
//
// A receiver sees one stream per video line, under one SSRC of ours, whose sequence numbers
// and timestamps run on across switches: a SIP video phone decodes one stream per m-line and
// would show garbage if the senders' packets were interleaved, or if a switch landed between
// keyframes. So a switch waits for the new sender's next keyframe (which the gateway asks for),
// and until then the receiver keeps seeing the old one.
//
// Hand-written: what is needed is a few bit fields of the payload descriptors and of RTCP
// feedback; the libraries that know them (libavformat, libwebrtc, GStreamer) own the whole
// media pipeline and would decode nothing here anyway. Views into the caller's datagram; no
// allocation per packet.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "media/rtp.h"

namespace verbatim::media {

// The length of a VP8 payload descriptor (RFC 7741 §4.2) at the start of `payload`: where the
// VP8 data begins. 0 when the payload is too short to hold it and some data.
size_t vp8_descriptor_size(Bytes payload);

// Whether an RTP payload starts a keyframe: a VP8 partition 0 start with the P bit clear, or
// an H.264 IDR slice or sequence parameter set (alone, in a STAP-A, or a FU-A's first fragment).
// Any other encoding, or a payload too short to tell: false.
bool video_keyframe(std::string_view encoding, Bytes payload);

// The media SSRCs a compound RTCP packet asks keyframes of: each PLI's media source and each
// FIR entry's SSRC. What cannot be parsed asks for nothing.
std::vector<uint32_t> keyframe_requests(Bytes rtcp);

// A compound RTCP packet asking `media` for a keyframe, from `sender`: an empty receiver report
// (RFC 3550 §6.1: a compound packet starts with one), then a PLI, or with `fir` a FIR with
// sequence number `fir_seq` (one more for each new request, RFC 5104 §4.3.1.1).
void write_keyframe_request(std::vector<uint8_t>& out, uint32_t sender, uint32_t media, bool fir,
                            uint8_t fir_seq);

// What one receiver sees on one video line. Senders are named by the caller (any number but 0,
// which is none). Packets of the shown sender are rewritten to the receiver's SSRC and payload
// type, with sequence numbers and timestamps that continue from the previous sender's.
class StreamSwitch {
 public:
  StreamSwitch(uint32_t ssrc, uint16_t first_sequence, uint32_t first_timestamp)
      : ssrc_(ssrc), next_seq_(first_sequence), last_ts_(first_timestamp) {}

  // Shows `sender` from its next keyframe on; until then the one shown stays. 0: show nothing.
  void want(uint64_t sender);
  uint64_t shown() const { return shown_; }
  uint64_t wanted() const { return wanted_; }
  uint32_t ssrc() const { return ssrc_; }
  uint64_t switches() const { return switches_; }

  // A packet `sender` sent (`datagram`, parsed as `packet`): true with `out` the packet to send
  // this receiver; false when it is not for this receiver now (another sender is shown, the
  // wanted one has not sent a keyframe yet, or it is from before the switch).
  bool forward(uint64_t sender, const RtpPacket& packet, Bytes datagram, bool keyframe,
               uint8_t payload_type, std::vector<uint8_t>& out);

 private:
  uint32_t ssrc_;
  uint64_t shown_ = 0, wanted_ = 0, switches_ = 0;
  uint16_t next_seq_;  // the next sequence number we send
  uint32_t last_ts_;   // the last timestamp we sent
  uint16_t seq_delta_ = 0, first_in_seq_ = 0;
  uint32_t ts_delta_ = 0;
};

}  // namespace verbatim::media
