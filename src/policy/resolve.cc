#include "policy/resolve.h"

#include <algorithm>

namespace verbatim::policy {

const char* source_name(Source s) {
  switch (s) {
    case Source::kDirect:
      return "Direct";
    case Source::kGroup:
      return "Group";
    case Source::kTenantGlobal:
      return "Tenant";
    case Source::kGlobal:
      return "Global";
  }
  return "Unknown";
}

std::vector<Candidate> candidate_assignments(const PolicyState& state, const User& user) {
  std::vector<Candidate> out;
  if (!user.compliance_recording_policy.empty()) {
    out.push_back(Candidate{Source::kDirect, user.compliance_recording_policy, 0, "", ""});
  }
  std::vector<Candidate> groups;
  for (const std::string& gid : state.groups_of(to_lower(user.object_id))) {
    auto it = state.group_assignments().find(gid);
    if (it == state.group_assignments().end()) continue;
    const Group* g = state.group_by_id(gid);
    groups.push_back(Candidate{Source::kGroup, it->second.policy_name, it->second.rank, gid,
                               g ? g->display_name : ""});
  }
  std::sort(groups.begin(), groups.end(),
            [](const Candidate& a, const Candidate& b) { return a.rank < b.rank; });
  out.insert(out.end(), groups.begin(), groups.end());
  if (!iequals(state.tenant().global_policy, kGlobalPolicy)) {
    out.push_back(Candidate{Source::kTenantGlobal, state.tenant().global_policy, 0, "", ""});
  }
  out.push_back(Candidate{Source::kGlobal, std::string(kGlobalPolicy), 0, "", ""});
  return out;
}

namespace {
// Always returns a target, even an unresolvable one with no endpoints: an enabled policy whose
// recorder cannot be reached must fail closed at the gateway (its Required* flags decide),
// never silently stop recording.
RecorderTarget resolve_recorder(const PolicyState& state, const std::string& instance_id,
                                const std::string& what, std::vector<std::string>& problems) {
  const ApplicationInstance* inst = state.instance_by_id(instance_id);
  if (!inst) {
    problems.push_back(what + " " + instance_id + ": no application instance has this ObjectId");
    return RecorderTarget{instance_id, "", "", "", {}};
  }
  RecorderTarget t{
      inst->object_id, inst->user_principal_name, inst->display_name, inst->application_id, {}};
  if (inst->application_id.empty()) {
    problems.push_back(what + " " + inst->user_principal_name +
                       ": the application instance has no ApplicationId (run "
                       "Sync-CsOnlineApplicationInstance -ApplicationId)");
    return t;
  }
  for (const RecorderEndpoint* e : state.endpoints_of(inst->application_id)) {
    if (e->enabled) t.endpoints.push_back(EndpointTarget{e->id, e->uri, e->region});
  }
  if (t.endpoints.empty()) {
    problems.push_back(what + " " + inst->user_principal_name + ": ApplicationId " +
                       inst->application_id +
                       " has no enabled recorder endpoint (New-VbRecorderEndpoint)");
  }
  return t;
}
}  // namespace

CompiledPolicy compile_policy(const PolicyState& state, const Policy& p) {
  CompiledPolicy c;
  c.name = p.name;
  c.identity = p.identity();
  c.enabled = p.enabled;
  c.warn_user_on_removal = p.warn_user_on_removal;
  c.disable_audio_notification_for_calls = p.disable_audio_notification_for_calls;
  c.record_rerouted_calls = p.record_rerouted_calls;
  if (!p.custom_banner.empty()) {
    if (const BannerText* b = state.banner_by_id(p.custom_banner)) {
      c.banner_text = b->text;
    } else {
      c.problems.push_back("CustomBanner " + p.custom_banner + " names no banner text");
    }
  }
  std::vector<const RecordingApplication*> apps;
  for (const auto& a : p.applications) apps.push_back(&a);
  // Priority orders the display only; invitations go out in parallel.
  std::stable_sort(apps.begin(), apps.end(), [](const auto* a, const auto* b) {
    return a->priority.value_or(INT32_MAX) < b->priority.value_or(INT32_MAX);
  });
  for (const RecordingApplication* a : apps) {
    Invitation inv;
    inv.recorder = resolve_recorder(state, a->id, "application", c.problems);
    inv.required_before_call_establishment = a->required_before_call_establishment;
    inv.required_during_call = a->required_during_call;
    inv.required_before_meeting_join = a->required_before_meeting_join;
    inv.required_during_meeting = a->required_during_meeting;
    inv.concurrent_invitation_count = a->concurrent_invitation_count;
    inv.priority = a->priority;
    if (!a->paired_applications.empty()) {
      inv.paired =
          resolve_recorder(state, a->paired_applications.front(), "paired application", c.problems);
    }
    if (inv.concurrent_invitation_count == 2 && inv.recorder.endpoints.size() == 1) {
      c.problems.push_back("application " + inv.recorder.instance_upn +
                           ": ConcurrentInvitationCount is 2 but only one endpoint exists; "
                           "both invitations go to the same recorder");
    }
    c.invitations.push_back(std::move(inv));
  }
  if (p.enabled && p.applications.empty()) {
    c.problems.emplace_back("the policy is enabled but has no ComplianceRecordingApplications");
  }
  return c;
}

std::vector<EndpointTarget> endpoints_for_region(const RecorderTarget& recorder,
                                                 std::string_view region) {
  std::vector<EndpointTarget> out;
  for (const auto& e : recorder.endpoints) {
    if (!region.empty() && iequals(e.region, region)) out.push_back(e);
  }
  for (const auto& e : recorder.endpoints) {
    if (region.empty() || !iequals(e.region, region)) out.push_back(e);
  }
  return out;
}

}  // namespace verbatim::policy
