#include "media/srtp.h"

#include <cstring>

#include <gtest/gtest.h>

namespace verbatim::media {
namespace {

// A packet as a recording client sends it, protected with the sending side.
std::vector<uint8_t> srtp_packet(SrtpSender& tx, uint16_t seq) {
  std::vector<uint8_t> p(12 + 160, 0);
  p[0] = 0x80;
  p[2] = static_cast<uint8_t>(seq >> 8);
  p[3] = static_cast<uint8_t>(seq);
  p[11] = 0x42;
  for (int i = 0; i < 160; ++i) p[12 + i] = static_cast<uint8_t>(seq + i);
  EXPECT_TRUE(tx.protect(p, false));
  return p;
}

TEST(Srtp, SdesKeysParseOrSayWhatIsWrong) {
  const std::string mine = new_sdes_inline("AES_CM_128_HMAC_SHA1_80");
  auto k = parse_sdes_key("AES_CM_128_HMAC_SHA1_80", mine);
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_EQ(k.value().key_salt.size(), 30u);
  EXPECT_NE(new_sdes_inline("AES_CM_128_HMAC_SHA1_80"), mine);
  // RFC 4568 §9.1's example line, with a lifetime.
  EXPECT_TRUE(parse_sdes_key("AES_CM_128_HMAC_SHA1_32",
                             "inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20"));
  EXPECT_TRUE(
      parse_sdes_key("AES_CM_128_HMAC_SHA1_80", "NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj"));
  struct Bad {
    const char* suite;
    const char* params;
    const char* says;
  };
  for (const Bad& b : {Bad{"F8_128_HMAC_SHA1_80", mine.c_str(), "not supported"},
                       Bad{"AES_CM_128_HMAC_SHA1_80", "inline:!!!!", "base64"},
                       Bad{"AES_CM_128_HMAC_SHA1_80", "inline:AAAA", "not 30"},
                       Bad{"AES_CM_128_HMAC_SHA1_80",
                           "inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20|1:4", "MKI"}}) {
    auto r = parse_sdes_key(b.suite, b.params);
    ASSERT_FALSE(r) << b.params;
    EXPECT_NE(r.error().message.find(b.says), std::string::npos) << r.error().message;
  }
}

// T13: packets with a wrong tag (or from a wrong key) are refused; replays too; good ones
// decrypt to exactly what was sent.
TEST(Srtp, AuthenticatesDecryptsAndRefusesForgeriesAndReplays) {
  for (const char* suite : {"AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"}) {
    const SdesKey key = parse_sdes_key(suite, new_sdes_inline(suite)).value();
    auto tx = SrtpSender::create(key).value();
    auto rx = SrtpReceiver::create(key).value();
    for (uint16_t seq = 100; seq < 110; ++seq) {
      auto p = srtp_packet(*tx, seq);
      size_t n = p.size();
      ASSERT_EQ(rx->unprotect(p.data(), n, false), SrtpReceiver::Outcome::kOk) << suite;
      ASSERT_EQ(n, 172u);
      EXPECT_EQ(p[12 + 5], static_cast<uint8_t>(seq + 5));
    }
    auto forged = srtp_packet(*tx, 110);
    forged.back() ^= 1;
    size_t n = forged.size();
    EXPECT_EQ(rx->unprotect(forged.data(), n, false), SrtpReceiver::Outcome::kAuthFailed);
    auto good = srtp_packet(*tx, 111);
    auto replay = good;
    n = good.size();
    EXPECT_EQ(rx->unprotect(good.data(), n, false), SrtpReceiver::Outcome::kOk);
    n = replay.size();
    EXPECT_EQ(rx->unprotect(replay.data(), n, false), SrtpReceiver::Outcome::kReplay);
    // Another key (an attacker who saw the SDP of another call).
    auto other = SrtpSender::create(parse_sdes_key(suite, new_sdes_inline(suite)).value()).value();
    auto foreign = srtp_packet(*other, 112);
    n = foreign.size();
    EXPECT_EQ(rx->unprotect(foreign.data(), n, false), SrtpReceiver::Outcome::kAuthFailed);
    std::vector<uint8_t> c = {0x80, 201, 0x00, 0x01, 0x00, 0x00, 0x00, 0x42};
    ASSERT_TRUE(tx->protect(c, true));
    n = c.size();
    EXPECT_EQ(rx->unprotect(c.data(), n, true), SrtpReceiver::Outcome::kOk);
    EXPECT_EQ(n, 8u);
    uint8_t tiny[4] = {0x80, 0, 0, 1};
    n = sizeof tiny;
    EXPECT_EQ(rx->unprotect(tiny, n, false), SrtpReceiver::Outcome::kMalformed);
  }
}

}  // namespace
}  // namespace verbatim::media
