// Call control (common/call_control.h): what an officer or a supervisor asks of a call in
// progress, carried out on the gateway's thread. The portal writes the request; poll_control()
// takes those for calls this gateway has, every 200 ms.
//   - pause (a card payment): every recording of the call stops getting copies at once (its taps
//     copy nothing, so what is said in the pause never reaches a recorder, PCI DSS) and each
//     recorder gets a re-INVITE with every stream inactive (RFC 7866: the SRC pauses a recording
//     by making its streams inactive), which the recorder marks as a pause on the recording's
//     timeline. Recorders that answer later (a replacement, one recording on demand) are paused
//     as they answer. Required recorders stay in the call: a pause is not a failure.
//   - resume: the copies go on, the streams sendonly again; by itself after max_pause.
//   - start: records a party on demand with the applications of its own policy or of a named
//     one. Such a recording never holds or ends the call (no Required* flag applies) and the
//     parties are told as for any recording.
//   - stop: ends a recording made on demand. A recording the party's policy requires cannot be
//     stopped this way: it can be paused.
// Each step goes into the call record (controls), and the portal logs who asked and why.
#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/log.h"
#include "gateway/usages.h"

namespace verbatim::gateway {

namespace {

// Our offer again with every stream in `direction` and the next o= version.
std::string offer_with(const std::string& sdp, sip::Direction direction, unsigned version) {
  auto parsed = sip::parse_sdp(sdp);
  if (!parsed) return sdp;
  sip::SessionDescription s = std::move(parsed).value();
  s.origin.session_version = std::to_string(version);
  for (auto& m : s.media) m.set_direction(direction);
  return sip::serialize_sdp(s);
}

const char* state_name(int state) {
  static const char* const kNames[] = {"setup", "calling", "connected", "ending"};
  return state >= 0 && state < 4 ? kNames[state] : "";
}

}  // namespace

void Gateway::poll_control() {
  if (control_->changed()) {
    auto pending = control_->pending();
    if (!pending) {
      spdlog::warn("call control: {}", pending.error().message);
    } else {
      for (const auto& r : pending.value()) {
        const bool meeting = r.call_id.starts_with("meet-") && rooms_.contains(r.call_id.substr(5));
        if (!meeting && !call_by_call_id(r.call_id))
          continue;  // another gateway's, or none: its asker gives up
        auto taken = control_->take(r.id);
        if (!taken || !taken.value()) continue;
        auto done = control(r);
        spdlog::info("call {}: {} asked by {} ({}): {}", r.call_id, r.action, r.requested_by,
                     r.reason, done ? done.value() : "refused: " + done.error().message);
        warn_on_error(
            control_->answer(r.id, done.has_value(), done ? done.value() : done.error().message),
            "answering a call control request");
      }
    }
  }
  control_timer_.start(std::chrono::milliseconds(200), [this] {
    if (!stopping_) poll_control();
  });
}

Gateway::Call* Gateway::call_by_call_id(const std::string& call_id) {
  for (auto& [id, call] : calls_) {
    if (call->call_id == call_id) return call.get();
  }
  return nullptr;
}

Result<std::string> Gateway::control(const ControlRequest& r) {
  if (r.call_id.starts_with("meet-")) return meeting_control(r);
  Call* found = call_by_call_id(r.call_id);
  if (!found) return make_error(ErrorCode::kNotFound, "no call " + r.call_id + " at this gateway");
  Call& c = *found;
  if (c.state != Call::State::kConnected || c.removing) {
    return make_error(ErrorCode::kFailedPrecondition,
                      std::string("the call is not connected (it is ") +
                          state_name(static_cast<int>(c.state)) + ")");
  }
  // The parties a start or stop names: one, or (none named) each that is a user, else the caller.
  std::vector<Party*> parties;
  if (r.party == "caller" || r.party == "callee") {
    parties.push_back(r.party == "caller" ? &c.caller : &c.callee);
  } else if (!r.party.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "party must be caller or callee, got \"" + r.party + "\"");
  } else {
    for (Party* p : {&c.caller, &c.callee}) {
      if (p->user) parties.push_back(p);
    }
    if (parties.empty()) parties.push_back(&c.caller);
  }
  auto recording_of = [&](const Party* p) -> Recording* {
    for (auto& rec : c.recordings) {
      if (rec->party == p && rec->active()) return rec.get();
    }
    return nullptr;
  };
  const std::string now = format_iso8601_ms(wall_->now());
  std::string done;
  if (r.action == "pause") {
    if (c.pause) {
      return make_error(
          ErrorCode::kFailedPrecondition,
          "the recording is already paused (since " + c.pause->since + ", by " + c.pause->by + ")");
    }
    if (!c.recorded()) {
      return make_error(ErrorCode::kFailedPrecondition, "the call is not being recorded");
    }
    c.pause = Call::Pause{r.requested_by, r.reason, now};
    set_paused(c, true, r.reason);
    c.pause_limit.start(options_.max_pause, [this, id = c.id] {
      auto it = calls_.find(id);
      if (it == calls_.end() || !it->second->pause) return;
      Call& call = *it->second;
      const std::string why =
          "the pause reached its limit of " + std::to_string(options_.max_pause.count()) + " s";
      spdlog::warn("call {}: recording resumed: {}", call.call_id, why);
      call.pause.reset();
      set_paused(call, false, why);
      call.controls.push_back({{"action", "resume"},
                               {"at", format_iso8601_ms(wall_->now())},
                               {"by", "gateway"},
                               {"reason", why},
                               {"result", "resumed"}});
    });
    done = "paused";
  } else if (r.action == "resume") {
    if (!c.pause) return make_error(ErrorCode::kFailedPrecondition, "the recording is not paused");
    c.pause.reset();
    c.pause_limit.cancel();
    set_paused(c, false, r.reason);
    done = "resumed";
  } else if (r.action == "start") {
    if (c.emergency) {
      return make_error(ErrorCode::kFailedPrecondition, "emergency calls are never recorded");
    }
    size_t started = 0;
    for (Party* p : parties) {
      if (const Recording* rec = recording_of(p)) {
        done += (done.empty() ? "" : "; ") + p->aor + " is already recorded (policy " +
                rec->policy->name + ")";
        continue;
      }
      auto policy = r.policy.empty() ? p->decision.policy : policy_->policy_named(r.policy);
      if (!policy && !r.policy.empty()) {
        return make_error(ErrorCode::kNotFound, "no compliance recording policy named " + r.policy);
      }
      if (!policy || policy->invitations.empty()) {
        return make_error(ErrorCode::kFailedPrecondition,
                          r.policy.empty()
                              ? p->aor +
                                    " has no compliance recording policy with a "
                                    "recording application: name a policy"
                              : "policy " + policy->name + " has no recording applications");
      }
      ++started;
      invite_recorders(c, *p, policy, r.requested_by);
      p->recorded = true;
      done +=
          (done.empty() ? "" : "; ") + p->aor + " recorded on demand under policy " + policy->name;
    }
    if (!started) return make_error(ErrorCode::kFailedPrecondition, done);
  } else if (r.action == "stop") {
    std::string required;
    for (Party* p : parties) {
      Recording* rec = recording_of(p);
      if (!rec) continue;
      if (rec->on_demand_by.empty()) {
        required = p->aor + "'s recording is required by policy " + rec->policy->name +
                   ": it cannot be stopped, only paused";
        continue;
      }
      end_recording(c, *rec, "stopped on demand by " + r.requested_by);
      p->recorded = recording_of(p) != nullptr;
      done += (done.empty() ? "" : "; ") + p->aor + "'s recording on demand stopped";
    }
    if (done.empty()) {
      return make_error(ErrorCode::kFailedPrecondition,
                        required.empty() ? "no recording on demand to stop" : required);
    }
  } else {
    return make_error(ErrorCode::kInvalidArgument, "unknown call control action: " + r.action);
  }
  json entry{{"action", r.action}, {"at", now}, {"by", r.requested_by}, {"result", done}};
  if (!r.reason.empty()) entry["reason"] = r.reason;
  if (!r.party.empty()) entry["party"] = r.party;
  if (!r.policy.empty()) entry["policy"] = r.policy;
  c.controls.push_back(std::move(entry));
  return done;
}

// Every recording of the call, paused or resumed: its taps first (nothing more is copied from
// this moment), then each recorder is told.
void Gateway::set_paused(Call& c, bool paused, const std::string& why) {
  size_t told = 0;
  for (auto& rec : c.recordings) {
    if (!rec->active()) continue;
    for (auto& l : rec->legs) {
      if (l->state != Leg::State::kUp && l->state != Leg::State::kInviting) continue;
      for (const auto& [relay, tap] : l->tap_ids) c.relays[relay]->pause_tap(tap, paused);
      l->paused = paused;
      if (l->state == Leg::State::kUp) {
        tell_paused(c, *l);
        ++told;
      }
    }
  }
  spdlog::info("call {}: recording {} ({}); {} recorders told", c.call_id,
               paused ? "paused" : "resumed", why, told);
}

// The re-INVITE that tells a recorder its streams are inactive (paused) or sendonly again. One
// at a time per recorder: a pause and a resume in quick succession send the second when the
// first is answered, if the state changed again meanwhile.
void Gateway::tell_paused(Call& c, Leg& l) {
  if (!l.session || l.offer_sdp.empty()) return;
  const bool paused = l.paused;
  const uint64_t session = l.session;
  auto sent = ua_->reinvite(
      session,
      offer_with(l.offer_sdp, paused ? sip::Direction::kInactive : sip::Direction::kSendOnly,
                 ++l.sdp_version),
      [this, session, paused, call = c.call_id, uri = l.uri](int status, const sip::Message*) {
        if (status >= 300) {
          spdlog::warn("call {}: recorder {} answered the {} re-INVITE with {} (the copies {})",
                       call, uri, paused ? "pause" : "resume", status,
                       paused ? "stopped anyway" : "go on anyway");
        }
        auto s = sessions_.find(session);
        if (s == sessions_.end() || !s->second.leg) return;
        auto it = calls_.find(s->second.call);
        if (it != calls_.end() && s->second.leg->paused != paused)
          tell_paused(*it->second, *s->second.leg);
      });
  if (!sent) {
    spdlog::warn("call {}: the {} re-INVITE to recorder {} was not sent: {}", c.call_id,
                 paused ? "pause" : "resume", l.uri, sent.error().message);
  }
}

// The calls in progress, for the status file (the portal's Live page lists them, recorded or
// not, and offers pause, resume and recording on demand).
json Gateway::active_calls() const {
  constexpr size_t kMax = 2000;
  json out = json::array();
  for (const auto& [id, cp] : calls_) {
    if (out.size() >= kMax) break;
    const Call& c = *cp;
    auto party = [&](const Party& p) {
      json j = p.to_json();
      if (p.user) {
        j["region"] = p.user->data_location;
        j["groups"] = policy_->groups_of(p.user->object_id);
      }
      return j;
    };
    json recs = json::array();
    for (const auto& r : c.recordings) {
      if (!r->active()) continue;
      json apps = json::array();
      for (const auto& g : r->groups) {
        apps.push_back({{"application", g.application}, {"recording", g.any_up()}});
      }
      json rj{{"party", r->party->aor}, {"policy", r->policy->name}, {"applications", apps}};
      if (!r->on_demand_by.empty()) rj["onDemandBy"] = r->on_demand_by;
      recs.push_back(std::move(rj));
    }
    json cj{{"callId", c.call_id},
            {"startedAt", format_iso8601_ms(c.started_at)},
            {"state", state_name(static_cast<int>(c.state))},
            {"caller", party(c.caller)},
            {"callee", party(c.callee)},
            {"emergency", c.emergency},
            {"recordings", std::move(recs)}};
    if (c.pause) {
      cj["paused"] = {{"by", c.pause->by}, {"reason", c.pause->reason}, {"since", c.pause->since}};
    }
    out.push_back(std::move(cj));
  }
  return out;
}

}  // namespace verbatim::gateway
