// The user agent's session state (private to src/sip/): one call, incoming or outgoing, with
// its dialog, transactions, authentication and session timer; the requests it sends inside the
// dialog; and the helpers user_agent.cc and user_agent_outgoing.cc share. Owned by the
// UserAgent; only its io_context thread touches them.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "sip/user_agent.h"

namespace verbatim::sip {

struct UserAgent::Session {
  uint64_t id = 0;
  bool outgoing = false;
  enum class State { kIncoming, kCalling, kAnswered, kConfirmed } state = State::kIncoming;
  Peer peer;  // where in-dialog requests go
  std::string local_tag;
  std::optional<Dialog> dialog;
  std::string local_sdp;   // the last SDP we sent (answer, or our offer)
  HeaderList bye_headers;  // extra headers for our BYE (a Reason)
  // Calls we take.
  uint64_t invite_txn = 0;
  Message invite = Message::request("", "");  // the INVITE received, or the last one sent
  std::optional<Message> last_2xx;
  Millis retransmit_interval{0};
  Millis waited{0};
  uint64_t retransmit_timer = 0;
  // Calls we place.
  OutgoingCall call;
  std::string call_id;
  uint32_t cseq = 1;
  std::chrono::seconds session_expires{0};  // what we ask for
  bool provisional_seen = false;
  bool cancel_pending = false;
  bool cancelled = false;
  bool min_se_retried = false;
  int auth_attempts = 0;
  std::string auth_header;  // "Authorization" or "Proxy-Authorization"
  std::string challenge;    // the challenge we answer in every request we send
  uint32_t nonce_count = 0;
  bool reinvite_pending = false;
  // Both.
  uint64_t session_timer = 0;
  SessionTimer timer;
  bool we_refresh = false;
  bool refer_subscription = false;  // we accepted a REFER and owe NOTIFYs
};

// A request to send inside a dialog.
struct UserAgent::InDialog {
  std::string method;
  std::string content_type;
  std::string body;
  HeaderList headers;
  int attempt = 0;
};

namespace detail {

// The parts of a challenge we answer: the first WWW-/Proxy-Authenticate value with an
// algorithm we know (servers list SHA-256 before MD5, RFC 8760 §2.4).
std::optional<std::pair<std::string, std::string>> pick_challenge(const Message& r);

bool challenge_is_stale(std::string_view challenge);

// The next hop for a URI whose host is an IP address (else nullopt: keep the current one).
std::optional<Peer> hop_for(std::string_view uri_text, const Peer& current);

}  // namespace detail

}  // namespace verbatim::sip
