// Metrics: the gateway's status and totals (GatewayMetrics), rewritten to the status file once a
// second by tick(), which also flushes the dialog journal and saves changed registrations.
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "common/log.h"
#include "common/strings.h"
#include "gateway/usages.h"

namespace verbatim::gateway {

// The browsers' connections (SIP over WebSocket): open now, and what was refused since start.
json Gateway::web_socket_stats() const {
  json out{{"open", 0}, {"refusedOrigin", 0}, {"refusedUpgrade", 0}, {"closedHandshake", 0}};
  if (!sip_) return out;
  for (const sip::WsTransport* t : {sip_->wss_transport(), sip_->ws_transport()}) {
    if (!t) continue;
    out["open"] = out["open"].get<uint64_t>() + t->connections();
    out["refusedOrigin"] = out["refusedOrigin"].get<uint64_t>() + t->stats().refused_origin;
    out["refusedUpgrade"] = out["refusedUpgrade"].get<uint64_t>() + t->stats().refused_upgrade;
    out["closedHandshake"] = out["closedHandshake"].get<uint64_t>() + t->stats().closed_handshake;
  }
  return out;
}

json Gateway::status() const {
  const auto& m = metrics_;
  json endpoints = json::object();
  for (const auto& [uri, h] : health_) {
    endpoints[uri] = {{"up", !h.down}, {"missed", h.missed}, {"lastStatus", h.status}};
  }
  json out{{"calls", calls_.size()},
           {"meetings", meetings_status()},
           {"chatConversations", chats_.size()},
           {"dialInWaiting", rooms_.contains("") ? rooms_.at("")->members.size() : 0},
           {"recorderEndpoints", std::move(endpoints)},
           {"registeredUsers", registrar_ ? registrar_->registered_users() : 0},
           {"webSocketConnections", web_socket_stats()},
           {"mediaPortsFree", media_ ? media_->ports_free() : 0},
           {"totals",
            {{"calls", m.calls},
             {"connected", m.calls_connected},
             {"refusedForRecording", m.calls_refused_recording},
             {"endedForRecording", m.calls_ended_recording},
             {"emergency", m.emergency_calls},
             {"toVoicemail", m.calls_to_voicemail},
             {"noticesPlayed", m.notices_played},
             {"removalWarnings", m.removal_warnings},
             {"dialogsLeftByPreviousRunEnded", m.dialogs_left_ended},
             {"recordingInvites", m.recording_invites},
             {"recordingAnswered", m.recording_answered},
             {"recordingFailed", m.recording_failed},
             {"recordingReplacements", m.recording_replacements},
             {"metadataUpdates", m.metadata_updates},
             {"recorderEndpointsDown", m.recorders_down},
             {"registers", m.registers},
             {"authChallenges", m.auth_challenges},
             {"meetingJoins", m.meeting_joins},
             {"meetingRefused", m.meeting_refused},
             {"meetingRefusedRecording", m.meeting_refused_recording},
             {"meetingRemovedRecording", m.meeting_removed_recording},
             {"meetingMetadataUpdates", m.meeting_metadata_updates},
             {"meetingChatMessages", m.meeting_chat_messages},
             {"meetingChatRefused", m.meeting_chat_refused},
             {"meetingControls", m.meeting_controls},
             {"meetingVideoSwitches", m.meeting_video_switches},
             {"meetingKeyframeRequests", m.meeting_keyframe_requests},
             {"meetingPresenterChanges", m.meeting_presenter_changes},
             {"meetingAdhoc", m.meeting_adhoc},
             {"meetingDialOuts", m.meeting_dial_outs},
             {"meetingDialOutsFailed", m.meeting_dial_outs_failed},
             {"meetingEscalations", m.meeting_escalations},
             {"chatMessages", m.chat_messages},
             {"chatRefused", m.chat_refused},
             {"chatUnrecorded", m.chat_unrecorded},
             {"chatRecordings", m.chat_recordings}}}};
  if (auto lobby = rooms_.find(""); lobby != rooms_.end()) {
    json callers = json::array();
    for (const auto& [session, m] : lobby->second->members) {
      callers.push_back({{"aor", m.party.aor},
                         {"language", m.language},
                         {"choosingLanguage", !m.menu.empty()},
                         {"wrongPins", m.attempts}});
    }
    out["dialIn"] = std::move(callers);
  }
  if (options_.extra_totals) out["totals"].update(options_.extra_totals());
  out["activeCalls"] = active_calls();
  return out;
}

void Gateway::write_status() const {
  if (options_.status_file.empty()) return;
  const std::string tmp = options_.status_file + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << status().dump(2) << "\n";
  }
  std::error_code ec;
  std::filesystem::rename(tmp, options_.status_file, ec);
}

void Gateway::tick() {
  chat_tick();
  write_status();
  if (journal_) journal_->flush();
  if (registrar_ && registrar_->changed() &&
      timers_->now() - last_registrations_ >= kRegistrationsSaveInterval) {
    save_registrations();
  }
  tick_timer_.start(std::chrono::seconds(1), [this] {
    if (!stopping_) tick();
  });
}

}  // namespace verbatim::gateway
