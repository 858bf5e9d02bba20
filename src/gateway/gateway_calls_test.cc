// The gateway's call logic in virtual time: a Gateway on fakes of its edges (GatewaySeams) — a
// signalling fake that records what the gateway asks and hands it the events a test chooses,
// ManualTimers and a ManualClock for time, a media anchor that binds nothing — and the real
// policy service (no store) behind the production PolicyView. Each test follows one concern:
// enforcement (RequiredBeforeCallEstablishment, RequiredDuringCall), voicemail fallback,
// notices, forwarding, transfer and queues. No sleeps: timers fire when the test advances them.
// tests/e2e/test_gateway.py runs the same behaviour over real SIP with SIPp, baresip and a
// recorder.
#include "gateway/gateway_calls_test.h"

namespace verbatim::gateway::calls_test {
namespace {

// --- enforcement -----------------------------------------------------------------------------

TEST_F(GatewayCalls, RequiredBeforeEstablishmentHoldsTheCalleeUntilTheRecorderAnswers) {
  start();
  const uint64_t caller = call("sip:bob@contoso.com");
  ASSERT_EQ(ua.invites_to("sip:srs@").size(), 1u);
  EXPECT_TRUE(ua.invites_to("sip:bob@").empty()) << "Bob rang before his recorder was in";
  const auto& offer = ua.placed.at(ua.invites_to("sip:srs@")[0]);
  EXPECT_NE(offer.content_type.find("multipart/mixed"), std::string::npos);
  EXPECT_NE(offer.body.find("rs-metadata"), std::string::npos);
  advance(seconds(4));
  recorders_answer();
  auto bob = ua.invites_to("sip:bob@");
  ASSERT_EQ(bob.size(), 1u);
  EXPECT_NE(ua.placed.at(bob[0]).body.find("a=record:on"), std::string::npos);
  answer(bob[0]);
  const Sent* ok = ua.find("accept", caller);
  ASSERT_NE(ok, nullptr);
  EXPECT_NE(ok->body.find("a=record:on"), std::string::npos);
  EXPECT_EQ(gw->metrics().calls_connected, 1u);
}

TEST_F(GatewayCalls, NoRecorderWithinTheDeadlineIs480WithTheTeamsReason) {
  start();
  const uint64_t caller = call("sip:bob@contoso.com");
  advance(milliseconds(4999));
  EXPECT_EQ(ua.find("reject", caller), nullptr) << "refused before the deadline";
  advance(milliseconds(2));
  const Sent* r = ua.find("reject", caller);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->status, 480);
  EXPECT_NE(r->header("Reason").find("cause=480"), std::string::npos) << r->header("Reason");
  EXPECT_NE(r->header("Warning").find("recording required by your organisation"),
            std::string::npos);
  EXPECT_TRUE(ua.invites_to("sip:bob@").empty());
  EXPECT_EQ(gw->metrics().calls_refused_recording, 1u);
  advance(milliseconds(10));
  EXPECT_EQ(media.open_ports, 0) << "the call's ports were not given back";
  EXPECT_EQ(gw->calls(), 0u);
}

TEST_F(GatewayCalls, ARecorderThatRefusesFailsTheCallAtOnce) {
  start();
  const uint64_t caller = call("sip:bob@contoso.com");
  const uint64_t srs = ua.invites_to("sip:srs@")[0];
  ua.handlers.on_failed(srs, 503, nullptr);
  const Sent* r = ua.find("reject", caller);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->status, 480);
}

TEST_F(GatewayCalls, TheCalleesFailedRecordingSendsTheCallToVoicemail) {
  start(nullptr, [](GatewayOptions& o) { o.voicemail_uri = "sip:vm@192.0.2.60:5060"; });
  const uint64_t caller = call("sip:bob@contoso.com");
  advance(seconds(6));
  EXPECT_EQ(ua.find("reject", caller), nullptr);
  auto vm = ua.invites_to("sip:vm@");
  ASSERT_EQ(vm.size(), 1u);
  EXPECT_EQ(gw->metrics().calls_to_voicemail, 1u);
  answer(vm[0]);
  EXPECT_NE(ua.find("accept", caller), nullptr);
}

TEST_F(GatewayCalls, OptionalRecordingNeverHoldsTheCall) {
  start([](policy::Policy& p) {
    p.applications[0].required_before_call_establishment = false;
    p.applications[0].required_during_call = false;
  });
  call("sip:bob@contoso.com");
  EXPECT_EQ(ua.invites_to("sip:bob@").size(), 1u) << "Bob waited for an optional recorder";
  EXPECT_EQ(ua.invites_to("sip:srs@").size(), 1u);
}

TEST_F(GatewayCalls, LosingARequiredDuringRecorderWarnsThenEndsTheCall) {
  start();
  const uint64_t caller = call("sip:bob@contoso.com");
  recorders_answer();
  const uint64_t bob = ua.invites_to("sip:bob@")[0];
  answer(bob);
  ASSERT_NE(ua.find("accept", caller), nullptr);
  const size_t notices = media.played.size();
  const uint64_t srs = ua.invites_to("sip:srs@")[0];
  ua.handlers.on_ended(srs, "bye");
  // The warning plays to both parties first; nobody is hung up yet.
  EXPECT_EQ(media.played.size(), notices + 2);
  EXPECT_EQ(ua.find("hangup", caller), nullptr);
  EXPECT_EQ(gw->metrics().removal_warnings, 1u);
  advance(seconds(30));
  const Sent* bye = ua.find("hangup", caller);
  ASSERT_NE(bye, nullptr);
  EXPECT_NE(bye->header("Reason").find("cause=480"), std::string::npos);
  EXPECT_NE(ua.find("hangup", bob), nullptr);
  EXPECT_EQ(gw->metrics().calls_ended_recording, 1u);
}

TEST_F(GatewayCalls, WithoutWarnUserOnRemovalTheCallEndsAtOnce) {
  start([](policy::Policy& p) { p.warn_user_on_removal = false; });
  const uint64_t caller = call("sip:bob@contoso.com");
  recorders_answer();
  answer(ua.invites_to("sip:bob@")[0]);
  ua.handlers.on_ended(ua.invites_to("sip:srs@")[0], "bye");
  EXPECT_NE(ua.find("hangup", caller), nullptr);
}

// --- notices ---------------------------------------------------------------------------------

TEST_F(GatewayCalls, ThePstnCallerHearsTheNoticeOnceConnectedAndRecorded) {
  start();
  call("sip:bob@contoso.com");
  recorders_answer();
  EXPECT_TRUE(media.played.empty());
  answer(ua.invites_to("sip:bob@")[0]);
  // The caller is behind the trunk (no indicator): the notice plays to it first.
  ASSERT_FALSE(media.played.empty());
  EXPECT_EQ(media.played[0], Side::kA);
  EXPECT_EQ(gw->metrics().notices_played, media.played.size());
}

TEST_F(GatewayCalls, APolicyCanSwitchTheSpokenNoticeOff) {
  start([](policy::Policy& p) { p.disable_audio_notification_for_calls = true; });
  call("sip:bob@contoso.com");
  recorders_answer();
  answer(ua.invites_to("sip:bob@")[0]);
  EXPECT_TRUE(media.played.empty());
}

TEST_F(GatewayCalls, AnUnrecordedCallHasNoRecorderAndNoNotice) {
  start();
  const uint64_t caller = call("sip:carol@contoso.com");
  EXPECT_TRUE(ua.invites_to("sip:srs@").empty());
  answer(ua.invites_to("sip:carol@")[0]);
  const Sent* ok = ua.find("accept", caller);
  ASSERT_NE(ok, nullptr);
  EXPECT_EQ(ok->body.find("a=record:on"), std::string::npos);
  EXPECT_TRUE(media.played.empty());
}

// --- registrations -------------------------------------------------------------------------

TEST_F(GatewayCalls, ARegistrationLapsesAtItsExpiryInVirtualTime) {
  start();
  advance(seconds(3599));
  call("sip:carol@contoso.com", "call-1");
  EXPECT_EQ(ua.invites_to("sip:carol@").size(), 1u);
  advance(seconds(2));  // Carol's phone registered for 3600 s and did not refresh
  const uint64_t caller = call("sip:carol@contoso.com", "call-2");
  EXPECT_EQ(ua.invites_to("sip:carol@").size(), 1u) << "an expired registration was called";
  const Sent* r = ua.find("reject", caller);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->status, 480);
}

// --- the policy view -------------------------------------------------------------------------

// Logins are checked against hashes held in memory, which follow the commits (and, with a store,
// another process's changes through refresh(): tests/e2e covers that with the admin CLI).
TEST_F(GatewayCalls, TheViewsCredentialsFollowCommitsWithoutReadingAStore) {
  start();
  EXPECT_TRUE(view->ha1("bob", "contoso.com", sip::DigestAlgorithm::kSha256));
  EXPECT_FALSE(view->ha1("bob", "fabrikam.com", sip::DigestAlgorithm::kSha256));
  EXPECT_NE(view->ha1("carol", "contoso.com", sip::DigestAlgorithm::kSha256),
            view->ha1("bob", "contoso.com", sip::DigestAlgorithm::kSha256));
  {
    std::lock_guard lock(svc.mutex());
    svc.state().erase_sip_credential("u-bob");
    ASSERT_TRUE(svc.commit("test"));
  }
  EXPECT_FALSE(view->ha1("bob", "contoso.com", sip::DigestAlgorithm::kSha256));
  EXPECT_TRUE(view->user_domain("CONTOSO.com"));
  EXPECT_FALSE(view->user_domain("fabrikam.com"));
}

}  // namespace
}  // namespace verbatim::gateway::calls_test
