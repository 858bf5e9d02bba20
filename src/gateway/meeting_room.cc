// Meetings on the gateway: a phone that calls a meeting's URI (sip:meet-<id>@<domain>, made by
// `verbatim meeting create`, common/meetings.h) is answered by the gateway itself and joins that
// meeting's audio conference. The gateway is every member's peer: it takes each member's audio
// in on a port pair of its own and sends each member the mix of everyone else
// (media/conference_mix.h), in the codec the member offered first among PCMU, PCMA, G.722 and
// Opus, one packet per 20 ms on a clock of absolute deadlines.
//
// The meeting is looked up in meetings.db at each join, so a meeting created or cancelled by
// the CLI or the REST API in another process counts at the next call. A room exists while it has
// members; the last to leave ends it.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <random>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/strings.h"
#include "gateway/call_model.h"
#include "media/audio.h"
#include "media/rtp.h"

namespace verbatim::gateway {

namespace {

constexpr auto kTick = std::chrono::milliseconds(20);
// The dial-in menu: a caller has this long after the prompt to key in a PIN, and this many tries.
constexpr auto kPinTimeout = std::chrono::seconds(30);
constexpr int kPinAttempts = 3;
// After the dial-in language menu has played, a caller who has not chosen hears the PIN prompt
// in the number's own language this long after.
constexpr auto kLanguageWait = std::chrono::seconds(5);
// The codecs a member may talk, in the gateway's order of preference when the offer has
// several: the member's own order wins (RFC 3264 §6.1), this list only says what is taken.
constexpr std::array<std::string_view, 4> kMixable = {"opus", "G722", "PCMU", "PCMA"};

struct Chosen {
  size_t line = 0;
  int payload_type = 0;
  sip::RtpMap map;
  std::optional<int> telephone_event;
};

// The first audio stream of the offer with a codec the mix takes, and its first such codec.
std::optional<Chosen> choose(const sip::SessionDescription& offer) {
  for (size_t i = 0; i < offer.media.size(); ++i) {
    const auto& m = offer.media[i];
    const bool rtp = istarts_with(m.proto, "RTP/AVP") || istarts_with(m.proto, "RTP/SAVP") ||
                     istarts_with(m.proto, "UDP/TLS/RTP/SAVP");
    if (m.media != "audio" || m.port == 0 || !rtp) continue;
    std::optional<Chosen> c;
    std::optional<int> te;
    for (const auto& f : m.formats) {
      auto pt = sip::parse_payload_type(f);
      if (!pt) continue;
      auto map = m.rtpmap(*pt);
      if (!map) continue;
      if (iequals(map->encoding, "telephone-event") && !te) te = *pt;
      const bool mixable = std::any_of(kMixable.begin(), kMixable.end(), [&](std::string_view e) {
        return iequals(map->encoding, e);
      });
      if (mixable && !c) c = Chosen{i, *pt, *map, std::nullopt};
    }
    if (c) {
      c->telephone_event = te;
      return c;
    }
  }
  return std::nullopt;
}

// Whether the member sends to us and wants what we send, from its stream's direction.
template <typename Member>
void set_direction(Member& m, const sip::SessionDescription& offer, const sip::SdpMedia& line) {
  const auto d = line.direction(offer.direction());
  m.sending = d == sip::Direction::kSendRecv || d == sip::Direction::kSendOnly;
  m.receiving = d == sip::Direction::kSendRecv || d == sip::Direction::kRecvOnly;
}

// The id the chimes play as in a room's mix (members are numbered from 1).
constexpr uint64_t kChimeMember = 0;

// A join chime (rising) or a leave chime (falling): two 120 ms tones with soft edges, then 80 ms
// of silence so the mix never conceals past its end, as 20 ms PCMU payloads. Made once.
using ChimeFrames = std::vector<std::shared_ptr<const std::vector<uint8_t>>>;
const ChimeFrames& chime_frames(bool join) {
  static const auto make = [](double first, double second) {
    constexpr int kRate = 8000, kTone = kRate * 120 / 1000, kEdge = kRate * 10 / 1000;
    std::vector<int16_t> pcm;
    for (double hz : {first, second}) {
      for (int i = 0; i < kTone; ++i) {
        const double edge =
            std::min({1.0, static_cast<double>(i) / kEdge, static_cast<double>(kTone - i) / kEdge});
        pcm.push_back(static_cast<int16_t>(5000 * edge * std::sin(2 * M_PI * hz * i / kRate)));
      }
    }
    pcm.resize(pcm.size() + kRate * 80 / 1000, 0);
    ChimeFrames out;
    auto frames = media::encode_frames("PCMU", pcm, kRate);
    if (frames) {
      for (auto& f : frames.value()) {
        out.push_back(std::make_shared<const std::vector<uint8_t>>(std::move(f)));
      }
    }
    return out;
  };
  static const ChimeFrames kJoin = make(660, 880);
  static const ChimeFrames kLeave = make(880, 660);
  return join ? kJoin : kLeave;
}

std::optional<std::string> meeting_of(const sip::Uri& uri) {
  const std::string user = uri.user_unescaped();
  if (!istarts_with(user, "meet-") || user.size() == 5 || user.size() > 32) return std::nullopt;
  const std::string id = user.substr(5);
  if (!std::all_of(id.begin(), id.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    return std::nullopt;
  }
  return id;
}

}  // namespace

bool Gateway::meeting_uri(const sip::Uri& uri, std::string& id) {
  if (!uri.is_sip()) return false;
  auto m = meeting_of(uri);
  if (!m) return false;
  id = *m;
  return true;
}

// A member for this INVITE: its codec chosen from the offer, its port opened. The error is the
// refusal (status and why).
Result<Gateway::RoomMember> Gateway::new_member(uint64_t session, const sip::Message& invite,
                                                const Party& who) {
  auto call_id = invite.call_id();
  return new_member(session, invite.body(), call_id ? std::string(call_id.value()) : "", who,
                    nullptr);
}

// `sdp`: the member's offer, or (`port` given: the focus dialled out, and that port is in our
// offer) its answer; either way it names the codec and where the member is.
Result<Gateway::RoomMember> Gateway::new_member(uint64_t session, std::string_view sdp,
                                                const std::string& call_id, const Party& who,
                                                std::shared_ptr<MediaTap> port) {
  auto offer = sip::parse_sdp(sdp);
  if (!offer) {
    return sip::protocol_error(488, sdp.empty() ? "joining a meeting needs an offer in the INVITE"
                                                : "bad SDP: " + offer.error().message);
  }
  const sip::Peer* peer = ua_->peer(session);
  if (peer && !peer->secure() && !options_.allow_sdes_over_plain_sip) {
    for (const auto& line : offer.value().media) {
      if (line.port != 0 && !line.cryptos().empty()) {
        // As for calls: keys that crossed the network in the clear protect nothing (RFC 4568 §8.3).
        return sip::protocol_error(
            488, "SDES-SRTP keys are exchanged only over TLS (sips:); this offer came over " +
                     peer->transport);
      }
    }
  }
  const auto chosen = choose(offer.value());
  if (!chosen) {
    return sip::protocol_error(
        488, "no audio stream with a codec the meeting mixes (PCMU, PCMA, G722, opus)");
  }
  auto srtp = member_srtp(offer.value().media[chosen->line], nullptr);
  if (!srtp) return srtp.error();
  if (!port) {
    auto opened = media_->open_tap();
    if (!opened) return sip::protocol_error(503, opened.error().message);
    port = std::move(opened).value();
  }
  RoomMember m;
  m.session = session;
  m.srtp = std::move(srtp).value();
  m.id = next_member_++;
  m.party = who;
  m.encoding = chosen->map.encoding;
  m.payload_type = static_cast<uint8_t>(chosen->payload_type);
  if (chosen->telephone_event) m.telephone_event = static_cast<uint8_t>(*chosen->telephone_event);
  m.rtpmap = chosen->map.encoding + "/" + std::to_string(chosen->map.clock_rate) +
             (chosen->map.channels > 1 ? "/" + std::to_string(chosen->map.channels) : "");
  m.ticks = media::frame_ticks(m.encoding);
  m.port = std::move(port);
  thread_local std::mt19937 rng{std::random_device{}()};
  m.ssrc = rng();
  m.seq = static_cast<uint16_t>(rng());
  m.timestamp = rng();
  m.origin = rng() | 1u;
  m.joined_at = format_iso8601(wall_->now());
  m.call_id = call_id;
  const auto& line = offer.value().media[chosen->line];
  if (const auto* c = offer.value().connection_for(line)) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(c->address, ec);
    if (!ec && !address.is_unspecified()) m.sdp = udp::endpoint(address, line.port);
  }
  if (peer) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(peer->address, ec);
    if (!ec) m.signalling = address;
  }
  set_direction(m, offer.value(), line);
  m.port->on_rtp([this, session](const udp::endpoint& from, std::span<const uint8_t> data) {
    member_rtp(session, from, data);
  });
  m.lines = offer.value().media;
  m.audio_line = chosen->line;
  // Its camera and its screen share, if it offers them in a codec forwarded as it is; any other
  // stream is declined (port 0 in our answer) and the member joins without it.
  for (size_t i = 0; i < m.lines.size(); ++i) {
    if (i == m.audio_line || m.lines[i].media != "video" || m.lines[i].port == 0) continue;
    if (auto st = add_member_video(session, m, offer.value(), i); !st) {
      spdlog::info("meeting: {}'s video stream {} declined: {}", who.aor, i + 1,
                   st.error().message);
    }
  }
  return m;
}

// What a member sends: its audio into its meeting's mix, its DTMF (RFC 4733) to the PIN menu.
void Gateway::member_rtp(uint64_t session, const udp::endpoint& from,
                         std::span<const uint8_t> data) {
  auto where = room_sessions_.find(session);
  if (where == room_sessions_.end()) return;
  auto r = rooms_.find(where->second);
  if (r == rooms_.end()) return;
  auto it = r->second->members.find(session);
  if (it == r->second->members.end()) return;
  RoomMember& member = it->second;
  if (member.srtp && member.srtp->webrtc) {
    // A browser: ICE and DTLS on this port; media only from an address ICE checked (its RTCP,
    // muxed, is not used).
    if (webrtc_in(*member.port, *member.srtp, from, data)) return;
    if (!member.srtp->webrtc->ice.checked(from) ||
        media::classify(data) == media::PacketKind::kRtcp) {
      ++member.foreign;
      return;
    }
    member.latched.reset();  // sent to where it sends from, always one it checked
  } else {
    const bool known = (member.sdp && member.sdp->address() == from.address()) ||
                       (member.signalling && *member.signalling == from.address());
    if (member.latched ? *member.latched != from : !known) {
      ++member.foreign;
      return;
    }
  }
  if (member.srtp && !srtp_in(*member.srtp, data, false)) return;
  auto rtp = media::parse_rtp(data);
  if (!rtp) return;
  if (!member.latched) member.latched = from;
  ++member.packets_in;
  if (!where->second.empty()) copy_to_recorders(*r->second, session, kAudioLine, data);
  const auto& packet = rtp.value();
  if (member.telephone_event && packet.payload_type == *member.telephone_event &&
      packet.payload.size() >= 4) {
    // RFC 4733 §2.5.1.4: the end of an event is sent three times, with the event's timestamp.
    const bool end = (packet.payload[1] & 0x80) != 0;
    if (end && member.last_event != packet.timestamp) {
      member.last_event = packet.timestamp;
      const uint8_t event = packet.payload[0];
      if (event <= 11) {
        key_pressed(session, event < 10 ? static_cast<char>('0' + event) : event == 10 ? '*' : '#');
      }
    }
    return;
  }
  if (packet.payload_type == member.payload_type && member.sending && !where->second.empty()) {
    r->second->mix.receive(member.id, packet.sequence, packet.payload);
  }
}

// Puts a member into a room (the meeting's, or with `meeting` null the dial-in lobby, id ""). In
// a meeting, its policy's recorders are brought in, and it is admitted (answered, mixed) once
// those it may not join without are in (meeting_recording.cc).
void Gateway::admit(RoomMember&& m, const Meeting* meeting) {
  const std::string id = meeting ? meeting->id : "";
  auto& room = rooms_[id];
  const bool opened = !room;
  if (opened) {
    room = std::make_unique<Room>(*timers_);
    if (meeting) room->meeting = *meeting;
  }
  const uint64_t session = m.session;
  RoomMember& added = room->members.insert_or_assign(session, std::move(m)).first->second;
  room_sessions_[session] = id;
  if (opened) {
    room->due = timers_->now();
    meeting_tick(id);
  }
  if (!meeting) return;
  added.admitted = false;
  added.admit_deadline = timers_->now() + options_.recording_setup_timeout;
  record_member(*room, added);
  check_admissions(id);
  auto it = rooms_.find(id);
  if (it == rooms_.end() || !it->second->members.contains(session)) return;  // refused already
  const RoomMember& waiting = it->second->members.at(session);
  if (!waiting.admitted && !waiting.remove_at) {
    spdlog::info("meeting {}: {} waits for the recorders its policy requires before joining", id,
                 waiting.party.aor);
  }
}

void Gateway::answer_member(uint64_t session, const std::string& call_id, const std::string& sdp,
                            const sip::HeaderList& headers) {
  // In a meeting, as its focus (RFC 4579 §3): our Contact is the meeting's URI with isfocus.
  auto room = room_sessions_.find(session);
  if (room != room_sessions_.end() && !room->second.empty()) {
    warn_on_error(ua_->accept_as_focus(session, sdp, "meet-" + room->second, headers),
                  "answering a meeting's member");
  } else {
    warn_on_error(ua_->accept(session, sdp, headers), "answering a meeting's member");
  }
  journal_member(session, call_id);
}

// In the journal, so a gateway restarted after a crash ends what it left.
void Gateway::journal_member(uint64_t session, const std::string& call_id) {
  const sip::Dialog* d = ua_->dialog(session);
  const sip::Peer* peer = ua_->peer(session);
  if (journal_ && d && peer) {
    journal_->up(JournaledDialog{session, call_id, "meeting member", d->save(), *peer});
  }
}

void Gateway::join_meeting(uint64_t session, const sip::Message& invite, const Party& who,
                           const std::string& id) {
  auto refuse_join = [&](int status, const std::string& reason, const std::string& why) {
    ++metrics_.meeting_refused;
    spdlog::info("meeting {}: {} not admitted: {}", id, who.aor, why);
    refuse(session, status, reason, why);
  };
  if (!meeting_store_) {
    refuse_join(404, "Not Found", "this gateway holds no meetings");
    return;
  }
  auto found = meeting_store_->get(id);
  if (!found) {
    refuse_join(500, "Server Internal Error", "meetings: " + found.error().message);
    return;
  }
  if (!found.value()) {
    refuse_join(404, "Not Found", "no meeting " + id);
    return;
  }
  const Meeting& meeting = *found.value();
  if (meeting.cancelled()) {
    refuse_join(410, "Gone", "meeting " + id + " was cancelled");
    return;
  }
  auto m = new_member(session, invite, who);
  if (!m) {
    const int status = m.error().status ? m.error().status : 488;
    refuse_join(status, status == 503 ? "Service Unavailable" : "Not Acceptable Here",
                m.error().message);
    return;
  }
  m.value().answer_sdp = meeting_sdp(meeting.subject, m.value());
  m.value().record_aware = record_aware(invite);
  admit(std::move(m).value(), &meeting);
}

const GatewayOptions::DialInNumber* Gateway::dial_in_number(const std::string& dialled) const {
  auto digits = [](std::string_view n) { return n.substr(n.starts_with('+') ? 1 : 0); };
  for (const auto& d : options_.dial_in) {
    if (!dialled.empty() && digits(d.number) == digits(dialled)) return &d;
  }
  return nullptr;
}

void Gateway::dial_in(uint64_t session, const sip::Message& invite, const Party& who,
                      const GatewayOptions::DialInNumber& number) {
  const std::string& language = number.language;
  auto m = new_member(session, invite, who);
  if (!m || !meeting_store_) {
    ++metrics_.meeting_refused;
    const int status = m ? 404 : (m.error().status ? m.error().status : 488);
    const std::string why = m ? "this gateway holds no meetings" : m.error().message;
    spdlog::info("dial-in: {} not admitted: {}", who.aor, why);
    refuse(session, status,
           status == 404   ? "Not Found"
           : status == 503 ? "Service Unavailable"
                           : "Not Acceptable Here",
           why);
    if (m) m.value().port->close();
    return;
  }
  m.value().language = language;
  if (!number.secondary_languages.empty()) {
    m.value().menu.push_back(language);
    for (const auto& l : number.secondary_languages) m.value().menu.push_back(l);
  }
  m.value().pin_deadline = timers_->now() + kPinTimeout;
  m.value().answered = true;
  const std::string call_id = m.value().call_id;
  const std::string sdp = meeting_sdp("Meeting dial-in", m.value());
  admit(std::move(m).value(), nullptr);
  answer_member(session, call_id, sdp, {{"Allow-Events", "conference"}});
  if (!number.secondary_languages.empty()) {
    spdlog::info("dial-in: {} called a dial-in number ({}); offering {} languages", who.aor,
                 language, number.secondary_languages.size() + 1);
    play_language_menu(session);
    return;
  }
  spdlog::info("dial-in: {} called a dial-in number ({}); asking for the PIN", who.aor, language);
  play_to_member(session, Prompt::kMeetingPin);
}

// "Für Deutsch, drücken Sie die 1. For English, press 2. ...", each in its own language. When it
// cannot play (a language without the menu's prompts), the caller goes on in the number's
// language.
void Gateway::play_language_menu(uint64_t session) {
  RoomMember& m = rooms_.at("")->members.at(session);
  std::vector<std::pair<Prompt, std::string>> parts;
  for (size_t i = 0; i < m.menu.size() && i < kLanguageChoices; ++i) {
    parts.emplace_back(language_choice(i + 1), m.menu[i]);
  }
  auto menu = prompts_.sequence(parts, m.encoding);
  if (!menu) {
    spdlog::error("dial-in: the language menu cannot play ({}); {} goes on in {}",
                  menu.error().message, m.party.aor, m.language);
    m.menu.clear();
    play_to_member(session, Prompt::kMeetingPin);
    return;
  }
  m.prompt = std::move(menu).value();
  m.prompt_frame = 0;
}

int64_t Gateway::play_to_member(uint64_t session, Prompt prompt) {
  auto where = room_sessions_.find(session);
  if (where == room_sessions_.end()) return -1;
  RoomMember& m = rooms_.at(where->second)->members.at(session);
  auto p = prompts_.get(prompt, m.language, m.encoding);
  if (!p) {
    spdlog::error("meeting: prompt {} for {}: {}", prompt_name(prompt), m.party.aor,
                  p.error().message);
    return -1;
  }
  m.prompt = std::move(p).value();
  m.prompt_frame = 0;
  return m.prompt->duration_ms();
}

// A key the member pressed (RFC 4733 or SIP INFO). In the dial-in lobby: the PIN, ended by #;
// * starts it again.
void Gateway::key_pressed(uint64_t session, char key) {
  auto where = room_sessions_.find(session);
  if (where == room_sessions_.end() || !where->second.empty()) return;  // in a meeting: not yet
  RoomMember& m = rooms_.at("")->members.at(session);
  if (!m.menu.empty()) {
    // The language menu: key N chooses the Nth language; any other key is not an answer.
    const size_t n = key >= '1' && key <= '9' ? static_cast<size_t>(key - '0') : 0;
    if (n == 0 || n > m.menu.size()) return;
    m.language = m.menu[n - 1];
    m.menu.clear();
    spdlog::info("dial-in: {} chose {} (key {}); asking for the PIN", m.party.aor, m.language, key);
    m.pin_deadline = timers_->now() + kPinTimeout;
    play_to_member(session, Prompt::kMeetingPin);
    return;
  }
  m.prompt.reset();  // a key stops the prompt (the caller knows what to do)
  if (key == '*') {
    m.digits.clear();
    return;
  }
  if (key != '#') {
    if (m.digits.size() < 16) m.digits += key;
    return;
  }
  Result<std::optional<Meeting>> found = std::optional<Meeting>();
  if (m.digits.size() >= 4 && m.digits.size() <= 12) found = meeting_store_->by_pin(m.digits);
  m.digits.clear();
  if (found && found.value()) {
    const Meeting meeting = *found.value();
    auto node = rooms_.at("")->members.extract(session);
    RoomMember member = std::move(node.mapped());
    member.prompt.reset();
    spdlog::info("dial-in: {} entered the PIN of meeting {}", member.party.aor, meeting.id);
    room_sessions_.erase(session);
    if (rooms_.at("")->members.empty()) rooms_.erase("");
    admit(std::move(member), &meeting);
    return;
  }
  if (!found) spdlog::error("dial-in: meetings: {}", found.error().message);
  if (++m.attempts >= kPinAttempts) {
    ++metrics_.meeting_refused;
    spdlog::info("dial-in: {} entered no known PIN in {} attempts", m.party.aor, kPinAttempts);
    hang_up(session, {{"Reason", "SIP;cause=404;text=\"no meeting with that PIN\""}});
    leave_meeting(session, "no meeting with that PIN");
    return;
  }
  m.pin_deadline = timers_->now() + kPinTimeout;
  play_to_member(session, Prompt::kMeetingPinWrong);
}

sip::SdpMedia Gateway::member_media(const RoomMember& m) const {
  sip::SdpMedia line;
  line.media = "audio";
  line.port = m.port->port();
  line.proto = m.srtp ? m.srtp->proto : "RTP/AVP";
  line.formats = {std::to_string(m.payload_type)};
  line.attributes.push_back({"rtpmap", std::to_string(m.payload_type) + " " + m.rtpmap});
  if (m.telephone_event) {
    const std::string te = std::to_string(*m.telephone_event);
    line.formats.push_back(te);
    line.attributes.push_back(
        {"rtpmap", te + " telephone-event/" + std::to_string(media::rtp_clock_rate(m.encoding))});
    line.attributes.push_back({"fmtp", te + " 0-16"});
  }
  line.attributes.push_back({"ptime", "20"});
  transport_attributes(line, m.srtp.get(), media_->address().to_string());
  return line;
}

Result<std::shared_ptr<LineSrtp>> Gateway::member_srtp(
    const sip::SdpMedia& line, const std::shared_ptr<LineSrtp>& current) const {
  if (line.proto.find("SAVP") == std::string::npos) {
    // Never weaker than calls: no one joins in the clear where SRTP is required, and a stream
    // that was secured stays so.
    if (current) return sip::protocol_error(488, "a stream with SRTP cannot go on in the clear");
    if (options_.require_srtp) {
      return sip::protocol_error(
          488, "this gateway requires SRTP (RTP/SAVP with an a=crypto key, RFC 4568)");
    }
    return std::shared_ptr<LineSrtp>();
  }
  if (istarts_with(line.proto, "UDP/TLS/RTP/SAVP")) {
    // A browser: the same handshake for as long as its certificate is the same (a re-offer).
    const auto fingerprint = line.attribute("fingerprint");
    if (!fingerprint) return sip::protocol_error(488, "a WebRTC stream without a=fingerprint");
    if (current && current->webrtc && current->webrtc->fingerprint == *fingerprint) return current;
    if (current) return sip::protocol_error(488, "a stream cannot change how it is keyed");
    const auto role = line.attribute("setup") == "passive" ? media::DtlsSrtp::Role::kClient
                                                           : media::DtlsSrtp::Role::kServer;
    auto identity = dtls_identity();
    if (!identity) return sip::protocol_error(500, "DTLS: " + identity.error().message);
    auto dtls = media::DtlsSrtp::create(identity.value(), role, *fingerprint);
    if (!dtls) return sip::protocol_error(488, dtls.error().message);
    auto s = std::make_shared<LineSrtp>();
    s->proto = "UDP/TLS/RTP/SAVPF";
    s->webrtc = std::make_unique<LineSrtp::WebRtc>();
    s->webrtc->ice.set_remote_ufrag(line.attribute("ice-ufrag").value_or(""));
    s->webrtc->dtls = std::move(dtls).value();
    s->webrtc->setup = role == media::DtlsSrtp::Role::kClient ? "active" : "passive";
    s->webrtc->fingerprint = *fingerprint;
    s->webrtc->ours = identity.value()->fingerprint();
    s->webrtc->mid = line.attribute("mid");
    return s;
  }
  if (!istarts_with(line.proto, "RTP/SAVP")) {
    return sip::protocol_error(488, line.proto + " is not taken: SDES or DTLS-SRTP keys only");
  }
  for (const auto& cr : line.cryptos()) {
    auto theirs = media::parse_sdes_key(cr.suite, cr.key_params);
    if (!theirs) continue;
    if (current && current->suite == cr.suite && current->theirs == cr.key_params) {
      current->tag = cr.tag;
      return current;  // the same key: the same contexts (a re-offer that changes nothing else)
    }
    auto rx = media::SrtpReceiver::create(theirs.value());
    if (!rx) continue;
    // A new key of its own is taken; ours stays while the suite does (RFC 4568 §7.1.4).
    auto s = current && current->suite == cr.suite ? current : std::make_shared<LineSrtp>();
    if (!s->tx) {
      s->ours = media::new_sdes_inline(cr.suite);
      auto key = media::parse_sdes_key(cr.suite, s->ours);
      auto tx = key ? media::SrtpSender::create(key.value())
                    : Result<std::unique_ptr<media::SrtpSender>>(key.error());
      if (!tx) return sip::protocol_error(500, "SRTP: " + tx.error().message);
      s->tx = std::move(tx).value();
    }
    s->proto = line.proto;
    s->tag = cr.tag;
    s->suite = cr.suite;
    s->theirs = cr.key_params;
    s->rx = std::move(rx).value();
    return s;
  }
  return sip::protocol_error(488, "no a=crypto key the gateway can use (" + line.proto + ")");
}

bool srtp_in(LineSrtp& s, std::span<const uint8_t>& data, bool rtcp) {
  thread_local std::array<uint8_t, 2048> plain;
  size_t n = data.size();
  if (n > plain.size() || !s.rx) {
    ++s.failed;
    return false;
  }
  std::memcpy(plain.data(), data.data(), n);
  if (s.rx->unprotect(plain.data(), n, rtcp) != media::SrtpReceiver::Outcome::kOk) {
    ++s.failed;  // forged, replayed or damaged
    return false;
  }
  data = std::span<const uint8_t>(plain.data(), n);
  return true;
}

void srtp_out(MediaTap& port, LineSrtp* s, std::span<const uint8_t> data, const udp::endpoint& to,
              bool rtcp) {
  if (s) {
    if (!s->tx) return;  // a browser's line before DTLS is done: nothing goes to it
    s->out.assign(data.begin(), data.end());
    if (!s->tx->protect(s->out, rtcp)) return;
    data = s->out;
  }
  if (rtcp) {
    port.send_rtcp(data, to);
  } else {
    port.send(data, to);
  }
}

bool webrtc_in(MediaTap& port, LineSrtp& s, const udp::endpoint& from,
               std::span<const uint8_t> data) {
  auto* w = s.webrtc.get();
  if (!w) return false;
  const auto kind = media::classify(data);
  if (kind == media::PacketKind::kStun) {
    const auto answer = w->ice.on_stun(data, from);
    if (!answer.empty()) port.send(answer, from);
    return true;
  }
  if (kind != media::PacketKind::kDtls) return false;
  if (!w->ice.checked(from) || !w->dtls || w->failed) return true;
  for (const auto& d : w->dtls->receive(data)) port.send(d, from);
  if (w->dtls->done() && !s.rx) {
    auto rx = media::SrtpReceiver::create(w->dtls->remote_key());
    auto tx = media::SrtpSender::create(w->dtls->local_key());
    if (rx && tx) {
      s.rx = std::move(rx).value();
      s.tx = std::move(tx).value();
    }
  } else if (!w->dtls->failure().empty() && !w->failed) {
    w->failed = true;
    spdlog::warn("meeting: DTLS with {}:{} failed: {}", from.address().to_string(), from.port(),
                 w->dtls->failure());
  }
  return true;
}

void transport_attributes(sip::SdpMedia& line, const LineSrtp* s, const std::string& address) {
  if (!s) return;
  if (!s->webrtc) {
    line.attributes.push_back({"crypto", s->crypto()});
    return;
  }
  const auto& w = *s->webrtc;
  if (w.mid) line.attributes.push_back({"mid", *w.mid});
  line.attributes.push_back({"ice-ufrag", w.ice.ufrag()});
  line.attributes.push_back({"ice-pwd", w.ice.pwd()});
  line.attributes.push_back({"fingerprint", w.ours});
  line.attributes.push_back({"setup", w.setup});
  if (!line.has_attribute("rtcp-mux")) line.attributes.push_back({"rtcp-mux", std::nullopt});
  line.attributes.push_back({"candidate", "1 1 udp 2130706431 " + address + " " +
                                              std::to_string(line.port) + " typ host"});
  line.attributes.push_back({"end-of-candidates", std::nullopt});
}

std::string Gateway::meeting_sdp(const std::string& subject, const RoomMember& m) {
  sip::SessionDescription sdp;
  sdp.origin.username = "verbatim";
  sdp.origin.session_id = std::to_string(m.origin);
  sdp.origin.session_version = std::to_string(++sdp_version_);
  sdp.origin.addr_type = media_->address().is_v6() ? "IP6" : "IP4";
  sdp.origin.address = media_->address().to_string();
  sdp.session_name = subject.empty() ? "-" : subject;
  sdp.connection = sip::SdpConnection{"IN", sdp.origin.addr_type, sdp.origin.address};
  // What the member does decides ours: it only listens, we only send; and so on.
  auto mirror = [](bool sending, bool receiving) {
    return !sending && !receiving ? sip::Direction::kInactive
           : !sending             ? sip::Direction::kSendOnly
           : !receiving           ? sip::Direction::kRecvOnly
                                  : sip::Direction::kSendRecv;
  };
  // One m-line for each of its offer's, in place (RFC 3264 §6): audio, camera, screen share,
  // and whatever else declined with port 0.
  for (size_t i = 0; i < std::max<size_t>(m.lines.size(), 1); ++i) {
    const RoomVideo* v = m.video && m.video->line == i     ? &*m.video
                         : m.slides && m.slides->line == i ? &*m.slides
                                                           : nullptr;
    if (i == m.audio_line) {
      sdp.media.push_back(member_media(m));
      sdp.media.back().set_direction(mirror(m.sending, m.receiving));
    } else if (v) {
      sdp.media.push_back(video_media(*v));
      sdp.media.back().set_direction(mirror(v->sending, v->receiving));
    } else {
      sip::SdpMedia declined;
      declined.media = m.lines[i].media;
      declined.proto = m.lines[i].proto;
      declined.formats = {m.lines[i].formats.empty() ? "0" : m.lines[i].formats.front()};
      if (auto mid = m.lines[i].attribute("mid")) declined.attributes.push_back({"mid", *mid});
      sdp.media.push_back(std::move(declined));
    }
  }
  if (m.srtp && m.srtp->webrtc) sdp.attributes.push_back({"ice-lite", std::nullopt});
  return sip::serialize_sdp(sdp);
}

Result<std::string> Gateway::meeting_reoffer(uint64_t session, const sip::Message& request) {
  auto id = room_sessions_.find(session);
  auto room = id == room_sessions_.end() ? rooms_.end() : rooms_.find(id->second);
  if (room == rooms_.end()) return sip::protocol_error(481, "not in a meeting");
  RoomMember& m = room->second->members.at(session);
  auto offer = sip::parse_sdp(request.body());
  if (!offer) return sip::protocol_error(488, offer.error().message);
  const auto& lines = offer.value().media;
  // RFC 3264 §8: m-lines are never removed; ours stay in their places, new ones come after.
  if (lines.size() < m.lines.size()) {
    return sip::protocol_error(488, "the offer has fewer m-lines than the last one");
  }
  // Its audio: held, resumed or moved, in the meeting's codec.
  const auto& audio = lines[m.audio_line];
  const bool ours = std::any_of(audio.formats.begin(), audio.formats.end(), [&](const auto& f) {
    return sip::parse_payload_type(f) == static_cast<int>(m.payload_type);
  });
  if (audio.media != "audio" || !ours || audio.port == 0) {
    return sip::protocol_error(488, "the meeting's codec is gone");
  }
  auto srtp = member_srtp(audio, m.srtp);
  if (!srtp) return srtp.error();
  m.srtp = std::move(srtp).value();
  set_direction(m, offer.value(), audio);
  auto moved = [&](const sip::SdpMedia& line, std::optional<udp::endpoint>& sdp,
                   std::optional<udp::endpoint>& latched, bool& receiving) {
    // A browser is where ICE found it; its c= is only the default candidate's address.
    if (istarts_with(line.proto, "UDP/TLS/RTP/SAVP")) return;
    const auto* c = offer.value().connection_for(line);
    if (!c) return;
    boost::system::error_code ec;
    auto address = asio::ip::make_address(c->address, ec);
    if (!ec && address.is_unspecified()) receiving = false;  // RFC 2543 hold
    if (!ec && !address.is_unspecified()) {
      const udp::endpoint to(address, line.port);
      if (sdp != to) latched.reset();
      sdp = to;
    }
  };
  moved(audio, m.sdp, m.latched, m.receiving);
  // Its camera and screen share: closed (port 0), changed, or new.
  Room& r = *room->second;
  for (const bool slides : {false, true}) {
    auto& v = slides ? m.slides : m.video;
    if (!v) continue;
    const auto& line = lines[v->line];
    auto srtp = line.port == 0 || line.media != "video" ? Result<std::shared_ptr<LineSrtp>>(nullptr)
                                                        : member_srtp(line, v->srtp);
    if (line.port == 0 || line.media != "video" || !srtp) {
      stop_member_video(r, m, slides);
      continue;
    }
    v->srtp = std::move(srtp).value();
    const auto d = line.direction(offer.value().direction());
    v->sending = d == sip::Direction::kSendRecv || d == sip::Direction::kSendOnly;
    v->receiving = d == sip::Direction::kSendRecv || d == sip::Direction::kRecvOnly;
    moved(line, v->sdp, v->latched, v->receiving);
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    const bool known =
        i < m.lines.size() &&
        (i == m.audio_line || (m.video && m.video->line == i) || (m.slides && m.slides->line == i));
    if (known || lines[i].media != "video" || lines[i].port == 0) continue;
    if (auto st = add_member_video(session, m, offer.value(), i); !st) continue;
    // A stream it starts now (a screen share, typically) goes to the recorders too.
    record_new_line(r, m, lines[i].attribute("content") == "slides" ? kSlidesLine : kVideoLine);
  }
  m.lines = lines;
  spdlog::info("meeting {}: {} {}", id->second, m.party.aor,
               m.sending ? "resumed" : "put the meeting on hold");
  r.roster_changed = true;
  return meeting_sdp(r.meeting.subject, m);
}

void Gateway::leave_meeting(uint64_t session, std::string_view why) {
  auto id = room_sessions_.find(session);
  if (id == room_sessions_.end()) return;
  const std::string meeting = id->second;
  room_sessions_.erase(id);
  auto room = rooms_.find(meeting);
  if (room == rooms_.end()) return;
  Room& r = *room->second;
  auto it = r.members.find(session);
  if (it == r.members.end()) return;
  const auto stats = r.mix.stats(it->second.id);
  spdlog::info(
      "meeting {}: {} left ({}): {} packets in, {} out, {} concealed, {} late, {} from elsewhere",
      meeting, it->second.party.aor, why, it->second.packets_in, it->second.packets_out,
      stats.concealed, stats.late, it->second.foreign);
  const bool was_admitted = it->second.admitted && !meeting.empty();
  r.mix.remove(it->second.id);
  it->second.port->close();
  for (auto* v : {it->second.line(kVideoLine), it->second.line(kSlidesLine)}) {
    if (v) v->port->close();
  }
  if (journal_) journal_->down(session);
  r.members.erase(it);
  // Its recorders close its m-line (at the next tick's offer); a recording it alone kept going
  // ends.
  for (auto rec = r.recordings.begin(); rec != r.recordings.end();) {
    for (auto& l : rec->second.legs) {
      if (l->live()) drop_meeting_line(*l, session);
    }
    const bool had = rec->second.members.erase(session) > 0;
    if (had && rec->second.members.empty()) {
      end_meeting_recording(meeting, rec->second, "no member it records is left");
      rec = r.recordings.erase(rec);
    } else {
      ++rec;
    }
  }
  if (was_admitted && !r.members.empty()) {
    chime(r, false);
    r.roster_changed = true;
  }
  if (r.members.empty()) {
    for (auto& [app, rec] : r.recordings) end_meeting_recording(meeting, rec, "the meeting ended");
    if (!meeting.empty()) {
      spdlog::info("meeting {}: the last member left; the meeting's room is closed", meeting);
    }
    rooms_.erase(room);
  }
}

void Gateway::meeting_tick(const std::string& id) {
  auto it = rooms_.find(id);
  if (it == rooms_.end()) return;
  Room& r = *it->second;
  const auto now = timers_->now();
  if (id.empty()) {
    // The dial-in lobby: no mix; whoever has let the PIN time run out is let go.
    r.out.clear();
    std::vector<uint64_t> late;
    for (auto& [session, m] : r.members) {
      if (m.prompt || now < m.pin_deadline) continue;
      if (!m.menu.empty()) {
        // No language chosen: the number's own, and the PIN prompt in it.
        spdlog::info("dial-in: {} chose no language; asking for the PIN in {}", m.party.aor,
                     m.language);
        m.menu.clear();
        m.pin_deadline = now + kPinTimeout;
        play_to_member(session, Prompt::kMeetingPin);
        continue;
      }
      late.push_back(session);
    }
    for (uint64_t session : late) {
      ++metrics_.meeting_refused;
      spdlog::info("dial-in: {} entered no PIN in time", r.members.at(session).party.aor);
      hang_up(session, {{"Reason", "SIP;cause=408;text=\"no meeting PIN was entered\""}});
      leave_meeting(session, "no PIN entered");
    }
    it = rooms_.find(id);
    if (it == rooms_.end()) return;  // the last one left
  } else {
    meeting_recording_tick(id, r);
    it = rooms_.find(id);
    if (it == rooms_.end()) return;  // the last one left
    if (!r.chime.empty()) {
      if (!r.chiming && r.mix.add(kChimeMember, "PCMU")) r.chiming = true;
      if (r.chiming) r.mix.receive(kChimeMember, r.chime_seq++, *r.chime.front());
      r.chime.pop_front();
    } else if (r.chiming) {
      r.mix.remove(kChimeMember);
      r.chiming = false;
    }
    roster_tick(r);
    video_tick(r);
    r.mix.tick(r.out);
  }
  std::map<uint64_t, const std::vector<uint8_t>*> mixed;
  for (const auto& o : r.out) mixed.emplace(o.member, &o.payload);
  for (auto& [session, member] : r.members) {
    // A prompt plays instead of the mix; then the mix (or, in the lobby, nothing) again.
    const std::vector<uint8_t>* payload = nullptr;
    // A prompt whose last frame goes now: held until it is sent (a language menu, made for this
    // caller, has no other owner).
    std::shared_ptr<const EncodedPrompt> ending;
    if (member.prompt) {
      payload = &(*member.prompt->frames)[member.prompt_frame];
      if (++member.prompt_frame >= member.prompt->frames->size()) {
        ending = std::move(member.prompt);
        member.prompt.reset();
        member.pin_deadline = now + (member.menu.empty() ? kPinTimeout : kLanguageWait);
      }
    } else if (auto m = mixed.find(member.id); m != mixed.end()) {
      payload = m->second;
    }
    if (!payload) continue;
    const std::optional<udp::endpoint> to = member.latched ? member.latched : member.sdp;
    // Sequence and timestamp advance while it is on hold, so the stream resumes in order.
    const uint16_t seq = member.seq++;
    const uint32_t ts = member.timestamp;
    member.timestamp += member.ticks;
    if (!to || !member.receiving) continue;
    media::write_rtp_header(r.packet, member.payload_type, false, seq, ts, member.ssrc);
    r.packet.insert(r.packet.end(), payload->begin(), payload->end());
    srtp_out(*member.port, member.srtp.get(), r.packet, *to, false);
    ++member.packets_out;
  }
  // Absolute deadlines, so the pace does not drift; after a stall (a debugger, a loaded host)
  // the clock starts again from now instead of sending a burst to catch up.
  r.due += kTick;
  if (now - r.due > 5 * kTick) r.due = now + kTick;
  const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(r.due - now);
  r.clock.start(std::max(wait, std::chrono::milliseconds(0)), [this, id] { meeting_tick(id); });
}

void Gateway::chime(Room& room, bool join) {
  if (!options_.meeting_chimes) return;
  const auto& frames = chime_frames(join);
  room.chime.assign(frames.begin(), frames.end());  // a newer chime replaces one still playing
}

void Gateway::end_meetings() {
  std::vector<uint64_t> sessions;
  for (const auto& [session, id] : room_sessions_) sessions.push_back(session);
  for (uint64_t session : sessions) {
    hang_up(session, {{"Reason", "SIP;cause=200;text=\"the gateway shut down\""}});
    leave_meeting(session, "gateway shut down");
  }
}

json Gateway::meetings_status() const {
  json out = json::array();
  for (const auto& [id, r] : rooms_) {
    if (id.empty()) continue;  // the dial-in lobby (dialInWaiting)
    json members = json::array();
    for (const auto& [session, m] : r->members) {
      const auto s = r->mix.stats(m.id);
      members.push_back({{"aor", m.party.aor},
                         {"codec", m.encoding},
                         {"joinedAt", m.joined_at},
                         {"onHold", !m.sending},
                         {"packetsIn", m.packets_in},
                         {"packetsOut", m.packets_out},
                         {"concealed", s.concealed},
                         {"late", s.late},
                         {"admitted", m.admitted},
                         {"muted", m.muted},
                         {"recorded", m.party.recorded}});
      if (!m.notice.empty()) members.back()["notice"] = m.notice;
      if (!m.language.empty()) members.back()["language"] = m.language;
      // SRTP (SDES) on its audio, and what did not authenticate (on any of its lines).
      members.back()["srtp"] = m.srtp != nullptr;
      uint64_t srtp_failed = m.srtp ? m.srtp->failed : 0;
      for (const auto* v : {m.line(kVideoLine), m.line(kSlidesLine)}) {
        if (v && v->srtp) srtp_failed += v->srtp->failed;
      }
      if (srtp_failed) members.back()["srtpFailed"] = srtp_failed;
      for (const auto* v : {m.line(kVideoLine), m.line(kSlidesLine)}) {
        if (!v) continue;
        auto shown = r->members.find(v->view.shown());
        members.back()[v->slides ? "screenShare" : "video"] = {
            {"codec", v->encoding},
            {"packetsIn", v->packets_in},
            {"keyframesIn", v->keyframes_in},
            {"forwarded", v->forwarded},
            {"packetsOut", v->packets_out},
            {"keyframeRequestsSent", v->requests_sent},
            {"keyframeRequestsReceived", v->requests_received},
            {"switches", v->view.switches()},
            {"showing", shown == r->members.end() ? "" : shown->second.party.aor}};
      }
      if (m.party.decision.policy) members.back()["policy"] = m.party.decision.policy->name;
    }
    json recordings = json::array();
    for (const auto& [app, rec] : r->recordings) {
      json legs = json::array();
      for (const auto& l : rec.legs) {
        MeetingLeg::State st = l->state;
        legs.push_back({{"uri", l->uri},
                        {"instance", l->instance},
                        {"state", st == MeetingLeg::State::kInviting ? "inviting"
                                  : st == MeetingLeg::State::kUp     ? "recording"
                                  : st == MeetingLeg::State::kFailed ? "failed"
                                                                     : "ended"},
                        {"answeredMs", l->answered_ms},
                        {"streams", l->lines.size()},
                        {"offers", l->spec.version}});
        if (!l->why.empty()) legs.back()["why"] = l->why;
      }
      recordings.push_back({{"application", rec.application},
                            {"applicationId", app},
                            {"policy", rec.policy ? rec.policy->name : ""},
                            {"members", rec.members.size()},
                            {"legs", std::move(legs)}});
    }
    out.push_back(
        {{"meeting", id},
         {"subject", r->meeting.subject},
         {"organizer", r->meeting.organizer},
         {"recorded", r->recorded},
         {"chatMessages", r->chat_messages},
         {"speaker", r->members.contains(r->featured) ? r->members.at(r->featured).party.aor : ""},
         {"presenter",
          r->members.contains(r->presenter) ? r->members.at(r->presenter).party.aor : ""},
         {"members", std::move(members)},
         {"recordings", std::move(recordings)}});
  }
  return out;
}

}  // namespace verbatim::gateway
