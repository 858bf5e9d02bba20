// Explanation: why a user is (or is not) recorded, and by which recorders.
//
// Built from PolicyState for `verbatim policy explain USER`, the REST explain endpoint and
// the demo: the effective policy and where it came from (direct, group with rank, tenant
// grant, Global), every assignment it overrode, the recorders that would be invited with
// their requirements and endpoints in the user's region order, and the configuration
// problems that would make recording fail. Also renders a DecisionEngine Decision for
// `verbatim policy decide`.
// Threads and ownership: pure functions over a PolicyState the caller holds (under the service's
// mutex).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy/decision.h"
#include "policy/resolve.h"
#include "policy/state.h"

namespace verbatim::policy {

struct Explanation {
  User user;
  std::vector<Candidate> candidates;  // precedence order; [0] is effective
  std::optional<CompiledPolicy> effective;
  bool recorded = false;
  std::string reason;  // one sentence: why recorded or why not
};

Explanation explain(const PolicyState& state, const User& user);
std::string explanation_text(const Explanation& e);
nlohmann::json explanation_json(const Explanation& e);
nlohmann::json decision_json(const Decision& d, std::string_view party);

}  // namespace verbatim::policy
