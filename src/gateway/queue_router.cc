#include "gateway/queue_router.h"

#include <algorithm>

#include "common/strings.h"

namespace verbatim::gateway {

namespace {
constexpr std::pair<Routing, const char*> kNames[] = {{Routing::kAttendant, "Attendant"},
                                                      {Routing::kSerial, "Serial"},
                                                      {Routing::kRoundRobin, "RoundRobin"},
                                                      {Routing::kLongestIdle, "LongestIdle"}};
}  // namespace

Routing routing_from_name(std::string_view name) {
  for (const auto& [r, n] : kNames) {
    if (iequals(n, name)) return r;
  }
  return Routing::kAttendant;
}

const char* routing_name(Routing r) {
  for (const auto& [k, n] : kNames) {
    if (k == r) return n;
  }
  return "Attendant";
}

std::vector<size_t> QueueRouter::next(const QueueRoute& q, std::set<size_t>& tried,
                                      const StateOf& state) {
  const bool skip_busy = q.presence_based || q.routing == Routing::kLongestIdle;
  std::vector<size_t> candidates;
  const size_t n = q.agents.size();
  const size_t start =
      q.routing == Routing::kRoundRobin ? cursor_[q.identity] % std::max<size_t>(n, 1) : 0;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (start + k) % n;
    if (tried.count(i)) continue;
    const AgentState s = state(q.agents[i]);
    if (!s.reachable || (skip_busy && s.busy)) continue;
    candidates.push_back(i);
  }
  if (candidates.empty()) return {};
  if (q.routing == Routing::kAttendant) {
    tried.insert(candidates.begin(), candidates.end());
    // Attendant: one attempt is the round, even for agents not reachable this time.
    for (size_t i = 0; i < n; ++i) tried.insert(i);
    return candidates;
  }
  size_t pick = candidates.front();
  if (q.routing == Routing::kLongestIdle) {
    auto idle = [&](size_t i) {
      auto it = idle_since_.find(q.agents[i].identity);
      return it == idle_since_.end() ? std::chrono::steady_clock::time_point::min() : it->second;
    };
    pick = *std::min_element(candidates.begin(), candidates.end(),
                             [&](size_t x, size_t y) { return idle(x) < idle(y); });
  }
  if (q.routing == Routing::kRoundRobin) cursor_[q.identity] = pick + 1;
  tried.insert(pick);
  return {pick};
}

void QueueRouter::idle_from(const std::string& agent, std::chrono::steady_clock::time_point t) {
  idle_since_[agent] = t;
}

}  // namespace verbatim::gateway
