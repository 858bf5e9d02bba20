// The contract between our gateway (the recording client) and our recorder, beyond RFC 7865
// metadata: what the gateway knows about a recording session that the recorder's catalog keeps
// for retention rules and search — the recording application, the policy, the call, the recorded
// user's groups — carried in X-Verbatim-* headers of the SIPREC INVITE, defined here once for
// both sides.
//
// Trust: anyone who can reach a recorder can write such headers, and they decide retention (a
// group with a shorter period). So the gateway signs them: X-Verbatim-Signature carries a time
// and an HMAC-SHA-256, under a key both sides share (gateway.recorder_key_file /
// recorder.gateway_key_file; by default <data_dir>/gateway-recorder.key, created by whichever
// role starts first), over the request's Call-ID, the time and every X-Verbatim header. The
// recorder takes the headers only when the signature verifies and is at most five minutes old;
// otherwise it ignores all of them and says why (docs/recorder.md). Pure functions, no state.
// Threads and ownership: pure functions over values and a key the caller owns; any thread.
#pragma once

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "sip/message.h"
#include "sip/user_agent.h"

namespace verbatim::siprec {

inline constexpr const char* kApplicationIdHeader = "X-Verbatim-Application-Id";
inline constexpr const char* kPolicyHeader = "X-Verbatim-Policy";
inline constexpr const char* kCallIdHeader = "X-Verbatim-Call-Id";
inline constexpr const char* kGroupsHeader = "X-Verbatim-Groups";
inline constexpr const char* kSignatureHeader = "X-Verbatim-Signature";

using GatewayKey = std::array<uint8_t, 32>;

struct GatewayContext {
  std::string application_id;       // the recording application (ApplicationId)
  std::string policy;               // the recorded party's effective policy
  std::string call_id;              // the call's Call-ID at the gateway (the caller's)
  std::vector<std::string> groups;  // the recorded user's groups: display names and ObjectIds
  bool operator==(const GatewayContext&) const = default;
};

// The headers for a SIPREC INVITE whose Call-ID is `sip_call_id`, signed at `now`.
sip::HeaderList context_headers(const GatewayContext& context, std::string_view sip_call_id,
                                const GatewayKey& key, std::chrono::system_clock::time_point now);

struct ContextReading {
  std::optional<GatewayContext> context;  // set when the headers are there and trusted
  std::string ignored;  // why headers that were there were ignored (empty: none, or trusted)
};
// What a recorder may take from `request`: the context when the signature verifies under `key`
// (no key configured: never) and is fresh.
ContextReading read_context(const sip::Message& request, const std::optional<GatewayKey>& key,
                            std::chrono::system_clock::time_point now);

// The key file: 64 hex digits, owner-only; created (0600) when absent and `create`.
Result<GatewayKey> load_gateway_key(const std::string& path, bool create);

}  // namespace verbatim::siprec
