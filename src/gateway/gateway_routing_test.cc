// The gateway's call routing in virtual time: forwarding, transfer and call queues, on the fakes of
// gateway_calls_test.h.
#include "gateway/gateway_calls_test.h"

namespace verbatim::gateway::calls_test {
namespace {

// --- forwarding ------------------------------------------------------------------------------

void set_forwarding(policy::PolicyService& svc, const policy::CallingSettings& cs) {
  std::lock_guard lock(svc.mutex());
  svc.state().put_calling_settings(cs);
  ASSERT_TRUE(svc.commit("test"));
}

TEST_F(GatewayCalls, UnansweredForwardingMovesTheCallAfterTheDelay) {
  start();
  policy::CallingSettings cs;
  cs.user_id = "u-carol";
  cs.unanswered_enabled = true;
  cs.unanswered_target_type = "SingleTarget";
  cs.unanswered_target = "sip:dave@contoso.com";
  cs.unanswered_delay = 10;
  set_forwarding(svc, cs);  // a change the running gateway applies to the next call
  call("sip:carol@contoso.com");
  const uint64_t carol = ua.invites_to("sip:carol@")[0];
  advance(milliseconds(9999));
  EXPECT_TRUE(ua.invites_to("sip:dave@").empty());
  advance(milliseconds(2));
  EXPECT_NE(ua.find("hangup", carol), nullptr) << "Carol's phone still rings";
  auto dave = ua.invites_to("sip:dave@");
  ASSERT_EQ(dave.size(), 1u);
  EXPECT_NE(ua.placed.at(dave[0]).headers.end(),
            std::find_if(ua.placed.at(dave[0]).headers.begin(), ua.placed.at(dave[0]).headers.end(),
                         [](const auto& h) {
                           return iequals(h.first, "Diversion") &&
                                  h.second.find("no-answer") != std::string::npos;
                         }));
}

TEST_F(GatewayCalls, ImmediateForwardingToARecordedUserRecordsThemFirst) {
  start();
  policy::CallingSettings cs;
  cs.user_id = "u-carol";
  cs.forwarding_enabled = true;
  cs.forwarding_type = "Immediate";
  cs.forwarding_target = "sip:bob@contoso.com";
  set_forwarding(svc, cs);
  call("sip:carol@contoso.com");
  EXPECT_TRUE(ua.invites_to("sip:carol@").empty()) << "Carol's phone rang";
  EXPECT_TRUE(ua.invites_to("sip:bob@").empty()) << "Bob rang before his recorder was in";
  recorders_answer();
  EXPECT_EQ(ua.invites_to("sip:bob@").size(), 1u);
}

// --- transfer --------------------------------------------------------------------------------

TEST_F(GatewayCalls, BlindTransferGivesTheTransferorsSideToTheTarget) {
  start();
  const uint64_t caller = call("sip:carol@contoso.com");
  const uint64_t carol = ua.invites_to("sip:carol@")[0];
  answer(carol);
  ASSERT_NE(ua.find("accept", caller), nullptr);
  // Carol transfers the caller to Bob, who is recorded: his recorder first, then his phone.
  EXPECT_TRUE(ua.handlers.on_refer(carol, request("REFER", "Refer-To: <sip:bob@contoso.com>\r\n")));
  advance(milliseconds(0));
  ASSERT_EQ(ua.invites_to("sip:srs@").size(), 1u);
  EXPECT_TRUE(ua.invites_to("sip:bob@").empty());
  recorders_answer();
  auto bob = ua.invites_to("sip:bob@");
  ASSERT_EQ(bob.size(), 1u);
  answer(bob[0]);
  const Sent* notify = nullptr;
  for (const auto& s : ua.sent) {
    if (s.what == "notify" && s.session == carol && s.status == 200) notify = &s;
  }
  EXPECT_NE(notify, nullptr) << "Carol was not told the transfer succeeded";
  EXPECT_NE(ua.find("hangup", carol), nullptr);
  // The media stays anchored at the gateway: the caller keeps its ports, nothing to re-offer.
  EXPECT_EQ(ua.find("reinvite", caller), nullptr);
  EXPECT_EQ(ua.find("hangup", caller), nullptr);
  EXPECT_EQ(gw->calls(), 1u);
}

TEST_F(GatewayCalls, ABogusReplacesIsDeclinedAndNothingChanges) {
  start();
  const uint64_t caller = call("sip:carol@contoso.com");
  const uint64_t carol = ua.invites_to("sip:carol@")[0];
  answer(carol);
  EXPECT_FALSE(ua.handlers.on_refer(
      carol,
      request("REFER",
              "Refer-To: <sip:bob@contoso.com?Replaces=nope%3Bto-tag%3Da%3Bfrom-tag%3Db>\r\n")));
  advance(seconds(1));
  EXPECT_TRUE(ua.invites_to("sip:bob@").empty());
  EXPECT_EQ(ua.find("hangup", caller), nullptr);
  EXPECT_EQ(ua.find("hangup", carol), nullptr);
}

TEST_F(GatewayCalls, TransferToATargetWhoseRecorderFailsKeepsTheCall) {
  start();
  const uint64_t caller = call("sip:carol@contoso.com");
  const uint64_t carol = ua.invites_to("sip:carol@")[0];
  answer(carol);
  ASSERT_TRUE(ua.handlers.on_refer(carol, request("REFER", "Refer-To: <sip:bob@contoso.com>\r\n")));
  advance(seconds(6));
  EXPECT_TRUE(ua.invites_to("sip:bob@").empty());
  bool failed = false;
  for (const auto& s : ua.sent)
    failed |= s.what == "notify" && s.session == carol && s.status == 480;
  EXPECT_TRUE(failed) << "Carol was not told the transfer failed";
  EXPECT_EQ(ua.find("hangup", caller), nullptr);
}

// --- queues ----------------------------------------------------------------------------------

class QueueCalls : public GatewayCalls {
 protected:
  void with_queue(const std::string& routing, bool conference, int alert, int timeout) {
    start();
    std::lock_guard lock(svc.mutex());
    auto& s = svc.state();
    s.put_instance(
        policy::ApplicationInstance{"ra-1", "sales@contoso.com", "", "Sales", "+14255550900"});
    policy::CallQueue q;
    q.identity = "q-1";
    q.name = "Sales";
    q.users = {"u-carol", "u-dave", "u-bob"};
    q.routing_method = routing;
    q.conference_mode = conference;
    q.agent_alert_time = alert;
    q.timeout_threshold = timeout;
    q.resource_accounts = {"ra-1"};
    s.put_call_queue(q);
    ASSERT_TRUE(svc.commit("test"));
  }
};

TEST_F(QueueCalls, SerialRingsOneAgentAtATimeAndPassesOverADecline) {
  with_queue("Serial", false, 15, 120);
  const uint64_t caller = call("sip:sales@contoso.com");
  auto carol = ua.invites_to("sip:carol@");
  ASSERT_EQ(carol.size(), 1u);
  EXPECT_TRUE(ua.invites_to("sip:dave@").empty());
  ua.handlers.on_failed(carol[0], 486, nullptr);
  advance(milliseconds(0));
  auto dave = ua.invites_to("sip:dave@");
  ASSERT_EQ(dave.size(), 1u);
  // Dave does not answer within the alert time: Bob (recorded) is next, his recorder first.
  advance(seconds(15));
  EXPECT_NE(ua.find("hangup", dave[0]), nullptr) << "Dave's phone still rings";
  auto bob = ua.invites_to("sip:bob@");
  ASSERT_EQ(bob.size(), 1u);
  answer(bob[0]);
  EXPECT_EQ(ua.find("accept", caller), nullptr) << "connected before Bob's recorder was in";
  recorders_answer();
  EXPECT_NE(ua.find("accept", caller), nullptr);
}

TEST_F(QueueCalls, AttendantRingsEveryAgentAndCancelsTheOthers) {
  with_queue("Attendant", false, 30, 120);
  call("sip:sales@contoso.com");
  auto carol = ua.invites_to("sip:carol@");
  auto dave = ua.invites_to("sip:dave@");
  ASSERT_EQ(carol.size(), 1u);
  ASSERT_EQ(dave.size(), 1u);
  answer(dave[0]);
  EXPECT_NE(ua.find("hangup", carol[0]), nullptr) << "Carol's phone still rings";
}

TEST_F(QueueCalls, NobodyAnsweringEndsAtTheTimeoutWithTheQueueReason) {
  with_queue("Attendant", false, 15, 20);
  const uint64_t caller = call("sip:sales@contoso.com");
  advance(seconds(19));
  EXPECT_EQ(ua.find("reject", caller), nullptr);
  advance(seconds(2));
  const Sent* r = ua.find("reject", caller);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->status, 480);
  EXPECT_NE(r->header("Reason").find("No agent of the call queue answered"), std::string::npos);
}

TEST_F(QueueCalls, AnAgentWhoseRequiredRecorderFailsIsLetGoAndTheNextOneRings) {
  with_queue("Serial", true, 15, 120);
  const uint64_t caller = call("sip:sales@contoso.com");
  EXPECT_NE(ua.find("accept", caller), nullptr) << "conference mode answers the caller at once";
  // Carol and Dave decline; Bob answers but his recorder never does.
  ua.handlers.on_failed(ua.invites_to("sip:carol@")[0], 486, nullptr);
  advance(milliseconds(0));
  ua.handlers.on_failed(ua.invites_to("sip:dave@")[0], 486, nullptr);
  advance(milliseconds(0));
  const uint64_t bob = ua.invites_to("sip:bob@")[0];
  answer(bob);
  advance(seconds(6));
  const Sent* bye = ua.find("hangup", bob);
  ASSERT_NE(bye, nullptr);
  EXPECT_NE(bye->header("Reason").find("cause=480"), std::string::npos);
  EXPECT_EQ(ua.find("hangup", caller), nullptr) << "the caller was dropped";
  // The next round offers the call again (after the pause between rounds).
  advance(seconds(3));
  EXPECT_EQ(ua.invites_to("sip:carol@").size(), 2u);
}

// Business data rides with the call to its recorders: the configured headers of the caller's
// INVITE, and nothing else of it.
TEST_F(GatewayCalls, TheCallersBusinessHeadersGoToItsRecorders) {
  start(nullptr, [](GatewayOptions& o) { o.business_headers = {"User-to-User", "X-Trade-Id"}; });
  call("sip:bob@contoso.com", "call-1",
       "User-to-User: 04fa3c;encoding=hex\r\nx-trade-id: T-77\r\nX-Other: secret\r\n");
  const auto srs = ua.invites_to("sip:srs@");
  ASSERT_EQ(srs.size(), 1u);
  const auto& headers = ua.placed.at(srs[0]).headers;
  auto has = [&](const std::string& name, const std::string& value) {
    return std::find(headers.begin(), headers.end(), std::make_pair(name, value)) != headers.end();
  };
  EXPECT_TRUE(has("User-to-User", "04fa3c;encoding=hex"));
  EXPECT_TRUE(has("X-Trade-Id", "T-77"));  // by the configured name, whatever the caller's case
  for (const auto& [name, value] : headers) EXPECT_NE(name, "X-Other");
}

}  // namespace
}  // namespace verbatim::gateway::calls_test
