#include "media/audio.h"

#include <opusfile.h>

#include <ogg/ogg.h>
#include <opus/opus.h>
#include <speex/speex_resampler.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <random>

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

bool native_opus_rate(int rate) {
  return rate == 8000 || rate == 12000 || rate == 16000 || rate == 24000 || rate == 48000;
}

// Packet loss concealment for the codecs without their own (G.711, G.722), after ITU-T G.711
// Appendix I: the last pitch period heard is repeated, with a short cross-fade back into the
// real audio when it resumes, full level for 10 ms, then fading by a fifth every 10 ms, silent
// from 50 ms. Hand-written: spandsp has one (plc.h), but the version Debian ships copies
// overlapping memory with memcpy when a fill starts (undefined behaviour that AddressSanitizer
// stops on), and this is a few dozen lines.
class Concealment {
 public:
  explicit Concealment(int rate)
      : rate_(rate),
        history_len_(static_cast<size_t>(rate) * 48 / 1000),
        min_pitch_(static_cast<size_t>(rate) / 400),  // 2.5 ms: 400 Hz
        max_pitch_(static_cast<size_t>(rate) / 66),   // 15 ms: 66 Hz
        fade_(static_cast<size_t>(rate) / 400) {}
  void heard(std::vector<int16_t>& out, size_t from) {
    if (missed_ > 0) {
      // Back from a hole: cross-fade what the repetition would have gone on with into the
      // real audio, so the seam does not click.
      const size_t n = std::min(fade_, out.size() - from);
      for (size_t i = 0; i < n; ++i) {
        const double w = static_cast<double>(i + 1) / static_cast<double>(n + 1);
        const double synth = next_synthetic() * gain();
        out[from + i] = static_cast<int16_t>(synth * (1 - w) + out[from + i] * w);
      }
      missed_ = 0;
    }
    history_.insert(history_.end(), out.begin() + static_cast<std::ptrdiff_t>(from), out.end());
    if (history_.size() > history_len_) {
      history_.erase(history_.begin(), history_.begin() + static_cast<std::ptrdiff_t>(
                                                              history_.size() - history_len_));
    }
  }
  void fill(int samples, std::vector<int16_t>& out) {
    const size_t at = out.size();
    const auto n = static_cast<size_t>(std::max(samples, 0));
    out.resize(at + n, 0);
    if (history_.size() < max_pitch_ * 2) return;  // too little heard: silence
    if (missed_ == 0) start_fill();
    for (size_t i = 0; i < n; ++i, ++missed_) {
      out[at + i] = static_cast<int16_t>(next_synthetic() * gain());
    }
  }

 private:
  // The pitch period of the last audio heard (the lag with the best normalised correlation
  // over its last 10 ms), and the period to repeat.
  void start_fill() {
    const size_t window = static_cast<size_t>(rate_) / 100;
    const size_t end = history_.size();
    double best = -1;
    size_t pitch = max_pitch_;
    for (size_t lag = min_pitch_; lag <= max_pitch_ && lag + window <= end; ++lag) {
      double xy = 0, yy = 0;
      for (size_t i = end - window; i < end; ++i) {
        xy += static_cast<double>(history_[i]) * history_[i - lag];
        yy += static_cast<double>(history_[i - lag]) * history_[i - lag];
      }
      const double score = yy > 0 ? xy / std::sqrt(yy) : 0;
      if (score > best) {
        best = score;
        pitch = lag;
      }
    }
    period_.assign(history_.end() - static_cast<std::ptrdiff_t>(pitch), history_.end());
    position_ = 0;
  }
  // Full level for the first 10 ms made up, then 20 % less every 10 ms: nothing from 50 ms.
  double gain() const {
    const size_t ten_ms = static_cast<size_t>(rate_) / 100;
    if (missed_ < ten_ms) return 1.0;
    const size_t steps = (missed_ - ten_ms) / ten_ms + 1;  // whole 10 ms steps
    return std::max(0.0, 1.0 - 0.2 * static_cast<double>(steps));
  }
  double next_synthetic() {
    if (period_.empty()) return 0;
    const double v = period_[position_];
    position_ = (position_ + 1) % period_.size();
    return v;
  }

  int rate_;
  size_t history_len_, min_pitch_, max_pitch_, fade_;
  std::vector<int16_t> history_;  // the last 48 ms heard
  std::vector<int16_t> period_;   // the pitch period being repeated
  size_t position_ = 0;
  size_t missed_ = 0;  // samples made up since the last ones heard
};

class G711Decoder final : public AudioDecoder {
 public:
  explicit G711Decoder(bool ulaw) : ulaw_(ulaw) {}
  int sample_rate() const override { return 8000; }
  int clock_rate() const override { return 8000; }
  Status decode(std::span<const uint8_t> payload, std::vector<int16_t>& out) override {
    const size_t at = out.size();
    out.reserve(at + payload.size());
    for (uint8_t b : payload) out.push_back(ulaw_ ? ulaw_to_linear(b) : alaw_to_linear(b));
    plc_.heard(out, at);
    return ok_status();
  }
  void conceal(int samples, std::vector<int16_t>& out) override { plc_.fill(samples, out); }

 private:
  bool ulaw_;
  Concealment plc_{8000};
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
    plc_.heard(out, at);
    return ok_status();
  }
  void conceal(int samples, std::vector<int16_t>& out) override { plc_.fill(samples, out); }

 private:
  g722_decode_state_t* state_;
  Concealment plc_{16000};
};

class OpusStreamDecoder final : public AudioDecoder {
 public:
  explicit OpusStreamDecoder(int rate) : rate_(rate) {
    int err = 0;
    dec_ = opus_decoder_create(rate, 1, &err);
  }
  ~OpusStreamDecoder() override {
    if (dec_) opus_decoder_destroy(dec_);
  }
  OpusStreamDecoder(const OpusStreamDecoder&) = delete;
  OpusStreamDecoder& operator=(const OpusStreamDecoder&) = delete;
  bool ok() const { return dec_ != nullptr; }
  int sample_rate() const override { return rate_; }
  int clock_rate() const override { return 48000; }  // RFC 7587 §4.1, whatever the rate
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
  void conceal(int samples, std::vector<int16_t>& out) override {
    const size_t at = out.size();
    const int n = std::clamp(samples, 0, kMaxFrame);
    out.resize(at + static_cast<size_t>(n), 0);
    // A null packet asks libopus for its concealment of `n` samples.
    const int got = opus_decode(dec_, nullptr, 0, out.data() + at, n, 0);
    if (got < 0) std::fill(out.begin() + static_cast<std::ptrdiff_t>(at), out.end(), 0);
  }

 private:
  static constexpr int kMaxFrame = 5760;  // 120 ms at 48 kHz
  int rate_;
  ::OpusDecoder* dec_ = nullptr;
};

class G711Encoder final : public AudioEncoder {
 public:
  explicit G711Encoder(bool ulaw) : ulaw_(ulaw) {}
  Status encode(std::span<const int16_t> frame, std::vector<uint8_t>& payload) override {
    payload.resize(frame.size());
    for (size_t i = 0; i < frame.size(); ++i) {
      payload[i] = ulaw_ ? linear_to_ulaw(frame[i]) : linear_to_alaw(frame[i]);
    }
    return ok_status();
  }

 private:
  bool ulaw_;
};

class G722Encoder final : public AudioEncoder {
 public:
  G722Encoder() : state_(g722_encode_init(nullptr, 64000, 0)) {}
  ~G722Encoder() override { g722_encode_free(state_); }
  G722Encoder(const G722Encoder&) = delete;
  G722Encoder& operator=(const G722Encoder&) = delete;
  bool ok() const { return state_ != nullptr; }
  Status encode(std::span<const int16_t> frame, std::vector<uint8_t>& payload) override {
    payload.resize(frame.size() / 2 + 1);
    const int n = g722_encode(state_, payload.data(), frame.data(), static_cast<int>(frame.size()));
    payload.resize(static_cast<size_t>(std::max(n, 0)));
    return ok_status();
  }

 private:
  g722_encode_state_t* state_;
};

class OpusStreamEncoder final : public AudioEncoder {
 public:
  explicit OpusStreamEncoder(int rate) {
    enc_ = opus_encoder_create(rate, 1, OPUS_APPLICATION_VOIP, &err_);
  }
  ~OpusStreamEncoder() override {
    if (enc_) opus_encoder_destroy(enc_);
  }
  OpusStreamEncoder(const OpusStreamEncoder&) = delete;
  OpusStreamEncoder& operator=(const OpusStreamEncoder&) = delete;
  bool ok() const { return enc_ != nullptr; }
  int error() const { return err_; }
  Status encode(std::span<const int16_t> frame, std::vector<uint8_t>& payload) override {
    payload.resize(1500);
    const opus_int32 n = opus_encode(enc_, frame.data(), static_cast<int>(frame.size()),
                                     payload.data(), static_cast<opus_int32>(payload.size()));
    if (n < 0) {
      payload.clear();
      return make_error(ErrorCode::kInternal, std::string("Opus: ") + opus_strerror(n));
    }
    payload.resize(static_cast<size_t>(n));
    return ok_status();
  }

 private:
  ::OpusEncoder* enc_ = nullptr;
  int err_ = 0;
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

Result<std::unique_ptr<AudioDecoder>> make_decoder(const std::string& encoding, int opus_rate) {
  if (iequals(encoding, "PCMU")) return std::unique_ptr<AudioDecoder>(new G711Decoder(true));
  if (iequals(encoding, "PCMA")) return std::unique_ptr<AudioDecoder>(new G711Decoder(false));
  if (iequals(encoding, "G722")) return std::unique_ptr<AudioDecoder>(new G722Decoder());
  if (iequals(encoding, "opus")) {
    if (!native_opus_rate(opus_rate)) {
      return make_error(ErrorCode::kInvalidArgument, "Opus decodes at 8, 12, 16, 24 or 48 kHz");
    }
    auto d = std::make_unique<OpusStreamDecoder>(opus_rate);
    if (!d->ok()) return make_error(ErrorCode::kInternal, "Opus decoder could not be created");
    return std::unique_ptr<AudioDecoder>(std::move(d));
  }
  return make_error(ErrorCode::kNotFound, "no decoder for " + encoding);
}

uint32_t frame_ticks(const std::string& encoding) {
  return static_cast<uint32_t>(rtp_clock_rate(encoding) / 50);
}

Result<std::unique_ptr<AudioEncoder>> make_encoder(const std::string& encoding, int opus_rate) {
  if (iequals(encoding, "PCMU")) return std::unique_ptr<AudioEncoder>(new G711Encoder(true));
  if (iequals(encoding, "PCMA")) return std::unique_ptr<AudioEncoder>(new G711Encoder(false));
  if (iequals(encoding, "G722")) {
    auto e = std::make_unique<G722Encoder>();
    if (!e->ok()) return make_error(ErrorCode::kInternal, "G.722 encoder could not be created");
    return std::unique_ptr<AudioEncoder>(std::move(e));
  }
  if (iequals(encoding, "opus")) {
    if (!native_opus_rate(opus_rate)) {
      return make_error(ErrorCode::kInvalidArgument, "Opus encodes at 8, 12, 16, 24 or 48 kHz");
    }
    auto e = std::make_unique<OpusStreamEncoder>(opus_rate);
    if (!e->ok()) {
      return make_error(ErrorCode::kInternal, std::string("Opus encoder could not be created: ") +
                                                  opus_strerror(e->error()));
    }
    return std::unique_ptr<AudioEncoder>(std::move(e));
  }
  return make_error(ErrorCode::kNotFound, "no encoder for " + encoding);
}

Result<std::vector<std::vector<uint8_t>>> encode_frames(const std::string& encoding,
                                                        std::span<const int16_t> samples,
                                                        int rate) {
  auto encoder = make_encoder(encoding);
  if (!encoder) return encoder.error();
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
  std::vector<std::vector<uint8_t>> frames(pcm.size() / per_frame);
  for (size_t i = 0; i < frames.size(); ++i) {
    VB_TRY(encoder.value()->encode(std::span(pcm).subspan(i * per_frame, per_frame), frames[i]));
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

namespace {

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

// NOLINTNEXTLINE(bugprone-exception-escape): moving the members does not throw
struct OggOpusWriter::Impl {
  ::OpusEncoder* enc = nullptr;
  ogg_stream_state os{};
  bool os_ready = false;
  bool finished = false;
  std::unique_ptr<Resampler> resampler;  // rates Opus does not take natively
  int rate = 48000;                      // the encoder's
  int frame = 960;                       // samples per 20 ms packet at `rate`
  int scale = 1;                         // 48 kHz granule units per sample
  int64_t pre_skip = 0;                  // at 48 kHz (the encoder's look-ahead)
  int64_t lookahead = 0;                 // at `rate`
  int64_t samples_in = 0;                // real samples given, at `rate`
  int64_t packets = 0;                   // audio packets encoded
  int64_t ogg_packets = 0;               // every packet, headers too (libogg's packet number)
  std::vector<int16_t> buffer;           // less than one frame, waiting for the next write
  std::vector<int16_t> converted;
  std::array<unsigned char, 4000> packet{};
  std::string bytes;

  ~Impl() {
    if (enc) opus_encoder_destroy(enc);
    if (os_ready) ogg_stream_clear(&os);
  }

  void take_pages(bool flush) {
    ogg_page page;
    while (flush ? ogg_stream_flush(&os, &page) : ogg_stream_pageout(&os, &page)) {
      bytes.append(reinterpret_cast<const char*>(page.header),
                   static_cast<size_t>(page.header_len));
      bytes.append(reinterpret_cast<const char*>(page.body), static_cast<size_t>(page.body_len));
    }
  }

  Status put_packet(const unsigned char* data, size_t size, int64_t granule, bool bos, bool eos) {
    ogg_packet op{};
    op.packet = const_cast<unsigned char*>(data);  // NOLINT: libogg copies, never writes
    op.bytes = static_cast<long>(size);
    op.b_o_s = bos ? 1 : 0;
    op.e_o_s = eos ? 1 : 0;
    op.granulepos = granule;
    op.packetno = ogg_packets++;
    if (ogg_stream_packetin(&os, &op) != 0) {
      return make_error(ErrorCode::kInternal, "Ogg/Opus: libogg refused a packet");
    }
    return ok_status();
  }

  // Encodes the frame of `pcm` (`frame` samples); `last` ends the stream at the real end.
  Status encode_frame(const int16_t* pcm, bool last) {
    const opus_int32 n =
        opus_encode(enc, pcm, frame, packet.data(), static_cast<opus_int32>(packet.size()));
    if (n < 0) return make_error(ErrorCode::kInternal, std::string("Opus: ") + opus_strerror(n));
    ++packets;
    // RFC 7845 §4: the granule position counts 48 kHz samples including the pre-skip; the last
    // page's is where the real audio ends, which trims the padding of the final packet.
    int64_t granule = packets * frame * scale;
    if (last) granule = std::min(granule, pre_skip + samples_in * scale);
    VB_TRY(put_packet(packet.data(), static_cast<size_t>(n), granule, false, last));
    take_pages(last);
    return ok_status();
  }
};

OggOpusWriter::OggOpusWriter() : impl_(std::make_unique<Impl>()) {}
OggOpusWriter::~OggOpusWriter() = default;

Result<std::unique_ptr<OggOpusWriter>> OggOpusWriter::create(
    int rate, int bitrate, const std::vector<std::pair<std::string, std::string>>& comments,
    int complexity) {
  if (rate <= 0) return make_error(ErrorCode::kInvalidArgument, "Ogg/Opus: no sample rate");
  std::unique_ptr<OggOpusWriter> w(new OggOpusWriter());
  Impl& m = *w->impl_;
  if (!native_opus_rate(rate)) {
    auto r = Resampler::create(rate, 48000);
    if (!r) return r.error();
    m.resampler = std::move(r).value();
  }
  m.rate = native_opus_rate(rate) ? rate : 48000;
  m.frame = m.rate / 50;
  m.scale = 48000 / m.rate;
  int err = 0;
  m.enc = opus_encoder_create(m.rate, 1, OPUS_APPLICATION_AUDIO, &err);
  if (!m.enc) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string("Ogg/Opus encoder: ") + opus_strerror(err));
  }
  opus_encoder_ctl(m.enc, OPUS_SET_BITRATE(bitrate));
  opus_encoder_ctl(m.enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
  opus_encoder_ctl(m.enc, OPUS_SET_COMPLEXITY(std::clamp(complexity, 0, 10)));
  opus_int32 lookahead = 0;
  opus_encoder_ctl(m.enc, OPUS_GET_LOOKAHEAD(&lookahead));
  m.lookahead = lookahead;
  m.pre_skip = int64_t{lookahead} * m.scale;
  std::random_device rd;
  if (ogg_stream_init(&m.os, static_cast<int>(rd() & 0x7fffffff)) != 0) {
    return make_error(ErrorCode::kInternal, "Ogg/Opus: libogg could not start a stream");
  }
  m.os_ready = true;
  // RFC 7845 §5.1: the identification header, alone on the first page.
  std::string head = "OpusHead";
  put_le(head, 1, 1);  // version
  put_le(head, 1, 1);  // channels
  put_le(head, static_cast<uint64_t>(m.pre_skip), 2);
  put_le(head, static_cast<uint64_t>(rate), 4);  // the input's rate, for players that show it
  put_le(head, 0, 2);                            // output gain
  put_le(head, 0, 1);                            // mapping family 0: mono
  VB_TRY(m.put_packet(reinterpret_cast<const unsigned char*>(head.data()), head.size(), 0, true,
                      false));
  m.take_pages(true);
  // §5.2: the comment header, on page(s) of its own.
  std::string tags = "OpusTags";
  const std::string vendor = opus_get_version_string();
  put_le(tags, vendor.size(), 4);
  tags += vendor;
  put_le(tags, comments.size(), 4);
  for (const auto& [tag, value] : comments) {
    put_le(tags, tag.size() + 1 + value.size(), 4);
    tags.append(tag).append("=").append(value);
  }
  VB_TRY(m.put_packet(reinterpret_cast<const unsigned char*>(tags.data()), tags.size(), 0, false,
                      false));
  m.take_pages(true);
  return w;
}

Status OggOpusWriter::write(std::span<const int16_t> samples) {
  Impl& m = *impl_;
  if (m.finished) {
    return make_error(ErrorCode::kFailedPrecondition, "Ogg/Opus file already finished");
  }
  if (m.resampler) {
    m.converted.clear();
    m.resampler->process(samples, m.converted);
    samples = m.converted;
  }
  m.samples_in += static_cast<int64_t>(samples.size());
  const auto frame = static_cast<size_t>(m.frame);
  // A frame left over from the last write is completed first; whole frames are then encoded
  // straight from `samples`, and only the remainder is kept.
  if (!m.buffer.empty()) {
    const size_t take = std::min(frame - m.buffer.size(), samples.size());
    m.buffer.insert(m.buffer.end(), samples.begin(),
                    samples.begin() + static_cast<std::ptrdiff_t>(take));
    samples = samples.subspan(take);
    if (m.buffer.size() < frame) return ok_status();
    VB_TRY(m.encode_frame(m.buffer.data(), false));
    m.buffer.clear();
  }
  for (; samples.size() >= frame; samples = samples.subspan(frame)) {
    VB_TRY(m.encode_frame(samples.data(), false));
  }
  m.buffer.assign(samples.begin(), samples.end());
  return ok_status();
}

Result<std::string> OggOpusWriter::finish() {
  Impl& m = *impl_;
  if (m.finished) {
    return make_error(ErrorCode::kFailedPrecondition, "Ogg/Opus file already finished");
  }
  m.finished = true;
  // Enough packets to carry the look-ahead and every real sample, padded with silence; at least
  // one, so even an empty file ends its stream.
  const int64_t needed =
      std::max<int64_t>(m.packets + 1, (m.lookahead + m.samples_in + m.frame - 1) / m.frame);
  m.buffer.resize(static_cast<size_t>(m.frame), 0);  // the remainder, then silence
  while (m.packets < needed) {
    VB_TRY(m.encode_frame(m.buffer.data(), m.packets + 1 == needed));
    std::fill(m.buffer.begin(), m.buffer.end(), int16_t{0});
  }
  return std::move(m.bytes);
}

size_t OggOpusWriter::size() const { return impl_->bytes.size(); }

Result<DecodedAudio> decode_ogg_opus(std::string_view ogg, size_t max_bytes) {
  int err = 0;
  std::unique_ptr<OggOpusFile, void (*)(OggOpusFile*)> of(
      op_open_memory(reinterpret_cast<const unsigned char*>(ogg.data()), ogg.size(), &err),
      op_free);
  if (!of) {
    return make_error(ErrorCode::kInvalidArgument,
                      "not an Ogg/Opus file (opusfile error " + std::to_string(err) + ")");
  }
  DecodedAudio out;
  const OpusHead* head = op_head(of.get(), -1);
  const int channels = head ? head->channel_count : 1;
  out.rate = head && head->input_sample_rate ? static_cast<int>(head->input_sample_rate) : 48000;
  if (out.rate < 8000 || out.rate > 48000) out.rate = 48000;
  if (const OpusTags* tags = op_tags(of.get(), -1)) {
    for (int i = 0; i < tags->comments; ++i) {
      const std::string c(tags->user_comments[i], static_cast<size_t>(tags->comment_lengths[i]));
      const size_t eq = c.find('=');
      if (eq != std::string::npos) out.comments.emplace_back(c.substr(0, eq), c.substr(eq + 1));
    }
  }
  std::vector<int16_t> pcm48;
  std::vector<opus_int16> buf(static_cast<size_t>(5760 * std::max(1, channels)));
  while (true) {
    const int n = op_read(of.get(), buf.data(), static_cast<int>(buf.size()), nullptr);
    if (n == 0) break;
    if (n < 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        "damaged Ogg/Opus data (opusfile error " + std::to_string(n) + ")");
    }
    const int ch = std::max(1, op_channel_count(of.get(), -1));
    for (int i = 0; i < n; ++i)
      pcm48.push_back(buf[static_cast<size_t>(i) * static_cast<size_t>(ch)]);
    if (pcm48.size() * 2 * static_cast<size_t>(out.rate) / 48000 > max_bytes) {
      return make_error(ErrorCode::kResourceExhausted,
                        "the decoded audio would be over " + std::to_string(max_bytes) + " bytes");
    }
  }
  if (out.rate == 48000) {
    out.pcm = std::move(pcm48);
  } else {
    auto rs = Resampler::create(48000, out.rate);
    if (!rs) return rs.error();
    rs.value()->process(pcm48, out.pcm);
  }
  return out;
}

size_t redact_samples(std::vector<int16_t>& pcm, int rate, std::span<const RedactSpan> spans,
                      RedactFill fill) {
  size_t replaced = 0;
  if (rate <= 0) return 0;
  const double n = static_cast<double>(pcm.size());
  for (const auto& s : spans) {
    const double from = std::clamp(std::floor(s.start * rate), 0.0, n);
    const double to = std::clamp(std::ceil(s.end * rate), 0.0, n);
    for (auto i = static_cast<size_t>(from); i < static_cast<size_t>(to); ++i) {
      // The tone's phase follows the timeline, so two spans that touch join without a click.
      pcm[i] = fill == RedactFill::kSilence
                   ? int16_t{0}
                   : static_cast<int16_t>(std::lround(
                         8192.0 * std::sin(2.0 * std::numbers::pi * 1000.0 *
                                           static_cast<double>(i) / static_cast<double>(rate))));
      ++replaced;
    }
  }
  return replaced;
}

Result<std::string> ogg_opus_to_wav(std::string_view ogg, size_t max_bytes) {
  auto decoded = decode_ogg_opus(ogg, max_bytes);
  if (!decoded) return decoded.error();
  const int rate = decoded.value().rate;
  const std::vector<int16_t>& pcm = decoded.value().pcm;
  const auto data_bytes = static_cast<uint32_t>(pcm.size() * 2);
  std::string out;
  out.reserve(44 + data_bytes);
  out += "RIFF";
  put_le(out, 36 + data_bytes, 4);
  out += "WAVEfmt ";
  put_le(out, 16, 4);
  put_le(out, 1, 2);  // PCM
  put_le(out, 1, 2);  // mono
  put_le(out, static_cast<uint32_t>(rate), 4);
  put_le(out, static_cast<uint64_t>(rate) * 2, 4);
  put_le(out, 2, 2);
  put_le(out, 16, 2);
  out += "data";
  put_le(out, data_bytes, 4);
  for (int16_t v : pcm) put_le(out, static_cast<uint16_t>(v), 2);
  return out;
}

}  // namespace verbatim::media
