#include "recorder/recorder.h"

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
#include "common/log.h"
#include "common/strings.h"
#include "media/audio.h"
#include "media/pcap.h"
#include "media/srtp.h"
#include "recorder/session.h"
#include "siprec/call_facts.h"
#include "siprec/gateway_context.h"
#include "siprec/metadata.h"
#include "siprec/request.h"

namespace verbatim::recorder {

namespace {

std::string header_text(const sip::Message& m, std::string_view name) {
  const auto* h = m.find(name);
  return h ? std::string(h->value) : std::string();
}

}  // namespace

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
          .on_message = [this](uint64_t id, uint64_t txn,
                               const sip::Message& m) { return on_message(id, txn, m); },
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
  json business = json::array();
  if (s->have_metadata) {
    c["participants"] = siprec::participants_json(s->metadata);
    c["siprec"] = siprec::to_json(s->metadata);
    // Who called whom and the direction, as the recording client says it (call_facts.h).
    const siprec::CallFacts facts = siprec::call_facts(s->metadata);
    c["call"] = siprec::call_json(facts);
    add_siprec_business(business, facts);
  }
  for (const auto& name : options_.business_headers) {
    for (const auto& h : invite.headers()) {
      if (!iequals(h.name, name) || h.value.empty()) continue;
      business.push_back(
          {{"key", name}, {"value", std::string(h.value.substr(0, 256))}, {"source", "header"}});
    }
  }
  if (!business.empty()) c["business"] = std::move(business);
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
    for (const auto& kind : options_.job_kinds) {
      if (auto st = options_.jobs->add(kind, s->recording_id, false); !st) {
        spdlog::error("recording {}: no {} job: {}", s->recording_id, kind, st.error().message);
      }
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

}  // namespace verbatim::recorder
