#include "recorder/recorder.h"
#include "common/log.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>

#include "common/clock.h"

#include "common/cidr.h"
#include "common/strings.h"
#include "media/audio.h"
#include "media/pcap.h"
#include "media/srtp.h"
#include "recorder/playback_jobs.h"
#include "siprec/gateway_context.h"
#include "siprec/metadata.h"
#include "siprec/request.h"

namespace verbatim::recorder {

namespace asio = boost::asio;
using nlohmann::json;
using SysTime = std::chrono::system_clock::time_point;

namespace {

media::UdpEndpoint to_pcap(const asio::ip::udp::endpoint& e) {
  media::UdpEndpoint u;
  u.port = e.port();
  if (e.address().is_v6()) {
    u.v6 = true;
    u.address = e.address().to_v6().to_bytes();
  } else {
    const auto b = e.address().to_v4().to_bytes();
    std::copy(b.begin(), b.end(), u.address.begin());
  }
  return u;
}

std::string header_text(const sip::Message& m, std::string_view name) {
  const auto* h = m.find(name);
  return h ? std::string(h->value) : std::string();
}

const std::vector<std::string>& decodable() {
  static const std::vector<std::string> k = {"PCMU", "PCMA", "G722", "opus"};
  return k;
}

}  // namespace

struct Recorder::Session : PacketSink {
  Recorder& rec;
  uint64_t id = 0;
  std::string recording_id;
  std::string call_id;
  std::string client;  // the recording client's address
  json catalog;        // the catalog metadata (updated with each SIPREC metadata change)
  // The streams as the playback job needs them: label, port, payload types (catalog "media").
  json media = json::array();
  bool media_changed = false;
  siprec::Metadata metadata;
  bool have_metadata = false;
  std::unique_ptr<archive::OpenObject> evidence, signalling;
  bool dirty = false, signalling_dirty = false;
  bool sync_pending = false;
  std::chrono::steady_clock::time_point last_flush{};
  size_t fds = 0;                                        // file descriptors held (sockets, objects)
  std::string failure;                                   // the first write error
  std::vector<std::shared_ptr<StreamReceiver>> streams;  // by m-line; null: rejected
  uint64_t sdp_id = 0, sdp_version = 0;
  SysTime started{};
  std::chrono::steady_clock::time_point started_steady{};
  json events = json::array();
  std::string end_status, end_reason;  // set before we hang up ourselves
  bool finalized = false;

  Session(Recorder& r, uint64_t i) : rec(r), id(i) {}

  void record(const StreamReceiver&, SysTime at, const asio::ip::udp::endpoint& from,
              const asio::ip::udp::endpoint& to, media::Bytes datagram) override {
    ++(datagram.size() && media::classify(datagram) == media::PacketKind::kRtcp
           ? rec.metrics_.rtcp
           : rec.metrics_.packets);
    rec.metrics_.bytes_received += datagram.size();
    if (!evidence || !failure.empty()) return;
    rec.scratch_.clear();
    if (auto st = media::append_pcap_udp(rec.scratch_, at, to_pcap(from), to_pcap(to), datagram);
        !st) {
      return;
    }
    if (auto st = evidence->writer().write(rec.scratch_); !st) {
      fail("evidence write failed: " + st.error().message);
      return;
    }
    rec.metrics_.evidence_bytes += rec.scratch_.size();
    dirty = true;
  }

  void event(const StreamReceiver& stream, json e) override {
    e["at"] = format_iso8601_ms(std::chrono::system_clock::now());
    e["label"] = stream.spec().label;
    if (events.size() < 10000) events.push_back(std::move(e));
  }

  void note(json e) {
    e["at"] = format_iso8601_ms(std::chrono::system_clock::now());
    if (events.size() < 10000) events.push_back(std::move(e));
  }

  void fail(const std::string& what) {
    if (!failure.empty()) return;
    failure = what;
    ++rec.metrics_.write_errors;
    spdlog::error("recording {} (Call-ID {}): {}; the recording is kept up to its last flush",
                  recording_id, call_id, what);
    note({{"type", "write-error"}, {"error", what}});
  }

  void log_request(const sip::Message& m) {
    if (!signalling || !failure.empty()) return;
    std::string text = "--- " + format_iso8601_ms(std::chrono::system_clock::now()) + " from " +
                       client + "\r\n" + m.serialize() + "\r\n";
    if (auto st = signalling->writer().write(
            std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
        !st) {
      fail("signalling write failed: " + st.error().message);
    }
    signalling_dirty = true;
  }
};

Syncer::Syncer(asio::io_context& io, const std::string& dir, Done done)
    : io_(io), done_(std::move(done)) {
  dir_fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  thread_ = std::thread([this] { run(); });
}

Syncer::~Syncer() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

void Syncer::submit(uint64_t session, std::vector<archive::DeferredSync> syncs) {
  {
    std::lock_guard lock(mutex_);
    queue_.emplace_back(session, std::move(syncs));
  }
  wake_.notify_one();
}

void Syncer::run() {
  for (;;) {
    std::vector<std::pair<uint64_t, std::vector<archive::DeferredSync>>> batch;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      batch.swap(queue_);
    }
    // One write-back of the whole file system instead of one journal commit per object; the
    // per-object syncs that follow find (almost) nothing left to write.
    if (batch.size() > 1 && dir_fd_ >= 0) (void)::syncfs(dir_fd_);
    ++batches_;
    for (auto& [session, syncs] : batch) {
      Status result = ok_status();
      for (auto& sync : syncs) {
        if (auto st = sync(); !st && result) result = st;
      }
      asio::post(io_, [this, id = session, result] { done_(id, result); });
    }
  }
}

Recorder::Recorder(asio::io_context& io, archive::Archive& archive, RecorderOptions options)
    : io_(io),
      archive_(archive),
      options_(std::move(options)),
      ports_(options_.rtp_port_min, options_.rtp_port_max),
      timer_(io),
      syncer_(
          std::make_unique<Syncer>(io, archive.objects_dir(),
                                   [this](uint64_t id, const Status& st) { on_synced(id, st); })) {}

Recorder::~Recorder() {
  write_status();
  for (auto& [id, s] : sessions_) {
    for (auto& st : s->streams) {
      if (st) st->close();
    }
  }
}

Result<std::string> Recorder::start() {
  for (const auto& cidr : options_.allowed_sources) {
    boost::system::error_code ec;
    if (cidr.find(':') != std::string::npos) {
      (void)asio::ip::make_network_v6(cidr, ec);
    } else {
      (void)asio::ip::make_network_v4(cidr, ec);
    }
    if (ec)
      return make_error(ErrorCode::kInvalidArgument, "allowed source '" + cidr + "' is not a CIDR");
  }
  sip::EndpointOptions eo;
  eo.listen = options_.sip_listen;
  eo.t = options_.sip_timers;
  eo.tls = options_.tls;
  eo.tls_listen = options_.tls_listen;
  sip_ = std::make_unique<sip::SipEndpoint>(
      io_, eo,
      sip::UserAgent::Handlers{
          .on_invite = [this](uint64_t id, const sip::Message& m) { on_invite(id, m); },
          .on_reoffer = [this](uint64_t id, const sip::Message& m) { return on_reoffer(id, m); },
          .on_ended = [this](uint64_t id, std::string_view why) { on_ended(id, why); },
          .options_status =
              [this] { return draining_ || sessions_.size() >= options_.max_sessions ? 503 : 200; },
          .options_headers =
              [this] {
                sip::HeaderList h = {
                    {"X-Verbatim-Load", "sessions=" + std::to_string(sessions_.size()) +
                                            ";max=" + std::to_string(options_.max_sessions) +
                                            ";ports-free=" + std::to_string(ports_.available())}};
                if (draining_ || sessions_.size() >= options_.max_sessions)
                  h.emplace_back("Retry-After", std::to_string(options_.retry_after.count()));
                return h;
              },
      });
  auto bound = sip_->start();
  if (!bound) return bound.error();
  boost::system::error_code ec;
  media_address_ = options_.media_address.empty()
                       ? bound.value().address()
                       : asio::ip::make_address(options_.media_address, ec);
  if (ec) {
    return make_error(ErrorCode::kInvalidArgument,
                      "media address '" + options_.media_address + "': " + ec.message());
  }
  if (media_address_.is_unspecified()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "set recorder.media_address: SIP listens on any address, and the SDP answer "
                      "must name one");
  }
  if (rlimit nofile{}; ::getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
    fd_limit_ = nofile.rlim_cur == RLIM_INFINITY ? SIZE_MAX : static_cast<size_t>(nofile.rlim_cur);
  }
  std::error_code fs_ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", fs_ec);
       !fs_ec && it != std::filesystem::directory_iterator(); it.increment(fs_ec)) {
    ++fd_base_;
  }
  fd_base_ += 256;  // SIP TCP connections, the archive, the status file
  tick();
  return sip_->local();
}

bool Recorder::source_allowed(const std::string& address) const {
  return options_.allowed_sources.empty() || address_in(address, options_.allowed_sources);
}

void Recorder::refuse(uint64_t id, int status, const std::string& reason_key,
                      const std::string& text) {
  ++metrics_.refused[reason_key];
  // The text may quote the request (an SDP parse error names the bad field): only printable
  // characters and no quotes go into the Warning's quoted-string, never a line break.
  std::string warning = text;
  for (char& ch : warning) {
    const auto u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u >= 0x7f || ch == '"' || ch == '\\') ch = '?';
  }
  // Anyone can make the recorder refuse: the log line is rate-limited (the metric counts all).
  if (refusal_log_.allow(std::chrono::steady_clock::now())) {
    const uint64_t held = refusal_log_.suppressed();
    spdlog::warn("recording session refused ({} {}): {}{}", status, reason_key, warning,
                 held ? " (and " + std::to_string(held) + " more refusals not logged)" : "");
  }
  sip::HeaderList h = {{"Warning", "399 verbatim \"" + warning + "\""}};
  if (status == 503) h.emplace_back("Retry-After", std::to_string(options_.retry_after.count()));
  const char* phrase = status == 503   ? "Service Unavailable"
                       : status == 403 ? "Forbidden"
                       : status == 488 ? "Not Acceptable Here"
                                       : "Bad Request";
  warn_on_error(sip_->ua().reject(id, status, phrase, h), "rejecting a request");
}

void Recorder::on_invite(uint64_t id, const sip::Message& invite) {
  // The address the request's packets came from (the transport's peer), never anything the
  // sender wrote into the message (a Via received= or host).
  const sip::Peer* from = sip_->ua().peer(id);
  const std::string client = from ? from->address : "";
  if (!source_allowed(client)) {
    refuse(id, 403, "source", "recording client " + client + " is not an allowed source");
    return;
  }
  auto body = siprec::siprec_body(invite);
  if (!body) {
    refuse(id, 400, "bad-request", body.error().message);
    return;
  }
  if (!siprec::is_siprec(invite, body.value()) && !options_.accept_non_siprec) {
    refuse(id, 403, "not-siprec",
           "not a SIPREC request (no +sip.src, no Require: siprec, no recording metadata)");
    return;
  }
  if (!body.value().sdp) {
    refuse(id, 488, "no-sdp", "no SDP offer");
    return;
  }
  if (draining_) {
    refuse(id, 503, "shutdown", "recorder shutting down");
    return;
  }
  if (sessions_.size() >= options_.max_sessions) {
    refuse(id, 503, "capacity",
           "recorder at capacity (" + std::to_string(sessions_.size()) + " sessions)");
    return;
  }
  if (auto free = archive_.free_bytes(); !free || free.value() < options_.min_free_bytes) {
    refuse(id, 503, "storage",
           "recording storage unavailable: " +
               (free ? std::to_string(free.value() >> 20) + " MiB free, " +
                           std::to_string(options_.min_free_bytes >> 20) + " MiB required"
                     : free.error().message));
    return;
  }
  auto offer = sip::parse_sdp(*body.value().sdp);
  if (!offer) {
    refuse(id, 488, "bad-sdp", "SDP offer: " + offer.error().message);
    return;
  }
  size_t needed = 3;  // evidence, signalling, quality
  for (const auto& m : offer.value().media) needed += m.port ? 2 : 0;
  if (fd_limit_ && fd_base_ + fds_in_use_ + needed > fd_limit_) {
    refuse(id, 503, "descriptors",
           "out of file descriptors (" + std::to_string(fd_base_ + fds_in_use_) + " of " +
               std::to_string(fd_limit_) + " in use): raise the recorder's open-files limit");
    return;
  }
  auto s = std::make_unique<Session>(*this, id);
  s->client = client;
  if (auto cid = invite.call_id()) s->call_id = std::string(cid.value());
  s->started = std::chrono::system_clock::now();
  s->started_steady = std::chrono::steady_clock::now();
  s->sdp_id =
      static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::seconds>(s->started.time_since_epoch()).count()) *
          1000 +
      next_sdp_id_++ % 1000;
  if (body.value().metadata) {
    std::vector<siprec::MetadataProblem> problems;
    auto md = siprec::parse_metadata(*body.value().metadata, &problems);
    if (md) {
      s->metadata = std::move(md).value();
      s->have_metadata = true;
      for (const auto& p : problems) {
        s->note({{"type", "metadata-problem"}, {"line", p.line}, {"message", p.message}});
      }
    } else {
      s->note({{"type", "metadata-unreadable"}, {"error", md.error().message}});
      spdlog::warn("Call-ID {}: recording metadata unreadable ({}); recording without it",
                   s->call_id, md.error().message);
    }
  }
  auto answer_sdp = answer(*s, offer.value());
  if (!answer_sdp) {  // answer() released the streams it opened
    if (answer_sdp.error().code == ErrorCode::kResourceExhausted) {
      refuse(id, 503, "ports", answer_sdp.error().message);
    } else {
      refuse(id, 488, "bad-sdp", answer_sdp.error().message);
    }
    return;
  }
  // The catalog entry.
  json& c = s->catalog;
  c = {{"type", "siprec"},
       {"callId", s->call_id},
       {"recordingClient",
        {{"address", client},
         {"from", header_text(invite, "From")},
         {"to", header_text(invite, "To")},
         {"userAgent", header_text(invite, "User-Agent")}}},
       {"startedAt", format_iso8601_ms(s->started)},
       {"status", "recording"}};
  if (s->have_metadata) {
    c["participants"] = siprec::participants_json(s->metadata);
    c["siprec"] = siprec::to_json(s->metadata);
  }
  // What our gateway knows about the call, for retention rules and search (docs/recorder.md):
  // taken only when it signed it (siprec/gateway_context.h), else ignored and noted.
  const auto context =
      siprec::read_context(invite, options_.gateway_key, std::chrono::system_clock::now());
  if (context.context) {
    const siprec::GatewayContext& g = *context.context;
    if (!g.application_id.empty()) c["application_id"] = g.application_id;
    if (!g.policy.empty()) c["policy"] = g.policy;
    if (!g.groups.empty()) c["groups"] = g.groups;
    if (!g.call_id.empty()) c["callId"] = g.call_id;
  } else if (!context.ignored.empty()) {
    c["untrustedGatewayHeaders"] = context.ignored;
    ++metrics_.untrusted_headers;
    if (untrusted_log_.allow(std::chrono::steady_clock::now())) {
      const uint64_t held = untrusted_log_.suppressed();
      spdlog::warn("Call-ID {} from {}: {}; recording without them{}", s->call_id, client,
                   context.ignored,
                   held ? " (and " + std::to_string(held) + " more not logged)" : "");
    }
  }
  c["media"] = s->media;
  s->media_changed = false;
  c["streams"] = json::array();
  for (const auto& st : s->streams) {
    if (st) c["streams"].push_back({{"label", st->spec().label}, {"index", st->spec().index + 1}});
  }
  auto close_all = [&](Session& sess) {
    release(sess.streams);
    sess.streams.clear();
    fds_in_use_ -= sess.fds;
    sess.fds = 0;
  };
  auto created = archive_.create_recording(c);
  if (!created) {
    close_all(*s);
    refuse(id, 503, "storage", "recording storage unavailable: " + created.error().message);
    return;
  }
  s->recording_id = created.value();
  if (options_.jobs) {  // waits for the end of the call (jobs/queue.h)
    if (auto st = options_.jobs->add(PlaybackJobs::kKind, s->recording_id, false); !st) {
      spdlog::error("recording {}: no playback job: {}", s->recording_id, st.error().message);
    }
  }
  // Small chunks keep the memory per call low: two G.711 streams write ~20 KB/s, so a 16 KiB
  // chunk is still about one per flush interval.
  archive::WriterOptions wo = archive_.writer_options();
  wo.auto_flush = false;  // flush() below, synced by the Syncer
  wo.chunk_size = 16 * 1024;
  auto ev = archive_.begin_object(s->recording_id, "evidence-pcap", wo);
  wo.chunk_size = 4 * 1024;
  auto sg = ev ? archive_.begin_object(s->recording_id, "signalling", wo)
               : Result<std::unique_ptr<archive::OpenObject>>(ev.error());
  if (!ev || !sg) {
    close_all(*s);
    const std::string why = (!ev ? ev.error() : sg.error()).message;
    if (ev) warn_on_error(archive_.seal(*ev.value()), "sealing an object");
    warn_on_error(
        archive_.complete_recording(s->recording_id, "partial", "could not start: " + why),
        "completing a recording");
    refuse(id, 503, "storage", "recording storage unavailable: " + why);
    return;
  }
  s->evidence = std::move(ev).value();
  s->signalling = std::move(sg).value();
  const auto header = media::pcap_file_header();
  if (auto st = s->evidence->writer().write(header); !st) s->fail(st.error().message);
  s->log_request(invite);
  if (auto st = sip_->ua().accept(id, answer_sdp.value()); !st) {
    spdlog::error("Call-ID {}: could not answer: {}", s->call_id, st.error().message);
    s->end_status = "partial";
    s->end_reason = "could not answer: " + st.error().message;
    finalize(*s, s->end_status, s->end_reason);
    return;
  }
  ++metrics_.sessions_started;
  spdlog::info("recording {} started: Call-ID {} from {}, {} stream(s)", s->recording_id,
               s->call_id, client, c["streams"].size());
  sessions_[id] = std::move(s);
}

void Recorder::release(StreamReceiver& stream) {
  stream.close();
  ports_.give(stream.port());
}

void Recorder::release(const std::vector<std::shared_ptr<StreamReceiver>>& streams) {
  for (const auto& st : streams) {
    if (st) release(*st);
  }
}

void Recorder::note_media(Session& s, uint16_t port, const StreamSpec& spec) {
  json payloads = json::object();
  for (const auto& [pt, rm] : spec.payloads) {
    payloads[std::to_string(pt)] = rm.encoding + "/" + std::to_string(rm.clock_rate) +
                                   (rm.channels > 1 ? "/" + std::to_string(rm.channels) : "");
  }
  for (auto& m : s.media) {
    if (m["port"] == port && m["label"] == spec.label) {
      for (const auto& [pt, enc] : payloads.items()) {
        if (!m["payloads"].contains(pt) || m["payloads"][pt] != enc) {
          m["payloads"][pt] = enc;
          s.media_changed = true;
        }
      }
      return;
    }
  }
  s.media.push_back({{"label", spec.label}, {"port", port}, {"payloads", std::move(payloads)}});
  s.media_changed = true;
}

Result<std::string> Recorder::answer(Session& s, const sip::SessionDescription& offer) {
  sip::AnswerOptions ao;
  ao.address = media_address_.to_string();
  ao.session_id = s.sdp_id;
  // Every codec is taken: the ones we decode first, anything else kept as evidence.
  ao.codecs = decodable();
  for (const auto& m : offer.media) {
    for (const auto& r : m.rtpmaps()) {
      if (!iequals(r.encoding, "telephone-event") && !media::can_decode(r.encoding))
        ao.codecs.push_back(r.encoding);
    }
  }
  // SRTP (RFC 4568 SDES): the first a=crypto line we can use; an RTP/SAVP stream without one
  // (DTLS-SRTP, an unknown suite, an MKI) is refused with port 0, never recorded in the clear.
  std::vector<std::optional<std::pair<sip::SdesCrypto, media::SdesKey>>> crypto(offer.media.size());
  // Ports: the stream's own for an m-line we already record, a new pair otherwise.
  std::vector<std::shared_ptr<StreamReceiver>> opened(offer.media.size());
  for (size_t i = 0; i < offer.media.size(); ++i) {
    const auto& m = offer.media[i];
    const bool secure = m.proto.find("SAVP") != std::string::npos;
    std::string crypto_problem = secure ? "no a=crypto line" : "";
    for (const auto& c : m.cryptos()) {
      auto k = media::parse_sdes_key(c.suite, c.key_params);
      if (k) {
        crypto[i] = std::pair{c, std::move(k).value()};
        break;
      }
      crypto_problem = k.error().message;
    }
    if (secure && !crypto[i]) {
      s.note({{"type", "srtp-refused"},
              {"index", i + 1},
              {"proto", m.proto},
              {"reason", crypto_problem}});
    }
    if (m.port == 0 || m.proto.find("RTP") == std::string::npos || (secure && !crypto[i])) {
      ao.ports.push_back(0);
      continue;
    }
    if (i < s.streams.size() && s.streams[i]) {
      ao.ports.push_back(s.streams[i]->port());
      continue;
    }
    std::shared_ptr<StreamReceiver> r;
    std::string last_error = "no media ports free";
    for (int attempt = 0; attempt < 16 && !r; ++attempt) {
      auto p = ports_.take();
      if (!p) break;
      auto o = StreamReceiver::open(io_, media_address_, *p, StreamSpec{}, options_.latch, &s);
      if (o) {
        r = o.value();
      } else {
        last_error = o.error().message;
        ports_.give(*p);
      }
    }
    if (!r) {
      release(opened);
      return make_error(ErrorCode::kResourceExhausted, last_error);
    }
    opened[i] = r;
    ao.ports.push_back(r->port());
  }
  auto a = sip::answer_recvonly(offer, ao);
  if (!a) {
    release(opened);
    return a.error();
  }
  sip::SessionDescription& ans = a.value();
  ans.origin.session_version = std::to_string(++s.sdp_version);
  // The streams: new ones start when the answer is sent; existing ones take the change.
  std::vector<std::shared_ptr<StreamReceiver>> streams(offer.media.size());
  for (size_t i = 0; i < offer.media.size(); ++i) {
    const auto& om = offer.media[i];
    const auto& am = ans.media[i];
    std::shared_ptr<StreamReceiver> r = opened[i];
    if (!r && i < s.streams.size()) r = s.streams[i];
    if (!r) continue;
    if (am.port == 0) {
      release(*r);
      continue;
    }
    StreamSpec spec;
    spec.index = i;
    spec.label = om.label().value_or(std::to_string(i + 1));
    spec.media = om.media;
    spec.source_port = om.port;
    if (const auto* conn = offer.connection_for(om)) {
      boost::system::error_code ec;
      auto addr = asio::ip::make_address(conn->address.substr(0, conn->address.find('/')), ec);
      if (!ec && !addr.is_unspecified()) spec.source = addr;
    }
    bool any_decodable = false;
    for (const auto& f : am.formats) {
      const auto parsed = sip::parse_payload_type(f);
      if (!parsed) continue;
      const int pt = *parsed;
      auto rm = om.rtpmap(pt);
      if (!rm) continue;
      if (iequals(rm->encoding, "telephone-event")) {
        spec.telephone_event = pt;
      } else {
        spec.payloads[pt] = *rm;
        any_decodable |= media::can_decode(rm->encoding);
      }
    }
    spec.receiving = am.direction() == sip::Direction::kRecvOnly;
    if (crypto[i]) {
      // Our own key for the answer (RFC 4568 §6.1: the same tag and suite); never used to send.
      const auto& [line, key] = *crypto[i];
      ans.media[i].attributes.push_back({"crypto", std::to_string(line.tag) + " " + line.suite +
                                                       " " + media::new_sdes_inline(line.suite)});
      spec.srtp = key;
    }
    if (!any_decodable) {
      s.note({{"type", "codec-not-decodable"},
              {"label", spec.label},
              {"note", "kept as evidence; no playback file"}});
    }
    note_media(s, r->port(), spec);
    r->update(spec);
    if (r == opened[i]) {
      r->start();
      ++metrics_.streams_started;
    }
    streams[i] = r;
  }
  // Streams on m-lines the new offer no longer has.
  for (size_t i = offer.media.size(); i < s.streams.size(); ++i) {
    if (s.streams[i]) release(*s.streams[i]);
  }
  s.streams = std::move(streams);
  fds_in_use_ -= s.fds;
  s.fds = 2;
  for (const auto& st : s.streams) s.fds += st ? 2 : 0;
  fds_in_use_ += s.fds;
  return sip::serialize_sdp(ans);
}

Result<std::string> Recorder::on_reoffer(uint64_t id, const sip::Message& request) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return sip::protocol_error(481, "no such recording session");
  Session& s = *it->second;
  s.log_request(request);
  auto body = siprec::siprec_body(request);
  if (!body) return sip::protocol_error(400, body.error().message);
  // One new version of the catalog metadata for what this request changed (SIPREC metadata,
  // streams or codecs: the playback job reads the latter after a crash too).
  std::string why;
  auto store_catalog = [&] {
    if (s.media_changed) {
      s.catalog["media"] = s.media;
      s.media_changed = false;
      why += std::string(why.empty() ? "" : "; ") + "media renegotiated in " +
             std::string(request.method());
    }
    if (why.empty()) return;
    if (auto v = archive_.update_metadata(s.recording_id, s.catalog, "recorder", why); !v) {
      spdlog::warn("recording {}: metadata update not stored: {}", s.recording_id,
                   v.error().message);
    }
  };
  if (body.value().metadata) {
    std::vector<siprec::MetadataProblem> problems;
    auto md = siprec::parse_metadata(*body.value().metadata, &problems);
    if (md) {
      const bool partial = md.value().partial;
      if (s.have_metadata) {
        siprec::merge(s.metadata, md.value());
      } else {
        s.metadata = std::move(md).value();
      }
      s.have_metadata = true;
      s.catalog["participants"] = siprec::participants_json(s.metadata);
      s.catalog["siprec"] = siprec::to_json(s.metadata);
      why = std::string("SIPREC metadata ") + (partial ? "update (partial)" : "snapshot") + " in " +
            std::string(request.method());
      s.note({{"type", "metadata-update"}, {"partial", partial}});
    } else {
      s.note({{"type", "metadata-unreadable"}, {"error", md.error().message}});
    }
  }
  if (!body.value().sdp) {
    store_catalog();
    return std::string();
  }
  auto offer = sip::parse_sdp(*body.value().sdp);
  if (!offer) {
    store_catalog();
    return sip::protocol_error(488, "SDP offer: " + offer.error().message);
  }
  auto a = answer(s, offer.value());
  store_catalog();
  if (!a) {
    return sip::protocol_error(a.error().code == ErrorCode::kResourceExhausted ? 503 : 488,
                               a.error().message);
  }
  s.note({{"type", "renegotiated"}, {"streams", offer.value().media.size()}});
  return a.value();
}

void Recorder::on_ended(uint64_t id, std::string_view why) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  Session& s = *it->second;
  std::string status = "complete", reason;
  if (why == "local" && !s.end_status.empty()) {
    status = s.end_status;
    reason = s.end_reason;
  } else if (why == "session-timer") {
    status = "partial";
    reason = "session timer expired: the recording client stopped refreshing the session";
  } else if (why == "no-ack") {
    status = "partial";
    reason = "the recording client never acknowledged the answer";
  } else if (why != "bye") {
    status = "partial";
    reason = "session ended: " + std::string(why);
  }
  finalize(s, status, reason);
}

void Recorder::finalize(Session& s, std::string status, std::string reason) {
  if (s.finalized) return;
  s.finalized = true;
  const SysTime ended = std::chrono::system_clock::now();
  json streams = json::array();
  std::vector<std::string> silent;
  for (auto& st : s.streams) {
    if (!st) continue;
    release(*st);
    json sum = st->summary();
    if (st->counters().packets == 0 && st->spec().receiving) silent.push_back(st->spec().label);
    metrics_.foreign_dropped += st->counters().foreign;
    metrics_.duplicates_dropped += st->counters().duplicates;
    for (const auto& src : sum["sources"]) {
      if (src.contains("lost") && src["lost"].is_number_integer() && src["lost"].get<int64_t>() > 0)
        metrics_.packets_lost += src["lost"].get<uint64_t>();
    }
    streams.push_back(std::move(sum));
  }
  if (status == "complete" && !silent.empty()) {
    status = "partial";
    reason = "no media received on stream(s) labelled " + join(silent, ", ");
  }
  if (!s.failure.empty()) {
    status = "partial";
    reason = reason.empty() ? s.failure : reason + "; " + s.failure;
  }
  const double duration =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - s.started_steady).count();
  json quality = {{"recording", s.recording_id},
                  {"callId", s.call_id},
                  {"startedAt", format_iso8601_ms(s.started)},
                  {"endedAt", format_iso8601_ms(ended)},
                  {"durationSeconds", duration},
                  {"status", status},
                  {"streams", streams},
                  {"events", s.events}};
  if (!reason.empty()) quality["reason"] = reason;
  auto seal = [&](std::unique_ptr<archive::OpenObject>& o, const char* what) {
    if (!o) return;
    if (!s.failure.empty() || o->writer().failed()) return;  // recovered on the next start
    if (auto r = archive_.seal(*o); !r)
      s.fail(std::string(what) + " seal failed: " + r.error().message);
  };
  seal(s.evidence, "evidence");
  seal(s.signalling, "signalling");
  if (!s.recording_id.empty()) {
    auto q = archive_.begin_object(s.recording_id, "quality");
    if (q) {
      const std::string text = quality.dump(2) + "\n";
      auto st = q.value()->writer().write(
          std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
      if (st) warn_on_error(archive_.seal(*q.value()), "sealing an object");
    }
    s.catalog["endedAt"] = format_iso8601_ms(ended);
    s.catalog["durationSeconds"] = std::round(duration * 1000) / 1000;
    s.catalog["status"] = status;
    if (!reason.empty()) s.catalog["reason"] = reason;
    json brief = json::array();
    for (const auto& st : streams) {
      json b = {{"label", st["label"]}, {"packets", st["packets"]}};
      if (!st["sources"].empty()) {
        b["lossRatio"] = st["sources"][0]["lossRatio"];
        b["mos"] = st["sources"][0]["mos"];
        if (st["sources"][0].contains("codec")) b["codec"] = st["sources"][0]["codec"];
      }
      brief.push_back(b);
    }
    s.catalog["streams"] = brief;
    s.catalog["media"] = s.media;
    if (auto v = archive_.update_metadata(s.recording_id, s.catalog, "recorder",
                                          "recording ended (" + status + ")");
        !v) {
      spdlog::warn("recording {}: final metadata not stored: {}", s.recording_id,
                   v.error().message);
    }
    if (s.failure.empty()) {
      if (auto st = archive_.complete_recording(s.recording_id, status, reason); !st) {
        spdlog::error("recording {}: {}", s.recording_id, st.error().message);
      }
      // Playback files from the evidence, now the call is over (a failed recording's job
      // runs after the restart that recovers its objects).
      if (options_.jobs) {
        if (auto st = options_.jobs->ready(PlaybackJobs::kKind, s.recording_id); !st) {
          spdlog::error("recording {}: {}", s.recording_id, st.error().message);
        }
        if (options_.jobs_ready) options_.jobs_ready();
      }
    }
  }
  fds_in_use_ -= s.fds;
  s.fds = 0;
  ++(status == "complete" ? metrics_.sessions_completed : metrics_.sessions_partial);
  spdlog::info("recording {} ended: {}{}{}, {:.1f} s", s.recording_id, status,
               reason.empty() ? "" : ": ", reason, duration);
  sessions_.erase(s.id);
  maybe_finish_drain();
}

void Recorder::tick() {
  const auto now = std::chrono::steady_clock::now();
  std::vector<uint64_t> silent;
  for (auto& [id, s] : sessions_) {
    flush(*s, now);
    // No media on any stream that should be receiving: the client is gone without a BYE.
    bool receiving = false, quiet = true;
    for (const auto& st : s->streams) {
      if (!st || !st->spec().receiving) continue;
      receiving = true;
      if (now - st->last_media() < options_.media_timeout) quiet = false;
    }
    if (receiving && quiet) silent.push_back(id);
  }
  for (uint64_t id : silent) {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) continue;
    Session& s = *it->second;
    s.end_status = "partial";
    s.end_reason = "no media for " + std::to_string(options_.media_timeout.count()) +
                   " s and no BYE: the recording session was ended by the recorder";
    if (!sip_->ua().hangup(id)) finalize(s, s.end_status, s.end_reason);
  }
  if (draining_ && now >= drain_deadline_ && !sessions_.empty()) {
    std::vector<uint64_t> ids;
    for (const auto& [id, s] : sessions_) ids.push_back(id);
    for (uint64_t id : ids) {
      auto it = sessions_.find(id);
      if (it == sessions_.end()) continue;
      it->second->end_status = "partial";
      it->second->end_reason = "recorder shut down while the call was in progress";
      if (!sip_->ua().hangup(id)) {
        it = sessions_.find(id);
        if (it != sessions_.end()) finalize(*it->second, "partial", "recorder shut down");
      }
    }
  }
  warn_on_error(archive_.tick(), "the archive's periodic work");
  if (now - last_status_ >= std::chrono::seconds(1)) {
    last_status_ = now;
    write_status();
  }
  const auto period =
      std::min<std::chrono::milliseconds>(options_.flush_interval, std::chrono::milliseconds(250));
  timer_.expires_after(period);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) tick();
  });
}

// Every flush interval: the buffered evidence and signalling become encrypted chunks in their
// files (here), and durable (on the Syncer's thread). One sync per session at a time.
void Recorder::flush(Session& s, std::chrono::steady_clock::time_point now) {
  if (!s.failure.empty() || s.sync_pending || now - s.last_flush < options_.flush_interval) return;
  if (!s.dirty && !s.signalling_dirty) return;
  std::vector<archive::DeferredSync> syncs;
  for (auto [object, dirty, what] :
       {std::tuple{&s.evidence, &s.dirty, "evidence"},
        std::tuple{&s.signalling, &s.signalling_dirty, "signalling"}}) {
    if (!*dirty || !*object) continue;
    *dirty = false;
    auto sync = (*object)->writer().flush_deferred();
    if (!sync) {
      s.fail(std::string(what) + " flush failed: " + sync.error().message);
      return;
    }
    syncs.push_back(std::move(sync).value());
  }
  s.last_flush = now;
  s.sync_pending = true;
  syncer_->submit(s.id, std::move(syncs));
}

void Recorder::on_synced(uint64_t session, const Status& status) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) {
    if (!status)
      spdlog::error("a finished recording's last sync failed: {}", status.error().message);
    return;
  }
  it->second->sync_pending = false;
  // Never retried: after a failed fsync the file's state is unknown (T06).
  if (!status) it->second->fail("evidence sync failed: " + status.error().message);
}

void Recorder::drain(std::function<void()> done) {
  draining_ = true;
  drained_ = std::move(done);
  drain_deadline_ = std::chrono::steady_clock::now() + options_.drain_timeout;
  spdlog::info("recorder: refusing new sessions; {} in progress, waiting up to {} s",
               sessions_.size(), options_.drain_timeout.count());
  maybe_finish_drain();
}

void Recorder::maybe_finish_drain() {
  if (!draining_ || !sessions_.empty() || !drained_) return;
  auto done = std::move(drained_);
  drained_ = nullptr;
  write_status();
  // Let the last BYEs leave before the owner stops the loop.
  auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(200));
  t->async_wait([t, done, this](boost::system::error_code) {
    timer_.cancel();
    if (sip_) sip_->close();
    done();
  });
}

RecorderMetrics Recorder::metrics() const {
  RecorderMetrics m = metrics_;
  for (const auto& [id, s] : sessions_) {
    for (const auto& st : s->streams) {
      if (!st) continue;
      m.foreign_dropped += st->counters().foreign;
      m.duplicates_dropped += st->counters().duplicates;
    }
  }
  return m;
}

json Recorder::status() const {
  const RecorderMetrics m = metrics();
  size_t streams = 0;
  for (const auto& [id, s] : sessions_) {
    for (const auto& st : s->streams) streams += st ? 1 : 0;
  }
  json jobs = json::object();  // playback jobs by state
  if (options_.jobs) {
    if (auto c = options_.jobs->counts(); c) {
      for (const auto& [state, n] : c.value()) jobs[state] = n;
    }
  }
  return {{"sessionsActive", sessions_.size()},
          {"streamsActive", streams},
          {"maxSessions", options_.max_sessions},
          {"portsFree", ports_.available()},
          {"draining", draining_},
          {"sessionsStarted", m.sessions_started},
          {"sessionsCompleted", m.sessions_completed},
          {"sessionsPartial", m.sessions_partial},
          {"streamsStarted", m.streams_started},
          {"packets", m.packets},
          {"rtcpPackets", m.rtcp},
          {"bytesReceived", m.bytes_received},
          {"evidenceBytes", m.evidence_bytes},
          {"foreignDropped", m.foreign_dropped},
          {"duplicatesDropped", m.duplicates_dropped},
          {"packetsLost", m.packets_lost},
          {"writeErrors", m.write_errors},
          {"untrustedGatewayHeaders", m.untrusted_headers},
          {"refused", m.refused},
          {"playbackJobs", jobs},
          {"updatedAt", format_iso8601_ms(std::chrono::system_clock::now())}};
}

void Recorder::write_status() const {
  if (options_.status_file.empty()) return;
  const std::string tmp = options_.status_file + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << status().dump(2) << "\n";
    if (!out) return;
  }
  std::rename(tmp.c_str(), options_.status_file.c_str());
}

}  // namespace verbatim::recorder
