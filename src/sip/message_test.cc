#include "sip/message.h"
#include "sip/sdp.h"

#include <filesystem>
#include <fstream>
#include <map>

#include <gtest/gtest.h>

#include "common/testdata.h"

namespace verbatim::sip {
namespace {

namespace fs = std::filesystem;

std::string testdata(const std::string& rel) { return testdata_path(rel).string(); }

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "missing test data " << path
                  << " (the shared test data belongs at ../shared/testdata, or set "
                     "VERBATIM_TESTDATA)";
  return {std::istreambuf_iterator<char>(in), {}};
}

// Expected outcome per RFC 4475 / RFC 5118 message: 0 = a well-formed message (it parses and
// validates), otherwise the status a UAS answers (400, 505, 513) or -1 for "discard" (a
// malformed response).
const std::map<std::string, int> kTorture = {
    // RFC 4475 §3.1.1 valid
    {"wsinv", 0},
    {"intmeth", 0},
    {"esc01", 0},
    {"escnull", 0},
    {"esc02", 0},
    {"lwsdisp", 0},
    {"longreq", 0},
    {"dblreq", 0},
    {"semiuri", 0},
    {"transports", 0},
    {"mpart01", 0},
    {"unreason", 0},
    {"noreason", 0},
    // §3.1.2 invalid
    {"badinv01", 400},
    {"clerr", 400},
    {"ncl", 400},
    {"scalar02", 400},
    {"scalarlg", -1},
    {"quotbal", 400},
    {"ltgtruri", 400},
    {"lwsruri", 400},
    {"lwsstart", 400},
    {"trws", 400},
    {"escruri", 400},
    {"baddate", 400},
    {"regbadct", 400},
    {"badaspec", 400},
    {"baddn", 400},
    {"badvers", 505},
    {"mismatch01", 400},
    {"mismatch02", 400},
    {"bigcode", -1},
    // §3.2-3.4: syntactically valid (the application answers 416, 420, 415, 401, 483, 406...)
    {"badbranch", 0},
    {"unkscm", 0},
    {"novelsc", 0},
    {"unksm2", 0},
    {"bext01", 0},
    {"invut", 0},
    {"regaut01", 0},
    {"multi01", 400},
    {"mcl01", 400},
    {"bcast", 0},
    {"zeromf", 0},
    {"cparam01", 0},
    {"cparam02", 0},
    {"regescrt", 0},
    {"sdp01", 0},
    {"inv2543", 0},
    {"insuf", 400},
    // RFC 5118
    {"ipv6-good", 0},
    {"ipv6-bad", 400},
    {"port-ambiguous", 0},
    {"port-unambiguous", 0},
    {"via-received-param-with-delim", 0},
    {"via-received-param-no-delim", 0},
    {"ipv6-in-sdp", 0},
    {"mult-ip-in-header", 0},
    {"mult-ip-in-sdp", 0},
    {"ipv4-mapped-ipv6", 0},
    {"ipv6-bug-abnf-3-colons", 400},
    {"ipv6-correct-abnf-2-colons", 0},
};

TEST(SipTorture, EveryMessageGetsTheOutcomeTheRfcsSay) {
  VB_REQUIRE_TESTDATA("sip-torture");
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(testdata("sip-torture"))) {
    if (entry.path().extension() != ".dat") continue;
    ++files;
    const std::string name = entry.path().stem().string();
    auto it = kTorture.find(name);
    ASSERT_NE(it, kTorture.end()) << "no expectation for " << name;
    const std::string bytes = read(entry.path().string());
    auto m = Message::parse(bytes);
    int got = 0;
    std::string why;
    if (!m) {
      got = m.error().status == 0 ? -1 : m.error().status;
      why = m.error().describe();
    } else if (auto v = validate(m.value()); !v) {
      got = v.error().status == 0 ? -1 : v.error().status;
      why = v.error().describe();
    }
    EXPECT_EQ(got, it->second) << name << ": " << (why.empty() ? "accepted" : why);
  }
  EXPECT_EQ(files, kTorture.size());
}

TEST(SipTorture, ValidMessagesHaveTheRightValues) {
  VB_REQUIRE_TESTDATA("sip-torture");
  auto wsinv = Message::parse(read(testdata("sip-torture/wsinv.dat"))).value();
  EXPECT_EQ(wsinv.method(), "INVITE");
  EXPECT_EQ(wsinv.max_forwards().value(), 68u);
  EXPECT_EQ(wsinv.cseq().value().number, 9u);
  EXPECT_EQ(wsinv.cseq().value().method, "INVITE");
  EXPECT_EQ(wsinv.to().value().tag().value(), "1918181833n");
  EXPECT_EQ(unquote(wsinv.from().value().display_name), "J Rosenberg \\\"");
  EXPECT_EQ(wsinv.from().value().tag().value(), "98asjd8");
  const auto vias = wsinv.vias().value();
  ASSERT_EQ(vias.size(), 3u);
  EXPECT_EQ(vias[0].transport, "UDP");
  EXPECT_EQ(vias[0].host, "192.0.2.2");
  EXPECT_EQ(vias[1].transport, "TCP");
  EXPECT_EQ(vias[1].branch().value(), "z9hG4bK9ikj8");
  EXPECT_EQ(vias[2].host, "192.168.255.111");
  EXPECT_EQ(vias[2].branch().value(), "z9hG4bK30239");
  EXPECT_EQ(wsinv.contacts().value()[0].param("q").value(), "0.33");
  EXPECT_EQ(wsinv.routes().value()[0].uri.param("unknownwith").value(), "value");
  EXPECT_EQ(wsinv.body().size(), 150u);
  ASSERT_NE(wsinv.find("UnknownHeaderWithUnusualValue"), nullptr);
  EXPECT_EQ(wsinv.find("UnknownHeaderWithUnusualValue")->value, ";;,,;;,;");
  EXPECT_EQ(wsinv.find("NewFangledHeader")->value,
            "newfangled value\r\n continued newfangled value");

  // dblreq: the REGISTER only; the INVITE after its body is ignored.
  auto dbl = Message::parse(read(testdata("sip-torture/dblreq.dat"))).value();
  EXPECT_EQ(dbl.method(), "REGISTER");
  EXPECT_TRUE(dbl.body().empty());
  EXPECT_EQ(dbl.serialize().find("INVITE"), std::string::npos);

  auto esc = Message::parse(read(testdata("sip-torture/escnull.dat"))).value();
  EXPECT_NE(esc.to().value().uri.user_unescaped().find('\0'), std::string::npos);

  auto noreason = Message::parse(read(testdata("sip-torture/noreason.dat"))).value();
  EXPECT_EQ(noreason.status(), 100);
  EXPECT_TRUE(noreason.reason().empty());

  auto amb = Message::parse(read(testdata("sip-torture/port-ambiguous.dat"))).value();
  EXPECT_FALSE(parse_uri(amb.request_uri()).value().port);
  auto recv = Message::parse(read(testdata("sip-torture/via-received-param-no-delim.dat"))).value();
  EXPECT_EQ(recv.vias().value()[0].param("received").value(), "2001:db8::9:255");
}

TEST(SipMessage, UnmodifiedMessagesSerialiseByteForByteAndEditsRoundTrip) {
  VB_REQUIRE_TESTDATA("sip-torture");
  for (const auto& entry : fs::directory_iterator(testdata("sip-torture"))) {
    const std::string bytes = read(entry.path().string());
    auto m = Message::parse(bytes);
    if (!m) continue;
    const std::string out = m.value().serialize();
    EXPECT_EQ(bytes.compare(0, out.size(), out), 0) << entry.path();
    auto again = Message::parse(out);
    ASSERT_TRUE(again) << entry.path();
    EXPECT_EQ(again.value().headers().size(), m.value().headers().size());
  }
  auto m = Message::parse(read(testdata("sip-torture/wsinv.dat"))).value();
  m.prepend_header("Via", "SIP/2.0/UDP proxy.example.com;branch=z9hG4bK-new");
  m.remove_headers(HeaderId::kRoute);
  const std::string out = m.serialize();
  auto back = Message::parse(out);
  ASSERT_TRUE(back) << back.error().describe();
  EXPECT_TRUE(validate(back.value())) << validate(back.value()).error().describe();
  EXPECT_EQ(back.value().vias().value().size(), 4u);
  EXPECT_EQ(back.value().vias().value()[0].branch().value(), "z9hG4bK-new");
  EXPECT_EQ(back.value().find(HeaderId::kRoute), nullptr);
  EXPECT_EQ(back.value().body(), m.body());
  EXPECT_EQ(back.value().find("NewFangledHeader")->value,
            "newfangled value\r\n continued newfangled value");
}

TEST(SipMessage, BuildsRequestsAndResponses) {
  auto r = Message::request("OPTIONS", "sip:recorder@192.0.2.7:5060");
  r.add_header("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport");
  r.add_header("Max-Forwards", "70");
  r.add_header("From", "<sip:gw@example.com>;tag=1");
  r.add_header("To", "<sip:recorder@192.0.2.7>");
  r.add_header("Call-ID", "abc@192.0.2.1");
  r.add_header("CSeq", "1 OPTIONS");
  r.set_body("text/plain", "hello");
  auto back = Message::parse(r.serialize()).value();
  EXPECT_TRUE(validate(back));
  EXPECT_EQ(back.body(), "hello");
  EXPECT_EQ(back.vias().value()[0].param("rport").value(), "");
  auto ok = Message::response(200, "OK");
  EXPECT_EQ(ok.serialize().substr(0, 18), "SIP/2.0 200 OK\r\nCo");
  auto c = back.clone();
  EXPECT_EQ(c.serialize(), back.serialize());
}

TEST(SipMessage, StreamFramingAndLimits) {
  const std::string msg =
      "OPTIONS sip:a@b.com SIP/2.0\r\nVia: SIP/2.0/TCP h.com;branch=z9hG4bK1\r\n"
      "l: 5\r\n\r\nhello";
  ParseOptions stream;
  stream.datagram = false;
  EXPECT_EQ(frame_length(msg.substr(0, 20), stream).value(), 0u);
  EXPECT_EQ(frame_length(msg.substr(0, msg.size() - 1), stream).value(), 0u);
  EXPECT_EQ(frame_length("\r\n\r\n" + msg + "NEXT", stream).value(), msg.size() + 4);
  EXPECT_FALSE(frame_length("OPTIONS x SIP/2.0\r\nContent-Length: -1\r\n\r\n", stream));
  EXPECT_FALSE(frame_length("A\r\nl: 1\r\nContent-Length: 1\r\n\r\nx", stream));
  ParseOptions small;
  small.max_header_bytes = 100;
  EXPECT_FALSE(frame_length(std::string(200, 'a'), small)) << "no end of headers within the limit";
  small.max_headers = 2;
  auto many = Message::parse("OPTIONS sip:a@b.com SIP/2.0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", small);
  ASSERT_FALSE(many);
  EXPECT_NE(many.error().message.find("more than 2 header fields"), std::string::npos);
  ParseOptions tiny;
  tiny.max_size = 10;
  EXPECT_EQ(Message::parse(msg, tiny).error().status, 513);
}

}  // namespace
}  // namespace verbatim::sip

namespace verbatim::sip {
namespace {

// Reliability test T32: inputs behind known CVEs in other SIP stacks are rejected cleanly
// (the sanitizer build runs this too). STUN and SRTCP belong to the media layer.
TEST(SipCveRegressions, LongMethodsBrokenSdpAndAddressesAreRejectedCleanly) {
  // AST-2017-style: a huge CSeq method and no Via branch.
  const std::string method(70000, 'A');
  auto huge = Message::parse(
      "OPTIONS sip:a@b.com SIP/2.0\r\nVia: SIP/2.0/UDP h.com\r\n"
      "CSeq: 1 " +
      method + "\r\nContent-Length: 0\r\n\r\n");
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().status, 513);
  ParseOptions big;
  big.max_size = 1 << 20;
  big.max_header_bytes = 1 << 20;
  auto allowed = Message::parse(
      "OPTIONS sip:a@b.com SIP/2.0\r\nVia: SIP/2.0/UDP h.com\r\n"
      "CSeq: 1 " +
          method + "\r\nContent-Length: 0\r\n\r\n",
      big);
  ASSERT_TRUE(allowed);
  auto v = validate(allowed.value());
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().status, 400);
  // CVE-2023-22741-style SDP: an m= line without formats, non-numeric payload types, and
  // a c= line without an address.
  EXPECT_FALSE(parse_sdp("v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nm=audio 4000 RTP/AVP\r\n"));
  auto odd_fmt =
      parse_sdp("v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nm=audio 4000 RTP/AVP x -1 999999\r\n");
  ASSERT_TRUE(odd_fmt);
  EXPECT_FALSE(odd_fmt.value().media[0].rtpmap(-1));
  AnswerOptions o;
  o.address = "192.0.2.1";
  o.ports = {5000};
  EXPECT_EQ(answer_recvonly(odd_fmt.value(), o).value().media[0].port, 0) << "nothing usable";
  EXPECT_FALSE(parse_sdp("v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4\r\n"));
  EXPECT_FALSE(parse_sdp("v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nm=audio 70000 RTP/AVP 0\r\n"));
  // sngrep#327-style: a malformed address in Via/Contact.
  auto bad_via = Message::parse(
      "OPTIONS sip:a@b.com SIP/2.0\r\nVia: SIP/2.0/UDP [::1\r\nFrom: <sip:a@b.com>;tag=1\r\n"
      "To: <sip:a@b.com>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\nContact: <sip:a@[fe80::1%eth0]>\r\n"
      "Content-Length: 0\r\n\r\n");
  ASSERT_TRUE(bad_via);
  EXPECT_GE(problems(bad_via.value()).size(), 2u);
}

}  // namespace
}  // namespace verbatim::sip
