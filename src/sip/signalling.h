// The signalling a call-handling application uses: the seam between the gateway's call logic and
// the SIP user agent. UserAgent is the production implementation; the gateway's unit tests drive
// a fake that records what was asked and hands back events in virtual time. Calls and events are
// on the thread that owns the implementation (the io_context's).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "sip/dialog.h"
#include "sip/message.h"
#include "sip/peer.h"

namespace verbatim::sip {

struct Credentials {
  std::string username;
  std::string password;
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct OutgoingCall {
  Peer next_hop;            // where the INVITE goes (the peer, or an outbound proxy)
  std::string request_uri;  // "sip:bob@example.com"
  std::string from;         // "\"Alice\" <sip:alice@example.com>" (we add the tag)
  std::string to;           // "<sip:bob@example.com>"
  std::string call_id;      // empty: a random one
  std::string content_type = "application/sdp";
  std::string body;    // the offer (SDP, or multipart/mixed for SIPREC)
  HeaderList headers;  // extra headers: Require: siprec, Call-Info, P-Asserted-Identity, ...
  // Feature tags for our Contact in every request of this session that carries one, e.g.
  // ";+sip.src" for a SIPREC recording session (RFC 7866 §6.1.1).
  std::string contact_params;
  // Our Contact's user part (empty: the endpoint's own), e.g. a conference's ("meet-<id>").
  std::string contact_user;
  std::optional<Credentials> credentials;  // to answer 401/407 challenges
  bool session_timer = true;               // offer RFC 4028 session timers
  // A B2BUA passes on the caller's Max-Forwards less one (RFC 3261 §16.6 step 3, so loops
  // through B2BUAs still end); a request we originate starts at 70.
  int max_forwards = 70;
};

// A page-mode MESSAGE (RFC 3428 §4) we send outside any dialog: a user's chat relayed to one of
// the receiver's registrations.
struct OutgoingMessage {
  Peer next_hop;            // where it goes (the registration's source)
  std::string request_uri;  // the registered Contact
  std::string from;         // "\"Alice\" <sip:alice@example.com>" (we add the tag)
  std::string to;           // "<sip:bob@example.com>"
  std::string content_type = "text/plain";
  std::string body;
  HeaderList headers;
  int max_forwards = 70;
};

// The final status of a request we sent inside a dialog (408 for a timeout) and the response
// (null for a timeout).
using RequestDone = std::function<void(int status, const Message* response)>;

class Signalling {
 public:
  struct Handlers {
    // Calls we take.
    std::function<void(uint64_t session, const Message& invite)> on_invite{};
    // A re-INVITE or UPDATE with a body: the answer SDP, or a Error whose status is sent
    // (488). An empty answer says the body held no offer (a SIPREC metadata-only UPDATE): an
    // UPDATE is answered without a body, a re-INVITE with our current SDP.
    std::function<Result<std::string>(uint64_t session, const Message& request)> on_reoffer{};
    // A session that was taken, or placed and answered, is over ("bye", "local", "cancel",
    // "no-ack", "session-timer", "rejected", "transaction-failed", "peer-gone").
    std::function<void(uint64_t session, std::string_view why)> on_ended{};
    std::function<int()> options_status{};  // default 200
    // Extra headers for OPTIONS answers (load; Retry-After with a 503 instead of 30 s).
    std::function<HeaderList()> options_headers{};
    // Calls we place.
    std::function<void(uint64_t session, const Message& response)> on_progress{};  // 1xx
    std::function<void(uint64_t session, const Message& response)> on_answered{};  // 2xx
    // Never answered: the final status (408: no response at all) and the response if any.
    std::function<void(uint64_t session, int status, const Message* response)> on_failed{};
    // Transfers: accept (true: 202) or decline (false: 603) the peer's REFER.
    std::function<bool(uint64_t session, const Message& refer)> on_refer{};
    // The sipfrag status of a NOTIFY about our REFER (100, 180, 200, 486, ...).
    std::function<void(uint64_t session, int status)> on_refer_progress{};
    // An INFO in a dialog (DTMF by SIP INFO, application/dtmf-relay): true when the
    // application answers it (with reply(), perhaps later: a B2BUA relays it and answers with
    // the other party's status); false: 200 here.
    std::function<bool(uint64_t session, uint64_t txn, const Message& info)> on_info{};
    // A MESSAGE in a dialog (chat in a meeting, RFC 3428 §5): true when the application answers
    // it (with reply()); false: 405, as nothing here delivers or keeps it.
    std::function<bool(uint64_t session, uint64_t txn, const Message& message)> on_message{};
    // A SUBSCRIBE in a dialog (a meeting's roster, RFC 4575, in the member's INVITE dialog,
    // RFC 6665 §4.5.2): true when the application answers it (with reply()) and sends the
    // NOTIFYs itself (notify()); false: 405.
    std::function<bool(uint64_t session, uint64_t txn, const Message& subscribe)> on_subscribe{};
    // Requests outside any dialog other than INVITE, CANCEL and ACK (a registrar's REGISTER):
    // true when the application answered it (with reply()); false for the default handling
    // (OPTIONS and INFO answered here, MESSAGE 405, anything else 501).
    std::function<bool(uint64_t txn, const Message& request, const Peer& from)> on_request{};
    // A connection the peer opened and that only it can open again (a browser's WebSocket)
    // has closed: what was registered over it cannot be reached any more.
    std::function<void(const Peer& flow)> on_flow_closed{};
  };

  virtual ~Signalling() = default;

  // Calls we take (extra headers: Call-Info, Reason, ...).
  virtual Status ring(uint64_t session, const HeaderList& headers = {}) = 0;
  virtual Status accept(uint64_t session, std::string_view sdp_answer,
                        const HeaderList& headers = {}) = 0;
  virtual Status reject(uint64_t session, int status, std::string_view reason,
                        const HeaderList& headers = {}) = 0;
  // Calls we place: the session id, or an error when the call's fields do not parse.
  // Answers as a conference focus (RFC 4579 §3): for the whole dialog our Contact names the
  // conference (`conference_user` at our own address) with the isfocus feature tag (RFC 3840),
  // so the caller learns the conference's URI. An endpoint that cannot just accepts.
  virtual Status accept_as_focus(uint64_t session, std::string_view sdp_answer,
                                 std::string_view conference_user, const HeaderList& headers = {}) {
    (void)conference_user;
    return accept(session, sdp_answer, headers);
  }
  virtual Result<uint64_t> invite(OutgoingCall call) = 0;
  virtual Status cancel(uint64_t session) = 0;
  // Sends OPTIONS outside any dialog (a health check of a peer): `done` gets the final status
  // (408 when the transaction timed out) and the response.
  virtual Status options(const Peer& to, std::string_view request_uri, RequestDone done) = 0;
  // Sends a MESSAGE outside any dialog: `done` gets the final status (408 when the transaction
  // timed out) and the response.
  virtual Status send_message(OutgoingMessage message, RequestDone done) = 0;
  // Ends a dialog this UA's process had before it restarted: a BYE built from the saved dialog,
  // sent to `to` (`done` gets the final status; 481 from a peer that forgot it too is fine).
  virtual Status bye_saved(const Dialog::Saved& dialog, const Peer& to, const HeaderList& headers,
                           RequestDone done = nullptr) = 0;
  // Answers a request handed to Handlers::on_request.
  virtual Status reply(uint64_t txn, const Message& request, int status, std::string_view reason,
                       const HeaderList& headers = {}) = 0;
  // Either direction. `headers` go into the BYE (or the rejection), e.g. a Reason.
  virtual Status hangup(uint64_t session, const HeaderList& headers = {}) = 0;
  virtual Status reinvite(uint64_t session, std::string_view sdp_offer,
                          RequestDone done = nullptr) = 0;
  // A re-INVITE whose body is more than the offer (a SIPREC client's offer with its metadata,
  // multipart/mixed): `sdp_offer` is the offer in it, what the session keeps as ours.
  virtual Status reinvite_with_body(uint64_t session, std::string_view sdp_offer,
                                    std::string_view content_type, std::string body,
                                    RequestDone done) = 0;
  virtual Status refer(uint64_t session, std::string_view refer_to, RequestDone done = nullptr) = 0;
  // An UPDATE without an offer (RFC 3311) carrying another body: a SIPREC metadata update
  // (RFC 7866 §7.1.2). `headers`: e.g. its Content-Disposition.
  virtual Status update(uint64_t session, std::string_view content_type, std::string body,
                        const HeaderList& headers = {}, RequestDone done = nullptr) = 0;
  // An INFO in the dialog with this body (RFC 6086): what a B2BUA relays from the other party.
  virtual Status info(uint64_t session, std::string_view content_type, std::string body,
                      RequestDone done = nullptr) = 0;
  // A NOTIFY in the dialog for a subscription the application keeps (RFC 6665): `event` and
  // `state` ("active;expires=3600", "terminated;reason=timeout") go in Event and
  // Subscription-State.
  virtual Status notify(uint64_t session, std::string_view event, std::string_view state,
                        std::string_view content_type, std::string body) = 0;
  // A MESSAGE in the dialog (RFC 3428 §5): a meeting's chat to a member or to a recorder.
  virtual Status message(uint64_t session, std::string_view content_type, std::string body,
                         RequestDone done = nullptr) = 0;
  // Reports the outcome of a REFER we accepted: a NOTIFY with "SIP/2.0 <status> <reason>";
  // a final status (>= 200) ends the implicit subscription.
  virtual Status notify_refer(uint64_t session, int status, std::string_view reason) = 0;
  // Where the session's requests came from (calls we take) or go (calls we place).
  virtual const Peer* peer(uint64_t session) const = 0;
  virtual const Dialog* dialog(uint64_t session) const = 0;
};

}  // namespace verbatim::sip
