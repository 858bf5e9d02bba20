#include "media/video.h"

#include <gtest/gtest.h>

namespace verbatim::media {
namespace {

std::vector<uint8_t> packet(uint16_t seq, uint32_t ts, uint32_t ssrc, std::vector<uint8_t> payload,
                            uint8_t pt = 96) {
  std::vector<uint8_t> p(12, 0);
  write_rtp_header(p, pt, false, seq, ts, ssrc);
  p.insert(p.end(), payload.begin(), payload.end());
  return p;
}

TEST(Video, TellsVp8KeyframesFromTheirPayloadDescriptor) {
  // S=1, partition 0, no extension; then the VP8 header with P=0 (key) or P=1 (inter).
  EXPECT_TRUE(video_keyframe("VP8", std::vector<uint8_t>{0x10, 0x50, 0x2a}));
  EXPECT_FALSE(video_keyframe("VP8", std::vector<uint8_t>{0x10, 0x51, 0x2a}));
  // Not the start of a partition, or partition 1.
  EXPECT_FALSE(video_keyframe("vp8", std::vector<uint8_t>{0x00, 0x50}));
  EXPECT_FALSE(video_keyframe("VP8", std::vector<uint8_t>{0x11, 0x50}));
  // Extended: I with a 15-bit picture id, L and T: four more bytes before the VP8 header.
  EXPECT_TRUE(
      video_keyframe("VP8", std::vector<uint8_t>{0x90, 0xe0, 0x80, 0x01, 0x05, 0x20, 0x50}));
  EXPECT_FALSE(
      video_keyframe("VP8", std::vector<uint8_t>{0x90, 0xe0, 0x80, 0x01, 0x05, 0x20, 0x51}));
  // Cut short anywhere: never a keyframe, never a read past the end.
  EXPECT_FALSE(video_keyframe("VP8", std::vector<uint8_t>{0x90, 0xe0, 0x80}));
  EXPECT_FALSE(video_keyframe("VP8", std::vector<uint8_t>{}));
}

TEST(Video, TellsH264KeyframesAloneInAStapAAndInAFuA) {
  EXPECT_TRUE(video_keyframe("H264", std::vector<uint8_t>{0x65, 0x88}));   // IDR
  EXPECT_TRUE(video_keyframe("H264", std::vector<uint8_t>{0x67, 0x42}));   // SPS
  EXPECT_FALSE(video_keyframe("H264", std::vector<uint8_t>{0x41, 0x9a}));  // a P slice
  // STAP-A: an SEI (6) then an SPS.
  EXPECT_TRUE(
      video_keyframe("H264", std::vector<uint8_t>{0x18, 0, 2, 0x06, 0x05, 0, 2, 0x67, 0x42}));
  EXPECT_FALSE(video_keyframe("H264", std::vector<uint8_t>{0x18, 0, 2, 0x06, 0x05, 0, 9, 0x67}));
  // FU-A: the first fragment of an IDR is; a later one is not.
  EXPECT_TRUE(video_keyframe("H264", std::vector<uint8_t>{0x7c, 0x85, 0x00}));
  EXPECT_FALSE(video_keyframe("H264", std::vector<uint8_t>{0x7c, 0x05, 0x00}));
  EXPECT_FALSE(video_keyframe("H263", std::vector<uint8_t>{0x65}));
}

TEST(Video, KeyframeRequestsRoundTripAndAreFoundInACompoundPacket) {
  std::vector<uint8_t> pli, fir;
  write_keyframe_request(pli, 0x11111111, 0xabcdef01, false, 0);
  write_keyframe_request(fir, 0x11111111, 0x22222222, true, 7);
  EXPECT_EQ(pli.size(), 20u);
  EXPECT_EQ(fir.size(), 28u);
  EXPECT_EQ(keyframe_requests(pli), std::vector<uint32_t>{0xabcdef01});
  EXPECT_EQ(keyframe_requests(fir), std::vector<uint32_t>{0x22222222});
  EXPECT_EQ(fir[fir.size() - 4], 7);
  // Both are RTCP our own parser takes (the RR first, the feedback skipped by its length).
  auto parsed = parse_rtcp(fir);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed.value().front().type, RtcpPacket::kRr);
  // A receiver report with no feedback, and a feedback packet whose length runs past the end.
  EXPECT_TRUE(keyframe_requests(std::vector<uint8_t>(pli.begin(), pli.begin() + 8)).empty());
  auto cut = pli;
  cut[11] = 9;
  EXPECT_TRUE(keyframe_requests(cut).empty());
}

TEST(Video, AReceiverSwitchesAtTheNewSendersKeyframeAndItsStreamRunsOn) {
  StreamSwitch sw(0x5eed, 1000, 50000);
  std::vector<uint8_t> out;
  auto send = [&](uint64_t sender, uint16_t seq, uint32_t ts, bool key) {
    auto p = packet(seq, ts, static_cast<uint32_t>(sender * 0x1000), {0x10, 0x50});
    auto parsed = parse_rtp(p);
    EXPECT_TRUE(parsed);
    return sw.forward(sender, parsed.value(), p, key, 100, out);
  };
  EXPECT_FALSE(send(1, 10, 900000, true));  // nothing wanted yet
  sw.want(1);
  EXPECT_FALSE(send(1, 11, 903000, false));  // waits for a keyframe
  ASSERT_TRUE(send(1, 12, 906000, true));
  auto first = parse_rtp(out).value();
  EXPECT_EQ(first.ssrc, 0x5eedu);
  EXPECT_EQ(first.payload_type, 100);
  EXPECT_EQ(first.sequence, 1000);
  EXPECT_EQ(first.timestamp, 53000u);
  ASSERT_TRUE(send(1, 13, 909000, false));
  EXPECT_EQ(parse_rtp(out).value().sequence, 1001);
  EXPECT_EQ(parse_rtp(out).value().timestamp, 56000u);
  // Another sender is wanted: the first stays shown until the second's keyframe.
  sw.want(2);
  EXPECT_FALSE(send(2, 500, 7000, false));
  EXPECT_TRUE(send(1, 14, 912000, false));
  EXPECT_TRUE(send(2, 501, 10000, true));
  auto switched = parse_rtp(out).value();
  EXPECT_EQ(switched.sequence, 1003);
  EXPECT_EQ(switched.timestamp, 59000u + 3000u);
  EXPECT_EQ(switched.ssrc, 0x5eedu);
  EXPECT_FALSE(send(1, 15, 915000, false));  // the old one is no longer shown
  EXPECT_FALSE(send(2, 499, 4000, false));   // from before the switch
  EXPECT_EQ(sw.switches(), 2u);
  sw.want(0);
  EXPECT_FALSE(send(2, 502, 13000, false));
}

}  // namespace
}  // namespace verbatim::media
