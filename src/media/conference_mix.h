// ConferenceMix: the audio of a meeting, mixed for each participant without their own voice
// (mix-minus). Each member's RTP payloads (PCMU, PCMA, G.722 or Opus) go through a small jitter
// buffer in sequence order, are decoded and resampled to 16 kHz; a packet that never came is
// concealed (Opus's own concealment; for G.711 and G.722 the last pitch period repeated, after
// G.711 Appendix I: AudioDecoder::conceal).
// Every 20 ms tick() takes one frame from each member, sums them, and gives each member the sum
// less its own frame, resampled to its codec's rate and encoded by its own encoder.
//
//   - Jitter: a member's audio starts playing once 40 ms of it are buffered, and plays at the
//     tick's pace; more than 200 ms buffered (a sender whose clock runs fast, a burst after a
//     stall) drops the oldest, so the delay stays bounded. A packet for audio already played is
//     late: dropped and counted.
//   - Loss: a hole in the sequence with later packets waiting is concealed for one packet's
//     length. A member with nothing buffered is concealed for at most 60 ms (a late packet, a
//     short stall), then silent until it sends again (it stopped: hold, VAD without comfort
//     noise) and buffers 40 ms afresh.
//   - A muted member is heard by no one; it still hears the others.
//
// Hand-written: the codecs, the resampler and the concealment are libraries (audio.h); what is
// left, a per-member jitter buffer and the summing, is the small core every conference bridge
// has (Asterisk's ConfBridge, Janus's AudioBridge, FreeSWITCH's mod_conference) and no Debian
// library offers on its own.
// Threads and ownership: one ConferenceMix per meeting, used by one thread (the gateway's).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "media/audio.h"

namespace verbatim::media {

struct MixMemberStats {
  uint64_t received = 0;   // payloads taken in
  uint64_t late = 0;       // dropped: for audio already played, or a duplicate
  uint64_t concealed = 0;  // packets' worth of audio made up for lost ones
  uint64_t dropped = 0;    // dropped to keep the delay under 200 ms
  uint64_t undecodable = 0;
  uint64_t frames_sent = 0;  // mixed frames encoded for this member
  int level = 0;             // the last frame's peak, 0..32767 (who is speaking)
};

class ConferenceMix {
 public:
  static constexpr int kRate = 16000;
  static constexpr int kFrame = kRate / 50;  // 20 ms
  ConferenceMix();
  ~ConferenceMix();
  ConferenceMix(const ConferenceMix&) = delete;
  ConferenceMix& operator=(const ConferenceMix&) = delete;

  // A member whose RTP carries `encoding` (PCMU, PCMA, G722, opus), in both directions.
  // kAlreadyExists for an id already in; kNotFound for a codec the mix does not take.
  Status add(uint64_t member, const std::string& encoding);
  void remove(uint64_t member);
  void set_muted(uint64_t member, bool muted);
  bool has(uint64_t member) const { return members_.contains(member); }
  size_t size() const { return members_.size(); }

  // One RTP payload of the member's codec, with its packet's sequence number.
  void receive(uint64_t member, uint16_t sequence, std::span<const uint8_t> payload);

  struct Output {
    uint64_t member = 0;
    std::vector<uint8_t> payload;  // 20 ms of the others' mix in the member's codec
  };
  // One 20 ms step: `out` gets a payload for every member (those alone hear silence).
  void tick(std::vector<Output>& out);

  MixMemberStats stats(uint64_t member) const;

 private:
  struct Member;
  void pull(Member& m);
  std::map<uint64_t, std::unique_ptr<Member>> members_;
  std::array<int32_t, kFrame> sum_{};    // scratch: every member's frame summed
  std::array<int16_t, kFrame> mixed_{};  // scratch: the sum less one member's own
};

}  // namespace verbatim::media
