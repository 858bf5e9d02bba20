// Forwarding: a 3xx from the callee's phone, and the forwarding a user set (Set-
// CsUserCallingSettings: immediate, simultaneous ring, unanswered), with RecordReroutedCalls.
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/strings.h"
#include "gateway/usages.h"
#include "sip/header_values.h"

namespace verbatim::gateway {

// --- forwarding and transfers ----------------------------------------------------------------

// Whom a 3xx's Contact reaches, if anyone.
std::optional<Gateway::Target> Gateway::redirect_target(const sip::Message& response) {
  const sip::Header* contact = response.find(sip::HeaderId::kContact);
  if (!contact) return std::nullopt;
  auto na = sip::parse_name_addr(contact->value);
  if (!na) return std::nullopt;
  auto uri = sip::parse_uri(na.value().uri.text);
  if (!uri) return std::nullopt;
  Target t = resolve(uri.value());
  if (t.party.aor.empty()) return std::nullopt;
  return t;
}

// The callee's phone forwarded the call (3xx) before it was answered: the other registrations
// are cancelled and the target becomes the callee. The callee's recordings end, unless its
// policy records rerouted calls (then they go on, on its behalf); the target's own policy
// decides whether it is recorded, and its required recorders hold the call as for a new one.
void Gateway::forward(Call& c, Target t, int status, const std::string& reason) {
  c.unanswered.cancel();
  for (uint64_t f : c.forks) {
    sessions_.erase(f);
    hang_up(f);
  }
  c.forks.clear();
  const Party& gone = departs(c, c.callee, true, "the call was forwarded");
  spdlog::info("call {}: {} forwards the call to {}", c.call_id, gone.aor, t.party.aor);
  c.forwards.push_back({{"from", gone.aor},
                        {"to", t.party.aor},
                        {"status", status},
                        {"reason", reason},
                        {"atMs", ms_since(c.started)}});
  c.callee = std::move(t.party);
  c.callee.side = Side::kB;
  c.callee_identity = t.identity;
  c.via_trunk = t.via_trunk;
  c.state = Call::State::kSetup;
  refresh_metadata(c);
  if (!t.emergency) decide(c, c.callee);
  await_recorders(c);
}

// --- forwarding set by the admin (Set-CsUserCallingSettings) -------------------------------

// A stored forwarding target (a user's SIP address or an E.164 number) as a party to call;
// nullopt when the gateway cannot reach it now (a number without a trunk, a removed user).
std::optional<Gateway::Target> Gateway::forwarding_target(const std::string& target) {
  const std::string text = istarts_with(target, "sip:") ? target : "tel:" + target;
  auto uri = sip::parse_uri(text);  // views into `text`
  if (!uri) return std::nullopt;
  Target t = resolve(uri.value());
  if (t.party.aor.empty() || t.emergency || t.queue) return std::nullopt;
  return t;
}

// With RecordReroutedCalls, a user whose call is forwarded away is recorded on their behalf:
// their own recorders record the party who takes the call for them.
Gateway::Party& Gateway::departs(Call& c, Party& party, bool on_behalf, const std::string& why) {
  c.departed.push_back(std::make_unique<Party>(party));
  Party& gone = *c.departed.back();
  for (auto& r : c.recordings) {
    if (r->party != &party) continue;
    r->party = &gone;
    if (on_behalf && r->policy->record_rerouted_calls && r->active()) {
      r->on_behalf = true;
    } else {
      end_recording(c, *r, why);
    }
  }
  return gone;
}

void Gateway::record_rerouted(Call& c, Party& gone) {
  const policy::Decision d = policy_->decide(gone.aor);
  if (!d.record() || !d.policy->record_rerouted_calls) return;
  gone.decision = d;
  gone.user = d.user;
  gone.recorded = true;
  invite_recorders(c, gone);
  c.recordings.back()->on_behalf = true;
}

// Immediate forwarding: the user's phones never ring; the call goes to the target (under the
// target's own policy, with Diversion naming the user) or to voicemail. One hop: the target's
// own forwarding is not followed.
void Gateway::forward_immediately(Call& c) {
  const policy::CallingSettings f = *c.forwarding;
  c.forwarding.reset();
  if (f.forwarding_target_type == "Voicemail") {
    if (options_.voicemail_uri.empty()) {
      spdlog::warn(
          "call {}: {} forwards to voicemail but gateway.voicemail_uri is not set: "
          "ringing the user",
          c.call_id, c.callee.aor);
      return;
    }
    c.to_voicemail = true;
    c.voicemail_reason = "unconditional";
    c.voicemail_why = "forwarded to voicemail (calling settings)";
    ++metrics_.calls_to_voicemail;
    return;
  }
  auto t = forwarding_target(f.forwarding_target);
  if (!t) {
    spdlog::warn("call {}: {} forwards to {}, which cannot be reached: ringing the user", c.call_id,
                 c.callee.aor, f.forwarding_target);
    return;
  }
  // Before any decision about the user: it has no recording yet, its recorders record the
  // forwarded call on its behalf when its policy says so.
  Party& gone = departs(c, c.callee, true, "the call was forwarded");
  record_rerouted(c, gone);
  spdlog::info("call {}: {} forwards every call to {}", c.call_id, gone.aor, t->party.aor);
  c.forwards.push_back({{"from", gone.aor},
                        {"to", t->party.aor},
                        {"status", 0},
                        {"reason", "unconditional"},
                        {"setting", "immediate"},
                        {"atMs", ms_since(c.started)}});
  c.callee = std::move(t->party);
  c.callee.side = Side::kB;
  c.callee_identity = t->identity;
  c.via_trunk = t->via_trunk;
}

// Simultaneous ring: the target rings with the user's phones (Diversion reason=follow-me), its
// phone showing the indicator if its own policy records it. Its recorders are invited only if it
// answers (simultaneous_answered).
void Gateway::ring_simultaneously(Call& c, const sip::OutgoingCall& template_call) {
  auto t = forwarding_target(c.forwarding->forwarding_target);
  if (!t) {
    spdlog::warn("call {}: {} rings {} too, which cannot be reached", c.call_id, c.callee.aor,
                 c.forwarding->forwarding_target);
    return;
  }
  sip::OutgoingCall oc = template_call;
  oc.to = "<" + t->party.aor + ">";
  oc.headers.clear();
  oc.headers.emplace_back("Diversion", "<" + c.callee.aor + ">;reason=follow-me");
  const policy::Decision d =
      t->identity.empty() ? policy::Decision{} : policy_->decide(t->party.aor);
  for (auto& h : indicator_headers(c, d.record() ? d.policy.get() : nullptr)) {
    oc.headers.push_back(std::move(h));
  }
  oc.body = sdp_for(c, c.a_offer, Side::kB, d.record());
  std::vector<Binding> targets;
  if (t->via_trunk) {
    oc.from = from_of(c.caller, true);
    oc.request_uri = "sip:" + t->party.number + "@" + options_.trunk;
    oc.to = "<" + oc.request_uri + ">";
    targets.push_back(Binding{oc.request_uri, trunk_peer(), {}, {}, 0});
  } else {
    targets = reachable(c, t->identity);
  }
  for (uint64_t sid : invite_each(oc, targets, nullptr, [&] {
         return sdp_for(c, c.a_offer, Side::kB, d.record(), 0, true);
       })) {
    c.forks.push_back(sid);
    c.simultaneous_forks.insert(sid);
    sessions_[sid] = {c.id, usages().simultaneous, nullptr};
  }
  c.simultaneous = std::move(*t);
}

// The simultaneous target answered first: the user's phones are cancelled and the target is the
// callee, recorded under its own policy (the user's recordings end, or go on on the user's
// behalf with RecordReroutedCalls); the caller is connected once its required recorders are in.
void Gateway::simultaneous_answered(Call& c, uint64_t session, const sip::Message& response) {
  c.b = session;
  c.unanswered.cancel();
  for (uint64_t f : c.forks) {
    if (f == session) continue;
    sessions_.erase(f);
    hang_up(f);
  }
  c.forks.clear();
  auto answer = sip::parse_sdp(response.body());
  if (!answer) {
    end_call(c, "the simultaneous ring target answered without usable SDP");
    return;
  }
  c.b_answer = std::move(answer).value();
  c.b_record_aware = !c.simultaneous->via_trunk && record_aware(response);
  const Party& gone =
      departs(c, c.callee, true, "the call was answered by the simultaneous ring target");
  Target& t = *c.simultaneous;
  spdlog::info("call {}: {} answered for {} (simultaneous ring)", c.call_id, t.party.aor, gone.aor);
  c.forwards.push_back({{"from", gone.aor},
                        {"to", t.party.aor},
                        {"status", 0},
                        {"reason", "follow-me"},
                        {"setting", "simultaneous"},
                        {"atMs", ms_since(c.started)}});
  c.callee = t.party;
  c.callee.side = Side::kB;
  c.callee_identity = t.identity;
  c.via_trunk = t.via_trunk;
  c.joining = true;
  admit(c);
}

// The simultaneous target answered but its required recording could not be set up: it gets a
// BYE with the reason, and the caller the refusal a direct call would get.
void Gateway::joined_not_recorded(Call& c, const std::string& why) {
  c.joining = false;
  c.deadline.cancel();
  const sip::HeaderList h{
      {"Reason", reason_header(480, kRecordingFailedText)},
      {"Warning", "399 verbatim " + quote(std::string(kRecordingFailedText) + ": " + why)}};
  if (c.b) {
    const uint64_t b = c.b;
    c.b = 0;
    sessions_.erase(b);
    hang_up(b, h);
  }
  ++metrics_.calls_refused_recording;
  spdlog::warn("call {}: {} answered but could not be recorded: {}", c.call_id, c.callee.aor, why);
  reject_caller(c, 480, "Recording Unavailable", h, "refused: " + why);
}

// Unanswered forwarding: the user's phones rang for UnansweredDelay (or the user has none
// registered); they are cancelled and the call goes to the target or to voicemail. False when
// there is nowhere to go (the call stays as it is).
bool Gateway::on_unanswered(Call& c, const std::string& why) {
  const policy::CallingSettings f = *c.forwarding;
  c.forwarding.reset();
  if (f.unanswered_target_type == "Voicemail") {
    if (options_.voicemail_uri.empty()) {
      spdlog::warn(
          "call {}: {} forwards unanswered calls to voicemail but "
          "gateway.voicemail_uri is not set",
          c.call_id, c.callee.aor);
      return false;
    }
    for (uint64_t fork : c.forks) {
      sessions_.erase(fork);
      hang_up(fork);
    }
    c.forks.clear();
    c.voicemail_reason = "no-answer";
    c.state = Call::State::kSetup;
    to_voicemail(c, why);
    return true;
  }
  auto t = forwarding_target(f.unanswered_target);
  if (!t) {
    spdlog::warn("call {}: {} forwards unanswered calls to {}, which cannot be reached", c.call_id,
                 c.callee.aor, f.unanswered_target);
    return false;
  }
  forward(c, std::move(*t), 408, "no-answer");
  return true;
}

}  // namespace verbatim::gateway
