#include "recorder/video_file.h"

#include <memory>
#include <optional>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/mem.h>
}

#include "common/strings.h"
#include "media/video.h"

namespace verbatim::recorder {

namespace {

struct Frame {
  int64_t timestamp = 0;
  std::vector<uint8_t> data;
  bool key = false;
  bool broken = false;
};

constexpr std::array<uint8_t, 4> kStart = {0, 0, 0, 1};

// Appends one packet's part of a frame; false when the packet cannot be part of it.
bool add_vp8(Frame& f, std::span<const uint8_t> p, bool first) {
  const size_t d = media::vp8_descriptor_size(p);
  if (d == 0) return false;
  const bool start = (p[0] & 0x10) && (p[0] & 0x07) == 0;
  if (first != start) return false;
  if (first) f.key = media::video_keyframe("VP8", p);
  f.data.insert(f.data.end(), p.begin() + static_cast<ptrdiff_t>(d), p.end());
  return true;
}

struct H264State {
  bool in_fu = false;
  std::vector<uint8_t> sps, pps;  // the first of each, for the MP4's decoder configuration
};

void add_nal(Frame& f, H264State& h, std::span<const uint8_t> nal) {
  if (nal.empty()) return;
  const uint8_t type = nal[0] & 0x1f;
  if (type == 5) f.key = true;
  if (type == 7 && h.sps.empty()) h.sps.assign(nal.begin(), nal.end());
  if (type == 8 && h.pps.empty()) h.pps.assign(nal.begin(), nal.end());
  f.data.insert(f.data.end(), kStart.begin(), kStart.end());
  f.data.insert(f.data.end(), nal.begin(), nal.end());
}

bool add_h264(Frame& f, H264State& h, std::span<const uint8_t> p) {
  if (p.empty()) return false;
  const uint8_t type = p[0] & 0x1f;
  if (type >= 1 && type <= 23) {
    if (h.in_fu) return false;
    add_nal(f, h, p);
    return true;
  }
  if (type == 24) {  // STAP-A
    for (size_t i = 1; i + 2 <= p.size();) {
      const size_t size = static_cast<size_t>(p[i]) << 8 | p[i + 1];
      if (size == 0 || i + 2 + size > p.size()) return false;
      add_nal(f, h, p.subspan(i + 2, size));
      i += 2 + size;
    }
    return true;
  }
  if (type == 28 && p.size() >= 2) {  // FU-A: the NAL's header is rebuilt from the first
    const bool start = (p[1] & 0x80) != 0, end = (p[1] & 0x40) != 0;
    if (start == h.in_fu) return false;
    const uint8_t nal_type = p[1] & 0x1f;
    if (start) {
      f.data.insert(f.data.end(), kStart.begin(), kStart.end());
      f.data.push_back(static_cast<uint8_t>((p[0] & 0xe0) | nal_type));
      if (nal_type == 5) f.key = true;
      h.in_fu = true;
    }
    f.data.insert(f.data.end(), p.begin() + 2, p.end());
    if (end) h.in_fu = false;
    return true;
  }
  return false;
}

// The picture size: from a VP8 keyframe's header (RFC 6386 §9.1), or H.264's SPS through
// libavcodec's parser.
bool dimensions(bool vp8, const Frame& key, int& width, int& height) {
  if (vp8) {
    const auto& d = key.data;
    if (d.size() < 10 || d[3] != 0x9d || d[4] != 0x01 || d[5] != 0x2a) return false;
    width = (d[6] | d[7] << 8) & 0x3fff;
    height = (d[8] | d[9] << 8) & 0x3fff;
    return width > 0 && height > 0;
  }
  std::unique_ptr<AVCodecParserContext, decltype(&av_parser_close)> parser(
      av_parser_init(AV_CODEC_ID_H264), &av_parser_close);
  std::unique_ptr<AVCodecContext, void (*)(AVCodecContext*)> ctx(
      avcodec_alloc_context3(nullptr), [](AVCodecContext* c) { avcodec_free_context(&c); });
  if (!parser || !ctx) return false;
  parser->flags |= PARSER_FLAG_COMPLETE_FRAMES;
  std::vector<uint8_t> padded(key.data);
  padded.resize(key.data.size() + AV_INPUT_BUFFER_PADDING_SIZE, 0);
  uint8_t* out = nullptr;
  int out_size = 0;
  av_parser_parse2(parser.get(), ctx.get(), &out, &out_size, padded.data(),
                   static_cast<int>(key.data.size()), AV_NOPTS_VALUE, AV_NOPTS_VALUE, 0);
  width = parser->width > 0 ? parser->width : ctx->width;
  height = parser->height > 0 ? parser->height : ctx->height;
  return width > 0 && height > 0;
}

std::string av_message(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, text, sizeof(text));
  return text;
}

}  // namespace

bool muxable_video(std::string_view encoding) {
  return iequals(encoding, "VP8") || iequals(encoding, "H264");
}

Result<VideoFile> mux_video(std::string_view encoding, std::span<const VideoPacket> packets,
                            int64_t offset_ns) {
  if (!muxable_video(encoding)) {
    return make_error(ErrorCode::kInvalidArgument, "no video file for " + std::string(encoding));
  }
  const bool vp8 = iequals(encoding, "VP8");
  // Frames, keyframe to keyframe; after a loss, nothing until the next keyframe.
  std::vector<Frame> frames;
  VideoFile file;
  H264State h264;
  std::optional<int64_t> last_seq;
  bool need_key = true;
  Frame current;
  bool open = false;
  auto close = [&] {
    if (!open) return;
    open = false;
    if (current.broken || h264.in_fu) need_key = true;
    h264.in_fu = false;
    if (!current.broken && !current.data.empty() && (current.key || !need_key)) {
      if (current.key) need_key = false;
      frames.push_back(std::move(current));
    } else {
      ++file.frames_lost;
    }
    current = Frame{};
  };
  for (const auto& p : packets) {
    const bool gap = last_seq && p.sequence != *last_seq + 1;
    last_seq = p.sequence;
    if (gap && !open) need_key = true;  // a whole frame, or the start of this one, is missing
    if (open && (p.timestamp != current.timestamp || gap)) {
      if (gap) current.broken = true;
      close();
    }
    const bool first = !open;
    if (first) {
      open = true;
      current.timestamp = p.timestamp;
    }
    const bool ok = vp8 ? add_vp8(current, p.payload, first) : add_h264(current, h264, p.payload);
    if (!ok) current.broken = true;
    if (p.marker) close();
  }
  close();
  if (frames.empty()) return make_error(ErrorCode::kNotFound, "no keyframe in the stream");
  if (!dimensions(vp8, frames.front(), file.width, file.height)) {
    return make_error(ErrorCode::kInvalidArgument, "the first keyframe gives no picture size");
  }

  AVFormatContext* raw = nullptr;
  if (int e = avformat_alloc_output_context2(&raw, nullptr, vp8 ? "webm" : "mp4", nullptr); e < 0) {
    return make_error(ErrorCode::kInternal, "libavformat: " + av_message(e));
  }
  std::unique_ptr<AVFormatContext, void (*)(AVFormatContext*)> oc(raw, [](AVFormatContext* c) {
    if (c->pb) {
      uint8_t* buffer = nullptr;
      avio_close_dyn_buf(c->pb, &buffer);
      av_free(buffer);
    }
    avformat_free_context(c);
  });
  AVStream* st = avformat_new_stream(oc.get(), nullptr);
  if (!st) return make_error(ErrorCode::kInternal, "libavformat: no stream");
  st->time_base = {1, 90000};
  st->codecpar->codec_type = AVMEDIA_TYPE_VIDEO;
  st->codecpar->codec_id = vp8 ? AV_CODEC_ID_VP8 : AV_CODEC_ID_H264;
  st->codecpar->width = file.width;
  st->codecpar->height = file.height;
  if (!vp8) {
    if (h264.sps.empty() || h264.pps.empty()) {
      return make_error(ErrorCode::kInvalidArgument, "no SPS and PPS in the H.264 stream");
    }
    std::vector<uint8_t> extra;
    for (const auto* nal : {&h264.sps, &h264.pps}) {
      extra.insert(extra.end(), kStart.begin(), kStart.end());
      extra.insert(extra.end(), nal->begin(), nal->end());
    }
    st->codecpar->extradata =
        static_cast<uint8_t*>(av_mallocz(extra.size() + AV_INPUT_BUFFER_PADDING_SIZE));
    if (!st->codecpar->extradata) return make_error(ErrorCode::kInternal, "out of memory");
    std::copy(extra.begin(), extra.end(), st->codecpar->extradata);
    st->codecpar->extradata_size = static_cast<int>(extra.size());
  }
  if (int e = avio_open_dyn_buf(&oc->pb); e < 0) {
    return make_error(ErrorCode::kInternal, "libavformat: " + av_message(e));
  }
  AVDictionary* options = nullptr;
  if (!vp8) av_dict_set(&options, "movflags", "frag_keyframe+empty_moov+default_base_moof", 0);
  const int header = avformat_write_header(oc.get(), &options);
  av_dict_free(&options);
  if (header < 0) return make_error(ErrorCode::kInternal, "libavformat: " + av_message(header));

  const int64_t first_ts = frames.front().timestamp;
  const int64_t offset = offset_ns / 1000 * 9 / 100;  // 90 kHz ticks
  std::unique_ptr<AVPacket, void (*)(AVPacket*)> pkt(av_packet_alloc(),
                                                     [](AVPacket* p) { av_packet_free(&p); });
  if (!pkt) return make_error(ErrorCode::kInternal, "out of memory");
  std::optional<int64_t> last_pts;
  for (size_t i = 0; i < frames.size(); ++i) {
    const Frame& f = frames[i];
    const int64_t pts = offset + f.timestamp - first_ts;
    if (last_pts && pts <= *last_pts) {  // a timestamp going back: not playable in order
      ++file.frames_lost;
      continue;
    }
    if (av_new_packet(pkt.get(), static_cast<int>(f.data.size())) < 0) {
      return make_error(ErrorCode::kInternal, "out of memory");
    }
    std::copy(f.data.begin(), f.data.end(), pkt->data);
    pkt->pts = pkt->dts = av_rescale_q(pts, {1, 90000}, st->time_base);
    const int64_t next = i + 1 < frames.size() ? frames[i + 1].timestamp - f.timestamp : 3000;
    pkt->duration = av_rescale_q(next > 0 ? next : 3000, {1, 90000}, st->time_base);
    pkt->stream_index = st->index;
    if (f.key) pkt->flags |= AV_PKT_FLAG_KEY;
    if (int e = av_write_frame(oc.get(), pkt.get()); e < 0) {
      return make_error(ErrorCode::kInternal, "libavformat: " + av_message(e));
    }
    av_packet_unref(pkt.get());
    last_pts = pts;
    ++file.frames;
    if (f.key) ++file.keyframes;
  }
  if (int e = av_write_trailer(oc.get()); e < 0) {
    return make_error(ErrorCode::kInternal, "libavformat: " + av_message(e));
  }
  uint8_t* buffer = nullptr;
  const int size = avio_close_dyn_buf(oc->pb, &buffer);
  oc->pb = nullptr;
  file.bytes.assign(reinterpret_cast<const char*>(buffer), static_cast<size_t>(std::max(size, 0)));
  av_free(buffer);
  file.duration_s = last_pts ? static_cast<double>(*last_pts - offset) / 90000.0 : 0;
  file.format = vp8 ? "video/webm; codecs=vp8" : "video/mp4; codecs=avc1";
  return file;
}

}  // namespace verbatim::recorder
