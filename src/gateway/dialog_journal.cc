#include "gateway/dialog_journal.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <nlohmann/json.hpp>

namespace verbatim::gateway {

using json = nlohmann::json;

namespace {

constexpr size_t kMinCompactBytes = size_t{4} << 20;

std::string up_line(const JournaledDialog& d) {
  const auto& s = d.dialog;
  return json{{"up", d.session},
              {"call", d.call},
              {"role", d.role},
              {"callId", s.call_id},
              {"localTag", s.local_tag},
              {"remoteTag", s.remote_tag},
              {"localUri", s.local_uri},
              {"remoteUri", s.remote_uri},
              {"target", s.remote_target},
              {"routes", s.route_set},
              {"cseq", s.local_cseq},
              {"uac", s.uac},
              {"transport", d.peer.transport},
              {"address", d.peer.address},
              {"port", d.peer.port}}
             .dump() +
         "\n";
}

std::optional<JournaledDialog> parse_up(const json& j) {
  try {
    JournaledDialog d;
    d.session = j.at("up").get<uint64_t>();
    d.call = j.at("call").get<std::string>();
    d.role = j.at("role").get<std::string>();
    auto& s = d.dialog;
    s.call_id = j.at("callId").get<std::string>();
    s.local_tag = j.at("localTag").get<std::string>();
    s.remote_tag = j.at("remoteTag").get<std::string>();
    s.local_uri = j.at("localUri").get<std::string>();
    s.remote_uri = j.at("remoteUri").get<std::string>();
    s.remote_target = j.at("target").get<std::string>();
    s.route_set = j.at("routes").get<std::vector<std::string>>();
    s.local_cseq = j.at("cseq").get<uint32_t>();
    s.uac = j.at("uac").get<bool>();
    d.peer.transport = j.at("transport").get<std::string>();
    d.peer.address = j.at("address").get<std::string>();
    d.peer.port = j.at("port").get<uint16_t>();
    if (s.call_id.empty() || s.remote_target.empty() || d.peer.address.empty()) return std::nullopt;
    return d;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

}  // namespace

DialogJournal::~DialogJournal() { flush(); }

Result<std::vector<JournaledDialog>> DialogJournal::recover(size_t* bad) {
  std::vector<JournaledDialog> left;
  size_t bad_lines = 0;
  {
    std::ifstream in(path_);
    std::unordered_map<uint64_t, JournaledDialog> up;
    std::vector<uint64_t> order;
    for (std::string line; std::getline(in, line);) {
      auto j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        ++bad_lines;  // the last line of a crash, cut short
        continue;
      }
      if (j.contains("down") && j["down"].is_number_unsigned()) {
        up.erase(j["down"].get<uint64_t>());
      } else if (auto d = parse_up(j)) {
        if (up.emplace(d->session, *d).second) order.push_back(d->session);
      } else {
        ++bad_lines;
      }
    }
    for (uint64_t s : order) {
      if (auto it = up.find(s); it != up.end()) left.push_back(std::move(it->second));
    }
  }
  if (bad) *bad = bad_lines;
  out_.open(path_, std::ios::trunc);
  if (!out_) return make_error(ErrorCode::kIo, "cannot write " + path_);
  live_.clear();
  live_bytes_ = file_bytes_ = 0;
  return left;
}

void DialogJournal::append(const std::string& line) {
  if (!out_.is_open()) return;
  out_ << line;
  file_bytes_ += line.size();
}

void DialogJournal::up(const JournaledDialog& d) {
  std::string line = up_line(d);
  append(line);
  live_bytes_ += line.size();
  live_[d.session] = std::move(line);
  if (file_bytes_ > kMinCompactBytes && file_bytes_ > 4 * live_bytes_) compact();
}

void DialogJournal::down(uint64_t session) {
  auto it = live_.find(session);
  if (it == live_.end()) return;
  live_bytes_ -= it->second.size();
  live_.erase(it);
  append(json{{"down", session}}.dump() + "\n");
}

void DialogJournal::flush() {
  if (out_.is_open()) out_.flush();
}

// Rewrites the file with the live dialogs only (a new file renamed over the old one: a crash
// in between leaves one or the other, both complete).
void DialogJournal::compact() {
  const std::string tmp = path_ + ".tmp";
  {
    std::ofstream next(tmp, std::ios::trunc);
    for (const auto& [s, line] : live_) next << line;
    if (!next) {
      spdlog::error("dialog journal: cannot write {}", tmp);
      return;
    }
  }
  out_.close();
  std::error_code ec;
  std::filesystem::rename(tmp, path_, ec);
  if (ec) spdlog::error("dialog journal: cannot replace {}: {}", path_, ec.message());
  out_.open(path_, std::ios::app);
  file_bytes_ = live_bytes_;
}

}  // namespace verbatim::gateway
