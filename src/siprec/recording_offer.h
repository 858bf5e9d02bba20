// The SIPREC client side (RFC 7866 §8, RFC 7865): what a recording client (the gateway) offers a
// recorder for one recorded party, and the partial metadata it sends when the party that one
// talks to changes (§7.1.2). The offer is a multipart/mixed body (sip/multipart.h) of an SDP
// with one send-only, labelled m-line per copied direction of each relayed stream, and RFC 7865
// metadata (siprec/metadata.h, pugixml) naming the observed participant and its peer, with the
// streams each sends and receives and a Verbatim extension (urn:verbatim:gateway:1: direction,
// call, policy, application). Pure functions: callable from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sip/sdp.h"

namespace verbatim::siprec {

struct OfferParty {
  std::string aor, display;
};

// One copied direction of a relayed stream.
struct OfferStream {
  sip::SdpMedia offered;        // the call's m-line (its codecs are the copy's)
  bool from_observed = true;    // what the recorded party sends (else what it receives)
  uint16_t port = 0;            // where the copies come from
  std::string srtp_suite, key;  // SDES (RFC 4568): the key the recorder decrypts with, or none
};

struct RecordingOfferSpec {
  uint64_t origin_id = 0;  // o= session id
  std::string address;     // our media address (IPv4 or IPv6)
  std::string started_at;  // the call's start, ISO 8601
  std::string now;         // ISO 8601
  OfferParty observed, peer;
  bool observed_is_caller = true;
  bool internal = false;  // both parties are users of the directory (an internal call)
  std::string call_id, policy, application_id, instance;
  // The call's RFC 7989 Session-IDs (<sipSessionID>): the caller's and the callee's, if known
  // (empty ones are left out).
  std::vector<std::string> sip_session_ids;
  std::vector<OfferStream> streams;
};

struct RecordingOffer {
  std::string content_type;  // multipart/mixed;boundary=...
  std::string body;
  std::string sdp;  // the SDP part alone: what a later re-INVITE (pause, resume) starts from
  // What later metadata updates refer to: the communication session, the peer participant and
  // the streams it sends and receives.
  std::string session_id, peer_id;
  std::vector<std::string> peer_send, peer_recv;
};

// Ids and the boundary are random (new_metadata_id()).
RecordingOffer build_recording_offer(const RecordingOfferSpec& spec);

// The partial metadata of a peer change: `gone_id` disassociated from `session_id` at `now`, a
// new participant (`came`, whose id goes to `came_id`) associated with the same streams.
std::string peer_change_metadata(const std::string& session_id, const std::string& gone_id,
                                 const OfferParty& came, const std::vector<std::string>& send,
                                 const std::vector<std::string>& recv, const std::string& now,
                                 std::string& came_id);

// A partial metadata update of `session_id`: RFC 7989 Session-IDs learnt since the offer (the
// callee's, from its answer), and when `peer_change` is given, that peer change too (as above).
struct PeerChange {
  std::string gone_id;
  OfferParty came;
  std::vector<std::string> send, recv;
  std::string now;
};
std::string metadata_update(const std::string& session_id,
                            const std::vector<std::string>& sip_session_ids,
                            const PeerChange* peer_change, std::string& came_id);

// A new RFC 7865 metadata id (random, 128 bits in hex).
std::string new_metadata_id();

// The m-line of one copied stream: the offered codecs (with their rtpmap, fmtp and ptime), our
// port, the SDES key if any (RTP/SAVP), the label, send-only.
sip::SdpMedia copy_line(const sip::SdpMedia& offered, uint16_t port, const std::string& srtp_suite,
                        const std::string& key, const std::string& label);
// The body of a SIPREC offer: multipart/mixed of the SDP and the RFC 7865 metadata (with
// Content-Disposition: recording-session); `content_type` gets the type with its boundary.
std::string offer_body(const std::string& sdp, const std::string& metadata_xml,
                       std::string& content_type);
// An offer's session level: o= (ours), s=, c= with our media address.
sip::SessionDescription offer_session(uint64_t origin_id, uint64_t version,
                                      const std::string& address);

}  // namespace verbatim::siprec
