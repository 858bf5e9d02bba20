// Playback files from a recording's evidence: one Ogg/Opus file per participant (and one video
// file per VP8 or H.264 stream, video_file.h), every file on
// the recording's one timeline (they start at the same instant, the first media packet of the
// recording, and last to its last), with silence wherever that participant sent nothing or
// packets were lost. Made after the call by the playback job (playback_jobs.h), never live.
//
// How packets become a timeline:
//   - the evidence (pcap) is read back; a packet belongs to the stream whose port it arrived
//     on (the catalog's "media" entries: label, port, payload types, since when);
//   - per stream and SSRC: sequence numbers and timestamps are unwrapped, packets put in
//     sequence order, duplicates dropped (reordering and the sequence wrap undone);
//   - each run of packets whose timestamps follow the arrival times (a "segment": a new one
//     after an SSRC change, a timestamp jump of more than a second, or a codec change) is
//     anchored at its least-delayed packet, so network jitter does not move the audio;
//   - payloads are decoded (PCMU, PCMA, G.722, Opus; telephone events, comfort noise and
//     codecs we cannot decode are left out and counted), resampled to the track's rate (the
//     highest any of its codecs has), and mixed where one participant sends on several
//     streams;
//   - participants come from the SIPREC metadata ("sendsOnLabels"); participants sending on
//     exactly the same streams share one file; a stream nobody is named for gets a file of
//     its own.
// Memory: the payloads of the recording (as the evidence), plus one encoder per track.
// Threads and ownership: a PlaybackBuilder borrows the archive and owns its decoders and output
// file; it runs on a playback job's thread, off the live path.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "media/pcap.h"
#include "recorder/video_file.h"

namespace verbatim::recorder {

struct PlaybackTrack {
  std::string name;                       // "Alice <sip:alice@example.com>", or "stream 1"
  std::vector<std::string> participants;  // SIPREC participant ids (may be empty)
  std::vector<std::string> aors;
  std::vector<std::string> labels;  // the streams mixed into it
  int sample_rate = 0;
  double duration_s = 0;
  uint64_t packets = 0;      // decoded into the track
  uint64_t not_decoded = 0;  // payloads left out (telephone events, comfort noise, unknown)
  uint64_t decode_errors = 0;
  std::string ogg;           // the Ogg/Opus file (Output::kOgg)
  std::vector<int16_t> pcm;  // the samples at sample_rate (Output::kPcm)
};

// A video stream's playback file (video_file.h): a member's camera or screen share.
struct PlaybackVideo {
  std::string name;  // whose, as for audio tracks
  std::vector<std::string> participants, aors, names;
  std::string label, encoding;
  uint32_t ssrc = 0;
  VideoFile file;
};

struct PlaybackResult {
  std::vector<PlaybackTrack> tracks;
  int64_t timeline_start_ns = 0;  // the instant every track starts at (Unix time)
  double duration_s = 0;
  uint64_t packets = 0;          // RTP packets in the evidence on a known stream
  uint64_t unknown_port = 0;     // packets on no stream the catalog names
  uint64_t out_of_span = 0;      // packets further than max_span from the first
  uint64_t truncated_bytes = 0;  // a record cut short at the end (interrupted recording)
  // Participants or streams with no decodable audio at all (no file is made for them).
  std::vector<std::string> without_audio;
  // Video streams in VP8 or H.264, one file each (Output::kOgg only), and those that gave none.
  std::vector<PlaybackVideo> videos;
  std::vector<std::string> without_video;
};

class PlaybackBuilder {
 public:
  // `catalog`: the recording's catalog metadata ("media", "participants"). Packets that
  // arrived more than `max_span` away from the first one are left out and counted (the archive
  // authenticates the evidence, so only a bug could put them there; the bound keeps a job from
  // encoding years of silence).
  explicit PlaybackBuilder(nlohmann::json catalog, std::string recording_id = "",
                           std::chrono::seconds max_span = std::chrono::hours(24));
  ~PlaybackBuilder();
  PlaybackBuilder(const PlaybackBuilder&) = delete;
  PlaybackBuilder& operator=(const PlaybackBuilder&) = delete;
  // What build() makes of each track: an Ogg/Opus file (playback), or its samples (for
  // transcription, which wants the audio as decoded, not as re-encoded).
  enum class Output { kOgg, kPcm };
  void set_output(Output output);
  // The evidence, in pieces of any size.
  Status feed(std::span<const uint8_t> evidence);
  // Decodes, mixes and encodes. Call once, after the whole evidence was fed. `cancel` (if
  // given) is checked as it goes: once set, the build stops with kFailedPrecondition.
  Result<PlaybackResult> build(const std::atomic<bool>* cancel = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace verbatim::recorder
