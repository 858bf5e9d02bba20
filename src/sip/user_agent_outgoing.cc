// The user agent's outgoing calls (INVITE, authentication, forks, CANCEL, ACK) and what either
// side does in a dialog (BYE, re-INVITE, UPDATE, REFER and its NOTIFYs, session timers).
#include <cctype>

#include "common/ids.h"
#include "common/log.h"
#include "common/strings.h"
#include "sip/digest.h"
#include "sip/user_agent_session.h"

namespace verbatim::sip {

using namespace detail;  // NOLINT(google-build-using-namespace)

// ---------------------------------------------------------------------------------------------
// Calls we place.

Result<uint64_t> UserAgent::invite(OutgoingCall call) {
  if (auto u = parse_uri(call.request_uri); !u) {
    return make_error(ErrorCode::kInvalidArgument, "request URI: " + u.error().message);
  }
  for (const auto* f : {&call.from, &call.to}) {
    if (auto n = parse_name_addr(*f); !n) {
      return make_error(ErrorCode::kInvalidArgument,
                        std::string(f == &call.from ? "From" : "To") + ": " + n.error().message);
    }
  }
  auto s = std::make_unique<Session>();
  s->id = next_id_++;
  s->outgoing = true;
  s->state = Session::State::kCalling;
  s->peer = call.next_hop;
  s->local_tag = random_hex(6);
  s->call_id = call.call_id.empty() ? random_hex(12) + "@verbatim" : call.call_id;
  s->local_sdp = call.body;
  s->session_expires = call.session_timer ? options_.timers.preferred : std::chrono::seconds(0);
  s->call = std::move(call);
  const uint64_t id = s->id;
  Session& ref = *s;
  sessions_[id] = std::move(s);
  if (Status st = send_invite(ref); !st) {
    sessions_.erase(id);
    return st.error();
  }
  return id;
}

Status UserAgent::send_invite(Session& s) {
  Message m = Message::request("INVITE", s.call.request_uri);
  m.add_header("Via", via(s.call.next_hop));
  m.add_header("Max-Forwards", std::to_string(s.call.max_forwards));
  m.add_header("From", s.call.from + ";tag=" + s.local_tag);
  m.add_header("To", s.call.to);
  m.add_header("Call-ID", s.call_id);
  m.add_header("CSeq", std::to_string(s.cseq) + " INVITE");
  m.add_header("Contact", contact_of(s));
  m.add_header("Allow", options_.allow);
  if (s.session_expires.count() > 0) {
    m.add_header("Supported", "timer");
    m.add_header("Session-Expires", std::to_string(s.session_expires.count()));
    m.add_header("Min-SE", std::to_string(options_.timers.min_se.count()));
  }
  for (const auto& [n, v] : s.call.headers) m.add_header(n, v);
  authorize(s, m);
  if (!s.call.body.empty()) m.set_body(s.call.content_type, s.call.body);
  s.invite = m.clone();
  s.provisional_seen = false;
  const uint64_t id = s.id;
  auto txn = layer_.send_request(
      std::move(m), s.call.next_hop,
      [this, id](ClientOutcome o, const Message* r) { on_invite_response(id, o, r); });
  if (!txn) return txn.error();
  return ok_status();
}

void UserAgent::send_cancel(Session& s) {
  // §9.1: the INVITE's Request-URI, Call-ID, From, To, CSeq number, Route and top Via.
  Message c = Message::request("CANCEL", s.invite.request_uri());
  c.add_header("Via", s.invite.find(HeaderId::kVia)->value);
  for (const Header* r : s.invite.all(HeaderId::kRoute)) c.add_header("Route", r->value);
  c.add_header("Max-Forwards", "70");
  c.add_header("From", s.invite.find(HeaderId::kFrom)->value);
  c.add_header("To", s.invite.find(HeaderId::kTo)->value);
  c.add_header("Call-ID", s.call_id);
  c.add_header("CSeq", std::to_string(s.cseq) + " CANCEL");
  warn_on_error(layer_.send_request(std::move(c), s.call.next_hop, nullptr), "sending a request");
  s.cancel_pending = false;
}

void UserAgent::on_invite_response(uint64_t session, ClientOutcome o, const Message* r) {
  Session* sp = find(session);
  if (!sp || sp->state == Session::State::kIncoming) return;
  Session& s = *sp;
  if (o == ClientOutcome::kTimeout || !r) {
    if (s.state == Session::State::kCalling) fail(session, 408, nullptr);
    return;
  }
  const int status = r->status();
  if (auto c = r->cseq(); !c || c.value().number != s.cseq) return;  // an earlier attempt
  if (status < 200) {
    if (s.state != Session::State::kCalling) return;
    s.provisional_seen = true;
    if (s.cancel_pending) send_cancel(s);
    if (status > 100 && r->to() && r->to().value().tag()) {
      const std::string_view tag = r->to().value().tag().value();
      if (!s.dialog || s.dialog->remote_tag() != tag) {
        if (auto d = Dialog::as_uac(s.invite, *r)) s.dialog = d.value();
      }
    }
    if (status > 100 && handlers_.on_progress && !s.cancelled) handlers_.on_progress(session, *r);
    return;
  }
  if (status < 300) {
    on_answer(s, *r);
    return;
  }
  if (s.state != Session::State::kCalling) return;
  if ((status == 401 || status == 407) && s.call.credentials && !s.cancelled) {
    auto c = pick_challenge(*r);
    // One answer per challenge; a second challenge means wrong credentials unless the server
    // says only the nonce was stale.
    if (c && (s.auth_attempts == 0 || (s.auth_attempts < 3 && challenge_is_stale(c->second)))) {
      ++s.auth_attempts;
      s.auth_header = c->first;
      s.challenge = c->second;
      s.nonce_count = 0;
      ++s.cseq;
      s.dialog.reset();
      if (send_invite(s)) return;
    }
  }
  if (status == 422 && !s.min_se_retried && !s.cancelled) {
    if (const Header* min_se = r->find(HeaderId::kMinSe)) {
      auto v = parse_number(min_se->value.substr(0, min_se->value.find(';')), 86400);
      if (v && std::chrono::seconds(v.value()) > s.session_expires) {
        s.min_se_retried = true;
        s.session_expires = std::chrono::seconds(v.value());
        ++s.cseq;
        s.dialog.reset();
        if (send_invite(s)) return;
      }
    }
  }
  fail(session, status, r);
}

void UserAgent::on_answer(Session& s, const Message& r) {
  const uint64_t id = s.id;
  const std::string_view tag = r.to() ? r.to().value().tag().value_or("") : "";
  if (s.state != Session::State::kCalling) {
    // A retransmitted 2xx (our ACK was lost), or a 2xx from another fork.
    if (s.dialog && s.dialog->remote_tag() == tag) {
      send_ack(s, s.cseq);
    } else {
      ack_and_bye_fork(s, r);
    }
    return;
  }
  if (s.dialog && s.dialog->remote_tag() == tag) {
    if (auto c = s.dialog->confirm(r); !c) s.dialog.reset();
  } else {
    s.dialog.reset();
  }
  if (!s.dialog) {
    auto d = Dialog::as_uac(s.invite, r);
    if (!d) {
      // A 2xx we cannot build a dialog from (no To tag, no Contact): nothing to ACK it with.
      fail(id, 502, &r);
      return;
    }
    s.dialog = d.value();
  }
  note_dialog(s);
  const std::string target = s.dialog->route_set().empty() ? s.dialog->remote_target() : [&] {
    auto first = parse_name_addr(s.dialog->route_set().front());
    return first ? std::string(first.value().uri.text) : std::string();
  }();
  if (auto hop = hop_for(target, s.call.next_hop)) s.peer = *hop;
  s.state = Session::State::kConfirmed;
  send_ack(s, s.cseq);
  if (const Header* se = r.find(HeaderId::kSessionExpires)) {
    auto v = parse_number(se->value.substr(0, se->value.find(';')), 86400);
    if (v && v.value() > 0) {
      s.timer.interval = std::chrono::seconds(v.value());
      s.we_refresh = se->value.find("refresher=uas") == std::string_view::npos;
      s.timer.refresher_is_uac = s.we_refresh;
    }
  }
  if (s.cancelled) {  // the 2xx crossed our CANCEL
    end(id, "cancel", true);
    return;
  }
  arm_session_timer(s);
  if (handlers_.on_answered) handlers_.on_answered(id, r);
}

void UserAgent::send_ack(Session& s, uint32_t cseq) {
  Message ack = s.dialog->make_request("ACK", options_.contact, cseq);
  ack.prepend_header("Via", via(s.peer));
  layer_.send_stateless(ack, s.peer);
}

// §13.2.2.4: a 2xx from a second fork gets its ACK, then a BYE.
void UserAgent::ack_and_bye_fork(Session& s, const Message& r) {
  auto d = Dialog::as_uac(s.invite, r);
  if (!d) return;
  Dialog fork = d.value();
  Message ack = fork.make_request("ACK", options_.contact, s.cseq);
  ack.prepend_header("Via", via(s.peer));
  layer_.send_stateless(ack, s.peer);
  Message bye = fork.make_request("BYE", options_.contact);
  bye.prepend_header("Via", via(s.peer));
  warn_on_error(layer_.send_request(std::move(bye), s.peer, nullptr), "sending a request");
}

Status UserAgent::cancel(uint64_t session) {
  Session* s = find(session);
  if (!s) return make_error(ErrorCode::kNotFound, "no such session");
  if (s->state != Session::State::kCalling)
    return make_error(ErrorCode::kFailedPrecondition,
                      "only a call we placed can be cancelled "
                      "before it is answered");
  if (s->cancelled) return ok_status();
  s->cancelled = true;
  if (s->provisional_seen) {
    send_cancel(*s);
  } else {
    s->cancel_pending = true;  // §9.1: not before a provisional response
  }
  return ok_status();
}

void UserAgent::fail(uint64_t session, int status, const Message* r) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  if (it->second->session_timer) timers_.cancel(it->second->session_timer);
  if (it->second->dialog) by_dialog_id_.erase(it->second->dialog->id());
  sessions_.erase(it);
  if (handlers_.on_failed) handlers_.on_failed(session, status, r);
}

// ---------------------------------------------------------------------------------------------
// Either direction.

Status UserAgent::hangup(uint64_t session, const HeaderList& headers) {
  Session* s = find(session);
  if (!s) return make_error(ErrorCode::kNotFound, "no such session");
  if (s->state == Session::State::kCalling) return cancel(session);
  if (s->state == Session::State::kIncoming) {
    return reject(session, 480, "Temporarily Unavailable", headers);
  }
  s->bye_headers = headers;
  end(session, "local", true);
  return ok_status();
}

Status UserAgent::reinvite(uint64_t session, std::string_view sdp_offer, RequestDone done) {
  return reinvite_with_body(session, sdp_offer, "application/sdp", std::string(sdp_offer),
                            std::move(done));
}

Status UserAgent::reinvite_with_body(uint64_t session, std::string_view sdp_offer,
                                     std::string_view content_type, std::string body,
                                     RequestDone done) {
  Session* s = find(session);
  if (!s || !s->dialog) return make_error(ErrorCode::kNotFound, "no such session");
  if (s->state == Session::State::kCalling || s->state == Session::State::kIncoming)
    return make_error(ErrorCode::kFailedPrecondition, "the call is not answered yet");
  if (s->reinvite_pending)
    return make_error(ErrorCode::kFailedPrecondition, "a re-INVITE is already in progress");
  s->local_sdp = std::string(sdp_offer);
  s->reinvite_pending = true;
  return send_in_dialog(*s, InDialog{"INVITE", std::string(content_type), std::move(body), {}, 0},
                        std::move(done));
}

Status UserAgent::update(uint64_t session, std::string_view content_type, std::string body,
                         const HeaderList& headers, RequestDone done) {
  Session* s = find(session);
  if (!s || !s->dialog) return make_error(ErrorCode::kNotFound, "no such session");
  if (content_type.empty() || iequals(content_type, "application/sdp")) {
    return make_error(ErrorCode::kInvalidArgument, "update() carries no SDP offer");
  }
  return send_in_dialog(*s,
                        InDialog{"UPDATE", std::string(content_type), std::move(body), headers, 0},
                        std::move(done));
}

Status UserAgent::info(uint64_t session, std::string_view content_type, std::string body,
                       RequestDone done) {
  Session* s = find(session);
  if (!s || !s->dialog) return make_error(ErrorCode::kNotFound, "no such session");
  return send_in_dialog(*s, InDialog{"INFO", std::string(content_type), std::move(body), {}, 0},
                        std::move(done));
}

Status UserAgent::message(uint64_t session, std::string_view content_type, std::string body,
                          RequestDone done) {
  Session* s = find(session);
  if (!s || !s->dialog) return make_error(ErrorCode::kNotFound, "no such session");
  return send_in_dialog(*s, InDialog{"MESSAGE", std::string(content_type), std::move(body), {}, 0},
                        std::move(done));
}

Status UserAgent::refer(uint64_t session, std::string_view refer_to, RequestDone done) {
  Session* s = find(session);
  if (!s || !s->dialog) return make_error(ErrorCode::kNotFound, "no such session");
  if (auto n = parse_name_addr(refer_to); !n) {
    return make_error(ErrorCode::kInvalidArgument, "Refer-To: " + n.error().message);
  }
  HeaderList h{{"Refer-To", std::string(refer_to)}};
  return send_in_dialog(*s, InDialog{"REFER", "", "", std::move(h), 0}, std::move(done));
}

Status UserAgent::notify(uint64_t session, std::string_view event, std::string_view state,
                         std::string_view content_type, std::string body) {
  Session* s = find(session);
  if (!s || !s->dialog) return make_error(ErrorCode::kNotFound, "no such session");
  HeaderList h{{"Event", std::string(event)}, {"Subscription-State", std::string(state)}};
  return send_in_dialog(
      *s, InDialog{"NOTIFY", std::string(content_type), std::move(body), std::move(h), 0}, nullptr);
}

Status UserAgent::notify_refer(uint64_t session, int status, std::string_view reason) {
  Session* s = find(session);
  if (!s || !s->dialog) return make_error(ErrorCode::kNotFound, "no such session");
  if (!s->refer_subscription)
    return make_error(ErrorCode::kFailedPrecondition, "no accepted REFER to report on");
  if (status < 100 || status > 699)
    return make_error(ErrorCode::kInvalidArgument, "a sipfrag status is 100 to 699");
  const bool final = status >= 200;
  if (final) s->refer_subscription = false;
  HeaderList h{
      {"Event", "refer"},
      {"Subscription-State", final ? "terminated;reason=noresource" : "active;expires=60"}};
  return send_in_dialog(
      *s,
      InDialog{"NOTIFY", "message/sipfrag;version=2.0",
               "SIP/2.0 " + std::to_string(status) + " " + std::string(reason) + "\r\n",
               std::move(h), 0},
      nullptr);
}

Status UserAgent::send_in_dialog(Session& s, InDialog what, RequestDone done) {
  Message m = s.dialog->make_request(what.method, contact_of(s));
  m.prepend_header("Via", via(s.peer));
  if ((what.method == "UPDATE" || what.method == "INVITE") && s.timer.interval.count() > 0) {
    m.add_header("Session-Expires", session_expires(s, true));
    m.add_header("Supported", "timer");
  }
  for (const auto& [n, v] : what.headers) m.add_header(n, v);
  authorize(s, m);
  if (!what.body.empty()) m.set_body(what.content_type, what.body);
  const uint32_t cseq = s.dialog->local_cseq();
  const uint64_t id = s.id;
  auto handler = [this, id, cseq, what = std::move(what), done = std::move(done)](
                     ClientOutcome o, const Message* r) mutable {
    if (o == ClientOutcome::kProvisional) return;
    Session* x = find(id);
    const int status = o == ClientOutcome::kTimeout || !r ? 408 : r->status();
    if (x && what.method == "INVITE") {
      if (status >= 200 && status < 300) {
        send_ack(*x, cseq);  // every 2xx, retransmissions included
        if (!x->reinvite_pending) return;
      }
      x->reinvite_pending = false;
    }
    if (x && (status == 401 || status == 407) && x->call.credentials && what.attempt == 0) {
      if (auto c = pick_challenge(*r)) {
        x->auth_header = c->first;
        x->challenge = c->second;
        x->nonce_count = 0;
        what.attempt = 1;
        if (what.method == "INVITE") x->reinvite_pending = true;
        warn_on_error(send_in_dialog(*x, std::move(what), std::move(done)),
                      "a request in the dialog");
        return;
      }
    }
    if (done) done(status, r);
    if ((status == 481 || status == 408) && find(id)) end(id, "peer-gone", false);
  };
  auto txn = layer_.send_request(std::move(m), s.peer, std::move(handler));
  if (!txn) return txn.error();
  return ok_status();
}

// RFC 4028 §10: the refresher refreshes at half the interval; the other side gives up (BYE)
// min(32, interval/3) seconds before the session would expire.
void UserAgent::arm_session_timer(Session& s) {
  if (s.session_timer) timers_.cancel(s.session_timer);
  s.session_timer = 0;
  if (s.timer.interval.count() <= 0) return;
  const uint64_t id = s.id;
  if (!s.we_refresh) {
    const auto margin =
        std::min<std::chrono::seconds>(std::chrono::seconds(32), s.timer.interval / 3);
    s.session_timer =
        timers_.start(std::chrono::duration_cast<Millis>(s.timer.interval - margin), [this, id]() {
          Session* x = find(id);
          if (!x) return;
          x->session_timer = 0;
          end(id, "session-timer", true);
        });
  } else {
    s.session_timer =
        timers_.start(std::chrono::duration_cast<Millis>(s.timer.interval / 2), [this, id]() {
          Session* x = find(id);
          if (!x) return;
          x->session_timer = 0;
          warn_on_error(send_in_dialog(*x, InDialog{"UPDATE", "", "", {}, 0}, nullptr),
                        "a request in the dialog");
          if (Session* y = find(id)) arm_session_timer(*y);
        });
  }
}

void UserAgent::end(uint64_t session, std::string_view why, bool send_bye) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  Session& s = *it->second;
  if (s.retransmit_timer) timers_.cancel(s.retransmit_timer);
  if (s.session_timer) timers_.cancel(s.session_timer);
  if (send_bye && s.dialog) {
    Message bye = s.dialog->make_request("BYE", options_.contact);
    bye.prepend_header("Via", via(s.peer));
    for (const auto& [n, v] : s.bye_headers) bye.add_header(n, v);
    authorize(s, bye);
    warn_on_error(layer_.send_request(std::move(bye), s.peer, nullptr), "sending a request");
  }
  if (s.dialog) by_dialog_id_.erase(s.dialog->id());
  if (s.invite_txn) by_txn_.erase(s.invite_txn);
  const std::string reason(why);
  sessions_.erase(it);
  if (handlers_.on_ended) handlers_.on_ended(session, reason);
}

}  // namespace verbatim::sip
