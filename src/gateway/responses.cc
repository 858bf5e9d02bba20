// The user agent's events, each handed to the usage of its session (usages.cc); re-offers; what
// connecting a call and applying an answer do to the media; hanging up and the dialog journal.
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/strings.h"
#include "gateway/usages.h"
#include "sip/header_values.h"

namespace verbatim::gateway {

// --- responses -------------------------------------------------------------------------------

// Each event goes to the usage of its session (usages.cc).
void Gateway::on_progress(uint64_t session, const sip::Message& response) {
  if (dial_out_forks_.contains(session)) {
    dial_out_progress(session, response);
    return;
  }
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  auto c = calls_.find(it->second.call);
  if (c == calls_.end()) return;
  it->second.usage->progress(*this, *c->second, session, response);
}

void Gateway::on_answered(uint64_t session, const sip::Message& response) {
  if (dial_out_forks_.contains(session)) {
    dial_out_answered(session, response);
    return;
  }
  if (chat_legs_.contains(session)) {
    chat_leg_answered(session);
    return;
  }
  if (meeting_legs_.contains(session)) {
    meeting_leg_answered(session, response);
    return;
  }
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  auto ci = calls_.find(it->second.call);
  if (ci == calls_.end()) return;
  const SessionRef ref = it->second;
  if (ref.usage != usages().recorder_leg) {  // the callee's side: a phone, a forward, a target
    if (const sip::Header* sid = response.find("Session-ID");
        sid && !sid->value.empty() && sid->value.size() <= 256) {
      ci->second->callee_session_id = std::string(sid->value);
    }
  }
  ref.usage->answered(*this, *ci->second, ref, session, response);
}

// The callee (c.b, c.b_answer) answered and every recording it needs is in: the caller gets
// the answer and the call is connected.
void Gateway::connect(Call& c) {
  apply_answer(c, Side::kB, c.b_answer, false);
  if (!c.queue || !c.queue->caller_answered) {
    warn_on_error(ua_->accept(c.a, sdp_for(c, c.b_answer, Side::kA), indicator_headers(c)),
                  "200 OK");
    journal_up(c.a, c, "caller");
  }
  journal_up(c.b, c, "callee");
  c.state = Call::State::kConnected;
  c.connected_ms = ms_since(c.started);
  c.final_status = 200;
  ++metrics_.calls_connected;
  refresh_metadata(c);
  notify_recording(c);
}

// Hangs up (BYE, or CANCEL before an answer) and crosses the dialog off the journal.
void Gateway::hang_up(uint64_t session, const sip::HeaderList& headers) {
  if (journal_) journal_->down(session);
  warn_on_error(ua_->hangup(session, headers), "hanging up");
}

// An established dialog goes into the journal (what a restarted gateway needs to end it).
void Gateway::journal_up(uint64_t session, const Call& c, const char* role) {
  if (!journal_) return;
  const sip::Dialog* d = ua_->dialog(session);
  const sip::Peer* peer = ua_->peer(session);
  if (!d || !peer) return;
  journal_->up(JournaledDialog{session, c.call_id, role, d->save(), *peer});
}

// A UA session that is over: its call (null when the call is already gone) and what it was;
// the session is forgotten.
Gateway::Call* Gateway::take_session(uint64_t session, SessionRef& ref) {
  if (journal_) journal_->down(session);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return nullptr;
  ref = it->second;
  sessions_.erase(it);
  auto ci = calls_.find(ref.call);
  return ci == calls_.end() ? nullptr : ci->second.get();
}

void Gateway::on_failed(uint64_t session, int status, const sip::Message* response) {
  if (dial_out_forks_.contains(session)) {
    dial_out_failed(session, status, response);
    return;
  }
  if (chat_legs_.contains(session)) {
    chat_leg_gone(session,
                  "refused: " + std::to_string(status) + " " +
                      (response ? std::string(response->reason()) : std::string("no response")),
                  false);
    return;
  }
  if (meeting_legs_.contains(session)) {
    meeting_leg_gone(session,
                     "refused: " + std::to_string(status) + " " +
                         (response ? std::string(response->reason()) : std::string("no response")),
                     false);
    return;
  }
  SessionRef ref;
  Call* call = take_session(session, ref);
  if (call) ref.usage->failed(*this, *call, ref, session, status, response);
}

void Gateway::on_ended(uint64_t session, std::string_view why) {
  if (room_sessions_.contains(session)) {
    leave_meeting(session, why);
    return;
  }
  if (dial_out_forks_.contains(session)) {  // before an answer: as a failure
    dial_out_failed(session, 487, nullptr);
    return;
  }
  if (chat_legs_.contains(session)) {
    chat_leg_gone(session, "recorder ended the session (" + std::string(why) + ")", false);
    return;
  }
  if (meeting_legs_.contains(session)) {
    meeting_leg_gone(session, "recorder ended the session (" + std::string(why) + ")", false);
    return;
  }
  SessionRef ref;
  Call* call = take_session(session, ref);
  if (call) ref.usage->ended(*this, *call, ref, session, why);
}

}  // namespace verbatim::gateway
