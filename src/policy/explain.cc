#include "policy/explain.h"

namespace verbatim::policy {

using nlohmann::json;

namespace {

std::string describe(const Candidate& c) {
  std::string id = c.policy_name == kGlobalPolicy ? "Global" : "Tag:" + c.policy_name;
  switch (c.source) {
    case Source::kDirect:
      return "direct assignment -> " + id;
    case Source::kGroup:
      return "group \"" + c.group_name + "\" (rank " + std::to_string(c.rank) + ") -> " + id;
    case Source::kTenantGlobal:
      return "tenant-wide grant (-Global) -> " + id;
    case Source::kGlobal:
      return "built-in Global policy";
  }
  return id;
}

const char* tf(bool b) { return b ? "True" : "False"; }

json target_json(const RecorderTarget& t, std::string_view region) {
  json endpoints = json::array();
  for (const auto& e : endpoints_for_region(t, region)) {
    endpoints.push_back({{"id", e.id}, {"uri", e.uri}, {"region", e.region}});
  }
  return {{"instanceObjectId", t.instance_object_id},
          {"userPrincipalName", t.instance_upn},
          {"displayName", t.display_name},
          {"applicationId", t.application_id},
          {"endpoints", endpoints}};
}

json policy_json(const CompiledPolicy& p, std::string_view region) {
  json invitations = json::array();
  for (const auto& inv : p.invitations) {
    json j = {{"recorder", target_json(inv.recorder, region)},
              {"requiredBeforeCallEstablishment", inv.required_before_call_establishment},
              {"requiredDuringCall", inv.required_during_call},
              {"requiredBeforeMeetingJoin", inv.required_before_meeting_join},
              {"requiredDuringMeeting", inv.required_during_meeting},
              {"concurrentInvitationCount", inv.concurrent_invitation_count},
              {"paired", inv.paired ? target_json(*inv.paired, region) : json(nullptr)}};
    invitations.push_back(j);
  }
  return {{"identity", p.identity},
          {"enabled", p.enabled},
          {"warnUserOnRemoval", p.warn_user_on_removal},
          {"disableComplianceRecordingAudioNotificationForCalls",
           p.disable_audio_notification_for_calls},
          {"recordReroutedCalls", p.record_rerouted_calls},
          {"bannerText", p.banner_text},
          {"invitations", invitations},
          {"problems", p.problems}};
}

}  // namespace

Explanation explain(const PolicyState& state, const User& user) {
  Explanation e;
  e.user = user;
  e.candidates = candidate_assignments(state, user);
  const Candidate& chosen = e.candidates.front();
  const Policy* p = state.find_policy(chosen.policy_name);
  if (!p) {
    e.reason = "the assigned policy \"" + chosen.policy_name + "\" does not exist";
    return e;
  }
  e.effective = compile_policy(state, *p);
  e.recorded = e.effective->records();
  if (!p->enabled) {
    e.reason = "not recorded: the effective policy " + p->identity() + " has Enabled False";
  } else if (p->applications.empty()) {
    e.reason = "not recorded: the effective policy " + p->identity() +
               " has no ComplianceRecordingApplications";
  } else {
    e.reason = "recorded: " + p->identity() + " is enabled with " +
               std::to_string(p->applications.size()) +
               (p->applications.size() == 1 ? " recording application" : " recording applications");
  }
  return e;
}

std::string explanation_text(const Explanation& e) {
  const User& u = e.user;
  std::string out;
  out += "User:       " + (u.display_name.empty() ? u.user_principal_name : u.display_name) + " <" +
         u.user_principal_name + ">\n";
  out += "            ObjectId " + u.object_id + ", " + u.sip_address;
  if (!u.phone_number.empty()) out += ", " + u.phone_number;
  if (!u.data_location.empty()) out += ", region " + u.data_location;
  if (!u.preferred_language.empty()) out += ", language " + u.preferred_language;
  out += "\n";
  out += "Recorded:   " + std::string(e.recorded ? "YES" : "no") + " (" + e.reason + ")\n";
  out += "Because:    " + describe(e.candidates.front()) + "\n";
  for (size_t i = 1; i < e.candidates.size(); ++i) {
    out += std::string(i == 1 ? "Overrides:  " : "            ") + describe(e.candidates[i]) + "\n";
  }
  if (!e.effective) return out;
  const CompiledPolicy& p = *e.effective;
  out += "Policy:     " + p.identity + " (Enabled " + tf(p.enabled) + ", WarnUserOnRemoval " +
         tf(p.warn_user_on_removal) + ", DisableComplianceRecordingAudioNotificationForCalls " +
         tf(p.disable_audio_notification_for_calls) + ", RecordReroutedCalls " +
         tf(p.record_rerouted_calls) + ")\n";
  if (!p.banner_text.empty()) out += "Banner:     \"" + p.banner_text + "\"\n";
  if (!p.invitations.empty()) {
    out += e.recorded ? "Invites:    in parallel, at every call and meeting of this user\n"
                      : "Would invite (if enabled):\n";
  }
  int n = 0;
  auto target = [&](const RecorderTarget& t) {
    std::string s = (t.display_name.empty() ? t.instance_object_id : t.display_name);
    if (!t.instance_upn.empty()) s += " <" + t.instance_upn + ">";
    s += ", ObjectId " + t.instance_object_id;
    s += ", ApplicationId " + (t.application_id.empty() ? "(none)" : t.application_id);
    return s;
  };
  auto endpoints = [&](const RecorderTarget& t) {
    std::string s;
    for (const auto& ep : endpoints_for_region(t, u.data_location)) {
      s += (s.empty() ? "" : ", ") + ep.uri + (ep.region.empty() ? "" : " [" + ep.region + "]");
    }
    return s.empty() ? std::string("(none)") : s;
  };
  for (const auto& inv : p.invitations) {
    out += "  " + std::to_string(++n) + ". " + target(inv.recorder) + "\n";
    out += "     RequiredBeforeCallEstablishment " +
           std::string(tf(inv.required_before_call_establishment)) + ", RequiredDuringCall " +
           tf(inv.required_during_call) + ", RequiredBeforeMeetingJoin " +
           tf(inv.required_before_meeting_join) + ", RequiredDuringMeeting " +
           tf(inv.required_during_meeting) + "\n";
    // What the meeting flags do (the gateway's meetings, docs/meetings.md).
    out +=
        std::string(
            "     In meetings: one session for the whole meeting (shared with every "
            "member under this application); ") +
        (inv.required_before_meeting_join ? "the user joins once it is in"
                                          : "the user joins without waiting for it") +
        "; " +
        (inv.required_during_meeting
             ? std::string("when it is lost the user is removed") +
                   (p.warn_user_on_removal ? " after the spoken warning" : "") + ", the others stay"
             : std::string("when it is lost the user stays")) +
        "\n";
    out += "     ConcurrentInvitationCount " + std::to_string(inv.concurrent_invitation_count) +
           "; endpoints" +
           (u.data_location.empty() ? "" : " (region " + u.data_location + " first)") + ": " +
           endpoints(inv.recorder) + "\n";
    if (inv.paired) {
      out += "     paired with " + target(*inv.paired) + "; endpoints: " + endpoints(*inv.paired) +
             "\n";
    }
  }
  for (const auto& problem : p.problems) out += "Problem:    " + problem + "\n";
  return out;
}

json explanation_json(const Explanation& e) {
  json candidates = json::array();
  for (size_t i = 0; i < e.candidates.size(); ++i) {
    const auto& c = e.candidates[i];
    candidates.push_back({{"source", source_name(c.source)},
                          {"policyName", c.policy_name},
                          {"rank", c.source == Source::kGroup ? json(c.rank) : json(nullptr)},
                          {"groupId", c.group_id.empty() ? json(nullptr) : json(c.group_id)},
                          {"groupName", c.group_name.empty() ? json(nullptr) : json(c.group_name)},
                          {"effective", i == 0}});
  }
  return {
      {"user", json(e.user)},
      {"recorded", e.recorded},
      {"reason", e.reason},
      {"assignments", candidates},
      {"policy", e.effective ? policy_json(*e.effective, e.user.data_location) : json(nullptr)}};
}

json decision_json(const Decision& d, std::string_view party) {
  json out = {{"party", party}, {"knownUser", d.known()}, {"record", d.record()}};
  if (!d.known()) return out;
  out["user"] = {
      {"objectId", d.user->object_id},        {"userPrincipalName", d.user->user_principal_name},
      {"sipAddress", d.user->sip_address},    {"displayName", d.user->display_name},
      {"phoneNumber", d.user->phone_number},  {"preferredLanguage", d.user->preferred_language},
      {"dataLocation", d.user->data_location}};
  out["source"] = source_name(d.source);
  if (d.source == Source::kGroup) out["rank"] = d.rank;
  out["policy"] = d.policy ? policy_json(*d.policy, d.user->data_location) : json(nullptr);
  return out;
}

}  // namespace verbatim::policy
