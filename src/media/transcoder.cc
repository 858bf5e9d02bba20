#include "media/transcoder.h"

#include <random>

#include "common/strings.h"
#include "media/rtp.h"

namespace verbatim::media {

namespace {

constexpr int kMaxConcealedFrames = 5;  // a longer gap is a new talkspurt: nothing made up

bool is_opus(const std::string& encoding) { return iequals(encoding, "opus"); }

// The rate the codec is decoded or encoded at here: Opus at the other side's rate, which it can
// take natively (8, 16, 24 kHz), so no resampler is needed between them.
int working_rate(const std::string& encoding, const std::string& other) {
  if (!is_opus(encoding)) return decoded_rate(encoding);
  const int r = decoded_rate(other);
  return r == 8000 || r == 16000 || r == 24000 ? r : 48000;
}

}  // namespace

Result<std::unique_ptr<Transcoder>> Transcoder::create(const Codec& from, const Codec& to) {
  std::unique_ptr<Transcoder> t(new Transcoder());
  t->from_ = from;
  t->to_ = to;
  const int in_rate = working_rate(from.encoding, to.encoding);
  const int out_rate = working_rate(to.encoding, from.encoding);
  auto decoder = make_decoder(from.encoding, in_rate);
  if (!decoder) return decoder.error();
  auto encoder = make_encoder(to.encoding, out_rate);
  if (!encoder) return encoder.error();
  t->decoder_ = std::move(decoder).value();
  t->encoder_ = std::move(encoder).value();
  if (in_rate != out_rate) {
    auto r = Resampler::create(in_rate, out_rate);
    if (!r) return r.error();
    t->resampler_ = std::move(r).value();
  }
  t->frame_ = static_cast<size_t>(out_rate / 50);
  t->source_frame_ = static_cast<size_t>(in_rate / 50);
  t->ticks_ = frame_ticks(to.encoding);
  thread_local std::mt19937 rng{std::random_device{}()};
  t->ssrc_ = rng();
  t->seq_ = static_cast<uint16_t>(rng());
  t->timestamp_ = rng();
  return t;
}

void Transcoder::transcode(std::span<const uint8_t> rtp, std::vector<std::vector<uint8_t>>& out) {
  auto parsed = parse_rtp(rtp);
  if (!parsed || parsed.value().payload_type != from_.payload_type) {
    ++dropped_;
    return;
  }
  const RtpPacket& p = parsed.value();
  decoded_.clear();
  if (have_seq_) {
    const auto gap = static_cast<uint16_t>(p.sequence - last_seq_);
    if (gap == 0 || gap > 0x8000) {  // a duplicate, or late: already played out
      ++dropped_;
      return;
    }
    if (gap > 1 && gap <= kMaxConcealedFrames + 1) {
      decoder_->conceal(static_cast<int>(source_frame_ * (gap - 1)), decoded_);
    }
  }
  have_seq_ = true;
  last_seq_ = p.sequence;
  ++packets_in_;
  if (!decoder_->decode(p.payload, decoded_)) {
    ++dropped_;
    return;
  }
  if (resampler_) {
    resampler_->process(decoded_, pcm_);
  } else {
    pcm_.insert(pcm_.end(), decoded_.begin(), decoded_.end());
  }
  marker_ = marker_ || p.marker;
  size_t used = 0;
  for (; pcm_.size() - used >= frame_; used += frame_) {
    payload_.clear();
    if (!encoder_->encode(std::span<const int16_t>(pcm_.data() + used, frame_), payload_)) {
      continue;
    }
    std::vector<uint8_t> packet;
    write_rtp_header(packet, to_.payload_type, marker_, seq_++, timestamp_, ssrc_);
    packet.insert(packet.end(), payload_.begin(), payload_.end());
    out.push_back(std::move(packet));
    ++packets_out_;
    timestamp_ += ticks_;
    marker_ = false;
  }
  pcm_.erase(pcm_.begin(), pcm_.begin() + static_cast<std::ptrdiff_t>(used));
}

}  // namespace verbatim::media
