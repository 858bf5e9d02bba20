// Live monitoring: one listener's feed of a recording in progress (media/live_mix.h), for the
// portal's WebSocket GET /api/v1/live/{id}/listen (server.cc upgrades the connection, the router
// decides who may: live_open). The feed reads the recorder's evidence as it is flushed
// (archive::LiveReader) through an archive view of its own, mixes every participant and sends
// 20 ms Opus packets once they are LiveFeed::kDelay old: within about 1.5 s of real time. It only
// listens: nothing is ever sent into the call (no whisper, no barge-in).
// Each listen is in the ledger: access.listen with "event": "start" when it begins and "end" with
// its length when it stops (the listener left, or the call ended).
// Threads and ownership: one thread at a time (the WebSocket's).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "archive/archive.h"
#include "media/live_mix.h"

namespace verbatim::adminapi {

class LiveFeed {
 public:
  // The evidence is flushed once a second; a 20 ms frame goes out once it is this old.
  static constexpr std::chrono::milliseconds kDelay{1200};
  // How often the WebSocket asks for what is due.
  static constexpr std::chrono::milliseconds kTick{100};

  // `recording` must be in progress with its evidence open; logs the listen's start.
  static Result<std::unique_ptr<LiveFeed>> open(std::unique_ptr<archive::Archive> archive,
                                                const std::string& recording,
                                                const std::string& who);
  ~LiveFeed();  // logs the listen's end
  LiveFeed(const LiveFeed&) = delete;
  LiveFeed& operator=(const LiveFeed&) = delete;

  // Sent first, as text: the recording, its participants, policy, the audio's format, the delay.
  const nlohmann::json& header() const { return header_; }
  // The binary messages due now: each a 20 ms Opus packet (16 kHz mono) after 8 bytes, the time
  // its first sample reached the recorder (milliseconds since the epoch, a little-endian double).
  Result<std::vector<std::string>> poll(std::chrono::system_clock::time_point now);
  // The call ended (the recording is no longer in progress) and everything was sent.
  bool ended() const { return ended_; }

 private:
  LiveFeed() = default;
  std::unique_ptr<archive::Archive> archive_;
  std::unique_ptr<archive::LiveReader> evidence_;
  std::unique_ptr<media::LiveMix> mix_;
  std::string recording_, who_;
  nlohmann::json header_;
  std::chrono::steady_clock::time_point started_{}, last_status_{};
  std::chrono::system_clock::time_point ended_at_{};
  bool ending_ = false, ended_ = false;
};

// The streams of a recording's catalog metadata ("media": label, port, payload types).
std::vector<media::LiveStream> live_streams(const nlohmann::json& catalog);

}  // namespace verbatim::adminapi
