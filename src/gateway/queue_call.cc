// Calls to call queues: agents offered the call by routing method, agent alert time, timeouts,
// conference mode, and agents that cannot be recorded as their policy requires.
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/strings.h"
#include "gateway/usages.h"
#include "sip/header_values.h"

namespace verbatim::gateway {

// --- call queues -----------------------------------------------------------------------------

// The recording indicator's header for a party's phone (RFC 7866 §6.1 has the SDP side).
sip::HeaderList Gateway::indicator_headers(const Call& c,
                                           const policy::CompiledPolicy* also) const {
  if (!c.recorded() && !also) return {};
  const std::string banner =
      c.recorded() || also->banner_text.empty() ? banner_for(c) : also->banner_text;
  return {{"Call-Info", "<urn:verbatim:recording>;purpose=recording;banner=" + quote(banner)}};
}

// A call to a queue, once the caller's own required recorders are in. Conference mode: the
// queue answers the caller at once and agents join it; transfer mode: the caller hears ringing
// until an agent has answered and that agent's required recorders are in.
void Gateway::queue_start(Call& c) {
  QueueCall& q = *c.queue;
  c.state = Call::State::kCalling;
  c.callee_called_ms = ms_since(c.started);
  q.give_up = timers_->now() + q.route->timeout;
  spdlog::info("call {}: call queue {} ({}, {} mode, {} agents)", c.call_id, q.route->name,
               routing_name(q.route->routing), q.route->conference_mode ? "conference" : "transfer",
               q.route->agents.size());
  if (q.route->conference_mode) {
    c.a_offer = one_codec(c.a_offer);
    warn_on_error(ua_->accept(c.a, sdp_for(c, c.a_offer, Side::kA), indicator_headers(c)),
                  "200 OK");
    journal_up(c.a, c, "caller");
    q.caller_answered = true;
    q.caller_answered_ms = ms_since(c.started);
  } else {
    warn_on_error(ua_->ring(c.a), "180 Ringing");
  }
  queue_attempt(c.id);
}

bool Gateway::agent_busy(const QueueAgent& a, uint64_t except) const {
  return std::any_of(calls_.begin(), calls_.end(), [&](const auto& kv) {
    const Call& o = *kv.second;
    if (kv.first == except || o.state == Call::State::kEnding) return false;
    return (o.b && o.callee_identity == a.identity) || iequals(o.caller.aor, a.aor);
  });
}

// The next agents are offered the call (QueueRouter decides whom); when the round is over the
// queue starts again after a pause, until TimeoutThreshold.
void Gateway::queue_attempt(uint64_t call_id) {
  auto it = calls_.find(call_id);
  if (it == calls_.end()) return;
  Call& c = *it->second;
  if (c.state != Call::State::kCalling || !c.queue || c.b || c.queue->joining || !c.a) return;
  QueueCall& q = *c.queue;
  if (timers_->now() >= q.give_up) {
    queue_timeout(c);
    return;
  }
  auto picks = queue_router_.next(*q.route, q.tried, [&](const QueueAgent& a) {
    return QueueRouter::AgentState{!reachable(c, a.identity).empty(), agent_busy(a, c.id)};
  });
  if (picks.empty()) {
    q.tried.clear();
    queue_pause(c, kQueueRetry);
    return;
  }
  bool rang = false;
  for (size_t agent : picks) rang |= queue_ring(c, agent);
  if (!rang) {
    later([this, id = c.id] { queue_attempt(id); });
    return;
  }
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(q.give_up - timers_->now());
  q.alert.start(std::min<std::chrono::milliseconds>(q.route->alert_time, left),
                [this, id = c.id] { queue_no_answer(id); });
}

void Gateway::queue_pause(Call& c, std::chrono::milliseconds pause) {
  QueueCall& q = *c.queue;
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(q.give_up - timers_->now());
  q.alert.start(std::clamp(left, std::chrono::milliseconds(0), pause),
                [this, id = c.id] { queue_attempt(id); });
}

// One agent is offered the call at every registration; its phone sees the queue in Diversion.
bool Gateway::queue_ring(Call& c, size_t agent) {
  QueueCall& q = *c.queue;
  const QueueAgent& a = q.route->agents[agent];
  sip::OutgoingCall oc;
  oc.max_forwards = c.max_forwards;
  oc.from = from_of(c.caller, false);
  oc.to = "<" + a.aor + ">";
  oc.headers.emplace_back("Diversion", "<" + q.queue.aor + ">;reason=unconditional");
  // The agent's own policy records them if they answer: their phone shows it from the start.
  const policy::Decision d = c.emergency ? policy::Decision{} : policy_->decide(a.aor);
  for (auto& h : indicator_headers(c, d.record() ? d.policy.get() : nullptr)) {
    oc.headers.push_back(std::move(h));
  }
  oc.body = sdp_for(c, c.a_offer, Side::kB, d.record());
  const size_t offer = q.offers.size();
  q.offers.push_back({{"agent", a.aor}, {"atMs", ms_since(c.started)}, {"outcome", "ringing"}});
  size_t rung = 0;
  for (uint64_t sid : invite_each(oc, reachable(c, a.identity), nullptr, [&] {
         return sdp_for(c, c.a_offer, Side::kB, d.record(), 0, true);
       })) {
    sessions_[sid] = {c.id, usages().queue_agent, nullptr};
    q.ringing[sid] = {agent, offer};
    ++rung;
  }
  if (!rung) q.offers[offer]["outcome"] = "could not be called";
  c.rang += rung;
  return rung > 0;
}

// AgentAlertTime passed: the agents ringing are cancelled and the next are offered the call.
void Gateway::queue_no_answer(uint64_t call_id) {
  auto it = calls_.find(call_id);
  if (it == calls_.end() || !it->second->queue) return;
  Call& c = *it->second;
  QueueCall& q = *c.queue;
  for (const auto& [s, r] : q.ringing) {
    sessions_.erase(s);
    hang_up(s);  // CANCEL
    q.offers[r.offer]["outcome"] =
        "no answer within " + std::to_string(q.route->alert_time.count()) + " s";
  }
  q.ringing.clear();
  queue_attempt(call_id);
}

// An agent's registration refused (busy, declined, unreachable); when no registration of any
// agent offered is left ringing, the next are offered the call at once.
void Gateway::queue_failed(Call& c, uint64_t session, int status, const sip::Message* response) {
  QueueCall& q = *c.queue;
  auto it = q.ringing.find(session);
  if (it == q.ringing.end()) return;
  const auto r = it->second;
  q.ringing.erase(it);
  const bool others = std::any_of(q.ringing.begin(), q.ringing.end(),
                                  [&](const auto& kv) { return kv.second.offer == r.offer; });
  if (!others) {
    q.offers[r.offer]["outcome"] =
        "declined: " + std::to_string(status) + " " +
        (response ? std::string(response->reason()) : std::string("no response"));
  }
  if (!q.ringing.empty()) return;
  q.alert.cancel();
  later([this, id = c.id] { queue_attempt(id); });
}

// An agent answered: the others are cancelled, the agent becomes the callee and is recorded
// under their own policy; the caller is connected once the agent's required recorders are in.
void Gateway::queue_answered(Call& c, uint64_t session, const sip::Message& response) {
  QueueCall& q = *c.queue;
  auto it = q.ringing.find(session);
  if (it == q.ringing.end() || c.b || q.joining || !c.a) {
    sessions_.erase(session);
    hang_up(session);
    return;
  }
  const auto r = it->second;
  q.ringing.erase(it);
  const QueueAgent& a = q.route->agents[r.agent];
  for (const auto& [s, other] : q.ringing) {
    sessions_.erase(s);
    hang_up(s);
    if (other.offer != r.offer)
      q.offers[other.offer]["outcome"] = "cancelled: " + a.aor + " answered";
  }
  q.ringing.clear();
  q.alert.cancel();
  auto answer = sip::parse_sdp(response.body());
  if (!answer) {
    q.offers[r.offer]["outcome"] = "answered without usable SDP: " + answer.error().message;
    sessions_.erase(session);
    hang_up(session);
    later([this, id = c.id] { queue_attempt(id); });
    return;
  }
  q.offers[r.offer]["outcome"] = "answered";
  q.offers[r.offer]["answeredMs"] = ms_since(c.started);
  c.b = session;
  c.b_answer = std::move(answer).value();
  c.b_record_aware = record_aware(response);
  c.callee = Party{};
  c.callee.side = Side::kB;
  c.callee.aor = a.aor;
  c.callee.display = a.display;
  c.callee.number = a.number;
  c.callee_identity = a.identity;
  q.joining = r.offer;
  admit(c);
}

// A callee who answered before its recorders were invited (a queue's agent, a simultaneous
// ring's target): recorded under its own policy, connected once its required recorders are in
// (check_agent), let go if they fail or do not answer in time.
void Gateway::admit(Call& c) {
  if (!c.emergency && !c.callee_identity.empty()) decide(c, c.callee);
  c.deadline.start(options_.recording_setup_timeout, [this, id = c.id] {
    auto it = calls_.find(id);
    if (it == calls_.end()) return;
    Call& call = *it->second;
    const std::string why = "no recorder answered within " +
                            std::to_string(options_.recording_setup_timeout.count()) + " ms";
    if (call.queue && call.queue->joining) agent_not_recorded(call, why);
    if (!call.queue && call.joining) joined_not_recorded(call, why);
  });
  check_agent(c);
}

// A party that answered before its recorders were invited (a queue's agent, a simultaneous
// ring's target): connected once its RequiredBeforeCallEstablishment recorders are in.
void Gateway::check_agent(Call& c) {
  const bool agent = c.queue && c.queue->joining;
  if ((!agent && !c.joining) || c.state != Call::State::kCalling) return;
  std::string why;
  const Readiness ready = readiness(c, &c.callee, why);
  if (ready == Readiness::kFailed) agent ? agent_not_recorded(c, why) : joined_not_recorded(c, why);
  if (ready != Readiness::kReady) return;
  if (agent) {
    connect_agent(c);
  } else {
    c.joining = false;
    c.deadline.cancel();
    connect(c);
  }
}

void Gateway::connect_agent(Call& c) {
  QueueCall& q = *c.queue;
  c.deadline.cancel();
  q.joining.reset();
  spdlog::info("call {}: call queue {}: {} took the call", c.call_id, q.route->name, c.callee.aor);
  connect(c);
}

// The agent who answered cannot be recorded as their policy requires: their phone gets a BYE
// with the reason, their recorders are let go, and the queue offers the call to the next agent.
void Gateway::agent_not_recorded(Call& c, const std::string& why) {
  QueueCall& q = *c.queue;
  c.deadline.cancel();
  q.offers[*q.joining]["outcome"] = "recording failed: " + why;
  q.joining.reset();
  ++metrics_.calls_refused_recording;
  spdlog::warn("call {}: call queue {}: {} answered but could not be recorded: {}", c.call_id,
               q.route->name, c.callee.aor, why);
  if (c.b) {
    const uint64_t b = c.b;
    c.b = 0;
    sessions_.erase(b);
    hang_up(b,
            {{"Reason", reason_header(480, kRecordingFailedText)},
             {"Warning", "399 verbatim " + quote(std::string(kRecordingFailedText) + ": " + why)}});
  }
  departs(c, c.callee, false, "the agent could not be recorded");
  c.callee = q.queue;
  c.callee_identity.clear();
  c.b_answer = {};
  later([this, id = c.id] { queue_attempt(id); });
}

// TimeoutThreshold passed with no agent: the caller is let go (Teams' TimeoutAction Disconnect).
void Gateway::queue_timeout(Call& c) {
  QueueCall& q = *c.queue;
  const std::string why =
      std::string(kNoAgentText) + " within " + std::to_string(q.route->timeout.count()) + " s";
  spdlog::warn("call {}: call queue {}: {}", c.call_id, q.route->name, why);
  const sip::HeaderList h{{"Reason", reason_header(480, kNoAgentText)},
                          {"Warning", "399 verbatim " + quote(why)}};
  if (q.caller_answered) {
    end_call(c, "queue: " + why, h);
  } else {
    reject_caller(c, 480, "Temporarily Unavailable", h, "queue: " + why);
  }
}

}  // namespace verbatim::gateway
