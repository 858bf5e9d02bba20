#include "media/audio.h"

#include <opus/opus.h>
#include <opus/opusenc.h>
#include <speex/speex_resampler.h>

#include <algorithm>
#include <array>

#include "common/strings.h"

// spandsp's headers are C with inline functions, and must come in this order (telephony.h
// defines what the others use).
// clang-format off
extern "C" {
#include <spandsp/telephony.h>
#include <spandsp/bit_operations.h>
#include <spandsp/g711.h>
#include <spandsp/g722.h>
}
// clang-format on

namespace verbatim::media {

namespace {

class G711Decoder final : public AudioDecoder {
 public:
  explicit G711Decoder(bool ulaw) : ulaw_(ulaw) {}
  int sample_rate() const override { return 8000; }
  int clock_rate() const override { return 8000; }
  Status decode(std::span<const uint8_t> payload, std::vector<int16_t>& out) override {
    out.reserve(out.size() + payload.size());
    for (uint8_t b : payload) out.push_back(ulaw_ ? ulaw_to_linear(b) : alaw_to_linear(b));
    return ok_status();
  }

 private:
  bool ulaw_;
};

class G722Decoder final : public AudioDecoder {
 public:
  G722Decoder() : state_(g722_decode_init(nullptr, 64000, 0)) {}
  ~G722Decoder() override { g722_decode_free(state_); }
  G722Decoder(const G722Decoder&) = delete;
  G722Decoder& operator=(const G722Decoder&) = delete;
  int sample_rate() const override { return 16000; }
  int clock_rate() const override { return 8000; }  // RFC 3551 §4.5.2
  Status decode(std::span<const uint8_t> payload, std::vector<int16_t>& out) override {
    const size_t at = out.size();
    out.resize(at + payload.size() * 2);
    const int n =
        g722_decode(state_, out.data() + at, payload.data(), static_cast<int>(payload.size()));
    out.resize(at + static_cast<size_t>(std::max(n, 0)));
    return ok_status();
  }

 private:
  g722_decode_state_t* state_;
};

class OpusStreamDecoder final : public AudioDecoder {
 public:
  OpusStreamDecoder() {
    int err = 0;
    dec_ = opus_decoder_create(48000, 1, &err);
  }
  ~OpusStreamDecoder() override {
    if (dec_) opus_decoder_destroy(dec_);
  }
  OpusStreamDecoder(const OpusStreamDecoder&) = delete;
  OpusStreamDecoder& operator=(const OpusStreamDecoder&) = delete;
  bool ok() const { return dec_ != nullptr; }
  int sample_rate() const override { return 48000; }
  int clock_rate() const override { return 48000; }
  Status decode(std::span<const uint8_t> payload, std::vector<int16_t>& out) override {
    const size_t at = out.size();
    out.resize(at + kMaxFrame);
    const int n = opus_decode(dec_, payload.data(), static_cast<opus_int32>(payload.size()),
                              out.data() + at, kMaxFrame, 0);
    if (n < 0) {
      out.resize(at);
      return make_error(ErrorCode::kInvalidArgument,
                        std::string("Opus packet does not decode: ") + opus_strerror(n));
    }
    out.resize(at + static_cast<size_t>(n));
    return ok_status();
  }

 private:
  static constexpr int kMaxFrame = 5760;  // 120 ms at 48 kHz
  ::OpusDecoder* dec_ = nullptr;
};

}  // namespace

bool can_decode(const std::string& encoding) {
  return iequals(encoding, "PCMU") || iequals(encoding, "PCMA") || iequals(encoding, "G722") ||
         iequals(encoding, "opus");
}

int decoded_rate(const std::string& encoding) {
  if (iequals(encoding, "G722")) return 16000;
  if (iequals(encoding, "opus")) return 48000;
  return 8000;
}

int rtp_clock_rate(const std::string& encoding) { return iequals(encoding, "opus") ? 48000 : 8000; }

int payload_samples(const std::string& encoding, std::span<const uint8_t> payload) {
  if (iequals(encoding, "opus")) {
    const int n =
        opus_packet_get_nb_samples(payload.data(), static_cast<opus_int32>(payload.size()), 48000);
    return n > 0 ? n : 0;
  }
  // G.711: one byte per sample; G.722: one byte per two 16 kHz samples, i.e. one 8 kHz tick.
  return static_cast<int>(payload.size());
}

Result<std::unique_ptr<AudioDecoder>> make_decoder(const std::string& encoding) {
  if (iequals(encoding, "PCMU")) return std::unique_ptr<AudioDecoder>(new G711Decoder(true));
  if (iequals(encoding, "PCMA")) return std::unique_ptr<AudioDecoder>(new G711Decoder(false));
  if (iequals(encoding, "G722")) return std::unique_ptr<AudioDecoder>(new G722Decoder());
  if (iequals(encoding, "opus")) {
    auto d = std::make_unique<OpusStreamDecoder>();
    if (!d->ok()) return make_error(ErrorCode::kInternal, "Opus decoder could not be created");
    return std::unique_ptr<AudioDecoder>(std::move(d));
  }
  return make_error(ErrorCode::kNotFound, "no decoder for " + encoding);
}

uint32_t frame_ticks(const std::string& encoding) {
  return static_cast<uint32_t>(rtp_clock_rate(encoding) / 50);
}

Result<std::vector<std::vector<uint8_t>>> encode_frames(const std::string& encoding,
                                                        std::span<const int16_t> samples,
                                                        int rate) {
  if (!can_decode(encoding)) return make_error(ErrorCode::kNotFound, "no encoder for " + encoding);
  const int codec_rate = decoded_rate(encoding);
  std::vector<int16_t> pcm;
  if (rate == codec_rate) {
    pcm.assign(samples.begin(), samples.end());
  } else {
    auto resampler = Resampler::create(rate, codec_rate);
    if (!resampler) return resampler.error();
    resampler.value()->process(samples, pcm);
  }
  const size_t per_frame = static_cast<size_t>(codec_rate / 50);
  pcm.resize((pcm.size() + per_frame - 1) / per_frame * per_frame, 0);
  std::vector<std::vector<uint8_t>> frames;
  frames.reserve(pcm.size() / per_frame);
  if (iequals(encoding, "PCMU") || iequals(encoding, "PCMA")) {
    const bool ulaw = iequals(encoding, "PCMU");
    for (size_t at = 0; at < pcm.size(); at += per_frame) {
      std::vector<uint8_t> f(per_frame);
      for (size_t i = 0; i < per_frame; ++i) {
        f[i] = ulaw ? linear_to_ulaw(pcm[at + i]) : linear_to_alaw(pcm[at + i]);
      }
      frames.push_back(std::move(f));
    }
  } else if (iequals(encoding, "G722")) {
    g722_encode_state_t* st = g722_encode_init(nullptr, 64000, 0);
    if (!st) return make_error(ErrorCode::kInternal, "G.722 encoder could not be created");
    for (size_t at = 0; at < pcm.size(); at += per_frame) {
      std::vector<uint8_t> f(per_frame / 2);
      const int n = g722_encode(st, f.data(), pcm.data() + at, static_cast<int>(per_frame));
      f.resize(static_cast<size_t>(std::max(n, 0)));
      frames.push_back(std::move(f));
    }
    g722_encode_free(st);
  } else {
    int err = 0;
    ::OpusEncoder* enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &err);
    if (!enc) {
      return make_error(ErrorCode::kInternal,
                        std::string("Opus encoder could not be created: ") + opus_strerror(err));
    }
    std::array<uint8_t, 1500> out{};
    for (size_t at = 0; at < pcm.size(); at += per_frame) {
      const opus_int32 n = opus_encode(enc, pcm.data() + at, static_cast<int>(per_frame),
                                       out.data(), static_cast<opus_int32>(out.size()));
      if (n < 0) {
        opus_encoder_destroy(enc);
        return make_error(ErrorCode::kInternal, std::string("Opus: ") + opus_strerror(n));
      }
      frames.emplace_back(out.begin(), out.begin() + n);
    }
    opus_encoder_destroy(enc);
  }
  return frames;
}

Result<std::unique_ptr<Resampler>> Resampler::create(int from_rate, int to_rate) {
  std::unique_ptr<Resampler> r(new Resampler());
  int err = 0;
  r->state_ = speex_resampler_init(1, static_cast<spx_uint32_t>(from_rate),
                                   static_cast<spx_uint32_t>(to_rate), 5, &err);
  if (!r->state_) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string("resampler: ") + speex_resampler_strerror(err));
  }
  r->from_ = from_rate;
  r->to_ = to_rate;
  return r;
}

Resampler::~Resampler() {
  if (state_) speex_resampler_destroy(state_);
}

void Resampler::process(std::span<const int16_t> in, std::vector<int16_t>& out) {
  size_t done = 0;
  while (done < in.size()) {
    spx_uint32_t in_len = static_cast<spx_uint32_t>(in.size() - done);
    const size_t room =
        (static_cast<size_t>(in_len) * static_cast<size_t>(to_)) / static_cast<size_t>(from_) + 64;
    const size_t at = out.size();
    out.resize(at + room);
    spx_uint32_t out_len = static_cast<spx_uint32_t>(room);
    speex_resampler_process_int(state_, 0, in.data() + done, &in_len, out.data() + at, &out_len);
    out.resize(at + out_len);
    if (in_len == 0 && out_len == 0) break;
    done += in_len;
  }
}

Result<std::unique_ptr<OggOpusWriter>> OggOpusWriter::create(
    int rate, int bitrate, const std::vector<std::pair<std::string, std::string>>& comments) {
  std::unique_ptr<OggOpusWriter> w(new OggOpusWriter());
  OggOpusComments* c = ope_comments_create();
  if (!c) return make_error(ErrorCode::kInternal, "Ogg/Opus comments could not be created");
  for (const auto& [tag, value] : comments) ope_comments_add(c, tag.c_str(), value.c_str());
  OpusEncCallbacks cb{&OggOpusWriter::on_write, &OggOpusWriter::on_close};
  int err = 0;
  w->enc_ = ope_encoder_create_callbacks(&cb, w.get(), c, rate, 1, 0, &err);
  ope_comments_destroy(c);
  if (!w->enc_) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string("Ogg/Opus encoder: ") + ope_strerror(err));
  }
  ope_encoder_ctl(w->enc_, OPUS_SET_BITRATE(bitrate));
  ope_encoder_ctl(w->enc_, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
  return w;
}

OggOpusWriter::~OggOpusWriter() {
  if (enc_) ope_encoder_destroy(enc_);
}

int OggOpusWriter::on_write(void* self, const unsigned char* data, int32_t len) {
  static_cast<OggOpusWriter*>(self)->bytes_.append(reinterpret_cast<const char*>(data),
                                                   static_cast<size_t>(len));
  return 0;
}

int OggOpusWriter::on_close(void*) { return 0; }

Status OggOpusWriter::write(std::span<const int16_t> samples) {
  if (!enc_) return make_error(ErrorCode::kFailedPrecondition, "Ogg/Opus file already finished");
  if (samples.empty()) return ok_status();
  const int err = ope_encoder_write(enc_, samples.data(), static_cast<int>(samples.size()));
  if (err != OPE_OK) {
    return make_error(ErrorCode::kInternal, std::string("Ogg/Opus encoding: ") + ope_strerror(err));
  }
  return ok_status();
}

Result<std::string> OggOpusWriter::finish() {
  if (!enc_) return make_error(ErrorCode::kFailedPrecondition, "Ogg/Opus file already finished");
  const int err = ope_encoder_drain(enc_);
  ope_encoder_destroy(enc_);
  enc_ = nullptr;
  if (err != OPE_OK) {
    return make_error(ErrorCode::kInternal, std::string("Ogg/Opus encoding: ") + ope_strerror(err));
  }
  return std::move(bytes_);
}

}  // namespace verbatim::media
