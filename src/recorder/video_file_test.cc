#include "recorder/video_file.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
}

#include "common/test_dir.h"

namespace verbatim::recorder {
namespace {

struct Encoded {
  std::vector<uint8_t> data;
  bool key = false;
};

// `n` frames of a moving 160x120 picture from libavcodec's encoder `name` (libvpx, libx264),
// a keyframe every 10.
std::vector<Encoded> encode(const char* name, int n) {
  const AVCodec* codec = avcodec_find_encoder_by_name(name);
  EXPECT_NE(codec, nullptr) << name;
  if (!codec) return {};
  std::unique_ptr<AVCodecContext, void (*)(AVCodecContext*)> ctx(
      avcodec_alloc_context3(codec), [](AVCodecContext* c) { avcodec_free_context(&c); });
  ctx->width = 160;
  ctx->height = 120;
  ctx->time_base = {1, 25};
  ctx->pix_fmt = AV_PIX_FMT_YUV420P;
  ctx->gop_size = 10;
  ctx->max_b_frames = 0;
  AVDictionary* opts = nullptr;
  if (std::string(name) == "libx264") av_dict_set(&opts, "preset", "ultrafast", 0);
  EXPECT_GE(avcodec_open2(ctx.get(), codec, &opts), 0);
  av_dict_free(&opts);
  std::unique_ptr<AVFrame, void (*)(AVFrame*)> frame(av_frame_alloc(),
                                                     [](AVFrame* f) { av_frame_free(&f); });
  frame->format = AV_PIX_FMT_YUV420P;
  frame->width = 160;
  frame->height = 120;
  EXPECT_GE(av_frame_get_buffer(frame.get(), 0), 0);
  std::unique_ptr<AVPacket, void (*)(AVPacket*)> pkt(av_packet_alloc(),
                                                     [](AVPacket* p) { av_packet_free(&p); });
  std::vector<Encoded> out;
  auto drain = [&] {
    while (avcodec_receive_packet(ctx.get(), pkt.get()) >= 0) {
      out.push_back({std::vector<uint8_t>(pkt->data, pkt->data + pkt->size),
                     (pkt->flags & AV_PKT_FLAG_KEY) != 0});
      av_packet_unref(pkt.get());
    }
  };
  for (int i = 0; i < n; ++i) {
    EXPECT_GE(av_frame_make_writable(frame.get()), 0);
    for (int y = 0; y < 120; ++y) {
      for (int x = 0; x < 160; ++x) {
        frame->data[0][y * frame->linesize[0] + x] = static_cast<uint8_t>(x + y + i * 3);
      }
    }
    for (int p = 1; p < 3; ++p) {
      for (int y = 0; y < 60; ++y) {
        for (int x = 0; x < 80; ++x) frame->data[p][y * frame->linesize[p] + x] = 128;
      }
    }
    frame->pts = i;
    EXPECT_GE(avcodec_send_frame(ctx.get(), frame.get()), 0);
    drain();
  }
  avcodec_send_frame(ctx.get(), nullptr);
  drain();
  return out;
}

// RTP payloads of the frames, as a sender packetizes them (at most 500 bytes each): VP8 with
// a one-byte descriptor (RFC 7741), H.264 as single NAL units or FU-A fragments (RFC 6184).
struct Rtp {
  std::vector<uint8_t> payload;
  int64_t ts = 0;
  bool marker = false;
};

std::vector<Rtp> packetize(bool vp8, const std::vector<Encoded>& frames) {
  std::vector<Rtp> out;
  constexpr size_t kMax = 500;
  for (size_t f = 0; f < frames.size(); ++f) {
    const int64_t ts = static_cast<int64_t>(f) * 3600;
    const auto& d = frames[f].data;
    if (vp8) {
      for (size_t at = 0; at < d.size(); at += kMax) {
        Rtp r{{static_cast<uint8_t>(at == 0 ? 0x10 : 0x00)}, ts, at + kMax >= d.size()};
        r.payload.insert(r.payload.end(), d.begin() + static_cast<ptrdiff_t>(at),
                         d.begin() + static_cast<ptrdiff_t>(std::min(d.size(), at + kMax)));
        out.push_back(std::move(r));
      }
      continue;
    }
    // NAL units between Annex B start codes.
    std::vector<std::pair<size_t, size_t>> nals;
    for (size_t i = 0; i + 3 <= d.size(); ++i) {
      if (d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 1) {
        if (!nals.empty()) nals.back().second = (i > 0 && d[i - 1] == 0) ? i - 1 : i;
        nals.emplace_back(i + 3, d.size());
        i += 2;
      }
    }
    for (size_t n = 0; n < nals.size(); ++n) {
      const auto [from, to] = nals[n];
      const bool last = n + 1 == nals.size();
      if (to - from <= kMax) {
        out.push_back({std::vector<uint8_t>(d.begin() + static_cast<ptrdiff_t>(from),
                                            d.begin() + static_cast<ptrdiff_t>(to)),
                       ts, last});
        continue;
      }
      for (size_t at = from + 1; at < to; at += kMax) {
        const bool end = at + kMax >= to;
        Rtp r{{static_cast<uint8_t>((d[from] & 0xe0) | 28),
               static_cast<uint8_t>((at == from + 1 ? 0x80 : 0) | (end ? 0x40 : 0) |
                                    (d[from] & 0x1f))},
              ts,
              last && end};
        r.payload.insert(r.payload.end(), d.begin() + static_cast<ptrdiff_t>(at),
                         d.begin() + static_cast<ptrdiff_t>(std::min(to, at + kMax)));
        out.push_back(std::move(r));
      }
    }
  }
  return out;
}

std::vector<VideoPacket> as_packets(const std::vector<Rtp>& rtp, size_t skip = SIZE_MAX) {
  std::vector<VideoPacket> out;
  for (size_t i = 0; i < rtp.size(); ++i) {
    if (i == skip) continue;
    out.push_back({static_cast<int64_t>(1000 + i), rtp[i].ts, rtp[i].marker, rtp[i].payload});
  }
  return out;
}

struct Probe {
  std::string format;
  AVCodecID codec = AV_CODEC_ID_NONE;
  int width = 0, height = 0;
  int packets = 0, decoded = 0, errors = 0;
  int64_t first_pts_ms = -1;
};

// The file as libavformat reads it back, every frame through the decoder.
Probe probe(const VideoFile& file, const std::string& path) {
  {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
    std::fwrite(file.bytes.data(), 1, file.bytes.size(), f.get());
  }
  Probe p;
  AVFormatContext* raw = nullptr;
  if (avformat_open_input(&raw, path.c_str(), nullptr, nullptr) < 0) return p;
  std::unique_ptr<AVFormatContext, void (*)(AVFormatContext*)> in(
      raw, [](AVFormatContext* c) { avformat_close_input(&c); });
  avformat_find_stream_info(in.get(), nullptr);
  p.format = in->iformat->name;
  const AVStream* st = in->streams[0];
  p.codec = st->codecpar->codec_id;
  p.width = st->codecpar->width;
  p.height = st->codecpar->height;
  const AVCodec* codec = avcodec_find_decoder(p.codec);
  std::unique_ptr<AVCodecContext, void (*)(AVCodecContext*)> dec(
      avcodec_alloc_context3(codec), [](AVCodecContext* c) { avcodec_free_context(&c); });
  avcodec_parameters_to_context(dec.get(), st->codecpar);
  avcodec_open2(dec.get(), codec, nullptr);
  std::unique_ptr<AVPacket, void (*)(AVPacket*)> pkt(av_packet_alloc(),
                                                     [](AVPacket* x) { av_packet_free(&x); });
  std::unique_ptr<AVFrame, void (*)(AVFrame*)> frame(av_frame_alloc(),
                                                     [](AVFrame* f) { av_frame_free(&f); });
  auto receive = [&] {
    while (avcodec_receive_frame(dec.get(), frame.get()) >= 0) ++p.decoded;
  };
  while (av_read_frame(in.get(), pkt.get()) >= 0) {
    if (p.first_pts_ms < 0) p.first_pts_ms = av_rescale_q(pkt->pts, st->time_base, {1, 1000});
    ++p.packets;
    if (avcodec_send_packet(dec.get(), pkt.get()) < 0) ++p.errors;
    receive();
    av_packet_unref(pkt.get());
  }
  avcodec_send_packet(dec.get(), nullptr);
  receive();
  return p;
}

TEST(VideoFile, Vp8FromRtpBecomesAWebmFileThatDecodesFrameForFrameAtItsPlace) {
  TestDir dir("video-file-vp8");
  const auto frames = encode("libvpx", 30);
  ASSERT_EQ(frames.size(), 30u);
  const auto rtp = packetize(true, frames);
  auto file = mux_video("VP8", as_packets(rtp), 2'000'000'000);  // 2 s into the recording
  ASSERT_TRUE(file) << file.error().message;
  EXPECT_EQ(file.value().format, "video/webm; codecs=vp8");
  EXPECT_EQ(file.value().width, 160);
  EXPECT_EQ(file.value().height, 120);
  EXPECT_EQ(file.value().frames, 30u);
  EXPECT_EQ(file.value().keyframes, 3u);
  EXPECT_EQ(file.value().frames_lost, 0u);
  const Probe p = probe(file.value(), (dir.path() / "a.webm").string());
  EXPECT_EQ(p.format.find("webm") != std::string::npos || p.format.find("matroska") == 0, true)
      << p.format;
  EXPECT_EQ(p.codec, AV_CODEC_ID_VP8);
  EXPECT_EQ(p.width, 160);
  EXPECT_EQ(p.packets, 30);
  EXPECT_EQ(p.decoded, 30);
  EXPECT_EQ(p.errors, 0);
  EXPECT_EQ(p.first_pts_ms, 2000);
}

TEST(VideoFile, H264FromSingleNalsAndFuAsBecomesAnMp4AndALossSkipsToTheNextKeyframe) {
  TestDir dir("video-file-h264");
  const auto frames = encode("libx264", 30);
  ASSERT_EQ(frames.size(), 30u);
  const auto rtp = packetize(false, frames);
  auto file = mux_video("H264", as_packets(rtp), 0);
  ASSERT_TRUE(file) << file.error().message;
  EXPECT_EQ(file.value().format, "video/mp4; codecs=avc1");
  EXPECT_EQ(file.value().width, 160);
  EXPECT_EQ(file.value().frames, 30u);
  Probe p = probe(file.value(), (dir.path() / "a.mp4").string());
  EXPECT_EQ(p.codec, AV_CODEC_ID_H264);
  EXPECT_EQ(p.height, 120);
  EXPECT_EQ(p.decoded, 30);
  EXPECT_EQ(p.errors, 0);
  // A packet of frame 3 lost: frames 3 to 9 are left out (they need it), 10 is a keyframe.
  size_t lost = 0;
  while (rtp[lost].ts != 3 * 3600) ++lost;
  auto damaged = mux_video("H264", as_packets(rtp, lost), 0);
  ASSERT_TRUE(damaged) << damaged.error().message;
  EXPECT_EQ(damaged.value().frames, 23u);
  EXPECT_GE(damaged.value().frames_lost, 6u);  // 4 to 9, and 3 if some of it came
  p = probe(damaged.value(), (dir.path() / "b.mp4").string());
  EXPECT_EQ(p.decoded, 23);
  EXPECT_EQ(p.errors, 0);
  // No keyframe at all, and a codec with no container here: clear errors.
  auto none =
      mux_video("H264", as_packets(std::vector<Rtp>(rtp.begin() + 10, rtp.begin() + 12)), 0);
  EXPECT_FALSE(none);
  EXPECT_FALSE(mux_video("H263-1998", as_packets(rtp), 0));
}

}  // namespace
}  // namespace verbatim::recorder
