#include "gateway/dialog_journal.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <nlohmann/json.hpp>

namespace verbatim::gateway {

using json = nlohmann::json;

namespace {

constexpr size_t kMinCompactBytes = size_t{4} << 20;

// A line is a JSON array (no keys to build per dialog: this is on every call's path):
// ["up", session, call, role, Call-ID, local tag, remote tag, local URI, remote URI, target,
//  [routes], CSeq, uac, transport, address, port]; ["down", session].
std::string up_line(const JournaledDialog& d) {
  const auto& s = d.dialog;
  return json::array({"up", d.session, d.call, d.role, s.call_id, s.local_tag, s.remote_tag,
                      s.local_uri, s.remote_uri, s.remote_target, s.route_set, s.local_cseq, s.uac,
                      d.peer.transport, d.peer.address, d.peer.port})
             .dump() +
         "\n";
}

std::optional<JournaledDialog> parse_up(const json& j) {
  try {
    if (j.size() != 16) return std::nullopt;
    JournaledDialog d;
    d.session = j.at(1).get<uint64_t>();
    d.call = j.at(2).get<std::string>();
    d.role = j.at(3).get<std::string>();
    auto& s = d.dialog;
    s.call_id = j.at(4).get<std::string>();
    s.local_tag = j.at(5).get<std::string>();
    s.remote_tag = j.at(6).get<std::string>();
    s.local_uri = j.at(7).get<std::string>();
    s.remote_uri = j.at(8).get<std::string>();
    s.remote_target = j.at(9).get<std::string>();
    s.route_set = j.at(10).get<std::vector<std::string>>();
    s.local_cseq = j.at(11).get<uint32_t>();
    s.uac = j.at(12).get<bool>();
    d.peer.transport = j.at(13).get<std::string>();
    d.peer.address = j.at(14).get<std::string>();
    d.peer.port = j.at(15).get<uint16_t>();
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
      if (j.is_discarded() || !j.is_array() || j.empty() || !j[0].is_string()) {
        ++bad_lines;  // the last line of a crash, cut short
        continue;
      }
      if (j[0] == "down" && j.size() == 2 && j[1].is_number_unsigned()) {
        up.erase(j[1].get<uint64_t>());
      } else if (auto d = j[0] == "up" ? parse_up(j) : std::nullopt) {
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
  append("[\"down\"," + std::to_string(session) + "]\n");
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
