// The SIPREC client side for meetings (RFC 7866, RFC 7865): one recording session per recording
// application for the whole meeting, carrying each participant's own audio unmixed on an m-line
// of its own. The first offer has an SDP with one send-only, labelled m-line per participant
// present and a complete metadata snapshot (the meeting as one communication session, each
// participant with the stream it sends, and a Verbatim extension naming the meeting). Joins and
// leaves are re-offers: the SDP with a new m-line for each participant who joined (a participant
// who left keeps its m-line with port 0, RFC 3264 §8.2), and a partial metadata update that
// associates the newcomers and disassociates the leavers, with their times (§7.1.2).
// A participant gets no receive stream: what it hears is the mix of the others' streams, which
// the recording has unmixed already. Pure functions: callable from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sip/sdp.h"
#include "siprec/recording_offer.h"

namespace verbatim::siprec {

// One m-line in a meeting's recording session: what one participant sends on one of its streams
// (its audio, its video, its screen share). The lines of one participant share `participant`.
struct MeetingLine {
  OfferParty who;
  uint64_t participant = 0;        // lines with the same (non-zero) value are one participant's
  sip::SdpMedia offered;           // the codec the participant talks (its m-line as answered)
  uint16_t port = 0;               // where the copies come from; 0 once the participant left
  std::string srtp_suite, key;     // SDES (RFC 4568), or none
  std::string joined_at, left_at;  // ISO 8601; left_at empty while it is in
  std::string participant_id, stream_id;  // metadata ids, given on first use
  // The participant's state when the session began (a member muted, the presenter), as
  // extension elements of its participant in the first offer's complete snapshot; later
  // changes are partial updates of their own (meeting_mute_update, meeting_presenter_update).
  std::vector<std::string> state;
};

struct MeetingSessionSpec {
  uint64_t origin_id = 0;  // o= session id
  uint64_t version = 1;    // o= version: one more for each offer
  std::string address;     // our media address (IPv4 or IPv6)
  std::string started_at;  // when the recording session began, ISO 8601
  std::string meeting_id, subject, organizer;
  std::string policy, application_id, instance;
};

struct MeetingOffer {
  std::string content_type;  // multipart/mixed;boundary=...
  std::string body;
  std::string sdp;  // the SDP part alone
};

// The SDP of the session: one send-only m-line per line, labelled by its position ("1", "2"...).
sip::SessionDescription meeting_session_sdp(const MeetingSessionSpec& spec,
                                            const std::vector<MeetingLine>& lines);

// The first offer: the SDP and a complete snapshot. Gives every line its ids and the
// communication session its id (`session_id`).
MeetingOffer build_meeting_offer(const MeetingSessionSpec& spec, std::vector<MeetingLine>& lines,
                                 std::string& session_id);

// A re-offer after joins and leaves: the SDP of every line and a partial update for the lines
// `changed` (indexes into `lines`): the participant of each is associated (at joined_at) with
// the streams it still sends, or disassociated (at left_at) when it has none left. Gives new
// lines their ids.
MeetingOffer build_meeting_reoffer(const MeetingSessionSpec& spec, std::vector<MeetingLine>& lines,
                                   const std::string& session_id,
                                   const std::vector<size_t>& changed);

// A partial metadata update (for an UPDATE) saying that a participant was muted or unmuted by
// the organiser, and by whom, at `at` (ISO 8601): a <vb:muted> element in the participant.
std::string meeting_mute_update(const std::string& session_id, const std::string& participant_id,
                                bool muted, const std::string& by, const std::string& at);
// The elements meeting_mute_update and meeting_presenter_update put in the participant, for a
// MeetingLine's `state`.
std::string meeting_muted_element(bool muted, const std::string& by, const std::string& at);
std::string meeting_presenting_element(bool presenting, const std::string& at);
// The same for the screen share: the participant became the presenter, or stopped being it, at
// `at`: a <vb:presenting> element.
std::string meeting_presenter_update(const std::string& session_id,
                                     const std::string& participant_id, bool presenting,
                                     const std::string& at);

}  // namespace verbatim::siprec
