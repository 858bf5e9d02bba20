// The focus dialling out (RFC 4579 §5.3): a meeting's member sends a REFER in its dialog with
// the focus whose Refer-To names a user ("add Carol"). The gateway, the meeting's focus, calls
// every registration of that user with an offer of its own (audio in each codec the meeting
// mixes), from the meeting's URI with the isfocus feature tag; the first phone to answer joins as
// any member does, under its own policy (its recorders, RequiredBeforeMeetingJoin: it is told why
// and hung up if they do not come), and the other phones stop ringing. The member who asked hears
// how it went in NOTIFYs (sipfrag): 100 at once, 180 while the phone rings, then 200 or the
// best refusal, 480 when the user has no registration, 408 after 60 s without an answer.
//
// Declined at once (603): a member not admitted yet, a Refer-To that is not a user of this
// gateway, a user already in the meeting, Refer-To methods other than INVITE (removing someone
// is the organiser's command), and a gateway that requires SRTP (the focus dials out in RTP
// only, for now). The one who is added is called with audio only; a camera can be added by its
// own re-INVITE.
#include <spdlog/spdlog.h>

#include <random>

#include "common/log.h"
#include "common/strings.h"
#include "gateway/call_model.h"

namespace verbatim::gateway {

namespace {

constexpr auto kRingFor = std::chrono::seconds(60);
constexpr size_t kMaxDialOuts = 100;  // at once, on this gateway

// Our offer: one audio stream in each codec the meeting mixes, and RFC 4733 events.
std::string dial_out_offer(const asio::ip::address& address, uint16_t port,
                           const std::string& subject, uint64_t version) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  sip::SessionDescription sdp;
  sdp.origin.username = "verbatim";
  sdp.origin.session_id = std::to_string(rng() >> 1);
  sdp.origin.session_version = std::to_string(version);
  sdp.origin.addr_type = address.is_v6() ? "IP6" : "IP4";
  sdp.origin.address = address.to_string();
  sdp.session_name = subject.empty() ? "-" : subject;
  sdp.connection = sip::SdpConnection{"IN", sdp.origin.addr_type, sdp.origin.address};
  sip::SdpMedia audio;
  audio.media = "audio";
  audio.port = port;
  audio.proto = "RTP/AVP";
  audio.formats = {"9", "111", "0", "8", "101"};
  audio.attributes = {{"rtpmap", "9 G722/8000"},
                      {"rtpmap", "111 opus/48000/2"},
                      {"rtpmap", "0 PCMU/8000"},
                      {"rtpmap", "8 PCMA/8000"},
                      {"rtpmap", "101 telephone-event/8000"},
                      {"fmtp", "101 0-16"},
                      {"ptime", "20"}};
  audio.set_direction(sip::Direction::kSendRecv);
  sdp.media.push_back(std::move(audio));
  return sip::serialize_sdp(sdp);
}

}  // namespace

bool Gateway::meeting_refer(uint64_t session, const sip::Message& refer) {
  const std::string& meeting = room_sessions_.at(session);
  auto room = rooms_.find(meeting);
  if (meeting.empty() || room == rooms_.end()) return false;  // the dial-in lobby
  const RoomMember& by = room->second->members.at(session);
  auto decline = [&](const std::string& why) {
    spdlog::info("meeting {}: {} asked to add someone; declined: {}", meeting, by.party.aor, why);
    return false;
  };
  if (!by.admitted) return decline("it is not in the meeting yet");
  const sip::Header* h = refer.find(sip::HeaderId::kReferTo);
  auto na = h ? sip::parse_name_addr(h->value) : Result<sip::NameAddr>(Error{});
  auto uri = na ? sip::parse_uri(na.value().uri.text) : Result<sip::Uri>(Error{});
  if (!uri) return decline("Refer-To does not parse");
  if (std::string other; meeting_uri(uri.value(), other)) {
    return decline("Refer-To names a meeting, not someone to add");
  }
  const auto method = uri.value().param("method");
  if (!uri.value().headers.empty() || (method && !iequals(*method, "INVITE"))) {
    return decline("only adding someone (INVITE) is done by REFER here");
  }
  const Target t = resolve(uri.value());
  if (t.identity.empty() || t.queue || t.emergency) {
    return decline(std::string(na.value().uri.text) + " is not a user of this gateway");
  }
  for (const auto& [s, m] : room->second->members) {
    if (m.party.aor == t.party.aor) return decline(t.party.aor + " is in the meeting already");
  }
  for (const auto& [id, d] : dial_outs_) {
    if (d->meeting == meeting && d->identity == t.identity) {
      return decline(t.party.aor + " is being called already");
    }
  }
  if (options_.require_srtp) return decline("the focus dials out in RTP, and SRTP is required");
  if (dial_outs_.size() >= kMaxDialOuts) return decline("too many calls out at once");
  auto port = media_->open_tap();
  if (!port) return decline("no media ports free");
  const uint64_t id = next_dial_out_++;
  auto d = std::make_unique<DialOut>(*timers_);
  d->id = id;
  d->meeting = meeting;
  d->referrer = session;
  d->target = t.party;
  d->identity = t.identity;
  d->port = std::move(port).value();
  d->offer = dial_out_offer(media_->address(), d->port->port(), room->second->meeting.subject,
                            ++sdp_version_);
  spdlog::info("meeting {}: {} asked to add {}", meeting, by.party.aor, t.party.aor);
  ++metrics_.meeting_dial_outs;
  // Called once the REFER has had its 202 (and the 100 NOTIFY), so every NOTIFY follows it.
  d->deadline.start(std::chrono::milliseconds(0), [this, id, referred_by = by.party.aor] {
    auto it = dial_outs_.find(id);
    if (it == dial_outs_.end()) return;
    DialOut& dd = *it->second;
    auto r = rooms_.find(dd.meeting);
    if (r == rooms_.end()) {
      dial_out_done(id, 410, "Gone");
      return;
    }
    sip::OutgoingCall oc;
    oc.from = quote(r->second->meeting.subject) + " <" + r->second->meeting.uri + ">";
    oc.to = "<" + dd.target.aor + ">";
    oc.body = dd.offer;
    oc.contact_user = "meet-" + dd.meeting;
    oc.contact_params = ";isfocus";
    oc.headers.emplace_back("Referred-By", "<" + referred_by + ">");
    oc.headers.emplace_back("Allow-Events", "conference");
    for (uint64_t sid : invite_each(oc, registrar_->bindings(dd.identity))) {
      dd.forks.insert(sid);
      dial_out_forks_[sid] = id;
    }
    if (dd.forks.empty()) {
      dial_out_done(id, 480, "Temporarily Unavailable");
      return;
    }
    dd.deadline.start(kRingFor, [this, id] {
      auto again = dial_outs_.find(id);
      if (again == dial_outs_.end()) return;
      for (uint64_t s : again->second->forks) {
        dial_out_forks_.erase(s);
        hang_up(s);  // CANCEL
      }
      again->second->forks.clear();
      dial_out_done(id, 408, "Request Timeout");
    });
  });
  dial_outs_[id] = std::move(d);
  return true;
}

void Gateway::dial_out_progress(uint64_t session, const sip::Message& response) {
  auto d = dial_outs_.find(dial_out_forks_.at(session));
  if (d == dial_outs_.end() || response.status() != 180) return;
  const uint64_t referrer = d->second->referrer;
  if (room_sessions_.contains(referrer)) {
    warn_on_error(ua_->notify_refer(referrer, 180, "Ringing"), "NOTIFY to the member who asked");
  }
}

void Gateway::dial_out_answered(uint64_t session, const sip::Message& response) {
  const uint64_t id = dial_out_forks_.at(session);
  dial_out_forks_.erase(session);
  auto it = dial_outs_.find(id);
  if (it == dial_outs_.end() || it->second->answered) {
    hang_up(session);  // another of the user's phones was first
    return;
  }
  DialOut& d = *it->second;
  d.forks.erase(session);
  for (uint64_t s : d.forks) {  // the others stop ringing
    dial_out_forks_.erase(s);
    hang_up(s);
  }
  d.forks.clear();
  auto found = meeting_store_ ? meeting_store_->get(d.meeting)
                              : Result<std::optional<Meeting>>(std::optional<Meeting>());
  const bool stands = found && found.value() && !found.value()->cancelled();
  auto call_id = response.call_id();
  auto m = stands ? new_member(session, response.body(),
                               call_id ? std::string(call_id.value()) : "", d.target, d.port)
                  : Result<RoomMember>(sip::protocol_error(410, "the meeting was cancelled"));
  if (!m) {
    spdlog::warn("meeting {}: {} answered, but cannot join: {}", d.meeting, d.target.aor,
                 m.error().message);
    hang_up(session, {{"Reason", reason_header(488, m.error().message)}});
    dial_out_done(id, m.error().status ? m.error().status : 488, "Not Acceptable Here");
    return;
  }
  d.answered = true;  // the port is the member's now
  m.value().answered = true;
  spdlog::info("meeting {}: {} answered the focus's call", d.meeting, d.target.aor);
  journal_member(session, m.value().call_id);
  admit(std::move(m).value(), &*found.value());
  dial_out_done(id, 200, "OK");
}

void Gateway::dial_out_failed(uint64_t session, int status, const sip::Message* response) {
  const uint64_t id = dial_out_forks_.at(session);
  dial_out_forks_.erase(session);
  auto it = dial_outs_.find(id);
  if (it == dial_outs_.end()) return;
  DialOut& d = *it->second;
  d.forks.erase(session);
  // The best refusal of all the user's phones, as for a call's forks; a phone's challenge or
  // redirect is for us, not for the member who asked.
  int final = status >= 300 ? status : 500;
  if (final == 401 || final == 407 || (final >= 300 && final < 400)) final = 480;
  if (better_status(final, d.best_status)) {
    d.best_status = final;
    d.best_reason =
        response && final == status
            ? std::string(response->reason())
            : std::string(final == 480 ? "Temporarily Unavailable" : "Request Terminated");
  }
  if (!d.forks.empty() || d.answered) return;
  spdlog::info("meeting {}: {} did not answer the focus's call ({})", d.meeting, d.target.aor,
               d.best_status);
  dial_out_done(id, d.best_status, d.best_reason);
}

void Gateway::dial_out_done(uint64_t id, int status, const std::string& reason) {
  auto it = dial_outs_.find(id);
  if (it == dial_outs_.end()) return;
  DialOut& d = *it->second;
  if (room_sessions_.contains(d.referrer)) {
    warn_on_error(ua_->notify_refer(d.referrer, status, reason), "NOTIFY to the member who asked");
  }
  if (status >= 300) ++metrics_.meeting_dial_outs_failed;
  if (!d.answered && d.port) d.port->close();
  dial_outs_.erase(it);
}

void Gateway::end_dial_outs() {
  for (auto& [id, d] : dial_outs_) {
    for (uint64_t s : d->forks) {
      dial_out_forks_.erase(s);
      hang_up(s);
    }
    d->forks.clear();
    if (!d->answered && d->port) d->port->close();
  }
  dial_outs_.clear();
}

}  // namespace verbatim::gateway
