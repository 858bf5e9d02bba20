// The recorder: a SIPREC recording server (RFC 7866) that takes recording sessions from
// recording clients (our gateway, or an SBC: Cisco CUBE, AudioCodes, Oracle, Ribbon) and
// stores what it receives through the archive.
//
// Per recording session (one SIPREC INVITE):
//   - admission: not from an allowed source → 403; not SIPREC (no +sip.src, no Require:
//     siprec, no metadata) → 403 unless accept_non_siprec; no SDP offer → 488; at capacity,
//     below the free-space floor, out of media ports, or shutting down → 503 with Retry-After
//     and a Warning saying which. Calls in progress are never affected by a refusal.
//   - answer: every m-line receive-only with its label (sdp.h answer_recvonly), on a port pair
//     from the configured range, each stream latched to its source (stream.h).
//   - an archive recording with its catalog metadata (the recording client, Call-ID,
//     participants with AOR and name and which labels they are heard on, streams, times, and
//     the whole SIPREC metadata), and two objects written as the call goes: the evidence (every
//     accepted RTP/RTCP datagram with its arrival time, as pcap) and the signalling (each
//     SIP request of the session as received). Both are flushed at the archive's interval, so a
//     crash loses at most that much; the archive marks such recordings interrupted on restart.
//   - re-INVITE / UPDATE: new or removed streams, hold and resume, codec changes (answered
//     afresh, never with a stale SDP), metadata snapshots and partial updates (a new version
//     of the catalog metadata, merged).
//   - the end: BYE → complete; session-timer expiry, no media for media_timeout (the client
//     never sent BYE), shutdown, or a failed evidence write → partial with the reason. A
//     quality object (per stream and SSRC: packets, loss, jitter, MOS, duplicates, foreign
//     packets dropped; timed events: latch, SSRC and codec changes, hold, DTMF) is sealed
//     with the others and the catalog metadata gets the end, duration and status.
// OPTIONS is answered with the current load (503 when full). Metrics are counted and
// written to a status file once per second. Not thread-safe: one io_context thread, plus the
// Syncer's thread for the fdatasyncs (a blocking sync on the loop would stall every stream).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "archive/archive.h"
#include "common/defaults.h"
#include "common/log_limit.h"
#include "jobs/queue.h"
#include "media/port_pool.h"
#include "recorder/stream.h"
#include "sip/endpoint.h"

namespace verbatim::recorder {

// Runs the archive's syncs off the event loop, on one thread of its own: each batch is one
// syncfs() of the archive's file system (a group commit for every object written since), then
// each object's own sync (cheap after it, and it reports that file's write-back errors). The
// results go back to the event loop. Destruction finishes what is queued.
class Syncer {
 public:
  using Done = std::function<void(uint64_t session, Status status)>;
  Syncer(boost::asio::io_context& io, const std::string& dir, Done done);
  ~Syncer();
  Syncer(const Syncer&) = delete;
  Syncer& operator=(const Syncer&) = delete;
  void submit(uint64_t session, std::vector<archive::DeferredSync> syncs);
  uint64_t batches() const { return batches_; }

 private:
  void run();
  boost::asio::io_context& io_;
  Done done_;
  int dir_fd_ = -1;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::pair<uint64_t, std::vector<archive::DeferredSync>>> queue_;
  bool stop_ = false;
  std::atomic<uint64_t> batches_{0};
  std::thread thread_;
};

struct RecorderOptions {
  std::string sip_listen = defaults::kRecorderSipListen;
  std::string media_address;  // default: the SIP listening address
  uint16_t rtp_port_min = defaults::kRecorderRtpPortMin;
  uint16_t rtp_port_max = defaults::kRecorderRtpPortMax;
  size_t max_sessions = defaults::kRecorderMaxSessions;
  uint64_t min_free_bytes = uint64_t{defaults::kRecorderMinFreeMb} << 20;
  std::chrono::seconds retry_after{defaults::kRecorderRetryAfterS};
  std::chrono::seconds media_timeout{defaults::kRecorderMediaTimeoutS};
  std::chrono::seconds drain_timeout{defaults::kRecorderDrainTimeoutS};
  std::chrono::milliseconds flush_interval{defaults::kArchiveFlushIntervalMs};
  StreamReceiver::Latch latch = StreamReceiver::Latch::kSdpAddress;
  bool accept_non_siprec = false;
  std::vector<std::string> allowed_sources;  // CIDRs; empty: any
  // Headers of the recording INVITE kept as business data (catalog "business", searchable).
  std::vector<std::string> business_headers;
  // Checks the X-Verbatim headers our gateway signs (siprec/gateway_context.h); unset: they are
  // never trusted.
  std::optional<std::array<uint8_t, 32>> gateway_key;
  // SIP over TLS (sip/tls.h), with client certificates as the context requires (mutual TLS by
  // default: recording clients present one).
  std::shared_ptr<boost::asio::ssl::context> tls;
  std::string tls_listen;
  std::string status_file;  // metrics, rewritten once per second (optional)
  // Jobs of these kinds (playback_jobs.h, transcribe_jobs.h) are added when a recording starts
  // and released when it ends.
  jobs::JobQueue* jobs = nullptr;
  std::vector<std::string> job_kinds;
  std::function<void()> jobs_ready;  // a job was released
  sip::TimerConfig sip_timers;
};

struct RecorderMetrics {
  uint64_t chat_messages = 0;  // kept from recording sessions (meetings' chat)
  uint64_t sessions_started = 0;
  uint64_t sessions_completed = 0;
  uint64_t sessions_partial = 0;
  uint64_t streams_started = 0;
  uint64_t packets = 0;
  uint64_t rtcp = 0;
  uint64_t bytes_received = 0;
  uint64_t evidence_bytes = 0;
  uint64_t foreign_dropped = 0;
  uint64_t duplicates_dropped = 0;
  uint64_t packets_lost = 0;  // in ended sessions: expected − received per SSRC (RFC 3550)
  uint64_t write_errors = 0;
  uint64_t untrusted_headers = 0;  // sessions whose X-Verbatim headers were ignored (unsigned)
  std::map<std::string, uint64_t> refused;  // by reason: capacity, disk, not-siprec, ...
};

class Recorder {
 public:
  Recorder(boost::asio::io_context& io, archive::Archive& archive, RecorderOptions options);
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Binds the SIP address and starts the housekeeping timer. Returns "ip:port".
  Result<std::string> start();
  // "ip:port" of the TLS listener; empty without one.
  std::string tls_local() const { return sip_ ? sip_->tls_local() : ""; }
  // Refuses new sessions, waits up to drain_timeout for the calls in progress to end, then
  // ends the rest (BYE; recorded as partial, "recorder shut down"), and calls `done`.
  void drain(std::function<void()> done);

  size_t sessions() const { return sessions_.size(); }
  RecorderMetrics metrics() const;
  nlohmann::json status() const;

 private:
  struct Session;
  void on_invite(uint64_t id, const sip::Message& invite);
  Result<std::string> on_reoffer(uint64_t id, const sip::Message& request);
  bool on_message(uint64_t id, uint64_t txn, const sip::Message& message);
  void on_ended(uint64_t id, std::string_view why);
  void refuse(uint64_t id, int status, const std::string& reason_key, const std::string& text);
  // Builds the answer for `offer`, opening, updating or closing the session's streams.
  Result<std::string> answer(Session& s, const sip::SessionDescription& offer);
  // Stops a stream and returns its ports to the pool.
  void release(StreamReceiver& stream);
  // Adds or updates the session's "media" entry for a stream (label, port, payload types).
  void note_media(Session& s, uint16_t port, const StreamSpec& spec);
  void release(const std::vector<std::shared_ptr<StreamReceiver>>& streams);
  // A stream a re-offer closed: finished now, its port given back, its summary kept for the end.
  void retire(Session& s, const std::shared_ptr<StreamReceiver>& stream);
  void finalize(Session& s, std::string status, std::string reason);
  void tick();
  void write_status() const;
  bool source_allowed(const std::string& address) const;
  void maybe_finish_drain();
  void flush(Session& s, std::chrono::steady_clock::time_point now);
  void on_synced(uint64_t session, const Status& status);

  boost::asio::io_context& io_;
  archive::Archive& archive_;
  RecorderOptions options_;
  boost::asio::ip::address media_address_;
  std::unique_ptr<sip::SipEndpoint> sip_;
  media::PortPool ports_;
  std::map<uint64_t, std::unique_ptr<Session>> sessions_;
  boost::asio::steady_timer timer_;
  RecorderMetrics metrics_;
  LogLimiter refusal_log_{60, 10};   // refused INVITEs: anyone can cause them
  LogLimiter untrusted_log_{60, 5};  // X-Verbatim headers ignored
  uint64_t next_sdp_id_ = 1;
  // File descriptors: the process limit, those open before any session, those the sessions hold
  // (two sockets per stream, two objects): a session that could not get them all is refused.
  size_t fd_limit_ = 0, fd_base_ = 0, fds_in_use_ = 0;
  bool draining_ = false;
  std::function<void()> drained_;
  std::chrono::steady_clock::time_point drain_deadline_{};
  std::chrono::steady_clock::time_point last_status_{};
  std::vector<uint8_t> scratch_;    // one pcap record
  std::unique_ptr<Syncer> syncer_;  // last: joined first
};

}  // namespace verbatim::recorder
