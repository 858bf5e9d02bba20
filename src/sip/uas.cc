#include "sip/uas.h"

#include "common/ids.h"
#include "common/strings.h"

namespace verbatim::sip {

struct UserAgentServer::Session {
  uint64_t id = 0;
  uint64_t invite_txn = 0;
  Message invite = Message::request("", "");  // replaced when the session starts
  Peer peer;
  std::string local_tag;
  std::optional<Dialog> dialog;
  enum class State { kIncoming, kAnswered, kConfirmed, kEnded } state = State::kIncoming;
  std::optional<Message> last_2xx;
  std::string last_answer;  // SDP
  Millis retransmit_interval{0};
  Millis waited{0};
  uint64_t retransmit_timer = 0;
  uint64_t session_timer = 0;
  SessionTimer timer;
};

UserAgentServer::UserAgentServer(TransactionLayer& layer, TimerService& timers, UasOptions options,
                                 Handlers handlers)
    : layer_(layer),
      timers_(timers),
      options_(std::move(options)),
      handlers_(std::move(handlers)) {}

UserAgentServer::~UserAgentServer() {
  for (auto& [id, s] : sessions_) {
    if (s->retransmit_timer) timers_.cancel(s->retransmit_timer);
    if (s->session_timer) timers_.cancel(s->session_timer);
  }
}

const Dialog* UserAgentServer::dialog(uint64_t session) const {
  auto it = sessions_.find(session);
  return it == sessions_.end() || !it->second->dialog ? nullptr : &*it->second->dialog;
}

void UserAgentServer::respond(uint64_t txn, const Message& request, int status,
                              std::string_view reason) {
  Message r = make_response(request, status, reason, random_hex(4));
  if (status == 405 || status == 501 || (request.method() == "OPTIONS" && status < 300)) {
    r.add_header("Allow", options_.allow);
  }
  (void)layer_.respond(txn, std::move(r));
}

UserAgentServer::Session* UserAgentServer::by_dialog(const Message& request) {
  auto it = by_dialog_id_.find(Dialog::id_of(request));
  if (it == by_dialog_id_.end()) return nullptr;
  auto s = sessions_.find(it->second);
  return s == sessions_.end() ? nullptr : s->second.get();
}

void UserAgentServer::on_request(uint64_t txn, const Message& req, const Peer& from,
                                 uint64_t cancels) {
  const std::string_view method = req.method();
  const bool in_dialog = req.to() && req.to().value().tag().has_value();
  if (method == "CANCEL") {
    auto it = by_txn_.find(cancels);
    if (!cancels || it == by_txn_.end()) {
      respond(txn, req, 481, "Call/Transaction Does Not Exist");
      return;
    }
    respond(txn, req, 200, "OK");
    Session& s = *sessions_.at(it->second);
    if (s.state == Session::State::kIncoming) {
      Message r = make_response(s.invite, 487, "Request Terminated", s.local_tag);
      (void)layer_.respond(s.invite_txn, std::move(r));
      end(s.id, "cancel", false);
    }
    return;
  }
  if (method == "INVITE" && !in_dialog) {
    auto st = negotiate_session_timer(req, options_.timers);
    if (!st) {
      Message r = make_response(
          req, st.error().status,
          st.error().status == 422 ? "Session Interval Too Small" : "Bad Request", random_hex(4));
      if (st.error().status == 422)
        r.add_header("Min-SE", std::to_string(options_.timers.min_se.count()));
      (void)layer_.respond(txn, std::move(r));
      return;
    }
    auto s = std::make_unique<Session>();
    s->id = next_id_++;
    s->invite_txn = txn;
    s->invite = req.clone();
    s->peer = from;
    s->local_tag = random_hex(6);
    s->timer = st.value();
    const uint64_t id = s->id;
    by_txn_[txn] = id;
    sessions_[id] = std::move(s);
    if (handlers_.on_invite) handlers_.on_invite(id, sessions_[id]->invite);
    return;
  }
  if (in_dialog && (method == "INVITE" || method == "UPDATE" || method == "BYE" ||
                    method == "INFO" || method == "MESSAGE")) {
    Session* s = by_dialog(req);
    if (!s || !s->dialog) {
      respond(txn, req, 481, "Call/Transaction Does Not Exist");
      return;
    }
    if (auto r = s->dialog->receive(req); !r) {
      respond(txn, req, r.error().status, "Server Internal Error");
      return;
    }
    if (method == "BYE") {
      respond(txn, req, 200, "OK");
      end(s->id, "bye", false);
      return;
    }
    if (method == "INFO" || method == "MESSAGE") {
      respond(txn, req, 200, "OK");
      return;
    }
    // re-INVITE or UPDATE: a session refresh, maybe with a new offer.
    std::string answer = s->last_answer;
    if (!req.body().empty() && handlers_.on_reoffer) {
      auto a = handlers_.on_reoffer(s->id, req);
      if (!a) {
        respond(txn, req, a.error().status,
                a.error().status == 488 ? "Not Acceptable Here" : "Server Internal Error");
        return;
      }
      answer = a.value();
      s->last_answer = answer;
    }
    Message ok = make_response(req, 200, "OK", s->local_tag);
    ok.add_header("Contact", options_.contact);
    if (s->timer.interval.count() > 0) {
      ok.add_header("Session-Expires", session_expires_value(s->timer));
      ok.add_header("Require", "timer");
    }
    if (method == "INVITE" || !req.body().empty()) ok.set_body("application/sdp", answer);
    if (method == "INVITE") {
      s->last_2xx = ok.clone();
      s->state = Session::State::kAnswered;
    }
    (void)layer_.respond(txn, std::move(ok));
    arm_session_timer(*s);
    if (method == "INVITE") {
      s->retransmit_interval = options_.t.t1;
      s->waited = Millis(0);
      retransmit_2xx(s->id);
    }
    return;
  }
  if (method == "OPTIONS") {
    const int status = handlers_.options_status ? handlers_.options_status() : 200;
    Message r =
        make_response(req, status, status == 200 ? "OK" : "Service Unavailable", random_hex(4));
    r.add_header("Allow", options_.allow);
    r.add_header("Accept", options_.accept);
    r.add_header("Supported", "timer");
    if (status == 503) r.add_header("Retry-After", "30");
    (void)layer_.respond(txn, std::move(r));
    return;
  }
  if (method == "MESSAGE" || method == "INFO") {
    respond(txn, req, 200, "OK");
    return;
  }
  if (in_dialog && method != "ACK") {
    respond(txn, req, 481, "Call/Transaction Does Not Exist");
    return;
  }
  respond(txn, req, 501, "Not Implemented");
}

Status UserAgentServer::ring(uint64_t session) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return make_error(ErrorCode::kNotFound, "no such session");
  Session& s = *it->second;
  if (s.state != Session::State::kIncoming)
    return make_error(ErrorCode::kFailedPrecondition, "already answered");
  return layer_.respond(s.invite_txn, make_response(s.invite, 180, "Ringing", s.local_tag));
}

Status UserAgentServer::accept(uint64_t session, std::string_view sdp_answer) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return make_error(ErrorCode::kNotFound, "no such session");
  Session& s = *it->second;
  if (s.state != Session::State::kIncoming)
    return make_error(ErrorCode::kFailedPrecondition, "already answered");
  Message ok = make_response(s.invite, 200, "OK", s.local_tag);
  ok.add_header("Contact", options_.contact);
  for (const Header* rr : s.invite.all(HeaderId::kRecordRoute))
    ok.add_header("Record-Route", rr->value);
  if (s.timer.interval.count() > 0) {
    ok.add_header("Session-Expires", session_expires_value(s.timer));
    ok.add_header("Require", "timer");
  }
  ok.add_header("Supported", "timer");
  if (!sdp_answer.empty()) ok.set_body("application/sdp", sdp_answer);
  auto d = Dialog::as_uas(s.invite, Message::parse(ok.serialize()).value());
  if (!d) return d.error();
  s.dialog = d.value();
  by_dialog_id_[s.dialog->id()] = s.id;
  s.last_answer = std::string(sdp_answer);
  s.last_2xx = ok.clone();
  s.state = Session::State::kAnswered;
  VB_TRY(layer_.respond(s.invite_txn, std::move(ok)));
  s.retransmit_interval = options_.t.t1;
  s.waited = Millis(0);
  retransmit_2xx(s.id);
  arm_session_timer(s);
  return ok_status();
}

Status UserAgentServer::reject(uint64_t session, int status, std::string_view reason,
                               const std::vector<std::pair<std::string, std::string>>& headers) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return make_error(ErrorCode::kNotFound, "no such session");
  Session& s = *it->second;
  if (s.state != Session::State::kIncoming)
    return make_error(ErrorCode::kFailedPrecondition, "already answered");
  Message r = make_response(s.invite, status, reason, s.local_tag);
  for (const auto& [n, v] : headers) r.add_header(n, v);
  Status st = layer_.respond(s.invite_txn, std::move(r));
  end(session, "rejected", false);
  return st;
}

Status UserAgentServer::hangup(uint64_t session) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return make_error(ErrorCode::kNotFound, "no such session");
  end(session, "local", true);
  return ok_status();
}

// §13.3.1.4: the 2xx again at T1, 2*T1, ... capped at T2, until the ACK; none by 64*T1: the
// session ends with a BYE.
void UserAgentServer::retransmit_2xx(uint64_t session) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  Session& s = *it->second;
  s.retransmit_timer = timers_.start(s.retransmit_interval, [this, session]() {
    auto it2 = sessions_.find(session);
    if (it2 == sessions_.end()) return;
    Session& x = *it2->second;
    x.retransmit_timer = 0;
    if (x.state != Session::State::kAnswered) return;
    x.waited += x.retransmit_interval;
    if (x.waited >= options_.t.t1 * 64) {
      end(session, "no-ack", true);
      return;
    }
    if (x.last_2xx) layer_.send_stateless(*x.last_2xx, x.peer);
    x.retransmit_interval = std::min(x.retransmit_interval * 2, options_.t.t2);
    retransmit_2xx(session);
  });
}

void UserAgentServer::on_stray(const Message& m, const Peer&) {
  if (!m.is_request() || m.method() != "ACK") return;
  Session* s = by_dialog(m);
  if (!s || s->state != Session::State::kAnswered) return;
  s->state = Session::State::kConfirmed;
  if (s->retransmit_timer) timers_.cancel(s->retransmit_timer);
  s->retransmit_timer = 0;
}

void UserAgentServer::on_server_failed(uint64_t txn, std::string_view) {
  auto it = by_txn_.find(txn);
  if (it != by_txn_.end()) end(it->second, "transaction-failed", false);
}

// RFC 4028 §10: the refresher refreshes at half the interval; the other side gives up (BYE)
// min(32, interval/3) seconds before the session would expire.
void UserAgentServer::arm_session_timer(Session& s) {
  if (s.session_timer) timers_.cancel(s.session_timer);
  s.session_timer = 0;
  if (s.timer.interval.count() <= 0) return;
  const uint64_t id = s.id;
  if (s.timer.refresher_is_uac) {
    const auto margin =
        std::min<std::chrono::seconds>(std::chrono::seconds(32), s.timer.interval / 3);
    s.session_timer =
        timers_.start(std::chrono::duration_cast<Millis>(s.timer.interval - margin), [this, id]() {
          auto it = sessions_.find(id);
          if (it == sessions_.end()) return;
          it->second->session_timer = 0;
          end(id, "session-timer", true);
        });
  } else {
    s.session_timer =
        timers_.start(std::chrono::duration_cast<Millis>(s.timer.interval / 2), [this, id]() {
          auto it = sessions_.find(id);
          if (it == sessions_.end()) return;
          it->second->session_timer = 0;
          send_in_dialog(*it->second, "UPDATE", "");
          arm_session_timer(*it->second);
        });
  }
}

void UserAgentServer::send_in_dialog(Session& s, std::string_view method, std::string_view sdp) {
  if (!s.dialog) return;
  Message m = s.dialog->make_request(method, options_.contact);
  m.prepend_header("Via", "SIP/2.0/" + s.peer.transport + " " + options_.via_sent_by +
                              ";branch=" + TransactionLayer::new_branch() + ";rport");
  if (method == "UPDATE" && s.timer.interval.count() > 0) {
    m.add_header("Session-Expires", session_expires_value(s.timer));
    m.add_header("Supported", "timer");
  }
  if (!sdp.empty()) m.set_body("application/sdp", sdp);
  (void)layer_.send_request(std::move(m), s.peer, nullptr);
}

void UserAgentServer::end(uint64_t session, std::string_view why, bool send_bye) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  Session& s = *it->second;
  if (s.retransmit_timer) timers_.cancel(s.retransmit_timer);
  if (s.session_timer) timers_.cancel(s.session_timer);
  if (send_bye && s.dialog) send_in_dialog(s, "BYE", "");
  if (s.dialog) by_dialog_id_.erase(s.dialog->id());
  by_txn_.erase(s.invite_txn);
  const std::string reason(why);
  sessions_.erase(it);
  if (handlers_.on_ended) handlers_.on_ended(session, reason);
}

}  // namespace verbatim::sip
