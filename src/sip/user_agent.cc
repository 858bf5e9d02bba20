#include "sip/user_agent.h"

#include <algorithm>
#include <cctype>

#include "common/ids.h"
#include "common/log.h"
#include "common/strings.h"
#include "sip/digest.h"
#include "sip/user_agent_session.h"

namespace verbatim::sip {

using namespace detail;  // NOLINT(google-build-using-namespace)

namespace detail {

// The parts of a challenge we answer: the first WWW-/Proxy-Authenticate value with an
// algorithm we know (servers list SHA-256 before MD5, RFC 8760 §2.4).
std::optional<std::pair<std::string, std::string>> pick_challenge(const Message& r) {
  const bool proxy = r.status() == 407;
  const HeaderId id = proxy ? HeaderId::kProxyAuthenticate : HeaderId::kWwwAuthenticate;
  for (const Header* h : r.all(id)) {
    if (digest_authorize(h->value, "INVITE", "sip:x", "u", "p", "c", 1)) {
      return std::make_pair(std::string(proxy ? "Proxy-Authorization" : "Authorization"),
                            std::string(h->value));
    }
  }
  return std::nullopt;
}

bool challenge_is_stale(std::string_view challenge) {
  auto p = parse_digest(challenge);
  return p && iequals(p.value().get("stale"), "true");
}

// The next hop for a URI whose host is an IP address (else nullopt: keep the current one).
std::optional<Peer> hop_for(std::string_view uri_text, const Peer& current) {
  auto uri = parse_uri(uri_text);
  if (!uri) return std::nullopt;
  const Uri& u = uri.value();
  if (u.host_kind != HostKind::kIpv4 && u.host_kind != HostKind::kIpv6) return std::nullopt;
  // A WebSocket peer is reached only on the connection it opened (RFC 7118 §5.2).
  if (current.websocket()) return std::nullopt;
  Peer p = current;
  p.address = std::string(u.host);
  if (u.host_kind == HostKind::kIpv6) p.address = p.address.substr(1, p.address.size() - 2);
  if (auto t = u.param("transport")) {
    p.transport.assign(t->begin(), t->end());
    for (char& c : p.transport) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  p.port = u.port.value_or(p.transport == "TLS" ? 5061 : 5060);
  return p;
}

}  // namespace detail

int sipfrag_status(std::string_view body) {
  // "SIP/2.0 200 OK"
  if (body.substr(0, 8) != "SIP/2.0 " || body.size() < 11) return 0;
  auto n = parse_number(body.substr(8, 3), 699);
  return n && n.value() >= 100 ? static_cast<int>(n.value()) : 0;
}

UserAgent::UserAgent(TransactionLayer& layer, TimerService& timers, UaOptions options,
                     Handlers handlers)
    : layer_(layer),
      timers_(timers),
      options_(std::move(options)),
      handlers_(std::move(handlers)) {}

UserAgent::~UserAgent() {
  for (auto& [id, s] : sessions_) {
    if (s->retransmit_timer) timers_.cancel(s->retransmit_timer);
    if (s->session_timer) timers_.cancel(s->session_timer);
  }
}

UserAgent::Session* UserAgent::find(uint64_t session) {
  auto it = sessions_.find(session);
  return it == sessions_.end() ? nullptr : it->second.get();
}

const Dialog* UserAgent::dialog(uint64_t session) const {
  auto it = sessions_.find(session);
  return it == sessions_.end() || !it->second->dialog ? nullptr : &*it->second->dialog;
}

std::string UserAgent::contact_of(const Session& s) const {
  const auto other = options_.listening.find(s.peer.transport);
  std::string contact =
      other != options_.listening.end() ? other->second.contact : options_.contact;
  const auto scheme = contact.find("sip:");
  const auto at = contact.find('@');
  if (!s.call.contact_user.empty() && scheme != std::string::npos && at != std::string::npos &&
      scheme < at) {
    contact = contact.substr(0, scheme + 4) + s.call.contact_user + contact.substr(at);
  }
  return contact + s.call.contact_params;
}

std::string UserAgent::via(const Peer& to) const {
  const auto other = options_.listening.find(to.transport);
  return "SIP/2.0/" + to.transport + " " +
         (other != options_.listening.end() ? other->second.via_sent_by : options_.via_sent_by) +
         ";branch=" + TransactionLayer::new_branch() + ";rport";
}

// RFC 4028 §9: `refresher` names a role in the transaction carrying it; we are its UAC when
// we send the request and its UAS when we answer one.
std::string UserAgent::session_expires(const Session& s, bool in_request) const {
  const bool uac = in_request ? s.we_refresh : !s.we_refresh;
  return std::to_string(s.timer.interval.count()) + ";refresher=" + (uac ? "uac" : "uas");
}

void UserAgent::respond(uint64_t txn, const Message& request, int status, std::string_view reason) {
  Message r = make_response(request, status, reason, random_hex(4));
  if (status == 405 || status == 501 || (request.method() == "OPTIONS" && status < 300)) {
    r.add_header("Allow", options_.allow);
  }
  warn_on_error(layer_.respond(txn, std::move(r)), "sending a response");
}

UserAgent::Session* UserAgent::by_dialog(const Message& m) {
  auto it = by_dialog_id_.find(Dialog::id_of(m));
  return it == by_dialog_id_.end() ? nullptr : find(it->second);
}

void UserAgent::note_dialog(Session& s) { by_dialog_id_[s.dialog->id()] = s.id; }

// Once challenged, every request we send (but ACK and CANCEL) answers the last challenge.
void UserAgent::authorize(Session& s, Message& m) {
  if (s.challenge.empty() || !s.call.credentials) return;
  auto a = digest_authorize(s.challenge, m.method(), m.request_uri(), s.call.credentials->username,
                            s.call.credentials->password, random_hex(8), ++s.nonce_count);
  if (a) m.add_header(s.auth_header, a.value());
}

// ---------------------------------------------------------------------------------------------
// Requests we receive.

void UserAgent::on_request(uint64_t txn, const Message& req, const Peer& from, uint64_t cancels) {
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
      warn_on_error(layer_.respond(s.invite_txn, std::move(r)), "sending a response");
      end(s.id, "cancel", false);
    }
    return;
  }
  if (method == "INVITE" && !in_dialog) {
    // A dialog needs the caller's Contact (RFC 3261 §8.1.1.8); refuse before the application
    // sees a call it could never answer.
    auto contacts = req.contacts();
    if (!contacts || contacts.value().size() != 1) {
      Message r = make_response(req, 400, contacts ? "Missing or Multiple Contact" : "Bad Contact",
                                random_hex(4));
      r.add_header("Warning", "399 verbatim \"an INVITE needs exactly one Contact URI\"");
      warn_on_error(layer_.respond(txn, std::move(r)), "sending a response");
      return;
    }
    auto st = negotiate_session_timer(req, options_.timers);
    if (!st) {
      Message r = make_response(
          req, st.error().status,
          st.error().status == 422 ? "Session Interval Too Small" : "Bad Request", random_hex(4));
      if (st.error().status == 422)
        r.add_header("Min-SE", std::to_string(options_.timers.min_se.count()));
      warn_on_error(layer_.respond(txn, std::move(r)), "sending a response");
      return;
    }
    auto s = std::make_unique<Session>();
    s->id = next_id_++;
    s->invite_txn = txn;
    s->invite = req.clone();
    s->peer = from;
    s->local_tag = random_hex(6);
    s->timer = st.value();
    s->we_refresh = !s->timer.refresher_is_uac;
    const uint64_t id = s->id;
    by_txn_[txn] = id;
    sessions_[id] = std::move(s);
    if (handlers_.on_invite) handlers_.on_invite(id, sessions_[id]->invite);
    return;
  }
  if (in_dialog && method != "ACK") {
    Session* s = by_dialog(req);
    if (!s || !s->dialog) {
      respond(txn, req, 481, "Call/Transaction Does Not Exist");
      return;
    }
    on_in_dialog_request(*s, txn, req);
    return;
  }
  if (method == "OPTIONS") {
    const int status = handlers_.options_status ? handlers_.options_status() : 200;
    Message r =
        make_response(req, status, status == 200 ? "OK" : "Service Unavailable", random_hex(4));
    r.add_header("Allow", options_.allow);
    r.add_header("Accept", options_.accept);
    r.add_header("Supported", "timer");
    if (status == 503 && !handlers_.options_headers) r.add_header("Retry-After", "30");
    if (handlers_.options_headers) {
      for (const auto& [name, value] : handlers_.options_headers()) r.add_header(name, value);
    }
    warn_on_error(layer_.respond(txn, std::move(r)), "sending a response");
    return;
  }
  if (method != "ACK" && handlers_.on_request && handlers_.on_request(txn, req, from)) return;
  if (method == "MESSAGE") {
    // Nothing here delivers or keeps a message: 405, not a 200 that tells the sender it was
    // delivered (a chat silently lost, and in a recorded organisation, unrecorded).
    respond(txn, req, 405, "Method Not Allowed");
    return;
  }
  if (method == "INFO") {
    respond(txn, req, 200, "OK");
    return;
  }
  if (method == "BYE" || method == "UPDATE" || method == "PRACK") {
    // Methods that only exist inside a dialog, for a dialog we do not have (RFC 3261 §15.1.2,
    // RFC 3311 §5.2): 481, never 501 — the method is implemented, the dialog is gone.
    respond(txn, req, 481, "Call/Transaction Does Not Exist");
    return;
  }
  respond(txn, req, 501, "Not Implemented");
}

void UserAgent::on_in_dialog_request(Session& s, uint64_t txn, const Message& req) {
  const std::string_view method = req.method();
  if (auto r = s.dialog->receive(req); !r) {
    respond(txn, req, r.error().status, "Server Internal Error");
    return;
  }
  const uint64_t id = s.id;
  if (method == "BYE") {
    respond(txn, req, 200, "OK");
    end(id, "bye", false);
    return;
  }
  if (method == "MESSAGE") {
    if (handlers_.on_message && handlers_.on_message(s.id, txn, req)) return;
    respond(txn, req, 405, "Method Not Allowed");  // as outside a dialog
    return;
  }
  if (method == "INFO" && handlers_.on_info && handlers_.on_info(s.id, txn, req)) return;
  if (method == "INFO" || method == "OPTIONS") {
    respond(txn, req, 200, "OK");
    return;
  }
  if (method == "REFER") {
    if (!req.find(HeaderId::kReferTo)) {
      respond(txn, req, 400, "Missing Refer-To");
      return;
    }
    const bool accepted = handlers_.on_refer && handlers_.on_refer(id, req);
    Session* again = find(id);
    if (!again) {
      respond(txn, req, 481, "Call/Transaction Does Not Exist");
      return;
    }
    if (!accepted) {
      respond(txn, req, 603, "Decline");
      return;
    }
    respond(txn, req, 202, "Accepted");
    again->refer_subscription = true;
    warn_on_error(notify_refer(id, 100, "Trying"), "NOTIFY to the transferor");
    return;
  }
  if (method == "NOTIFY") {
    const Header* event = req.find(HeaderId::kEvent);
    if (!event || !iequals(trim(event->value.substr(0, event->value.find(';'))), "refer")) {
      respond(txn, req, 489, "Bad Event");
      return;
    }
    respond(txn, req, 200, "OK");
    const int status = sipfrag_status(req.body());
    if (status && handlers_.on_refer_progress) handlers_.on_refer_progress(id, status);
    return;
  }
  if (method == "SUBSCRIBE" && handlers_.on_subscribe && handlers_.on_subscribe(id, txn, req)) {
    return;
  }
  if (method != "INVITE" && method != "UPDATE") {
    respond(txn, req, 405, "Method Not Allowed");
    return;
  }
  if (method == "INVITE" && s.reinvite_pending) {
    respond(txn, req, 491, "Request Pending");  // glare (RFC 3261 §14.2)
    return;
  }
  // re-INVITE or UPDATE: a session refresh, maybe with a new offer.
  std::string answer = s.local_sdp;
  bool answered_offer = false;
  if (!req.body().empty() && handlers_.on_reoffer) {
    auto a = handlers_.on_reoffer(id, req);
    if (!find(id)) {
      respond(txn, req, 481, "Call/Transaction Does Not Exist");
      return;
    }
    if (!a) {
      respond(txn, req, a.error().status,
              a.error().status == 488 ? "Not Acceptable Here" : "Server Internal Error");
      return;
    }
    if (!a.value().empty()) {
      answer = a.value();
      s.local_sdp = answer;
      answered_offer = true;
    }
  }
  Message ok = make_response(req, 200, "OK", s.dialog->local_tag());
  ok.add_header("Contact", contact_of(s));
  if (s.timer.interval.count() > 0) {
    ok.add_header("Session-Expires", session_expires(s, false));
    ok.add_header("Require", "timer");
  }
  if (method == "INVITE" || answered_offer) ok.set_body("application/sdp", answer);
  if (method == "INVITE") {
    s.last_2xx = ok.clone();
    s.state = Session::State::kAnswered;
  }
  warn_on_error(layer_.respond(txn, std::move(ok)), "sending a response");
  arm_session_timer(s);
  if (method == "INVITE") {
    s.retransmit_interval = options_.t.t1;
    s.waited = Millis(0);
    retransmit_2xx(id);
  }
}

// ---------------------------------------------------------------------------------------------
// Calls we take.

Status UserAgent::ring(uint64_t session, const HeaderList& headers) {
  Session* s = find(session);
  if (!s) return make_error(ErrorCode::kNotFound, "no such session");
  if (s->state != Session::State::kIncoming)
    return make_error(ErrorCode::kFailedPrecondition, "already answered");
  Message r = make_response(s->invite, 180, "Ringing", s->local_tag);
  for (const auto& [n, v] : headers) r.add_header(n, v);
  return layer_.respond(s->invite_txn, std::move(r));
}

Status UserAgent::reply(uint64_t txn, const Message& request, int status, std::string_view reason,
                        const HeaderList& headers) {
  Message r = make_response(request, status, reason, random_hex(4));
  for (const auto& [n, v] : headers) r.add_header(n, v);
  return layer_.respond(txn, std::move(r));
}

Status UserAgent::options(const Peer& to, std::string_view request_uri, RequestDone done) {
  std::string text = "OPTIONS " + std::string(request_uri) + " SIP/2.0\r\n";
  text += "Via: " + via(to) + "\r\n";
  text += "Max-Forwards: 70\r\n";
  text += "From: " + options_.contact + ";tag=" + random_hex(6) + "\r\n";
  text += "To: <" + std::string(request_uri) + ">\r\n";
  text += "Call-ID: " + random_hex(12) + "\r\n";
  text += "CSeq: 1 OPTIONS\r\n";
  text += "Contact: " + options_.contact + "\r\n";
  text += "Accept: application/sdp\r\nContent-Length: 0\r\n\r\n";
  auto m = Message::parse(text);
  if (!m) return make_error(ErrorCode::kInvalidArgument, "OPTIONS: " + m.error().describe());
  auto handler = [done = std::move(done)](ClientOutcome o, const Message* r) {
    if (o == ClientOutcome::kProvisional) return;
    if (done) done(o == ClientOutcome::kTimeout || !r ? 408 : r->status(), r);
  };
  auto txn = layer_.send_request(std::move(m).value(), to, std::move(handler));
  if (!txn) return txn.error();
  return ok_status();
}

Status UserAgent::send_message(OutgoingMessage message, RequestDone done) {
  std::string text = "MESSAGE " + message.request_uri + " SIP/2.0\r\n";
  text += "Via: " + via(message.next_hop) + "\r\n";
  text += "Max-Forwards: " + std::to_string(message.max_forwards) + "\r\n";
  text += "From: " + message.from + ";tag=" + random_hex(6) + "\r\n";
  text += "To: " + message.to + "\r\n";
  text += "Call-ID: " + random_hex(12) + "\r\n";
  text += "CSeq: 1 MESSAGE\r\n";
  for (const auto& [name, value] : message.headers) {
    text.append(name).append(": ").append(value).append("\r\n");
  }
  text += "Content-Type: " + message.content_type + "\r\n";
  text += "Content-Length: " + std::to_string(message.body.size()) + "\r\n\r\n";
  text += message.body;
  auto m = Message::parse(text);
  if (!m) return make_error(ErrorCode::kInvalidArgument, "MESSAGE: " + m.error().describe());
  auto handler = [done = std::move(done)](ClientOutcome o, const Message* r) {
    if (o == ClientOutcome::kProvisional) return;
    if (done) done(o == ClientOutcome::kTimeout || !r ? 408 : r->status(), r);
  };
  auto txn = layer_.send_request(std::move(m).value(), message.next_hop, std::move(handler));
  if (!txn) return txn.error();
  return ok_status();
}

Status UserAgent::bye_saved(const Dialog::Saved& dialog, const Peer& to, const HeaderList& headers,
                            RequestDone done) {
  Dialog d = Dialog::restore(dialog);
  Message m = d.make_request("BYE", options_.contact);
  m.prepend_header("Via", via(to));
  for (const auto& [n, v] : headers) m.add_header(n, v);
  auto handler = [done = std::move(done)](ClientOutcome o, const Message* r) {
    if (o == ClientOutcome::kProvisional) return;
    if (done) done(o == ClientOutcome::kTimeout || !r ? 408 : r->status(), r);
  };
  auto txn = layer_.send_request(std::move(m), to, std::move(handler));
  if (!txn) return txn.error();
  return ok_status();
}

const Peer* UserAgent::peer(uint64_t session) const {
  auto it = sessions_.find(session);
  return it == sessions_.end() ? nullptr : &it->second->peer;
}

Status UserAgent::accept_as_focus(uint64_t session, std::string_view sdp_answer,
                                  std::string_view conference_user, const HeaderList& headers) {
  Session* s = find(session);
  if (!s) return make_error(ErrorCode::kNotFound, "no such session");
  if (conference_user.empty() ||
      !std::all_of(conference_user.begin(), conference_user.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.' || ch == '_';
      })) {
    return make_error(ErrorCode::kInvalidArgument, "a conference user part of letters and digits");
  }
  s->call.contact_user = std::string(conference_user);
  s->call.contact_params = ";isfocus";
  return accept(session, sdp_answer, headers);
}

Status UserAgent::accept(uint64_t session, std::string_view sdp_answer, const HeaderList& headers) {
  Session* sp = find(session);
  if (!sp) return make_error(ErrorCode::kNotFound, "no such session");
  Session& s = *sp;
  if (s.state != Session::State::kIncoming)
    return make_error(ErrorCode::kFailedPrecondition, "already answered");
  Message ok = make_response(s.invite, 200, "OK", s.local_tag);
  ok.add_header("Contact", contact_of(s));
  for (const Header* rr : s.invite.all(HeaderId::kRecordRoute))
    ok.add_header("Record-Route", rr->value);
  if (s.timer.interval.count() > 0) {
    ok.add_header("Session-Expires", session_expires(s, false));
    ok.add_header("Require", "timer");
  }
  ok.add_header("Supported", "timer");
  for (const auto& [n, v] : headers) ok.add_header(n, v);
  if (!sdp_answer.empty()) ok.set_body("application/sdp", sdp_answer);
  // The dialog from the 2xx as the peer will read it (a hostile INVITE's headers are copied
  // into it, so it is parsed again rather than assumed to parse).
  auto as_sent = Message::parse(ok.serialize());
  Result<Dialog> d =
      as_sent ? Dialog::as_uas(s.invite, as_sent.value())
              : Result<Dialog>(make_error(ErrorCode::kInvalidArgument, as_sent.error().describe()));
  if (!d) {
    // Never leave the INVITE unanswered: the caller gets a final response either way.
    warn_on_error(layer_.respond(s.invite_txn, make_response(s.invite, 500, "Server Internal Error",
                                                             s.local_tag)),
                  "sending a response");
    end(session, "rejected", false);
    return d.error();
  }
  s.dialog = d.value();
  note_dialog(s);
  s.local_sdp = std::string(sdp_answer);
  s.last_2xx = ok.clone();
  s.state = Session::State::kAnswered;
  VB_TRY(layer_.respond(s.invite_txn, std::move(ok)));
  s.retransmit_interval = options_.t.t1;
  s.waited = Millis(0);
  retransmit_2xx(s.id);
  arm_session_timer(s);
  return ok_status();
}

Status UserAgent::reject(uint64_t session, int status, std::string_view reason,
                         const HeaderList& headers) {
  Session* s = find(session);
  if (!s) return make_error(ErrorCode::kNotFound, "no such session");
  if (s->state != Session::State::kIncoming)
    return make_error(ErrorCode::kFailedPrecondition, "already answered");
  if (status < 300 || status > 699)
    return make_error(ErrorCode::kInvalidArgument, "a rejection needs a status from 300 to 699");
  Message r = make_response(s->invite, status, reason, s->local_tag);
  for (const auto& [n, v] : headers) r.add_header(n, v);
  Status st = layer_.respond(s->invite_txn, std::move(r));
  end(session, "rejected", false);
  return st;
}

// §13.3.1.4: the 2xx again at T1, 2*T1, ... capped at T2, until the ACK; none by 64*T1: the
// session ends with a BYE.
void UserAgent::retransmit_2xx(uint64_t session) {
  Session* s = find(session);
  if (!s) return;
  s->retransmit_timer = timers_.start(s->retransmit_interval, [this, session]() {
    Session* x = find(session);
    if (!x) return;
    x->retransmit_timer = 0;
    if (x->state != Session::State::kAnswered) return;
    x->waited += x->retransmit_interval;
    if (x->waited >= options_.t.t1 * 64) {
      end(session, "no-ack", true);
      return;
    }
    if (x->last_2xx) layer_.send_stateless(*x->last_2xx, x->peer);
    x->retransmit_interval = std::min(x->retransmit_interval * 2, options_.t.t2);
    retransmit_2xx(session);
  });
}

void UserAgent::flow_closed(const Peer& flow) {
  std::vector<uint64_t> gone;
  for (const auto& [id, s] : sessions_) {
    if (s->peer.transport == flow.transport && s->peer.address == flow.address &&
        s->peer.port == flow.port) {
      gone.push_back(id);
    }
  }
  for (uint64_t id : gone) end(id, "peer-gone", false);
  if (handlers_.on_flow_closed) handlers_.on_flow_closed(flow);
}

void UserAgent::on_stray(const Message& m, const Peer&) {
  Session* s = by_dialog(m);
  if (m.is_request()) {
    if (m.method() != "ACK" || !s || s->state != Session::State::kAnswered) return;
    s->state = Session::State::kConfirmed;
    if (s->retransmit_timer) timers_.cancel(s->retransmit_timer);
    s->retransmit_timer = 0;
    return;
  }
  // A 2xx to one of our INVITEs after its transaction ended: our ACK was lost.
  auto cseq = m.cseq();
  if (!cseq || cseq.value().method != "INVITE" || m.status() < 200 || m.status() >= 300) return;
  if (s && s->dialog && s->state != Session::State::kCalling) send_ack(*s, cseq.value().number);
}

void UserAgent::on_server_failed(uint64_t txn, std::string_view) {
  auto it = by_txn_.find(txn);
  if (it != by_txn_.end()) end(it->second, "transaction-failed", false);
}

}  // namespace verbatim::sip
