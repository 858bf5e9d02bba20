// Routing a new call: whom a Request-URI reaches (users by SIP address or number, call queues,
// emergency numbers and the trunk), the caller's checks (trunk, loops, Max-Forwards), the media
// anchor for the offer, each party's policy decision, and placing the call to the callee's
// registrations.
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/strings.h"
#include "gateway/usages.h"
#include "sip/header_values.h"

namespace verbatim::gateway {

// --- a new call ------------------------------------------------------------------------------

void Gateway::on_invite(uint64_t session, const sip::Message& invite) {
  const sip::Peer* from_peer = ua_->peer(session);
  if (!from_peer) return;
  if (stopping_) {
    refuse(session, 503, "Service Unavailable", "the gateway is shutting down");
    return;
  }
  auto c = std::make_unique<Call>(*timers_, *wall_);
  c->id = next_call_++;
  c->a = session;
  c->call_id = std::string(invite.call_id().value());
  for (const auto& h : invite.headers()) {
    if (iequals(h.name, "Session-ID") && h.value.size() <= 256) c->session_id = h.value;
    if (c->business_headers.size() >= 16 || h.value.empty() || h.value.size() > 256) continue;
    for (const auto& name : options_.business_headers) {
      if (iequals(h.name, name)) c->business_headers.emplace_back(name, std::string(h.value));
    }
  }
  c->request_uri = std::string(invite.request_uri());
  c->caller.side = Side::kA;
  c->callee.side = Side::kB;
  const bool trunk = !options_.trunk.empty();
  // Loops: our own request coming back (RFC 3261 §16.3 step 4: our address in its Vias), or
  // one that has been forwarded as often as it may be (Max-Forwards 0: 483).
  if (auto vias = invite.vias()) {
    for (const auto& v : vias.value()) {
      const std::string sent_by =
          std::string(v.host) + (v.port ? ":" + std::to_string(*v.port) : "");
      if (iequals(sent_by, local_)) {
        ++metrics_.loops_refused;
        refuse(session, 482, "Loop Detected", "this request has been through this gateway");
        return;
      }
    }
  }
  int max_forwards = 70;
  if (auto mf = invite.max_forwards()) max_forwards = static_cast<int>(mf.value());
  if (max_forwards <= 0) {
    ++metrics_.loops_refused;
    refuse(session, 483, "Too Many Hops", "Max-Forwards reached 0");
    return;
  }
  c->max_forwards = std::min(max_forwards - 1, 70);
  std::optional<Registrar::Reply> trunk_refusal;
  const bool from_trunk = this->from_trunk(invite, *from_peer, trunk_refusal);
  if (trunk_refusal) {
    if (trunk_refusal->status == 401) ++metrics_.auth_challenges;
    warn_on_error(
        ua_->reject(session, trunk_refusal->status, trunk_refusal->reason, trunk_refusal->headers),
        "rejecting a request");
    return;
  }
  auto from = invite.from();
  if (!from) {
    refuse(session, 400, "Bad Request", "bad From");
    return;
  }
  // Who calls: an authenticated user, or the trunk (the caller's number from From).
  if (from_trunk) {
    c->caller.aor = std::string(from.value().uri.text);
    c->caller.number = from.value().uri.user_unescaped();
    c->caller.display = sip::unquote(from.value().display_name);
  } else {
    auto auth = registrar_->authenticate(invite, *from_peer);
    if (!auth.ok()) {
      if (auth.reply.status == 401) ++metrics_.auth_challenges;
      warn_on_error(ua_->reject(session, auth.reply.status, auth.reply.reason, auth.reply.headers),
                    "rejecting a request");
      return;
    }
    c->caller.aor = "sip:" + auth.identity;
    c->caller.display = sip::unquote(from.value().display_name);
    c->a_record_aware = record_aware(invite);
  }
  // Whom: a user by SIP address or number, else a number for the trunk.
  auto ruri = sip::parse_uri(invite.request_uri());
  if (!ruri) {
    refuse(session, 416, "Unsupported URI Scheme", "bad Request-URI");
    return;
  }
  const std::string dialled = ruri.value().user_unescaped();
  if (std::string meeting; meeting_uri(ruri.value(), meeting)) {
    join_meeting(session, invite, c->caller, meeting);
    return;
  }
  if (!from_trunk && !options_.conference_factory.empty() && ruri.value().is_sip() &&
      iequals(dialled, options_.conference_factory)) {
    adhoc_conference(session, invite, c->caller);
    return;
  }
  if (const auto* number = dial_in_number(dialled)) {
    dial_in(session, invite, c->caller, *number);
    return;
  }
  ++metrics_.calls;
  const Target t = resolve(ruri.value());
  c->emergency = t.emergency;
  c->via_trunk = t.via_trunk;
  c->callee_identity = t.identity;
  c->callee.aor = t.party.aor;
  c->callee.display = t.party.display;
  c->callee.number = t.party.number;
  if (t.queue) {
    c->queue = std::make_unique<QueueCall>(*timers_);
    c->queue->route = t.queue;
    c->queue->queue = c->callee;
  }
  if (!c->callee_identity.empty() && !t.emergency)
    c->forwarding = policy_->forwarding(c->callee.aor);
  if (!from_trunk) {
    if (auto u = policy_->user(c->caller.aor)) {
      c->caller.number = u->number;
      if (c->caller.display.empty()) c->caller.display = u->display;
    }
  }
  if (c->emergency) ++metrics_.emergency_calls;
  if (c->emergency && !trunk) {
    spdlog::error("call {}: emergency number {} but no trunk is configured", c->call_id, dialled);
    refuse(session, 503, "Service Unavailable", "no trunk for emergency calls");
    return;
  }
  if (c->callee.aor.empty()) {
    refuse(session, 404, "Not Found", "no user or number " + dialled);
    return;
  }
  if (from_trunk && c->via_trunk && !c->emergency) {
    // A call from the trunk is for our users; sending it back out would make the gateway an
    // open relay for toll fraud, and a loop with a trunk that routes the number back to us.
    ++metrics_.trunk_refused;
    refuse(session, 404, "Not Found",
           "no user " + dialled +
               " here (calls from the trunk are "
               "never routed back out to it)");
    return;
  }
  // The media: the offer must be SDP we can relay.
  auto ct = invite.content_type();
  if (invite.body().empty() || !ct || !iequals(ct.value().type, "application") ||
      !iequals(ct.value().subtype, "sdp")) {
    refuse(session, 488, "Not Acceptable Here", "an INVITE with an SDP offer is needed");
    return;
  }
  auto offer = sip::parse_sdp(invite.body());
  if (!offer) {
    refuse(session, 488, "Not Acceptable Here", "SDP: " + offer.error().message);
    return;
  }
  if (!from_peer->secure() && !options_.allow_sdes_over_plain_sip) {
    for (const auto& m : offer.value().media) {
      if (m.port != 0 && !m.cryptos().empty()) {
        // The SRTP keys would have crossed the network in the clear: they protect nothing, and
        // answering with ours would expose them too (RFC 4568 §8.3).
        refuse(session, 488, "Not Acceptable Here",
               "SDES-SRTP keys are exchanged only over TLS (sips:); this offer came over " +
                   from_peer->transport);
        return;
      }
    }
  }
  c->a_offer = std::move(offer).value();
  if (auto st = open_media(*c, c->a_offer); !st) {
    for (auto& r : c->relays) {
      if (r) r->close();
    }
    const bool busy = st.error().code == ErrorCode::kResourceExhausted;
    refuse(session, busy ? 503 : 488, busy ? "Service Unavailable" : "Not Acceptable Here",
           st.error().message);
    return;
  }
  Call& call = *c;
  set_signalling(call, Side::kA, session);
  sessions_[session] = {call.id, usages().caller, nullptr};
  calls_[call.id] = std::move(c);
  // Who is recorded: each party that is a user whose effective policy records.
  // (A queue is not recorded as such: each agent is, under their own policy, once they answer.)
  if (call.forwarding && call.forwarding->forwarding_enabled &&
      call.forwarding->forwarding_type == "Immediate") {
    forward_immediately(call);
  }
  if (!call.emergency) {
    decide(call, call.caller);
    if (!call.queue && !call.to_voicemail) decide(call, call.callee);
  }
  spdlog::info("call {}: {} -> {}{}{}", call.call_id, call.caller.aor, call.callee.aor,
               call.emergency ? " (emergency: not recorded)" : "",
               call.recorded() ? " (recorded)" : "");
  bool waiting = false;
  for (const auto& r : call.recordings) {
    for (const auto& g : r->groups) waiting |= g.required_before;
  }
  if (!waiting) {
    place_callee(call);
    return;
  }
  await_recorders(call);
}

// A party that is a user gets its effective policy; when it records, its recorders are invited.
void Gateway::decide(Call& c, Party& p) {
  if (p.aor.empty() || !istarts_with(p.aor, "sip:")) return;
  p.decision = policy_->decide(p.aor);
  p.user = p.decision.user;
  if (p.decision.record()) {
    p.recorded = true;
    invite_recorders(c, p);
  }
}

// RequiredBeforeCallEstablishment: the callee is called once the required recorders are in
// (check_setup), or the call fails at the deadline.
void Gateway::await_recorders(Call& c) {
  c.deadline.start(options_.recording_setup_timeout, [this, id = c.id] {
    auto it = calls_.find(id);
    if (it == calls_.end() || it->second->state != Call::State::kSetup) return;
    recording_failed(*it->second,
                     "no recorder answered within " +
                         std::to_string(options_.recording_setup_timeout.count()) + " ms",
                     true);
  });
  check_setup(c);
}

// --- the callee ------------------------------------------------------------------------------

// The From of a call we place for `p`: its name and address; towards the trunk its number.
std::string Gateway::from_of(const Party& p, bool to_trunk) const {
  return (p.display.empty() ? "" : quote(p.display) + " ") + "<" +
         (p.number.empty() || !to_trunk ? p.aor : "sip:" + p.number + "@" + local_) + ">";
}

void Gateway::place_callee(Call& c) {
  if (c.queue) {
    queue_start(c);
    return;
  }
  c.state = Call::State::kCalling;
  c.callee_called_ms = ms_since(c.started);
  sip::OutgoingCall oc;
  oc.max_forwards = c.max_forwards;
  std::vector<Binding> bindings;
  if (c.to_voicemail) {
    oc.next_hop = *peer_of_uri(options_.voicemail_uri);
    oc.request_uri = options_.voicemail_uri;
    // Whose mailbox, and why (RFC 5806 Diversion, RFC 7044 History-Info).
    // RFC 4458 causes: 302 forwarded unconditionally, 408 no answer, 480 unavailable.
    const char* cause = c.voicemail_reason == "unconditional" ? "302"
                        : c.voicemail_reason == "no-answer"   ? "408"
                                                              : "480";
    oc.headers.emplace_back("Diversion", "<" + c.callee.aor + ">;reason=" + c.voicemail_reason);
    oc.headers.emplace_back("History-Info", "<" + c.callee.aor + ">;index=1");
    oc.headers.emplace_back("History-Info",
                            "<" + options_.voicemail_uri + ";cause=" + cause + ">;index=1.1;mp=1");
  } else if (c.via_trunk) {
    oc.next_hop = trunk_peer();
    oc.request_uri = "sip:" + c.callee.number + "@" + options_.trunk;
  } else {
    bindings = registrar_->bindings(c.callee_identity);
    if (bindings.empty() && c.forwarding && c.forwarding->unanswered_enabled &&
        on_unanswered(c, c.callee.aor + " is not registered (calling settings)")) {
      return;
    }
    if (bindings.empty()) {
      reject_caller(c, 480, "Temporarily Unavailable",
                    {{"Warning", "399 verbatim " + quote(c.callee.aor + " is not registered")}},
                    "callee not registered");
      return;
    }
    if (!keys_allowed(c, "")) {
      // The callee is offered SRTP with our keys: only on phones registered over TLS.
      std::erase_if(bindings, [](const Binding& b) { return !b.source.secure(); });
      if (bindings.empty()) {
        reject_caller(
            c, 480, "Temporarily Unavailable",
            {{"Warning", "399 verbatim " + quote(c.callee.aor +
                                                 " has no phone registered over TLS, and SRTP keys "
                                                 "are sent only over TLS")}},
            "callee not reachable over TLS");
        return;
      }
    }
  }
  oc.from = from_of(c.caller, c.via_trunk);
  oc.to = "<" + (c.via_trunk && !c.to_voicemail ? oc.request_uri : c.callee.aor) + ">";
  if (!c.forwards.empty() && !c.to_voicemail) {
    oc.headers.emplace_back("Diversion",
                            "<" + c.forwards.back()["from"].get<std::string>() +
                                ">;reason=" + c.forwards.back().value("reason", "unconditional"));
  }
  oc.body = sdp_for(c, c.a_offer, Side::kB);
  for (auto& h : indicator_headers(c)) oc.headers.push_back(std::move(h));
  if (c.emergency) oc.session_timer = false;
  // Simultaneous ring: every registration of the callee (newest first); the first to answer
  // takes the call and the others are cancelled.
  if (bindings.empty()) bindings.push_back(Binding{oc.request_uri, oc.next_hop, {}, {}, 0});
  std::string error;
  for (uint64_t sid : invite_each(
           oc, bindings, &error, [&] { return sdp_for(c, c.a_offer, Side::kB, false, 0, true); })) {
    c.forks.push_back(sid);
    sessions_[sid] = {c.id, usages().callee_fork, nullptr};
  }
  if (c.forwarding && c.forwarding->forwarding_enabled &&
      c.forwarding->forwarding_type == "Simultaneous" && !c.to_voicemail && !c.via_trunk) {
    ring_simultaneously(c, oc);
  }
  c.rang = c.forks.size();
  if (c.forwarding && c.forwarding->unanswered_enabled && !c.to_voicemail && !c.via_trunk) {
    c.unanswered.start(std::chrono::seconds(c.forwarding->unanswered_delay), [this, id = c.id] {
      auto it = calls_.find(id);
      if (it == calls_.end()) return;
      Call& call = *it->second;
      if (call.state == Call::State::kCalling && !call.b && call.forwarding) {
        (void)on_unanswered(call, "no answer within " +
                                      std::to_string(call.forwarding->unanswered_delay) +
                                      " s (calling settings)");
      }
    });
  }
  if (c.forks.empty()) {
    reject_caller(c, 500, "Server Internal Error", {{"Warning", "399 verbatim " + quote(error)}},
                  "could not call: " + error);
  }
}

std::vector<uint64_t> Gateway::invite_each(const sip::OutgoingCall& oc,
                                           const std::vector<Binding>& at, std::string* error,
                                           const std::function<std::string()>& browser_body) {
  std::vector<uint64_t> sent;
  std::optional<std::string> for_browsers;
  for (const auto& b : at) {
    sip::OutgoingCall fork = oc;
    fork.next_hop = b.source;
    fork.request_uri = b.contact;
    if (browser_body && b.source.websocket()) {
      if (!for_browsers) for_browsers = browser_body();
      fork.body = *for_browsers;
    }
    auto sid = ua_->invite(std::move(fork));
    if (sid) {
      sent.push_back(sid.value());
    } else if (error) {
      *error = sid.error().message;
    }
  }
  return sent;
}

}  // namespace verbatim::gateway
