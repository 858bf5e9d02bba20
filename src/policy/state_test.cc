#include "policy/state.h"

#include <gtest/gtest.h>

namespace verbatim::policy {
namespace {

User make_user(const std::string& id, const std::string& upn, const std::string& phone = "") {
  User u;
  u.object_id = id;
  u.user_principal_name = upn;
  u.sip_address = "sip:" + upn;
  u.display_name = "User " + id;
  u.phone_number = phone;
  return u;
}

TEST(PolicyState, StartsWithGlobalPolicy) {
  PolicyState s;
  ASSERT_NE(s.find_policy("Global"), nullptr);
  EXPECT_FALSE(s.find_policy("Global")->enabled);
  EXPECT_EQ(s.find_policy("global"), s.find_policy("Global"));
}

TEST(PolicyState, UserIndexesFollowChanges) {
  PolicyState s;
  s.put_user(make_user("u1", "Alice@Contoso.com", "+14255550100"));
  EXPECT_NE(s.user_by_address("alice@contoso.com"), nullptr);
  EXPECT_NE(s.user_by_address("sip:ALICE@contoso.com;transport=tcp"), nullptr);
  EXPECT_NE(s.user_by_address("tel:+1-425-555-0100"), nullptr);
  EXPECT_NE(s.user_by_address("u1"), nullptr);
  User changed = *s.user_by_id("u1");
  changed.user_principal_name = "alice2@contoso.com";
  changed.sip_address = "sip:alice2@contoso.com";
  changed.phone_number.clear();
  s.put_user(changed);
  EXPECT_EQ(s.user_by_address("alice@contoso.com"), nullptr);
  EXPECT_EQ(s.user_by_address("+14255550100"), nullptr);
  EXPECT_NE(s.user_by_address("alice2@contoso.com"), nullptr);
  EXPECT_EQ(s.users_by_display_name("user u1").size(), 1u);
}

TEST(PolicyState, GroupNameIndexFollowsRenamesRemovalsAndRollback) {
  PolicyState s;
  s.put_group(Group{"g1", "FX Desk", ""});
  EXPECT_EQ(s.groups_by_display_name("fx desk").size(), 1u);
  const size_t mark = s.journal().size();
  s.put_group(Group{"g1", "Rates Desk", ""});
  EXPECT_TRUE(s.groups_by_display_name("FX Desk").empty());
  EXPECT_EQ(s.groups_by_display_name("RATES DESK").front()->object_id, "g1");
  s.rollback_to(mark);
  EXPECT_EQ(s.groups_by_display_name("FX Desk").size(), 1u);
  EXPECT_TRUE(s.groups_by_display_name("Rates Desk").empty());
  s.erase_group("g1");
  EXPECT_TRUE(s.groups_by_display_name("FX Desk").empty());
}

TEST(PolicyState, RollbackUndoesEverythingAfterTheMark) {
  PolicyState s;
  s.put_user(make_user("u1", "a@x.com"));
  s.put_group(Group{"g1", "Traders", ""});
  const size_t mark = s.journal().size();
  s.add_membership("g1", "u1");
  Policy p;
  p.name = "P";
  s.put_policy(p);
  s.erase_user("u1");  // also drops the membership
  EXPECT_EQ(s.user_by_id("u1"), nullptr);
  EXPECT_TRUE(s.members_of("g1").empty());
  s.rollback_to(mark);
  ASSERT_NE(s.user_by_id("u1"), nullptr);
  EXPECT_TRUE(s.members_of("g1").empty());  // added after the mark
  EXPECT_EQ(s.find_policy("P"), nullptr);
  EXPECT_NE(s.user_by_address("a@x.com"), nullptr);
  EXPECT_EQ(s.journal().size(), mark);
}

TEST(PolicyState, NoOpWritesAreNotJournaled) {
  PolicyState s;
  s.put_user(make_user("u1", "a@x.com"));
  const size_t n = s.journal().size();
  s.put_user(*s.user_by_id("u1"));
  EXPECT_EQ(s.journal().size(), n);
}

TEST(PolicyState, GroupAssignmentsAreRenumberedAndOnlyChangesJournaled) {
  PolicyState s;
  std::vector<GroupAssignment> list;
  for (const char* g : {"g1", "g2", "g3"}) list.push_back(GroupAssignment{g, "P", 0, "t", "me"});
  s.set_group_assignments(list);
  EXPECT_EQ(s.journal().size(), 3u);
  auto ordered = s.ordered_group_assignments();
  EXPECT_EQ(ordered[2]->group_id, "g3");
  EXPECT_EQ(ordered[2]->rank, 3);
  s.take_journal();
  list.erase(list.begin());  // g2, g3 move up; g1 goes
  s.set_group_assignments(list);
  EXPECT_EQ(s.journal().size(), 3u);
  EXPECT_EQ(s.group_assignments().at("g2").rank, 1);
  EXPECT_EQ(s.group_assignments().count("g1"), 0u);
}

TEST(PolicyState, KindNamesRoundTrip) {
  for (Kind k : {Kind::kTenant, Kind::kUser, Kind::kGroup, Kind::kMembership, Kind::kAppInstance,
                 Kind::kEndpoint, Kind::kPolicy, Kind::kGroupAssignment, Kind::kBannerText,
                 Kind::kSipCredential, Kind::kCallQueue, Kind::kCallingSettings}) {
    EXPECT_EQ(kind_from_name(kind_name(k)), k);
  }
  EXPECT_FALSE(kind_from_name("nonsense").has_value());
}

TEST(PolicyState, CallQueuesByIdentityNameAndResourceAccount) {
  PolicyState s;
  CallQueue q;
  q.identity = "6F0B3C52-1D2E-4A5B-9C8D-7E6F5A4B3C2D";
  q.name = "Sales";
  q.resource_accounts = {"ra-1"};
  s.put_call_queue(q);
  ASSERT_NE(s.call_queue("sales"), nullptr);
  EXPECT_EQ(s.call_queue("6f0b3c52-1d2e-4a5b-9c8d-7e6f5a4b3c2d")->name, "Sales");
  EXPECT_EQ(s.queue_of_instance("RA-1"), s.call_queue("Sales"));
  EXPECT_EQ(s.queue_of_instance("ra-2"), nullptr);
  const auto stored = s.journal().back().after;
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->get<CallQueue>().resource_accounts, q.resource_accounts);
  s.rollback_to(0);
  EXPECT_EQ(s.call_queue("Sales"), nullptr);
}

TEST(Model, AddressNormalisation) {
  std::string p;
  EXPECT_TRUE(normalize_phone("tel:+1 (425) 555-0100;phone-context=x", p));
  EXPECT_EQ(p, "+14255550100");
  EXPECT_FALSE(normalize_phone("alice", p));
  EXPECT_TRUE(is_e164("+14255550100"));
  EXPECT_FALSE(is_e164("14255550100"));
  EXPECT_FALSE(is_e164("+0123"));
  EXPECT_EQ(address_key("\"Alice\" <sip:Alice@Contoso.COM;transport=tls>"), "alice@contoso.com");
  EXPECT_EQ(policy_name_from_identity("Tag:Traders"), "Traders");
}

}  // namespace
}  // namespace verbatim::policy
