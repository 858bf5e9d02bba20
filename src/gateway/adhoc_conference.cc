// Ad-hoc conferences (RFC 4579). A user makes a conference on the spot by calling the conference
// factory URI, sip:conference@<domain> (`gateway.conference_factory`): the gateway creates a
// meeting (the caller its organiser, no schedule) and the caller joins it as its first member.
// Every member of a meeting is answered by the gateway as the conference's focus: our Contact is
// the meeting's URI with the isfocus feature tag (meeting_room.cc), so the phone learns the
// conference's URI from the 200.
//
// A two-party call escalates to a conference when one party sends a REFER in the call whose
// Refer-To is a meeting's URI (RFC 4579 §5.5: "REFER to a participant", the conference-aware
// phone's "merge"). The gateway, the other party's peer in the call, passes the REFER on to the
// other party's phone, which calls the conference itself: it joins as any member, under its
// own policy (its recorders, its enforcement). The transferor hears how it went: the other
// phone's NOTIFYs (sipfrag) are passed back to it, and it hangs up the old call once it is told
// 200. A phone that refuses the REFER (a trunk without REFER, 4xx) leaves the call as it was,
// and the transferor is told that status.
#include <spdlog/spdlog.h>

#include "common/log.h"
#include "common/strings.h"
#include "gateway/call_model.h"

namespace verbatim::gateway {

void Gateway::adhoc_conference(uint64_t session, const sip::Message& invite, const Party& who) {
  const std::string upn = istarts_with(who.aor, "sip:") ? who.aor.substr(4) : who.aor;
  const auto at = upn.find('@');
  if (!meeting_store_ || at == std::string::npos) {
    ++metrics_.meeting_refused;
    refuse(session, 404, "Not Found",
           meeting_store_ ? "an ad-hoc conference needs a user's address"
                          : "this gateway holds no meetings");
    return;
  }
  NewMeeting n;
  n.organizer = upn;
  std::string name = who.display.empty() ? upn : who.display;
  if (name.size() > 64) name.resize(64);
  for (char& ch : name) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = ' ';
  }
  n.subject = "Ad-hoc conference (" + name + ")";
  n.domain = upn.substr(at + 1);
  n.created_by = "gateway: ad hoc, by " + upn;
  auto made = meeting_store_->create(n);
  if (!made) {
    ++metrics_.meeting_refused;
    spdlog::error("conference factory: {}: {}", upn, made.error().message);
    refuse(session, 500, "Server Internal Error", "meetings: " + made.error().message);
    return;
  }
  ++metrics_.meeting_adhoc;
  spdlog::info("meeting {}: created ad hoc by {} (the conference factory)", made.value().id, upn);
  join_meeting(session, invite, who, made.value().id);
}

bool Gateway::refer_to_meeting(Call& c, uint64_t transferor, Side moving,
                               const std::string& meeting, const std::string& refer_to) {
  const uint64_t other = moving == Side::kA ? c.b : c.a;
  const Party& by = moving == Side::kA ? c.caller : c.callee;
  auto note = [&](const std::string& outcome) {
    c.transfers.push_back({{"by", by.aor}, {"outcome", outcome}, {"atMs", ms_since(c.started)}});
  };
  if (!other || escalations_.contains(other)) {
    spdlog::warn("call {}: REFER to meeting {} declined: the other party cannot be asked now",
                 c.call_id, meeting);
    note("declined: the other party cannot be asked to join meeting " + meeting);
    return false;
  }
  auto failed = [this, other, transferor](int status, const sip::Message*) {
    if (status < 300) return;  // its NOTIFYs say the rest
    if (escalations_.erase(other) == 0) return;
    warn_on_error(ua_->notify_refer(transferor, status, "The other party did not join"),
                  "NOTIFY to the transferor");
  };
  if (auto st = ua_->refer(other, "<" + refer_to + ">", std::move(failed)); !st) {
    note("declined: " + st.error().message);
    return false;
  }
  escalations_[other] = transferor;
  ++metrics_.meeting_escalations;
  note("to meeting " + meeting + " (the REFER passed on to the other party)");
  spdlog::info("call {}: {} escalates the call to meeting {}: the other party is asked to join",
               c.call_id, by.aor, meeting);
  return true;
}

void Gateway::on_refer_progress(uint64_t session, int status) {
  auto it = escalations_.find(session);
  if (it == escalations_.end()) return;
  const uint64_t transferor = it->second;
  if (status >= 200) escalations_.erase(it);
  const std::string reason = status < 200   ? "Trying"
                             : status < 300 ? "OK"
                                            : "The other party did not join";
  warn_on_error(ua_->notify_refer(transferor, status, reason), "NOTIFY to the transferor");
}

}  // namespace verbatim::gateway
