#include "sip/transaction.h"

#include "common/containers.h"
#include "common/ids.h"
#include "common/strings.h"

namespace verbatim::sip {

namespace {

constexpr std::string_view kCookie = "z9hG4bK";

enum class State { kCalling, kTrying, kProceeding, kCompleted, kConfirmed, kAccepted };

std::string sent_by(const Via& v) {
  return to_lower(std::string(v.host)) + ":" + std::to_string(v.port.value_or(5060));
}

}  // namespace

struct TransactionLayer::Client {
  uint64_t id = 0;
  std::string key;
  Message request = Message::request("", "");  // replaced when the transaction starts
  Peer peer;
  ClientHandler handler;
  bool invite = false;
  State state = State::kCalling;
  Millis interval{0};
  uint64_t retransmit = 0;  // timer A or E
  uint64_t timeout = 0;     // timer B or F
  uint64_t linger = 0;      // timer D, K or M
  std::optional<Message> ack;
};

struct TransactionLayer::Server {
  uint64_t id = 0;
  std::string key;
  std::string merge_key;
  Message request = Message::request("", "");  // replaced when the transaction starts
  Peer peer;
  bool invite = false;
  State state = State::kTrying;
  std::optional<Message> last_response;
  Millis interval{0};
  uint64_t retransmit = 0;  // timer G
  uint64_t timeout = 0;     // timer H, or the guard for a TU that never answers
  uint64_t linger = 0;      // timer I, J or L
};

TransactionLayer::TransactionLayer(TimerService& timers, Callbacks callbacks, TimerConfig config)
    : timers_(timers), cb_(std::move(callbacks)), cfg_(config) {}

TransactionLayer::~TransactionLayer() {
  for (auto& [id, c] : clients_) {
    cancel(c->retransmit);
    cancel(c->timeout);
    cancel(c->linger);
  }
  for (auto& [id, s] : servers_) {
    cancel(s->retransmit);
    cancel(s->timeout);
    cancel(s->linger);
  }
}

std::string TransactionLayer::new_branch() { return std::string(kCookie) + random_hex(12); }

void TransactionLayer::timer(uint64_t& slot, Millis after, std::function<void()> fn) {
  cancel(slot);
  slot = timers_.start(after, std::move(fn));
}

void TransactionLayer::cancel(uint64_t& slot) {
  if (slot) timers_.cancel(slot);
  slot = 0;
}

void TransactionLayer::send_stateless(const Message& message, const Peer& to) {
  cb_.send(message, to);
}

// --- client transactions ------------------------------------------------------------------

Result<uint64_t> TransactionLayer::send_request(Message request, const Peer& to,
                                                ClientHandler handler) {
  if (!request.is_request() || request.method() == "ACK") {
    return make_error(ErrorCode::kInvalidArgument,
                      "only requests other than ACK start a client transaction");
  }
  auto vias = request.vias();
  if (!vias)
    return make_error(ErrorCode::kInvalidArgument,
                      "the request needs a Via: " + vias.error().message);
  const auto branch = vias.value().front().branch();
  if (!branch || branch->substr(0, kCookie.size()) != kCookie) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the top Via needs a z9hG4bK branch (new_branch())");
  }
  auto cseq = request.cseq();
  if (!cseq || cseq.value().method != request.method()) {
    return make_error(ErrorCode::kInvalidArgument, "the CSeq method must be the request's");
  }
  const std::string key = std::string(*branch) + "|" + std::string(request.method());
  if (client_keys_.count(key)) {
    return make_error(ErrorCode::kAlreadyExists,
                      "a client transaction with branch " + std::string(*branch) + " exists");
  }
  auto c = std::make_unique<Client>();
  c->id = next_id_++;
  c->key = key;
  c->peer = to;
  c->handler = std::move(handler);
  c->invite = request.method() == "INVITE";
  c->state = c->invite ? State::kCalling : State::kTrying;
  c->request = std::move(request);
  Client& cl = *c;
  const uint64_t id = cl.id;
  client_keys_[key] = id;
  clients_[id] = std::move(c);
  cb_.send(cl.request, cl.peer);
  if (!to.reliable()) {
    cl.interval = cfg_.t1;
    // Timer A (INVITE: doubling) or E (non-INVITE: doubling up to T2, T2 once proceeding).
    timer(cl.retransmit, cl.interval, [this, id]() { client_retransmit(id); });
  }
  // Timer B / F: no final response in 64*T1.
  timer(cl.timeout, cfg_.t1 * 64, [this, id]() {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    it->second->timeout = 0;
    if (it->second->state == State::kCompleted || it->second->state == State::kAccepted) return;
    ClientHandler h = it->second->handler;
    finish_client(id);
    if (h) h(ClientOutcome::kTimeout, nullptr);
  });
  return id;
}

// Timer A (INVITE: the interval doubles) or E (non-INVITE: doubles up to T2, and is T2 once a
// provisional response came).
void TransactionLayer::client_retransmit(uint64_t id) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Client& c = *it->second;
  c.retransmit = 0;
  const bool waiting = c.state == State::kCalling || c.state == State::kTrying ||
                       (!c.invite && c.state == State::kProceeding);
  if (!waiting) return;
  cb_.send(c.request, c.peer);
  c.interval = c.invite
                   ? c.interval * 2
                   : (c.state == State::kProceeding ? cfg_.t2 : std::min(c.interval * 2, cfg_.t2));
  timer(c.retransmit, c.interval, [this, id]() { client_retransmit(id); });
}

// Timer G: the final response again, doubling up to T2, until the ACK or timer H.
void TransactionLayer::server_retransmit(uint64_t id) {
  auto it = servers_.find(id);
  if (it == servers_.end() || it->second->state != State::kCompleted) return;
  Server& s = *it->second;
  s.retransmit = 0;
  cb_.send(*s.last_response, s.peer);
  s.interval = std::min(s.interval * 2, cfg_.t2);
  timer(s.retransmit, s.interval, [this, id]() { server_retransmit(id); });
}

void TransactionLayer::finish_client(uint64_t id) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Client& c = *it->second;
  cancel(c.retransmit);
  cancel(c.timeout);
  cancel(c.linger);
  client_keys_.erase(c.key);
  clients_.erase(it);
  shrink_if_sparse(clients_);
  shrink_if_sparse(client_keys_);
}

namespace {

// RFC 3261 §17.1.1.3: the ACK for a non-2xx final response.
Message make_ack(const Message& request, const Message& response) {
  Message ack = Message::request("ACK", request.request_uri());
  if (const Header* via = request.find(HeaderId::kVia)) {
    auto vias = parse_via_list(via->value);
    // Only the top Via entry, even when the field holds several.
    const std::string_view top = via->value.substr(
        0, vias && vias.value().size() > 1 ? via->value.find(',') : std::string_view::npos);
    ack.add_header("Via", top);
  }
  for (const Header* r : request.all(HeaderId::kRoute)) ack.add_header("Route", r->value);
  ack.add_header("Max-Forwards", "70");
  if (const Header* f = request.find(HeaderId::kFrom)) ack.add_header("From", f->value);
  if (const Header* t = response.find(HeaderId::kTo)) ack.add_header("To", t->value);
  if (const Header* c = request.find(HeaderId::kCallId)) ack.add_header("Call-ID", c->value);
  if (auto cseq = request.cseq())
    ack.add_header("CSeq", std::to_string(cseq.value().number) + " ACK");
  return ack;
}

}  // namespace

void TransactionLayer::on_response(Message response, const Peer& from) {
  auto vias = response.vias();
  auto cseq = response.cseq();
  if (!vias || !cseq) return;  // malformed responses are discarded
  const auto branch = vias.value().front().branch();
  if (!branch) return;
  auto kit = client_keys_.find(std::string(*branch) + "|" + std::string(cseq.value().method));
  if (kit == client_keys_.end()) {
    // A 2xx retransmission after the transaction is gone: the dialog ACKs it again.
    if (cseq.value().method == "INVITE" && response.status() / 100 == 2 && cb_.on_stray) {
      cb_.on_stray(response, from);
    }
    return;
  }
  const uint64_t id = kit->second;
  Client& c = *clients_.at(id);
  const int status = response.status();
  ClientHandler handler = c.handler;
  if (status < 200) {
    if (c.state == State::kCalling || c.state == State::kTrying) c.state = State::kProceeding;
    if (c.state != State::kProceeding) return;
    if (c.invite) cancel(c.retransmit);
    if (handler) handler(ClientOutcome::kProvisional, &response);
    return;
  }
  if (c.invite) {
    if (status < 300) {
      if (c.state == State::kCalling || c.state == State::kProceeding) {
        // RFC 6026 Accepted: 2xx retransmissions keep reaching the TU for 64*T1.
        c.state = State::kAccepted;
        cancel(c.retransmit);
        cancel(c.timeout);
        timer(c.linger, cfg_.t1 * 64, [this, id]() { finish_client(id); });
      }
      if (c.state == State::kAccepted && handler) handler(ClientOutcome::kFinal, &response);
      return;
    }
    if (c.state == State::kCompleted) {  // retransmitted final: ACK again, TU already knows
      if (c.ack) cb_.send(*c.ack, c.peer);
      return;
    }
    if (c.state == State::kAccepted) return;
    c.state = State::kCompleted;
    cancel(c.retransmit);
    cancel(c.timeout);
    c.ack = make_ack(c.request, response);
    cb_.send(*c.ack, c.peer);
    // Timer D: absorb retransmitted finals (32 s unreliable, 0 reliable).
    timer(c.linger, c.peer.reliable() ? Millis(0) : Millis(32000),
          [this, id]() { finish_client(id); });
    if (handler) handler(ClientOutcome::kFinal, &response);
    return;
  }
  if (c.state == State::kCompleted) return;
  c.state = State::kCompleted;
  cancel(c.retransmit);
  cancel(c.timeout);
  timer(c.linger, c.peer.reliable() ? Millis(0) : cfg_.t4, [this, id]() { finish_client(id); });
  if (handler) handler(ClientOutcome::kFinal, &response);
}

// --- server transactions ------------------------------------------------------------------

void TransactionLayer::finish_server(uint64_t id) {
  auto it = servers_.find(id);
  if (it == servers_.end()) return;
  Server& s = *it->second;
  cancel(s.retransmit);
  cancel(s.timeout);
  cancel(s.linger);
  server_keys_.erase(s.key);
  if (!s.merge_key.empty()) {
    auto m = merge_keys_.find(s.merge_key);
    if (m != merge_keys_.end() && m->second == id) merge_keys_.erase(m);
  }
  servers_.erase(it);
  shrink_if_sparse(servers_);
  shrink_if_sparse(server_keys_);
  shrink_if_sparse(merge_keys_);
}

void TransactionLayer::on_request_received(Message request, const Peer& from) {
  auto vias = request.vias();
  auto cseq = request.cseq();
  auto call_id = request.call_id();
  auto from_hdr = request.from();
  if (!vias || !cseq || !call_id || !from_hdr) {
    // Too broken to match or answer statefully (RFC 3261 §16.3 / 8.2): 400 if it can be
    // answered at all, statelessly.
    if (vias && request.method() != "ACK") {
      auto err = !cseq ? cseq.error() : !call_id ? call_id.error() : from_hdr.error();
      Message r = make_response(request, 400, "Bad Request");
      r.add_header("Warning", "399 verbatim \"" + err.message + "\"");
      cb_.send(r, from);
    }
    return;
  }
  const Via& top = vias.value().front();
  const std::string method(request.method());
  const std::string match_method = method == "ACK" ? "INVITE" : method;
  const auto branch = top.branch();
  std::string key;
  if (branch && branch->substr(0, kCookie.size()) == kCookie) {
    key = std::string(*branch) + "|" + sent_by(top) + "|" + match_method;
  } else {
    // RFC 2543 peers: match on the request's identity instead (§17.2.3).
    auto to = request.to();
    key = "2543|" + std::string(request.request_uri()) + "|" +
          std::string(to ? to.value().tag().value_or("") : "") + "|" +
          std::string(from_hdr.value().tag().value_or("")) + "|" + std::string(call_id.value()) +
          "|" + std::to_string(cseq.value().number) + "|" + sent_by(top) + "|" + match_method;
  }
  auto existing = server_keys_.find(key);
  if (method == "ACK") {
    if (existing == server_keys_.end()) {
      if (cb_.on_stray) cb_.on_stray(request, from);  // the ACK of a 2xx: end to end
      return;
    }
    Server& s = *servers_.at(existing->second);
    if (s.state == State::kCompleted) {
      const uint64_t id = s.id;
      s.state = State::kConfirmed;
      cancel(s.retransmit);
      cancel(s.timeout);
      timer(s.linger, s.peer.reliable() ? Millis(0) : cfg_.t4, [this, id]() { finish_server(id); });
    }
    return;
  }
  if (existing != server_keys_.end()) {  // a retransmission
    Server& s = *servers_.at(existing->second);
    if (s.last_response && s.state != State::kAccepted) cb_.send(*s.last_response, s.peer);
    return;
  }
  // Merged requests (§8.2.2.2): the same request reaching us again by another path.
  std::string merge_key;
  if (auto to = request.to(); to && !to.value().tag()) {
    merge_key = std::string(from_hdr.value().tag().value_or("")) + "|" +
                std::string(call_id.value()) + "|" + std::to_string(cseq.value().number) + "|" +
                method;
    if (merge_keys_.count(merge_key)) {
      cb_.send(make_response(request, 482, "Loop Detected"), from);
      return;
    }
  }
  uint64_t cancels = 0;
  if (method == "CANCEL") {
    std::string invite_key = key.substr(0, key.size() - std::string("CANCEL").size()) + "INVITE";
    if (auto inv = server_keys_.find(invite_key); inv != server_keys_.end()) cancels = inv->second;
  }
  auto srv = std::make_unique<Server>();
  srv->id = next_id_++;
  srv->key = key;
  srv->merge_key = merge_key;
  srv->peer = from;
  srv->invite = method == "INVITE";
  srv->state = srv->invite ? State::kProceeding : State::kTrying;
  srv->request = std::move(request);
  Server& s = *srv;
  const uint64_t id = s.id;
  server_keys_[key] = id;
  if (!merge_key.empty()) merge_keys_[merge_key] = id;
  servers_[id] = std::move(srv);
  if (s.invite) {
    // 100 Trying at once: it stops the client's INVITE retransmissions (timer A).
    s.last_response = make_response(s.request, 100, "Trying");
    cb_.send(*s.last_response, s.peer);
  } else {
    // A TU that never answers a non-INVITE request: the client gave up after 64*T1.
    timer(s.timeout, cfg_.t1 * 64 + cfg_.t4, [this, id]() {
      auto it = servers_.find(id);
      if (it == servers_.end() || it->second->state != State::kTrying) return;
      it->second->timeout = 0;
      finish_server(id);
      if (cb_.on_server_failed) cb_.on_server_failed(id, "the request was never answered");
    });
  }
  if (cb_.on_request) cb_.on_request(id, s.request, s.peer, cancels);
}

Status TransactionLayer::respond(uint64_t server_id, Message response) {
  auto it = servers_.find(server_id);
  if (it == servers_.end()) {
    return make_error(ErrorCode::kNotFound,
                      "no server transaction " + std::to_string(server_id) + " (it ended)");
  }
  Server& s = *it->second;
  if (response.is_request())
    return make_error(ErrorCode::kInvalidArgument, "respond() takes a response");
  if (s.state != State::kTrying && s.state != State::kProceeding) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "the transaction already has its final response");
  }
  const int status = response.status();
  const uint64_t id = s.id;
  s.last_response = std::move(response);
  cb_.send(*s.last_response, s.peer);
  if (status < 200) {
    s.state = State::kProceeding;
    return ok_status();
  }
  cancel(s.timeout);
  if (s.invite && status < 300) {
    // RFC 6026 Accepted: INVITE retransmissions are absorbed for 64*T1; retransmitting the
    // 2xx until the ACK comes is the UA core's job (§13.3.1.4).
    s.state = State::kAccepted;
    timer(s.linger, cfg_.t1 * 64, [this, id]() { finish_server(id); });
    return ok_status();
  }
  s.state = State::kCompleted;
  if (s.invite) {
    if (!s.peer.reliable()) {
      s.interval = cfg_.t1;
      timer(s.retransmit, s.interval, [this, id]() { server_retransmit(id); });
    }
    timer(s.timeout, cfg_.t1 * 64, [this, id]() {  // timer H: the ACK never came
      auto it = servers_.find(id);
      if (it == servers_.end()) return;
      it->second->timeout = 0;
      finish_server(id);
      if (cb_.on_server_failed) cb_.on_server_failed(id, "no ACK for the final response");
    });
    return ok_status();
  }
  timer(s.linger, s.peer.reliable() ? Millis(0) : cfg_.t1 * 64,
        [this, id]() { finish_server(id); });  // J
  return ok_status();
}

void TransactionLayer::on_message(Message message, const Peer& from) {
  if (message.is_request()) {
    on_request_received(std::move(message), from);
  } else {
    on_response(std::move(message), from);
  }
}

}  // namespace verbatim::sip
