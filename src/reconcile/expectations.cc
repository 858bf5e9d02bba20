#include "reconcile/expectations.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "common/clock.h"
#include "common/strings.h"

namespace verbatim::reconcile {

namespace {

using nlohmann::json;

std::optional<int64_t> millis(const json& j, const char* key) {
  return iso_millis(member_text(j, key));
}

bool moved(const json& record) {
  for (const char* key : {"transfers", "forwards"}) {
    const auto it = record.find(key);
    if (it != record.end() && it->is_array() && !it->empty()) return true;
  }
  return false;
}

std::string seconds(int64_t ms) { return fmt::format("{:.1f} s", static_cast<double>(ms) / 1000); }

}  // namespace

std::string member_text(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<int64_t> iso_millis(const std::string& iso) {
  const auto t = parse_iso8601(iso);
  if (!t) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::milliseconds>(t->time_since_epoch()).count();
}

std::vector<Expectation> expectations_of(const json& record) {
  std::vector<Expectation> out;
  if (!record.is_object()) return out;
  const auto start = millis(record, "start");
  const auto end = millis(record, "end");
  const json timings = record.value("timings", json::object());
  const auto connected = timings.is_object() ? timings.find("connectedMs") : timings.end();
  if (!start || !end || connected == timings.end() || !connected->is_number_integer() ||
      connected->get<int64_t>() < 0) {
    return out;  // never connected: nothing was said, nothing to record
  }
  const auto recordings = record.find("recordings");
  if (recordings == record.end() || !recordings->is_array()) return out;
  std::string caller, callee;
  if (const auto c = record.find("caller"); c != record.end() && c->is_object()) {
    caller = member_text(*c, "aor");
  }
  if (const auto c = record.find("callee"); c != record.end() && c->is_object()) {
    callee = member_text(*c, "aor");
  }
  const bool party_moved = moved(record);
  for (const auto& r : *recordings) {
    if (!r.is_object()) continue;
    const auto apps = r.find("applications");
    if (apps == r.end() || !apps->is_array()) continue;
    Expectation base;
    base.call_id = member_text(record, "callId");
    base.party = member_text(r, "party");
    base.side = base.party == caller ? "caller" : base.party == callee ? "callee" : "";
    base.policy = member_text(r, "policy");
    base.call_start_ms = *start;
    base.call_end_ms = *end;
    base.connected_ms = *start + connected->get<int64_t>();
    base.check_coverage = !party_moved && !r.value("left", false) && !base.side.empty();
    for (const auto& g : *apps) {
      if (!g.is_object()) continue;
      Expectation e = base;
      e.application = member_text(g, "application");
      e.answered = g.value("recorded", false);
      std::vector<std::string> whys;
      if (const auto legs = g.find("instances"); legs != g.end() && legs->is_array()) {
        for (const auto& l : *legs) {
          if (!l.is_object()) continue;
          const std::string id = member_text(l, "applicationId");
          if (!id.empty() && std::find(e.application_ids.begin(), e.application_ids.end(), id) ==
                                 e.application_ids.end()) {
            e.application_ids.push_back(id);
          }
          const std::string uri = member_text(l, "uri");
          if (!uri.empty()) e.recorder_uris.push_back(uri);
          if (const std::string why = member_text(l, "why"); !why.empty()) {
            whys.push_back(uri);
            whys.back().append(": ").append(why);
          }
          if (l.value("answeredMs", int64_t{-1}) >= 0) e.answered = true;
        }
      }
      e.why_not = whys.empty() ? (e.recorder_uris.empty() ? "the policy's application has no "
                                                            "enabled recorder endpoint"
                                                          : "no answer")
                               : join(whys, "; ");
      out.push_back(std::move(e));
    }
  }
  return out;
}

std::optional<Finding> assess(const Expectation& e,
                              const std::vector<search::CallRecording>& archived,
                              Tolerance tolerance) {
  const std::string direction = e.side == "caller"   ? "outbound"
                                : e.side == "callee" ? "inbound"
                                                     : "";
  std::vector<const search::CallRecording*> mine;
  for (const auto& r : archived) {
    // The application as our gateway signed it (absent: a recorder that could not check the
    // signature; then the side decides alone), and the observed party's side of the call.
    if (!r.application.empty() && !e.application_ids.empty() &&
        std::find(e.application_ids.begin(), e.application_ids.end(), r.application) ==
            e.application_ids.end()) {
      continue;
    }
    if (!direction.empty() && !r.direction.empty() && r.direction != direction) continue;
    mine.push_back(&r);
  }
  Finding f;
  for (const auto* r : mine) f.recordings.push_back(r->id);
  if (mine.empty()) {
    f.status = kNotRecorded;
    f.reason = e.answered ? "the recorder answered (" + join(e.recorder_uris, ", ") +
                                ") but the archive holds no recording of the call"
                          : "no recorder answered: " + e.why_not;
    return f;
  }
  std::vector<std::pair<int64_t, int64_t>> spans;
  std::vector<std::string> wrong;
  for (const auto* r : mine) {
    if (r->status == "complete" && r->duration_ms) {
      spans.emplace_back(r->started_ms, r->started_ms + *r->duration_ms);
    } else if (r->status == "recording") {
      wrong.push_back(r->id + " still open after the call ended");
    } else if (r->status != "complete") {
      wrong.push_back(r->id + " " + r->status + (r->reason.empty() ? "" : " (" + r->reason + ")"));
    }
  }
  if (spans.empty()) {
    f.status = kIncompleteMedia;
    f.reason = "no complete recording: " + join(wrong, "; ");
    return f;
  }
  if (!e.check_coverage) return std::nullopt;
  // How much of [answer, end] no complete recording covers.
  std::sort(spans.begin(), spans.end());
  const int64_t from = e.connected_ms, to = e.call_end_ms;
  if (to <= from) return std::nullopt;
  int64_t covered_to = from, gap = 0, gap_at = -1, gap_len = 0;
  auto note_gap = [&](int64_t a, int64_t b) {
    if (b <= a) return;
    gap += b - a;
    if (b - a > gap_len) {
      gap_len = b - a;
      gap_at = a;
    }
  };
  for (const auto& [a, b] : spans) {
    note_gap(covered_to, std::min(a, to));
    covered_to = std::max(covered_to, std::min(b, to));
  }
  note_gap(covered_to, to);
  const int64_t allowed = std::max<int64_t>(
      tolerance.floor.count(), std::llround(tolerance.fraction * static_cast<double>(to - from)));
  if (gap <= allowed) return std::nullopt;
  f.status = kIncompleteMedia;
  f.reason = "the recordings cover " + seconds(to - from - gap) + " of the " + seconds(to - from) +
             " call (the longest gap: " + seconds(gap_len) + " from " + seconds(gap_at - from) +
             " after the answer)";
  if (!wrong.empty()) f.reason += "; " + join(wrong, "; ");
  return f;
}

}  // namespace verbatim::reconcile
