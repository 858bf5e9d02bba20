#include "sip/sdp.h"

#include <gtest/gtest.h>

namespace verbatim::sip {
namespace {

// A SIPREC-style offer: two labelled audio streams from an SBC, one SRTP.
const char* kOffer =
    "v=0\r\n"
    "o=SBC 1234 5678 IN IP4 192.0.2.10\r\n"
    "s=SIPREC\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\n"
    "m=audio 20000 RTP/AVP 0 8 18 101\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\n"
    "a=label:1\r\n"
    "a=sendonly\r\n"
    "m=audio 20002 RTP/SAVP 96 9\r\n"
    "c=IN IP6 2001:db8::10\r\n"
    "a=rtpmap:96 opus/48000/2\r\n"
    "a=fmtp:96 useinbandfec=1\r\n"
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32 "
    "KDR=1\r\n"
    "a=label:2\r\n"
    "a=sendonly\r\n"
    "m=video 0 RTP/AVP 31\r\n"
    "a=label:3\r\n";

TEST(Sdp, ParsesSessionAndMediaAndRoundTrips) {
  auto s = parse_sdp(kOffer);
  ASSERT_TRUE(s) << s.error().message;
  const auto& sdp = s.value();
  EXPECT_EQ(sdp.origin.session_id, "1234");
  ASSERT_EQ(sdp.media.size(), 3u);
  EXPECT_EQ(sdp.media[0].port, 20000);
  EXPECT_EQ(sdp.media[0].formats, (std::vector<std::string>{"0", "8", "18", "101"}));
  EXPECT_EQ(sdp.media[0].label().value(), "1");
  EXPECT_EQ(sdp.media[0].direction(), Direction::kSendOnly);
  EXPECT_EQ(sdp.media[0].rtpmap(0)->encoding, "PCMU");  // static payload type
  EXPECT_EQ(sdp.media[0].rtpmap(101)->encoding, "telephone-event");
  EXPECT_EQ(sdp.media[0].fmtp(101).value(), "0-15");
  EXPECT_EQ(sdp.media[1].rtpmap(96)->channels, 2);
  EXPECT_EQ(sdp.connection_for(sdp.media[1])->addr_type, "IP6");
  const auto crypto = sdp.media[1].cryptos();
  ASSERT_EQ(crypto.size(), 1u);
  EXPECT_EQ(crypto[0].suite, "AES_CM_128_HMAC_SHA1_80");
  EXPECT_EQ(crypto[0].key_params, "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32");
  EXPECT_EQ(crypto[0].session_params, "KDR=1");
  EXPECT_EQ(serialize_sdp(sdp), kOffer);
  // LF line ends read the same.
  std::string lf = kOffer;
  for (size_t i; (i = lf.find("\r\n")) != std::string::npos;) lf.erase(i, 1);
  EXPECT_EQ(serialize_sdp(parse_sdp(lf).value()), kOffer);
}

TEST(Sdp, AnswersEveryStreamReceiveOnlyWithItsLabel) {
  const auto offer = parse_sdp(kOffer).value();
  AnswerOptions o;
  o.address = "198.51.100.20";
  o.session_id = 42;
  o.ports = {30000, 30002, 30004};
  o.codecs = {"opus", "PCMA", "PCMU"};
  auto a = answer_recvonly(offer, o);
  ASSERT_TRUE(a) << a.error().message;
  const auto& ans = a.value();
  ASSERT_EQ(ans.media.size(), 3u);
  EXPECT_EQ(ans.media[0].port, 30000);
  EXPECT_EQ(ans.media[0].formats, (std::vector<std::string>{"0", "8", "101"}));  // offer order
  EXPECT_EQ(ans.media[0].direction(), Direction::kRecvOnly);
  EXPECT_EQ(ans.media[0].label().value(), "1");
  EXPECT_EQ(ans.media[1].formats, std::vector<std::string>{"96"}) << "G722 is not in our list";
  EXPECT_EQ(ans.media[1].fmtp(96).value(), "useinbandfec=1");
  EXPECT_EQ(ans.media[1].label().value(), "2");
  EXPECT_EQ(ans.media[2].port, 0) << "port 0 in the offer: rejected";
  // The answer is itself valid SDP.
  EXPECT_TRUE(parse_sdp(serialize_sdp(ans)));
}

TEST(Sdp, HoldAndInactiveAndUnsupportedCodecs) {
  auto held = parse_sdp(
                  "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
                  "m=audio 4000 RTP/AVP 0\r\nm=audio 4002 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\n"
                  "a=inactive\r\nm=audio 4004 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\na=recvonly\r\n"
                  "m=audio 4006 RTP/AVP 97\r\nc=IN IP4 192.0.2.1\r\na=rtpmap:97 AMR/8000\r\n")
                  .value();
  EXPECT_TRUE(held.is_hold(held.media[0])) << "c=0.0.0.0";
  EXPECT_TRUE(held.is_hold(held.media[1])) << "inactive";
  EXPECT_FALSE(held.is_hold(held.media[2]));
  AnswerOptions o;
  o.address = "2001:db8::20";
  o.ports = {1, 2, 3, 4};
  const auto a = answer_recvonly(held, o).value();
  EXPECT_EQ(a.connection->addr_type, "IP6");
  EXPECT_EQ(a.media[1].direction(), Direction::kInactive);
  EXPECT_EQ(a.media[2].direction(), Direction::kInactive) << "the offerer only receives";
  EXPECT_EQ(a.media[3].port, 0) << "AMR is not supported";
}

TEST(Sdp, RejectsMalformedWithTheLine) {
  struct Bad {
    const char* sdp;
    const char* says;
  };
  for (const Bad& b :
       {Bad{"", "empty"}, Bad{"o=- 1 1 IN IP4 a\r\n", "start with v=0"},
        Bad{"v=1\r\n", "v= must be 0"}, Bad{"v=0\r\ns=x\r\n", "no o="},
        Bad{"v=0\r\no=- 1\r\n", "line 2: o= needs 6 fields"},
        Bad{"v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nm=audio x RTP/AVP 0\r\n", "bad port"},
        Bad{"v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IPX a\r\n", "address type"},
        Bad{"v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nxyz\r\n", "expected '<type>=<value>'"}}) {
    auto s = parse_sdp(b.sdp);
    ASSERT_FALSE(s) << b.sdp;
    EXPECT_NE(s.error().message.find(b.says), std::string::npos) << s.error().message;
  }
}

}  // namespace
}  // namespace verbatim::sip
