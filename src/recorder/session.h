// One recording session as the recorder keeps it (private to src/recorder/): its catalog entry,
// SIPREC metadata, streams, the evidence and signalling objects being written, and the packets'
// path into the evidence (record()). Owned by the Recorder (sessions_); only the recorder's
// io_context thread touches it.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/udp.hpp>
#include <nlohmann/json.hpp>

#include "media/pcap.h"
#include "media/rtp.h"
#include "recorder/recorder.h"
#include "siprec/call_facts.h"
#include "siprec/metadata.h"

namespace verbatim::recorder {

namespace asio = boost::asio;
using nlohmann::json;
using SysTime = std::chrono::system_clock::time_point;

namespace detail {
inline media::UdpEndpoint to_pcap(const asio::ip::udp::endpoint& e) {
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
}  // namespace detail

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
  // Streams a re-offer closed (port 0, or its m-line gone: a meeting member who left), finished
  // then: the quality summary still has them.
  std::vector<std::shared_ptr<StreamReceiver>> closed;
  uint64_t sdp_id = 0, sdp_version = 0;
  SysTime started{};
  std::chrono::steady_clock::time_point started_steady{};
  json events = json::array();
  // Chat messages the recording client sent in the session (a meeting's), for the "chat" object.
  json chat = json::array();
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
    if (auto st = media::append_pcap_udp(rec.scratch_, at, detail::to_pcap(from),
                                         detail::to_pcap(to), datagram);
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

// Adds to `business` (a JSON array) each pair the SIPREC metadata's facts give (extension data,
// Session-IDs, our gateway's), with source "siprec", unless it is there already; at most
// siprec::kMaxData such pairs in all. A metadata update so adds pairs and never removes one.
void add_siprec_business(json& business, const siprec::CallFacts& facts);

}  // namespace verbatim::recorder
