#include "policy/model.h"

#include "common/strings.h"

namespace verbatim::policy {

using nlohmann::json;

// Reads an optional field, keeping the default when absent so older stored documents
// load after a field is added (docs/storage.md, "compatibility").
template <typename T>
static void opt(const json& j, const char* key, T& out) {
  if (auto it = j.find(key); it != j.end() && !it->is_null()) it->get_to(out);
}

void to_json(json& j, const Tenant& v) {
  j = json{{"TenantId", v.tenant_id}, {"GlobalPolicy", v.global_policy}};
}
void from_json(const json& j, Tenant& v) {
  opt(j, "TenantId", v.tenant_id);
  opt(j, "GlobalPolicy", v.global_policy);
}

void to_json(json& j, const User& v) {
  j = json{{"ObjectId", v.object_id},
           {"UserPrincipalName", v.user_principal_name},
           {"SipAddress", v.sip_address},
           {"DisplayName", v.display_name},
           {"PhoneNumber", v.phone_number},
           {"PreferredLanguage", v.preferred_language},
           {"DataLocation", v.data_location},
           {"TeamsComplianceRecordingPolicy", v.compliance_recording_policy}};
}
void from_json(const json& j, User& v) {
  opt(j, "ObjectId", v.object_id);
  opt(j, "UserPrincipalName", v.user_principal_name);
  opt(j, "SipAddress", v.sip_address);
  opt(j, "DisplayName", v.display_name);
  opt(j, "PhoneNumber", v.phone_number);
  opt(j, "PreferredLanguage", v.preferred_language);
  opt(j, "DataLocation", v.data_location);
  opt(j, "TeamsComplianceRecordingPolicy", v.compliance_recording_policy);
}

void to_json(json& j, const Group& v) {
  j = json{
      {"ObjectId", v.object_id}, {"DisplayName", v.display_name}, {"Description", v.description}};
}
void from_json(const json& j, Group& v) {
  opt(j, "ObjectId", v.object_id);
  opt(j, "DisplayName", v.display_name);
  opt(j, "Description", v.description);
}

void to_json(json& j, const Membership& v) {
  j = json{{"GroupId", v.group_id}, {"UserId", v.user_id}};
}
void from_json(const json& j, Membership& v) {
  opt(j, "GroupId", v.group_id);
  opt(j, "UserId", v.user_id);
}

void to_json(json& j, const ApplicationInstance& v) {
  j = json{{"ObjectId", v.object_id},
           {"UserPrincipalName", v.user_principal_name},
           {"ApplicationId", v.application_id},
           {"DisplayName", v.display_name},
           {"PhoneNumber", v.phone_number}};
}
void from_json(const json& j, ApplicationInstance& v) {
  opt(j, "ObjectId", v.object_id);
  opt(j, "UserPrincipalName", v.user_principal_name);
  opt(j, "ApplicationId", v.application_id);
  opt(j, "DisplayName", v.display_name);
  opt(j, "PhoneNumber", v.phone_number);
}

void to_json(json& j, const RecorderEndpoint& v) {
  j = json{{"Identity", v.id},   {"ApplicationId", v.application_id}, {"Uri", v.uri},
           {"Region", v.region}, {"Description", v.description},      {"Enabled", v.enabled}};
}
void from_json(const json& j, RecorderEndpoint& v) {
  opt(j, "Identity", v.id);
  opt(j, "ApplicationId", v.application_id);
  opt(j, "Uri", v.uri);
  opt(j, "Region", v.region);
  opt(j, "Description", v.description);
  opt(j, "Enabled", v.enabled);
}

std::string RecordingApplication::identity() const { return "Tag:" + parent + "/" + id; }

void to_json(json& j, const RecordingApplication& v) {
  j = json{{"Id", v.id},
           {"Parent", v.parent},
           {"RequiredBeforeMeetingJoin", v.required_before_meeting_join},
           {"RequiredBeforeCallEstablishment", v.required_before_call_establishment},
           {"RequiredDuringMeeting", v.required_during_meeting},
           {"RequiredDuringCall", v.required_during_call},
           {"ConcurrentInvitationCount", v.concurrent_invitation_count},
           {"ComplianceRecordingPairedApplications", v.paired_applications},
           {"Priority", v.priority ? json(*v.priority) : json(nullptr)}};
}
void from_json(const json& j, RecordingApplication& v) {
  opt(j, "Id", v.id);
  opt(j, "Parent", v.parent);
  opt(j, "RequiredBeforeMeetingJoin", v.required_before_meeting_join);
  opt(j, "RequiredBeforeCallEstablishment", v.required_before_call_establishment);
  opt(j, "RequiredDuringMeeting", v.required_during_meeting);
  opt(j, "RequiredDuringCall", v.required_during_call);
  opt(j, "ConcurrentInvitationCount", v.concurrent_invitation_count);
  opt(j, "ComplianceRecordingPairedApplications", v.paired_applications);
  if (auto it = j.find("Priority"); it != j.end() && it->is_number_integer()) {
    v.priority = it->get<int>();
  }
}

void to_json(json& j, const Policy& v) {
  j = json{{"Name", v.name},
           {"Enabled", v.enabled},
           {"WarnUserOnRemoval", v.warn_user_on_removal},
           {"DisableComplianceRecordingAudioNotificationForCalls",
            v.disable_audio_notification_for_calls},
           {"RecordReroutedCalls", v.record_rerouted_calls},
           {"Description", v.description},
           {"ComplianceRecordingApplications", v.applications},
           {"CustomBanner", v.custom_banner},
           {"CustomPromptsEnabled", v.custom_prompts_enabled},
           {"CustomPromptsPackageId", v.custom_prompts_package_id}};
}
void from_json(const json& j, Policy& v) {
  opt(j, "Name", v.name);
  opt(j, "Enabled", v.enabled);
  opt(j, "WarnUserOnRemoval", v.warn_user_on_removal);
  opt(j, "DisableComplianceRecordingAudioNotificationForCalls",
      v.disable_audio_notification_for_calls);
  opt(j, "RecordReroutedCalls", v.record_rerouted_calls);
  opt(j, "Description", v.description);
  opt(j, "ComplianceRecordingApplications", v.applications);
  opt(j, "CustomBanner", v.custom_banner);
  opt(j, "CustomPromptsEnabled", v.custom_prompts_enabled);
  opt(j, "CustomPromptsPackageId", v.custom_prompts_package_id);
}

void to_json(json& j, const GroupAssignment& v) {
  j = json{{"GroupId", v.group_id}, {"PolicyType", kPolicyType},     {"PolicyName", v.policy_name},
           {"Rank", v.rank},        {"CreatedTime", v.created_time}, {"CreatedBy", v.created_by}};
}
void from_json(const json& j, GroupAssignment& v) {
  opt(j, "GroupId", v.group_id);
  opt(j, "PolicyName", v.policy_name);
  opt(j, "Rank", v.rank);
  opt(j, "CreatedTime", v.created_time);
  opt(j, "CreatedBy", v.created_by);
}

void to_json(json& j, const BannerText& v) {
  j = json{{"Name", v.name}, {"Id", v.id}, {"Text", v.text}, {"Description", v.description}};
}
void from_json(const json& j, BannerText& v) {
  opt(j, "Name", v.name);
  opt(j, "Id", v.id);
  opt(j, "Text", v.text);
  opt(j, "Description", v.description);
}

void to_json(json& j, const CallingSettings& v) {
  j = json{{"UserId", v.user_id},
           {"IsForwardingEnabled", v.forwarding_enabled},
           {"ForwardingType", v.forwarding_type},
           {"ForwardingTargetType", v.forwarding_target_type},
           {"ForwardingTarget", v.forwarding_target},
           {"IsUnansweredEnabled", v.unanswered_enabled},
           {"UnansweredTargetType", v.unanswered_target_type},
           {"UnansweredTarget", v.unanswered_target},
           {"UnansweredDelay", v.unanswered_delay}};
}
void from_json(const json& j, CallingSettings& v) {
  opt(j, "UserId", v.user_id);
  opt(j, "IsForwardingEnabled", v.forwarding_enabled);
  opt(j, "ForwardingType", v.forwarding_type);
  opt(j, "ForwardingTargetType", v.forwarding_target_type);
  opt(j, "ForwardingTarget", v.forwarding_target);
  opt(j, "IsUnansweredEnabled", v.unanswered_enabled);
  opt(j, "UnansweredTargetType", v.unanswered_target_type);
  opt(j, "UnansweredTarget", v.unanswered_target);
  opt(j, "UnansweredDelay", v.unanswered_delay);
}

void to_json(json& j, const CallQueue& v) {
  j = json{{"Identity", v.identity},
           {"Name", v.name},
           {"Users", v.users},
           {"DistributionLists", v.distribution_lists},
           {"RoutingMethod", v.routing_method},
           {"PresenceBasedRouting", v.presence_based_routing},
           {"ConferenceMode", v.conference_mode},
           {"AgentAlertTime", v.agent_alert_time},
           {"TimeoutThreshold", v.timeout_threshold},
           {"ApplicationInstances", v.resource_accounts}};
}
void from_json(const json& j, CallQueue& v) {
  opt(j, "Identity", v.identity);
  opt(j, "Name", v.name);
  opt(j, "Users", v.users);
  opt(j, "DistributionLists", v.distribution_lists);
  opt(j, "RoutingMethod", v.routing_method);
  opt(j, "PresenceBasedRouting", v.presence_based_routing);
  opt(j, "ConferenceMode", v.conference_mode);
  opt(j, "AgentAlertTime", v.agent_alert_time);
  opt(j, "TimeoutThreshold", v.timeout_threshold);
  opt(j, "ApplicationInstances", v.resource_accounts);
}

void to_json(json& j, const SipCredential& v) {
  j = redacted(v);
  j["Ha1Md5"] = v.ha1_md5;
  j["Ha1Sha256"] = v.ha1_sha256;
}
void from_json(const json& j, SipCredential& v) {
  opt(j, "UserId", v.user_id);
  opt(j, "Username", v.username);
  opt(j, "Realm", v.realm);
  opt(j, "Ha1Md5", v.ha1_md5);
  opt(j, "Ha1Sha256", v.ha1_sha256);
  opt(j, "SetAt", v.set_at);
}
json redacted(const SipCredential& v) {
  return json{
      {"UserId", v.user_id}, {"Username", v.username}, {"Realm", v.realm}, {"SetAt", v.set_at}};
}

std::string policy_name_from_identity(std::string_view identity) {
  if (istarts_with(identity, "Tag:")) identity.remove_prefix(4);
  return std::string(identity);
}

bool normalize_phone(std::string_view in, std::string& out) {
  out.clear();
  if (istarts_with(in, "tel:")) in.remove_prefix(4);
  if (auto semi = in.find(';'); semi != std::string_view::npos) in = in.substr(0, semi);
  out += '+';
  size_t digits = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c >= '0' && c <= '9') {
      out += c;
      ++digits;
    } else if (c == '+' && i == 0) {
    } else if (c == '-' || c == '.' || c == ' ' || c == '(' || c == ')') {
    } else {
      return false;
    }
  }
  return digits >= 3 && digits <= 15;
}

bool is_e164(std::string_view phone) {
  if (phone.size() < 4 || phone.size() > 16 || phone[0] != '+' || phone[1] == '0') return false;
  for (size_t i = 1; i < phone.size(); ++i) {
    if (phone[i] < '0' || phone[i] > '9') return false;
  }
  return true;
}

std::string address_key(std::string_view s) {
  s = trim(s);
  if (auto lt = s.find('<'); lt != std::string_view::npos) {
    auto gt = s.find('>', lt);
    s = s.substr(lt + 1, gt == std::string_view::npos ? std::string_view::npos : gt - lt - 1);
  }
  if (istarts_with(s, "sips:")) {
    s.remove_prefix(5);
  } else if (istarts_with(s, "sip:")) {
    s.remove_prefix(4);
  }
  if (auto cut = s.find_first_of(";?>"); cut != std::string_view::npos) s = s.substr(0, cut);
  return to_lower(s);
}

}  // namespace verbatim::policy
