// Recording meetings under policy, and enforcing it (issue 19): when a member whose policy
// records joins, the meeting gets one SIPREC session per recording application of that policy
// (ConcurrentInvitationCount instances, and the paired application), each carrying every
// member's audio unmixed on an m-line of its own (siprec/meeting_offer.h). A second recorded
// member whose policy names the same application adds no session. Joins and leaves are
// re-offers with partial metadata, sent from the room's 20 ms tick, so joins that come together
// go in one re-offer; an offer is never sent while another is out (a 491 is tried again).
//
// Enforcement follows each member's own policy:
//   - RequiredBeforeMeetingJoin: the member is not answered (a dial-in caller: not let into the
//     mix) until a session of each such application is up. When every endpoint of one fails, or
//     none answers within recording_setup_timeout, the member is refused with 480 and a Reason
//     (a dial-in caller, already answered, hears why in its number's language, then the BYE).
//   - RequiredDuringMeeting: when every session of such an application is gone (a replacement
//     is tried first), the member hears the warning (WarnUserOnRemoval) and is then removed.
//     The other members stay.
// Notices: when a recorder first comes in, every member hears that the meeting is recorded; a
// member who joins a recorded meeting hears it at joining, unless its phone shows the
// indicator (Supported: record-aware) and got it in our 200's Call-Info.
#include <numeric>
#include <random>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/strings.h"
#include "gateway/call_model.h"
#include "siprec/gateway_context.h"

namespace verbatim::gateway {

namespace {

constexpr auto kGlareRetry = std::chrono::milliseconds(500);
constexpr const char* kRemovedText =
    "The recording required by your organisation stopped, so you were removed from the meeting";

bool names(const std::vector<std::string>& apps, const std::string& app) {
  return std::find(apps.begin(), apps.end(), app) != apps.end();
}

}  // namespace

// --- bringing recorders in -------------------------------------------------------------------

void Gateway::record_member(Room& room, RoomMember& m) {
  Party& p = m.party;
  if (!p.aor.empty() && istarts_with(p.aor, "sip:")) {
    p.decision = policy_->decide(p.aor);
    p.user = p.decision.user;
  }
  if (p.user && m.language.empty()) m.language = p.user->preferred_language;
  if (p.decision.record()) {
    p.recorded = true;
    const std::string region = p.user ? p.user->data_location : "";
    for (const auto& inv : p.decision.policy->invitations) {
      const std::string& app = inv.recorder.application_id;
      if (inv.required_before_meeting_join) m.required_before.push_back(app);
      if (inv.required_during_meeting) m.required_during.push_back(app);
      MeetingRecording& rec = room.recordings[app];
      rec.members.insert(m.session);
      if (!rec.legs.empty() && !rec.all_gone()) continue;  // this application records it already
      rec.application =
          inv.recorder.display_name.empty() ? inv.recorder.instance_upn : inv.recorder.display_name;
      rec.application_id = app;
      rec.policy = p.decision.policy;
      rec.sources.clear();
      auto targets = usable(policy::endpoints_for_region(inv.recorder, region));
      const size_t n =
          std::min<size_t>(std::max<uint32_t>(1, inv.concurrent_invitation_count), targets.size());
      rec.sources.emplace_back(inv.recorder, targets);
      for (size_t i = 0; i < n; ++i) start_meeting_leg(room, rec, inv.recorder, targets[i]);
      if (inv.paired) {
        auto paired = usable(policy::endpoints_for_region(*inv.paired, region));
        if (!paired.empty()) start_meeting_leg(room, rec, *inv.paired, paired[0]);
        rec.sources.emplace_back(*inv.paired, std::move(paired));
      }
      spdlog::info("meeting {}: {} is recorded by {} (policy {})", room.meeting.id, p.aor,
                   rec.application, rec.policy->name);
      if (rec.all_gone()) {
        spdlog::error("meeting {}: policy {} application {} has no recorder it can reach: {}",
                      room.meeting.id, rec.policy->name, rec.application, rec.why_gone());
      }
    }
  }
  // Whoever brought them, the recorders get this member's streams.
  for (int kind : {kAudioLine, kVideoLine, kSlidesLine}) record_new_line(room, m, kind);
}

void Gateway::record_new_line(Room& room, const RoomMember& m, int kind) {
  if (kind != kAudioLine && !m.line(kind)) return;
  for (auto& [app, rec] : room.recordings) {
    for (auto& l : rec.legs) {
      bool has = false;
      for (size_t j = 0; j < l->copies.size(); ++j) {
        const auto& c = l->copies[j];
        has = has || (c.member == m.session && c.kind == kind && l->lines[j].left_at.empty());
      }
      if (!l->live() || has) continue;
      if (auto st = add_meeting_line(*l, m, kind); !st) {
        spdlog::error("meeting {}: {} not copied to {}: {}", room.meeting.id, m.party.aor, l->uri,
                      st.error().message);
      }
    }
  }
}

void Gateway::start_meeting_leg(Room& room, MeetingRecording& rec,
                                const policy::RecorderTarget& target,
                                const policy::EndpointTarget& endpoint) {
  auto leg = std::make_unique<MeetingLeg>();
  MeetingLeg& l = *leg;
  rec.legs.push_back(std::move(leg));
  l.started = timers_->now();
  l.instance = target.instance_upn;
  l.endpoint = endpoint.id;
  l.uri = endpoint.uri;
  ++metrics_.recording_invites;
  auto fail = [&](std::string why) {
    l.state = MeetingLeg::State::kFailed;
    l.why = std::move(why);
    ++metrics_.recording_failed;
    for (auto& c : l.copies) c.tap->close();
    spdlog::warn("meeting {}: recorder {} ({}): {}", room.meeting.id, l.instance, l.uri, l.why);
  };
  auto peer = resolver_->peer(endpoint.uri);
  if (!peer) {
    fail(resolver_->why(endpoint.uri));
    return;
  }
  // As for calls: SDES keys only where the signalling to the recorder is TLS.
  l.srtp = options_.recorder_srtp && (peer->secure() || options_.allow_sdes_over_plain_sip);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  l.spec.origin_id = rng() >> 1;
  l.spec.address = media_->address().to_string();
  l.spec.started_at = format_iso8601(wall_->now());
  l.spec.meeting_id = room.meeting.id;
  l.spec.subject = room.meeting.subject;
  l.spec.organizer = room.meeting.organizer;
  l.spec.policy = rec.policy->name;
  l.spec.application_id = target.application_id;
  l.spec.instance = target.instance_upn;
  for (const auto& [session, m] : room.members) {
    const size_t audio = l.lines.size();  // its audio line, added first
    for (int kind : {kAudioLine, kVideoLine, kSlidesLine}) {
      if (kind != kAudioLine && !m.line(kind)) continue;
      if (auto st = add_meeting_line(l, m, kind); !st) {
        fail(st.error().message);
        return;
      }
    }
    // A recorder that comes in later (a replacement) learns what is so already.
    auto& state = l.lines[audio].state;
    if (m.muted) state.push_back(siprec::meeting_muted_element(true, m.muted_by, m.muted_at));
    if (room.presenter == m.session) {
      state.push_back(siprec::meeting_presenting_element(true, room.presenter_since));
    }
  }
  auto offer = siprec::build_meeting_offer(l.spec, l.lines, l.md_session);
  l.changed.clear();
  // The recorder's catalog keeps the application and policy (retention), signed by us; the
  // meeting stands where a call's Call-ID would.
  siprec::GatewayContext context{
      target.application_id, rec.policy->name, "meet-" + room.meeting.id, {}};
  for (uint64_t s : rec.members) {
    auto it = room.members.find(s);
    if (it == room.members.end() || !it->second.party.user) continue;
    for (auto& g : policy_->groups_of(it->second.party.user->object_id)) {
      if (!names(context.groups, g)) context.groups.push_back(std::move(g));
    }
  }
  auto sid = invite_recorder(endpoint.uri, *peer, std::move(offer.content_type),
                             std::move(offer.body), context, {});
  if (!sid) {
    fail(sid.error().message);
    return;
  }
  l.session = sid.value();
  meeting_legs_[l.session] = {room.meeting.id, rec.application_id};
}

// One more m-line on a recorder's session: what `m` sends on its line of `kind`, from a tap of
// its own.
Status Gateway::add_meeting_line(MeetingLeg& leg, const RoomMember& m, int kind) {
  const RoomVideo* v = m.line(kind);
  if (kind != kAudioLine && !v) return make_error(ErrorCode::kNotFound, "no such line");
  auto tap = media_->open_tap();
  if (!tap) return tap.error();
  siprec::MeetingLine line;
  line.who = {m.party.aor, m.party.display};
  line.participant = m.session;
  line.offered = v ? video_media(*v) : member_media(m);
  line.port = tap.value()->port();
  line.joined_at = m.joined_at;
  if (leg.srtp) {
    line.srtp_suite = kRecorderSuite;
    line.key = media::new_sdes_inline(kRecorderSuite);
  }
  leg.lines.push_back(std::move(line));
  leg.copies.push_back({m.session, kind, std::move(tap).value(), std::nullopt, nullptr});
  leg.changed.push_back(leg.lines.size() - 1);
  return ok_status();
}

// `member` left (or closed its line of `kind`): its m-lines are closed (port 0 at the next offer)
// and their copies stop.
void Gateway::drop_meeting_line(MeetingLeg& leg, uint64_t member, int kind) {
  for (size_t j = 0; j < leg.copies.size(); ++j) {
    auto& c = leg.copies[j];
    if (c.member != member || (kind >= 0 && c.kind != kind) || !leg.lines[j].left_at.empty()) {
      continue;
    }
    leg.lines[j].left_at = format_iso8601(wall_->now());
    c.tap->close();
    c.to.reset();
    c.srtp.reset();
    leg.changed.push_back(j);
  }
}

// What a member sends goes to each recorder's m-line for it, as it came (SRTP where offered).
void Gateway::copy_to_recorders(Room& room, uint64_t member, int kind,
                                std::span<const uint8_t> packet) {
  for (auto& [app, rec] : room.recordings) {
    for (auto& l : rec.legs) {
      if (l->state != MeetingLeg::State::kUp) continue;
      for (auto& c : l->copies) {
        if (c.member != member || c.kind != kind || !c.to) continue;
        if (!c.srtp) {
          c.tap->send(packet, *c.to);
          continue;
        }
        room.copy.assign(packet.begin(), packet.end());  // protect() adds the tag in place
        if (c.srtp->protect(room.copy, false)) c.tap->send(room.copy, *c.to);
      }
    }
  }
}

// A recorder that starts to get a member's video (its session answered, or a re-offer with a new
// line) can decode it from the next keyframe on: each such sender is asked for one.
void Gateway::keyframes_for_recorder(Room& room, const MeetingLeg& leg,
                                     const std::vector<size_t>& lines) {
  for (size_t j : lines) {
    if (j >= leg.copies.size() || leg.copies[j].kind == kAudioLine || !leg.copies[j].to) continue;
    request_keyframe(room, leg.copies[j].member, leg.copies[j].kind == kSlidesLine);
  }
}

// --- the recorders' answers ------------------------------------------------------------------

namespace {

// Where each m-line's copies go after an answer; SRTP where we offered it and the recorder took
// it. An error: the answer is not one the leg can go on with.
template <typename Leg>
Status apply_recorder_answer(Leg& l, const sip::SessionDescription& answer, bool require_srtp,
                             bool& plain) {
  for (size_t j = 0; j < answer.media.size() && j < l.copies.size(); ++j) {
    const auto& m = answer.media[j];
    auto& c = l.copies[j];
    auto target = detail::media_target(answer, m);
    if (!l.lines[j].left_at.empty() || m.port == 0 || !target) {
      c.to.reset();
      continue;
    }
    c.to = *target;
    if (l.lines[j].key.empty() || c.srtp) continue;
    if (m.proto.find("SAVP") != std::string::npos && !m.cryptos().empty()) {
      auto key = media::parse_sdes_key(detail::kRecorderSuite, l.lines[j].key);
      auto sender = key ? media::SrtpSender::create(key.value())
                        : Result<std::unique_ptr<media::SrtpSender>>(key.error());
      if (!sender) return make_error(sender.error().code, "SRTP: " + sender.error().message);
      c.srtp = std::move(sender).value();
    } else if (require_srtp) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "the recorder answered our SRTP offer with plain RTP, and SRTP is "
                        "required (gateway.require_srtp)");
    } else {
      plain = true;
    }
  }
  return ok_status();
}

}  // namespace

Gateway::MeetingLegRef Gateway::meeting_leg(uint64_t session) {
  auto ref = meeting_legs_.find(session);
  if (ref == meeting_legs_.end()) return {};
  auto room = rooms_.find(ref->second.first);
  if (room == rooms_.end()) return {};
  auto rec = room->second->recordings.find(ref->second.second);
  if (rec == room->second->recordings.end()) return {};
  for (auto& l : rec->second.legs) {
    if (l->session == session) return {room->second.get(), &rec->second, l.get()};
  }
  return {};
}

void Gateway::meeting_leg_answered(uint64_t session, const sip::Message& response) {
  const MeetingLegRef found = meeting_leg(session);
  if (!found.leg || found.leg->state != MeetingLeg::State::kInviting) return;
  Room& r = *found.room;
  const MeetingRecording& rec = *found.rec;
  MeetingLeg* leg = found.leg;
  const std::string meeting = r.meeting.id;
  auto answer = sip::parse_sdp(response.body());
  if (!answer) {
    meeting_leg_gone(session, "recorder answered without usable SDP: " + answer.error().message);
    return;
  }
  bool plain = false;
  if (auto st = apply_recorder_answer(*leg, answer.value(), options_.require_srtp, plain); !st) {
    meeting_leg_gone(session, st.error().message);
    return;
  }
  if (plain && plain_recorders_.insert(leg->uri).second) {
    spdlog::warn(
        "recorder {} answers SRTP offers with plain RTP: it gets plain RTP (logged once "
        "per endpoint)",
        leg->uri);
  }
  leg->state = MeetingLeg::State::kUp;
  leg->answered_ms = ms_since(leg->started);
  std::vector<size_t> all(leg->copies.size());
  std::iota(all.begin(), all.end(), 0);
  keyframes_for_recorder(r, *leg, all);
  ++metrics_.recording_answered;
  spdlog::info("meeting {}: recorder {} ({}) recording {} after {} ms", meeting, leg->instance,
               leg->uri, rec.application, leg->answered_ms);
  if (journal_) {
    const sip::Dialog* d = ua_->dialog(session);
    const sip::Peer* peer = ua_->peer(session);
    if (d && peer) {
      journal_->up(
          JournaledDialog{session, "meet-" + meeting, "meeting recorder", d->save(), *peer});
    }
  }
  if (!r.recorded) {
    // Recording starts in a meeting under way: everyone in it is told.
    r.recorded = true;
    r.roster_changed = true;
    for (auto& [s, m] : r.members) {
      if (m.admitted) tell_recorded(r, m);
    }
  }
  check_admissions(meeting);
}

void Gateway::meeting_leg_gone(uint64_t session, const std::string& why, bool hang) {
  const MeetingLegRef found = meeting_leg(session);
  meeting_legs_.erase(session);
  if (!found.leg || !found.leg->live()) return;
  Room& r = *found.room;
  MeetingRecording& rec = *found.rec;
  MeetingLeg* leg = found.leg;
  const std::string meeting = r.meeting.id;
  const std::string app = rec.application_id;
  const bool was_up = leg->state == MeetingLeg::State::kUp;
  leg->state = was_up ? MeetingLeg::State::kEnded : MeetingLeg::State::kFailed;
  leg->why = why;
  if (!was_up) ++metrics_.recording_failed;
  for (auto& c : leg->copies) c.tap->close();
  leg->session = 0;
  if (hang) hang_up(session);
  spdlog::warn("meeting {}: recorder {} ({}): {}", meeting, leg->instance, leg->uri, why);
  if (stopping_) return;
  // A lost recorder is replaced by an endpoint of the application (or its pair) not in use and
  // not found down; its session starts with every member present. One that failed before it
  // answered (refused, unreachable, timed out) fails over the same way, to an endpoint not yet
  // tried for this recording, as a call's does; members waiting for it go on waiting.
  const std::string failed_uri = leg->uri;
  bool started = false;
  for (const auto& [target, endpoints] : rec.sources) {
    for (const auto& e : endpoints) {
      const bool used = std::any_of(rec.legs.begin(), rec.legs.end(), [&](const auto& l) {
        return l->uri == e.uri && (l->live() || !was_up);
      });
      auto h = health_.find(e.uri);
      if (used || e.uri == failed_uri || (h != health_.end() && h->second.down)) continue;
      spdlog::info("meeting {}: {} recorder of {}: trying {}", meeting,
                   was_up ? "replacing a lost" : "failing over from a failed", rec.application,
                   e.uri);
      if (was_up) ++metrics_.recording_replacements;
      start_meeting_leg(r, rec, target, e);  // adds to legs, not to sources
      // One that could not even be invited (its name does not resolve): the next one.
      started = rec.legs.back()->live();
      if (started) break;
    }
    if (started) break;
  }
  const bool gone = rec.all_gone();
  if (std::all_of(r.recordings.begin(), r.recordings.end(),
                  [](const auto& kv) { return kv.second.all_gone(); })) {
    r.recorded = false;  // the next recorder to come in is announced again
    r.roster_changed = true;
  }
  check_admissions(meeting);
  if (gone) enforce_during(meeting, app);
}

// --- enforcement -----------------------------------------------------------------------------

// Each member waiting for its RequiredBeforeMeetingJoin recorders: admitted once a session of
// each is up, refused once one of them has none left.
void Gateway::check_admissions(const std::string& meeting) {
  auto room = rooms_.find(meeting);
  if (room == rooms_.end()) return;
  std::vector<std::pair<uint64_t, std::string>> refused;
  std::vector<uint64_t> ready;
  for (auto& [session, m] : room->second->members) {
    if (m.admitted || m.remove_at) continue;
    std::string why;
    bool waiting = false;
    for (const auto& app : m.required_before) {
      const auto& rec = room->second->recordings[app];
      if (rec.any_up()) continue;
      if (rec.all_gone()) {
        why = "every recorder of " + rec.application + " refused or failed: " + rec.why_gone();
        break;
      }
      waiting = true;
    }
    if (!why.empty()) {
      refused.emplace_back(session, why);
    } else if (!waiting) {
      ready.push_back(session);
    }
  }
  for (uint64_t s : ready) {
    room = rooms_.find(meeting);  // an admission that fails may close the room
    if (room == rooms_.end()) return;
    auto it = room->second->members.find(s);
    if (it != room->second->members.end()) admit_waiting(*room->second, it->second);
  }
  for (const auto& [s, why] : refused) refuse_waiting(meeting, s, why);
}

void Gateway::admit_waiting(Room& room, RoomMember& m) {
  if (auto st = room.mix.add(m.id, m.encoding); !st) {  // not for a codec choose() took
    spdlog::error("meeting {}: {} not mixed: {}", room.meeting.id, m.party.aor, st.error().message);
    const uint64_t session = m.session;
    if (m.answered) {
      hang_up(session, {{"Reason", reason_header(500, "the meeting could not be joined")}});
    } else {
      warn_on_error(ua_->reject(session, 488, "Not Acceptable Here",
                                {{"Warning", "399 verbatim " + quote(st.error().message)}}),
                    "refusing a meeting's member");
    }
    leave_meeting(session, "not mixed");
    return;
  }
  m.admitted = true;
  if (!m.answered) {
    sip::HeaderList headers = {{"Allow-Events", "conference"}};
    // The indicator for phones that show it: the meeting is (or, by this member's own policy,
    // is about to be) recorded.
    const bool recorded = room.recorded || m.party.recorded;
    if (recorded) {
      std::string banner = options_.banner_text;
      if (m.party.recorded && !m.party.decision.policy->banner_text.empty()) {
        banner = m.party.decision.policy->banner_text;
      } else {
        for (const auto& [app, rec] : room.recordings) {
          if (rec.policy && !rec.policy->banner_text.empty()) banner = rec.policy->banner_text;
        }
      }
      headers.push_back(
          {"Call-Info", "<urn:verbatim:recording>;purpose=recording;banner=" + quote(banner)});
      m.indicated = true;
    }
    answer_member(m.session, m.call_id, m.answer_sdp, headers);
    m.answered = true;
  }
  ++metrics_.meeting_joins;
  const auto others = std::count_if(room.members.begin(), room.members.end(), [&](const auto& kv) {
    return kv.first != m.session && kv.second.admitted;
  });
  if (others > 0) chime(room, true);
  room.roster_changed = true;
  spdlog::info("meeting {} ({}): {} joined with {} ({} in the meeting){}", room.meeting.id,
               room.meeting.subject, m.party.aor, m.encoding, room.members.size(),
               m.party.recorded ? " (recorded)" : "");
  if (room.recorded) tell_recorded(room, m);
}

// Not admitted: refused with 480 and why; a dial-in caller (already answered) hears why first.
void Gateway::refuse_waiting(const std::string& meeting, uint64_t session, const std::string& why) {
  auto room = rooms_.find(meeting);
  if (room == rooms_.end()) return;
  auto it = room->second->members.find(session);
  if (it == room->second->members.end()) return;
  RoomMember& m = it->second;
  ++metrics_.meeting_refused_recording;
  spdlog::warn("meeting {}: {} not admitted: {}", meeting, m.party.aor, why);
  const std::string reason = reason_header(480, kRecordingFailedText);
  if (!m.answered) {
    warn_on_error(
        ua_->reject(
            session, 480, "Recording Unavailable",
            {{"Reason", reason},
             {"Warning", "399 verbatim " + quote(std::string(kRecordingFailedText) + ": " + why)}}),
        "refusing a meeting's member");
    leave_meeting(session, "not admitted: " + why);
    return;
  }
  m.remove_reason = reason;
  const int64_t ms = play_to_member(session, Prompt::kMeetingRecordingUnavailable);
  m.remove_at = timers_->now() + std::chrono::milliseconds(std::max<int64_t>(ms, 0) + 200);
}

// RequiredDuringMeeting: every session of `app` is gone; each member whose own policy requires
// it hears the warning (if its policy warns) and is then removed. The others stay.
void Gateway::enforce_during(const std::string& meeting, const std::string& app) {
  auto room = rooms_.find(meeting);
  if (room == rooms_.end()) return;
  std::vector<uint64_t> removed;
  for (auto& [session, m] : room->second->members) {
    if (!m.admitted || m.remove_at || !names(m.required_during, app)) continue;
    ++metrics_.meeting_removed_recording;
    spdlog::warn("meeting {}: every recorder of {} is gone: {} is removed from the meeting",
                 meeting, room->second->recordings[app].application, m.party.aor);
    m.remove_reason = reason_header(480, kRemovedText);
    int64_t ms = -1;
    if (m.party.decision.policy && m.party.decision.policy->warn_user_on_removal) {
      ms = play_to_member(session, Prompt::kMeetingRecordingStopped);
      if (ms >= 0) ++metrics_.removal_warnings;
      if (m.record_aware) warn_visibly(session, kRemovedText, ms);
    }
    if (ms < 0) {
      removed.push_back(session);
      continue;
    }
    m.remove_at = timers_->now() + std::chrono::milliseconds(ms + 200);
  }
  for (uint64_t s : removed) {
    auto it = room->second->members.find(s);
    if (it == room->second->members.end()) continue;
    hang_up(s, {{"Reason", it->second.remove_reason}});
    leave_meeting(s, "removed: its required recording is gone");
    if (!rooms_.contains(meeting)) return;
  }
}

// The notice that the meeting is recorded, unless the member's phone shows the indicator it got.
void Gateway::tell_recorded(Room& room, RoomMember& m) {
  (void)room;
  if (m.told) return;
  m.told = true;
  if (m.record_aware && m.indicated) {
    m.notice = "indicator";
    return;
  }
  m.notice =
      play_to_member(m.session, Prompt::kMeetingRecordingStarted) >= 0 ? "played" : "not played";
  if (m.notice == "played") ++metrics_.notices_played;
}

// From the room's tick: removals whose warning has played, joins that waited too long for their
// recorders, and offers to recorders for the members who came and went.
void Gateway::meeting_recording_tick(const std::string& meeting, Room& room) {
  const auto now = timers_->now();
  std::vector<uint64_t> due;
  std::vector<uint64_t> late;
  for (auto& [session, m] : room.members) {
    if (m.remove_at && now >= *m.remove_at && !m.prompt) due.push_back(session);
    if (!m.admitted && !m.remove_at && now >= m.admit_deadline) late.push_back(session);
  }
  for (uint64_t s : late) {
    refuse_waiting(meeting, s,
                   "no recorder answered within " +
                       std::to_string(options_.recording_setup_timeout.count()) + " ms");
    if (!rooms_.contains(meeting)) return;
  }
  for (uint64_t s : due) {
    auto room_it = rooms_.find(meeting);
    if (room_it == rooms_.end()) return;
    auto it = room_it->second->members.find(s);
    if (it == room_it->second->members.end()) continue;
    hang_up(s, {{"Reason", it->second.remove_reason}});
    leave_meeting(s, "removed: its required recording is gone");
  }
  auto room_it = rooms_.find(meeting);
  if (room_it == rooms_.end()) return;
  for (auto& [app, rec] : room_it->second->recordings) {
    for (auto& l : rec.legs) renegotiate(meeting, app, *l);
  }
}

// A re-offer to one recorder for the members who joined and left since its last offer.
void Gateway::renegotiate(const std::string& meeting, const std::string& application,
                          MeetingLeg& leg) {
  if (leg.state != MeetingLeg::State::kUp || leg.renegotiating || leg.changed.empty() ||
      timers_->now() < leg.retry_at) {
    return;
  }
  ++leg.spec.version;
  const std::vector<size_t> changed = std::move(leg.changed);
  leg.changed.clear();
  auto offer = siprec::build_meeting_reoffer(leg.spec, leg.lines, leg.md_session, changed);
  leg.renegotiating = true;
  const uint64_t session = leg.session;
  auto done = [this, session, changed](int status, const sip::Message* response) {
    MeetingLeg* l = meeting_leg(session).leg;
    if (!l || l->state != MeetingLeg::State::kUp) return;
    l->renegotiating = false;
    if (status == 491) {  // glare: offered again later, with whatever changed meanwhile
      l->changed.insert(l->changed.begin(), changed.begin(), changed.end());
      l->retry_at = timers_->now() + kGlareRetry;
      return;
    }
    if (status < 200 || status >= 300 || !response) {
      meeting_leg_gone(session, "refused the meeting's re-offer: " + std::to_string(status));
      return;
    }
    auto answer = sip::parse_sdp(response->body());
    bool plain = false;
    Status st = answer ? apply_recorder_answer(*l, answer.value(), options_.require_srtp, plain)
                       : Status(answer.error());
    if (!st) {
      meeting_leg_gone(session, "the re-offer's answer: " + st.error().message);
      return;
    }
    keyframes_for_recorder(*meeting_leg(session).room, *l, changed);
  };
  if (auto st = ua_->reinvite_with_body(session, offer.sdp, offer.content_type,
                                        std::move(offer.body), std::move(done));
      !st) {
    leg.renegotiating = false;
    leg.changed.insert(leg.changed.begin(), changed.begin(), changed.end());
    leg.retry_at = timers_->now() + kGlareRetry;
    spdlog::warn("meeting {}: re-offer to {} not sent: {}", meeting, leg.uri, st.error().message);
    return;
  }
  ++metrics_.meeting_metadata_updates;
}

// The recording by `rec` is over (the last member it records left, or the meeting ended): its
// sessions are hung up and its copies stop.
void Gateway::end_meeting_recording(const std::string& meeting, MeetingRecording& rec,
                                    const std::string& why) {
  for (auto& l : rec.legs) {
    if (!l->live()) continue;
    l->state =
        l->state == MeetingLeg::State::kUp ? MeetingLeg::State::kEnded : MeetingLeg::State::kFailed;
    l->why = why;
    for (auto& c : l->copies) c.tap->close();
    if (!l->session) continue;
    meeting_legs_.erase(l->session);
    hang_up(l->session);
    l->session = 0;
  }
  spdlog::info("meeting {}: recording by {} ended ({})", meeting, rec.application, why);
}

}  // namespace verbatim::gateway
