// The compliance-recording directory and policy model, as plain value types.
//
// These mirror the objects of Microsoft Teams policy-based recording (teams-model.md):
// users, groups, application instances (the recorders' resource accounts), compliance
// recording policies with their recording applications, group policy assignments, custom
// banner texts; plus Verbatim's own recorder endpoints (the SIP URIs behind an
// ApplicationId). Each type converts to and from JSON, which is also its stored form
// (docs/storage.md). Values only: indexes and invariants live in PolicyState.
// Threads and ownership: values; any thread (a PolicyState guards the ones it holds).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace verbatim::policy {

inline constexpr std::string_view kPolicyType = "TeamsComplianceRecordingPolicy";
inline constexpr std::string_view kGlobalPolicy = "Global";

struct Tenant {
  std::string tenant_id;
  // Policy granted with `Grant-... -Global`; "Global" means the built-in Global instance.
  std::string global_policy = "Global";
};

struct User {
  std::string object_id;
  std::string user_principal_name;
  std::string sip_address;  // always with scheme: "sip:alice@contoso.com"
  std::string display_name;
  std::string phone_number;  // E.164 ("+14255550100") or empty
  std::string preferred_language;
  std::string data_location;  // region code recorders are matched against, e.g. "EUR"
  // Direct assignment (PolicyName, without "Tag:"), empty when none.
  std::string compliance_recording_policy;
};

struct Group {
  std::string object_id;
  std::string display_name;
  std::string description;
};

struct Membership {
  std::string group_id;
  std::string user_id;
  std::string key() const { return group_id + "/" + user_id; }
};

struct ApplicationInstance {
  std::string object_id;
  std::string user_principal_name;  // doubles as the instance's SIP URI
  std::string application_id;       // empty until set at creation or by Sync
  std::string display_name;
  std::string phone_number;
};

struct RecorderEndpoint {
  std::string id;
  std::string application_id;
  std::string uri;  // SIP URI of a SIPREC recording server
  std::string region;
  std::string description;
  bool enabled = true;
};

struct RecordingApplication {
  std::string id;      // ObjectId of an application instance
  std::string parent;  // policy name
  bool required_before_meeting_join = true;
  bool required_before_call_establishment = true;
  bool required_during_meeting = true;
  bool required_during_call = true;
  uint32_t concurrent_invitation_count = 1;
  std::vector<std::string> paired_applications;  // at most one ObjectId
  std::optional<int> priority;
  std::string identity() const;  // "Tag:<parent>/<id>"
};

struct Policy {
  std::string name;  // "Global" or the tag name
  bool enabled = false;
  bool warn_user_on_removal = true;
  bool disable_audio_notification_for_calls = false;
  bool record_rerouted_calls = false;
  std::string description;
  std::vector<RecordingApplication> applications;
  std::string custom_banner;  // Id (GUID) of a banner text, or empty
  bool custom_prompts_enabled = false;
  std::string custom_prompts_package_id;
  std::string identity() const { return name == kGlobalPolicy ? name : "Tag:" + name; }
};

struct GroupAssignment {
  std::string group_id;
  std::string policy_name;
  int rank = 0;  // 1 is highest; ranks are always 1..N without gaps
  std::string created_time;
  std::string created_by;
};

struct BannerText {
  std::string name;  // Identity without "Tag:"
  std::string id;    // GUID policies refer to
  std::string text;
  std::string description;
};

// A call queue (New-CsCallQueue): calls to the resource accounts associated with it
// (New-CsOnlineApplicationInstanceAssociation) ring its agents. The gateway routes them
// (docs/gateway.md, "Call queues"); each agent is recorded under their own policy.
struct CallQueue {
  std::string identity;  // GUID
  std::string name;
  std::vector<std::string> users;               // agents' ObjectIds, in the order given
  std::vector<std::string> distribution_lists;  // groups whose members are agents too
  std::string routing_method = "Attendant";     // Attendant, Serial, RoundRobin, LongestIdle
  bool presence_based_routing = false;          // agents in another call are skipped
  bool conference_mode = true;                  // the caller is answered at once; the agent joins
  int agent_alert_time = 30;                    // seconds an agent rings (15-180)
  int timeout_threshold = 1200;  // seconds a caller waits before being disconnected (0-2700)
  std::vector<std::string> resource_accounts;  // application instance ObjectIds
};

// A user's call forwarding (Set-CsUserCallingSettings). Targets are stored resolved: a user's
// SIP address ("sip:bob@contoso.com") or an E.164 number ("+14255550100"); "Voicemail" needs
// none (the gateway's voicemail_uri).
struct CallingSettings {
  std::string user_id;
  bool forwarding_enabled = false;
  std::string forwarding_type = "Immediate";            // Immediate, Simultaneous
  std::string forwarding_target_type = "SingleTarget";  // SingleTarget, Voicemail
  std::string forwarding_target;
  bool unanswered_enabled = false;
  std::string unanswered_target_type = "Voicemail";  // SingleTarget, Voicemail
  std::string unanswered_target;
  int unanswered_delay = 20;  // seconds the user's phones ring first
};

// A user's SIP digest credentials (Set-VbUser -SipPassword): HA1 = H(username:realm:password)
// for each algorithm, never the password. The realm is the domain of the user's SIP address
// when the password was set. In memory (PolicyState) and in the audit log only the redacted
// form is kept (no hashes); the gateway reads the hashes from the store when it verifies.
struct SipCredential {
  std::string user_id;
  std::string username;  // the digest username: the user part of the SIP address
  std::string realm;
  std::string ha1_md5;
  std::string ha1_sha256;
  std::string set_at;  // ISO 8601 UTC
};
// The document without the hashes.
nlohmann::json redacted(const SipCredential& c);

void to_json(nlohmann::json& j, const Tenant& v);
void from_json(const nlohmann::json& j, Tenant& v);
void to_json(nlohmann::json& j, const User& v);
void from_json(const nlohmann::json& j, User& v);
void to_json(nlohmann::json& j, const Group& v);
void from_json(const nlohmann::json& j, Group& v);
void to_json(nlohmann::json& j, const Membership& v);
void from_json(const nlohmann::json& j, Membership& v);
void to_json(nlohmann::json& j, const ApplicationInstance& v);
void from_json(const nlohmann::json& j, ApplicationInstance& v);
void to_json(nlohmann::json& j, const RecorderEndpoint& v);
void from_json(const nlohmann::json& j, RecorderEndpoint& v);
void to_json(nlohmann::json& j, const RecordingApplication& v);
void from_json(const nlohmann::json& j, RecordingApplication& v);
void to_json(nlohmann::json& j, const Policy& v);
void from_json(const nlohmann::json& j, Policy& v);
void to_json(nlohmann::json& j, const GroupAssignment& v);
void from_json(const nlohmann::json& j, GroupAssignment& v);
void to_json(nlohmann::json& j, const BannerText& v);
void from_json(const nlohmann::json& j, BannerText& v);
void to_json(nlohmann::json& j, const CallingSettings& v);
void from_json(const nlohmann::json& j, CallingSettings& v);
void to_json(nlohmann::json& j, const CallQueue& v);
void from_json(const nlohmann::json& j, CallQueue& v);
void to_json(nlohmann::json& j, const SipCredential& v);
void from_json(const nlohmann::json& j, SipCredential& v);

// "Tag:Name" -> "Name"; "Global" and plain names unchanged.
std::string policy_name_from_identity(std::string_view identity);

// Address normalisation shared by the state indexes and the decision engine.
// SIP/UPN keys: lower case, no scheme, no parameters. Phones: "+" and digits only.
// Returns false when the text is not a usable address.
bool normalize_phone(std::string_view in, std::string& out);
bool is_e164(std::string_view phone);
std::string address_key(std::string_view sip_or_upn);

}  // namespace verbatim::policy
