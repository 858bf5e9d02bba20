#include "siprec/metadata.h"
#include "siprec/call_facts.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "common/testdata.h"

namespace verbatim::siprec {
namespace {

namespace fs = std::filesystem;

// The metadata document inside a vendor capture (from "<?xml" to the end of its root element).
std::string vendor_metadata(const std::string& name) {
  const fs::path p = testdata_path("siprec-vendors") / name;
  std::ifstream in(p, std::ios::binary);
  const std::string all{std::istreambuf_iterator<char>(in), {}};
  const size_t start = all.find("<?xml");
  EXPECT_NE(start, std::string::npos) << name;
  size_t end = all.find("\n--", start);
  return all.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// RFC 7865 §5-style document, as a conforming client sends it.
const char* kRfc = R"(<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns="urn:ietf:params:xml:ns:recording:1">
  <dataMode>complete</dataMode>
  <group group_id="7+OTCyoxTmqmqyA/1weDAg==">
    <associate-time>2010-12-16T23:41:07Z</associate-time>
    <call-center xmlns="urn:ietf:params:xml:ns:callcenter"><supervisor>sip:alice@atlanta.com</supervisor></call-center>
  </group>
  <session session_id="hVpd7YQgRW2nD22h7q60JQ==">
    <group-ref>7+OTCyoxTmqmqyA/1weDAg==</group-ref>
  </session>
  <participant participant_id="srfBElmCRp2QB23b7Mpk0w==">
    <nameID aor="sip:bob@biloxi.com"><name xml:lang="it">Bob</name></nameID>
  </participant>
  <participant participant_id="zSfPoSvdSDCmU3A3TRDxAw==">
    <nameID aor="sip:alice@atlanta.com"><name xml:lang="it">Alice</name></nameID>
  </participant>
  <stream stream_id="UAAMm5GRQKSCMVvLyl4rFw==" session_id="hVpd7YQgRW2nD22h7q60JQ=="><label>96</label></stream>
  <stream stream_id="i1Pz3to5hGk8fuXl+PbwCw==" session_id="hVpd7YQgRW2nD22h7q60JQ=="><label>97</label></stream>
  <sessionrecordingassoc session_id="hVpd7YQgRW2nD22h7q60JQ=="><associate-time>2010-12-16T23:41:07Z</associate-time></sessionrecordingassoc>
  <participantsessionassoc participant_id="srfBElmCRp2QB23b7Mpk0w==" session_id="hVpd7YQgRW2nD22h7q60JQ==">
    <associate-time>2010-12-16T23:41:07Z</associate-time>
  </participantsessionassoc>
  <participantstreamassoc participant_id="srfBElmCRp2QB23b7Mpk0w==">
    <send>i1Pz3to5hGk8fuXl+PbwCw==</send><recv>UAAMm5GRQKSCMVvLyl4rFw==</recv>
  </participantstreamassoc>
  <participantstreamassoc participant_id="zSfPoSvdSDCmU3A3TRDxAw==">
    <send>UAAMm5GRQKSCMVvLyl4rFw==</send><recv>i1Pz3to5hGk8fuXl+PbwCw==</recv>
  </participantstreamassoc>
</recording>)";

TEST(Metadata, ReadsAnRfc7865Snapshot) {
  std::vector<MetadataProblem> problems;
  auto m = parse_metadata(kRfc, &problems);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_TRUE(problems.empty());
  EXPECT_FALSE(m.value().partial);
  ASSERT_EQ(m.value().participants.size(), 2u);
  const Participant& bob = m.value().participants[0];
  EXPECT_EQ(bob.names.at(0).aor, "sip:bob@biloxi.com");
  EXPECT_EQ(bob.names.at(0).name, "Bob");
  EXPECT_EQ(bob.send, std::vector<std::string>{"i1Pz3to5hGk8fuXl+PbwCw=="});
  EXPECT_EQ(bob.sessions, std::vector<std::string>{"hVpd7YQgRW2nD22h7q60JQ=="});
  EXPECT_EQ(bob.associate_time, "2010-12-16T23:41:07Z");
  EXPECT_EQ(m.value().stream(bob.send[0])->label, "97");
  EXPECT_EQ(m.value().stream_by_label("96")->id, "UAAMm5GRQKSCMVvLyl4rFw==");
  ASSERT_EQ(m.value().groups.size(), 1u);
  ASSERT_EQ(m.value().groups[0].extensions.size(), 1u) << "extension data is kept as it is";
  EXPECT_NE(m.value().groups[0].extensions[0].find("<supervisor>sip:alice@atlanta.com"),
            std::string::npos);
  EXPECT_EQ(m.value().sessions.at(0).group_id, "7+OTCyoxTmqmqyA/1weDAg==");
  EXPECT_EQ(m.value().sessions.at(0).associate_time, "2010-12-16T23:41:07Z");
  const auto j = to_json(m.value());
  EXPECT_EQ(j["participants"][1]["names"][0]["name"], "Alice");
  EXPECT_EQ(j["dialect"], "rfc7865");
}

TEST(Metadata, ReadsVendorDialects) {
  VB_REQUIRE_TESTDATA("siprec-vendors");
  // Metaswitch: no ":1", lowercase <datamode>, stream id=, one mixed stream both ways.
  auto ms = parse_metadata(vendor_metadata("metaswitch-01.sip"));
  ASSERT_TRUE(ms) << ms.error().message;
  ASSERT_EQ(ms.value().participants.size(), 2u);
  EXPECT_EQ(ms.value().participants[0].names[0].aor, "7602922411");
  EXPECT_EQ(ms.value().participants[0].send, ms.value().participants[0].recv);
  EXPECT_EQ(ms.value().stream(ms.value().participants[1].send.at(0))->label, "1");
  EXPECT_EQ(ms.value().recording_id, "1cge8uKKEeajkuyezQV3BA==");
  EXPECT_EQ(ms.value().extensions.size(), 1u) << "metaswitchRecordingMetadata kept";

  // Sonus: prefixed elements (tns:).
  std::vector<MetadataProblem> problems;
  auto sonus = parse_metadata(vendor_metadata("sonus-01.body"), &problems);
  ASSERT_TRUE(sonus) << sonus.error().message;
  EXPECT_EQ(sonus.value().participants.at(0).names.at(0).name, "Extension 8500");
  EXPECT_EQ(sonus.value().streams.at(0).label, "1");

  // BroadWorks, pre-RFC draft: <recording_metadata>, id=/session=, <aor>, <send><id>.
  auto bw = parse_metadata(vendor_metadata("broadworks-01.sip"));
  ASSERT_TRUE(bw) << bw.error().message;
  EXPECT_EQ(bw.value().dialect, Metadata::Dialect::kDraft);
  EXPECT_EQ(bw.value().recording_id, "urn:uuid:55e79a26-d24b-40a5-8800-f206e26bbf93");
  ASSERT_EQ(bw.value().participants.size(), 2u);
  EXPECT_EQ(bw.value().participants[1].names.at(0).aor, "sip:3000@10.21.0.216;user=phone");
  EXPECT_EQ(bw.value().participants[0].send.at(0), "urn:uuid:8507832b-ac9d-4d12-85bd-4c6ee44f55a6");
  EXPECT_EQ(bw.value().streams.at(0).mode, "mixed");
  EXPECT_EQ(bw.value().sessions.at(0).group_id, "urn:uuid:2c3c849d-0471-479f-8d2c-b3c2bb07dd68");
  bool broadworks_kept = false;
  for (const auto& e : bw.value().extensions)
    broadworks_kept |= e.find("extTrackingID") != std::string::npos;
  EXPECT_TRUE(broadworks_kept);
}

// What our gateway sends: serialize_metadata() writes RFC 7865 that parse_metadata() reads back
// to the same model, for every vendor's document (draft dialect, prefixes and extensions too).
TEST(Metadata, SerializedDocumentsReadBackTheSame) {
  VB_REQUIRE_TESTDATA("siprec-vendors");
  for (const char* name : {"metaswitch-01.sip", "sonus-01.body", "broadworks-01.sip"}) {
    SCOPED_TRACE(name);
    auto m = parse_metadata(vendor_metadata(name));
    ASSERT_TRUE(m) << m.error().message;
    const std::string xml = serialize_metadata(m.value());
    std::vector<MetadataProblem> problems;
    auto back = parse_metadata(xml, &problems);
    ASSERT_TRUE(back) << back.error().message << "\n" << xml;
    EXPECT_TRUE(problems.empty()) << problems.at(0).message << "\n" << xml;
    EXPECT_EQ(back.value().dialect, Metadata::Dialect::kRfc7865);
    auto a = to_json(m.value()), b = to_json(back.value());
    for (auto* j : {&a, &b}) {
      j->erase("dialect");
      j->erase("namespace");
      j->erase("recordingId");  // the draft's <recording id> and stream mode: no RFC 7865 element
      for (auto& st : (*j)["streams"]) st.erase("mode");
    }
    EXPECT_EQ(a.dump(1), b.dump(1));
  }
  Metadata m;
  m.sessions.push_back({"s1", "", "2026-11-27T10:00:00Z", "", "2026-11-27T10:00:00Z", "", {}});
  m.participants.push_back({"p1",
                            {{"sip:alice@contoso.com", "Alice <& \"Trader\">"}},
                            {"s1"},
                            {"st1"},
                            {"st2"},
                            "2026-11-27T10:00:00Z",
                            "",
                            {},
                            true});
  m.streams.push_back({"st1", "s1", "1", "", {}});
  m.streams.push_back({"st2", "s1", "2", "", {}});
  m.extensions.push_back(
      "<extensiondata xmlns:vb=\"urn:x\"><vb:policy>Traders</vb:policy>"
      "</extensiondata>");
  m.extensions.push_back("<broken");  // left out, never corrupting the document
  auto back = parse_metadata(serialize_metadata(m));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back.value().participants.at(0).names.at(0).name, "Alice <& \"Trader\">");
  EXPECT_EQ(back.value().participants.at(0).send, std::vector<std::string>{"st1"});
  EXPECT_EQ(back.value().stream("st2")->label, "2");
  ASSERT_EQ(back.value().extensions.size(), 1u);
  EXPECT_NE(back.value().extensions[0].find("Traders"), std::string::npos);
}

TEST(Metadata, PartialUpdatesChangeOnlyWhatTheyName) {
  VB_REQUIRE_TESTDATA("siprec-vendors");
  auto snapshot = parse_metadata(vendor_metadata("broadworks-01.sip"));
  auto update = parse_metadata(vendor_metadata("broadworks-02.sip"));
  ASSERT_TRUE(snapshot && update);
  EXPECT_TRUE(update.value().partial);
  Metadata known = snapshot.value();
  merge(known, update.value());
  ASSERT_EQ(known.participants.size(), 3u) << "the redirect added a participant";
  EXPECT_EQ(known.participants[2].names.at(0).aor, "sip:7824@10.21.0.216;user=phone");
  EXPECT_EQ(known.participants[1].send.size(), 1u)
      << "the update did not say what 3000 sends: it still sends what it sent";
  EXPECT_EQ(known.streams.size(), 1u) << "streams the update does not name stay";

  // A complete snapshot replaces everything (webex-02 adds a conference participant).
  auto w1 = parse_metadata(vendor_metadata("webex-01.sip"));
  auto w2 = parse_metadata(vendor_metadata("webex-02.sip"));
  ASSERT_TRUE(w1 && w2);
  Metadata w = w1.value();
  merge(w, w2.value());
  EXPECT_EQ(w.participants.size(), w2.value().participants.size());
  EXPECT_EQ(w.participants.size(), 3u);
}

TEST(Metadata, QuestionableInputGivesProblemsAndBrokenInputAnError) {
  VB_REQUIRE_TESTDATA("siprec-vendors");
  std::vector<MetadataProblem> problems;
  auto avaya = parse_metadata(vendor_metadata("avaya-01.sip"), &problems);
  ASSERT_TRUE(avaya);
  bool empty_stream = false;
  for (const auto& p : problems) empty_stream |= p.message.find("stream with an empty id") == 0;
  EXPECT_TRUE(empty_stream);
  EXPECT_GT(problems.front().line, 1u) << "problems name their line";

  problems.clear();
  auto dangling = parse_metadata(
      R"(<recording xmlns="urn:ietf:params:xml:ns:recording:1"><dataMode>complete</dataMode>
<participant participant_id="p"><nameID aor="sip:a@b"/></participant>
<participantstreamassoc participant_id="p"><send>nope</send></participantstreamassoc>
</recording>)",
      &problems);
  ASSERT_TRUE(dangling);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].message.find("refers to stream nope"), std::string::npos);

  auto broken = parse_metadata("<?xml version=\"1.0\"?>\n<recording>\n<participant>\n</recording>");
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().message.find("line 4"), std::string::npos) << broken.error().message;
  auto wrong_root = parse_metadata("<html><body/></html>");
  ASSERT_FALSE(wrong_root);
  EXPECT_NE(wrong_root.error().message.find("<html>"), std::string::npos);
  EXPECT_FALSE(parse_metadata(""));
  problems.clear();
  auto other_ns = parse_metadata("<recording xmlns=\"urn:example\"/>", &problems);
  ASSERT_TRUE(other_ns);
  EXPECT_NE(problems.at(0).message.find("unexpected namespace"), std::string::npos);
}

// Who called whom and the business data, in each vendor's own words (call_facts.h).
bool has(const CallFacts& f, const std::string& key, const std::string& value) {
  return std::find(f.data.begin(), f.data.end(), std::make_pair(key, value)) != f.data.end();
}

TEST(CallFacts, ReadEachVendorsRolesAndExtensionData) {
  VB_REQUIRE_TESTDATA("siprec-vendors");
  {  // Oracle SBC: apkt:callingParty on each participant, headers copied into extensiondata.
    const auto f = call_facts(parse_metadata(vendor_metadata("oracle-01.sip")).value());
    ASSERT_TRUE(f.origin && f.dialed);
    EXPECT_EQ(f.origin->aor, "sip:1000000001@192.168.50.102");
    EXPECT_NE(f.dialed->aor, f.origin->aor);
    EXPECT_TRUE(has(f, "X-IB-MessageID", "10000000011200000001"));
    EXPECT_EQ(f.direction, "");  // an SBC between two parties says who called, not a direction
  }
  {  // Avaya through an Acme SBC: the UCID on the session, a Call-ID copy on a participant.
    const auto f = call_facts(parse_metadata(vendor_metadata("avaya-03.body")).value());
    ASSERT_TRUE(f.origin && f.dialed);
    EXPECT_EQ(f.origin->aor, "sip:31624895902@10.10.128.62");
    EXPECT_EQ(f.dialed->aor, "sip:33187164021@sip.webhelpgroupe.lan");
    EXPECT_TRUE(has(f, "ucid", "00FA081003B9CF5E7DF7E5;encoding=hex"));
    EXPECT_TRUE(has(f, "Call-ID", "134485702_44821128@10.10.128.62"));
  }
  {  // BroadWorks: an originating call half, with the calling and called numbers.
    const auto f = call_facts(parse_metadata(vendor_metadata("broadworks-01.sip")).value());
    EXPECT_EQ(f.direction, "outbound");
    ASSERT_TRUE(f.origin && f.dialed);
    EXPECT_EQ(f.origin->aor, "sip:5207@10.21.0.216");
    EXPECT_EQ(f.dialed->aor, "sip:3000@10.21.0.216;user=phone");
    EXPECT_TRUE(has(f, "extTrackingID", "tracking-id-1-12345@198.51.100.20"));
    EXPECT_TRUE(has(f, "groupID", "Norwich"));
  }
  {  // Webex (BroadWorks metadata, version 3).
    const auto f = call_facts(parse_metadata(vendor_metadata("webex-01.sip")).value());
    ASSERT_TRUE(f.origin);
    EXPECT_EQ(f.origin->aor, "sip:+12102298545@10.155.7.148");
  }
  {  // Cisco CUBE: the call's RFC 7989 Session-ID on the session, kept whole and by its UUIDs.
    const auto m = parse_metadata(vendor_metadata("cisco-01.body")).value();
    ASSERT_EQ(m.sessions.size(), 1u);
    EXPECT_EQ(m.sessions[0].sip_session_ids,
              std::vector<std::string>{
                  "e9fffff2020a598b86962867715db0cf;remote=cd0f7093d62c5f0697098fd69a4aa57b"});
    EXPECT_TRUE(m.sessions[0].extensions.empty());
    const auto f = call_facts(m);
    EXPECT_TRUE(has(f, "session-uuid", "e9fffff2020a598b86962867715db0cf"));
    EXPECT_TRUE(has(f, "session-uuid", "cd0f7093d62c5f0697098fd69a4aa57b"));
    // Written back in RFC 7865's order (first in <session>) and read the same.
    const auto again = parse_metadata(serialize_metadata(m)).value();
    EXPECT_EQ(again.sessions[0].sip_session_ids, m.sessions[0].sip_session_ids);
  }
  {  // Connectel gives a Call-ID there: kept as given, no UUIDs made up.
    const auto f = call_facts(parse_metadata(vendor_metadata("connectel-01.body")).value());
    EXPECT_TRUE(has(f, "sipSessionID", "2d8abbf0769c66e15bb349f509693d60@52.57.92.239"));
    EXPECT_FALSE(std::any_of(f.data.begin(), f.data.end(),
                             [](const auto& kv) { return kv.first == "session-uuid"; }));
  }
  // Every capture gives at most kMaxData pairs, none empty.
  for (const auto& e : fs::directory_iterator(testdata_path("siprec-vendors"))) {
    const std::string name = e.path().filename().string();
    std::ifstream in(e.path(), std::ios::binary);
    const std::string all{std::istreambuf_iterator<char>(in), {}};
    if (name == "SOURCES.md" || all.find("<?xml") == std::string::npos) continue;
    auto m = parse_metadata(vendor_metadata(name));
    if (!m) continue;
    const auto f = call_facts(m.value());
    EXPECT_LE(f.data.size(), kMaxData) << name;
    for (const auto& [k, v] : f.data) EXPECT_FALSE(k.empty() || v.empty()) << name;
  }
}

TEST(CallFacts, SessionIdUuidsAsRfc7989WritesThem) {
  using V = std::vector<std::string>;
  EXPECT_EQ(
      session_uuids("AB30317F1A784DC48FF824D0D3715D86;remote=47755a9de7794ba387653f2099600ef2"),
      (V{"ab30317f1a784dc48ff824d0d3715d86", "47755a9de7794ba387653f2099600ef2"}));
  // The remote end not known yet (the null UUID), other parameters, spaces.
  EXPECT_EQ(
      session_uuids(
          " ab30317f1a784dc48ff824d0d3715d86 ; x=1 ; remote=00000000000000000000000000000000"),
      (V{"ab30317f1a784dc48ff824d0d3715d86"}));
  EXPECT_TRUE(session_uuids("2d8abbf0769c66e15bb349f509693d60@52.57.92.239").empty());
  EXPECT_TRUE(session_uuids("ab30317f1a784dc48ff824d0d3715d8").empty());  // 31 digits
  EXPECT_TRUE(session_uuids("").empty());
  EXPECT_EQ(session_uuids("ab30317f1a784dc48ff824d0d3715d86;remote=zz"),
            (V{"ab30317f1a784dc48ff824d0d3715d86"}));
}

TEST(CallFacts, AnyOtherClientsFirstParticipantCalledTheSecond) {
  const auto f = call_facts(parse_metadata(kRfc).value());
  ASSERT_TRUE(f.origin && f.dialed);
  EXPECT_NE(f.origin->aor, f.dialed->aor);
  EXPECT_EQ(f.direction, "");
  const auto j = call_json(f);
  EXPECT_EQ(j["origin"]["aor"], f.origin->aor);
  EXPECT_FALSE(j.contains("direction"));
}

}  // namespace
// T20: 1,000 participants, deep nesting of unknown elements and many unknown elements are
// parsed (not refused, not crashed on); unknown content is kept.
TEST(Metadata, HugeAndDeepDocumentsAreParsed) {
  std::string xml =
      "<recording xmlns='urn:ietf:params:xml:ns:recording:1'><datamode>complete</datamode>"
      "<session session_id='s'/><stream stream_id='st' session_id='s'><label>1</label></stream>";
  for (int i = 0; i < 1000; ++i) {
    const std::string id = "p" + std::to_string(i);
    xml += "<participant participant_id='" + id + "'><nameID aor='sip:u" + std::to_string(i) +
           "@example.com'><name>U</name></nameID></participant><participantstreamassoc "
           "participant_id='" +
           id + "'><send>st</send></participantstreamassoc>";
  }
  for (int i = 0; i < 20000; ++i) xml += "<deep>";
  for (int i = 0; i < 20000; ++i) xml += "</deep>";
  for (int i = 0; i < 5000; ++i)
    xml += "<vendor:x xmlns:vendor='urn:v'>" + std::to_string(i) + "</vendor:x>";
  xml += "</recording>";
  auto md = parse_metadata(xml);
  ASSERT_TRUE(md) << md.error().message;
  EXPECT_EQ(md.value().participants.size(), 1000u);
  EXPECT_EQ(md.value().participants[999].send, std::vector<std::string>{"st"});
  EXPECT_EQ(md.value().extensions.size(), 5001u);
  EXPECT_EQ(participants_json(md.value()).size(), 1000u);
}

}  // namespace verbatim::siprec
