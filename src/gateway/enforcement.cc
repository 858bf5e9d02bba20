// Enforcement, as the policies' flags say: RequiredBeforeCallEstablishment (the caller waits;
// refusal with 480 and a Reason, or voicemail), RequiredDuringCall (the call ends when a required
// recorder is gone, after the spoken warning with WarnUserOnRemoval), a recording ending with its
// party, and a call ending and being cleared away.
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/strings.h"
#include "gateway/call_model.h"
#include "sip/header_values.h"

namespace verbatim::gateway {

// Whether the RequiredBeforeCallEstablishment recordings (of one party, or of all) are in:
// ready, still waiting, or failed (every instance of an application gone; `why` says which).
Gateway::Readiness Gateway::readiness(const Call& c, const Party* only, std::string& why) const {
  Readiness state = Readiness::kReady;
  for (const auto& r : c.recordings) {
    if (!r->active() || (only && r->party != only)) continue;
    for (const auto& g : r->groups) {
      if (!g.required_before || g.any_up()) continue;
      if (g.all_gone()) {
        why = "every recorder of " + g.application + " refused or failed: " + g.why_gone();
        return Readiness::kFailed;
      }
      state = Readiness::kWaiting;
    }
  }
  return state;
}

void Gateway::check_setup(Call& c) {
  if (c.state != Call::State::kSetup) return;
  std::string why;
  const Readiness ready = readiness(c, nullptr, why);
  if (ready == Readiness::kFailed) {
    recording_failed(c, why, false);
    return;
  }
  if (ready == Readiness::kWaiting) return;
  c.deadline.cancel();
  c.recorders_ready_ms = ms_since(c.started);
  place_callee(c);
}

// The caller gets a final non-2xx (the call was never connected) and the call ends.
void Gateway::reject_caller(Call& c, int status, const std::string& reason,
                            const sip::HeaderList& headers, const std::string& outcome) {
  c.final_status = status;
  if (c.a) {
    const uint64_t a = c.a;
    sessions_.erase(a);
    c.a = 0;
    warn_on_error(ua_->reject(a, status, reason, headers), "rejecting a request");
  }
  end_call(c, outcome);
}

void Gateway::recording_failed(Call& c, const std::string& why, bool timed_out) {
  // Teams: inbound calls to a user whose required recording cannot be set up go to voicemail.
  // Only when the callee's recording is what failed; the caller's failing refuses the call.
  if (!options_.voicemail_uri.empty() && !c.to_voicemail && !c.callee_identity.empty()) {
    bool callee_only = true, any = false;
    for (const auto& r : c.recordings) {
      if (!r->active()) continue;
      for (const auto& g : r->groups) {
        if (!g.required_before || (timed_out ? g.any_up() : !g.all_gone())) continue;
        any = true;
        callee_only &= r->party == &c.callee;
      }
    }
    if (any && callee_only) {
      to_voicemail(c, why);
      return;
    }
  }
  ++metrics_.calls_refused_recording;
  spdlog::warn("call {}: refused: {}", c.call_id, why);
  sip::HeaderList h{
      {"Reason", reason_header(480, kRecordingFailedText)},
      {"Warning", "399 verbatim " + quote(std::string(kRecordingFailedText) + ": " + why)}};
  reject_caller(c, 480, "Recording Unavailable", h, "refused: " + why);
}

// The callee's recordings are given up (their recorders are hung up) and the call goes to the
// voicemail URI instead of the callee, once the caller's own required recorders are ready.
void Gateway::to_voicemail(Call& c, const std::string& why) {
  c.to_voicemail = true;
  c.voicemail_why = why;
  ++metrics_.calls_to_voicemail;
  spdlog::warn("call {}: to voicemail: {}", c.call_id, why);
  for (auto& r : c.recordings) {
    if (r->party == &c.callee) end_recording(c, *r, "the call went to voicemail");
  }
  check_setup(c);
}

// A recording whose party left the call: its recorders are hung up, its copies stop.
void Gateway::end_recording(Call& c, Recording& r, const std::string& why) {
  r.left = true;
  for (auto& l : r.legs) {
    for (const auto& [relay, tap] : l->tap_ids) c.relays[relay]->remove_tap(tap);
    l->tap_ids.clear();
    if (l->state == Leg::State::kInviting || l->state == Leg::State::kUp) {
      l->state = l->state == Leg::State::kUp ? Leg::State::kEnded : Leg::State::kFailed;
      if (l->why.empty()) l->why = why;
    }
    if (!l->session) continue;
    const uint64_t sid = l->session;
    l->session = 0;
    sessions_.erase(sid);
    hang_up(sid);
  }
}

// --- recorders leaving, calls ending ---------------------------------------------------------

void Gateway::leg_gone(Call& c, Leg& l, const std::string& why) {
  const bool was_up = l.state == Leg::State::kUp;
  l.state = was_up ? Leg::State::kEnded : Leg::State::kFailed;
  l.why = why;
  if (!was_up) ++metrics_.recording_failed;
  for (const auto& [relay, tap] : l.tap_ids) c.relays[relay]->remove_tap(tap);
  l.tap_ids.clear();
  if (l.session) {
    sessions_.erase(l.session);
    hang_up(l.session);
    l.session = 0;
  }
  spdlog::warn("call {}: recorder {} ({}): {}", c.call_id, l.instance, l.uri, why);
  if (c.state == Call::State::kSetup) {
    check_setup(c);
    return;
  }
  if (c.state == Call::State::kEnding || c.removing) return;
  if (!l.recording->joined) {
    check_transfer(c);
    return;
  }
  if (((c.queue && c.queue->joining) || c.joining) && l.recording->party == &c.callee) {
    check_agent(c);
    return;
  }
  if (was_up && !stopping_) replace(c, *l.recording, l.group);
  for (const auto& r : c.recordings) {
    if (!r->active()) continue;
    for (const auto& g : r->groups) {
      if (!g.required_during || !g.all_gone()) continue;
      ++metrics_.calls_ended_recording;
      spdlog::warn("call {}: every recorder of {} is gone: the call is ended", c.call_id,
                   g.application);
      if (c.state == Call::State::kConnected && r->policy->warn_user_on_removal && !stopping_) {
        warn_and_end(c, g.application);
      } else {
        end_call(c, "recording lost: " + g.application,
                 {{"Reason", reason_header(480, kRecordingLostText)}});
      }
      return;
    }
  }
}

// The banner the indicator shows: the recorded party's policy's custom text (Set-VbBannerText),
// else gateway.banner_text.
std::string Gateway::banner_for(const Call& c) const {
  for (const auto& r : c.recordings) {
    if (!r->left && !r->policy->banner_text.empty()) return r->policy->banner_text;
  }
  return options_.banner_text;
}

// WarnUserOnRemoval: both parties hear why the call ends, then it ends (the BYE's Reason
// says it again for phones that show it).
void Gateway::warn_and_end(Call& c, const std::string& application) {
  c.removing = true;
  int64_t longest = -1;
  for (Side side : {Side::kA, Side::kB}) {
    std::string outcome;
    const int64_t ms = announce(c, side, Prompt::kRecordingStopped, language_for(c, side), outcome);
    if (ms < 0) {
      Call::Notice n;
      n.to = side;
      n.prompt = Prompt::kRecordingStopped;
      n.outcome = outcome;
      c.notices.push_back(std::move(n));
    }
    longest = std::max(longest, ms);
  }
  const std::string outcome = "recording lost: " + application;
  // A party that shows the indicator (the web client) is shown the warning too.
  if (c.a_record_aware) warn_visibly(c.a, kRecordingLostText, longest);
  if (c.b_record_aware) warn_visibly(c.b, kRecordingLostText, longest);
  if (longest < 0) {
    end_call(c, outcome, {{"Reason", reason_header(480, kRecordingLostText)}});
    return;
  }
  ++metrics_.removal_warnings;
  c.deadline.start(std::chrono::milliseconds(longest + 200), [this, id = c.id, outcome] {
    auto it = calls_.find(id);
    if (it == calls_.end()) return;
    end_call(*it->second, outcome + " (after the spoken warning)",
             {{"Reason", reason_header(480, kRecordingLostText)}});
  });
}

void Gateway::warn_visibly(uint64_t session, std::string_view text, int64_t ends_in_ms) {
  if (!session) return;
  const nlohmann::json body = {{"warning", text}, {"endsInMs", std::max<int64_t>(ends_in_ms, 0)}};
  warn_on_error(ua_->info(session, kWarningType, body.dump()), "showing the removal warning");
}

void Gateway::end_call(Call& c, const std::string& outcome, const sip::HeaderList& bye_headers) {
  if (c.state == Call::State::kEnding) return;
  c.state = Call::State::kEnding;
  c.outcome = outcome;
  c.deadline.cancel();
  c.unanswered.cancel();
  if (c.transfer) {
    c.transfer->deadline.cancel();
    if (c.transfer->transferor) sessions_.erase(c.transfer->transferor);
  }
  for (uint64_t* s : {&c.a, &c.b, c.transfer ? &c.transfer->session : nullptr}) {
    if (!s || !*s) continue;
    const uint64_t sid = *s;
    *s = 0;
    sessions_.erase(sid);
    hang_up(sid, bye_headers);
  }
  for (uint64_t f : c.forks) {
    sessions_.erase(f);
    hang_up(f);
  }
  c.forks.clear();
  if (c.queue) {
    c.queue->alert.cancel();
    for (const auto& [f, r] : c.queue->ringing) {
      sessions_.erase(f);
      hang_up(f);
      c.queue->offers[r.offer]["outcome"] = "cancelled: the call ended";
    }
    c.queue->ringing.clear();
  }
  for (auto& r : c.recordings) {
    for (auto& l : r->legs) {
      if (!l->session) continue;
      const uint64_t sid = l->session;
      l->session = 0;
      sessions_.erase(sid);
      if (l->state == Leg::State::kInviting) l->state = Leg::State::kFailed, l->why = "call ended";
      if (l->state == Leg::State::kUp) l->state = Leg::State::kEnded;
      hang_up(sid);
    }
  }
  // Finish after the handlers that got us here have returned.
  later([this, id = c.id] { finish(id); });
}

void Gateway::finish(uint64_t id) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  Call& c = *it->second;
  // Compliance alert: a connected call a policy wanted recorded by an application that never
  // recorded any of it (T05: the evidence says why).
  for (const auto& r : c.recordings) {
    for (const auto& g : r->groups) {
      if (c.final_status == 200 && !g.ever_up() && !r->left) {
        spdlog::error("call {}: NOT RECORDED: {} under policy {} by {}: {}", c.call_id,
                      r->party->aor, r->policy->name, g.application, g.why_gone());
      }
    }
  }
  if (call_log_) call_log_->append(record_of(c));
  spdlog::info("call {}: {}", c.call_id, c.outcome);
  if (c.queue && c.final_status == 200 && !c.callee_identity.empty()) {
    queue_router_.idle_from(c.callee_identity, timers_->now());
  }
  for (auto& r : c.relays) {
    if (r) r->close();
  }
  for (auto& r : c.recordings) {
    for (auto& l : r->legs) {
      for (auto& t : l->taps) t->close();
    }
  }
  calls_.erase(it);
}

}  // namespace verbatim::gateway
