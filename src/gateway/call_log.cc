#include "gateway/call_log.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

#include "common/strings.h"

namespace verbatim::gateway {

namespace {

template <typename F>
Status each_record(const std::string& path, F&& f) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return ok_status();
  std::ifstream in(path);
  if (!in) return make_error(ErrorCode::kIo, "cannot read " + path);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.is_object()) f(std::move(j));
  }
  return ok_status();
}

bool party_matches(const nlohmann::json& p, const std::string& needle) {
  for (const char* k : {"aor", "user", "number", "display"}) {
    if (p.contains(k) && p[k].is_string() &&
        to_lower(p[k].get<std::string>()).find(needle) != std::string::npos) {
      return true;
    }
  }
  return false;
}

}  // namespace

Status check_query(const CallQuery& q) {
  if (q.limit < 1 || q.limit > 1000) {
    return make_error(ErrorCode::kInvalidArgument, "limit must be between 1 and 1000");
  }
  // YYYY-MM-DD, optionally followed by a time: compared as text with the records' start.
  const auto& s = q.since;
  if (!s.empty() &&
      (s.size() < 10 || s[4] != '-' || s[7] != '-' ||
       !std::all_of(s.begin(), s.begin() + 4, [](char c) { return std::isdigit(c); }))) {
    return make_error(ErrorCode::kInvalidArgument,
                      "since must be an ISO 8601 date or time (2026-11-27 or "
                      "2026-11-27T09:30:00Z), got \"" +
                          s + "\"");
  }
  return ok_status();
}

Result<std::vector<nlohmann::json>> find_calls(const std::string& path, const CallQuery& q) {
  VB_TRY(check_query(q));
  const std::string needle = to_lower(q.party);
  std::vector<nlohmann::json> out;
  VB_TRY(each_record(path, [&](nlohmann::json j) {
    if (!q.since.empty() && j.value("start", "") < q.since) return;
    if (!needle.empty() && !(j.contains("caller") && party_matches(j["caller"], needle)) &&
        !(j.contains("callee") && party_matches(j["callee"], needle))) {
      return;
    }
    out.push_back(std::move(j));
  }));
  std::reverse(out.begin(), out.end());
  if (out.size() > q.limit) out.resize(q.limit);
  return out;
}

Result<std::optional<nlohmann::json>> find_call(const std::string& path, std::string_view call_id) {
  std::optional<nlohmann::json> found;
  VB_TRY(each_record(path, [&](nlohmann::json j) {
    if (j.value("callId", "") == call_id) found = std::move(j);
  }));
  return found;
}

}  // namespace verbatim::gateway
