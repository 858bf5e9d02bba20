// The media session of a call: the relayed streams opened for the caller's offer (SDES keys per
// side, m-lines the gateway cannot relay refused with port 0), the SDP each party gets (naming
// the gateway, with the recording indicator), the answers applied to the streams, and re-offers
// (hold, resume, a party moving).
// A browser (WebRTC, RFC 8829) is one more kind of party: its streams are
// UDP/TLS/RTP/SAVPF with ICE-lite on our side (a=ice-lite, one host candidate per stream),
// DTLS-SRTP with a=fingerprint and a=setup, rtcp-mux, and a=mid with a BUNDLE group when the call
// has one stream (each stream has its own port pair, so more than one are not bundled). The
// other party sees plain RTP (or SDES SRTP when gateway.require_srtp), in the browser's codecs
// (WebRTC endpoints offer G.711, RFC 7874, which every phone has).
// A caller that offers Opus and no G.711 (a browser set to Opus only, an Opus softphone): the
// callee is offered PCMU and PCMA besides, and when it takes one of them the gateway transcodes
// both ways (media/transcoder.h); the caller's answer names its own Opus.
#include <spdlog/spdlog.h>

#include "common/log.h"
#include "common/strings.h"
#include "gateway/usages.h"
#include "media/srtp.h"
#include "sip/sdp.h"

namespace verbatim::gateway {

namespace {

constexpr std::string_view kWebRtcProto = "UDP/TLS/RTP/SAVPF";
bool is_webrtc(const sip::SdpMedia& m) { return m.proto.rfind("UDP/TLS/RTP/SAVP", 0) == 0; }

// A media-level attribute, else the session-level one (a=fingerprint and a=setup may be either).
std::optional<std::string> attribute_of(const sip::SessionDescription& s, const sip::SdpMedia& m,
                                        std::string_view name) {
  if (auto v = m.attribute(name)) return v;
  for (const auto& a : s.attributes) {
    if (a.name == name && a.value) return a.value;
  }
  return std::nullopt;
}

}  // namespace

Result<std::shared_ptr<const media::DtlsIdentity>> Gateway::dtls_identity() const {
  if (!dtls_identity_) {
    auto made = media::DtlsIdentity::generate();
    if (!made) return made.error();
    dtls_identity_ = std::move(made).value();
  }
  return dtls_identity_;
}

Status Gateway::start_dtls(Call& c, size_t stream, Side side, const sip::SessionDescription& sdp,
                           const sip::SdpMedia& m) {
  const auto fingerprint = attribute_of(sdp, m, "fingerprint");
  if (!fingerprint) {
    return make_error(ErrorCode::kInvalidArgument, "a WebRTC stream without a=fingerprint");
  }
  // RFC 5763 §5: the offerer says actpass and the answerer picks; we are the DTLS server
  // (passive) unless the peer insists on being it.
  const std::string setup = attribute_of(sdp, m, "setup").value_or("actpass");
  const auto role =
      setup == "passive" ? media::DtlsSrtp::Role::kClient : media::DtlsSrtp::Role::kServer;
  auto identity = dtls_identity();
  if (!identity) return identity.error();
  auto dtls = media::DtlsSrtp::create(identity.value(), role, *fingerprint);
  if (!dtls) return dtls.error();
  StreamCrypto& sc = c.crypto[stream];
  const auto s = static_cast<size_t>(side);
  sc.webrtc[s] = true;
  sc.setup[s] = role == media::DtlsSrtp::Role::kClient ? "active" : "passive";
  c.relays[stream]->set_dtls(side, std::move(dtls).value());
  return ok_status();
}

Status Gateway::open_media(Call& c, const sip::SessionDescription& offer) {
  bool any = false, plain_refused = false;
  for (const auto& m : offer.media) {
    std::shared_ptr<MediaStream> relay;
    StreamCrypto sc;
    // SRTP with SDES keys (RFC 4568): the first a=crypto line we can use; a browser's DTLS-SRTP
    // (UDP/TLS/RTP/SAVPF). Unusable keys: the stream is refused, never relayed in the clear.
    const bool webrtc = is_webrtc(m);
    const bool secure = !webrtc && m.proto.find("SAVP") != std::string::npos;
    std::optional<std::pair<sip::SdesCrypto, media::SdesKey>> theirs;
    if (secure && m.proto.rfind("RTP/SAVP", 0) == 0) {
      for (const auto& cr : m.cryptos()) {
        if (auto k = media::parse_sdes_key(cr.suite, cr.key_params)) {
          theirs = std::pair{cr, std::move(k).value()};
          break;
        }
      }
    }
    if (!secure && !webrtc && options_.require_srtp) plain_refused = true;
    const bool transport_ok =
        webrtc   ? attribute_of(offer, m, "fingerprint").has_value()
        : secure ? theirs.has_value()
                 : !options_.require_srtp && m.proto.find("RTP/AVP") != std::string::npos;
    if (m.port != 0 && transport_ok && (m.media == "audio" || m.media == "video")) {
      auto r = media_->open_stream();
      if (!r) return r.error();
      relay = std::move(r).value();
      if (auto t = media_target(offer, m)) relay->set_remote(Side::kA, *t);
      for (Side side : {Side::kA, Side::kB}) {
        media::IceLite ice;
        if (side == Side::kA && webrtc) ice.set_remote_ufrag(m.attribute("ice-ufrag").value_or(""));
        sc.ice_ufrag[static_cast<size_t>(side)] = ice.ufrag();
        sc.ice_pwd[static_cast<size_t>(side)] = ice.pwd();
        relay->set_ice(side, std::move(ice));
      }
      if (m.media == "audio") {
        std::optional<int> opus;
        bool g711 = false;
        for (const auto& f : m.formats) {
          const auto pt = sip::parse_payload_type(f);
          const auto map = pt ? m.rtpmap(*pt) : std::nullopt;
          if (!map) continue;
          if (iequals(map->encoding, "opus") && !opus) opus = *pt;
          g711 |= iequals(map->encoding, "PCMU") || iequals(map->encoding, "PCMA");
        }
        if (opus && !g711) {
          sc.added = {0, 8};
          sc.caller_opus = *opus;
        }
      }
      if (webrtc && options_.require_srtp) {
        // The browser's keys come from DTLS; the other party gets SDES keys of ours.
        sc.secure = true;
        sc.suite = "AES_CM_128_HMAC_SHA1_80";
        sc.proto = "RTP/SAVP";
        sc.our_b = media::new_sdes_inline(sc.suite);
      }
      if (theirs) {
        // Our keys: one for what we send the caller, one for what we send the callee.
        sc.secure = true;
        sc.tag = theirs->first.tag;
        sc.suite = theirs->first.suite;
        sc.proto = m.proto;
        sc.our_a = media::new_sdes_inline(sc.suite);
        sc.our_b = media::new_sdes_inline(sc.suite);
        auto ka = media::parse_sdes_key(sc.suite, sc.our_a);
        auto kb = media::parse_sdes_key(sc.suite, sc.our_b);
        if (!ka || !kb) return make_error(ErrorCode::kInternal, "SRTP: our own key does not parse");
        VB_TRY(relay->set_srtp(Side::kA, theirs->second, ka.value()));
      }
      any = true;
    }
    c.relays.push_back(std::move(relay));
    c.crypto.push_back(std::move(sc));
    if (webrtc && c.relays.back()) {
      VB_TRY(start_dtls(c, c.relays.size() - 1, Side::kA, offer, m));
    }
  }
  if (!any) {
    return make_error(ErrorCode::kInvalidArgument,
                      plain_refused
                          ? "SRTP is required here (gateway.require_srtp): plain RTP is refused"
                          : "no stream the gateway can relay (RTP, SRTP with SDES keys or WebRTC's "
                            "DTLS-SRTP; audio or video)");
  }
  return ok_status();
}

std::string Gateway::sdp_for(const Call& c, const sip::SessionDescription& from_other, Side facing,
                             bool recorded, uint64_t origin, std::optional<bool> browser) {
  const auto f = static_cast<size_t>(facing);
  bool webrtc = false;
  for (const auto& sc : c.crypto) webrtc |= sc.webrtc[f];
  webrtc = browser.value_or(webrtc);
  // The SDP the party facing us sent (its a=mid and protos are echoed to it).
  const sip::SessionDescription* own = nullptr;
  if (facing == Side::kA) {
    own = &c.a_offer;
  } else if (!c.b_answer.media.empty()) {
    own = &c.b_answer;
  }
  sip::SessionDescription s = from_other;
  // The o= session id stays the one the dialog first saw; versions only ever grow (one counter
  // for the gateway, so a dialog moved between calls never sees one go back).
  s.origin.username = "verbatim";
  s.origin.session_id = std::to_string(origin ? origin : c.origin_of(facing));
  s.origin.session_version = std::to_string(++sdp_version_);
  s.origin.addr_type = media_->address().is_v6() ? "IP6" : "IP4";
  s.origin.address = media_->address().to_string();
  s.connection = sip::SdpConnection{"IN", s.origin.addr_type, s.origin.address};
  // Transport attributes are the gateway's own; a browser's (RTP feedback, header extensions,
  // SSRC and stream ids) are dropped too when the party facing us is not one.
  static const std::set<std::string> kDropped = {
      "rtcp",   "rtcp-mux",         "candidate", "ice-ufrag", "ice-pwd",  "ice-options",
      "crypto", "fingerprint",      "setup",     "record",    "ice-lite", "mid",
      "group",  "end-of-candidates"};
  static const std::set<std::string> kBrowserOnly = {
      "rtcp-fb",       "extmap", "extmap-allow-mixed", "rtcp-rsize", "msid",
      "msid-semantic", "ssrc",   "ssrc-group"};
  const auto dropped = [webrtc](const sip::SdpAttribute& a) {
    return kDropped.contains(a.name) || (!webrtc && kBrowserOnly.contains(a.name));
  };
  std::erase_if(s.attributes, dropped);
  if (recorded || c.recorded()) s.attributes.push_back({"record", std::string("on")});
  std::string fingerprint;
  if (webrtc) {
    s.attributes.push_back({"ice-lite", std::nullopt});
    if (auto id = dtls_identity()) {
      fingerprint = id.value()->fingerprint();
    } else {
      spdlog::error("call {}: no DTLS certificate: {}", c.call_id, id.error().message);
    }
  }
  std::vector<std::string> bundled;
  for (size_t i = 0; i < s.media.size(); ++i) {
    auto& m = s.media[i];
    m.connection.reset();
    std::erase_if(m.attributes, dropped);
    const bool relayed = i < c.relays.size() && c.relays[i];
    m.port = relayed && m.port != 0 ? c.relays[i]->port(facing) : 0;
    const sip::SdpMedia* mine = own && i < own->media.size() ? &own->media[i] : nullptr;
    if (relayed && m.port != 0) {
      const auto& sc = c.crypto[i];
      if (facing == Side::kB && !sc.added.empty() && !sc.transcoded) {
        for (int pt : sc.added) {
          const std::string f = std::to_string(pt);
          if (std::find(m.formats.begin(), m.formats.end(), f) != m.formats.end()) continue;
          m.formats.push_back(f);
          m.attributes.push_back({"rtpmap", f + (pt == 0 ? " PCMU/8000" : " PCMA/8000")});
        }
      } else if (facing == Side::kA && sc.transcoded && i < c.a_offer.media.size()) {
        // The caller gets its own Opus back: the gateway transcodes.
        const auto& offered = c.a_offer.media[i];
        const std::string f = std::to_string(sc.caller_opus);
        m.formats = {f};
        std::erase_if(m.attributes, [](const sip::SdpAttribute& a) {
          return a.name == "rtpmap" || a.name == "fmtp";
        });
        if (auto map = offered.rtpmap(sc.caller_opus)) {
          m.attributes.push_back(
              {"rtpmap", f + " " + map->encoding + "/" + std::to_string(map->clock_rate) +
                             (map->channels > 1 ? "/" + std::to_string(map->channels) : "")});
        }
        if (auto fmtp = offered.fmtp(sc.caller_opus))
          m.attributes.push_back({"fmtp", f + " " + *fmtp});
      }
    }
    if (m.port == 0) {
      // Refused: the proto the party wrote (an answer repeats it), or what it is to be offered.
      if (mine) {
        m.proto = mine->proto;
      } else if (webrtc) {
        m.proto = kWebRtcProto;
      }
    }
    if (webrtc) {
      const std::string mid =
          mine && mine->attribute("mid") ? *mine->attribute("mid") : std::to_string(i);
      m.attributes.push_back({"mid", mid});
      if (m.port == 0) continue;
      const auto& sc = c.crypto[i];
      bundled.push_back(mid);
      m.proto = kWebRtcProto;
      m.attributes.push_back({"ice-ufrag", sc.ice_ufrag[f]});
      m.attributes.push_back({"ice-pwd", sc.ice_pwd[f]});
      m.attributes.push_back({"fingerprint", fingerprint});
      // Offered to a new party (`browser` given): actpass; else what this side's DTLS is.
      m.attributes.push_back({"setup", browser ? "actpass" : sc.setup[f]});
      m.attributes.push_back({"rtcp-mux", std::nullopt});
      m.attributes.push_back({"candidate", "1 1 udp 2130706431 " + s.origin.address + " " +
                                               std::to_string(m.port) + " typ host"});
      m.attributes.push_back({"end-of-candidates", std::nullopt});
      continue;
    }
    if (m.port == 0) continue;
    if (c.crypto[i].secure) {
      const auto& sc = c.crypto[i];
      m.proto = sc.proto;
      m.attributes.push_back({"crypto", std::to_string(sc.tag) + " " + sc.suite + " " +
                                            (facing == Side::kA ? sc.our_a : sc.our_b)});
    } else if (is_webrtc(m)) {
      m.proto = "RTP/AVP";  // a browser's stream, to a phone: plain RTP
    }
  }
  if (bundled.size() == 1) s.attributes.push_back({"group", "BUNDLE " + bundled.front()});
  return sip::serialize_sdp(s);
}

// The media of an answer to our offer towards `side` (the callee, or a transfer's target):
// where that side is, and its SRTP key when the stream is SRTP (an answer without a key leaves
// that side plain RTP). `relatch`: a new party on that side, so the old one's port is forgotten.
void Gateway::apply_answer(Call& c, Side side, const sip::SessionDescription& answer,
                           bool relatch) {
  set_signalling(c, side, side == Side::kA ? c.a : c.b);
  for (size_t i = 0; i < answer.media.size() && i < c.relays.size(); ++i) {
    if (!c.relays[i]) continue;
    const auto& m = answer.media[i];
    if (auto t = media_target(answer, m)) c.relays[i]->set_remote(side, *t, relatch);
    const auto s = static_cast<size_t>(side);
    if (relatch) {
      // Another party on this side (a transfer): the last one's ICE checks and DTLS go.
      c.relays[i]->set_ice(side, media::IceLite(c.crypto[i].ice_ufrag[s], c.crypto[i].ice_pwd[s]));
      if (c.crypto[i].webrtc[s] && !is_webrtc(m)) {
        c.relays[i]->set_dtls(side, nullptr);
        c.crypto[i].webrtc[s] = false;
      }
    }
    if (side == Side::kB && !c.crypto[i].added.empty() && !m.formats.empty()) {
      transcode_if_chosen(c, i, m);
    }
    if (is_webrtc(m) && m.port != 0) {
      // A browser answered: DTLS with the certificate it names (once; a later answer from the
      // same browser keeps the keys it has).
      if (c.crypto[i].webrtc[static_cast<size_t>(side)] && !relatch) continue;
      if (auto st = start_dtls(c, i, side, answer, m); !st) {
        spdlog::warn("call {}: stream {} of the {}: {}", c.call_id, i,
                     side == Side::kA ? "caller" : "callee", st.error().message);
      }
      continue;
    }
    if (!c.crypto[i].secure) continue;
    const auto ours = media::parse_sdes_key(
        c.crypto[i].suite, side == Side::kA ? c.crypto[i].our_a : c.crypto[i].our_b);
    for (const auto& cr : m.cryptos()) {
      auto k = media::parse_sdes_key(cr.suite, cr.key_params);
      if (k && ours && c.relays[i]->set_srtp(side, k.value(), ours.value())) break;
    }
  }
}

// The callee took a codec only the gateway offered it (G.711 for an Opus caller): both directions
// of the stream are transcoded from then on.
void Gateway::transcode_if_chosen(Call& c, size_t i, const sip::SdpMedia& answer) {
  StreamCrypto& sc = c.crypto[i];
  const auto pt = sip::parse_payload_type(answer.formats.front());
  if (!pt || sc.transcoded || std::find(sc.added.begin(), sc.added.end(), *pt) == sc.added.end()) {
    return;
  }
  const media::Transcoder::Codec caller{"opus", static_cast<uint8_t>(sc.caller_opus)};
  const media::Transcoder::Codec callee{*pt == 0 ? "PCMU" : "PCMA", static_cast<uint8_t>(*pt)};
  auto st = c.relays[i]->set_transcoding(Side::kA, caller, callee);
  if (st) st = c.relays[i]->set_transcoding(Side::kB, callee, caller);
  if (!st) {
    spdlog::warn("call {}: cannot transcode Opus <-> {}: {}", c.call_id, callee.encoding,
                 st.error().message);
    return;
  }
  sc.transcoded = *pt;
  spdlog::info("call {}: stream {} transcoded Opus <-> {} (the parties share no codec)", c.call_id,
               i + 1, callee.encoding);
}

// Media from a party is also taken from where its SIP comes from (a NAT, a second interface).
void Gateway::set_signalling(Call& c, Side side, uint64_t session) {
  const sip::Peer* peer = session ? ua_->peer(session) : nullptr;
  if (!peer) return;
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(peer->address, ec);
  if (ec) return;
  for (auto& r : c.relays) {
    if (r) r->set_signalling(side, address);
  }
}

Result<std::string> Gateway::on_reoffer(uint64_t session, const sip::Message& request) {
  if (room_sessions_.contains(session)) return meeting_reoffer(session, request);
  auto it = sessions_.find(session);
  if (it == sessions_.end() || !it->second.usage->party()) {
    return sip::protocol_error(488, "not a call");
  }
  auto ci = calls_.find(it->second.call);
  if (ci == calls_.end()) return sip::protocol_error(481, "the call is over");
  Call& c = *ci->second;
  auto offer = sip::parse_sdp(request.body());
  if (!offer) return sip::protocol_error(488, offer.error().message);
  // Held, resumed or moved: the new address takes effect for this side; the answer mirrors
  // the direction (the other side is not asked: a hold means no packets to relay anyway).
  const Side side = *it->second.usage->party();
  const auto& last = side == Side::kA && !c.b_answer.media.empty() ? c.b_answer : c.a_offer;
  sip::SessionDescription answer = last;
  for (size_t i = 0; i < offer.value().media.size() && i < c.relays.size(); ++i) {
    if (!c.relays[i]) continue;
    if (auto t = media_target(offer.value(), offer.value().media[i])) {
      c.relays[i]->set_remote(side, *t);
    }
    if (i < answer.media.size()) {
      answer.media[i].set_direction(
          mirror(offer.value().media[i].direction(offer.value().direction())));
    }
  }
  return sdp_for(c, answer, side);
}

}  // namespace verbatim::gateway
