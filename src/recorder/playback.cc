#include "recorder/playback.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

#include "common/clock.h"
#include "common/strings.h"
#include "media/audio.h"
#include "media/rtp.h"
#include "recorder/video_file.h"
#include "sip/sdp.h"

namespace verbatim::recorder {

using json = nlohmann::json;

namespace {

constexpr int64_t kSecond = 1'000'000'000;
// A timestamp that disagrees with the arrival times by more than this starts a new segment.
constexpr int64_t kResync = kSecond;

struct Packet {
  int64_t arrival = 0;
  uint32_t ssrc = 0;
  uint16_t seq = 0;
  uint32_t ts = 0;
  uint8_t pt = 0;
  bool marker = false;
  uint32_t offset = 0, size = 0;  // of the payload in the stream's arena
  int64_t ext_seq = 0, ext_ts = 0;
  int64_t media_ns = 0;  // the timestamp as time since the SSRC's first packet
};

struct Stream {
  std::string label;
  std::map<int, std::string> codecs;  // payload type → encoding (later offers win)
  std::vector<Packet> packets;
  std::vector<uint8_t> arena;
  uint64_t not_decoded = 0;
};

// A run of one SSRC's packets in one codec with one timestamp anchor; decoded in order.
struct Segment {
  size_t stream = 0;
  std::string codec;
  int64_t anchor = 0;  // ns: arrival time of timestamp 0 (the least-delayed packet's view)
  int clock = 8000;
};

// One packet placed on the timeline.
struct Unit {
  int64_t pos = 0;  // ns, Unix time
  size_t segment = 0;
  size_t packet = 0;
};

int64_t unwrap(int64_t previous, uint32_t value, int bits) {
  const int64_t span = int64_t{1} << bits;
  const int64_t base = previous & ~(span - 1);
  int64_t best = base + value;
  for (int64_t c : {best - span, best + span}) {
    if (std::llabs(c - previous) < std::llabs(best - previous)) best = c;
  }
  return best;
}

// Nanoseconds to samples, in microseconds first (no overflow over days of timeline).
int64_t to_samples(int64_t ns, int rate) { return ns / 1000 * rate / 1'000'000; }

int16_t clip(int32_t v) { return static_cast<int16_t>(std::clamp(v, -32768, 32767)); }

}  // namespace

// NOLINTNEXTLINE(bugprone-exception-escape): nlohmann::json members move without throwing
struct PlaybackBuilder::Impl {
  json catalog;
  std::string recording_id;
  std::vector<Stream> streams;
  std::map<uint16_t, size_t> by_port;
  media::PcapReader reader;
  PlaybackResult result;
  bool built = false;
  int64_t max_span = 0;
  std::optional<int64_t> first_arrival;
  Output output = Output::kOgg;

  void add(const media::PcapRecord& r) {
    auto it = by_port.find(r.to.port);
    if (it == by_port.end()) {
      if (!by_port.count(static_cast<uint16_t>(r.to.port - 1))) ++result.unknown_port;
      return;  // RTCP goes to port + 1
    }
    auto p = media::parse_rtp(r.payload);
    if (!p) return;
    if (!first_arrival) first_arrival = r.ns;
    if (r.ns - *first_arrival > max_span || *first_arrival - r.ns > max_span) {
      ++result.out_of_span;
      return;
    }
    if (p.value().payload_type >= 72 && p.value().payload_type <= 76) return;  // RTCP (mux)
    Stream& s = streams[it->second];
    Packet k;
    k.arrival = r.ns;
    k.ssrc = p.value().ssrc;
    k.seq = p.value().sequence;
    k.ts = p.value().timestamp;
    k.pt = p.value().payload_type;
    k.marker = p.value().marker;
    k.offset = static_cast<uint32_t>(s.arena.size());
    k.size = static_cast<uint32_t>(p.value().payload.size());
    s.arena.insert(s.arena.end(), p.value().payload.begin(), p.value().payload.end());
    s.packets.push_back(k);
    ++result.packets;
  }

  // Streams and payload types from the catalog's "media" entries.
  void load_media() {
    if (!catalog.contains("media") || !catalog["media"].is_array()) return;
    for (const auto& m : catalog["media"]) {
      if (!m.is_object() || !m.contains("port") || !m["port"].is_number_integer()) continue;
      const auto port = m["port"].get<int64_t>();
      if (port <= 0 || port > 65535) continue;
      auto [it, fresh] = by_port.try_emplace(static_cast<uint16_t>(port), streams.size());
      if (fresh) streams.emplace_back();
      Stream& s = streams[it->second];
      s.label = m.value("label", std::to_string(port));
      if (m.contains("payloads") && m["payloads"].is_object()) {
        for (const auto& [pt, enc] : m["payloads"].items()) {
          if (!enc.is_string()) continue;
          try {
            const std::string e = enc.get<std::string>();
            s.codecs[std::stoi(pt)] = e.substr(0, e.find('/'));
          } catch (const std::exception&) {
          }
        }
      }
    }
  }

  // The participants who send on `label`, from the catalog: their ids, addresses and names.
  void senders_of(const std::string& label, std::vector<std::string>& ids,
                  std::vector<std::string>& aors, std::vector<std::string>& names) const {
    if (!catalog.contains("participants") || !catalog["participants"].is_array()) return;
    for (const auto& p : catalog["participants"]) {
      if (!p.is_object() || !p.contains("sendsOnLabels") || !p["sendsOnLabels"].is_array())
        continue;
      const auto& on = p["sendsOnLabels"];
      if (std::find(on.begin(), on.end(), json(label)) == on.end()) continue;
      const std::string aor = p.value("aor", "");
      const std::string name = p.value("name", "");
      ids.push_back(p.value("id", ""));
      aors.push_back(aor);
      std::string shown = name.empty() ? aor : name;
      if (!name.empty() && !aor.empty()) shown.append(" <").append(aor).append(">");
      names.push_back(std::move(shown));
    }
  }

  // One video file per stream and SSRC in VP8 or H.264 (video_file.h), placed on the timeline
  // that starts at `t0`.
  void build_videos(int64_t t0) {
    for (const auto& s : streams) {
      std::string encoding;
      std::map<uint32_t, std::vector<size_t>> by_ssrc;
      for (size_t i = 0; i < s.packets.size(); ++i) {
        auto c = s.codecs.find(s.packets[i].pt);
        if (c == s.codecs.end() || !muxable_video(c->second)) continue;
        if (encoding.empty()) encoding = c->second;
        if (iequals(encoding, c->second)) by_ssrc[s.packets[i].ssrc].push_back(i);
      }
      for (auto& [ssrc, idx] : by_ssrc) {
        int64_t prev = s.packets[idx.front()].seq;
        int64_t first_arrival = INT64_MAX;
        std::vector<std::pair<int64_t, size_t>> order;
        for (size_t i : idx) {
          prev = unwrap(prev, s.packets[i].seq, 16);
          order.emplace_back(prev, i);
          first_arrival = std::min(first_arrival, s.packets[i].arrival);
        }
        std::stable_sort(order.begin(), order.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        order.erase(std::unique(order.begin(), order.end(),
                                [](const auto& a, const auto& b) { return a.first == b.first; }),
                    order.end());
        std::vector<VideoPacket> packets;
        int64_t ts = s.packets[order.front().second].ts;
        for (const auto& [seq, i] : order) {
          const Packet& k = s.packets[i];
          ts = unwrap(ts, k.ts, 32);
          packets.push_back({seq, ts, k.marker, std::span(s.arena).subspan(k.offset, k.size)});
        }
        PlaybackVideo v;
        v.label = s.label;
        v.encoding = encoding;
        v.ssrc = ssrc;
        senders_of(s.label, v.participants, v.aors, v.names);
        v.name = v.names.empty() ? "stream " + s.label : join(v.names, " + ");
        auto file = mux_video(encoding, packets, std::max<int64_t>(first_arrival - t0, 0));
        if (!file) {
          result.without_video.push_back(v.name + " (stream " + s.label +
                                         "): " + file.error().message);
          continue;
        }
        v.file = std::move(file).value();
        result.videos.push_back(std::move(v));
      }
    }
  }

  void place(std::vector<Segment>& segments, std::vector<Unit>& units) {
    for (size_t si = 0; si < streams.size(); ++si) {
      Stream& s = streams[si];
      std::map<uint32_t, std::vector<size_t>> by_ssrc;
      for (size_t i = 0; i < s.packets.size(); ++i) by_ssrc[s.packets[i].ssrc].push_back(i);
      for (auto& [ssrc, idx] : by_ssrc) {
        // Sequence numbers unwrapped in arrival order, then sorted; duplicates dropped.
        int64_t prev = s.packets[idx.front()].seq;
        for (size_t i : idx) prev = s.packets[i].ext_seq = unwrap(prev, s.packets[i].seq, 16);
        std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
          return s.packets[a].ext_seq < s.packets[b].ext_seq;
        });
        idx.erase(std::unique(idx.begin(), idx.end(),
                              [&](size_t a, size_t b) {
                                return s.packets[a].ext_seq == s.packets[b].ext_seq;
                              }),
                  idx.end());
        prev = s.packets[idx.front()].ts;
        for (size_t i : idx) prev = s.packets[i].ext_ts = unwrap(prev, s.packets[i].ts, 32);
        const int64_t first_ts = s.packets[idx.front()].ext_ts;
        // Segments: same codec, timestamps consistent with arrival times.
        size_t seg_first = units.size();
        int64_t seg_ref = 0;
        std::string seg_codec;
        auto close_segment = [&] {
          if (seg_first == units.size()) return;
          Segment& g = segments.back();
          int64_t anchor = INT64_MAX;
          for (size_t u = seg_first; u < units.size(); ++u) anchor = std::min(anchor, units[u].pos);
          g.anchor = anchor;
          for (size_t u = seg_first; u < units.size(); ++u) {
            const Packet& k = s.packets[units[u].packet];
            units[u].pos = anchor + k.media_ns;
          }
        };
        for (size_t i : idx) {
          Packet& k = s.packets[i];
          auto c = s.codecs.find(k.pt);
          if (c == s.codecs.end()) {  // a catalog without it: RFC 3551's static types
            if (auto st = sip::static_rtpmap(k.pt)) c = s.codecs.emplace(k.pt, st->encoding).first;
          }
          if (c == s.codecs.end() || !media::can_decode(c->second)) {
            ++s.not_decoded;
            continue;
          }
          const int clock = media::rtp_clock_rate(c->second);
          // Timestamps further from the SSRC's first than the span are not audio of this call
          // (and would overflow the arithmetic below).
          const int64_t ticks = k.ext_ts - first_ts;
          if (std::llabs(ticks) / clock > max_span / kSecond) {
            ++result.out_of_span;
            continue;
          }
          k.media_ns = ticks * (kSecond / 1000) / clock * 1000;
          const int64_t offset = k.arrival - k.media_ns;
          if (seg_first == units.size() || c->second != seg_codec ||
              std::llabs(offset - seg_ref) > kResync) {
            close_segment();
            seg_first = units.size();
            seg_ref = offset;
            seg_codec = c->second;
            segments.push_back({si, c->second, 0, clock});
          }
          units.push_back({offset, segments.size() - 1, i});  // pos: the offset until closed
        }
        close_segment();
      }
    }
    std::stable_sort(units.begin(), units.end(),
                     [](const Unit& a, const Unit& b) { return a.pos < b.pos; });
  }
};

PlaybackBuilder::PlaybackBuilder(json catalog, std::string recording_id,
                                 std::chrono::seconds max_span)
    : impl_(std::make_unique<Impl>()) {
  impl_->max_span = std::chrono::duration_cast<std::chrono::nanoseconds>(max_span).count();
  impl_->catalog = std::move(catalog);
  impl_->recording_id = std::move(recording_id);
  impl_->load_media();
}

PlaybackBuilder::~PlaybackBuilder() = default;

void PlaybackBuilder::set_output(Output output) { impl_->output = output; }

Status PlaybackBuilder::feed(std::span<const uint8_t> evidence) {
  return impl_->reader.feed(evidence, [this](const media::PcapRecord& r) { impl_->add(r); });
}

Result<PlaybackResult> PlaybackBuilder::build(const std::atomic<bool>* cancel) {
  Impl& m = *impl_;
  if (m.built) return make_error(ErrorCode::kFailedPrecondition, "playback already built");
  m.built = true;
  PlaybackResult& res = m.result;
  res.truncated_bytes = m.reader.leftover();
  std::vector<Segment> segments;
  std::vector<Unit> units;
  m.place(segments, units);
  if (m.output == Output::kOgg && m.first_arrival) {
    m.build_videos(units.empty() ? *m.first_arrival : units.front().pos);
    if (units.empty()) res.timeline_start_ns = *m.first_arrival;
  }
  if (units.empty()) return std::move(res);
  // The timeline: from the first packet's place to the end of the last one's audio.
  const int64_t t0 = units.front().pos;
  int64_t end = t0;
  for (const Unit& u : units) {
    const Segment& g = segments[u.segment];
    const Stream& s = m.streams[g.stream];
    const Packet& k = s.packets[u.packet];
    const int n = media::payload_samples(g.codec, std::span(s.arena).subspan(k.offset, k.size));
    end = std::max(end, u.pos + int64_t{n} * kSecond / g.clock);
  }
  res.timeline_start_ns = t0;
  res.duration_s = static_cast<double>(end - t0) / kSecond;

  // Tracks: participants by the set of labels they send on.
  struct Spec {
    std::set<std::string> labels;
    std::vector<std::string> ids, aors, names;
  };
  std::vector<Spec> specs;
  std::set<std::string> known, covered;
  for (const auto& s : m.streams) known.insert(s.label);
  if (m.catalog.contains("participants") && m.catalog["participants"].is_array()) {
    for (const auto& p : m.catalog["participants"]) {
      if (!p.is_object() || !p.contains("sendsOnLabels") || !p["sendsOnLabels"].is_array())
        continue;
      std::set<std::string> labels;
      for (const auto& l : p["sendsOnLabels"]) {
        if (l.is_string() && known.count(l.get<std::string>())) labels.insert(l.get<std::string>());
      }
      if (labels.empty()) continue;
      auto it = std::find_if(specs.begin(), specs.end(),
                             [&](const Spec& sp) { return sp.labels == labels; });
      if (it == specs.end()) it = specs.insert(specs.end(), Spec{labels, {}, {}, {}});
      const std::string aor = p.value("aor", "");
      const std::string name = p.value("name", "");
      it->ids.push_back(p.value("id", ""));
      it->aors.push_back(aor);
      std::string shown = name.empty() ? aor : name;
      if (!name.empty() && !aor.empty()) shown.append(" <").append(aor).append(">");
      it->names.push_back(std::move(shown));
      covered.insert(labels.begin(), labels.end());
    }
  }
  for (const auto& s : m.streams) {
    if (!covered.count(s.label)) specs.push_back({{s.label}, {}, {}, {"stream " + s.label}});
  }

  for (const Spec& sp : specs) {
    PlaybackTrack t;
    t.name = join(sp.names, " + ");
    t.participants = sp.ids;
    t.aors = sp.aors;
    t.labels.assign(sp.labels.begin(), sp.labels.end());
    t.sample_rate = 8000;
    for (const Unit& u : units) {
      const Segment& g = segments[u.segment];
      if (sp.labels.count(m.streams[g.stream].label))
        t.sample_rate = std::max(t.sample_rate, media::decoded_rate(g.codec));
    }
    for (const auto& s : m.streams) {
      if (sp.labels.count(s.label)) t.not_decoded += s.not_decoded;
    }
    const int rate = t.sample_rate;
    std::vector<std::pair<std::string, std::string>> comments = {
        {"TITLE", t.name},
        {"ARTIST", t.name},
        {"VERBATIM_TIMELINE_START",
         format_iso8601_ms(TimePoint(
             std::chrono::duration_cast<TimePoint::duration>(std::chrono::nanoseconds(t0))))},
        {"VERBATIM_LABELS", join(t.labels, ",")}};
    if (!m.recording_id.empty()) comments.emplace_back("VERBATIM_RECORDING", m.recording_id);
    for (const auto& a : t.aors) {
      if (!a.empty()) comments.emplace_back("VERBATIM_PARTICIPANT", a);
    }
    std::unique_ptr<media::OggOpusWriter> writer;
    if (m.output == Output::kOgg) {
      auto w = media::OggOpusWriter::create(rate, rate == 8000 ? 40000 : 48000, comments);
      if (!w) return w.error();
      writer = std::move(w).value();
    }
    auto write = [&](std::span<const int16_t> samples) -> Status {
      if (!writer) {
        t.pcm.insert(t.pcm.end(), samples.begin(), samples.end());
        return ok_status();
      }
      return writer->write(samples);
    };
    // Decoders and resamplers per segment (decoding is stateful, so per track too).
    std::map<size_t, std::unique_ptr<media::AudioDecoder>> decoders;
    std::map<size_t, std::unique_ptr<media::Resampler>> resamplers;
    std::vector<int32_t> pending;  // mixed samples from `flushed` on
    int64_t flushed = 0;
    std::vector<int16_t> out, pcm, converted;
    const std::vector<int16_t> silence(static_cast<size_t>(rate), 0);
    auto emit_until = [&](int64_t sample) -> Status {
      const auto from_pending = static_cast<size_t>(std::min<int64_t>(
          std::max<int64_t>(sample - flushed, 0), static_cast<int64_t>(pending.size())));
      if (from_pending > 0) {
        out.resize(from_pending);
        for (size_t i = 0; i < from_pending; ++i) out[i] = clip(pending[i]);
        VB_TRY(write(out));
        pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(from_pending));
        flushed += static_cast<int64_t>(from_pending);
      }
      while (flushed < sample) {  // nothing pending: silence
        const auto n = static_cast<size_t>(std::min<int64_t>(sample - flushed, rate));
        VB_TRY(write(std::span(silence).first(n)));
        flushed += static_cast<int64_t>(n);
      }
      return ok_status();
    };
    for (const Unit& u : units) {
      const Segment& g = segments[u.segment];
      const Stream& s = m.streams[g.stream];
      if (!sp.labels.count(s.label)) continue;
      if (cancel && (t.packets & 1023) == 0 && cancel->load()) {
        return make_error(ErrorCode::kFailedPrecondition, "playback build cancelled");
      }
      auto& dec = decoders[u.segment];
      if (!dec) {
        auto d = media::make_decoder(g.codec);
        if (!d) return d.error();
        dec = std::move(d).value();
        if (dec->sample_rate() != rate) {
          auto r = media::Resampler::create(dec->sample_rate(), rate);
          if (!r) return r.error();
          resamplers[u.segment] = std::move(r).value();
        }
      }
      const Packet& k = s.packets[u.packet];
      pcm.clear();
      if (!dec->decode(std::span(s.arena).subspan(k.offset, k.size), pcm)) {
        ++t.decode_errors;
        continue;
      }
      ++t.packets;
      const std::vector<int16_t>* samples = &pcm;
      if (auto r = resamplers.find(u.segment); r != resamplers.end()) {
        converted.clear();
        r->second->process(pcm, converted);
        samples = &converted;
      }
      const int64_t at = to_samples(u.pos - t0, rate);
      VB_TRY(emit_until(at));
      const auto off = static_cast<size_t>(at - flushed);
      if (pending.size() < off + samples->size()) pending.resize(off + samples->size(), 0);
      for (size_t i = 0; i < samples->size(); ++i) pending[off + i] += (*samples)[i];
    }
    const int64_t total = to_samples(end - t0, rate);
    VB_TRY(emit_until(std::max(total, flushed + static_cast<int64_t>(pending.size()))));
    if (t.packets == 0) {
      res.without_audio.push_back(t.name);
      continue;
    }
    t.duration_s = static_cast<double>(flushed) / rate;
    if (writer) {
      auto ogg = writer->finish();
      if (!ogg) return ogg.error();
      t.ogg = std::move(ogg).value();
    }
    res.tracks.push_back(std::move(t));
  }
  return std::move(res);
}

}  // namespace verbatim::recorder
