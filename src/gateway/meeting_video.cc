// Video and screen share in meetings. A member's offer may have, besides its audio, a video
// stream (its camera) and a second one marked `a=content:slides` (RFC 4796, its screen share),
// in VP8 or H.264. The gateway forwards them without transcoding, as a selective forwarding
// unit does:
//   - each member is sent one camera stream: the speaker's (the member the mix hears loudest,
//     held for 300 ms before a change, never the member's own), else the last one it saw;
//   - and one screen: the presenter's. One member presents at a time: the first whose screen
//     share sends; another's waits until that one stops (its line closed or made receive-only,
//     it left, or 10 s without a packet);
//   - a member only gets streams in the codec it answered with (no transcoding);
//   - what a member is sent is under one SSRC of ours and switches between senders at their
//     keyframes (media/video.h), so a SIP phone decoding one stream per m-line never shows a
//     broken picture;
//   - keyframes are asked for (PLI, or FIR where the sender only takes that, RFC 4585/5104)
//     when a member starts to see a sender (joins, a new speaker, a new presenter), when a
//     recorder starts to get the stream, and when a member asks (its own PLI or FIR, say after
//     loss), at most one every 300 ms per sender.
// Every member's video and screen share also go to each recorder of the meeting unmixed, on an
// m-line of their own (meeting_recording.cc), and a new presenter is a partial metadata update.
#include <random>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/strings.h"
#include "gateway/call_model.h"
#include "media/rtp.h"

namespace verbatim::gateway {

namespace {

constexpr auto kRequestGap = std::chrono::milliseconds(300);
constexpr auto kSenderQuiet = std::chrono::seconds(2);      // not a camera to show any more
constexpr auto kPresenterQuiet = std::chrono::seconds(10);  // the floor is free again
constexpr int kSpeakerHold = 15;                            // ticks (300 ms) before a change
constexpr double kSpeaking = 600;                           // a smoothed peak that is speech

constexpr std::array<std::string_view, 2> kForwardable = {"VP8", "H264"};

// The first payload type of the line that the gateway forwards, in the member's order.
std::optional<int> video_codec(const sip::SdpMedia& m) {
  for (const auto& f : m.formats) {
    auto pt = sip::parse_payload_type(f);
    auto map = pt ? m.rtpmap(*pt) : std::nullopt;
    if (!map) continue;
    for (auto e : kForwardable) {
      if (iequals(map->encoding, e)) return pt;
    }
  }
  return std::nullopt;
}

// Whether the line's rtcp-fb attributes for `pt` (or "*") have `what` ("nack pli", "ccm fir").
bool feedback(const sip::SdpMedia& m, int pt, std::string_view what) {
  for (const auto& a : m.attributes) {
    if (a.name != "rtcp-fb" || !a.value) continue;
    const std::string& v = *a.value;
    const auto space = v.find(' ');
    if (space == std::string::npos) continue;
    const std::string which = v.substr(0, space);
    if ((which == "*" || which == std::to_string(pt)) && trim(v.substr(space + 1)) == what) {
      return true;
    }
  }
  return false;
}

}  // namespace

Status Gateway::add_member_video(uint64_t session, RoomMember& m,
                                 const sip::SessionDescription& offer, size_t index) {
  const sip::SdpMedia& line = offer.media[index];
  const bool slides = line.attribute("content") == "slides";
  if (m.line(slides ? kSlidesLine : kVideoLine)) {
    return make_error(ErrorCode::kAlreadyExists,
                      slides ? "a second screen share stream" : "a second camera stream");
  }
  if (line.port == 0 ||
      !(istarts_with(line.proto, "RTP/AVP") || istarts_with(line.proto, "RTP/SAVP") ||
        istarts_with(line.proto, "UDP/TLS/RTP/SAVP"))) {
    return make_error(ErrorCode::kInvalidArgument,
                      "not an RTP/AVP(F), RTP/SAVP(F) or UDP/TLS/RTP/SAVPF stream");
  }
  const auto pt = video_codec(line);
  if (!pt) return make_error(ErrorCode::kNotFound, "no VP8 or H.264");
  auto srtp = member_srtp(line, nullptr);
  if (!srtp) return srtp.error();
  auto port = media_->open_tap();
  if (!port) return port.error();
  thread_local std::mt19937 rng{std::random_device{}()};
  RoomVideo v(rng(), static_cast<uint16_t>(rng()), rng());
  const auto map = line.rtpmap(*pt);
  v.slides = slides;
  v.line = index;
  v.encoding = map->encoding;
  v.payload_type = static_cast<uint8_t>(*pt);
  v.rtpmap = map->encoding + "/" + std::to_string(map->clock_rate);
  v.fmtp = line.fmtp(*pt);
  v.fir = feedback(line, *pt, "ccm fir") && !feedback(line, *pt, "nack pli");
  v.rtcp_mux = line.has_attribute("rtcp-mux");
  v.port = std::move(port).value();
  v.srtp = std::move(srtp).value();
  if (const auto* c = offer.connection_for(line)) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(c->address, ec);
    if (!ec && !address.is_unspecified()) v.sdp = udp::endpoint(address, line.port);
  }
  const auto d = line.direction(offer.direction());
  v.sending = d == sip::Direction::kSendRecv || d == sip::Direction::kSendOnly;
  v.receiving = d == sip::Direction::kSendRecv || d == sip::Direction::kRecvOnly;
  v.port->on_rtp([this, session, slides](const udp::endpoint& from, std::span<const uint8_t> d) {
    member_video(session, slides, from, d);
  });
  v.port->on_rtcp([this, session, slides](const udp::endpoint& from, std::span<const uint8_t> d) {
    member_video_rtcp(session, slides, from, d);
  });
  (slides ? m.slides : m.video) = std::move(v);
  return ok_status();
}

sip::SdpMedia Gateway::video_media(const RoomVideo& v) const {
  sip::SdpMedia line;
  line.media = "video";
  line.port = v.port->port();
  line.proto = !v.srtp                       ? "RTP/AVPF"
               : v.srtp->webrtc              ? "UDP/TLS/RTP/SAVPF"
               : v.srtp->proto == "RTP/SAVP" ? "RTP/SAVP"
                                             : "RTP/SAVPF";
  const std::string pt = std::to_string(v.payload_type);
  line.formats = {pt};
  line.attributes.push_back({"rtpmap", pt + " " + v.rtpmap});
  if (v.fmtp) line.attributes.push_back({"fmtp", pt + " " + *v.fmtp});
  line.attributes.push_back({"rtcp-fb", pt + (v.fir ? " ccm fir" : " nack pli")});
  if (v.rtcp_mux) line.attributes.push_back({"rtcp-mux", std::nullopt});
  if (v.slides) line.attributes.push_back({"content", "slides"});
  transport_attributes(line, v.srtp.get(), media_->address().to_string());
  return line;
}

namespace {

// Strict source, as for audio: from the SDP's or the signalling's address, then the latched port;
// a browser's line: from an address ICE checked (where it is then sent to).
template <typename Member>
bool from_member(const Member& m, const LineSrtp* s, const std::optional<udp::endpoint>& sdp,
                 std::optional<udp::endpoint>& latched, const udp::endpoint& from) {
  if (s && s->webrtc) {
    if (!s->webrtc->ice.checked(from)) return false;
    latched = from;
    return true;
  }
  const bool known = (sdp && sdp->address() == from.address()) ||
                     (m.signalling && *m.signalling == from.address());
  if (latched ? *latched != from : !known) return false;
  if (!latched) latched = from;
  return true;
}

}  // namespace

std::pair<Gateway::Room*, Gateway::RoomMember*> Gateway::room_member(uint64_t session) {
  auto where = room_sessions_.find(session);
  if (where == room_sessions_.end()) return {};
  auto r = rooms_.find(where->second);
  if (r == rooms_.end()) return {};
  auto it = r->second->members.find(session);
  if (it == r->second->members.end()) return {};
  return {r->second.get(), &it->second};
}

void Gateway::member_video(uint64_t session, bool slides, const udp::endpoint& from,
                           std::span<const uint8_t> data) {
  auto [room, m] = room_member(session);
  RoomVideo* v = m ? m->line(slides ? kSlidesLine : kVideoLine) : nullptr;
  if (!v) return;
  if (v->srtp && webrtc_in(*v->port, *v->srtp, from, data)) return;
  if (v->rtcp_mux && media::classify(data) == media::PacketKind::kRtcp) {
    member_video_rtcp(session, slides, from, data);
    return;
  }
  const bool was_latched = v->latched.has_value();
  if (!from_member(*m, v->srtp.get(), v->sdp, v->latched, from)) {
    ++v->foreign;
    return;
  }
  if (v->srtp && !srtp_in(*v->srtp, data, false)) {
    if (!was_latched) v->latched.reset();  // only what authenticates fixes the port
    return;
  }
  auto rtp = media::parse_rtp(data);
  if (!rtp) return;
  const auto& packet = rtp.value();
  if (packet.payload_type != v->payload_type) return;
  v->ssrc = packet.ssrc;
  v->last_packet = timers_->now();
  ++v->packets_in;
  const bool key = media::video_keyframe(v->encoding, packet.payload);
  if (key) ++v->keyframes_in;
  const int kind = slides ? kSlidesLine : kVideoLine;
  if (!room->meeting.id.empty()) copy_to_recorders(*room, session, kind, data);
  if (!m->admitted || !v->sending || (slides && room->presenter != session)) return;
  for (auto& [other, o] : room->members) {
    RoomVideo* ov = o.line(kind);
    if (other == session || !ov || !o.admitted || !ov->receiving ||
        !iequals(ov->encoding, v->encoding)) {
      continue;
    }
    if (!ov->view.forward(session, packet, data, key, ov->payload_type, room->video_out)) continue;
    const auto to = ov->latched ? ov->latched : ov->sdp;
    if (!to) continue;
    srtp_out(*ov->port, ov->srtp.get(), room->video_out, *to, false);
    ++ov->packets_out;
    ++v->forwarded;
  }
}

void Gateway::member_video_rtcp(uint64_t session, bool slides, const udp::endpoint& from,
                                std::span<const uint8_t> data) {
  auto [room, m] = room_member(session);
  RoomVideo* v = m ? m->line(slides ? kSlidesLine : kVideoLine) : nullptr;
  if (!v) return;
  // Its RTCP comes from its RTP address's host (the port above, or the same with rtcp-mux).
  const bool was_latched = v->rtcp_latched.has_value();
  if (!from_member(*m, v->srtp.get(), v->sdp, v->rtcp_latched, from)) return;
  if (v->srtp && !srtp_in(*v->srtp, data, true)) {
    if (!was_latched) v->rtcp_latched.reset();
    return;
  }
  for (uint32_t media_ssrc : media::keyframe_requests(data)) {
    if (media_ssrc != v->view.ssrc()) continue;
    ++v->requests_received;
    const uint64_t source = v->view.wanted() ? v->view.wanted() : v->view.shown();
    if (source) request_keyframe(*room, source, slides);
  }
}

void Gateway::request_keyframe(Room& room, uint64_t member, bool slides) {
  auto it = room.members.find(member);
  RoomVideo* v =
      it == room.members.end() ? nullptr : it->second.line(slides ? kSlidesLine : kVideoLine);
  if (!v || !v->ssrc) return;  // nothing sent yet: its first packets will be what it starts with
  const auto now = timers_->now();
  if (v->last_request && now - *v->last_request < kRequestGap)
    return;  // one answers all who asked meanwhile
  std::optional<udp::endpoint> to = v->rtcp_latched;
  if (!to) {
    to = v->latched ? v->latched : v->sdp;
    if (to && !v->rtcp_mux) to->port(static_cast<uint16_t>(to->port() + 1));
  }
  if (!to) return;
  v->last_request = now;
  media::write_keyframe_request(room.video_out, v->view.ssrc(), *v->ssrc, v->fir, v->fir_seq++);
  srtp_out(*v->port, v->srtp.get(), room.video_out, *to, true);
  ++v->requests_sent;
  ++metrics_.meeting_keyframe_requests;
}

// A member's camera or screen share stopped (its line closed, or it left): no one is shown it,
// its recorders' lines for it close, and a presenter gives the floor up.
void Gateway::stop_member_video(Room& room, RoomMember& m, bool slides) {
  auto& v = slides ? m.slides : m.video;
  if (!v) return;
  v->port->close();
  v.reset();
  for (auto& [app, rec] : room.recordings) {
    for (auto& l : rec.legs) {
      if (l->live()) drop_meeting_line(*l, m.session, slides ? kSlidesLine : kVideoLine);
    }
  }
}

void Gateway::video_tick(Room& room) {
  const auto now = timers_->now();
  auto sends = [&](const RoomMember& m, int kind) {
    const RoomVideo* v = m.line(kind);
    return v && m.admitted && v->sending && v->ssrc &&
           now - v->last_packet < (kind == kSlidesLine ? kPresenterQuiet : kSenderQuiet);
  };
  // The speaker: the loudest of those whose camera sends, once they lead for long enough.
  const RoomMember* best = nullptr;
  for (auto& [session, m] : room.members) {
    m.speech = 0.8 * m.speech + 0.2 * room.mix.stats(m.id).level;
    if (sends(m, kVideoLine) && (!best || m.speech > best->speech)) best = &m;
  }
  auto featured = room.members.find(room.featured);
  const bool valid = featured != room.members.end() && sends(featured->second, kVideoLine);
  if (!best) {
    room.featured = 0;
  } else if (!valid) {
    room.featured = best->session;
  } else if (best->session != room.featured && best->speech > kSpeaking &&
             best->speech > 2 * featured->second.speech) {
    room.candidate_ticks = room.candidate == best->session ? room.candidate_ticks + 1 : 1;
    room.candidate = best->session;
    if (room.candidate_ticks >= kSpeakerHold) room.featured = best->session;
  } else {
    room.candidate_ticks = 0;
  }
  // The presenter: kept while its screen share sends; else the first whose does.
  auto presenter = room.members.find(room.presenter);
  if (presenter == room.members.end() || !sends(presenter->second, kSlidesLine)) {
    uint64_t next = 0;
    for (const auto& [session, m] : room.members) {
      if (sends(m, kSlidesLine)) {
        next = session;
        break;
      }
    }
    if (next != room.presenter) {
      const std::string at = format_iso8601(wall_->now());
      for (const auto& change : {std::pair{room.presenter, false}, std::pair{next, true}}) {
        if (change.first == 0 || !room.members.contains(change.first)) continue;
        const bool on = change.second;
        spdlog::info("meeting {}: {} {} presenting", room.meeting.id,
                     room.members.at(change.first).party.aor, on ? "is now" : "stopped");
        update_participant(room, change.first, [&](const std::string& s, const std::string& p) {
          return siprec::meeting_presenter_update(s, p, on, at);
        });
      }
      room.presenter = next;
      room.presenter_since = at;
      room.roster_changed = true;
      ++metrics_.meeting_presenter_changes;
    }
  }
  // What each member is to see: the speaker (else the one it sees, if it still sends, else any
  // other camera), and the presenter's screen; a change asks the new sender for a keyframe.
  for (auto& member : room.members) {
    const uint64_t session = member.first;
    RoomMember& m = member.second;
    for (int kind : {kVideoLine, kSlidesLine}) {
      RoomVideo* v = m.line(kind);
      if (!v || !m.admitted || !v->receiving) continue;
      auto fits = [&](uint64_t s) {
        auto o = room.members.find(s);
        return s != session && o != room.members.end() && sends(o->second, kind) &&
               iequals(o->second.line(kind)->encoding, v->encoding);
      };
      uint64_t target = 0;
      if (kind == kSlidesLine) {
        target = fits(room.presenter) ? room.presenter : 0;
      } else if (fits(room.featured)) {
        target = room.featured;
      } else if (fits(v->view.wanted())) {
        target = v->view.wanted();
      } else {
        for (const auto& [s, o] : room.members) {
          if (fits(s)) {
            target = s;
            break;
          }
        }
      }
      if (target == v->view.wanted()) continue;
      v->view.want(target);
      if (target) {
        ++metrics_.meeting_video_switches;
        request_keyframe(room, target, kind == kSlidesLine);
      }
    }
  }
}

}  // namespace verbatim::gateway
