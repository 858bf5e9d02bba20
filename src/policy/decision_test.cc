#include "policy/decision.h"

#include <random>

#include <gtest/gtest.h>

namespace verbatim::policy {
namespace {

// A tenant with three enabled policies A, B, C (each with a recorder), a disabled policy D,
// two groups and one user who is a member of both.
class DecisionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ApplicationInstance inst{"inst1", "rec@contoso.com", "app-1", "Recorder", ""};
    s.put_instance(inst);
    s.put_endpoint(RecorderEndpoint{"e1", "app-1", "sip:rec-us@10.0.0.1", "US", "", true});
    s.put_endpoint(RecorderEndpoint{"e2", "app-1", "sip:rec-eu@10.0.0.2", "EUR", "", true});
    for (const char* name : {"A", "B", "C", "D"}) {
      Policy p;
      p.name = name;
      p.enabled = std::string(name) != "D";
      RecordingApplication app;
      app.id = "inst1";
      app.parent = name;
      p.applications.push_back(app);
      s.put_policy(p);
    }
    s.put_group(Group{"g1", "G1", ""});
    s.put_group(Group{"g2", "G2", ""});
    User u;
    u.object_id = "u1";
    u.user_principal_name = "alice@contoso.com";
    u.sip_address = "sip:alice@contoso.com";
    u.phone_number = "+14255550100";
    u.data_location = "EUR";
    s.put_user(u);
    s.add_membership("g1", "u1");
    s.add_membership("g2", "u1");
  }
  PolicyState s;
};

TEST_F(DecisionTest, PrecedenceMatrixMatchesTheRulesAndTheReference) {
  // direct in {none, A}; g1 assignment in {none, B rank r}; g2 in {none, C rank r'};
  // tenant grant in {none, D}. 2 x 3 x 3 x 2 combinations.
  int cases = 0;
  for (int direct = 0; direct < 2; ++direct) {
    for (int g1 = 0; g1 < 3; ++g1) {
      for (int g2 = 0; g2 < 3; ++g2) {
        for (int tenant = 0; tenant < 2; ++tenant) {
          User u = *s.user_by_id("u1");
          u.compliance_recording_policy = direct ? "A" : "";
          s.put_user(u);
          // g1 at rank 1 when g1 == 1, rank 2 when g1 == 2 (g2 takes the other slot).
          std::vector<GroupAssignment> order;
          if (g1 == 1) order.push_back({"g1", "B", 0, "", ""});
          if (g2) order.push_back({"g2", "C", 0, "", ""});
          if (g1 == 2) order.push_back({"g1", "B", 0, "", ""});
          s.set_group_assignments(order);
          Tenant t = s.tenant();
          t.global_policy = tenant ? "D" : "Global";
          s.put_tenant(t);

          DecisionEngine engine;
          engine.rebuild(s);
          const Decision d = engine.decide("sip:alice@contoso.com");
          ASSERT_TRUE(d.known());
          std::string expected;
          Source source;
          if (direct) {
            expected = "A";
            source = Source::kDirect;
          } else if (g1 == 1 || (g1 == 2 && !g2)) {
            expected = "B";
            source = Source::kGroup;
          } else if (g2) {
            expected = "C";
            source = Source::kGroup;
          } else if (tenant) {
            expected = "D";
            source = Source::kTenantGlobal;
          } else {
            expected = "Global";
            source = Source::kGlobal;
          }
          SCOPED_TRACE("direct=" + std::to_string(direct) + " g1=" + std::to_string(g1) +
                       " g2=" + std::to_string(g2) + " tenant=" + std::to_string(tenant));
          EXPECT_EQ(d.policy->name, expected);
          EXPECT_EQ(d.source, source);
          // The reference resolution used by `policy explain` agrees.
          const auto ref = candidate_assignments(s, *s.user_by_id("u1"));
          EXPECT_EQ(ref.front().policy_name, expected);
          EXPECT_EQ(ref.front().source, source);
          EXPECT_EQ(d.record(), expected != "D" && expected != "Global");
          ++cases;
        }
      }
    }
  }
  EXPECT_EQ(cases, 36);
}

TEST_F(DecisionTest, PartyForms) {
  User u = *s.user_by_id("u1");
  u.compliance_recording_policy = "A";
  s.put_user(u);
  DecisionEngine engine;
  engine.rebuild(s);
  for (const char* party :
       {"sip:alice@contoso.com", "sips:ALICE@Contoso.com;transport=tls",
        "\"Alice\" <sip:alice@contoso.com>;tag=abc", "alice@contoso.com", "u1",
        "tel:+1-425-555-0100", "+14255550100", "sip:+14255550100@gw.example;user=phone",
        "  sip:alice@contoso.com  "}) {
    SCOPED_TRACE(party);
    EXPECT_TRUE(engine.decide(party).record());
  }
  for (const char* party : {"sip:bob@contoso.com", "", "tel:+1425555", "+1abc", "<", ";;;"}) {
    SCOPED_TRACE(party);
    EXPECT_FALSE(engine.decide(party).known());
  }
  EXPECT_FALSE(engine.decide(std::string(300, 'a') + "@contoso.com").known());
}

TEST_F(DecisionTest, AddressesLongerThanTheInlineKeyWork) {
  const std::string upn = std::string(60, 'x') + "@a-very-long-subdomain.contoso.com";
  User u;
  u.object_id = "u-long";
  u.user_principal_name = upn;
  u.sip_address = "sip:" + upn;
  u.compliance_recording_policy = "A";
  s.put_user(u);
  DecisionEngine engine;
  engine.rebuild(s);
  EXPECT_TRUE(engine.decide("sip:" + upn).record());
  u.user_principal_name = "short@contoso.com";
  u.sip_address = "sip:short@contoso.com";
  s.put_user(u);
  engine.apply(s, s.take_journal());
  EXPECT_FALSE(engine.decide("sip:" + upn).known());
  EXPECT_TRUE(engine.decide("short@contoso.com").record());
}

TEST_F(DecisionTest, EndpointsPreferTheUsersRegion) {
  DecisionEngine engine;
  User u = *s.user_by_id("u1");
  u.compliance_recording_policy = "A";
  s.put_user(u);
  engine.rebuild(s);
  const Decision d = engine.decide("alice@contoso.com");
  ASSERT_TRUE(d.record());
  const auto eps = endpoints_for_region(d.policy->invitations[0].recorder, d.user->data_location);
  ASSERT_EQ(eps.size(), 2u);
  EXPECT_EQ(eps[0].region, "EUR");
}

TEST_F(DecisionTest, MisconfiguredEnabledPolicyFailsClosed) {
  Policy p = *s.find_policy("A");
  p.applications[0].id = "no-such-instance";
  s.put_policy(p);
  const CompiledPolicy c = compile_policy(s, p);
  EXPECT_TRUE(c.records());  // the gateway must try, and its Required* flags then decide
  ASSERT_EQ(c.invitations.size(), 1u);
  EXPECT_TRUE(c.invitations[0].recorder.endpoints.empty());
  EXPECT_FALSE(c.problems.empty());
}

// Random changes applied incrementally give the same answers as a rebuild from scratch.
TEST_F(DecisionTest, IncrementalApplyEqualsRebuild) {
  std::mt19937 rng(42);
  DecisionEngine incremental;
  incremental.rebuild(s);
  s.take_journal();
  std::vector<std::string> users;
  for (int step = 0; step < 400; ++step) {
    const int op = static_cast<int>(rng() % 7);
    const std::string uid = "user" + std::to_string(rng() % 20);
    const char* policies[] = {"A", "B", "C", "D", ""};
    if (op == 0) {
      User u;
      u.object_id = uid;
      u.user_principal_name = uid + "@contoso.com";
      u.sip_address = "sip:" + u.user_principal_name;
      u.compliance_recording_policy = policies[rng() % 5];
      s.put_user(u);
    } else if (op == 1 && s.user_by_id(uid)) {
      s.erase_user(uid);
    } else if (op == 2 && s.user_by_id(uid)) {
      s.add_membership(rng() % 2 ? "g1" : "g2", uid);
    } else if (op == 3 && s.user_by_id(uid)) {
      s.remove_membership(rng() % 2 ? "g1" : "g2", uid);
    } else if (op == 4) {
      std::vector<GroupAssignment> order;
      if (rng() % 2) order.push_back({"g1", policies[rng() % 4], 0, "", ""});
      if (rng() % 2) order.push_back({"g2", policies[rng() % 4], 0, "", ""});
      if (rng() % 2) std::reverse(order.begin(), order.end());
      s.set_group_assignments(order);
    } else if (op == 5) {
      Policy p = *s.find_policy(policies[rng() % 4]);
      p.enabled = !p.enabled;
      s.put_policy(p);
    } else if (op == 6) {
      Tenant t = s.tenant();
      t.global_policy = rng() % 2 ? "C" : "Global";
      s.put_tenant(t);
    }
    incremental.apply(s, s.take_journal());
    DecisionEngine fresh;
    fresh.rebuild(s);
    for (int i = 0; i < 20; ++i) {
      const std::string party = "user" + std::to_string(i) + "@contoso.com";
      const Decision a = incremental.decide(party);
      const Decision b = fresh.decide(party);
      ASSERT_EQ(a.known(), b.known()) << party << " step " << step;
      if (!a.known()) continue;
      ASSERT_EQ(a.policy->name, b.policy->name) << party << " step " << step;
      ASSERT_EQ(a.source, b.source);
      ASSERT_EQ(a.record(), b.record());
    }
  }
  EXPECT_EQ(incremental.user_count(), s.users().size());
}

}  // namespace
}  // namespace verbatim::policy
