// UserAgentServer: the UAS core on top of the transaction layer (RFC 3261 §8.2, §12–§15,
// RFC 3311 UPDATE, RFC 4028 session timers) — what a server that takes calls (the recorder)
// needs, without deciding what to do with them:
//   - new INVITEs go to on_invite(); the application rings, accepts with an SDP answer, or
//     rejects (with extra headers such as Retry-After). The 2xx is retransmitted until the ACK
//     (§13.3.1.4); without an ACK within 64*T1 the session ends ("no-ack") and a BYE is sent.
//   - CANCEL of a ringing INVITE: 200 to the CANCEL, 487 to the INVITE, on_ended("cancel").
//   - re-INVITE / UPDATE inside a dialog: CSeq order and target refresh through the Dialog;
//     an offer goes to on_reoffer() for the answer (or a status such as 488); without one the
//     last answer is repeated. Requests outside any known dialog get 481.
//   - BYE: 200 and on_ended("bye"). hangup() sends our own BYE.
//   - session timers: Session-Expires / Min-SE negotiated (422 when too small); when the peer
//     refreshes and does not, the session is ended with a BYE before it expires (RFC 4028 §10);
//     when we refresh, an UPDATE is sent at half the interval.
//   - OPTIONS: the status options_status() gives (200, or 503 when the application is full)
//     with Allow, Accept and Supported; MESSAGE and INFO: 200; anything else: 501 with Allow.
// Responses and in-dialog requests go back to where the request came from (symmetric
// signalling, what SBCs expect).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "sip/dialog.h"
#include "sip/transaction.h"

namespace verbatim::sip {

struct UasOptions {
  std::string contact;      // "<sip:srs@192.0.2.7:5060>"
  std::string via_sent_by;  // "192.0.2.7:5060", for the requests we send (BYE, UPDATE)
  std::string allow = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, MESSAGE";
  std::string accept = "application/sdp, application/rs-metadata+xml, multipart/mixed";
  SessionTimerPolicy timers;
  TimerConfig t;  // T1 for the 2xx retransmission and the ACK wait
};

class UserAgentServer {
 public:
  struct Handlers {
    std::function<void(uint64_t session, const Message& invite)> on_invite;
    // An offer inside the dialog: the answer SDP, or a SipError whose status is sent (488).
    std::function<SipResult<std::string>(uint64_t session, const Message& request)> on_reoffer;
    std::function<void(uint64_t session, std::string_view why)> on_ended;
    std::function<int()> options_status;  // default 200
  };

  UserAgentServer(TransactionLayer& layer, TimerService& timers, UasOptions options,
                  Handlers handlers);
  ~UserAgentServer();

  // Wire these to the TransactionLayer callbacks.
  void on_request(uint64_t txn, const Message& request, const Peer& from, uint64_t cancels);
  void on_stray(const Message& message, const Peer& from);
  void on_server_failed(uint64_t txn, std::string_view why);

  Status ring(uint64_t session);
  Status accept(uint64_t session, std::string_view sdp_answer);
  Status reject(uint64_t session, int status, std::string_view reason,
                const std::vector<std::pair<std::string, std::string>>& headers = {});
  Status hangup(uint64_t session);

  size_t sessions() const { return sessions_.size(); }
  const Dialog* dialog(uint64_t session) const;

 private:
  struct Session;
  Session* by_dialog(const Message& request);
  void end(uint64_t session, std::string_view why, bool send_bye);
  void send_in_dialog(Session& s, std::string_view method, std::string_view sdp);
  void retransmit_2xx(uint64_t session);
  void arm_session_timer(Session& s);
  void respond(uint64_t txn, const Message& request, int status, std::string_view reason);

  TransactionLayer& layer_;
  TimerService& timers_;
  UasOptions options_;
  Handlers handlers_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::unique_ptr<Session>> sessions_;
  std::map<std::string, uint64_t> by_dialog_id_;  // Dialog::id() -> session
  std::map<uint64_t, uint64_t> by_txn_;           // INVITE server transaction -> session
};

}  // namespace verbatim::sip
