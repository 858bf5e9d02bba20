#include "common/call_control.h"

#include <gtest/gtest.h>

#include "common/test_dir.h"

namespace verbatim {
namespace {

ControlRequest req(const std::string& call, const std::string& action) {
  ControlRequest r;
  r.call_id = call;
  r.action = action;
  return r;
}

TEST(CallControl, ARequestIsTakenOnceAnsweredAndSeenByAnotherConnection) {
  TestDir dir("call_control");
  const std::string path = (dir.path() / "call-control.db").string();
  auto portal = CallControl::open(path);
  auto gateway = CallControl::open(path);
  ASSERT_TRUE(portal && gateway);
  EXPECT_TRUE(gateway.value()->changed());  // the first look
  EXPECT_FALSE(gateway.value()->changed());
  EXPECT_FALSE(portal.value()->request(req("c1", "explode")));
  ControlRequest pause = req("c1", "pause");
  pause.requested_by = "olivia";
  pause.reason = "card payment";
  auto id = portal.value()->request(pause);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_TRUE(gateway.value()->changed());  // the portal's write, seen without reading rows
  auto pending = gateway.value()->pending();
  ASSERT_TRUE(pending);
  ASSERT_EQ(pending.value().size(), 1u);
  EXPECT_EQ(pending.value()[0].action, "pause");
  EXPECT_EQ(pending.value()[0].reason, "card payment");
  EXPECT_FALSE(pending.value()[0].requested_at.empty());
  // Taken once: a second gateway finds it gone, the asker can no longer give up on it.
  EXPECT_TRUE(gateway.value()->take(id.value()).value());
  EXPECT_FALSE(gateway.value()->take(id.value()).value());
  EXPECT_FALSE(portal.value()->give_up(id.value(), "no gateway").value());
  ASSERT_TRUE(gateway.value()->answer(id.value(), true, "paused 2 recorder sessions"));
  auto got = portal.value()->get(id.value());
  ASSERT_TRUE(got && got.value());
  EXPECT_EQ(got.value()->state, "done");
  EXPECT_EQ(got.value()->result, "paused 2 recorder sessions");
  EXPECT_FALSE(got.value()->answered_at.empty());
  EXPECT_TRUE(gateway.value()->pending().value().empty());
}

TEST(CallControl, ARequestGivenUpIsNeverTaken) {
  TestDir dir("call_control");
  auto c = CallControl::open((dir.path() / "cc.db").string());
  ASSERT_TRUE(c);
  auto id = c.value()->request(req("c2", "start"));
  ASSERT_TRUE(id);
  EXPECT_TRUE(c.value()->give_up(id.value(), "no gateway has this call").value());
  EXPECT_FALSE(c.value()->take(id.value()).value());
  EXPECT_EQ(c.value()->get(id.value()).value()->state, "refused");
  EXPECT_FALSE(c.value()->get(id.value() + 1).value());
}

}  // namespace
}  // namespace verbatim
