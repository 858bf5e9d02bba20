// Small helpers the gateway's files share: SIP header values, SDP and RTP details, the limits
// and texts of the B2BUA. Private to src/gateway/; pure functions, callable from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/ip/udp.hpp>

#include "policy/state.h"
#include "sip/message.h"
#include "sip/peer.h"
#include "sip/sdp.h"

namespace verbatim::gateway::detail {

using boost::asio::ip::udp;
using std::chrono::steady_clock;

// The SRTP suite of our offers to recorders.
inline constexpr const char* kRecorderSuite = "AES_CM_128_HMAC_SHA1_80";

// 3xx redirections followed per call (a forwarding loop ends there).
inline constexpr size_t kMaxRedirects = 5;

// Registrations are saved at most this often (and at a clean stop): phones registered in the
// last seconds before a crash register again on their own.
inline constexpr std::chrono::seconds kRegistrationsSaveInterval{5};

// Media ports held by other processes are skipped, this many times, before a stream fails.
inline constexpr int kBindAttempts = 8;

// A queue round in which no agent answered (or none was reachable) starts again after this.
inline constexpr std::chrono::seconds kQueueRetry{2};

// Warning texts the caller or the parties get.
inline constexpr const char* kNoAgentText = "No agent of the call queue answered";
inline constexpr const char* kRecordingFailedText =
    "There was a problem setting up the recording required by your organisation";
inline constexpr const char* kRecordingLostText =
    "The recording required by your organisation stopped, so the call was ended";

// The INFO body type of the removal warning shown by the web client (Gateway::warn_visibly).
inline constexpr const char* kWarningType = "application/vnd.verbatim.warning+json";

// `s` as a quoted string (RFC 3261 §25.1), CR and LF dropped.
std::string quote(std::string_view s);

// A Reason header value (RFC 3326): SIP;cause=N;text="...".
std::string reason_header(int cause, std::string_view text);

// A port number (1-65535), nothing else.
std::optional<uint16_t> port_number(std::string_view s);

// "host:port" (IPv6 in brackets) -> Peer over UDP.
std::optional<sip::Peer> parse_peer(std::string_view host_port);

// Digits with an optional leading +.
bool is_number(std::string_view s);

// Where an m-line's media goes (its connection address and port).
std::optional<udp::endpoint> media_target(const sip::SessionDescription& sdp,
                                          const sip::SdpMedia& m);

// The peer said it can show the recording indicator itself (RFC 7866 §6.2).
bool record_aware(const sip::Message& m);

// Conference mode: the queue answers the caller before any agent, so each stream is fixed to
// the caller's first codec (and telephone-event), which is all the agents are then offered.
sip::SessionDescription one_codec(sip::SessionDescription sdp);

// The direction the other side of a stream has (sendonly <-> recvonly).
sip::Direction mirror(sip::Direction d);

// Chat (a MESSAGE, RFC 3428, in a meeting or between users) is text, at most this long.
inline constexpr size_t kMaxChatBytes = size_t{16} * 1024;
struct ChatRefusal {
  int status = 0;
  std::string reason, why;
  std::vector<std::pair<std::string, std::string>> headers;
};
// Why a chat MESSAGE's body is not relayed (not text: 415; too long: 413), or nullopt.
std::optional<ChatRefusal> chat_body_refusal(const sip::Message& request);

// The best final status of the callee's registrations that all failed (RFC 3261 §16.7,
// simplified): a 6xx, else the lowest 4xx, else the lowest 5xx.
bool better_status(int candidate, int best);

}  // namespace verbatim::gateway::detail
