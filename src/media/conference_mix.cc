#include "media/conference_mix.h"

#include <algorithm>
#include <cstdlib>

namespace verbatim::media {

namespace {

constexpr size_t kStartSamples = size_t{2} * ConferenceMix::kFrame;  // 40 ms before a member plays
constexpr size_t kMaxSamples = size_t{10} * ConferenceMix::kFrame;   // 200 ms buffered at most
constexpr size_t kMaxStarvedSamples =
    size_t{3} * ConferenceMix::kFrame;  // 60 ms concealed, then silence

}  // namespace

struct ConferenceMix::Member {
  std::string encoding;
  std::unique_ptr<AudioDecoder> decoder;
  std::unique_ptr<AudioEncoder> encoder;
  std::unique_ptr<Resampler> in, out;  // null where the decoder's or encoder's rate is kRate
  int codec_rate = kRate;              // the encoder's
  int clock_rate = 8000;
  bool muted = false;
  // The jitter buffer, by extended sequence number.
  std::map<int64_t, std::vector<uint8_t>> packets;
  bool seen = false;
  int64_t highest = 0;  // extended sequence number of the highest packet seen
  bool playing = false;
  int64_t next = 0;                         // the packet to play next
  size_t packet_samples = kFrame;           // one packet's length at kRate (the last seen)
  size_t starved = 0;                       // samples concealed with nothing buffered
  std::vector<int16_t> pcm;                 // decoded at kRate, not yet mixed
  std::vector<int16_t> decoded, resampled;  // scratch
  std::vector<int16_t> outgoing;            // the mix at codec_rate, not yet encoded
  std::array<int16_t, kFrame> own{};        // this tick's frame (silence when muted)
  MixMemberStats stats;

  int64_t extend(uint16_t sequence) {
    if (!seen) {
      seen = true;
      highest = sequence;
      return highest;
    }
    const auto delta =
        static_cast<int16_t>(static_cast<uint16_t>(sequence - static_cast<uint16_t>(highest)));
    const int64_t ext = highest + delta;
    highest = std::max(highest, ext);
    return ext;
  }

  void append(std::vector<int16_t>& codec_pcm) {
    if (in) {
      in->process(codec_pcm, pcm);
    } else {
      pcm.insert(pcm.end(), codec_pcm.begin(), codec_pcm.end());
    }
    codec_pcm.clear();
  }

  void conceal() {
    decoded.clear();
    decoder->conceal(static_cast<int>(packet_samples * static_cast<size_t>(decoder->sample_rate()) /
                                      static_cast<size_t>(kRate)),
                     decoded);
    append(decoded);
    ++stats.concealed;
  }
};

ConferenceMix::ConferenceMix() = default;
ConferenceMix::~ConferenceMix() = default;

Status ConferenceMix::add(uint64_t member, const std::string& encoding) {
  if (members_.contains(member)) {
    return make_error(ErrorCode::kAlreadyExists, "member " + std::to_string(member) + " is in");
  }
  auto m = std::make_unique<Member>();
  m->encoding = encoding;
  // Opus decodes to 16 kHz itself (no resampling in). It encodes from 48 kHz: its CELT mode
  // there costs half of what its SILK mode from 16 kHz does (bench/conference_mix_bench.cc).
  auto dec = make_decoder(encoding, kRate);
  if (!dec) return dec.error();
  auto enc = make_encoder(encoding);
  if (!enc) return enc.error();
  m->decoder = std::move(dec).value();
  m->encoder = std::move(enc).value();
  m->codec_rate = decoded_rate(encoding);
  m->clock_rate = rtp_clock_rate(encoding);
  if (m->decoder->sample_rate() != kRate) {
    auto in = Resampler::create(m->decoder->sample_rate(), kRate);
    if (!in) return in.error();
    m->in = std::move(in).value();
  }
  if (m->codec_rate != kRate) {
    auto out = Resampler::create(kRate, m->codec_rate);
    if (!out) return out.error();
    m->out = std::move(out).value();
  }
  members_.emplace(member, std::move(m));
  return ok_status();
}

void ConferenceMix::remove(uint64_t member) { members_.erase(member); }

void ConferenceMix::set_muted(uint64_t member, bool muted) {
  if (auto it = members_.find(member); it != members_.end()) it->second->muted = muted;
}

void ConferenceMix::receive(uint64_t member, uint16_t sequence, std::span<const uint8_t> payload) {
  auto it = members_.find(member);
  if (it == members_.end() || payload.empty()) return;
  Member& m = *it->second;
  const int64_t ext = m.extend(sequence);
  if ((m.playing && ext < m.next) || m.packets.contains(ext)) {
    ++m.stats.late;
    return;
  }
  ++m.stats.received;
  if (const int n = payload_samples(m.encoding, payload); n > 0) {
    m.packet_samples = static_cast<size_t>(n) * kRate / static_cast<size_t>(m.clock_rate);
  }
  m.packets.emplace(ext, std::vector<uint8_t>(payload.begin(), payload.end()));
  while (m.packets.size() * m.packet_samples > kMaxSamples) {
    m.packets.erase(m.packets.begin());
    ++m.stats.dropped;
    if (m.playing) m.next = std::max(m.next, m.packets.begin()->first);
  }
}

// Fills the member's decoded audio up to one frame, if it is playing.
void ConferenceMix::pull(Member& m) {
  while (m.pcm.size() < kFrame) {
    if (!m.playing) {
      if (m.packets.empty() || m.packets.size() * m.packet_samples < kStartSamples) return;
      m.playing = true;
      m.next = m.packets.begin()->first;
      m.starved = 0;
    }
    if (!m.packets.empty() && m.packets.begin()->first == m.next) {
      auto node = m.packets.extract(m.packets.begin());
      m.decoded.clear();
      if (m.decoder->decode(node.mapped(), m.decoded)) {
        m.append(m.decoded);
      } else {
        ++m.stats.undecodable;
        m.conceal();
      }
      m.starved = 0;
    } else if (!m.packets.empty()) {
      m.conceal();  // lost: later packets are waiting
    } else if (m.starved < kMaxStarvedSamples) {
      m.conceal();  // late or stopped: a little concealment, then silence
      m.starved += m.packet_samples;
    } else {
      m.playing = false;
      return;
    }
    ++m.next;
  }
}

// No allocation in the steady state: each member's frame, the sum and the mix are kept between
// ticks, and `out`'s entries (their payloads' capacity) are reused.
void ConferenceMix::tick(std::vector<Output>& out) {
  sum_.fill(0);
  for (auto& [id, m] : members_) {
    pull(*m);
    auto& frame = m->own;
    const size_t n = std::min(m->pcm.size(), static_cast<size_t>(kFrame));
    std::copy_n(m->pcm.begin(), n, frame.begin());
    std::fill(frame.begin() + static_cast<std::ptrdiff_t>(n), frame.end(), int16_t{0});
    m->pcm.erase(m->pcm.begin(), m->pcm.begin() + static_cast<std::ptrdiff_t>(n));
    int peak = 0;
    for (int16_t s : frame) peak = std::max(peak, std::abs(static_cast<int>(s)));
    m->stats.level = peak;
    if (m->muted) frame.fill(0);
    for (size_t i = 0; i < kFrame; ++i) sum_[i] += frame[i];
  }
  size_t used = 0;
  for (auto& [id, m] : members_) {
    for (size_t i = 0; i < kFrame; ++i) {
      mixed_[i] = static_cast<int16_t>(std::clamp(sum_[i] - m->own[i], -32768, 32767));
    }
    if (m->out) {
      m->out->process(mixed_, m->outgoing);
    } else {
      m->outgoing.insert(m->outgoing.end(), mixed_.begin(), mixed_.end());
    }
    const size_t frame = static_cast<size_t>(m->codec_rate / 50);
    // The resampler's output comes in uneven amounts at first: a frame short is made up with
    // silence; anything over a frame and a half is not kept (the delay stays bounded).
    if (m->outgoing.size() < frame) m->outgoing.resize(frame, 0);
    if (used == out.size()) out.emplace_back();
    Output& o = out[used];
    o.member = id;
    if (m->encoder->encode(std::span(m->outgoing).first(frame), o.payload)) {
      ++m->stats.frames_sent;
      ++used;
    }
    m->outgoing.erase(m->outgoing.begin(),
                      m->outgoing.begin() + static_cast<std::ptrdiff_t>(frame));
    if (m->outgoing.size() > frame / 2) m->outgoing.clear();
  }
  out.resize(used);
}

MixMemberStats ConferenceMix::stats(uint64_t member) const {
  auto it = members_.find(member);
  return it == members_.end() ? MixMemberStats{} : it->second->stats;
}

}  // namespace verbatim::media
