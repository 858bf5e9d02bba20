// Store: durable home of the policy model and its audit log.
//
// The embedded implementation is SqliteStore; a PostgreSQL store will implement the same
// interface for scale-out. A commit writes every changed object and one audit row per
// change (who, when, the command, before/after) in one transaction, and is refused with
// kConflict when another writer committed first (optimistic concurrency on the audit
// sequence number), so two admins can never silently overwrite each other.
// Implementations are used from one thread at a time (PolicyService serialises them).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "policy/accounts.h"
#include "policy/state.h"

namespace verbatim::policy {

struct CommitInfo {
  std::string actor;  // who: "cli:root", "api:<token name>"
  std::string at;     // when: ISO 8601 UTC
};

struct AuditEntry {
  int64_t seq = 0;
  std::string at;
  std::string actor;
  std::string command;
  Kind kind = Kind::kTenant;
  std::string key;
  std::optional<nlohmann::json> before;
  std::optional<nlohmann::json> after;
};

struct ApiToken {
  std::string id;       // "ops-3f2a9c" (shown, never secret)
  std::string account;  // whose it is: the token acts with that account's role and scope
  std::string created;
};

class Store {
 public:
  virtual ~Store() = default;

  // Loads every stored object into a fresh `state`; returns the last audit sequence number.
  virtual Result<int64_t> load(PolicyState& state) = 0;
  // Persists `changes` atomically; returns the new last sequence number.
  virtual Result<int64_t> commit(const std::vector<Change>& changes, const CommitInfo& info,
                                 int64_t expected_seq) = 0;
  virtual Result<int64_t> last_seq() = 0;
  // Audit rows with seq > after_seq, oldest first, at most `limit`.
  virtual Result<std::vector<AuditEntry>> audit_since(int64_t after_seq, size_t limit) = 0;

  // One stored document as written (SIP credentials with their hashes), or nullopt.
  virtual Result<std::optional<nlohmann::json>> object(Kind kind, const std::string& key) = 0;

  // Accounts (policy/accounts.h): insert or replace; by name; all.
  virtual Status put_account(const Account& account) = 0;
  virtual Result<std::optional<Account>> account(const std::string& name) = 0;
  virtual Result<std::vector<Account>> list_accounts() = 0;

  // REST API tokens, stored only as hashes, each an account's.
  virtual Status put_token(const ApiToken& token, const std::string& hash) = 0;
  virtual Result<std::optional<ApiToken>> token_by_hash(const std::string& hash) = 0;
  virtual Result<std::vector<ApiToken>> list_tokens() = 0;
  virtual Result<bool> delete_token(const std::string& id) = 0;

  // Requests that need a second person's approval.
  virtual Result<int64_t> add_approval(const Approval& approval) = 0;
  virtual Result<std::optional<Approval>> approval(int64_t id) = 0;
  virtual Result<std::vector<Approval>> list_approvals(bool pending_only) = 0;
  // Records the decision; refused (kConflict) unless the request is still pending.
  virtual Status decide_approval(const Approval& decided) = 0;

  // The security log: tokens, accounts, approvals, refused logins. Append-only.
  virtual Status log_security_event(const SecurityEvent& event) = 0;
  virtual Result<std::vector<SecurityEvent>> security_events(int64_t after_seq, size_t limit) = 0;
};

}  // namespace verbatim::policy
