// Accounts: who may use the REST API (and, next, the portal), with which role, over which
// recordings; the rights each role has; passwords (Argon2id, libsodium crypto_pwhash); requests
// that need a second person's approval (four-eyes); and the security log of account, token and
// approval events. Stored beside the policy model (policy/store.h), never in its audit log.
//
// Roles (docs/rest-api.md has the route table):
//   admin              policy and configuration: the directory, policies, assignments, recorder
//                      applications and endpoints, decisions, call records, accounts and tokens,
//                      the audit log; never recordings
//   recorder-admin     recorder applications and endpoints, decisions, call records
//   compliance-officer recordings (metadata, content, export, legal holds), scoped to the groups
//                      and regions of the account (none given: every recording)
//   auditor            read-only: the audit and security logs, the ledger and verification
//   supervisor         call records of the named groups (live monitoring comes with the portal)
// Pure values and functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace verbatim::policy {

enum class Role { kAdmin, kRecorderAdmin, kComplianceOfficer, kAuditor, kSupervisor };
std::string_view role_name(Role r);  // "admin", "recorder-admin", ...
std::optional<Role> role_from_name(std::string_view name);
std::string role_names();  // "admin, recorder-admin, ..." for messages

enum class Right {
  kPolicyRead,      // directory, policies, assignments, decisions, explanations
  kPolicyWrite,     // every cmdlet that changes them, scripts
  kRecordersWrite,  // recorder applications (instances) and endpoints
  kCallsRead,       // the gateway's call records (supervisors: of their groups)
  kRecordingsRead,  // recordings' metadata and content (scoped)
  kRecordingsHold,  // legal holds, retention extensions, exports (scoped)
  kAuditRead,       // the audit log and the security log
  kLedgerRead,      // the archive ledger, tree heads, verification status
  kAccountsManage,  // accounts and tokens
};
bool has_right(Role role, Right right);

struct Account {
  std::string name;
  Role role = Role::kAuditor;
  std::vector<std::string> groups;   // scope: group display names or ObjectIds
  std::vector<std::string> regions;  // scope: DataLocation codes (USA, EUR, ...)
  std::string password_hash;         // Argon2id (crypto_pwhash_str); empty: tokens only
  std::string created;
  std::string created_by;
  nlohmann::json to_json() const;  // without the password hash
};
// An account name: 1-64 of [A-Za-z0-9._@-], starting with a letter or digit.
Status check_account_name(std::string_view name);

// Argon2id with libsodium's interactive limits; the string holds its own parameters and salt.
Result<std::string> hash_password(std::string_view password);
bool password_matches(const std::string& hash, std::string_view password);

// A recording is in an account's scope when the account has no scope, or the recording's
// catalog metadata names one of its groups ("groups") or regions ("region").
bool in_scope(const Account& account, const nlohmann::json& recording_metadata);

// Four-eyes: what is asked for, by whom, and what became of it. `action` is a JSON object with
// "type" (release-hold, grant-role, change-recorder-endpoint) and its arguments.
struct Approval {
  int64_t id = 0;
  nlohmann::json action;
  std::string requested_by, requested_at, reason;
  std::string status = "pending";  // pending | approved | rejected | failed
  std::string decided_by, decided_at, outcome;
  nlohmann::json to_json() const;
};

struct SecurityEvent {
  int64_t seq = 0;
  std::string at, actor, action;  // action: token.created, token.revoked, account.created, ...
  nlohmann::json detail;
};

}  // namespace verbatim::policy
