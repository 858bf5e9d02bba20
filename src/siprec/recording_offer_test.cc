#include "siprec/recording_offer.h"

#include <gtest/gtest.h>

#include "sip/multipart.h"
#include "siprec/call_facts.h"
#include "siprec/inspect.h"
#include "siprec/metadata.h"

namespace verbatim::siprec {
namespace {

RecordingOfferSpec two_way_audio() {
  RecordingOfferSpec spec;
  spec.origin_id = 42;
  spec.address = "192.0.2.1";
  spec.started_at = "2026-12-05T10:00:00Z";
  spec.now = "2026-12-05T10:00:01Z";
  spec.observed = {"sip:bob@contoso.com", "Bob"};
  spec.peer = {"tel:+14255550199", ""};
  spec.observed_is_caller = false;
  spec.call_id = "abc@pstn";
  spec.policy = "Traders & \"Sales\" <EU>";  // escaped by the XML writer
  spec.application_id = "app-1";
  spec.instance = "recorder@contoso.com";
  auto sdp = sip::parse_sdp(
      "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n"
      "m=audio 30000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 "
      "telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n");
  EXPECT_TRUE(sdp);
  for (bool from_observed : {true, false}) {
    OfferStream st;
    st.offered = sdp.value().media[0];
    st.from_observed = from_observed;
    st.port = from_observed ? 20000 : 20002;
    spec.streams.push_back(st);
  }
  spec.streams[1].srtp_suite = "AES_CM_128_HMAC_SHA1_80";
  spec.streams[1].key = "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";
  return spec;
}

TEST(RecordingOffer, SdpAndMetadataDescribeTheSameLabelledStreams) {
  const RecordingOffer offer = build_recording_offer(two_way_audio());
  const std::string prefix = "multipart/mixed;boundary=";
  ASSERT_EQ(offer.content_type.rfind(prefix, 0), 0u);
  auto parts = sip::parse_multipart(offer.body, offer.content_type.substr(prefix.size()));
  ASSERT_TRUE(parts) << offer.body;
  ASSERT_EQ(parts.value().size(), 2u);
  EXPECT_EQ(parts.value()[0].content_type(), "application/sdp");
  EXPECT_EQ(parts.value()[1].content_type(), "application/rs-metadata+xml");
  EXPECT_EQ(parts.value()[1].header("Content-Disposition"), "recording-session");

  auto sdp = sip::parse_sdp(parts.value()[0].body);
  ASSERT_TRUE(sdp);
  ASSERT_EQ(sdp.value().media.size(), 2u);
  EXPECT_EQ(sdp.value().origin.session_id, "42");
  EXPECT_EQ(sdp.value().media[0].port, 20000);
  EXPECT_EQ(sdp.value().media[0].proto, "RTP/AVP");
  EXPECT_EQ(sdp.value().media[1].proto, "RTP/SAVP");  // the stream with a key
  EXPECT_EQ(sdp.value().media[0].formats, (std::vector<std::string>{"0", "101"}));
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(sdp.value().media[i].attribute("label").value_or(""), std::to_string(i + 1));
    EXPECT_TRUE(sdp.value().media[i].has_attribute("sendonly"));
    EXPECT_EQ(sdp.value().media[i].attribute("ptime").value_or(""), "20");
  }

  std::vector<MetadataProblem> problems;
  auto md = parse_metadata(parts.value()[1].body, &problems);
  ASSERT_TRUE(md) << parts.value()[1].body;
  EXPECT_TRUE(problems.empty());
  ASSERT_EQ(md.value().participants.size(), 2u);
  const Participant& observed = md.value().participants[0];
  const Participant& peer = md.value().participants[1];
  EXPECT_EQ(observed.names.at(0).aor, "sip:bob@contoso.com");
  EXPECT_EQ(peer.id, offer.peer_id);
  // Label 1 is what Bob sends (his peer receives it); label 2 what he receives.
  const Stream* one = md.value().stream_by_label("1");
  const Stream* two = md.value().stream_by_label("2");
  ASSERT_TRUE(one && two);
  EXPECT_EQ(observed.send, std::vector<std::string>{one->id});
  EXPECT_EQ(observed.recv, std::vector<std::string>{two->id});
  EXPECT_EQ(offer.peer_send, std::vector<std::string>{two->id});
  EXPECT_EQ(offer.peer_recv, std::vector<std::string>{one->id});
  EXPECT_EQ(md.value().sessions.at(0).id, offer.session_id);
  ASSERT_EQ(md.value().extensions.size(), 1u);
  const std::string& ext = md.value().extensions[0];
  EXPECT_NE(ext.find("direction=\"inbound\""), std::string::npos) << ext;
  EXPECT_NE(ext.find("observed=\"" + observed.id + "\""), std::string::npos) << ext;
  // &, " and < escaped (> needs no escape in an attribute value).
  EXPECT_NE(ext.find("policy=\"Traders &amp; &quot;Sales&quot; &lt;EU>\""), std::string::npos)
      << ext;
}

// A one-to-one chat conversation's session (gateway/direct_chat.cc): no m-line, both users
// named, the conversation where a call's id would be. A recorder and `siprec inspect` take it as
// a SIPREC offer with nothing to receive, and nothing to warn about.
TEST(RecordingOffer, AConversationWithoutMediaNamesBothUsersAndHasNoMLine) {
  RecordingOfferSpec spec = two_way_audio();
  spec.streams.clear();
  spec.peer = {"sip:carol@contoso.com", "Carol"};
  spec.internal = true;
  spec.call_id = "chat-0123456789abcdef01234567";
  const RecordingOffer offer = build_recording_offer(spec);
  auto sdp = sip::parse_sdp(offer.sdp);
  ASSERT_TRUE(sdp) << offer.sdp;
  EXPECT_TRUE(sdp.value().media.empty());
  const InspectReport r = inspect(offer.body);
  EXPECT_TRUE(r.valid()) << r.to_json().dump(2);
  EXPECT_TRUE(r.warnings.empty()) << r.to_json().dump(2);
  auto parts =
      sip::parse_multipart(offer.body, offer.content_type.substr(offer.content_type.find('=') + 1));
  ASSERT_TRUE(parts && parts.value().size() == 2u) << offer.body;
  auto md = parse_metadata(parts.value()[1].body);
  ASSERT_TRUE(md);
  ASSERT_EQ(md.value().participants.size(), 2u);
  EXPECT_TRUE(md.value().streams.empty());
  const CallFacts facts = call_facts(md.value());
  EXPECT_NE(std::find(facts.data.begin(), facts.data.end(),
                      std::pair<std::string, std::string>("callId", spec.call_id)),
            facts.data.end());
}

TEST(RecordingOffer, APeerChangeDisassociatesOneAndAssociatesTheOtherOnTheSameStreams) {
  const RecordingOffer offer = build_recording_offer(two_way_audio());
  std::string came_id;
  const std::string xml =
      peer_change_metadata(offer.session_id, offer.peer_id, {"sip:carol@contoso.com", "Carol"},
                           offer.peer_send, offer.peer_recv, "2026-12-05T10:01:00Z", came_id);
  auto md = parse_metadata(xml);
  ASSERT_TRUE(md) << xml;
  EXPECT_TRUE(md.value().partial);
  ASSERT_EQ(md.value().participants.size(), 2u);
  EXPECT_EQ(md.value().participants[0].id, offer.peer_id);
  EXPECT_EQ(md.value().participants[0].disassociate_time, "2026-12-05T10:01:00Z");
  EXPECT_EQ(md.value().participants[1].id, came_id);
  EXPECT_EQ(md.value().participants[1].associate_time, "2026-12-05T10:01:00Z");
  EXPECT_EQ(md.value().participants[1].send, offer.peer_send);
  EXPECT_EQ(md.value().participants[1].recv, offer.peer_recv);
  EXPECT_NE(came_id, offer.peer_id);
}

// The callee's Session-ID, learnt from its answer, goes to the recorder in an update of the
// session alone (or with a peer change); merged, the session has both parties' Session-IDs.
TEST(RecordingOffer, AnUpdateAddsTheCalleesSessionId) {
  auto spec = two_way_audio();
  const std::string caller =
      "ab30317f1a784dc48ff824d0d3715d86;remote=00000000000000000000000000000000";
  const std::string callee =
      "47755a9de7794ba387653f2099600ef2;remote=ab30317f1a784dc48ff824d0d3715d86";
  spec.sip_session_ids = {caller, ""};
  const RecordingOffer offer = build_recording_offer(spec);
  const std::string prefix = "multipart/mixed;boundary=";
  auto parts = sip::parse_multipart(offer.body, offer.content_type.substr(prefix.size()));
  ASSERT_TRUE(parts);
  auto known = parse_metadata(parts.value().at(1).body);
  ASSERT_TRUE(known);
  ASSERT_EQ(known.value().sessions.size(), 1u);
  EXPECT_EQ(known.value().sessions[0].sip_session_ids, std::vector<std::string>{caller});
  std::string came_id = offer.peer_id;
  auto update = parse_metadata(metadata_update(offer.session_id, {callee}, nullptr, came_id));
  ASSERT_TRUE(update);
  EXPECT_TRUE(update.value().partial);
  EXPECT_TRUE(update.value().participants.empty());  // no peer change: the peer stays
  EXPECT_EQ(came_id, offer.peer_id);
  merge(known.value(), update.value());
  EXPECT_EQ(known.value().sessions[0].sip_session_ids, (std::vector<std::string>{caller, callee}));
  std::vector<std::string> uuids;
  for (const auto& [k, v] : call_facts(known.value()).data) {
    if (k == "session-uuid") uuids.push_back(v);
  }
  EXPECT_EQ(uuids, (std::vector<std::string>{"ab30317f1a784dc48ff824d0d3715d86",
                                             "47755a9de7794ba387653f2099600ef2"}));
  // With a peer change, one update says both.
  const PeerChange change{offer.peer_id,
                          {"sip:carol@contoso.com", "Carol"},
                          offer.peer_send,
                          offer.peer_recv,
                          "2026-12-05T10:01:00Z"};
  auto both = parse_metadata(metadata_update(offer.session_id, {callee}, &change, came_id));
  ASSERT_TRUE(both);
  EXPECT_EQ(both.value().sessions.size(), 1u);
  EXPECT_EQ(both.value().participants.size(), 2u);
  EXPECT_NE(came_id, offer.peer_id);
}

// Our own metadata read back as a recorder does: the observed party, the direction, and who
// called whom follow from it.
TEST(RecordingOffer, TheRecorderReadsTheCallFromOurExtension) {
  auto spec = two_way_audio();
  const std::string prefix = "multipart/mixed;boundary=";
  auto facts_of = [&](const RecordingOffer& offer) {
    auto parts = sip::parse_multipart(offer.body, offer.content_type.substr(prefix.size()));
    EXPECT_TRUE(parts);
    auto md = parse_metadata(parts.value().at(1).body);
    EXPECT_TRUE(md) << md.error().message;
    return call_facts(md.value());
  };
  auto f = facts_of(build_recording_offer(spec));
  EXPECT_EQ(f.direction, "inbound");
  EXPECT_FALSE(f.internal);
  EXPECT_FALSE(call_json(f).contains("internal"));
  ASSERT_TRUE(f.origin && f.dialed);
  EXPECT_EQ(f.origin->aor, "tel:+14255550199");  // the peer called bob
  EXPECT_EQ(f.dialed->aor, "sip:bob@contoso.com");
  EXPECT_EQ(f.dialed->name, "Bob");
  EXPECT_NE(std::find(f.data.begin(), f.data.end(),
                      std::make_pair(std::string("applicationId"), std::string("app-1"))),
            f.data.end());
  spec.observed_is_caller = true;
  f = facts_of(build_recording_offer(spec));
  EXPECT_EQ(f.direction, "outbound");
  ASSERT_TRUE(f.origin);
  EXPECT_EQ(f.origin->aor, "sip:bob@contoso.com");
  EXPECT_FALSE(std::any_of(f.data.begin(), f.data.end(),
                           [](const auto& kv) { return kv.first == "session-uuid"; }));
  // The caller's RFC 7989 Session-ID goes into the metadata, so its UUIDs relate the call's
  // recordings to another client's (an SBC's) recordings of it.
  spec.sip_session_ids = {
      "ab30317f1a784dc48ff824d0d3715d86;remote=00000000000000000000000000000000", ""};
  f = facts_of(build_recording_offer(spec));
  EXPECT_NE(std::find(f.data.begin(), f.data.end(),
                      std::make_pair(std::string("session-uuid"),
                                     std::string("ab30317f1a784dc48ff824d0d3715d86"))),
            f.data.end());
  spec.internal = true;  // two users of the directory
  f = facts_of(build_recording_offer(spec));
  EXPECT_TRUE(f.internal);
  EXPECT_EQ(f.direction, "outbound");  // still seen from the recorded party
  EXPECT_EQ(call_json(f)["internal"], true);
}

}  // namespace
}  // namespace verbatim::siprec
