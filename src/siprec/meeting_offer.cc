#include "siprec/meeting_offer.h"

#include <algorithm>
#include <sstream>
#include <string>

#include <pugixml.hpp>

#include "siprec/metadata.h"

namespace verbatim::siprec {

namespace {

bool same_participant(const MeetingLine& a, const MeetingLine& b) {
  return &a == &b || (a.participant != 0 && a.participant == b.participant);
}

// A line's ids: its stream's own, its participant's shared with the participant's other lines.
void give_ids(std::vector<MeetingLine>& lines, MeetingLine& l) {
  if (l.participant_id.empty()) {
    for (const auto& o : lines) {
      if (same_participant(o, l) && !o.participant_id.empty()) l.participant_id = o.participant_id;
    }
  }
  if (l.participant_id.empty()) l.participant_id = new_metadata_id();
  if (l.stream_id.empty()) l.stream_id = new_metadata_id();
}

// The participant of line `l` as it is now: its name, its session, the streams it sends on
// lines that are open, since when. Without such streams: disassociated when its last closed.
Participant participant_of(const std::vector<MeetingLine>& lines, const MeetingLine& l,
                           const std::string& session_id) {
  Participant p;
  p.id = l.participant_id;
  p.sessions = {session_id};
  std::string left;
  for (const auto& o : lines) {
    if (!same_participant(o, l) || o.stream_id.empty()) continue;
    if (o.left_at.empty()) {
      p.send.push_back(o.stream_id);
    } else if (o.left_at > left) {
      left = o.left_at;
    }
  }
  if (p.send.empty()) {
    p.disassociate_time = left;
    return p;
  }
  p.names.push_back({l.who.aor, l.who.display});
  p.streams_given = true;
  p.associate_time = l.joined_at;
  return p;
}

void add_participant(Metadata& md, Participant p) {
  for (const auto& q : md.participants) {
    if (q.id == p.id) return;  // one element per participant, whichever of its lines changed
  }
  md.participants.push_back(std::move(p));
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
    give_ids(lines, lines[i]);
    md.streams.push_back(stream_of(lines[i], session_id, i));
  }
  for (const auto& l : lines) {
    auto p = participant_of(lines, l, session_id);
    if (p.send.empty()) continue;
    for (const auto& o : lines) {
      if (same_participant(o, l))
        p.extensions.insert(p.extensions.end(), o.state.begin(), o.state.end());
    }
    add_participant(md, std::move(p));
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
  std::vector<size_t> told;
  for (size_t i : changed) {
    if (i >= lines.size()) continue;
    MeetingLine& l = lines[i];
    const bool fresh = l.stream_id.empty();
    const bool known = !l.participant_id.empty() ||
                       std::any_of(lines.begin(), lines.end(), [&](const MeetingLine& o) {
                         return same_participant(o, l) && !o.participant_id.empty();
                       });
    give_ids(lines, l);
    if (fresh) md.streams.push_back(stream_of(l, session_id, i));
    // A participant that came and went between two offers was never on an m-line with a port.
    if (fresh && !known && !l.left_at.empty()) continue;
    told.push_back(i);
  }
  for (size_t i : told) add_participant(md, participant_of(lines, lines[i], session_id));
  return package(meeting_session_sdp(spec, lines), md);
}

namespace {

// One Verbatim element for a participant: <vb:NAME by at>VALUE</vb:NAME>.
std::string flag_element(const char* name, bool value, const std::string& by,
                         const std::string& at) {
  pugi::xml_document doc;
  auto e = doc.append_child(name);
  e.append_attribute("xmlns:vb") = "urn:verbatim:gateway:1";
  if (!by.empty()) e.append_attribute("by") = by.c_str();
  e.append_attribute("at") = at.c_str();
  e.text() = value ? "true" : "false";
  std::ostringstream xml;
  doc.save(xml, "", pugi::format_raw | pugi::format_no_declaration);
  return xml.str();
}

// A partial update with that element in the participant.
std::string participant_flag(const std::string& session_id, const std::string& participant_id,
                             std::string element) {
  Metadata md;
  md.partial = true;
  Participant p;
  p.id = participant_id;
  p.sessions = {session_id};
  p.extensions.push_back(std::move(element));
  md.participants.push_back(std::move(p));
  return serialize_metadata(md);
}

}  // namespace

std::string meeting_muted_element(bool muted, const std::string& by, const std::string& at) {
  return flag_element("vb:muted", muted, by, at);
}

std::string meeting_presenting_element(bool presenting, const std::string& at) {
  return flag_element("vb:presenting", presenting, "", at);
}

std::string meeting_mute_update(const std::string& session_id, const std::string& participant_id,
                                bool muted, const std::string& by, const std::string& at) {
  return participant_flag(session_id, participant_id, meeting_muted_element(muted, by, at));
}

std::string meeting_presenter_update(const std::string& session_id,
                                     const std::string& participant_id, bool presenting,
                                     const std::string& at) {
  return participant_flag(session_id, participant_id, meeting_presenting_element(presenting, at));
}

}  // namespace verbatim::siprec
