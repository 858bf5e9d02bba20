// SqliteStore: the embedded Store, one SQLite database file in the data directory
// (<data-dir>/policy.db). Schema and migrations are documented in docs/storage.md; the
// schema version is PRAGMA user_version and each migration runs once, in order, in its own
// transaction. WAL mode, so readers (a running server) and one writer (an admin CLI) work
// side by side.
// Threads and ownership: a SqliteStore owns its SQLite connection and is used by one thread at a
// time (the policy service's mutex); other processes see its commits through the database file.
#pragma once

#include <memory>
#include <string>

#include "common/sqlite.h"
#include "policy/store.h"

namespace verbatim::policy {

class SqliteStore final : public Store {
 public:
  static constexpr int kSchemaVersion = 2;

  // Opens or creates the database and migrates it to kSchemaVersion. A database written by
  // a newer version is refused rather than guessed at.
  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path);

  Result<int64_t> load(PolicyState& state) override;
  Result<int64_t> commit(const std::vector<Change>& changes, const CommitInfo& info,
                         int64_t expected_seq) override;
  Result<int64_t> last_seq() override;
  Result<std::vector<AuditEntry>> audit_since(int64_t after_seq, size_t limit) override;
  Result<std::optional<nlohmann::json>> object(Kind kind, const std::string& key) override;
  Status put_account(const Account& account) override;
  Result<std::optional<Account>> account(const std::string& name) override;
  Result<std::vector<Account>> list_accounts() override;
  Status put_token(const ApiToken& token, const std::string& hash) override;
  Result<std::optional<ApiToken>> token_by_hash(const std::string& hash) override;
  Result<std::vector<ApiToken>> list_tokens() override;
  Result<bool> delete_token(const std::string& id) override;
  Result<int64_t> add_approval(const Approval& approval) override;
  Result<std::optional<Approval>> approval(int64_t id) override;
  Result<std::vector<Approval>> list_approvals(bool pending_only) override;
  Status decide_approval(const Approval& decided) override;
  Status log_security_event(const SecurityEvent& event) override;
  Result<std::vector<SecurityEvent>> security_events(int64_t after_seq, size_t limit) override;

 private:
  explicit SqliteStore(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}
  Status exec(const char* sql) { return db_->exec(sql); }

  std::unique_ptr<SqliteDb> db_;
};

}  // namespace verbatim::policy
