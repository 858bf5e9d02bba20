// Effective-policy resolution and policy compilation, straight from PolicyState.
//
// candidate_assignments() lists every assignment that applies to a user in precedence order
// (direct > groups by rank > tenant grant > built-in Global); the first one is effective.
// compile_policy() turns a policy into the recorders to invite: each recording application
// resolved through its application instance and ApplicationId to SIP recorder endpoints,
// with its Required* flags, ConcurrentInvitationCount and paired application, plus the
// problems that would make recording fail (no endpoints, unknown instance, ...).
// Both are used by `policy explain` and to build the DecisionEngine; they allocate freely
// and are not meant for the per-call hot path.
// Threads and ownership: pure functions over a PolicyState the caller holds (under the service's
// mutex).
#pragma once

#include <string>
#include <vector>

#include "policy/state.h"

namespace verbatim::policy {

enum class Source {
  kDirect,        // Grant-... -Identity USER
  kGroup,         // Grant-... -Group G -Rank N
  kTenantGlobal,  // Grant-... -Global -PolicyName X
  kGlobal,        // the built-in Global policy instance
};
const char* source_name(Source s);

struct Candidate {
  Source source = Source::kGlobal;
  std::string policy_name;
  int rank = 0;  // groups only
  std::string group_id;
  std::string group_name;
};

std::vector<Candidate> candidate_assignments(const PolicyState& state, const User& user);

struct EndpointTarget {
  std::string id;
  std::string uri;
  std::string region;
};

struct RecorderTarget {
  std::string instance_object_id;
  std::string instance_upn;
  std::string display_name;
  std::string application_id;
  std::vector<EndpointTarget> endpoints;  // enabled ones only
};

struct Invitation {
  RecorderTarget recorder;
  bool required_before_call_establishment = true;
  bool required_during_call = true;
  bool required_before_meeting_join = true;
  bool required_during_meeting = true;
  uint32_t concurrent_invitation_count = 1;
  std::optional<RecorderTarget> paired;
  std::optional<int> priority;
};

struct CompiledPolicy {
  std::string name;
  std::string identity;
  bool enabled = false;
  bool warn_user_on_removal = true;
  bool disable_audio_notification_for_calls = false;
  bool record_rerouted_calls = false;
  std::string banner_text;  // custom banner text, empty for the default
  std::vector<Invitation> invitations;
  std::vector<std::string> problems;  // configuration that would make recording fail

  // True when calls of users under this policy are to be recorded.
  bool records() const { return enabled && !invitations.empty(); }
};

CompiledPolicy compile_policy(const PolicyState& state, const Policy& policy);

// Endpoints of a recorder ordered for a user: those in `region` first, then the rest,
// each in configuration order.
std::vector<EndpointTarget> endpoints_for_region(const RecorderTarget& recorder,
                                                 std::string_view region);

}  // namespace verbatim::policy
