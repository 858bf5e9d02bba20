// PolicyState: the in-memory directory and policy model with its indexes and a change
// journal.
//
// It is the single place that holds users, groups, memberships, application instances,
// recorder endpoints, policies, group assignments and banner texts, and keeps their lookup
// indexes (address -> user, name -> group, ...) consistent. Every mutation goes through a
// typed put_/erase_ call that records a Change (kind, key, JSON before/after, the command
// that caused it). The journal is what the Store persists and audits, what the
// DecisionEngine applies incrementally, and what rollback_to() undoes, which is how a
// script that fails half-way changes nothing.
//
// Validation of business rules (uniqueness, references, Teams limits) is the caller's job
// (admin cmdlets); PolicyState only keeps its own structures consistent.
// Not thread-safe: one owner mutates it; readers elsewhere use the DecisionEngine.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/strings.h"
#include "policy/model.h"

namespace verbatim::policy {

enum class Kind {
  kTenant,
  kUser,
  kGroup,
  kMembership,
  kAppInstance,
  kEndpoint,
  kPolicy,
  kGroupAssignment,
  kBannerText,
  kSipCredential,  // stored with its hashes; audited and held in memory without them
  kCallQueue,
  kCallingSettings,
};
const char* kind_name(Kind kind);
// What the audit log keeps of a document: SIP credentials without their hashes, the rest whole.
std::optional<nlohmann::json> audit_document(Kind kind, const std::optional<nlohmann::json>& doc);
std::optional<Kind> kind_from_name(std::string_view name);

struct Change {
  Kind kind = Kind::kTenant;
  std::string key;
  std::optional<nlohmann::json> before;  // absent: the object was created
  std::optional<nlohmann::json> after;   // absent: the object was removed
  std::string command;                   // the admin command that made the change
};

class PolicyState {
 public:
  PolicyState();

  // --- reads -------------------------------------------------------------------------
  const Tenant& tenant() const { return tenant_; }
  const std::map<std::string, User>& users() const { return users_; }
  const User* user_by_id(std::string_view object_id) const;
  // By ObjectId, UPN, SIP address (with or without scheme) or phone number.
  const User* user_by_address(std::string_view address) const;
  std::vector<const User*> users_by_display_name(std::string_view name) const;

  const std::map<std::string, Group>& groups() const { return groups_; }
  const Group* group_by_id(std::string_view object_id) const;
  std::vector<const Group*> groups_by_display_name(std::string_view name) const;
  const std::set<std::string>& members_of(std::string_view group_id) const;
  const std::set<std::string>& groups_of(std::string_view user_id) const;

  const std::map<std::string, ApplicationInstance>& instances() const { return instances_; }
  const ApplicationInstance* instance_by_id(std::string_view object_id) const;
  const ApplicationInstance* instance_by_upn(std::string_view upn) const;

  const std::map<std::string, RecorderEndpoint>& endpoints() const { return endpoints_; }
  std::vector<const RecorderEndpoint*> endpoints_of(std::string_view application_id) const;

  // Keyed by lower-case name; find_policy accepts "Name", "Tag:Name" or "Global".
  const std::map<std::string, Policy>& policies() const { return policies_; }
  const Policy* find_policy(std::string_view name_or_identity) const;

  const std::map<std::string, GroupAssignment>& group_assignments() const { return assignments_; }
  std::vector<const GroupAssignment*> ordered_group_assignments() const;  // by rank

  const std::map<std::string, BannerText>& banners() const { return banners_; }
  const BannerText* banner_by_name(std::string_view name) const;
  const BannerText* banner_by_id(std::string_view id) const;

  // Keyed by lower-case Identity (GUID).
  const std::map<std::string, CallQueue>& call_queues() const { return queues_; }
  // By Identity or (case-insensitive) Name.
  const CallQueue* call_queue(std::string_view identity_or_name) const;
  // The queue a resource account (application instance ObjectId) is associated with.
  const CallQueue* queue_of_instance(std::string_view instance_id) const;

  // A user's call forwarding, by user ObjectId (null: none set).
  const CallingSettings* calling_settings(std::string_view user_id) const;

  // SIP credentials by user ObjectId, without their hashes (see SipCredential).
  const SipCredential* sip_credential(std::string_view user_id) const;

  // Users and application instances whose direct assignment is this policy.
  std::vector<const User*> users_assigned(std::string_view policy_name) const;

  // --- journaled writes ----------------------------------------------------------------
  void set_command(std::string command) { command_ = std::move(command); }
  void put_tenant(const Tenant& t);
  void put_user(const User& u);
  void erase_user(const std::string& object_id);
  void put_group(const Group& g);
  void erase_group(const std::string& object_id);
  void add_membership(const std::string& group_id, const std::string& user_id);
  void remove_membership(const std::string& group_id, const std::string& user_id);
  void put_instance(const ApplicationInstance& a);
  void erase_instance(const std::string& object_id);
  void put_endpoint(const RecorderEndpoint& e);
  void erase_endpoint(const std::string& id);
  void put_policy(const Policy& p);
  void erase_policy(const std::string& name);
  // Replaces the whole ordered list of group assignments; ranks are renumbered 1..N and
  // only entries whose content changed are journaled.
  void set_group_assignments(std::vector<GroupAssignment> ordered);
  void put_banner(const BannerText& b);
  void erase_banner(const std::string& name);
  void put_call_queue(const CallQueue& q);
  void erase_call_queue(const std::string& identity);
  void put_calling_settings(const CallingSettings& s);
  void erase_calling_settings(const std::string& user_id);
  // The journaled change carries the hashes (the store keeps them); memory does not.
  void put_sip_credential(const SipCredential& c);
  void erase_sip_credential(const std::string& user_id);

  // --- journal ---------------------------------------------------------------------------
  const std::vector<Change>& journal() const { return journal_; }
  std::vector<Change> take_journal();
  // Undoes every change recorded after `mark` (a journal() size taken earlier).
  void rollback_to(size_t mark);

  // Applies a stored document (or its absence) without journaling: loading from the store,
  // replaying another process's changes, undo.
  void apply(Kind kind, const std::string& key, const std::optional<nlohmann::json>& doc);

 private:
  void record(Kind kind, const std::string& key, std::optional<nlohmann::json> before,
              std::optional<nlohmann::json> after);
  std::optional<nlohmann::json> current(Kind kind, const std::string& key) const;
  void index_user(const User& u);
  void unindex_user(const User& u);

  Tenant tenant_;
  std::map<std::string, User> users_;
  std::unordered_map<std::string, const User*, StringHash, std::equal_to<>> user_address_;
  std::unordered_multimap<std::string, const User*> user_name_;
  std::map<std::string, Group> groups_;
  std::unordered_multimap<std::string, const Group*> group_name_;       // lower-case display name
  std::map<std::string, std::set<std::string>> members_;                // group -> users
  std::unordered_map<std::string, std::set<std::string>> user_groups_;  // user -> groups
  std::map<std::string, ApplicationInstance> instances_;
  std::map<std::string, RecorderEndpoint> endpoints_;
  std::map<std::string, Policy> policies_;
  std::map<std::string, GroupAssignment> assignments_;  // by group id
  std::map<std::string, BannerText> banners_;           // by lower-case name
  std::map<std::string, SipCredential> credentials_;    // by user id, hashes cleared
  std::map<std::string, CallQueue> queues_;             // by lower-case identity
  std::map<std::string, CallingSettings> calling_;      // by lower-case user id

  std::vector<Change> journal_;
  std::string command_;
};

}  // namespace verbatim::policy
