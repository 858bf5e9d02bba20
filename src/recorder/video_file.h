// Playback files for video: one recorded video stream (a meeting member's camera or screen
// share, or a video call's) as a file a browser or a media player opens, muxed without
// re-encoding by libavformat: VP8 into WebM, H.264 into MP4 (fragmented, so it is written in
// one pass to memory).
//
// The frames come from the stream's RTP packets (one SSRC, in sequence order): VP8 payloads
// without their descriptors (RFC 7741), H.264 NAL units as an Annex B byte stream (RFC 6184:
// single NAL units, STAP-A, FU-A). A frame is the packets of one RTP timestamp. After a lost
// packet nothing is kept until the next keyframe (a decoder could only show garbage), and the
// file starts at the first keyframe; what was left out is counted. Timestamps are the RTP
// timestamps (90 kHz), offset so the first frame is where it falls on the recording's timeline.
//
// Hand-written: the depacketizing (libavformat's RTP demuxer wants an SDP and a socket, not
// packets from evidence). The container is libavformat's.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace verbatim::recorder {

struct VideoPacket {
  int64_t sequence = 0;   // unwrapped
  int64_t timestamp = 0;  // unwrapped, 90 kHz
  bool marker = false;
  std::span<const uint8_t> payload;
};

struct VideoFile {
  std::string format;  // "video/webm; codecs=vp8", "video/mp4; codecs=avc1"
  std::string bytes;
  int width = 0, height = 0;
  uint64_t frames = 0;       // in the file
  uint64_t keyframes = 0;    // of them
  uint64_t frames_lost = 0;  // left out: before the first keyframe, or after a loss
  double duration_s = 0;     // from the first frame to the last
};

// Whether `encoding` (an rtpmap name) is one mux_video takes.
bool muxable_video(std::string_view encoding);

// `packets`: one SSRC's, in sequence order, duplicates dropped. `offset_ns`: where the first
// packet falls on the recording's timeline. kNotFound when no keyframe is in them.
Result<VideoFile> mux_video(std::string_view encoding, std::span<const VideoPacket> packets,
                            int64_t offset_ns);

}  // namespace verbatim::recorder
