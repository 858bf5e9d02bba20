// A meeting's roster for its members' phones and the web client (RFC 4575, the conference event
// package). A member subscribes in its meeting dialog (SUBSCRIBE with Event: conference, the
// dialog reuse of RFC 6665 §4.5.2) and gets the whole roster (gateway/conference_info.h) in a
// NOTIFY at once, and again after every change: a join, a leave, a mute, a hold, the recording
// starting or stopping; at most one NOTIFY per member per room tick (20 ms).
//   - Expires: as asked, from 60 s (423 below that) to 3600 s (the default); 0 ends the
//     subscription with a last NOTIFY (terminated). One not refreshed in time ends with a NOTIFY
//     "terminated;reason=timeout". Leaving the meeting ends it with the dialog.
//   - Any other event package: 489 Bad Event, with Allow-Events: conference.
#include <charconv>

#include <spdlog/spdlog.h>

#include "common/log.h"
#include "common/strings.h"
#include "gateway/call_model.h"
#include "gateway/conference_info.h"

namespace verbatim::gateway {

namespace {

constexpr int64_t kRosterMinExpires = 60;
constexpr int64_t kRosterMaxExpires = 3600;

}  // namespace

bool Gateway::on_member_subscribe(uint64_t session, uint64_t txn, const sip::Message& request) {
  auto where = room_sessions_.find(session);
  if (where == room_sessions_.end() || where->second.empty()) return false;  // the lobby: 405
  Room& r = *rooms_.at(where->second);
  RoomMember& m = r.members.at(session);
  const sip::Header* event = request.find(sip::HeaderId::kEvent);
  const std::string_view package =
      event ? trim(event->value.substr(0, event->value.find(';'))) : std::string_view();
  if (!iequals(package, "conference")) {
    warn_on_error(ua_->reply(txn, request, 489, "Bad Event", {{"Allow-Events", "conference"}}),
                  "answering a SUBSCRIBE");
    return true;
  }
  int64_t expires = kRosterMaxExpires;
  if (const sip::Header* e = request.find(sip::HeaderId::kExpires)) {
    const std::string_view v = trim(e->value);
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), expires);
    if (ec != std::errc() || end != v.data() + v.size() || expires < 0) {
      warn_on_error(ua_->reply(txn, request, 400, "Bad Expires"), "answering a SUBSCRIBE");
      return true;
    }
  }
  if (expires > 0 && expires < kRosterMinExpires) {
    warn_on_error(ua_->reply(txn, request, 423, "Interval Too Brief",
                             {{"Min-Expires", std::to_string(kRosterMinExpires)}}),
                  "answering a SUBSCRIBE");
    return true;
  }
  expires = std::min<int64_t>(expires, kRosterMaxExpires);
  warn_on_error(ua_->reply(txn, request, 200, "OK", {{"Expires", std::to_string(expires)}}),
                "answering a SUBSCRIBE");
  if (expires == 0) {
    m.roster_until.reset();
    send_roster(r, m, "terminated");
    return true;
  }
  m.roster_until = timers_->now() + std::chrono::seconds(expires);
  send_roster(r, m, "active;expires=" + std::to_string(expires));
  spdlog::info("meeting {}: {} follows the roster ({} s)", r.meeting.id, m.party.aor, expires);
  return true;
}

// The roster now, to one member: the whole document, one version higher than its last.
void Gateway::send_roster(const Room& room, RoomMember& m, const std::string& state) {
  Roster roster;
  roster.uri = room.meeting.uri;
  roster.subject = room.meeting.subject;
  roster.version = ++m.roster_version;
  roster.recorded = room.recorded;
  std::vector<const RoomMember*> in;
  for (const auto& [session, x] : room.members) {
    if (x.admitted) in.push_back(&x);
  }
  std::sort(in.begin(), in.end(), [](const auto* a, const auto* b) { return a->id < b->id; });
  for (const RoomMember* x : in) {
    RosterEndpoint e;
    e.aor = x->party.aor;
    e.display = x->party.display;
    e.session = x->id;
    e.joined_at = x->joined_at;
    e.recorded = x->party.recorded;
    const bool heard = x->sending && !x->muted;
    e.media_status = heard && x->receiving ? "sendrecv"
                     : heard               ? "sendonly"
                     : x->receiving        ? "recvonly"
                                           : "inactive";
    for (const auto* v : {x->line(kVideoLine), x->line(kSlidesLine)}) {
      if (!v) continue;
      (v->slides ? e.slides_status : e.video_status) = v->sending && v->receiving ? "sendrecv"
                                                       : v->sending               ? "sendonly"
                                                       : v->receiving             ? "recvonly"
                                                                                  : "inactive";
    }
    e.presenting = room.presenter == x->session;
    roster.endpoints.push_back(std::move(e));
  }
  warn_on_error(ua_->notify(m.session, "conference", state, "application/conference-info+xml",
                            conference_info(roster)),
                "a roster NOTIFY");
}

// From the room's tick: subscriptions run out, and a changed roster goes to every subscriber.
void Gateway::roster_tick(Room& room) {
  const auto now = timers_->now();
  for (auto& [session, m] : room.members) {
    if (m.roster_until && now >= *m.roster_until) {
      m.roster_until.reset();
      send_roster(room, m, "terminated;reason=timeout");
    }
  }
  if (!room.roster_changed) return;
  room.roster_changed = false;
  for (auto& [session, m] : room.members) {
    if (!m.roster_until) continue;
    const auto left = std::chrono::duration_cast<std::chrono::seconds>(*m.roster_until - now);
    send_roster(room, m, "active;expires=" + std::to_string(std::max<int64_t>(left.count(), 1)));
  }
}

}  // namespace verbatim::gateway
