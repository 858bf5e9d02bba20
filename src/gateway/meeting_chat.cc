// Chat in meetings: a SIP MESSAGE (RFC 3428) from a member, sent to the meeting's URI (outside a
// dialog, by an authenticated user who is in the meeting) or in the member's meeting dialog, is
// relayed to every other member in their dialogs, and kept by every recorder of the meeting in
// its SIPREC dialog. Both get it as message/cpim (RFC 3862, sip/cpim.h), which says who sent it
// and when: an in-dialog MESSAGE's From is the meeting, not the sender. The sender gets 202
// Accepted (RFC 3428 §7: delivered onwards, not yet read).
//
// Never relayed unrecorded: while the meeting is recorded by an application that has no session
// up (a recorder being replaced), a message is refused with 503 and Retry-After rather than
// relayed without being kept. Only text is taken (415 otherwise), at most 16 KiB (413).
#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/strings.h"
#include "gateway/call_model.h"
#include "sip/cpim.h"
#include "sip/header_values.h"

namespace verbatim::gateway {

bool Gateway::on_message_request(uint64_t txn, const sip::Message& request, const sip::Peer& from) {
  auto auth = registrar_->authenticate(request, from);
  if (!auth.ok()) {
    if (auth.reply.status == 401) ++metrics_.auth_challenges;
    warn_on_error(
        ua_->reply(txn, request, auth.reply.status, auth.reply.reason, auth.reply.headers),
        "answering a MESSAGE");
    return true;
  }
  auto ruri = sip::parse_uri(request.request_uri());
  std::string id;
  if (!ruri || !meeting_uri(ruri.value(), id)) {
    direct_message(txn, request, auth.identity);  // to a user (direct_chat.cc)
    return true;
  }
  const std::string aor = "sip:" + auth.identity;
  uint64_t sender = 0;
  if (auto room = rooms_.find(id); room != rooms_.end()) {
    for (const auto& [session, m] : room->second->members) {
      if (m.admitted && iequals(m.party.aor, aor)) sender = session;
    }
  }
  if (!sender) {
    ++metrics_.meeting_chat_refused;
    warn_on_error(
        ua_->reply(txn, request, 403, "Forbidden",
                   {{"Warning", "399 verbatim " + quote(aor + " is not in meeting " + id)}}),
        "answering a MESSAGE");
    return true;
  }
  meeting_chat(txn, request, id, sender);
  return true;
}

bool Gateway::on_member_message(uint64_t session, uint64_t txn, const sip::Message& request) {
  auto where = room_sessions_.find(session);
  if (where == room_sessions_.end() || where->second.empty()) return false;  // the lobby: 405
  meeting_chat(txn, request, where->second, session);
  return true;
}

void Gateway::meeting_chat(uint64_t txn, const sip::Message& request, const std::string& meeting,
                           uint64_t sender) {
  auto refuse_chat = [&](int status, std::string_view reason, const std::string& why,
                         sip::HeaderList extra = {}) {
    ++metrics_.meeting_chat_refused;
    spdlog::info("meeting {}: a chat message not relayed: {}", meeting, why);
    extra.push_back({"Warning", "399 verbatim " + quote(why)});
    warn_on_error(ua_->reply(txn, request, status, reason, extra), "answering a MESSAGE");
  };
  Room& r = *rooms_.at(meeting);
  const RoomMember& from = r.members.at(sender);
  if (auto bad = chat_body_refusal(request)) {
    refuse_chat(bad->status, bad->reason, bad->why, bad->headers);
    return;
  }
  for (const auto& [app, rec] : r.recordings) {
    if (!rec.any_up()) {
      refuse_chat(503, "Service Unavailable",
                  "the meeting's recording by " + rec.application +
                      " is not ready, so the message was not sent",
                  {{"Retry-After", "5"}});
      return;
    }
  }
  const sip::Header* ct = request.find(sip::HeaderId::kContentType);
  sip::CpimMessage cpim;
  cpim.from = (from.party.display.empty() ? "" : quote(from.party.display) + " ") + "<" +
              from.party.aor + ">";
  cpim.to = "<" + r.meeting.uri + ">";
  cpim.date_time = format_iso8601_ms(wall_->now());
  cpim.content_type = ct ? std::string(ct->value) : "text/plain";
  cpim.body = std::string(request.body());
  const std::string text = sip::build_cpim(cpim);
  size_t kept = 0, relayed = 0;
  for (const auto& [app, rec] : r.recordings) {
    for (const auto& l : rec.legs) {
      if (l->state != MeetingLeg::State::kUp) continue;
      auto done = [meeting, uri = l->uri](int status, const sip::Message*) {
        if (status >= 300) {
          spdlog::warn("meeting {}: recorder {} refused a chat message: {}", meeting, uri, status);
        }
      };
      if (ua_->message(l->session, "message/cpim", text, std::move(done))) ++kept;
    }
  }
  for (const auto& [session, m] : r.members) {
    if (session == sender || !m.admitted || !m.answered || m.remove_at) continue;
    if (ua_->message(session, "message/cpim", text)) ++relayed;
  }
  ++metrics_.meeting_chat_messages;
  ++r.chat_messages;
  spdlog::info("meeting {}: chat from {} ({} bytes) relayed to {} members, kept by {} recorders",
               meeting, from.party.aor, request.body().size(), relayed, kept);
  warn_on_error(ua_->reply(txn, request, 202, "Accepted"), "answering a MESSAGE");
}

}  // namespace verbatim::gateway
