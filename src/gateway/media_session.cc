// The media session of a call: the relayed streams opened for the caller's offer (SDES keys per
// side, m-lines the gateway cannot relay refused with port 0), the SDP each party gets (naming
// the gateway, with the recording indicator), the answers applied to the streams, and re-offers
// (hold, resume, a party moving).
#include <spdlog/spdlog.h>

#include "common/log.h"
#include "common/strings.h"
#include "gateway/usages.h"
#include "media/srtp.h"
#include "sip/sdp.h"

namespace verbatim::gateway {

Status Gateway::open_media(Call& c, const sip::SessionDescription& offer) {
  bool any = false, plain_refused = false;
  for (const auto& m : offer.media) {
    std::shared_ptr<MediaStream> relay;
    StreamCrypto sc;
    // SRTP with SDES keys (RFC 4568): the first a=crypto line we can use. DTLS-SRTP
    // (UDP/TLS/RTP/SAVP*) and unusable keys: the stream is refused, never relayed in the clear.
    const bool secure = m.proto.find("SAVP") != std::string::npos;
    std::optional<std::pair<sip::SdesCrypto, media::SdesKey>> theirs;
    if (secure && m.proto.rfind("RTP/SAVP", 0) == 0) {
      for (const auto& cr : m.cryptos()) {
        if (auto k = media::parse_sdes_key(cr.suite, cr.key_params)) {
          theirs = std::pair{cr, std::move(k).value()};
          break;
        }
      }
    }
    if (!secure && options_.require_srtp) plain_refused = true;
    const bool transport_ok =
        secure ? theirs.has_value()
               : !options_.require_srtp && m.proto.find("RTP/AVP") != std::string::npos;
    if (m.port != 0 && transport_ok && (m.media == "audio" || m.media == "video")) {
      auto r = media_->open_stream();
      if (!r) return r.error();
      relay = std::move(r).value();
      if (auto t = media_target(offer, m)) relay->set_remote(Side::kA, *t);
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
  }
  if (!any) {
    return make_error(ErrorCode::kInvalidArgument,
                      plain_refused
                          ? "SRTP is required here (gateway.require_srtp): plain RTP is refused"
                          : "no stream the gateway can relay (RTP or SRTP with SDES keys, audio or "
                            "video)");
  }
  return ok_status();
}

std::string Gateway::sdp_for(const Call& c, const sip::SessionDescription& from_other, Side facing,
                             bool recorded, uint64_t origin) {
  sip::SessionDescription s = from_other;
  // The o= session id stays the one the dialog first saw; versions only ever grow (one counter
  // for the gateway, so a dialog moved between calls never sees one go back).
  s.origin.username = "verbatim";
  s.origin.session_id = std::to_string(origin ? origin : c.origin_of(facing));
  s.origin.session_version = std::to_string(++sdp_version_);
  s.origin.addr_type = media_->address().is_v6() ? "IP6" : "IP4";
  s.origin.address = media_->address().to_string();
  s.connection = sip::SdpConnection{"IN", s.origin.addr_type, s.origin.address};
  static const std::set<std::string> kDropped = {
      "rtcp",   "rtcp-mux",    "candidate", "ice-ufrag", "ice-pwd", "ice-options",
      "crypto", "fingerprint", "setup",     "record",    "ice-lite"};
  std::erase_if(s.attributes, [](const sip::SdpAttribute& a) { return kDropped.count(a.name); });
  if (recorded || c.recorded()) s.attributes.push_back({"record", std::string("on")});
  for (size_t i = 0; i < s.media.size(); ++i) {
    auto& m = s.media[i];
    m.connection.reset();
    std::erase_if(m.attributes, [](const sip::SdpAttribute& a) { return kDropped.count(a.name); });
    const bool relayed = i < c.relays.size() && c.relays[i];
    m.port = relayed && m.port != 0 ? c.relays[i]->port(facing) : 0;
    if (relayed && c.crypto[i].secure) {
      const auto& sc = c.crypto[i];
      m.proto = sc.proto;
      m.attributes.push_back({"crypto", std::to_string(sc.tag) + " " + sc.suite + " " +
                                            (facing == Side::kA ? sc.our_a : sc.our_b)});
    }
  }
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
    if (!c.crypto[i].secure) continue;
    const auto ours = media::parse_sdes_key(
        c.crypto[i].suite, side == Side::kA ? c.crypto[i].our_a : c.crypto[i].our_b);
    for (const auto& cr : m.cryptos()) {
      auto k = media::parse_sdes_key(cr.suite, cr.key_params);
      if (k && ours && c.relays[i]->set_srtp(side, k.value(), ours.value())) break;
    }
  }
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
