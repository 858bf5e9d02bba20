#include "common/call_records.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "common/strings.h"

namespace verbatim {

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

// One renderer for a call record: `verbatim calls show` prints it, `GET /api/v1/calls/{callId}
// ?format=text` returns it. Fields a record lacks (an older gateway's) are left out or shown as
// -1, never an error.
std::string describe_call(const nlohmann::json& c) {
  using nlohmann::json;
  std::ostringstream out;
  auto party = [](const json& p) {
    std::string s = p.value("aor", "");
    if (p.contains("user")) s += " (user " + p["user"].get<std::string>() + ")";
    if (p.contains("policy")) {
      s += ", policy " + p["policy"].get<std::string>() + " (" + p.value("policySource", "") + ")";
    }
    s += p.value("recorded", false) ? ", recorded" : ", not recorded";
    return s;
  };
  out << "Call " << c.value("callId", "") << "\n"
      << "  start    " << c.value("start", "") << "\n"
      << "  end      " << c.value("end", "") << "\n"
      << "  caller   " << party(c.value("caller", json::object())) << "\n"
      << "  callee   " << party(c.value("callee", json::object())) << "\n"
      << "  status   " << c.value("status", 0) << " — " << c.value("outcome", "") << "\n";
  if (c.value("emergency", false)) out << "  emergency call: never recorded\n";
  const json& t = c.value("timings", json::object());
  out << "  timings  recorders ready " << t.value("recordersReadyMs", -1) << " ms, callee called "
      << t.value("calleeCalledMs", -1) << " ms, connected " << t.value("connectedMs", -1)
      << " ms\n";
  if (c.contains("queue")) {
    const auto& q = c["queue"];
    out << "  queue    " << q.value("name", "") << " (" << q.value("routingMethod", "") << ", "
        << (q.value("conferenceMode", false) ? "conference" : "transfer") << " mode) via "
        << q.value("resourceAccount", "");
    if (q.value("callerAnsweredMs", -1) >= 0) {
      out << ", caller answered by the queue at " << q["callerAnsweredMs"] << " ms";
    }
    out << "\n";
    for (const auto& o : q.value("offers", json::array())) {
      out << "    offered to " << o.value("agent", "") << " at " << o.value("atMs", 0)
          << " ms: " << o.value("outcome", "") << "\n";
    }
  }
  for (const auto& f : c.value("forwards", json::array())) {
    // By the phone (a 3xx status), or by the admin's calling settings (immediate, simultaneous).
    const std::string how = f.contains("setting")
                                ? f["setting"].get<std::string>() + " forwarding"
                                : "the phone answered " + std::to_string(f.value("status", 0));
    out << "  forward  " << f.value("from", "") << " -> " << f.value("to", "") << " (" << how
        << ", reason " << f.value("reason", "unconditional") << ", at " << f.value("atMs", 0)
        << " ms)\n";
  }
  for (const auto& k : c.value("controls", json::array())) {
    out << "  control  " << k.value("action", "") << " by " << k.value("by", "") << " at "
        << k.value("at", "");
    if (k.contains("reason")) out << " (" << k.value("reason", "") << ")";
    out << ": " << k.value("result", "") << "\n";
  }
  for (const auto& t : c.value("transfers", json::array())) {
    out << "  transfer by " << t.value("by", "") << " to " << t.value("to", "") << ": "
        << t.value("outcome", "") << "\n";
  }
  for (const auto& r : c.value("recordings", json::array())) {
    out << "  recording of " << r.value("party", "") << " under " << r.value("policy", "") << "\n";
    for (const auto& a : r.value("applications", json::array())) {
      out << "    " << a.value("application", "") << " (required before call: "
          << (a.value("requiredBeforeCallEstablishment", true) ? "yes" : "no")
          << ", during call: " << (a.value("requiredDuringCall", true) ? "yes" : "no") << ")\n";
      for (const auto& l : a.value("instances", json::array())) {
        out << "      " << l.value("uri", "") << ": " << l.value("state", "");
        if (l.value("answeredMs", -1) >= 0) out << " (answered in " << l["answeredMs"] << " ms)";
        if (l.contains("why")) out << " — " << l["why"].get<std::string>();
        out << "\n";
      }
    }
  }
  for (const auto& n : c.value("notices", json::array())) {
    out << "  notice   " << n.value("prompt", "") << " to the " << n.value("to", "") << ": "
        << n.value("outcome", "");
    if (n.contains("file")) {
      out << " (" << n.value("language", "") << ", " << n.value("encoding", "") << ", "
          << n.value("durationMs", 0) << " ms from " << n.value("startedMs", 0) << " ms, "
          << n.value("packetsSent", 0) << " packets)";
    }
    out << "\n";
  }
  return out.str();
}

std::string party_text(const nlohmann::json& j) {
  std::string out;
  for (const char* side : {"caller", "callee"}) {
    if (!j.contains(side) || !j[side].is_object()) continue;
    for (const char* k : {"aor", "user", "number", "display"}) {
      const auto& p = j[side];
      if (p.contains(k) && p[k].is_string()) out += to_lower(p[k].get<std::string>()) + "\n";
    }
  }
  return out;
}

}  // namespace verbatim
