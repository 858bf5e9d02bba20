#include "policy/sqlite_store.h"

#include <sqlite3.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "policy/service.h"

namespace verbatim::policy {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() /
          ("vb_store_test_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    path = (dir / "policy.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  std::unique_ptr<PolicyService> open_service() {
    auto store = SqliteStore::open(path);
    EXPECT_TRUE(store) << (store ? "" : store.error().message);
    auto svc = std::make_unique<PolicyService>(std::move(store).value(), ids, clock);
    auto st = svc->open();
    EXPECT_TRUE(st) << (st ? "" : st.error().message);
    return svc;
  }

  std::filesystem::path dir;
  std::string path;
  SequentialIdGenerator ids;
  ManualClock clock{TimePoint{std::chrono::seconds(1800000000)}};
};

TEST_F(StoreTest, CommitsSurviveReopenWithAudit) {
  std::string tenant;
  {
    auto svc = open_service();
    tenant = svc->state().tenant().tenant_id;
    Policy p;
    p.name = "Traders";
    p.enabled = true;
    svc->state().set_command("New-CsTeamsComplianceRecordingPolicy -Identity Traders");
    svc->state().put_policy(p);
    ASSERT_TRUE(svc->commit("cli:alice"));
  }
  auto svc = open_service();
  EXPECT_EQ(svc->state().tenant().tenant_id, tenant);
  ASSERT_NE(svc->state().find_policy("Traders"), nullptr);
  EXPECT_TRUE(svc->state().find_policy("Traders")->enabled);
  auto audit = svc->store()->audit_since(0, 100);
  ASSERT_TRUE(audit);
  const AuditEntry& last = audit.value().back();
  EXPECT_EQ(last.actor, "cli:alice");
  EXPECT_EQ(last.command, "New-CsTeamsComplianceRecordingPolicy -Identity Traders");
  EXPECT_EQ(last.at, "2027-01-15T08:00:00Z");
  EXPECT_FALSE(last.before.has_value());
  EXPECT_EQ((*last.after)["Name"], "Traders");
}

TEST_F(StoreTest, ConcurrentWriterGetsConflictAndNothingIsHalfApplied) {
  auto a = open_service();
  auto b = open_service();
  Policy p;
  p.name = "FromA";
  a->state().put_policy(p);
  ASSERT_TRUE(a->commit("a"));
  p.name = "FromB";
  b->state().put_policy(p);
  auto st = b->commit("b");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kConflict);
  EXPECT_EQ(b->state().find_policy("FromB"), nullptr);  // rolled back
  ASSERT_TRUE(b->refresh());
  EXPECT_NE(b->state().find_policy("FromA"), nullptr);  // and it sees A's change
  EXPECT_TRUE(b->engine().decide("nobody").policy == nullptr);
  b->state().put_policy(p);
  EXPECT_TRUE(b->commit("b"));
}

TEST_F(StoreTest, RefreshFeedsTheDecisionEngine) {
  auto writer = open_service();
  auto reader = open_service();
  User u;
  u.object_id = "00000000-0000-4000-8000-0000000000aa";
  u.user_principal_name = "alice@contoso.com";
  u.sip_address = "sip:alice@contoso.com";
  writer->state().put_user(u);
  ASSERT_TRUE(writer->commit("w"));
  EXPECT_FALSE(reader->engine().decide("alice@contoso.com").known());
  ASSERT_TRUE(reader->refresh());
  EXPECT_TRUE(reader->engine().decide("alice@contoso.com").known());
}

TEST_F(StoreTest, NewerSchemaIsRefused) {
  { open_service(); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto store = SqliteStore::open(path);
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message.find("newer"), std::string::npos);
}

TEST_F(StoreTest, CorruptRowIsReportedNotLoaded) {
  { open_service(); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "INSERT INTO objects VALUES('user','x','{not json')", nullptr, nullptr,
                         nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = SqliteStore::open(path);
  ASSERT_TRUE(store);
  PolicyState state;
  auto r = store.value()->load(state);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("user/x"), std::string::npos);
}

TEST_F(StoreTest, AccountsTokensApprovalsAndTheSecurityLog) {
  auto store = SqliteStore::open(path).value();
  Account officer{"jane", Role::kComplianceOfficer, {"FX Desk"}, {"EUR"}, "", "t", "os:0"};
  ASSERT_TRUE(store->put_account(officer));
  auto back = store->account("jane").value();
  ASSERT_TRUE(back);
  EXPECT_EQ(back->role, Role::kComplianceOfficer);
  EXPECT_EQ(back->groups, std::vector<std::string>{"FX Desk"});
  EXPECT_FALSE(store->account("nobody").value());
  ASSERT_TRUE(store->put_token({"jane-1", "jane", "t"}, "hash1"));
  EXPECT_FALSE(store->put_token({"jane-1", "jane", "t"}, "hash2"));
  EXPECT_EQ(store->token_by_hash("hash1").value()->account, "jane");
  EXPECT_FALSE(store->token_by_hash("nope").value().has_value());
  EXPECT_EQ(store->list_tokens().value().size(), 1u);
  EXPECT_TRUE(store->delete_token("jane-1").value());
  EXPECT_FALSE(store->delete_token("jane-1").value());
  EXPECT_FALSE(store->token_by_hash("hash1").value().has_value());
  auto id = store->add_approval(
      {0, {{"type", "release-hold"}}, "api:jane", "t", "why", "pending", "", "", ""});
  ASSERT_TRUE(id);
  Approval decided = *store->approval(id.value()).value();
  decided.status = "approved";
  decided.decided_by = "api:kim";
  ASSERT_TRUE(store->decide_approval(decided));
  EXPECT_FALSE(store->decide_approval(decided)) << "decided once only";
  EXPECT_TRUE(store->list_approvals(true).value().empty());
  ASSERT_TRUE(store->log_security_event({0, "t", "os:0", "token.created", {{"token", "x"}}}));
  EXPECT_EQ(store->security_events(0, 10).value().size(), 1u);
}

// A database from before accounts existed: its tokens become admin accounts of their names
// (what they could do before), and keep working.
TEST_F(StoreTest, TokensFromBeforeAccountsBecomeAdminAccounts) {
  {
    auto db = SqliteDb::open(path).value();
    ASSERT_TRUE(
        db->exec("CREATE TABLE objects (kind TEXT NOT NULL, key TEXT NOT NULL, doc TEXT "
                 "NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID; CREATE TABLE "
                 "audit_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, "
                 "actor TEXT NOT NULL, command TEXT NOT NULL, kind TEXT NOT NULL, key "
                 "TEXT NOT NULL, before TEXT, after TEXT); CREATE TABLE api_tokens (name "
                 "TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, created TEXT NOT NULL); "
                 "INSERT INTO api_tokens VALUES('ops', 'h', 't'); PRAGMA user_version=1;"));
  }
  auto store = SqliteStore::open(path).value();
  EXPECT_EQ(store->token_by_hash("h").value()->account, "ops");
  EXPECT_EQ(store->account("ops").value()->role, Role::kAdmin);
}

}  // namespace
}  // namespace verbatim::policy
