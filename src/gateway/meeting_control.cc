// The organiser's controls of a meeting in progress, asked through the call control table
// (common/call_control.h; `verbatim meeting mute|unmute|remove`), with "meet-<id>" where a call's
// Call-ID would be and the member's address as the party:
//   - mute: no one hears the member any more (the mix leaves it out). Its recorders still get
//     what its phone sends, and each gets a partial metadata update (an UPDATE with <vb:muted>
//     in the participant, who and when), so the timeline shows what the others did not hear.
//   - unmute: heard again, and the recorders are told the same way.
//   - remove: the member's call ends with a Reason that says the organiser removed them; it
//     leaves as by its own BYE (its m-lines close, its recorders are told).
// Every session of the member's address in the meeting is acted on (a user on two phones).
#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/strings.h"
#include "gateway/call_model.h"

namespace verbatim::gateway {

Result<std::string> Gateway::meeting_control(const ControlRequest& r) {
  const std::string id = r.call_id.substr(5);
  auto room = rooms_.find(id);
  if (room == rooms_.end()) {
    return make_error(ErrorCode::kNotFound, "no meeting " + id + " in progress at this gateway");
  }
  std::vector<uint64_t> sessions;
  for (const auto& [session, m] : room->second->members) {
    if (m.admitted && !r.party.empty() && iequals(m.party.aor, r.party))
      sessions.push_back(session);
  }
  if (sessions.empty()) {
    return make_error(ErrorCode::kNotFound, r.party + " is not in meeting " + id);
  }
  ++metrics_.meeting_controls;
  const std::string by = r.requested_by.empty() ? "the organiser" : r.requested_by;
  if (r.action == "remove") {
    for (uint64_t s : sessions) {
      hang_up(s, {{"Reason", reason_header(200, "removed from the meeting by " + by)}});
      leave_meeting(s, "removed by " + by);
    }
    return r.party + " removed from meeting " + id;
  }
  if (r.action != "mute" && r.action != "unmute") {
    return make_error(ErrorCode::kInvalidArgument, "a meeting takes mute, unmute or remove");
  }
  const bool mute = r.action == "mute";
  Room& room_ref = *room->second;
  for (uint64_t s : sessions) {
    RoomMember& m = room_ref.members.at(s);
    if (m.muted == mute) continue;
    m.muted = mute;
    m.muted_by = mute ? by : "";
    m.muted_at = format_iso8601(wall_->now());
    room_ref.mix.set_muted(m.id, mute);
    room_ref.roster_changed = true;
    const std::string at = format_iso8601(wall_->now());
    update_participant(room_ref, m.session, [&](const std::string& session, const std::string& p) {
      return siprec::meeting_mute_update(session, p, m.muted, by, at);
    });
    spdlog::info("meeting {}: {} {} by {}{}", id, m.party.aor, mute ? "muted" : "unmuted", by,
                 r.reason.empty() ? "" : " (" + r.reason + ")");
  }
  return r.party + (mute ? " muted" : " unmuted") + " in meeting " + id;
}

void Gateway::update_participant(
    Room& room, uint64_t member,
    const std::function<std::string(const std::string& session, const std::string& id)>& make) {
  for (auto& [app, rec] : room.recordings) {
    for (auto& l : rec.legs) {
      if (l->state != MeetingLeg::State::kUp) continue;
      for (size_t j = 0; j < l->copies.size(); ++j) {
        if (l->copies[j].member != member || l->copies[j].kind != kAudioLine ||
            !l->lines[j].left_at.empty() || l->lines[j].participant_id.empty()) {
          continue;  // a participant the recorder has not been offered yet is told at its offer
        }
        std::string md = make(l->md_session, l->lines[j].participant_id);
        auto done = [meeting = room.meeting.id, uri = l->uri](int status, const sip::Message*) {
          if (status >= 300) {
            spdlog::warn("meeting {}: recorder {} refused a metadata update: {}", meeting, uri,
                         status);
          }
        };
        warn_on_error(ua_->update(l->session, "application/rs-metadata+xml", std::move(md),
                                  {{"Content-Disposition", "recording-session"}}, std::move(done)),
                      "a meeting's metadata update");
        ++metrics_.meeting_metadata_updates;
      }
    }
  }
}

}  // namespace verbatim::gateway
