#include "siprec/meeting_offer.h"

#include <gtest/gtest.h>

#include "sip/multipart.h"
#include "siprec/call_facts.h"
#include "siprec/inspect.h"
#include "siprec/metadata.h"

namespace verbatim::siprec {
namespace {

MeetingLine line(const std::string& aor, uint16_t port, const std::string& codec) {
  auto sdp = sip::parse_sdp(
      "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n"
      "m=audio 30000 RTP/AVP 8 101\r\na=rtpmap:8 " +
      codec + "\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n");
  EXPECT_TRUE(sdp);
  MeetingLine l;
  l.who = {aor, ""};
  l.offered = sdp.value().media[0];
  l.port = port;
  l.joined_at = "2026-12-07T10:00:00Z";
  return l;
}

// The SDP and metadata parts of an offer.
std::pair<sip::SessionDescription, Metadata> parts_of(const MeetingOffer& offer) {
  const std::string prefix = "multipart/mixed;boundary=";
  EXPECT_EQ(offer.content_type.rfind(prefix, 0), 0u);
  auto parts = sip::parse_multipart(offer.body, offer.content_type.substr(prefix.size()));
  EXPECT_TRUE(parts) << offer.body;
  EXPECT_EQ(parts.value().size(), 2u);
  auto sdp = sip::parse_sdp(parts.value()[0].body);
  EXPECT_TRUE(sdp);
  std::vector<MetadataProblem> problems;
  auto md = parse_metadata(parts.value()[1].body, &problems);
  EXPECT_TRUE(md) << parts.value()[1].body;
  EXPECT_TRUE(problems.empty()) << problems[0].message;
  return {sdp.value(), md.value()};
}

MeetingSessionSpec spec() {
  MeetingSessionSpec s;
  s.origin_id = 7;
  s.address = "192.0.2.1";
  s.started_at = "2026-12-07T10:00:00Z";
  s.meeting_id = "4711";
  s.subject = "Q4 <rates> & \"bonds\"";  // escaped by the XML writer
  s.organizer = "alice@contoso.com";
  s.policy = "Traders";
  s.application_id = "app-1";
  s.instance = "recorder@contoso.com";
  return s;
}

TEST(MeetingOffer, EachParticipantSendsItsOwnLabelledStreamAndTheMeetingIsNamed) {
  std::vector<MeetingLine> lines = {line("sip:alice@contoso.com", 20000, "PCMA/8000"),
                                    line("tel:+14255550100", 20002, "PCMA/8000")};
  std::string session;
  const auto offer = build_meeting_offer(spec(), lines, session);
  auto [sdp, md] = parts_of(offer);
  ASSERT_EQ(sdp.media.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(sdp.media[i].port, 20000 + 2 * i);
    EXPECT_EQ(sdp.media[i].attribute("label"), std::to_string(i + 1));
    EXPECT_TRUE(sdp.media[i].has_attribute("sendonly"));
    EXPECT_EQ(sdp.media[i].formats, (std::vector<std::string>{"8", "101"}));
  }
  ASSERT_EQ(md.participants.size(), 2u);
  ASSERT_EQ(md.streams.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const Participant& p = md.participants[i];
    EXPECT_EQ(p.names[0].aor, lines[i].who.aor);
    ASSERT_EQ(p.send.size(), 1u);
    EXPECT_TRUE(p.recv.empty());  // what it hears is the others' streams, mixed
    EXPECT_EQ(md.stream(p.send[0])->label, std::to_string(i + 1));
    EXPECT_EQ(p.sessions, std::vector<std::string>{session});
  }
  const CallFacts facts = call_facts(md);
  auto has = [&](const std::string& k, const std::string& v) {
    return std::find(facts.data.begin(), facts.data.end(), std::pair(k, v)) != facts.data.end();
  };
  EXPECT_TRUE(has("meetingId", "4711"));
  EXPECT_TRUE(has("subject", "Q4 <rates> & \"bonds\""));
  EXPECT_TRUE(has("applicationId", "app-1"));
  EXPECT_FALSE(facts.origin) << "a meeting has members, not a caller";
  // `verbatim siprec inspect` tells what it records.
  const InspectReport r = inspect(offer.body);
  EXPECT_TRUE(r.valid()) << r.to_json().dump(2);
  EXPECT_TRUE(r.warnings.empty()) << r.to_json().dump(2);  // no dialect a recorder works around
  EXPECT_EQ(r.session["meeting"]["id"], "4711");
  ASSERT_EQ(r.session["streams"].size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(r.session["streams"][i]["sentBy"], nlohmann::json::array({lines[i].participant_id}));
  }
}

TEST(MeetingOffer, AJoinAddsAnMLineAndALeaveZeroesItsPortWithTheirTimes) {
  std::vector<MeetingLine> lines = {line("sip:alice@contoso.com", 20000, "PCMA/8000"),
                                    line("sip:bob@contoso.com", 20002, "PCMU/8000")};
  std::string session;
  auto [first_sdp, known] = parts_of(build_meeting_offer(spec(), lines, session));
  // Carol joins, Alice leaves, and Dave comes and goes before the re-offer is sent.
  lines.push_back(line("sip:carol@contoso.com", 20004, "G722/8000"));
  lines[2].joined_at = "2026-12-07T10:05:00Z";
  lines[0].left_at = "2026-12-07T10:06:00Z";
  lines.push_back(line("sip:dave@contoso.com", 20006, "PCMA/8000"));
  lines[3].left_at = "2026-12-07T10:06:30Z";
  auto s = spec();
  s.version = 2;
  auto [sdp, update] = parts_of(build_meeting_reoffer(s, lines, session, {2, 0, 3}));
  EXPECT_EQ(sdp.origin.session_version, "2");
  ASSERT_EQ(sdp.media.size(), 4u);
  EXPECT_EQ(sdp.media[0].port, 0);  // Alice left: her m-line stays, closed
  EXPECT_EQ(sdp.media[1].port, 20002);
  EXPECT_EQ(sdp.media[2].port, 20004);
  EXPECT_EQ(sdp.media[2].attribute("label"), "3");
  EXPECT_EQ(sdp.media[3].port, 0);
  EXPECT_TRUE(update.partial);
  merge(known, update);
  const Participant* alice = known.participant(lines[0].participant_id);
  ASSERT_NE(alice, nullptr);
  EXPECT_EQ(alice->disassociate_time, "2026-12-07T10:06:00Z");
  EXPECT_EQ(alice->names[0].aor, "sip:alice@contoso.com");  // still named
  const Participant* carol = known.participant(lines[2].participant_id);
  ASSERT_NE(carol, nullptr);
  EXPECT_EQ(carol->associate_time, "2026-12-07T10:05:00Z");
  ASSERT_EQ(carol->send.size(), 1u);
  EXPECT_EQ(known.stream(carol->send[0])->label, "3");
  EXPECT_EQ(known.participant(lines[3].participant_id), nullptr);  // never had a stream
  EXPECT_EQ(known.participants.size(), 3u);
}

TEST(MeetingOffer, AParticipantsCameraAndScreenShareAreItsStreamsAndStoppingOneKeepsItIn) {
  auto video = sip::parse_sdp(
      "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n"
      "m=video 30002 RTP/AVPF 96\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack pli\r\n"
      "m=video 30004 RTP/AVPF 97\r\na=rtpmap:97 H264/90000\r\n"
      "a=fmtp:97 packetization-mode=1\r\na=content:slides\r\n");
  ASSERT_TRUE(video);
  std::vector<MeetingLine> lines = {line("sip:alice@contoso.com", 20000, "PCMA/8000"),
                                    line("sip:alice@contoso.com", 20002, "PCMA/8000"),
                                    line("sip:alice@contoso.com", 20004, "PCMA/8000"),
                                    line("sip:bob@contoso.com", 20006, "PCMA/8000")};
  lines[1].offered = video.value().media[0];
  lines[2].offered = video.value().media[1];
  for (size_t i = 0; i < 3; ++i) lines[i].participant = 11;
  lines[3].participant = 12;
  std::string session;
  auto [sdp, md] = parts_of(build_meeting_offer(spec(), lines, session));
  ASSERT_EQ(sdp.media.size(), 4u);
  EXPECT_EQ(sdp.media[1].media, "video");
  EXPECT_EQ(sdp.media[1].rtpmap(96)->encoding, "VP8");
  EXPECT_FALSE(sdp.media[1].has_attribute("rtcp-fb")) << "the recorder sends no feedback";
  EXPECT_EQ(sdp.media[2].attribute("content"), "slides");
  EXPECT_EQ(sdp.media[2].fmtp(97), "packetization-mode=1");
  ASSERT_EQ(md.participants.size(), 2u);
  EXPECT_EQ(md.participants[0].send.size(), 3u);
  EXPECT_EQ(md.participants[1].send.size(), 1u);
  EXPECT_EQ(lines[0].participant_id, lines[2].participant_id);
  EXPECT_NE(lines[0].participant_id, lines[3].participant_id);
  // Alice stops sharing her screen: she stays, sending two streams; the line's port is 0.
  lines[2].left_at = "2026-12-07T10:05:00Z";
  auto [sdp2, md2] = parts_of(build_meeting_reoffer(spec(), lines, session, {2}));
  EXPECT_EQ(sdp2.media[2].port, 0);
  ASSERT_EQ(md2.participants.size(), 1u);
  EXPECT_EQ(md2.participants[0].send.size(), 2u);
  EXPECT_TRUE(md2.participants[0].disassociate_time.empty());
  // She leaves: every line closed, and she is disassociated at the last one's time.
  lines[0].left_at = lines[1].left_at = "2026-12-07T10:06:00Z";
  auto [sdp3, md3] = parts_of(build_meeting_reoffer(spec(), lines, session, {0, 1}));
  ASSERT_EQ(md3.participants.size(), 1u);
  EXPECT_TRUE(md3.participants[0].send.empty());
  EXPECT_EQ(md3.participants[0].disassociate_time, "2026-12-07T10:06:00Z");
}

}  // namespace
}  // namespace verbatim::siprec
