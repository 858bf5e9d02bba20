// UserAgent: the SIP user agent core on top of the transaction layer (RFC 3261 §8, §12–§15,
// RFC 3311 UPDATE, RFC 3515 REFER with RFC 3420 sipfrag NOTIFYs, RFC 4028 session timers),
// for both directions, because every Verbatim role needs both on one transaction layer: the
// recorder takes calls, the SIPREC client places them, and the gateway (a B2BUA) does both.
// It decides nothing about media or policy; the application does, through the Handlers.
//
// Taking calls (UAS):
//   - new INVITEs go to on_invite(); the application rings, accepts with an SDP answer, or
//     rejects (with extra headers such as Retry-After). The 2xx is retransmitted until the ACK
//     (§13.3.1.4); without an ACK within 64*T1 the session ends ("no-ack") and a BYE is sent.
//   - CANCEL of a ringing INVITE: 200 to the CANCEL, 487 to the INVITE, on_ended("cancel").
// Placing calls (UAC):
//   - invite() sends an INVITE (with Supported: timer and Session-Expires unless switched
//     off); provisional responses go to on_progress(), the 2xx is ACKed (again for every
//     retransmission) and goes to on_answered(); a final failure, a timeout (408) or a
//     cancelled call (487) goes to on_failed(). A 401/407 is answered once per challenge
//     with the call's credentials (RFC 8760: SHA-256 or MD5, whichever the server offers
//     first that we know); a 422 is retried once with the peer's Min-SE.
//   - cancel() sends CANCEL as soon as the peer has sent a provisional response (§9.1); a 2xx
//     that crosses the CANCEL is ACKed and ended with a BYE. A second 2xx from another fork
//     (a different To tag) is ACKed and ended with a BYE (§13.2.2.4).
// In either direction, once a dialog exists:
//   - re-INVITE / UPDATE from the peer: CSeq order and target refresh through the Dialog; an
//     offer goes to on_reoffer() for the answer (or a status such as 488); a refresh without
//     an offer repeats our last SDP. reinvite() sends our own offer (hold, codec change).
//   - BYE: 200 and on_ended("bye"). hangup() sends our own BYE (or CANCEL, or rejects).
//   - REFER (transfer): on_refer() accepts (202, then NOTIFY "100 Trying" at once and the
//     application's notify_refer() for the outcome) or declines (603). refer() sends ours;
//     the peer's NOTIFYs go to on_refer_progress() with the sipfrag status.
//   - a 481 or 408 to any in-dialog request we send ends the session (§12.2.1.2).
//   - session timers: Session-Expires / Min-SE negotiated (422 when too small); the refresher
//     sends an UPDATE at half the interval; the other side ends the session with a BYE
//     min(32 s, interval/3) before it would expire (RFC 4028 §10).
// Outside dialogs: OPTIONS gets the status options_status() gives (200, or 503 when the
// application is full) with Allow, Accept and Supported; INFO: 200; MESSAGE, in a dialog or not,
// that the application does not take (Handlers::on_request, on_message): 405 with Allow (nothing
// delivers or keeps it: a 200 would tell the sender it was delivered);
// anything else 501 with Allow; a request with a To tag for no dialog we know: 481.
// Responses and in-dialog requests of calls we took go back to where the INVITE came from
// (symmetric signalling, what SBCs expect); those of calls we placed follow the dialog's route
// set or remote target when it is an IP address, else the next hop the INVITE used.
// Threads and ownership: the UserAgent owns its sessions and dialogs and borrows the transaction
// layer and timers; one thread, the io_context's.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sip/dialog.h"
#include "sip/signalling.h"
#include "sip/transaction.h"

namespace verbatim::sip {

struct UaOptions {
  std::string contact;      // "<sip:srs@192.0.2.7:5060>"
  std::string via_sent_by;  // "192.0.2.7:5060", for the requests we send
  // For the other transports we listen on ("TLS", "WS", "WSS"), their own Contact and Via
  // sent-by: {"<sip:srs@192.0.2.7:5061;transport=tls>", "192.0.2.7:5061"}.
  struct Listening {
    std::string contact;
    std::string via_sent_by;
  };
  std::map<std::string, Listening> listening;
  std::string allow = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REFER, NOTIFY";
  std::string accept = "application/sdp, application/rs-metadata+xml, multipart/mixed";
  SessionTimerPolicy timers;
  TimerConfig t;  // T1/T2 for the 2xx retransmission and the ACK wait
};

class UserAgent final : public Signalling {
 public:
  UserAgent(TransactionLayer& layer, TimerService& timers, UaOptions options, Handlers handlers);
  ~UserAgent() override;
  UserAgent(const UserAgent&) = delete;
  UserAgent& operator=(const UserAgent&) = delete;

  // Wire these to the TransactionLayer callbacks.
  void on_request(uint64_t txn, const Message& request, const Peer& from, uint64_t cancels);
  void on_stray(const Message& message, const Peer& from);
  void on_server_failed(uint64_t txn, std::string_view why);
  // A connection the peer opened and we cannot open again (a browser's WebSocket) has closed:
  // its sessions are over ("peer-gone"), and Handlers::on_flow_closed is told.
  void flow_closed(const Peer& flow);

  // Calls we take (extra headers: Call-Info, Reason, ...).
  Status ring(uint64_t session, const HeaderList& headers = {}) override;
  Status accept(uint64_t session, std::string_view sdp_answer,
                const HeaderList& headers = {}) override;
  Status reject(uint64_t session, int status, std::string_view reason,
                const HeaderList& headers = {}) override;
  Status accept_as_focus(uint64_t session, std::string_view sdp_answer,
                         std::string_view conference_user, const HeaderList& headers = {}) override;

  // Calls we place: the session id, or an error when the call's fields do not parse.
  Result<uint64_t> invite(OutgoingCall call) override;
  Status cancel(uint64_t session) override;

  // Sends OPTIONS outside any dialog (a health check of a peer): `done` gets the final status
  // (408 when the transaction timed out) and the response.
  Status options(const Peer& to, std::string_view request_uri, RequestDone done) override;
  Status send_message(OutgoingMessage message, RequestDone done) override;

  // Ends a dialog this UA's process had before it restarted: a BYE built from the saved dialog,
  // sent to `to` (`done` gets the final status; 481 from a peer that forgot it too is fine).
  Status bye_saved(const Dialog::Saved& dialog, const Peer& to, const HeaderList& headers,
                   RequestDone done = nullptr) override;

  // Answers a request handed to Handlers::on_request.
  Status reply(uint64_t txn, const Message& request, int status, std::string_view reason,
               const HeaderList& headers = {}) override;

  // Either direction. `headers` go into the BYE (or the rejection), e.g. a Reason.
  Status hangup(uint64_t session, const HeaderList& headers = {}) override;
  Status reinvite(uint64_t session, std::string_view sdp_offer,
                  RequestDone done = nullptr) override;
  Status reinvite_with_body(uint64_t session, std::string_view sdp_offer,
                            std::string_view content_type, std::string body,
                            RequestDone done) override;
  Status refer(uint64_t session, std::string_view refer_to, RequestDone done = nullptr) override;
  // An UPDATE without an offer (RFC 3311) carrying another body: a SIPREC metadata update
  // (RFC 7866 §7.1.2). `headers`: e.g. its Content-Disposition.
  Status update(uint64_t session, std::string_view content_type, std::string body,
                const HeaderList& headers = {}, RequestDone done = nullptr) override;
  Status info(uint64_t session, std::string_view content_type, std::string body,
              RequestDone done = nullptr) override;
  Status message(uint64_t session, std::string_view content_type, std::string body,
                 RequestDone done = nullptr) override;
  Status notify(uint64_t session, std::string_view event, std::string_view state,
                std::string_view content_type, std::string body) override;
  // Reports the outcome of a REFER we accepted: a NOTIFY with "SIP/2.0 <status> <reason>";
  // a final status (>= 200) ends the implicit subscription.
  Status notify_refer(uint64_t session, int status, std::string_view reason) override;

  size_t sessions() const { return sessions_.size(); }
  // Where the session's requests came from (calls we take) or go (calls we place).
  const Peer* peer(uint64_t session) const override;
  const Dialog* dialog(uint64_t session) const override;

 private:
  struct Session;
  struct InDialog;
  Session* find(uint64_t session);
  Session* by_dialog(const Message& request);
  void on_in_dialog_request(Session& s, uint64_t txn, const Message& req);
  void on_invite_response(uint64_t session, ClientOutcome o, const Message* r);
  void on_answer(Session& s, const Message& r);
  Status send_invite(Session& s);
  void send_cancel(Session& s);
  void ack_and_bye_fork(Session& s, const Message& r);
  Status send_in_dialog(Session& s, InDialog what, RequestDone done);
  void send_ack(Session& s, uint32_t cseq);
  void end(uint64_t session, std::string_view why, bool send_bye);
  void fail(uint64_t session, int status, const Message* r);
  void retransmit_2xx(uint64_t session);
  void arm_session_timer(Session& s);
  void respond(uint64_t txn, const Message& request, int status, std::string_view reason);
  std::string via(const Peer& to) const;
  std::string contact_of(const Session& s) const;
  std::string session_expires(const Session& s, bool in_request) const;
  void note_dialog(Session& s);
  void authorize(Session& s, Message& m);

  TransactionLayer& layer_;
  TimerService& timers_;
  UaOptions options_;
  Handlers handlers_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::unique_ptr<Session>> sessions_;
  std::map<std::string, uint64_t> by_dialog_id_;  // Dialog::id() -> session
  std::map<uint64_t, uint64_t> by_txn_;           // INVITE server transaction -> session
};

// The status in a message/sipfrag body ("SIP/2.0 180 Ringing"), or 0.
int sipfrag_status(std::string_view body);

}  // namespace verbatim::sip
