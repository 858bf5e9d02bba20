#include "siprec/recording_offer.h"

#include <string>

#include "common/ids.h"
#include "sip/multipart.h"
#include "siprec/metadata.h"

namespace verbatim::siprec {

std::string new_metadata_id() { return random_hex(16); }

std::string offer_body(const std::string& sdp, const std::string& metadata_xml,
                       std::string& content_type) {
  const std::string boundary = "verbatim-" + random_hex(6);
  content_type = "multipart/mixed;boundary=" + boundary;
  return sip::build_multipart({{"application/sdp", sdp, ""},
                               {"application/rs-metadata+xml", metadata_xml, "recording-session"}},
                              boundary);
}

sip::SdpMedia copy_line(const sip::SdpMedia& offered, uint16_t port, const std::string& srtp_suite,
                        const std::string& key, const std::string& label) {
  sip::SdpMedia m;
  m.media = offered.media;
  m.port = port;
  m.proto = key.empty() ? "RTP/AVP" : "RTP/SAVP";
  m.formats = offered.formats;
  if (!key.empty()) m.attributes.push_back({"crypto", "1 " + srtp_suite + " " + key});
  for (const auto& a : offered.attributes) {
    // The codec, and what the stream is (RFC 4796: a screen share is content:slides).
    if (a.name == "rtpmap" || a.name == "fmtp" || a.name == "ptime" || a.name == "content") {
      m.attributes.push_back(a);
    }
  }
  m.attributes.push_back({"label", label});
  m.attributes.push_back({"sendonly", std::nullopt});
  return m;
}

sip::SessionDescription offer_session(uint64_t origin_id, uint64_t version,
                                      const std::string& address) {
  sip::SessionDescription sdp;
  sdp.origin.username = "verbatim";
  sdp.origin.session_id = std::to_string(origin_id);
  sdp.origin.session_version = std::to_string(version);
  sdp.origin.addr_type = address.find(':') != std::string::npos ? "IP6" : "IP4";
  sdp.origin.address = address;
  sdp.session_name = "Verbatim SIPREC";
  sdp.connection = sip::SdpConnection{"IN", sdp.origin.addr_type, sdp.origin.address};
  return sdp;
}

RecordingOffer build_recording_offer(const RecordingOfferSpec& spec) {
  RecordingOffer offer;
  sip::SessionDescription sdp = offer_session(spec.origin_id, 1, spec.address);
  Metadata md;
  md.groups.push_back({new_metadata_id(), spec.started_at, "", {}});
  offer.session_id = new_metadata_id();
  md.sessions.push_back({offer.session_id, md.groups[0].id, spec.started_at, "", spec.now, "", {}});
  for (const auto& id : spec.sip_session_ids) {
    if (!id.empty()) md.sessions[0].sip_session_ids.push_back(id);
  }
  Participant observed, peer;
  observed.id = new_metadata_id();
  peer.id = new_metadata_id();
  observed.names.push_back({spec.observed.aor, spec.observed.display});
  peer.names.push_back({spec.peer.aor, spec.peer.display});
  observed.sessions = peer.sessions = {offer.session_id};
  observed.streams_given = peer.streams_given = true;
  for (const auto& s : spec.streams) {
    const std::string label = std::to_string(sdp.media.size() + 1);
    sdp.media.push_back(copy_line(s.offered, s.port, s.srtp_suite, s.key, label));
    Stream st;
    st.id = new_metadata_id();
    st.session_id = offer.session_id;
    st.label = label;
    (s.from_observed ? observed.send : observed.recv).push_back(st.id);
    (s.from_observed ? peer.recv : peer.send).push_back(st.id);
    md.streams.push_back(std::move(st));
  }
  md.participants = {observed, peer};
  // What Verbatim adds: the observed participant, direction (and whether the call is internal),
  // the call, policy and application.
  md.client_extensions.push_back({"vb",
                                  "urn:verbatim:gateway:1",
                                  "call",
                                  {{"applicationId", spec.application_id},
                                   {"callId", spec.call_id},
                                   {"direction", spec.observed_is_caller ? "outbound" : "inbound"},
                                   {"instance", spec.instance},
                                   {"observed", observed.id},
                                   {"policy", spec.policy}}});
  if (spec.internal) md.client_extensions.back().attributes.emplace_back("internal", "true");
  offer.peer_id = peer.id;
  offer.peer_send = peer.send;
  offer.peer_recv = peer.recv;
  offer.sdp = sip::serialize_sdp(sdp);
  offer.body = offer_body(offer.sdp, serialize_metadata(md), offer.content_type);
  return offer;
}

std::string metadata_update(const std::string& session_id,
                            const std::vector<std::string>& sip_session_ids,
                            const PeerChange* peer_change, std::string& came_id) {
  Metadata md;
  md.partial = true;
  if (!sip_session_ids.empty()) {
    CommunicationSession s;
    s.id = session_id;
    s.sip_session_ids = sip_session_ids;
    md.sessions.push_back(std::move(s));
  }
  if (peer_change) {
    Participant gone, arrived;
    gone.id = peer_change->gone_id;
    gone.sessions = {session_id};
    gone.disassociate_time = peer_change->now;
    arrived.id = new_metadata_id();
    arrived.names.push_back({peer_change->came.aor, peer_change->came.display});
    arrived.sessions = {session_id};
    arrived.associate_time = peer_change->now;
    arrived.send = peer_change->send;
    arrived.recv = peer_change->recv;
    arrived.streams_given = true;
    md.participants = {gone, arrived};
    came_id = arrived.id;
  }
  return serialize_metadata(md);
}

std::string peer_change_metadata(const std::string& session_id, const std::string& gone_id,
                                 const OfferParty& came, const std::vector<std::string>& send,
                                 const std::vector<std::string>& recv, const std::string& now,
                                 std::string& came_id) {
  const PeerChange change{gone_id, came, send, recv, now};
  return metadata_update(session_id, {}, &change, came_id);
}

}  // namespace verbatim::siprec
