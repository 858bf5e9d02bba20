// Transcoding one direction of a call's audio, for the parties that share no codec: a browser
// or softphone that offers only Opus, and a phone with only G.711 (the gateway adds G.711 to
// the callee's offer and, when the callee takes it, transcodes both ways).
// Each RTP packet of the source codec is decoded, resampled where the two codecs' rates differ
// (Opus is decoded and encoded at the G.711 or G.722 rate itself, so Opus <-> G.711 needs no
// resampling), and encoded in 20 ms payloads of the target codec, under an RTP stream of the
// transcoder's own: its SSRC, sequence numbers and timestamps (RFC 3550 §7.2, a translator
// that changes the encoding), the marker bit kept. A short gap in the source's sequence numbers
// is concealed so the target's timing stays whole; other payload types (telephone-event,
// comfort noise) are not carried across.
// Codecs are media/audio.h's (spandsp, libopus, speexdsp).
// Threads and ownership: one Transcoder per direction of a stream, used on its relay's thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "media/audio.h"

namespace verbatim::media {

class Transcoder {
 public:
  struct Codec {
    std::string encoding;  // PCMU, PCMA, G722 or opus
    uint8_t payload_type = 0;
  };
  // kNotFound when either codec cannot be decoded or encoded.
  static Result<std::unique_ptr<Transcoder>> create(const Codec& from, const Codec& to);

  // One RTP packet of the source in; the packets to send (none, while a 20 ms frame is not
  // full yet) appended to `out`.
  void transcode(std::span<const uint8_t> rtp, std::vector<std::vector<uint8_t>>& out);

  uint64_t packets_in() const { return packets_in_; }
  uint64_t packets_out() const { return packets_out_; }
  // Not of the source's payload type, or not decodable.
  uint64_t dropped() const { return dropped_; }

 private:
  Transcoder() = default;
  Codec from_, to_;
  std::unique_ptr<AudioDecoder> decoder_;
  std::unique_ptr<AudioEncoder> encoder_;
  std::unique_ptr<Resampler> resampler_;  // null: the decoder gives the encoder's rate
  size_t frame_ = 160;                    // samples in 20 ms at the encoder's rate
  size_t source_frame_ = 160;             // samples in 20 ms at the decoder's rate
  uint32_t ticks_ = 160;                  // target RTP clock ticks per frame
  std::vector<int16_t> decoded_, pcm_;
  std::vector<uint8_t> payload_;
  bool have_seq_ = false, marker_ = false;
  uint16_t last_seq_ = 0;
  uint16_t seq_ = 0;
  uint32_t timestamp_ = 0, ssrc_ = 0;
  uint64_t packets_in_ = 0, packets_out_ = 0, dropped_ = 0;
};

}  // namespace verbatim::media
