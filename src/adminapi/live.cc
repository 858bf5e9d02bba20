#include "adminapi/live.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <spdlog/spdlog.h>

namespace verbatim::adminapi {

using nlohmann::json;

std::vector<media::LiveStream> live_streams(const json& catalog) {
  std::vector<media::LiveStream> out;
  if (!catalog.contains("media") || !catalog["media"].is_array()) return out;
  for (const auto& m : catalog["media"]) {
    if (!m.is_object() || !m.contains("port") || !m["port"].is_number_unsigned()) continue;
    media::LiveStream s;
    s.label = m.value("label", "");
    s.port = m["port"].get<uint16_t>();
    const json payloads = m.value("payloads", json::object());
    for (const auto& [pt, enc] : payloads.items()) {
      if (!enc.is_string() || pt.empty() || pt.size() > 3 ||
          !std::all_of(pt.begin(), pt.end(), [](char c) { return c >= '0' && c <= '9'; }))
        continue;
      s.payloads[std::stoi(pt)] = enc.get<std::string>();
    }
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::unique_ptr<LiveFeed>> LiveFeed::open(std::unique_ptr<archive::Archive> archive,
                                                 const std::string& recording,
                                                 const std::string& who) {
  auto info = archive->recording(recording);
  if (!info) return info.error();
  if (info.value().status != "recording") {
    return make_error(ErrorCode::kFailedPrecondition,
                      "recording " + recording + " is not in progress (" + info.value().status +
                          "): play it from its page instead");
  }
  auto ids = archive->objects_of(recording);
  if (!ids) return ids.error();
  std::string evidence;
  for (const auto& id : ids.value()) {
    auto o = archive->object_info(id);
    if (o && o.value().kind == "evidence-pcap" && o.value().status == "open") evidence = id;
  }
  if (evidence.empty()) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "recording " + recording + " has no evidence being written to listen to");
  }
  std::unique_ptr<LiveFeed> f(new LiveFeed());
  const auto now = std::chrono::system_clock::now();
  auto mix = media::LiveMix::create(
      live_streams(info.value().metadata),
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count(), kDelay);
  if (!mix) return mix.error();
  f->mix_ = std::move(mix).value();
  auto reader = archive->read_live(evidence);
  if (!reader) return reader.error();
  f->evidence_ = std::move(reader).value();
  const json& m = info.value().metadata;
  json participants = json::array();
  const json listed = m.value("participants", json::array());
  for (const auto& p : listed) {
    if (p.is_object()) {
      participants.push_back(
          {{"id", p.value("id", "")}, {"name", p.value("name", "")}, {"aor", p.value("aor", "")}});
    }
  }
  f->header_ = {{"recording", recording},
                {"participants", participants},
                {"policy", m.value("policy", "")},
                {"codec", "opus"},
                {"sampleRate", media::LiveMix::kRate},
                {"channels", 1},
                {"frameMs", 20},
                {"delayMs", kDelay.count()}};
  VB_TRY(archive->log_access("listen", recording, who, {{"event", "start"}}));
  f->archive_ = std::move(archive);
  f->recording_ = recording;
  f->who_ = who;
  f->started_ = f->last_status_ = std::chrono::steady_clock::now();
  return f;
}

LiveFeed::~LiveFeed() {
  if (!archive_) return;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  if (auto st =
          archive_->log_access("listen", recording_, who_,
                               {{"event", "end"}, {"seconds", std::round(seconds * 10) / 10}});
      !st) {
    spdlog::error("live: the end of {}'s listen to {} is not in the ledger: {}", who_, recording_,
                  st.error().message);
  }
}

Result<std::vector<std::string>> LiveFeed::poll(std::chrono::system_clock::time_point now) {
  std::vector<std::string> out;
  if (ended_) return out;
  auto bytes = evidence_->poll();
  if (!bytes) return bytes.error();
  VB_TRY(mix_->feed(bytes.value()));
  // Whether the call is still going on, every two seconds; once it ended, what is left is sent
  // and the feed ends.
  const auto t = std::chrono::steady_clock::now();
  if (!ending_ && t - last_status_ > std::chrono::seconds(2)) {
    last_status_ = t;
    auto info = archive_->recording(recording_);
    if (!info || info.value().status != "recording") {
      ending_ = true;
      ended_at_ = now;
    }
  }
  auto frames = mix_->frames(
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count());
  if (!frames) return frames.error();
  for (const auto& f : frames.value()) {
    const double ms = static_cast<double>(f.capture_ns) / 1e6;
    std::string msg(8 + f.opus.size(), '\0');
    std::memcpy(msg.data(), &ms, 8);  // little-endian on the machines we build for
    std::memcpy(msg.data() + 8, f.opus.data(), f.opus.size());
    out.push_back(std::move(msg));
  }
  if (ending_ && now - ended_at_ > kDelay + std::chrono::milliseconds(200)) ended_ = true;
  return out;
}

}  // namespace verbatim::adminapi
