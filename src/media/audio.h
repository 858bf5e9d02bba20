// Audio for playback files: the decoders for the codecs a recorder hears (G.711 µ-law and
// A-law and G.722 from spandsp, Opus from libopus), a sample-rate converter (speexdsp), and an
// Ogg/Opus file writer (libopus, pages by libogg). Used by the jobs that turn evidence into
// playback files after a call, and live by the meetings' mix and the calls' transcoder.
// Threads and ownership: decoders and encoders are owned by their user and used by one thread at
// a time; the functions are pure.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

struct SpeexResamplerState_;  // speexdsp

namespace verbatim::media {

// Decodes one RTP stream's payloads of one codec, in sequence order (G.722 and Opus keep
// state between packets).
class AudioDecoder {
 public:
  virtual ~AudioDecoder() = default;
  // Samples per second of the decoded audio (G.722: 16000 although its RTP clock is 8000).
  virtual int sample_rate() const = 0;
  // RTP clock ticks per second (the timestamp unit).
  virtual int clock_rate() const = 0;
  // Appends the payload's samples (mono) to `out`; a payload that does not decode is an error
  // and leaves `out` as it was.
  virtual Status decode(std::span<const uint8_t> payload, std::vector<int16_t>& out) = 0;
  // Appends `samples` (at sample_rate()) standing in for a lost packet, made from what was
  // decoded before: Opus's own concealment; for G.711 and G.722 the last pitch period repeated
  // (after G.711 Appendix I), fading from 10 ms, silent from 50 ms.
  virtual void conceal(int samples, std::vector<int16_t>& out) = 0;
};

// Encodes one stream: 20 ms of mono samples at the codec's decoded rate (decoded_rate) at a
// time into one RTP payload; G.722 and Opus keep state between frames.
class AudioEncoder {
 public:
  virtual ~AudioEncoder() = default;
  virtual Status encode(std::span<const int16_t> frame, std::vector<uint8_t>& payload) = 0;
};
// `opus_rate`: the rate Opus takes samples at (8, 12, 16, 24 or 48 kHz; its RTP clock stays
// 48 kHz); the other codecs ignore it.
Result<std::unique_ptr<AudioEncoder>> make_encoder(const std::string& encoding,
                                                   int opus_rate = 48000);

// For an SDP encoding name (case-insensitive: PCMU, PCMA, G722, opus); kNotFound for any other
// (kept as evidence only).
// `opus_rate`: the rate Opus decodes to (8, 12, 16, 24 or 48 kHz); the others ignore it.
Result<std::unique_ptr<AudioDecoder>> make_decoder(const std::string& encoding,
                                                   int opus_rate = 48000);
bool can_decode(const std::string& encoding);
// The decoded sample rate and the RTP clock rate of a decodable encoding.
int decoded_rate(const std::string& encoding);
int rtp_clock_rate(const std::string& encoding);
// How long one payload plays, in samples at the RTP clock rate (0 if it cannot be told).
int payload_samples(const std::string& encoding, std::span<const uint8_t> payload);

// Encodes mono 16-bit samples at `rate` as `encoding` (PCMU, PCMA, G722, opus) in RTP payloads
// of 20 ms each, resampled to the codec's rate first; the last payload is padded with silence.
// For announcements the gateway plays into calls (prompts made once and kept).
Result<std::vector<std::vector<uint8_t>>> encode_frames(const std::string& encoding,
                                                        std::span<const int16_t> samples, int rate);
// RTP clock ticks in one 20 ms payload of `encoding`.
uint32_t frame_ticks(const std::string& encoding);

// Converts a mono stream of 16-bit samples from one rate to another (speexdsp, quality 5).
class Resampler {
 public:
  static Result<std::unique_ptr<Resampler>> create(int from_rate, int to_rate);
  ~Resampler();
  Resampler(const Resampler&) = delete;
  Resampler& operator=(const Resampler&) = delete;
  void process(std::span<const int16_t> in, std::vector<int16_t>& out);

 private:
  Resampler() = default;
  ::SpeexResamplerState_* state_ = nullptr;
  int from_ = 0, to_ = 0;
};

// An Ogg/Opus file (libopusfile) decoded: mono 16-bit samples (the first channel) at the rate
// the file was encoded from (its OpusHead input rate; 48 kHz when it names none), and its Vorbis
// comments. Refuses what is not Ogg/Opus, and more than `max_bytes` of samples.
struct DecodedAudio {
  int rate = 0;
  std::vector<int16_t> pcm;
  std::vector<std::pair<std::string, std::string>> comments;  // TITLE, ARTIST, ...
};
Result<DecodedAudio> decode_ogg_opus(std::string_view ogg, size_t max_bytes);

// Redaction: each span [start, end) in seconds of `pcm` (at `rate`) replaced by digital silence,
// or by a 1 kHz tone at -12 dBFS that a listener cannot mistake for a gap. Spans are clamped to
// the samples; an empty or reversed one changes nothing. Returns the samples replaced.
enum class RedactFill { kSilence, kTone };
struct RedactSpan {
  double start = 0, end = 0;
};
size_t redact_samples(std::vector<int16_t>& pcm, int rate, std::span<const RedactSpan> spans,
                      RedactFill fill);

// An Ogg/Opus file (libopusfile) as a WAV file (16-bit PCM, mono: the first channel) at the rate
// the file was encoded from (its OpusHead input rate; 48 kHz when it names none), for players
// and tools that take no Opus. Refuses what is not Ogg/Opus, and output over `max_bytes`.
Result<std::string> ogg_opus_to_wav(std::string_view ogg, size_t max_bytes);

// An Ogg/Opus file (RFC 7845) built in memory from mono 16-bit samples, with Vorbis comments
// (TITLE, ARTIST, ...) that players show.
//
// Why not libopusenc (which opusenc uses): it always encodes at 48 kHz, so a telephone track is
// first upsampled 8 → 48 kHz and then band-limited back to 8 kHz inside the encoder, for a third
// of the speed with nothing gained. Here libopus encodes at the track's own rate (Opus takes 8,
// 12, 16, 24 and 48 kHz natively; other rates are resampled to 48 kHz), and libogg makes the
// pages; what is left to write is the two header packets and the granule positions.
class OggOpusWriter {
 public:
  // `rate` of the input samples; `bitrate` in bits per second; `complexity` 0..10 (libopus).
  static Result<std::unique_ptr<OggOpusWriter>> create(
      int rate, int bitrate, const std::vector<std::pair<std::string, std::string>>& comments,
      int complexity = 10);
  ~OggOpusWriter();
  OggOpusWriter(const OggOpusWriter&) = delete;
  OggOpusWriter& operator=(const OggOpusWriter&) = delete;
  Status write(std::span<const int16_t> samples);
  // Encodes what is buffered and ends the stream; the file is complete afterwards.
  Result<std::string> finish();
  // Bytes produced so far (the file grows as pages are completed).
  size_t size() const;

 private:
  struct Impl;
  OggOpusWriter();
  std::unique_ptr<Impl> impl_;
};

}  // namespace verbatim::media
