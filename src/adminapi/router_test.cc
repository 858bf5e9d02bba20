#include "adminapi/router.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "policy/sqlite_store.h"

namespace verbatim::adminapi {
namespace {

using nlohmann::json;

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() / ("vb_router_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto store = policy::SqliteStore::open((dir / "policy.db").string());
    ASSERT_TRUE(store);
    ASSERT_TRUE(store.value()->put_token("tester", token_hash("secret-token"), "t"));
    svc = std::make_unique<policy::PolicyService>(std::move(store).value(), ids, clock);
    ASSERT_TRUE(svc->open());
    router = std::make_unique<Router>(*svc);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  Response call(http::verb method, const std::string& target, const json& body = nullptr,
                const std::string& token = "secret-token") {
    Request req{method, target, 11};
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    if (!body.is_null()) req.body() = body.dump();
    req.prepare_payload();
    return router->handle(req);
  }
  static json body(const Response& r) { return json::parse(r.body()); }

  std::filesystem::path dir;
  SequentialIdGenerator ids;
  ManualClock clock{TimePoint{std::chrono::seconds(1800000000)}};
  std::unique_ptr<policy::PolicyService> svc;
  std::unique_ptr<Router> router;
};

TEST_F(RouterTest, HealthNeedsNoTokenButTheApiDoes) {
  EXPECT_EQ(call(http::verb::get, "/healthz", nullptr, "").result(), http::status::ok);
  EXPECT_EQ(call(http::verb::get, "/api/v1/policies", nullptr, "").result(),
            http::status::unauthorized);
  EXPECT_EQ(call(http::verb::get, "/api/v1/policies", nullptr, "wrong").result(),
            http::status::unauthorized);
  EXPECT_EQ(call(http::verb::get, "/api/v1/policies").result(), http::status::ok);
}

TEST_F(RouterTest, ResourceRoutesAreTheCmdlets) {
  auto r = call(http::verb::post, "/api/v1/policies", {{"Identity", "Traders"}, {"Enabled", true}});
  ASSERT_EQ(r.result(), http::status::created) << r.body();
  EXPECT_EQ(body(r)["objects"][0]["Identity"], "Tag:Traders");
  EXPECT_EQ(call(http::verb::post, "/api/v1/policies", {{"Identity", "Traders"}}).result(),
            http::status::conflict);
  r = call(http::verb::patch, "/api/v1/policies/Traders", {{"Description", "desk"}});
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  r = call(http::verb::get, "/api/v1/policies/Tag%3ATraders");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  EXPECT_EQ(body(r)["objects"][0]["Description"], "desk");
  EXPECT_EQ(call(http::verb::get, "/api/v1/policies/Nope").result(), http::status::not_found);
  r = call(http::verb::post, "/api/v1/policies", {{"Identity", "X"}, {"Enabled", "yes"}});
  EXPECT_EQ(r.result(), http::status::bad_request);
  EXPECT_EQ(body(r)["error"]["errorId"], "ParameterArgumentTransformationError");
  EXPECT_EQ(call(http::verb::put, "/api/v1/policies").result(), http::status::method_not_allowed);
  EXPECT_EQ(call(http::verb::get, "/api/v1/nothing").result(), http::status::not_found);
}

TEST_F(RouterTest, DecisionAndExplain) {
  auto script = R"(
New-VbUser alice@contoso.com -PhoneNumber +14255550100 -DataLocation EUR
New-CsOnlineApplicationInstance -UserPrincipalName rec@contoso.com -ApplicationId 0f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b
New-VbRecorderEndpoint -ApplicationId 0f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b -Uri sip:rec.contoso.com -Region EUR
New-CsTeamsComplianceRecordingPolicy Traders -Enabled $true -ComplianceRecordingApplications @(New-CsTeamsComplianceRecordingApplication -Parent Traders -Id rec@contoso.com)
)";
  auto r = call(http::verb::post, "/api/v1/script", {{"script", script}});
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  r = call(http::verb::post, "/api/v1/users/alice@contoso.com/policy", {{"PolicyName", "Traders"}});
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  r = call(http::verb::get, "/api/v1/decision?party=tel%3A%2B14255550100");
  ASSERT_EQ(r.result(), http::status::ok);
  const json d = body(r);
  EXPECT_TRUE(d["record"]);
  EXPECT_EQ(d["source"], "Direct");
  EXPECT_EQ(d["policy"]["invitations"][0]["recorder"]["endpoints"][0]["uri"],
            "sip:rec.contoso.com");
  EXPECT_FALSE(body(call(http::verb::get, "/api/v1/decision?party=sip:bob@x"))["knownUser"]);
  EXPECT_EQ(call(http::verb::get, "/api/v1/decision").result(), http::status::bad_request);
  r = call(http::verb::get, "/api/v1/explain?user=alice@contoso.com");
  ASSERT_EQ(r.result(), http::status::ok);
  EXPECT_TRUE(body(r)["recorded"]);
  EXPECT_EQ(call(http::verb::get, "/api/v1/explain?user=nobody").result(), http::status::not_found);
}

TEST_F(RouterTest, FailedScriptChangesNothingAndIsAudited) {
  auto r = call(http::verb::post, "/api/v1/script",
                {{"script", "New-CsTeamsComplianceRecordingPolicy A\nNew-Bogus"}});
  EXPECT_EQ(r.result(), http::status::not_found);
  EXPECT_EQ(body(r)["error"]["errorId"], "CommandNotFoundException");
  EXPECT_EQ(svc->state().find_policy("A"), nullptr);
  ASSERT_EQ(
      call(http::verb::post, "/api/v1/cmdlets/New-VbGroup", {{"DisplayName", "Desk"}}).result(),
      http::status::created);
  r = call(http::verb::get, "/api/v1/audit?Last=1");
  ASSERT_EQ(r.result(), http::status::ok);
  EXPECT_EQ(body(r)["objects"][0]["Actor"], "api:tester");
  EXPECT_EQ(call(http::verb::post, "/api/v1/script", json("not an object")).result(),
            http::status::bad_request);
  Request bad{http::verb::post, "/api/v1/policies", 11};
  bad.set(http::field::authorization, "Bearer secret-token");
  bad.body() = "{not json";
  bad.prepare_payload();
  EXPECT_EQ(router->handle(bad).result(), http::status::bad_request);
}

}  // namespace
}  // namespace verbatim::adminapi
