// SIP dialogs (RFC 3261 §12) and session timers (RFC 4028).
//
// A Dialog is the state two user agents share after an INVITE (or SUBSCRIBE/REFER) is
// answered with a tag: Call-ID and tags, the URIs, the remote target (Contact), the route set
// (Record-Route: as received at the UAS, reversed at the UAC), and both CSeq counters. It
// builds in-dialog requests (BYE, re-INVITE, UPDATE, INFO, REFER, NOTIFY, MESSAGE, the ACK for
// a 2xx) with loose or strict routing as the route set requires, and checks in-dialog
// requests it receives (CSeq order, target refresh). It does not send: the UA core passes
// what it builds to the transaction layer.
// Threads and ownership: a Dialog is a value owned by its UA session, used on the UA's thread.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "sip/message.h"

namespace verbatim::sip {

class Dialog {
 public:
  enum class State { kEarly, kConfirmed, kTerminated };

  // UAS side: from the request and the response (with the To tag we chose) we send.
  static Result<Dialog> as_uas(const Message& request, const Message& response);
  // UAC side: from the request we sent and a 1xx/2xx response with a To tag.
  static Result<Dialog> as_uac(const Message& request, const Message& response);

  const std::string& call_id() const { return call_id_; }
  const std::string& local_tag() const { return local_tag_; }
  const std::string& remote_tag() const { return remote_tag_; }
  const std::string& remote_target() const { return remote_target_; }
  const std::vector<std::string>& route_set() const { return route_set_; }
  uint32_t local_cseq() const { return local_cseq_; }
  std::optional<uint32_t> remote_cseq() const { return remote_cseq_; }
  State state() const { return state_; }
  bool is_uac() const { return uac_; }
  // "call-id;local-tag;remote-tag": what the UA core indexes dialogs by; id_of() gives it for
  // a message we received (empty when it has no Call-ID, From or To).
  std::string id() const;
  static std::string id_of(const Message& received);

  // What ending the dialog from another process needs (a gateway restarted after a crash ends
  // the dialogs it had): saved while it lasts, restored to build the BYE.
  struct Saved {
    std::string call_id, local_tag, remote_tag, local_uri, remote_uri, remote_target;
    std::vector<std::string> route_set;
    uint32_t local_cseq = 0;
    bool uac = false;
  };
  Saved save() const;
  // A confirmed dialog from saved state; its CSeq continues `skip` above the saved one (requests
  // sent after the save must not collide).
  static Dialog restore(const Saved& s, uint32_t skip = 100);

  // A 2xx to the INVITE confirms an early dialog (updating target and, for the UAC, routes).
  Status confirm(const Message& response);
  void terminate() { state_ = State::kTerminated; }

  // A new in-dialog request: Request-URI and Route per the route set (loose routing, or
  // strict routing when the first route has no ;lr), From/To with tags, Call-ID, the next
  // local CSeq (ACK: the INVITE's number), Max-Forwards and Contact. The caller adds the Via.
  Message make_request(std::string_view method, std::string_view contact,
                       std::optional<uint32_t> ack_for_cseq = std::nullopt);

  // Checks an in-dialog request from the peer (RFC 3261 §12.2.2): a CSeq lower than the last
  // one is refused (500, as the RFC says); target refresh requests (re-INVITE, UPDATE) update
  // the remote target from their Contact. ACK and CANCEL do not advance the counter.
  Result<void> receive(const Message& request);

 private:
  Dialog() = default;
  std::string call_id_, local_tag_, remote_tag_, local_uri_, remote_uri_, remote_target_;
  std::vector<std::string> route_set_;  // name-addr values, in the order to use them
  uint32_t local_cseq_ = 0;
  std::optional<uint32_t> remote_cseq_;
  State state_ = State::kEarly;
  bool uac_ = false;
};

// RFC 4028 session timers, as a UAS negotiates them.
struct SessionTimer {
  std::chrono::seconds interval{0};  // 0: no session timer
  bool refresher_is_uac = true;
};

struct SessionTimerPolicy {
  std::chrono::seconds min_se{90};       // smallest interval we accept (RFC 4028 minimum 90)
  std::chrono::seconds preferred{1800};  // used when the UAC asks for none but supports it
};

// The UAS's decision for an INVITE: a SessionTimer to put in the 2xx (Session-Expires with
// refresher, Require: timer when the UAC supports it), or a 422 error carrying our Min-SE
// when the requested interval is too small.
Result<SessionTimer> negotiate_session_timer(const Message& invite, const SessionTimerPolicy& p);
// "1800;refresher=uac"
std::string session_expires_value(const SessionTimer& t);

}  // namespace verbatim::sip
