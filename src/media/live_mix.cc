#include "media/live_mix.h"

#include <opus/opus.h>

#include <algorithm>
#include <array>
#include <cstdlib>

#include "common/strings.h"
#include "media/rtp.h"

namespace verbatim::media {

namespace {
constexpr int64_t kNsPerFrame = 20'000'000;
constexpr int64_t kRejoinSamples = LiveMix::kRate / 5;  // 200 ms
}  // namespace

Result<std::unique_ptr<LiveMix>> LiveMix::create(std::vector<LiveStream> streams, int64_t join_ns,
                                                 std::chrono::milliseconds delay) {
  std::unique_ptr<LiveMix> m(new LiveMix());
  for (auto& s : streams) m->streams_.push_back(Stream{std::move(s), {}, {}, std::nullopt});
  m->join_ns_ = join_ns;
  m->delay_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(delay).count();
  int err = 0;
  m->enc_ = opus_encoder_create(kRate, 1, OPUS_APPLICATION_VOIP, &err);
  if (!m->enc_) {
    return make_error(ErrorCode::kInternal,
                      std::string("Opus encoder could not be created: ") + opus_strerror(err));
  }
  opus_encoder_ctl(m->enc_, OPUS_SET_BITRATE(24000));
  opus_encoder_ctl(m->enc_, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
  return m;
}

LiveMix::~LiveMix() {
  if (enc_) opus_encoder_destroy(enc_);
}

Status LiveMix::feed(std::span<const uint8_t> pcap) {
  return reader_.feed(pcap, [this](const PcapRecord& r) {
    if (r.ns < join_ns_ - delay_ns_) return;  // before the listener joined
    for (auto& s : streams_) {
      if (s.spec.port == r.to.port) {
        place(s, r);
        return;
      }
    }
  });
}

void LiveMix::place(Stream& s, const PcapRecord& r) {
  if (r.payload.empty() || classify(r.payload) != PacketKind::kRtp) return;
  auto rtp = parse_rtp(r.payload);
  if (!rtp) return;
  auto enc = s.spec.payloads.find(rtp.value().payload_type);
  if (enc == s.spec.payloads.end()) return;
  const std::string encoding = enc->second.substr(0, enc->second.find('/'));
  if (!can_decode(encoding)) return;  // telephone events, comfort noise, codecs kept as evidence
  auto& dec = s.decoders[rtp.value().payload_type];
  if (!dec) {
    auto made = make_decoder(encoding);
    if (!made) return;
    dec = std::move(made).value();
  }
  std::vector<int16_t> pcm;
  if (!dec->decode(rtp.value().payload, pcm)) return;
  std::vector<int16_t> at_rate;
  if (dec->sample_rate() != kRate) {
    auto& rs = s.resamplers[dec->sample_rate()];
    if (!rs) {
      auto made = Resampler::create(dec->sample_rate(), kRate);
      if (!made) return;
      rs = std::move(made).value();
    }
    rs->process(pcm, at_rate);
  } else {
    at_rate = std::move(pcm);
  }
  ++decoded_;
  if (origin_ns_ < 0) origin_ns_ = r.ns - r.ns % kNsPerFrame;
  const int64_t arrival = sample_at(r.ns);
  if (!s.cursor || std::llabs(arrival - *s.cursor) > kRejoinSamples) s.cursor = arrival;
  int64_t& at = *s.cursor;
  bool dropped = false;
  for (int16_t v : at_rate) {
    // Before the first packet (the clock stepped back) or in 20 ms already sent: dropped.
    if (at < 0 || at / kFrame < next_frame_) {
      dropped = true;
      ++at;
      continue;
    }
    auto& f = mix_[at / kFrame];
    if (f.empty()) f.assign(kFrame, 0);
    f[static_cast<size_t>(at % kFrame)] += v;
    ++at;
  }
  if (dropped) ++late_;
}

Result<std::vector<LiveFrame>> LiveMix::frames(int64_t now_ns) {
  std::vector<LiveFrame> out;
  if (origin_ns_ < 0) return out;
  // A listener that fell far behind (the loop stalled) skips ahead rather than lag for ever.
  const int64_t due = (now_ns - delay_ns_ - origin_ns_) / kNsPerFrame;
  if (due - next_frame_ > 250) next_frame_ = due - 50;
  std::vector<int16_t> pcm(kFrame);
  std::array<uint8_t, 400> packet{};
  for (; next_frame_ < due; ++next_frame_) {
    LiveFrame f;
    f.capture_ns = origin_ns_ + next_frame_ * kNsPerFrame;
    auto it = mix_.find(next_frame_);
    for (size_t i = 0; i < pcm.size(); ++i) {
      const int32_t v = it == mix_.end() ? 0 : it->second[i];
      pcm[i] = static_cast<int16_t>(std::clamp(v, -32768, 32767));
      if (std::abs(pcm[i]) > 327) f.sound = true;
    }
    if (it != mix_.end()) mix_.erase(it);
    const opus_int32 n = opus_encode(enc_, pcm.data(), kFrame, packet.data(),
                                     static_cast<opus_int32>(packet.size()));
    if (n < 0) return make_error(ErrorCode::kInternal, std::string("Opus: ") + opus_strerror(n));
    f.opus.assign(packet.begin(), packet.begin() + n);
    out.push_back(std::move(f));
  }
  // Anything left before what was sent came too late.
  while (!mix_.empty() && mix_.begin()->first < next_frame_) mix_.erase(mix_.begin());
  return out;
}

}  // namespace verbatim::media
