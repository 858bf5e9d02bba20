// Call queues: which agents the gateway offers a queued call next (New-CsCallQueue's
// RoutingMethod), and what it remembers across calls (round-robin cursors, agents' idle times).
// The call flow around it (ringing, the alert time, conference vs transfer mode, each agent's
// recording) is in gateway.cc; docs/gateway.md "Call queues" has the behaviour.
//
//   Attendant   every agent at once; one attempt is the whole round.
//   Serial      one agent at a time, in the queue's order.
//   RoundRobin  one at a time, starting after the agent offered the queue's previous call.
//   LongestIdle one at a time, the agent whose last queue call ended longest ago first (never
//               had one: first of all); agents in another call are always skipped.
// With PresenceBasedRouting, agents in another call are skipped whatever the method.
// Threads and ownership: the QueueRouter (owned by the Gateway) keeps each queue's cursor and the
// agents' idle times; the gateway's io_context thread only.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace verbatim::gateway {

enum class Routing { kAttendant, kSerial, kRoundRobin, kLongestIdle };
Routing routing_from_name(std::string_view name);  // unknown names: Attendant
const char* routing_name(Routing r);

struct QueueAgent {
  std::string identity;  // "user@domain" (the registrar's key)
  std::string aor, display, number;
};

// A queue as a call found it (later changes to the queue apply to later calls).
struct QueueRoute {
  std::string identity, name;
  Routing routing = Routing::kAttendant;
  bool presence_based = false;
  bool conference_mode = true;
  std::chrono::seconds alert_time{30};
  std::chrono::seconds timeout{1200};
  std::vector<QueueAgent> agents;
};

class QueueRouter {
 public:
  struct AgentState {
    bool reachable = false;  // registered
    bool busy = false;       // in another call through the gateway
  };
  using StateOf = std::function<AgentState(const QueueAgent&)>;

  // The agents (indexes into q.agents) to offer this call next; `tried` holds those offered
  // in the current round and gets the new ones. Empty: the round is over (nobody left who is
  // reachable and, where presence counts, free).
  std::vector<size_t> next(const QueueRoute& q, std::set<size_t>& tried, const StateOf& state);
  // An agent's queue call ended: LongestIdle counts from now.
  void idle_from(const std::string& agent, std::chrono::steady_clock::time_point t);

 private:
  std::map<std::string, size_t> cursor_;  // queue identity -> next index (RoundRobin)
  std::map<std::string, std::chrono::steady_clock::time_point> idle_since_;  // by agent
};

}  // namespace verbatim::gateway
