// Live listening: a recording in progress, heard in a browser within about 1.5 s. The recorder's
// evidence (pcap, flushed once a second: archive::LiveReader) is fed in as it grows; every RTP
// packet is decoded (PCMU, PCMA, G.722, Opus), resampled to 16 kHz and placed on the call's
// clock by its arrival time; every participant's stream is summed into one mono mix, which comes
// out as 20 ms Opus packets (libopus, 24 kbit/s) once each 20 ms is `delay` old, so audio that
// arrives up to `delay` late (the evidence's flush interval) is still in the mix, and a gap
// (hold, loss, a listener joining) is silence, never a stall.
//
// Placement: a stream's packets follow one another (the sample after the last), unless one
// arrives more than 200 ms away from where that would put it (a gap, a new source): then it is
// placed at its arrival. Packets for frames already sent are dropped and counted.
// Hand-written: mixing decoded RTP by arrival time for a listener is our own small job; the
// codecs are libraries (audio.h).
// Threads and ownership: one LiveMix per listener, used by one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "media/audio.h"
#include "media/pcap.h"

struct OpusEncoder;

namespace verbatim::media {

struct LiveStream {
  std::string label;
  uint16_t port = 0;                    // where the recorder received it (the pcap's to-port)
  std::map<int, std::string> payloads;  // payload type -> "PCMU/8000", "opus/48000/2", ...
};

struct LiveFrame {
  int64_t capture_ns = 0;  // when the first of its samples reached the recorder (Unix time)
  std::vector<uint8_t> opus;
  bool sound = false;  // any sample above 1% of full scale
};

class LiveMix {
 public:
  static constexpr int kRate = 16000;
  static constexpr int kFrame = kRate / 50;  // 20 ms
  // `join_ns`: when the listener joined; evidence from before (join - delay) is skipped.
  static Result<std::unique_ptr<LiveMix>> create(std::vector<LiveStream> streams, int64_t join_ns,
                                                 std::chrono::milliseconds delay);
  ~LiveMix();
  LiveMix(const LiveMix&) = delete;
  LiveMix& operator=(const LiveMix&) = delete;
  // The evidence as it grows, in pieces of any size.
  Status feed(std::span<const uint8_t> pcap);
  // The frames due by `now_ns` (each ends at least `delay` before it), in order.
  Result<std::vector<LiveFrame>> frames(int64_t now_ns);
  uint64_t decoded() const { return decoded_; }
  uint64_t late() const { return late_; }

 private:
  struct Stream {
    LiveStream spec;
    std::map<int, std::unique_ptr<AudioDecoder>> decoders;
    std::map<int, std::unique_ptr<Resampler>> resamplers;  // by decoded rate
    std::optional<int64_t> cursor;  // the next sample's place in the mix (none: not started)
  };
  LiveMix() = default;
  void place(Stream& s, const PcapRecord& r);
  // 62,500 ns per sample at 16 kHz; dividing first keeps any pcap time from overflowing.
  int64_t sample_at(int64_t ns) const { return (ns - origin_ns_) / (1'000'000'000 / kRate); }

  std::vector<Stream> streams_;
  PcapReader reader_;
  int64_t join_ns_ = 0, origin_ns_ = -1;
  int64_t delay_ns_ = 0;
  int64_t next_frame_ = 0;                       // the next frame to send
  std::map<int64_t, std::vector<int32_t>> mix_;  // frame -> its summed samples
  ::OpusEncoder* enc_ = nullptr;
  uint64_t decoded_ = 0, late_ = 0;
};

}  // namespace verbatim::media
