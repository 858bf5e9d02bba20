// The defaults of every role's settings, named once: the configuration (config.h) starts from
// them, and so do the roles' own option structs (GatewayOptions, RecorderOptions) that tests
// build directly. docs/configuration.md documents them.
// Threads and ownership: constants.
#pragma once

#include <cstdint>

namespace verbatim::defaults {

// [archive]
inline constexpr int kArchiveFlushIntervalMs = 1000;  // a crash loses at most this much

// [recorder]
inline constexpr const char* kRecorderSipListen = "127.0.0.1:5070";
inline constexpr uint16_t kRecorderRtpPortMin = 20000;
inline constexpr uint16_t kRecorderRtpPortMax = 29999;
inline constexpr int kRecorderMaxSessions = 500;
inline constexpr int64_t kRecorderMinFreeMb = 1024;
inline constexpr int kRecorderRetryAfterS = 30;
inline constexpr int kRecorderMediaTimeoutS = 60;
inline constexpr int kRecorderDrainTimeoutS = 30;

// [gateway]
inline constexpr const char* kGatewaySipListen = "127.0.0.1:5060";
inline constexpr uint16_t kGatewayRtpPortMin = 30000;
inline constexpr uint16_t kGatewayRtpPortMax = 39999;
inline constexpr int kRecordingSetupTimeoutMs = 5000;  // RequiredBeforeCallEstablishment
inline constexpr int kMaxPauseSeconds = 600;  // a paused recording resumes by itself after this
inline constexpr int kHealthCheckIntervalMs = 2000;
inline constexpr int kCallRecordsDays = 400;
inline constexpr bool kRequireSrtp = false;
inline constexpr bool kRecorderSrtp = true;
inline constexpr bool kAllowSdesOverPlainSip = false;
inline constexpr const char* kBannerText =
    "This call is being recorded by your organisation for compliance.";

}  // namespace verbatim::defaults
