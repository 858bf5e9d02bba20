#include "siprec/meeting_offer.h"

#include <sstream>
#include <string>

#include <pugixml.hpp>

#include "siprec/metadata.h"

namespace verbatim::siprec {

namespace {

void give_ids(MeetingLine& l) {
  if (l.participant_id.empty()) l.participant_id = new_metadata_id();
  if (l.stream_id.empty()) l.stream_id = new_metadata_id();
}

// A participant who is in: its name, its session, the stream it sends, since when.
Participant joined(const MeetingLine& l, const std::string& session_id) {
  Participant p;
  p.id = l.participant_id;
  p.names.push_back({l.who.aor, l.who.display});
  p.sessions = {session_id};
  p.send = {l.stream_id};
  p.streams_given = true;
  p.associate_time = l.joined_at;
  return p;
}

Stream stream_of(const MeetingLine& l, const std::string& session_id, size_t index) {
  Stream st;
  st.id = l.stream_id;
  st.session_id = session_id;
  st.label = std::to_string(index + 1);
  return st;
}

MeetingOffer package(const sip::SessionDescription& sdp, const Metadata& md) {
  MeetingOffer offer;
  offer.sdp = sip::serialize_sdp(sdp);
  offer.body = offer_body(offer.sdp, serialize_metadata(md), offer.content_type);
  return offer;
}

}  // namespace

sip::SessionDescription meeting_session_sdp(const MeetingSessionSpec& spec,
                                            const std::vector<MeetingLine>& lines) {
  sip::SessionDescription sdp = offer_session(spec.origin_id, spec.version, spec.address);
  sdp.session_name = spec.subject.empty() ? "Verbatim SIPREC" : spec.subject;
  for (const auto& l : lines) {
    const std::string label = std::to_string(sdp.media.size() + 1);
    sdp.media.push_back(
        copy_line(l.offered, l.left_at.empty() ? l.port : 0, l.srtp_suite, l.key, label));
  }
  return sdp;
}

MeetingOffer build_meeting_offer(const MeetingSessionSpec& spec, std::vector<MeetingLine>& lines,
                                 std::string& session_id) {
  Metadata md;
  md.groups.push_back({new_metadata_id(), spec.started_at, "", {}});
  session_id = new_metadata_id();
  md.sessions.push_back(
      {session_id, md.groups[0].id, spec.started_at, "", spec.started_at, "", {}});
  for (size_t i = 0; i < lines.size(); ++i) {
    give_ids(lines[i]);
    md.streams.push_back(stream_of(lines[i], session_id, i));
    if (lines[i].left_at.empty()) md.participants.push_back(joined(lines[i], session_id));
  }
  md.client_extensions.push_back({"vb",
                                  "urn:verbatim:gateway:1",
                                  "meeting",
                                  {{"applicationId", spec.application_id},
                                   {"instance", spec.instance},
                                   {"meetingId", spec.meeting_id},
                                   {"organizer", spec.organizer},
                                   {"policy", spec.policy},
                                   {"subject", spec.subject}}});
  return package(meeting_session_sdp(spec, lines), md);
}

MeetingOffer build_meeting_reoffer(const MeetingSessionSpec& spec, std::vector<MeetingLine>& lines,
                                   const std::string& session_id,
                                   const std::vector<size_t>& changed) {
  Metadata md;
  md.partial = true;
  for (size_t i : changed) {
    if (i >= lines.size()) continue;
    MeetingLine& l = lines[i];
    const bool fresh = l.participant_id.empty();
    give_ids(l);
    if (fresh) md.streams.push_back(stream_of(l, session_id, i));
    if (l.left_at.empty()) {
      md.participants.push_back(joined(l, session_id));
      continue;
    }
    if (fresh) continue;  // it came and went between two offers: never on an m-line with a port
    Participant gone;
    gone.id = l.participant_id;
    gone.sessions = {session_id};
    gone.disassociate_time = l.left_at;
    md.participants.push_back(std::move(gone));
  }
  return package(meeting_session_sdp(spec, lines), md);
}

std::string meeting_mute_update(const std::string& session_id, const std::string& participant_id,
                                bool muted, const std::string& by, const std::string& at) {
  pugi::xml_document doc;
  auto e = doc.append_child("vb:muted");
  e.append_attribute("xmlns:vb") = "urn:verbatim:gateway:1";
  e.append_attribute("by") = by.c_str();
  e.append_attribute("at") = at.c_str();
  e.text() = muted ? "true" : "false";
  std::ostringstream xml;
  doc.save(xml, "", pugi::format_raw | pugi::format_no_declaration);
  Metadata md;
  md.partial = true;
  Participant p;
  p.id = participant_id;
  p.sessions = {session_id};
  p.extensions.push_back(xml.str());
  md.participants.push_back(std::move(p));
  return serialize_metadata(md);
}

}  // namespace verbatim::siprec
