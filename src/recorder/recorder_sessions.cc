// A recording session's end and upkeep: finalizing (objects sealed, the recording completed as
// complete or partial), the periodic flush and sync of evidence, media timeouts, draining on
// shutdown, and the recorder's metrics and status file.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>

#include "archive/s3_store.h"
#include "common/clock.h"

#include "common/cidr.h"
#include "common/log.h"
#include "common/strings.h"
#include "media/audio.h"
#include "media/pcap.h"
#include "media/srtp.h"
#include "recorder/session.h"
#include "siprec/gateway_context.h"
#include "siprec/metadata.h"
#include "siprec/request.h"

namespace verbatim::recorder {

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
  std::vector<std::shared_ptr<StreamReceiver>> all = s.closed;  // those a re-offer closed, first
  for (auto& st : s.streams) {
    if (!st) continue;
    st->finish(ended, std::chrono::steady_clock::now());
    release(*st);
    all.push_back(st);
  }
  for (size_t i = 0; i < all.size(); ++i) {
    const auto& st = all[i];
    json sum = st->summary();
    // A stream still open at the end that never got a packet; one a re-offer closed (a member
    // who left) is summarised whatever it got.
    if (i >= s.closed.size() && st->counters().packets == 0 && st->spec().receiving) {
      silent.push_back(st->spec().label);
    }
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
    // The chat (a meeting's): who wrote what, when; the signalling object has each as sent.
    if (!s.chat.empty()) {
      auto c = archive_.begin_object(s.recording_id, "chat");
      const std::string text =
          json{{"recording", s.recording_id}, {"messages", s.chat}}.dump(2) + "\n";
      Status st = c ? c.value()->writer().write(
                          std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()))
                    : Status(c.error());
      if (st) {
        if (auto sealed = archive_.seal(*c.value()); !sealed) st = sealed.error();
      }
      if (!st) s.fail("chat object: " + st.error().message);
      s.catalog["chat"] = {{"messages", s.chat.size()}};
    }
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
        if (st["sources"][0].contains("jitterMs")) b["jitterMs"] = st["sources"][0]["jitterMs"];
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
      // Playback files and transcripts from the evidence, now the call is over (a failed
      // recording's jobs run after the restart that recovers its objects).
      if (options_.jobs) {
        for (const auto& kind : options_.job_kinds) {
          if (auto st = options_.jobs->ready(kind, s.recording_id); !st) {
            spdlog::error("recording {}: {}", s.recording_id, st.error().message);
          }
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
  json out = {{"sessionsActive", sessions_.size()},
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
  // Objects on S3: what waits in the local spool for upload, and whether the store answers.
  if (const auto* s3 = dynamic_cast<const archive::S3ObjectStore*>(&archive_.store())) {
    const auto spool = s3->spool_state();
    out["s3SpoolObjects"] = spool.waiting;
    out["s3SpoolBytes"] = spool.waiting_bytes;
    out["s3Uploaded"] = spool.uploaded;
    out["s3StoreUp"] = spool.last_error.empty();
    if (!spool.last_error.empty()) out["s3LastError"] = spool.last_error;
  }
  return out;
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
