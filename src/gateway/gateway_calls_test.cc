// The gateway's call logic in virtual time: a Gateway on fakes of its edges (GatewaySeams) — a
// signalling fake that records what the gateway asks and hands it the events a test chooses,
// ManualTimers and a ManualClock for time, a media anchor that binds nothing — and the real
// policy service (no store) behind the production PolicyView. Each test follows one concern:
// enforcement (RequiredBeforeCallEstablishment, RequiredDuringCall), voicemail fallback,
// notices, forwarding, transfer and queues. No sleeps: timers fire when the test advances them.
// tests/e2e/test_gateway.py runs the same behaviour over real SIP with SIPp, baresip and a
// recorder.
#include "gateway/gateway_calls_test.h"

#include <ranges>

#include "gateway/sip_helpers.h"
#include "sip/cpim.h"

#include "common/call_control.h"
#include "common/test_dir.h"
#include "media/dtls_srtp.h"
#include "media/rtp.h"
#include "media/stun.h"
#include "media/video.h"

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

// A party that shows the indicator (the web client) is also shown the removal warning: an INFO
// with the text and when the call ends. One that does not only hears it.
TEST_F(GatewayCalls, ARecordAwarePartyIsShownTheRemovalWarning) {
  start();
  const uint64_t caller = call("sip:bob@contoso.com");
  recorders_answer();
  const uint64_t bob = ua.invites_to("sip:bob@")[0];
  answer(bob, "Supported: record-aware\r\n");
  ASSERT_NE(ua.find("accept", caller), nullptr);
  ua.handlers.on_ended(ua.invites_to("sip:srs@")[0], "bye");
  const Sent* shown = ua.find("info", bob);
  ASSERT_NE(shown, nullptr);
  const auto body = nlohmann::json::parse(shown->body);
  EXPECT_EQ(body["warning"], detail::kRecordingLostText);
  EXPECT_GT(body["endsInMs"].get<int64_t>(), 0);
  EXPECT_EQ(ua.find("info", caller), nullptr) << "the trunk's caller hears it only";
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

// A browser calls (WebRTC, RFC 8829). The phone is offered plain RTP in the browser's codecs,
// without its transport attributes; the browser's answer is ICE-lite with our certificate, DTLS
// passive (it offered actpass), rtcp-mux, its own a=mid and a BUNDLE group of the one stream;
// DTLS on its side expects the fingerprint it sent.
TEST_F(GatewayCalls, ABrowsersCallReachesAPhoneAsPlainRtpAndIsAnsweredInWebRtcTerms) {
  start();
  const std::string fingerprint = media::DtlsIdentity::generate().value()->fingerprint();
  const std::string offer =
      "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE a0\r\n"
      "a=msid-semantic: WMS s\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0 8\r\nc=IN IP4 0.0.0.0\r\n"
      "a=rtcp:9 IN IP4 0.0.0.0\r\na=candidate:1 1 udp 2122260223 192.0.2.20 50000 typ host\r\n"
      "a=ice-ufrag:brws\r\na=ice-pwd:0123456789abcdefghijkl\r\na=fingerprint:" +
      fingerprint +
      "\r\na=setup:actpass\r\na=mid:a0\r\na=sendrecv\r\na=rtcp-mux\r\n"
      "a=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=rtpmap:0 PCMU/8000\r\n"
      "a=rtpmap:8 PCMA/8000\r\na=ssrc:11 cname:x\r\n";
  const uint64_t caller = user_call("bob", "192.0.2.20", "sip:carol@contoso.com", "wb", "", offer);
  recorders_answer();  // Bob's policy records him, before the call is established
  ASSERT_EQ(ua.invites_to("sip:carol@").size(), 1u);
  const uint64_t carol = ua.invites_to("sip:carol@")[0];
  const std::string to_phone = ua.placed.at(carol).body;
  EXPECT_NE(to_phone.find(" RTP/AVP 111 0 8\r\n"), std::string::npos) << to_phone;
  for (const char* gone : {"fingerprint", "ice-", "candidate", "rtcp-fb", "ssrc", "mid:", "group",
                           "setup", "rtcp-mux", "msid"}) {
    EXPECT_EQ(to_phone.find(gone), std::string::npos) << gone << " in " << to_phone;
  }
  ASSERT_EQ(media.streams.size(), 1u);
  EXPECT_TRUE(media.streams[0]->dtls[0]) << "DTLS with the browser";
  EXPECT_FALSE(media.streams[0]->dtls[1]) << "not with the phone";
  answer(carol);
  const Sent* ok = ua.find("accept", caller);
  ASSERT_NE(ok, nullptr);
  const auto sdp = sip::parse_sdp(ok->body).value();
  ASSERT_EQ(sdp.media.size(), 1u);
  const auto& m = sdp.media[0];
  EXPECT_EQ(m.proto, "UDP/TLS/RTP/SAVPF");
  EXPECT_EQ(m.port, media.streams[0]->ports[0]);
  EXPECT_EQ(m.formats, (std::vector<std::string>{"0", "101"})) << "the phone's choice";
  EXPECT_EQ(m.attribute("mid"), "a0");
  EXPECT_EQ(m.attribute("setup"), "passive");
  EXPECT_EQ(m.attribute("ice-ufrag"), media.streams[0]->ice_ufrag[0]);
  EXPECT_EQ(m.attribute("ice-pwd")->size(), 24u);
  EXPECT_TRUE(m.has_attribute("rtcp-mux"));
  EXPECT_EQ(m.attribute("candidate"),
            "1 1 udp 2130706431 192.0.2.1 " + std::to_string(m.port) + " typ host");
  const std::string ours = m.attribute("fingerprint").value_or("");
  EXPECT_EQ(ours.substr(0, 8), "sha-256 ");
  EXPECT_NE(ours, fingerprint);
  EXPECT_NE(ok->body.find("a=ice-lite\r\n"), std::string::npos) << ok->body;
  EXPECT_NE(ok->body.find("a=group:BUNDLE a0\r\n"), std::string::npos) << ok->body;
}

// A caller with Opus and no G.711 calls a G.711 phone: the callee is offered PCMU and PCMA
// besides, takes PCMU, and the stream is transcoded both ways; the caller's answer names its own
// Opus. With a codec in common nothing is transcoded.
TEST_F(GatewayCalls, AnOpusOnlyCallerAndAG711PhoneAreTranscodedBothWays) {
  start();
  std::string offer = sdp_body("192.0.2.20", 30000);
  offer.replace(offer.find("RTP/AVP 0 101"), 13, "RTP/AVP 111 101");
  offer.replace(offer.find("a=rtpmap:0 PCMU/8000"), 20,
                "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1");
  const uint64_t caller = user_call("bob", "192.0.2.20", "sip:carol@contoso.com", "tc", "", offer);
  recorders_answer();
  ASSERT_EQ(ua.invites_to("sip:carol@").size(), 1u);
  const uint64_t carol = ua.invites_to("sip:carol@")[0];
  const std::string to_phone = ua.placed.at(carol).body;
  EXPECT_NE(to_phone.find(" RTP/AVP 111 101 0 8\r\n"), std::string::npos) << to_phone;
  EXPECT_NE(to_phone.find("a=rtpmap:0 PCMU/8000"), std::string::npos) << to_phone;
  // The recorder may get G.711 from the callee: it was offered it too.
  const std::string to_recorder = ua.placed.at(ua.invites_to("sip:srs@").at(0)).body;
  EXPECT_NE(to_recorder.find("a=rtpmap:0 PCMU/8000"), std::string::npos) << to_recorder;
  answer(carol);  // PCMU
  ASSERT_EQ(media.streams.size(), 1u);
  EXPECT_EQ(media.streams[0]->transcoding[0], "opus->PCMU/0");
  EXPECT_EQ(media.streams[0]->transcoding[1], "PCMU->opus/111");
  const Sent* ok = ua.find("accept", caller);
  ASSERT_NE(ok, nullptr);
  const auto m = sip::parse_sdp(ok->body).value().media.at(0);
  EXPECT_EQ(m.formats, (std::vector<std::string>{"111"})) << ok->body;
  EXPECT_EQ(m.rtpmap(111)->encoding, "opus");
  EXPECT_EQ(m.fmtp(111), "useinbandfec=1");
}

TEST_F(GatewayCalls, ACallerWithG711IsNeverTranscoded) {
  start();
  const uint64_t caller = user_call("bob", "192.0.2.20", "sip:carol@contoso.com", "tn");
  recorders_answer();
  const uint64_t carol = ua.invites_to("sip:carol@").at(0);
  EXPECT_NE(ua.placed.at(carol).body.find(" RTP/AVP 0 101\r\n"), std::string::npos);
  answer(carol);
  ASSERT_NE(ua.find("accept", caller), nullptr);
  EXPECT_EQ(media.streams.at(0)->transcoding[0], "");
  EXPECT_EQ(media.streams.at(0)->transcoding[1], "");
}

// A WebRTC offer without a=fingerprint cannot be keyed: refused (488), nothing relayed.
TEST_F(GatewayCalls, ABrowsersOfferWithoutAFingerprintIsRefused) {
  start();
  const std::string offer =
      "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n"
      "m=audio 50000 UDP/TLS/RTP/SAVPF 0\r\na=ice-ufrag:brws\r\n"
      "a=ice-pwd:0123456789abcdefghijkl\r\na=rtcp-mux\r\n";
  const uint64_t caller = user_call("bob", "192.0.2.20", "sip:carol@contoso.com", "wf", "", offer);
  const Sent* refused = ua.find("reject", caller);
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(refused->status, 488);
  EXPECT_TRUE(ua.invites_to("sip:carol@").empty());
}

// --- call control (control.cc) --------------------------------------------------------------

ControlRequest ask(const std::string& action, const std::string& party = "",
                   const std::string& policy = "") {
  ControlRequest r;
  r.call_id = "call-1";
  r.action = action;
  r.party = party;
  r.policy = policy;
  r.requested_by = "olivia";
  r.reason = "card payment";
  return r;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The last re-INVITE sent on `session` (null: none).
const Sent* last_reinvite(const FakeSignalling& ua, uint64_t session) {
  const Sent* out = nullptr;
  for (const auto& s : ua.sent) {
    if (s.what == "reinvite" && s.session == session) out = &s;
  }
  return out;
}

TEST_F(GatewayCalls, APauseStopsEveryCopyAndMakesTheRecordersStreamsInactiveUntilResumed) {
  TestDir dir("gateway_control");
  const std::string db = (dir.path() / "call-control.db").string();
  start(nullptr, [&](GatewayOptions& o) { o.control_db = db; });
  const uint64_t caller = call("sip:bob@contoso.com");
  recorders_answer();
  answer(ua.invites_to("sip:bob@")[0]);
  ASSERT_NE(ua.find("accept", caller), nullptr);
  const uint64_t srs = ua.invites_to("sip:srs@")[0];
  // Asked through the table, as the portal does: the gateway takes it within 200 ms.
  auto portal = CallControl::open(db);
  ASSERT_TRUE(portal);
  const int64_t id = portal.value()->request(ask("pause")).value();
  advance(milliseconds(250));
  auto answered = portal.value()->get(id).value();
  ASSERT_TRUE(answered);
  EXPECT_EQ(answered->state, "done") << answered->result;
  EXPECT_EQ(media.paused_taps, 2) << "both directions of the one stream";
  const Sent* pause = last_reinvite(ua, srs);
  ASSERT_NE(pause, nullptr);
  EXPECT_EQ(count(pause->body, "a=inactive"), 2u) << pause->body;
  EXPECT_EQ(count(pause->body, "a=sendonly"), 0u);
  EXPECT_NE(pause->body.find("o=verbatim 1 2 IN"), std::string::npos) << "the o= version";
  const auto status = gw->status()["activeCalls"];
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0]["paused"]["by"], "olivia");
  EXPECT_EQ(status[0]["paused"]["reason"], "card payment");
  EXPECT_EQ(status[0]["callee"]["user"], "bob@contoso.com");
  // Twice is refused, with who paused it.
  auto again = gw->control(ask("pause"));
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("already paused"), std::string::npos);
  ASSERT_TRUE(gw->control(ask("resume")));
  EXPECT_EQ(media.paused_taps, 0);
  const Sent* resume = last_reinvite(ua, srs);
  EXPECT_EQ(count(resume->body, "a=sendonly"), 2u) << resume->body;
  EXPECT_FALSE(gw->status()["activeCalls"][0].contains("paused"));
  EXPECT_FALSE(gw->control(ask("resume"))) << "not paused";
  EXPECT_EQ(ua.find("hangup", caller), nullptr) << "a pause is not a lost recorder";
}

TEST_F(GatewayCalls, AForgottenPauseResumesByItselfAtTheLimit) {
  start(nullptr, [](GatewayOptions& o) { o.max_pause = seconds(60); });
  call("sip:bob@contoso.com");
  recorders_answer();
  answer(ua.invites_to("sip:bob@")[0]);
  ASSERT_TRUE(gw->control(ask("pause")));
  advance(seconds(59));
  EXPECT_EQ(media.paused_taps, 2);
  advance(seconds(2));
  EXPECT_EQ(media.paused_taps, 0);
  EXPECT_FALSE(gw->status()["activeCalls"][0].contains("paused"));
}

TEST_F(GatewayCalls, ARecorderAnsweringDuringAPauseStartsPaused) {
  start([](policy::Policy& p) {
    p.applications[0].required_before_call_establishment = false;
    p.applications[0].required_during_call = false;
  });
  call("sip:bob@contoso.com");
  answer(ua.invites_to("sip:bob@")[0]);
  ASSERT_TRUE(gw->control(ask("pause"))) << "a recorder still being invited is a recording";
  EXPECT_EQ(media.paused_taps, 0);
  recorders_answer();
  EXPECT_EQ(media.paused_taps, 2);
  const Sent* pause = last_reinvite(ua, ua.invites_to("sip:srs@")[0]);
  ASSERT_NE(pause, nullptr);
  EXPECT_EQ(count(pause->body, "a=inactive"), 2u);
}

TEST_F(GatewayCalls, AnUnrecordedCallIsRecordedOnDemandAndStoppedWithoutTouchingTheCall) {
  start();
  const uint64_t caller = call("sip:carol@contoso.com");
  answer(ua.invites_to("sip:carol@")[0]);
  EXPECT_FALSE(gw->control(ask("pause"))) << "nothing to pause";
  auto none = gw->control(ask("start"));
  ASSERT_FALSE(none) << "Carol has no policy, and none was named";
  EXPECT_NE(none.error().message.find("no compliance recording policy"), std::string::npos);
  EXPECT_EQ(gw->control(ask("start", "", "Nobody")).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(gw->control(ask("start", "both")).error().code, ErrorCode::kInvalidArgument);
  auto started = gw->control(ask("start", "", "Traders"));
  ASSERT_TRUE(started) << started.error().message;
  EXPECT_NE(started.value().find("sip:carol@contoso.com recorded on demand"), std::string::npos);
  ASSERT_EQ(ua.invites_to("sip:srs@").size(), 1u);
  EXPECT_TRUE(media.played.empty());
  recorders_answer();
  EXPECT_FALSE(media.played.empty()) << "the parties are told, as for any recording";
  const auto recs = gw->status()["activeCalls"][0]["recordings"];
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["onDemandBy"], "olivia");
  EXPECT_FALSE(gw->control(ask("start", "callee", "Traders"))) << "already recorded";
  ASSERT_TRUE(gw->control(ask("stop")));
  EXPECT_NE(ua.find("hangup", ua.invites_to("sip:srs@")[0]), nullptr);
  EXPECT_EQ(ua.find("hangup", caller), nullptr);
  // Again, and this time the recorder is lost: a recording on demand never ends the call, even
  // under a policy whose applications are required.
  ASSERT_TRUE(gw->control(ask("start", "callee", "Traders")));
  recorders_answer();
  ua.handlers.on_ended(ua.invites_to("sip:srs@")[1], "bye");
  advance(seconds(30));
  EXPECT_EQ(ua.find("hangup", caller), nullptr);
}

TEST_F(GatewayCalls, ARecordingThePolicyRequiresCannotBeStoppedOnlyPaused) {
  start();
  call("sip:bob@contoso.com");
  recorders_answer();
  answer(ua.invites_to("sip:bob@")[0]);
  auto stop = gw->control(ask("stop"));
  ASSERT_FALSE(stop);
  EXPECT_NE(stop.error().message.find("cannot be stopped, only paused"), std::string::npos);
  EXPECT_EQ(ua.find("hangup", ua.invites_to("sip:srs@")[0]), nullptr);
  ControlRequest other = ask("pause");
  other.call_id = "no-such-call";
  EXPECT_EQ(gw->control(other).error().code, ErrorCode::kNotFound);
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

// DTMF by SIP INFO: an INFO from one party of a connected call goes to the other party, and is
// answered with that party's status; before the call is connected, or from a recorder, the UA
// answers it itself.
TEST_F(GatewayCalls, InfoFromOnePartyIsRelayedToTheOtherAndAnsweredWithItsStatus) {
  start();
  const uint64_t caller = call("sip:bob@contoso.com");
  const std::string dtmf = "Signal=5\r\nDuration=160\r\n";
  const auto info = parse(with_body(
      "INFO sip:gw@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK-i1\r\n"
      "From: <sip:+14255550111@trunk.example>;tag=t1\r\nTo: <sip:bob@contoso.com>;tag=g1\r\n"
      "Call-ID: call-1\r\nCSeq: 2 INFO\r\nMax-Forwards: 70\r\n",
      dtmf, "application/dtmf-relay"));
  EXPECT_FALSE(ua.handlers.on_info(caller, 77, info)) << "nobody to relay it to yet";
  recorders_answer();
  const uint64_t bob = ua.invites_to("sip:bob@")[0];
  answer(bob);
  EXPECT_FALSE(ua.handlers.on_info(ua.invites_to("sip:srs@")[0], 78, info)) << "a recorder's";
  ASSERT_TRUE(ua.handlers.on_info(caller, 79, info));
  const Sent* relayed = ua.find("info", bob);
  ASSERT_NE(relayed, nullptr);
  EXPECT_EQ(relayed->reason, "application/dtmf-relay");  // the fake logs the type there
  EXPECT_EQ(relayed->body, dtmf);
  EXPECT_EQ(ua.find("reply", 79), nullptr) << "answered before Bob answered it";
  ua.info_done.at(bob)(415, nullptr);
  const Sent* reply = ua.find("reply", 79);
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(reply->status, 415);
  // From the callee's side, to the caller.
  ASSERT_TRUE(ua.handlers.on_info(bob, 80, info));
  EXPECT_NE(ua.find("info", caller), nullptr);
}

// --- meetings (meeting_room.cc) --------------------------------------------------------------

// 20 ms of loud PCMU as a member's phone sends it.
std::vector<uint8_t> member_packet(uint16_t seq) {
  std::vector<uint8_t> p{
      0x80, 0, static_cast<uint8_t>(seq >> 8), static_cast<uint8_t>(seq), 0, 0, 0, 0, 0, 0, 0, 7};
  p.resize(12 + 160, 0x10);  // loud µ-law
  return p;
}

// Bob's meeting "Desk" in the meetings database at `db`, with `pin` (empty: a random one).
Meeting scheduled(const std::string& db, const std::string& pin) {
  auto store = MeetingStore::open(db);
  EXPECT_TRUE(store);
  NewMeeting n;
  n.organizer = "bob@contoso.com";
  n.subject = "Desk";
  n.domain = "contoso.com";
  n.pin = pin;
  auto m = store.value()->create(n);
  EXPECT_TRUE(m);
  return m.value();
}

// A gateway with meetings: a meetings.db in a directory of the test's own, with Bob's meeting
// "Desk" scheduled in it. `more` may change other options, `edit` the policy.
class GatewayMeetings : public GatewayCalls {
 protected:
  Meeting start_meetings(const std::string& name,
                         const std::function<void(GatewayOptions&)>& more = nullptr,
                         const std::function<void(policy::Policy&)>& edit = nullptr) {
    dir_ = std::make_unique<TestDir>(name);
    const std::string db = (dir_->path() / "meetings.db").string();
    const Meeting m = scheduled(db, "");
    start(edit, [&](GatewayOptions& o) {
      o.meetings_db = db;
      if (more) more(o);
    });
    return m;
  }

  // A second endpoint of the application (sip:srs2@192.0.2.51), committed while the gateway runs.
  void second_endpoint() {
    std::lock_guard lock(svc.mutex());
    svc.state().put_endpoint(
        policy::RecorderEndpoint{"e2", "app-1", "sip:srs2@192.0.2.51:5060", "", "", true});
    ASSERT_TRUE(svc.commit("test"));
  }

 private:
  std::unique_ptr<TestDir> dir_;
};

TEST_F(GatewayMeetings,
       MeetingMembersGetTheMixEvery20MsMediaFromElsewhereIsDroppedTheLastOneClosesIt) {
  const Meeting m = start_meetings("gw-meetings");
  const std::string uri = "sip:meet-" + m.id + "@contoso.com";
  const uint64_t one = call(uri, "m-1");
  const uint64_t two = call(uri, "m-2");
  const Sent* ok = ua.find("accept", one);
  ASSERT_NE(ok, nullptr);
  EXPECT_NE(ok->body.find("a=rtpmap:0 PCMU/8000"), std::string::npos) << ok->body;
  EXPECT_NE(ok->body.find("a=rtpmap:101 telephone-event/8000"), std::string::npos);
  EXPECT_EQ(ok->header("Allow-Events"), "conference");
  ASSERT_NE(ua.find("accept", two), nullptr);
  EXPECT_EQ(gw->metrics().meeting_joins, 2u);
  EXPECT_EQ(media.open_ports, 2);
  // Both members' ports (taps of the fake anchor, in the order opened).
  auto* port_one = media.taps.at(0).get();
  auto* port_two = media.taps.at(1).get();
  ASSERT_TRUE(port_one && port_two && port_one->handler && port_two->handler);
  const udp::endpoint phone(asio::ip::make_address("192.0.2.9"), 30000);
  const udp::endpoint stranger(asio::ip::make_address("198.51.100.7"), 30000);
  for (uint16_t seq = 0; seq < 50; ++seq) {
    port_one->handler(phone, member_packet(seq));
    port_two->handler(stranger, member_packet(seq));  // RTP bleed: never mixed
    advance(milliseconds(20));
  }
  // One packet per 20 ms to each, to the address its SDP named; what two hears is one's audio,
  // what one hears is silence (two's packets came from elsewhere).
  EXPECT_GE(port_one->sent.size(), 49u);
  EXPECT_LE(port_one->sent.size(), 52u);
  ASSERT_FALSE(port_two->sent.empty());
  EXPECT_EQ(port_two->sent.back().first, phone);
  auto loud = [](const std::vector<uint8_t>& packet) {
    size_t n = 0;
    for (size_t i = 12; i < packet.size(); ++i) n += (packet[i] & 0x7f) < 0x60 ? 1 : 0;
    return n;
  };
  EXPECT_GT(loud(port_two->sent.back().second), 100u);
  EXPECT_EQ(loud(port_one->sent.back().second), 0u);
  EXPECT_EQ(gw->status()["meetings"][0]["members"].size(), 2u);
  // Hold: one's re-INVITE with sendonly; it gets nothing more, and the answer says recvonly.
  auto held = ua.handlers.on_reoffer(
      one, parse(with_body("INVITE sip:gw@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP "
                           "192.0.2.9:5060;branch=z9hG4bKh\r\nFrom: <sip:x@192.0.2.9>;tag=pstn\r\n"
                           "To: <sip:gw@192.0.2.1>;tag=gw\r\nCall-ID: m-1\r\nCSeq: 2 INVITE\r\n"
                           "Max-Forwards: 70\r\n",
                           sdp_body("192.0.2.9", 30000) + "a=sendonly\r\n", "application/sdp")));
  ASSERT_TRUE(held) << held.error().message;
  EXPECT_NE(held.value().find("a=recvonly"), std::string::npos) << held.value();
  const size_t before = port_one->sent.size();
  advance(milliseconds(200));
  EXPECT_EQ(port_one->sent.size(), before);
  ua.handlers.on_ended(one, "bye");
  EXPECT_EQ(gw->status()["meetings"][0]["members"].size(), 1u);
  ua.handlers.on_ended(two, "bye");
  EXPECT_TRUE(gw->status()["meetings"].empty());
  EXPECT_EQ(media.open_ports, 0);
  const size_t after = port_two->sent.size();
  advance(milliseconds(200));
  EXPECT_EQ(port_two->sent.size(), after);  // the room's clock stopped with it
}

// Keys pressed on a dial-in caller's phone, each sent as a SIP INFO (application/dtmf-relay).
void key_in(FakeSignalling& ua, uint64_t session, const std::string& typed) {
  for (char k : typed) {
    auto info = parse(
        with_body("INFO sip:gw@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP "
                  "192.0.2.9:5060;branch=z9hG4bKi\r\nFrom: <sip:x@192.0.2.9>;tag=p\r\n"
                  "To: <sip:gw@192.0.2.1>;tag=gw\r\nCall-ID: d\r\nCSeq: 3 INFO\r\n"
                  "Max-Forwards: 70\r\n",
                  std::string("Signal=") + k + "\r\nDuration=160\r\n", "application/dtmf-relay"));
    EXPECT_FALSE(ua.handlers.on_info(session, 90, info));  // answered 200 by the UA
  }
}

// The language menu of a number with secondary languages: key N chooses the Nth language (the
// number's own first); no choice, the number's own; any other key is no answer.
TEST_F(GatewayCalls, ADialInCallerChoosesTheLanguageOfItsPromptsFromTheMenu) {
  TestDir dir("gw-dial-in-language");
  const std::string db = (dir.path() / "meetings.db").string();
  const Meeting meeting = scheduled(db, "4829");
  start(nullptr, [&](GatewayOptions& o) {
    o.meetings_db = db;
    o.dial_in = {{"+14255550150", "fr", {"en", "de"}}};
  });
  auto keys = [&](uint64_t session, const std::string& typed) { key_in(ua, session, typed); };
  auto lobby = [&] { return gw->status()["dialIn"]; };
  const uint64_t chooses = call("sip:+14255550150@contoso.com", "d-1");
  ASSERT_NE(ua.find("accept", chooses), nullptr);
  ASSERT_EQ(lobby().size(), 1u);
  EXPECT_EQ(lobby()[0]["choosingLanguage"], true);
  EXPECT_EQ(lobby()[0]["language"], "fr");
  advance(milliseconds(500));
  keys(chooses, "7#0");  // not an answer: the menu goes on
  EXPECT_EQ(lobby()[0]["choosingLanguage"], true);
  keys(chooses, "3");
  EXPECT_EQ(lobby()[0]["choosingLanguage"], false);
  EXPECT_EQ(lobby()[0]["language"], "de");
  keys(chooses, "4829#");
  ASSERT_EQ(gw->status()["meetings"].size(), 1u);
  EXPECT_EQ(gw->status()["meetings"][0]["meeting"], meeting.id);
  EXPECT_EQ(gw->status()["meetings"][0]["members"][0]["language"], "de")
      << "its notices in the language it chose";
  // No choice: after the menu and 5 s, the number's own language.
  const uint64_t silent = call("sip:+14255550150@contoso.com", "d-2");
  advance(seconds(2));
  EXPECT_EQ(lobby()[0]["choosingLanguage"], true) << "the menu (three languages) still plays";
  advance(seconds(18));
  EXPECT_EQ(lobby()[0]["choosingLanguage"], false);
  EXPECT_EQ(lobby()[0]["language"], "fr");
  keys(silent, "4829#");
  EXPECT_EQ(gw->status()["meetings"][0]["members"].size(), 2u);
}

TEST_F(GatewayCalls, ADialInLanguageWithoutTheMenusPromptsStopsTheGatewayFromStarting) {
  start();
  GatewayOptions o;
  o.sip_listen = "192.0.2.1:5060";
  o.health_interval = milliseconds(0);
  o.dial_in = {{"+14255550150", "fr", {"pt"}}};
  FakeSignalling other;
  Gateway second(io, GatewaySeams{view.get(), &other, &timers, &wall, &media}, o);
  other.handlers = second.handlers();
  auto started = second.start();
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message.find("+14255550150"), std::string::npos);
  EXPECT_NE(started.error().message.find("language-choice-2 in language 'pt'"), std::string::npos)
      << started.error().message;
}

// The dial-in menu: keys by SIP INFO; three unknown PINs end the call, and so does silence.
TEST_F(GatewayCalls, ADialInCallerJoinsByThePinAndIsLetGoAfterThreeWrongOnesOrNoneInTime) {
  TestDir dir("gw-dial-in");
  const std::string db = (dir.path() / "meetings.db").string();
  const Meeting meeting = scheduled(db, "4829");
  start(nullptr, [&](GatewayOptions& o) {
    o.meetings_db = db;
    o.dial_in = {{"+14255550150", "fr"}};
  });
  auto keys = [&](uint64_t session, const std::string& typed) { key_in(ua, session, typed); };
  // Joins with the right PIN (after a wrong one), keyed while the prompt plays.
  const uint64_t joins = call("sip:+14255550150@contoso.com", "d-1");
  ASSERT_NE(ua.find("accept", joins), nullptr);
  EXPECT_EQ(gw->status()["dialInWaiting"], 1u);
  advance(milliseconds(500));
  keys(joins, "1234#4829#");
  EXPECT_EQ(gw->status()["dialInWaiting"], 0u);
  ASSERT_EQ(gw->status()["meetings"].size(), 1u);
  EXPECT_EQ(gw->status()["meetings"][0]["meeting"], meeting.id);
  EXPECT_EQ(gw->metrics().meeting_joins, 1u);
  // Three wrong PINs: let go with a reason.
  const uint64_t wrong = call("sip:+14255550150@contoso.com", "d-2");
  keys(wrong, "1111#*22#9999#");
  const Sent* bye = ua.find("hangup", wrong);
  ASSERT_NE(bye, nullptr);
  EXPECT_NE(bye->header("Reason").find("no meeting with that PIN"), std::string::npos);
  // No PIN: let go 30 s after the prompt ended.
  const uint64_t silent = call("sip:+14255550150@contoso.com", "d-3");
  advance(seconds(20));
  EXPECT_EQ(ua.find("hangup", silent), nullptr);
  advance(seconds(30));
  bye = ua.find("hangup", silent);
  ASSERT_NE(bye, nullptr);
  EXPECT_NE(bye->header("Reason").find("no meeting PIN was entered"), std::string::npos);
  EXPECT_EQ(gw->status()["dialInWaiting"], 0u);
  EXPECT_EQ(gw->metrics().meeting_refused, 2u);
}

TEST_F(GatewayMeetings, WithSrtpRequiredNoOneJoinsAMeetingInTheClear) {
  const Meeting m =
      start_meetings("gw-meetings-srtp", [&](GatewayOptions& o) { o.require_srtp = true; });
  const uint64_t s = call("sip:meet-" + m.id + "@contoso.com");
  const Sent* no = ua.find("reject", s);
  ASSERT_NE(no, nullptr);
  EXPECT_EQ(no->status, 488);
  EXPECT_NE(no->header("Warning").find("requires SRTP"), std::string::npos);
  EXPECT_EQ(media.open_ports, 0);
}

TEST_F(GatewayCalls, AMeetingCallWithoutMeetingsOrForAnUnknownMeetingIsRefused) {
  start();
  const uint64_t s = call("sip:meet-1234567890@contoso.com");
  const Sent* no = ua.find("reject", s);
  ASSERT_NE(no, nullptr);
  EXPECT_EQ(no->status, 404);
  EXPECT_NE(no->header("Warning").find("this gateway holds no meetings"), std::string::npos);
  EXPECT_EQ(gw->metrics().meeting_refused, 1u);
  EXPECT_EQ(gw->metrics().calls, 0u);  // not counted as a call
}

// How many of `port`'s last `n` packets to its member carry sound (PCMU above a whisper).
size_t audible(const FakeMedia::Tap& port, size_t n) {
  size_t loud = 0;
  for (size_t k = port.sent.size() > n ? port.sent.size() - n : 0; k < port.sent.size(); ++k) {
    size_t samples = 0;
    const auto& p = port.sent[k].second;
    for (size_t i = 12; i < p.size(); ++i) samples += (p[i] & 0x7f) < 0x50 ? 1 : 0;
    loud += samples > 20 ? 1 : 0;
  }
  return loud;
}

TEST_F(GatewayCalls, TheOthersHearAChimeWhenAMemberJoinsOrLeavesUnlessItIsTurnedOff) {
  for (const bool chimes : {true, false}) {
    TestDir dir("gw-meeting-chime");
    const std::string db = (dir.path() / "meetings.db").string();
    const Meeting m = scheduled(db, "");
    media.taps.clear();
    start(nullptr, [&](GatewayOptions& o) {
      o.meetings_db = db;
      o.meeting_chimes = chimes;
    });
    const std::string uri = "sip:meet-" + m.id + "@contoso.com";
    call(uri, "c-1");
    call(uri, "c-2");
    advance(seconds(1));
    auto& one = *media.taps.at(0);
    auto& two = *media.taps.at(1);
    EXPECT_EQ(audible(one, 25), 0u) << "nobody talks";
    const uint64_t third = call(uri, "c-3");
    advance(milliseconds(500));
    EXPECT_GE(audible(one, 25), chimes ? 10u : 0u);
    EXPECT_LE(audible(one, 25), chimes ? 15u : 0u) << "two 120 ms tones";
    EXPECT_EQ(audible(two, 25), audible(one, 25));
    advance(seconds(1));
    EXPECT_EQ(audible(one, 25), 0u) << "and then quiet";
    ua.handlers.on_ended(third, "bye");
    advance(milliseconds(500));
    EXPECT_GE(audible(one, 25), chimes ? 10u : 0u) << "the leave chime";
    gw.reset();
  }
}

// --- meeting recording (meeting_recording.cc) ------------------------------------------------

size_t audio_lines(const std::string& body) {
  size_t n = 0;
  for (size_t at = body.find("\nm=audio"); at != std::string::npos;
       at = body.find("\nm=audio", at + 1)) {
    ++n;
  }
  return n;
}

// The last thing of kind `what` sent on `session` (null: none).
const Sent* last_sent(const FakeSignalling& ua, std::string_view what, uint64_t session) {
  for (const auto& s : std::ranges::reverse_view(ua.sent)) {
    if (s.what == what && s.session == session) return &s;
  }
  return nullptr;
}

// The tap whose copies went to `port` of the recorder (192.0.2.50), if any.
const FakeMedia::Tap* copy_to(const FakeMedia& media, uint16_t port) {
  for (const auto& t : media.taps) {
    for (const auto& [to, packet] : t->sent) {
      if (to.port() == port && to.address() == asio::ip::make_address("192.0.2.50")) return t.get();
    }
  }
  return nullptr;
}

TEST_F(GatewayMeetings, AMeetingIsRecordedOncePerApplicationWithEveryMemberOnAnMLineOfItsOwn) {
  const Meeting m = start_meetings("gw-meeting-rec");
  {
    std::lock_guard lock(svc.mutex());
    add_user("u-erin", "erin", "+14255550104", "Traders");
    ASSERT_TRUE(svc.commit("test"));
  }
  const std::string uri = "sip:meet-" + m.id + "@contoso.com";
  const uint64_t carol = user_call("carol", "192.0.2.30", uri, "mc");
  ASSERT_NE(ua.find("accept", carol), nullptr);  // not recorded: in at once
  EXPECT_TRUE(ua.invites_to("sip:srs@").empty());
  // Bob's policy records him, and its application is required before he joins.
  const uint64_t bob = user_call("bob", "192.0.2.20", uri, "mb");
  ASSERT_EQ(ua.invites_to("sip:srs@").size(), 1u);
  EXPECT_EQ(ua.find("accept", bob), nullptr);
  const uint64_t srs = ua.invites_to("sip:srs@")[0];
  const std::string& offer = ua.placed.at(srs).body;
  EXPECT_EQ(audio_lines(offer), 2u) << offer;
  EXPECT_NE(offer.find("sip:carol@contoso.com"), std::string::npos);
  EXPECT_NE(offer.find("sip:bob@contoso.com"), std::string::npos);
  EXPECT_NE(offer.find("meetingId=\"" + m.id + "\""), std::string::npos) << offer;
  recorders_answer();
  const Sent* ok = ua.find("accept", bob);
  ASSERT_NE(ok, nullptr);
  EXPECT_NE(ok->header("Call-Info").find("purpose=recording"), std::string::npos);
  // Everyone is told, Carol too, who was in before the recording began.
  const nlohmann::json status = gw->status()["meetings"][0];
  EXPECT_TRUE(status["recorded"].get<bool>());
  for (const auto& member : status["members"]) EXPECT_EQ(member["notice"], "played") << member;
  // What each sends reaches the recorder as sent, on its own m-line: Carol's on the first
  // (the recorder's port 40000), Bob's on the second (40002).
  const udp::endpoint carol_phone(asio::ip::make_address("192.0.2.30"), 30000);
  const udp::endpoint bob_phone(asio::ip::make_address("192.0.2.20"), 30000);
  media.taps.at(0)->handler(carol_phone, member_packet(1));
  media.taps.at(1)->handler(bob_phone, member_packet(2));
  const auto* carol_copy = copy_to(media, 40000);
  const auto* bob_copy = copy_to(media, 40002);
  ASSERT_TRUE(carol_copy && bob_copy);
  EXPECT_EQ(carol_copy->sent.back().second, member_packet(1));
  EXPECT_EQ(bob_copy->sent.back().second, member_packet(2));
  // Dave (not recorded) and Erin (recorded by the same application) join at once: no second
  // session, one re-offer at the next tick for both.
  const uint64_t dave = user_call("dave", "192.0.2.40", uri, "md");
  const uint64_t erin = user_call("erin", "192.0.2.60", uri, "me");
  ASSERT_NE(ua.find("accept", dave), nullptr);
  ASSERT_NE(ua.find("accept", erin), nullptr) << "its application records the meeting already";
  EXPECT_EQ(ua.invites_to("sip:srs@").size(), 1u);
  EXPECT_EQ(ua.find("reinvite", srs), nullptr);
  advance(milliseconds(20));
  const Sent* re = last_sent(ua, "reinvite", srs);
  ASSERT_NE(re, nullptr);
  EXPECT_EQ(audio_lines(re->body), 4u) << re->body;
  EXPECT_NE(re->body.find("partial"), std::string::npos);
  EXPECT_NE(re->body.find("sip:dave@contoso.com"), std::string::npos);
  EXPECT_NE(re->body.find("sip:erin@contoso.com"), std::string::npos);
  EXPECT_EQ(re->body.find("sip:bob@contoso.com"), std::string::npos) << "only what changed";
  const auto answer4 = response_to(ua.placed.at(srs), 200, "OK", recorder_answer(re->body));
  ua.reinvite_done.at(srs)(200, &answer4);
  const udp::endpoint dave_phone(asio::ip::make_address("192.0.2.40"), 30000);
  media.taps.at(4)->handler(dave_phone, member_packet(3));  // Dave's port (after the two copies)
  ASSERT_NE(copy_to(media, 40004), nullptr);
  EXPECT_EQ(copy_to(media, 40004)->sent.back().second, member_packet(3));
  // Carol leaves: her m-line is closed and she is disassociated, with the time.
  ua.handlers.on_ended(carol, "bye");
  advance(milliseconds(20));
  re = last_sent(ua, "reinvite", srs);
  EXPECT_NE(re->body.find("m=audio 0 "), std::string::npos) << re->body;
  EXPECT_NE(re->body.find("disassociate-time"), std::string::npos);
  EXPECT_EQ(gw->metrics().meeting_metadata_updates, 2u);
  const auto answer_left = response_to(ua.placed.at(srs), 200, "OK", recorder_answer(re->body));
  ua.reinvite_done.at(srs)(200, &answer_left);
  // Bob leaves: Erin is still recorded by it. Erin leaves: its session ends.
  ua.handlers.on_ended(bob, "bye");
  EXPECT_EQ(ua.find("hangup", srs), nullptr);
  ua.handlers.on_ended(erin, "bye");
  EXPECT_NE(ua.find("hangup", srs), nullptr);
  EXPECT_TRUE(gw->status()["meetings"][0]["recordings"].empty());
  ua.handlers.on_ended(dave, "bye");
  EXPECT_EQ(media.open_ports, 0);
}

TEST_F(GatewayMeetings, AMemberWhoseRequiredRecorderFailsIsNotAdmittedAndTheOthersStay) {
  const Meeting m = start_meetings("gw-meeting-before");
  const std::string uri = "sip:meet-" + m.id + "@contoso.com";
  const uint64_t carol = user_call("carol", "192.0.2.30", uri, "mc");
  ASSERT_NE(ua.find("accept", carol), nullptr);
  // The recorder refuses: Bob is refused at once, with the reason.
  const uint64_t bob = user_call("bob", "192.0.2.20", uri, "mb");
  const uint64_t srs = ua.invites_to("sip:srs@").at(0);
  const auto refused = response_to(ua.placed.at(srs), 503, "Service Unavailable");
  ua.handlers.on_failed(srs, 503, &refused);
  const Sent* no = ua.find("reject", bob);
  ASSERT_NE(no, nullptr);
  EXPECT_EQ(no->status, 480);
  EXPECT_NE(no->header("Reason").find("There was a problem setting up the recording"),
            std::string::npos);
  EXPECT_NE(no->header("Warning").find("503"), std::string::npos) << no->header("Warning");
  // The recorder does not answer: refused after recording_setup_timeout (5 s).
  const uint64_t again = user_call("bob", "192.0.2.20", uri, "mb2");
  ASSERT_EQ(ua.invites_to("sip:srs@").size(), 2u);
  advance(milliseconds(4900));
  EXPECT_EQ(ua.find("reject", again), nullptr);
  advance(milliseconds(200));
  no = ua.find("reject", again);
  ASSERT_NE(no, nullptr);
  EXPECT_EQ(no->status, 480);
  EXPECT_NE(no->header("Warning").find("no recorder answered within 5000 ms"), std::string::npos);
  EXPECT_NE(ua.find("hangup", ua.invites_to("sip:srs@").at(1)), nullptr)
      << "its INVITE is cancelled";
  // Carol never noticed.
  EXPECT_EQ(ua.find("hangup", carol), nullptr);
  EXPECT_EQ(gw->status()["meetings"][0]["members"].size(), 1u);
  EXPECT_EQ(gw->metrics().meeting_refused_recording, 2u);
  EXPECT_EQ(media.open_ports, 1);  // Carol's port alone
}

TEST_F(GatewayMeetings, ARecorderThatFailsBeforeAnsweringFailsOverToTheApplicationsNextEndpoint) {
  const Meeting m = start_meetings("gw-meeting-failover");
  second_endpoint();
  const std::string uri = "sip:meet-" + m.id + "@contoso.com";
  const uint64_t bob = user_call("bob", "192.0.2.20", uri, "mb");
  auto first = ua.invites_to("sip:srs");
  ASSERT_EQ(first.size(), 1u);
  // The first endpoint refuses: Bob waits on, and the other endpoint is invited.
  const auto refused = response_to(ua.placed.at(first[0]), 503, "Service Unavailable");
  ua.handlers.on_failed(first[0], 503, &refused);
  EXPECT_EQ(ua.find("reject", bob), nullptr);
  auto both = ua.invites_to("sip:srs");
  ASSERT_EQ(both.size(), 2u);
  EXPECT_NE(ua.placed.at(both[0]).request_uri, ua.placed.at(both[1]).request_uri);
  const auto& second = ua.placed.at(both[1]);
  ua.handlers.on_answered(both[1], response_to(second, 200, "OK", recorder_answer(second.body)));
  ASSERT_NE(ua.find("accept", bob), nullptr) << "admitted once the second is in";
  // Had that one failed too, nothing would be left to try: Bob is refused at once.
  ua.handlers.on_ended(bob, "bye");
  const uint64_t bob2 = user_call("bob", "192.0.2.20", uri, "mb2");
  for (int i = 0; i < 2; ++i) {
    const uint64_t s = ua.invites_to("sip:srs").back();
    const auto no = response_to(ua.placed.at(s), 503, "Service Unavailable");
    ua.handlers.on_failed(s, 503, &no);
  }
  const Sent* no = ua.find("reject", bob2);
  ASSERT_NE(no, nullptr);
  EXPECT_EQ(no->status, 480);
  EXPECT_EQ(ua.invites_to("sip:srs").size(), 4u) << "each endpoint tried once for that recording";
}

TEST_F(GatewayMeetings, WhenARequiredRecorderIsLostOnlyItsRecordedMembersAreWarnedThenRemoved) {
  const Meeting m = start_meetings("gw-meeting-during");
  const std::string uri = "sip:meet-" + m.id + "@contoso.com";
  const uint64_t carol = user_call("carol", "192.0.2.30", uri, "mc");
  const uint64_t bob = user_call("bob", "192.0.2.20", uri, "mb");
  recorders_answer();
  ASSERT_NE(ua.find("accept", bob), nullptr);
  advance(seconds(6));  // the notices have played
  const uint64_t srs = ua.invites_to("sip:srs@").at(0);
  ua.handlers.on_ended(srs, "bye");
  EXPECT_EQ(gw->metrics().meeting_removed_recording, 1u);
  EXPECT_EQ(gw->metrics().removal_warnings, 1u);
  EXPECT_EQ(ua.find("hangup", bob), nullptr) << "the warning plays first";
  advance(seconds(10));
  const Sent* bye = ua.find("hangup", bob);
  ASSERT_NE(bye, nullptr);
  EXPECT_NE(bye->header("Reason").find("removed from the meeting"), std::string::npos);
  EXPECT_EQ(ua.find("hangup", carol), nullptr);
  ASSERT_EQ(gw->status()["meetings"][0]["members"].size(), 1u);
  EXPECT_EQ(gw->status()["meetings"][0]["members"][0]["aor"], "sip:carol@contoso.com");
}

TEST_F(GatewayMeetings, ARecorderTheMeetingFlagsDoNotRequireNeverHoldsAMemberBackOrRemovesThem) {
  const Meeting m = start_meetings("gw-meeting-optional", nullptr, [](policy::Policy& p) {
    p.applications[0].required_before_meeting_join = false;
    p.applications[0].required_during_meeting = false;
  });
  const uint64_t bob = user_call("bob", "192.0.2.20", "sip:meet-" + m.id + "@contoso.com", "mb");
  ASSERT_NE(ua.find("accept", bob), nullptr) << "in before the recorder answered";
  recorders_answer();
  ua.handlers.on_ended(ua.invites_to("sip:srs@").at(0), "bye");
  advance(seconds(20));
  EXPECT_EQ(ua.find("hangup", bob), nullptr);
  EXPECT_EQ(gw->metrics().meeting_removed_recording, 0u);
}

TEST_F(GatewayMeetings, AMeetingsCopiesGoAsSrtpToARecorderThatTakesOurKey) {
  const Meeting m = start_meetings("gw-meeting-srtp", [&](GatewayOptions& o) {
    o.recorder_srtp = true;
    o.allow_sdes_over_plain_sip = true;  // the fake's recorder is reached over UDP
  });
  const uint64_t bob = user_call("bob", "192.0.2.20", "sip:meet-" + m.id + "@contoso.com", "mb");
  const uint64_t srs = ua.invites_to("sip:srs@").at(0);
  const std::string& offer = ua.placed.at(srs).body;
  ASSERT_NE(offer.find("RTP/SAVP"), std::string::npos) << offer;
  ASSERT_NE(offer.find("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"), std::string::npos);
  // The recorder takes it, with a key of its own.
  std::string answer = recorder_answer(offer);
  answer.replace(answer.find("RTP/AVP"), 7, "RTP/SAVP");
  answer +=
      "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n";
  ua.handlers.on_answered(srs, response_to(ua.placed.at(srs), 200, "OK", answer));
  ASSERT_NE(ua.find("accept", bob), nullptr);
  const udp::endpoint phone(asio::ip::make_address("192.0.2.20"), 30000);
  media.taps.at(0)->handler(phone, member_packet(1));
  const auto* copy = copy_to(media, 40000);
  ASSERT_NE(copy, nullptr);
  const auto& sent = copy->sent.back().second;
  const auto plain = member_packet(1);
  EXPECT_EQ(sent.size(), plain.size() + 10) << "the 80-bit authentication tag";
  EXPECT_TRUE(std::equal(plain.begin(), plain.begin() + 12, sent.begin())) << "the RTP header";
  EXPECT_FALSE(std::equal(plain.begin() + 12, plain.end(), sent.begin() + 12)) << "encrypted";
}

TEST_F(GatewayMeetings, AMemberFollowsTheRosterInItsDialogAndGetsEveryChange) {
  const Meeting m = start_meetings("gw-meeting-roster");
  const std::string uri = "sip:meet-" + m.id + "@contoso.com";
  const uint64_t one = call(uri, "r-1");
  const uint64_t two = call(uri, "r-2");
  auto subscribe = [&](uint64_t session, uint64_t txn, const std::string& headers) {
    EXPECT_TRUE(ua.handlers.on_subscribe(session, txn, request("SUBSCRIBE", headers)));
    return *ua.find("reply", txn);
  };
  EXPECT_EQ(subscribe(one, 10, "Event: presence\r\n").status, 489);
  const Sent brief = subscribe(one, 11, "Event: conference\r\nExpires: 30\r\n");
  EXPECT_EQ(brief.status, 423);
  EXPECT_EQ(brief.header("Min-Expires"), "60");
  const Sent ok = subscribe(one, 12, "Event: conference\r\nExpires: 600\r\n");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.header("Expires"), "600");
  const Sent* first = last_sent(ua, "notify-conference", one);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->reason, "active;expires=600");  // the fake logs Subscription-State there
  EXPECT_EQ(first->header("Content-Type"), "application/conference-info+xml");
  EXPECT_NE(first->body.find("entity=\"" + m.uri + "\""), std::string::npos) << first->body;
  EXPECT_NE(first->body.find("version=\"1\""), std::string::npos);
  EXPECT_NE(first->body.find("<user-count>2</user-count>"), std::string::npos);
  EXPECT_NE(first->body.find("<subject>Desk</subject>"), std::string::npos);
  EXPECT_EQ(last_sent(ua, "notify-conference", two), nullptr) << "not subscribed";
  // A third joins: the next tick's NOTIFY has three.
  const uint64_t three = call(uri, "r-3");
  advance(milliseconds(20));
  const Sent* joined = last_sent(ua, "notify-conference", one);
  EXPECT_NE(joined->body.find("<user-count>3</user-count>"), std::string::npos) << joined->body;
  EXPECT_NE(joined->body.find("version=\"2\""), std::string::npos);
  // A mute shows as the member only receiving.
  ControlRequest mute;
  mute.call_id = "meet-" + m.id;
  mute.action = "mute";
  mute.party = "sip:+14255550199@192.0.2.9";  // the trunk callers' From
  ASSERT_TRUE(gw->control(mute));
  advance(milliseconds(20));
  EXPECT_NE(last_sent(ua, "notify-conference", one)->body.find("<status>recvonly</status>"),
            std::string::npos);
  // One leaves; then the subscription runs out.
  ua.handlers.on_ended(three, "bye");
  advance(milliseconds(20));
  EXPECT_NE(last_sent(ua, "notify-conference", one)->body.find("<user-count>2</user-count>"),
            std::string::npos);
  advance(seconds(600));
  EXPECT_EQ(last_sent(ua, "notify-conference", one)->reason, "terminated;reason=timeout");
  ua.handlers.on_ended(two, "bye");
  advance(milliseconds(40));
  EXPECT_EQ(last_sent(ua, "notify-conference", one)->reason, "terminated;reason=timeout")
      << "no more after it ended";
  // Unsubscribing: Expires 0 gets a last NOTIFY.
  EXPECT_EQ(subscribe(one, 13, "Event: conference\r\nExpires: 0\r\n").status, 200);
  EXPECT_EQ(last_sent(ua, "notify-conference", one)->reason, "terminated");
}

// --- meeting chat (meeting_chat.cc) ----------------------------------------------------------

// A MESSAGE from user `name` to `to`, with digest (challenged, then sent with the answer): the
// gateway's final answer.
Sent chat_from(FakeSignalling& ua, const std::string& name, const std::string& ip,
               const std::string& to, const std::string& text,
               const std::string& type = "text/plain;charset=utf-8") {
  auto message = [&](int cseq, const std::string& auth) {
    return parse(with_body("MESSAGE " + to + " SIP/2.0\r\nVia: SIP/2.0/UDP " + ip +
                               ":5060;branch=z9hG4bKmsg" + std::to_string(cseq) +
                               "\r\nFrom: <sip:" + name + "@contoso.com>;tag=m\r\nTo: <" + to +
                               ">\r\nCall-ID: msg-" + name + "\r\nCSeq: " + std::to_string(cseq) +
                               " MESSAGE\r\nMax-Forwards: 70\r\n" + auth,
                           text, type));
  };
  const sip::Peer from{"UDP", ip, 5060};
  EXPECT_TRUE(ua.handlers.on_request(500, message(1, ""), from));
  const Sent challenge = ua.sent.back();
  EXPECT_EQ(challenge.status, 401);
  auto a = sip::digest_authorize(challenge.header("WWW-Authenticate"), "MESSAGE", to, name,
                                 name + "-pw", "c0ffee", 1);
  EXPECT_TRUE(a);
  EXPECT_TRUE(
      ua.handlers.on_request(501, message(2, "Authorization: " + a.value() + "\r\n"), from));
  return ua.sent.back();
}

TEST_F(GatewayMeetings, MeetingChatIsRelayedToTheOtherMembersAndKeptByTheRecordersNeverUnrecorded) {
  const Meeting m = start_meetings("gw-meeting-chat");
  const std::string uri = "sip:meet-" + m.id + "@contoso.com";
  const uint64_t carol = user_call("carol", "192.0.2.30", uri, "mc");
  const uint64_t bob = user_call("bob", "192.0.2.20", uri, "mb");
  // Bob's recorder is not in yet: the meeting is recorded, so nothing is relayed unrecorded.
  Sent r = chat_from(ua, "carol", "192.0.2.30", uri, "Morning all");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.header("Retry-After"), "5");
  EXPECT_NE(r.header("Warning").find("not ready"), std::string::npos);
  recorders_answer();
  const uint64_t srs = ua.invites_to("sip:srs@").at(0);
  r = chat_from(ua, "carol", "192.0.2.30", uri, "Morning all");
  EXPECT_EQ(r.status, 202);
  const Sent* to_bob = last_sent(ua, "message", bob);
  const Sent* kept = last_sent(ua, "message", srs);
  ASSERT_TRUE(to_bob && kept);
  EXPECT_EQ(to_bob->reason, "message/cpim");  // the fake logs the content type there
  auto cpim = sip::parse_cpim(kept->body);
  ASSERT_TRUE(cpim) << kept->body;
  EXPECT_EQ(sip::cpim_address(cpim.value().from), "sip:carol@contoso.com");
  EXPECT_EQ(cpim.value().to, "<" + m.uri + ">");
  EXPECT_EQ(cpim.value().body, "Morning all");
  EXPECT_EQ(cpim.value().content_type, "text/plain;charset=utf-8");
  EXPECT_EQ(last_sent(ua, "message", carol), nullptr) << "not back to its sender";
  // In Bob's dialog: to Carol and the recorder.
  auto in_dialog = parse(with_body(
      "MESSAGE sip:gw@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKd\r\n"
      "From: <sip:bob@contoso.com>;tag=u\r\nTo: <" +
          uri +
          ">;tag=gw\r\nCall-ID: mb\r\n"
          "CSeq: 3 MESSAGE\r\nMax-Forwards: 70\r\n",
      "Selling", "text/plain"));
  ASSERT_TRUE(ua.handlers.on_message(bob, 600, in_dialog));
  EXPECT_EQ(ua.find("reply", 600)->status, 202);
  EXPECT_NE(last_sent(ua, "message", carol)->body.find("Selling"), std::string::npos);
  EXPECT_NE(last_sent(ua, "message", srs)->body.find("<sip:bob@contoso.com>"), std::string::npos);
  // Not a member, not text: refused, and said why.
  r = chat_from(ua, "dave", "192.0.2.40", uri, "let me in");
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.header("Warning").find("not in meeting " + m.id), std::string::npos);
  r = chat_from(ua, "carol", "192.0.2.30", uri, "GIF89a", "image/gif");
  EXPECT_EQ(r.status, 415);
  EXPECT_EQ(r.header("Accept"), "text/plain");
  EXPECT_EQ(gw->metrics().meeting_chat_messages, 2u);
  EXPECT_EQ(gw->metrics().meeting_chat_refused, 3u);
  EXPECT_EQ(gw->status()["meetings"][0]["chatMessages"], 2u);
}

// --- one-to-one chat (direct_chat.cc) --------------------------------------------------------

// A MESSAGE from user `name` (at `ip`) to `to`, answering the challenge, on transactions `txn`
// and `txn` + 1: the gateway's answer to the second, once it has given one (null before).
class DirectChat : public GatewayCalls {
 protected:
  void send(const std::string& name, const std::string& ip, const std::string& to,
            const std::string& text, uint64_t txn, const std::string& type = "text/plain") {
    auto message = [&](int cseq, const std::string& auth) {
      return parse(with_body(
          "MESSAGE " + to + " SIP/2.0\r\nVia: SIP/2.0/UDP " + ip + ":5060;branch=z9hG4bKdm" +
              std::to_string(txn + cseq) + "\r\nFrom: \"" + name + " (desk)\" <sip:" + name +
              "@contoso.com>;tag=m\r\nTo: <" + to + ">\r\nCall-ID: dm-" + std::to_string(txn) +
              "\r\nCSeq: " + std::to_string(cseq) + " MESSAGE\r\nMax-Forwards: 70\r\n" + auth,
          text, type));
    };
    const sip::Peer from{"UDP", ip, 5060};
    ASSERT_TRUE(ua.handlers.on_request(txn, message(1, ""), from));
    const Sent challenge = ua.sent.back();
    ASSERT_EQ(challenge.status, 401);
    auto a = sip::digest_authorize(challenge.header("WWW-Authenticate"), "MESSAGE", to, name,
                                   name + "-pw", "c0ffee", 1);
    ASSERT_TRUE(a);
    ASSERT_TRUE(
        ua.handlers.on_request(txn + 1, message(2, "Authorization: " + a.value() + "\r\n"), from));
  }
  const Sent* answer_to(uint64_t txn) const { return last_sent(ua, "reply", txn + 1); }
  // The recorder answers the MESSAGE it was sent last in `session` with `status`.
  void recorder_says(uint64_t session, int status) {
    auto done = std::move(ua.message_done.at(session));
    ua.message_done.erase(session);
    ASSERT_TRUE(done);
    done(status, nullptr);
  }
  // The phone of the page `i` answers it.
  void phone_says(size_t i, int status) {
    auto done = std::move(ua.pages.at(i).done);
    ASSERT_TRUE(done);
    done(status, nullptr);
  }
};

TEST_F(DirectChat, AMessageIsKeptByTheRecorderOfEitherPartyFirstThenRelayedToThePhone) {
  start();
  // Bob (recorded by Traders) writes to Carol (not recorded).
  send("bob", "192.0.2.20", "sip:carol@contoso.com", "Can you do 5m at 101?", 100);
  const auto srs = ua.invites_to("sip:srs@");
  ASSERT_EQ(srs.size(), 1u) << "the conversation's recording session";
  const auto& offer = ua.placed.at(srs[0]);
  EXPECT_EQ(offer.body.find("m=audio"), std::string::npos) << "no media: a conversation";
  EXPECT_NE(offer.body.find("aor=\"sip:bob@contoso.com\""), std::string::npos) << offer.body;
  EXPECT_NE(offer.body.find("aor=\"sip:carol@contoso.com\""), std::string::npos);
  EXPECT_NE(offer.body.find("callId=\"chat-"), std::string::npos);
  EXPECT_NE(offer.body.find("policy=\"Traders\""), std::string::npos);
  EXPECT_TRUE(ua.pages.empty()) << "not relayed before it is kept";
  EXPECT_EQ(answer_to(100), nullptr);
  recorders_answer();
  const Sent* kept = last_sent(ua, "message", srs[0]);
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(kept->reason, "message/cpim");
  auto cpim = sip::parse_cpim(kept->body);
  ASSERT_TRUE(cpim) << kept->body;
  EXPECT_EQ(cpim.value().from, "\"bob (desk)\" <sip:bob@contoso.com>");
  EXPECT_EQ(sip::cpim_address(cpim.value().to), "sip:carol@contoso.com");
  EXPECT_EQ(cpim.value().body, "Can you do 5m at 101?");
  EXPECT_TRUE(ua.pages.empty()) << "not relayed before the recorder said it has it";
  recorder_says(srs[0], 200);
  ASSERT_EQ(ua.pages.size(), 1u);
  EXPECT_EQ(ua.pages[0].message.request_uri, "sip:carol@192.0.2.30:5060");
  EXPECT_EQ(ua.pages[0].message.next_hop.address, "192.0.2.30");
  EXPECT_EQ(ua.pages[0].message.from, "\"bob (desk)\" <sip:bob@contoso.com>");
  EXPECT_EQ(ua.pages[0].message.body, "Can you do 5m at 101?");
  EXPECT_EQ(ua.pages[0].message.max_forwards, 69);
  EXPECT_EQ(answer_to(100), nullptr) << "answered once the phone has it";
  phone_says(0, 200);
  ASSERT_NE(answer_to(100), nullptr);
  EXPECT_EQ(answer_to(100)->status, 200);
  // Carol answers: the same conversation (Bob's policy records it), no second session.
  send("carol", "192.0.2.30", "sip:bob@contoso.com", "Done.", 200);
  EXPECT_EQ(ua.invites_to("sip:srs@").size(), 1u);
  ASSERT_TRUE(sip::parse_cpim(last_sent(ua, "message", srs[0])->body));
  EXPECT_EQ(sip::cpim_address(sip::parse_cpim(last_sent(ua, "message", srs[0])->body).value().from),
            "sip:carol@contoso.com");
  recorder_says(srs[0], 200);
  ASSERT_EQ(ua.pages.size(), 2u);
  EXPECT_EQ(ua.pages[1].message.request_uri, "sip:bob@192.0.2.20:5060");
  phone_says(1, 200);
  EXPECT_EQ(answer_to(200)->status, 200);
  EXPECT_EQ(gw->metrics().chat_messages, 2u);
  EXPECT_EQ(gw->metrics().chat_recordings, 1u);
  EXPECT_EQ(gw->status()["chatConversations"], 1u);
  // Quiet for ten minutes: the session ends; the next message opens another.
  advance(std::chrono::minutes(10) + seconds(2));
  EXPECT_NE(ua.find("hangup", srs[0]), nullptr);
  EXPECT_EQ(gw->status()["chatConversations"], 0u);
  send("bob", "192.0.2.20", "sip:carol@contoso.com", "Still there?", 300);
  EXPECT_EQ(ua.invites_to("sip:srs@").size(), 2u);
}

TEST_F(DirectChat, UsersNobodyRecordsChatDirectlyAndBadRequestsAreRefusedWithTheReason) {
  start();
  send("carol", "192.0.2.30", "sip:dave@contoso.com", "lunch?", 100);
  EXPECT_TRUE(ua.invites_to("sip:srs@").empty());
  ASSERT_EQ(ua.pages.size(), 1u);
  EXPECT_EQ(ua.pages[0].message.request_uri, "sip:dave@192.0.2.40:5060");
  phone_says(0, 486);
  EXPECT_EQ(answer_to(100)->status, 486) << "the phone's refusal, passed on";
  // No answer from the phone: 202 Accepted after 8 s (delivery goes on), nothing after that.
  send("carol", "192.0.2.30", "sip:dave@contoso.com", "hello?", 110);
  advance(seconds(8));
  EXPECT_EQ(answer_to(110)->status, 202);
  phone_says(1, 408);
  EXPECT_EQ(answer_to(110)->status, 202);
  // A phone's challenge is not the sender's to answer: to it, Dave is not reachable.
  send("carol", "192.0.2.30", "sip:dave@contoso.com", "hello??", 115);
  phone_says(2, 407);
  EXPECT_EQ(answer_to(115)->status, 480);
  EXPECT_EQ(answer_to(115)->header("WWW-Authenticate"), "");
  // Only text, not too long, only to users, only when registered.
  send("carol", "192.0.2.30", "sip:dave@contoso.com", "GIF89a", 120, "image/gif");
  EXPECT_EQ(answer_to(120)->status, 415);
  send("carol", "192.0.2.30", "sip:dave@contoso.com", std::string(17000, 'x'), 130);
  EXPECT_EQ(answer_to(130)->status, 413);
  send("carol", "192.0.2.30", "sip:nobody@contoso.com", "hi", 140);
  EXPECT_EQ(answer_to(140)->status, 404);
  EXPECT_NE(answer_to(140)->header("Warning").find("users of this gateway"), std::string::npos);
  {
    std::lock_guard lock(svc.mutex());
    add_user("u-erin", "erin", "+14255550105", "");
    ASSERT_TRUE(svc.commit("test"));
  }
  send("carol", "192.0.2.30", "sip:erin@contoso.com", "hi", 150);
  EXPECT_EQ(answer_to(150)->status, 480);
  EXPECT_NE(answer_to(150)->header("Warning").find("not registered"), std::string::npos);
  EXPECT_EQ(ua.pages.size(), 3u);
  EXPECT_EQ(gw->metrics().chat_refused, 4u);
}

TEST_F(DirectChat, ARequiredRecorderThatCannotKeepItMeansTheMessageIsNotSent) {
  start();
  send("carol", "192.0.2.30", "sip:bob@contoso.com", "Buy 10k", 100);
  const uint64_t srs = ua.invites_to("sip:srs@").at(0);
  ua.handlers.on_failed(srs, 503, nullptr);
  ASSERT_NE(answer_to(100), nullptr);
  EXPECT_EQ(answer_to(100)->status, 480);
  EXPECT_NE(answer_to(100)->header("Reason").find(detail::kRecordingFailedText), std::string::npos);
  EXPECT_NE(answer_to(100)->header("Warning").find("Recorder could not keep it"), std::string::npos)
      << answer_to(100)->header("Warning");
  EXPECT_TRUE(ua.pages.empty());
  // A recorder that does not answer within recording_setup_timeout: the same.
  send("carol", "192.0.2.30", "sip:bob@contoso.com", "Buy 10k", 110);
  ASSERT_EQ(ua.invites_to("sip:srs@").size(), 2u);
  advance(seconds(5));
  EXPECT_EQ(answer_to(110)->status, 480);
  EXPECT_NE(answer_to(110)->header("Warning").find("within 5000 ms"), std::string::npos);
  // Up, but refusing the message: the same again.
  recorders_answer();
  send("carol", "192.0.2.30", "sip:bob@contoso.com", "Buy 10k", 120);
  recorder_says(ua.invites_to("sip:srs@").at(1), 500);
  EXPECT_EQ(answer_to(120)->status, 480);
  EXPECT_TRUE(ua.pages.empty());
  EXPECT_EQ(gw->metrics().chat_refused, 3u);
  EXPECT_EQ(gw->metrics().chat_messages, 0u);
}

TEST_F(DirectChat, ANonRequiredRecorderNeverBlocksAndAFailedOneFailsOverFirst) {
  start([](policy::Policy& p) { p.applications[0].required_before_call_establishment = false; });
  {
    std::lock_guard lock(svc.mutex());
    svc.state().put_endpoint(
        policy::RecorderEndpoint{"e2", "app-1", "sip:srs2@192.0.2.51:5060", "", "", true});
    ASSERT_TRUE(svc.commit("test"));
  }
  send("bob", "192.0.2.20", "sip:carol@contoso.com", "first", 100);
  const uint64_t first = ua.invites_to("sip:srs").at(0);
  ua.handlers.on_failed(first, 503, nullptr);
  const auto tried = ua.invites_to("sip:srs");
  ASSERT_EQ(tried.size(), 2u) << "the application's next endpoint";
  EXPECT_EQ(ua.placed.at(tried[1]).request_uri, "sip:srs2@192.0.2.51:5060");
  EXPECT_TRUE(ua.pages.empty());
  ua.handlers.on_answered(tried[1], response_to(ua.placed.at(tried[1]), 200, "OK",
                                                recorder_answer(ua.placed.at(tried[1]).body)));
  recorder_says(tried[1], 200);
  ASSERT_EQ(ua.pages.size(), 1u);
  // Both endpoints lost: relayed all the same (not required), and counted.
  ua.handlers.on_ended(tried[1], "bye");
  send("bob", "192.0.2.20", "sip:carol@contoso.com", "second", 110);
  std::set<uint64_t> failed{first, tried[1]};
  for (bool more = true; more;) {  // each failure tries the next endpoint, until none is left
    more = false;
    for (uint64_t s : ua.invites_to("sip:srs")) {
      if (failed.insert(s).second) ua.handlers.on_failed(s, 503, nullptr), more = true;
    }
  }
  EXPECT_EQ(failed.size(), 4u) << "both endpoints tried again";
  ASSERT_EQ(ua.pages.size(), 2u);
  EXPECT_EQ(ua.pages[1].message.body, "second");
  EXPECT_EQ(gw->metrics().chat_unrecorded, 1u);
}

TEST_F(GatewayMeetings, AReplacementRecorderLearnsWhoIsMutedInItsFirstSnapshot) {
  const Meeting m = start_meetings("gw-meeting-replaced-mute");
  second_endpoint();
  const std::string uri = "sip:meet-" + m.id + "@contoso.com";
  user_call("carol", "192.0.2.30", uri, "mc");
  user_call("bob", "192.0.2.20", uri, "mb");
  const uint64_t first = ua.invites_to("sip:srs").at(0);
  const auto& offer = ua.placed.at(first);
  ua.handlers.on_answered(first, response_to(offer, 200, "OK", recorder_answer(offer.body)));
  ControlRequest r;
  r.call_id = "meet-" + m.id;
  r.action = "mute";
  r.party = "sip:carol@contoso.com";
  r.requested_by = "bob@contoso.com";
  ASSERT_TRUE(gw->control(r));
  EXPECT_EQ(offer.body.find("vb:muted"), std::string::npos);
  // The recorder is lost; its replacement's first offer says Carol is muted, and by whom.
  ua.handlers.on_ended(first, "bye");
  const auto all = ua.invites_to("sip:srs");
  ASSERT_EQ(all.size(), 2u);
  const std::string& snapshot = ua.placed.at(all[1]).body;
  EXPECT_NE(snapshot.find("vb:muted"), std::string::npos) << snapshot;
  EXPECT_NE(snapshot.find("by=\"bob@contoso.com\""), std::string::npos) << snapshot;
  EXPECT_EQ(count(snapshot, "vb:muted xmlns"), 1u) << "Carol's alone";
}

TEST_F(GatewayMeetings, TheOrganiserMutesUnmutesAndRemovesAMemberAndTheRecordersAreTold) {
  const Meeting m = start_meetings("gw-meeting-control");
  const std::string uri = "sip:meet-" + m.id + "@contoso.com";
  const uint64_t carol = user_call("carol", "192.0.2.30", uri, "mc");
  const uint64_t bob = user_call("bob", "192.0.2.20", uri, "mb");
  recorders_answer();
  const uint64_t srs = ua.invites_to("sip:srs@").at(0);
  auto ask = [&](const std::string& action, const std::string& who) {
    ControlRequest r;
    r.call_id = "meet-" + m.id;
    r.action = action;
    r.party = who;
    r.requested_by = "bob@contoso.com";
    return gw->control(r);
  };
  EXPECT_FALSE(ask("mute", "sip:dave@contoso.com")) << "not in the meeting";
  ASSERT_TRUE(ask("mute", "sip:carol@contoso.com"));
  const Sent* update = last_sent(ua, "update", srs);
  ASSERT_NE(update, nullptr);
  EXPECT_NE(update->body.find("muted"), std::string::npos) << update->body;
  EXPECT_NE(update->body.find("bob@contoso.com"), std::string::npos) << "who muted her";
  EXPECT_TRUE(gw->status()["meetings"][0]["members"][0]["muted"].get<bool>() ||
              gw->status()["meetings"][0]["members"][1]["muted"].get<bool>());
  // Muted: Bob hears nothing of her, her recorder still gets her packets.
  advance(seconds(8));  // the notices have played
  auto* carol_port = media.taps.at(0).get();
  const udp::endpoint carol_phone(asio::ip::make_address("192.0.2.30"), 30000);
  auto* bob_port = media.taps.at(1).get();
  for (uint16_t seq = 0; seq < 10; ++seq) {
    carol_port->handler(carol_phone, member_packet(seq));
    advance(milliseconds(20));
  }
  size_t loud = 0;
  for (size_t i = 12; i < bob_port->sent.back().second.size(); ++i) {
    loud += (bob_port->sent.back().second[i] & 0x7f) < 0x60 ? 1 : 0;
  }
  EXPECT_EQ(loud, 0u) << "Bob hears Carol while she is muted";
  EXPECT_EQ(copy_to(media, 40000)->sent.back().second, member_packet(9));
  ASSERT_TRUE(ask("unmute", "sip:carol@contoso.com"));
  for (uint16_t seq = 10; seq < 20; ++seq) {
    carol_port->handler(carol_phone, member_packet(seq));
    advance(milliseconds(20));
  }
  loud = 0;
  for (size_t i = 12; i < bob_port->sent.back().second.size(); ++i) {
    loud += (bob_port->sent.back().second[i] & 0x7f) < 0x60 ? 1 : 0;
  }
  EXPECT_GT(loud, 100u) << "Bob hears Carol again";
  // Removed: her call ends with the reason; Bob stays.
  ASSERT_TRUE(ask("remove", "sip:carol@contoso.com"));
  const Sent* bye = ua.find("hangup", carol);
  ASSERT_NE(bye, nullptr);
  EXPECT_NE(bye->header("Reason").find("removed from the meeting by bob@contoso.com"),
            std::string::npos);
  EXPECT_EQ(ua.find("hangup", bob), nullptr);
  EXPECT_EQ(gw->metrics().meeting_controls, 3u);
}

// --- video and screen share in meetings (meeting_video.cc) -----------------------------------

namespace {

// A phone at `ip` with audio (30000), a camera (30002: H.263, which is not forwarded, then VP8)
// and with `slides` a screen share (30004), then `more` lines.
std::string video_sdp(const std::string& ip, bool slides, const std::string& more = "") {
  std::string s = sdp_body(ip, 30000) +
                  "m=video 30002 RTP/AVPF 97 96\r\na=rtpmap:97 H263-1998/90000\r\n"
                  "a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack pli\r\n";
  if (slides) {
    s += "m=video 30004 RTP/AVPF 96\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:* ccm fir\r\n"
         "a=content:slides\r\n";
  }
  return s + more;
}

std::vector<uint8_t> vp8(uint16_t seq, uint32_t ssrc, bool key) {
  std::vector<uint8_t> p;
  media::write_rtp_header(p, 96, true, seq, seq * 3000u, ssrc);
  p.insert(p.end(), {0x10, static_cast<uint8_t>(key ? 0x50 : 0x51), 0x2a, 0x00});
  return p;
}

}  // namespace

TEST_F(GatewayMeetings, VideoGoesFromTheSpeakerSwitchedAtKeyframesAndTheScreenFromOnePresenter) {
  const Meeting m = start_meetings("gw-meeting-video");
  const std::string uri = "sip:meet-" + m.id + "@contoso.com";
  const uint64_t carol =
      user_call("carol", "192.0.2.30", uri, "vc", "", video_sdp("192.0.2.30", true));
  const uint64_t dave =
      user_call("dave", "192.0.2.40", uri, "vd", "",
                video_sdp("192.0.2.40", false, "m=application 30006 TCP/BFCP *\r\n"));
  const Sent* ok = ua.find("accept", carol);
  ASSERT_NE(ok, nullptr);
  // Each offered line answered in place: the camera in VP8 (H.263 is not forwarded), the screen
  // share marked as such, and Dave's floor control declined.
  EXPECT_EQ(count(ok->body, "m=video "), 2u) << ok->body;
  EXPECT_NE(ok->body.find("RTP/AVPF 96\r\n"), std::string::npos);
  EXPECT_NE(ok->body.find("a=rtcp-fb:96 nack pli"), std::string::npos);
  EXPECT_NE(ok->body.find("a=rtcp-fb:96 ccm fir"), std::string::npos) << "it takes only FIR";
  EXPECT_NE(ok->body.find("a=content:slides"), std::string::npos);
  ASSERT_NE(ua.find("accept", dave), nullptr);
  EXPECT_NE(ua.find("accept", dave)->body.find("m=application 0 TCP/BFCP"), std::string::npos);
  // The ports: Carol's audio, camera and screen, then Dave's audio and camera.
  ASSERT_EQ(media.taps.size(), 5u);
  auto* carol_cam = media.taps[1].get();
  auto* carol_screen = media.taps[2].get();
  auto* dave_audio = media.taps[3].get();
  auto* dave_cam = media.taps[4].get();
  const udp::endpoint carol_video(asio::ip::make_address("192.0.2.30"), 30002);
  const udp::endpoint dave_video(asio::ip::make_address("192.0.2.40"), 30002);
  // Carol's camera: Dave wants it but gets nothing before a keyframe, which Carol is asked for
  // (a PLI, to her RTCP port).
  carol_cam->handler(carol_video, vp8(1, 0xCA201, false));
  advance(milliseconds(20));
  EXPECT_TRUE(dave_cam->sent.empty());
  ASSERT_EQ(carol_cam->rtcp_sent.size(), 1u);
  EXPECT_EQ(carol_cam->rtcp_sent[0].first.port(), 30003);
  EXPECT_EQ(media::keyframe_requests(carol_cam->rtcp_sent[0].second),
            std::vector<uint32_t>{0xCA201});
  carol_cam->handler(carol_video, vp8(2, 0xCA201, false));
  EXPECT_TRUE(dave_cam->sent.empty());
  carol_cam->handler(carol_video, vp8(3, 0xCA201, true));
  carol_cam->handler(carol_video, vp8(4, 0xCA201, false));
  ASSERT_EQ(dave_cam->sent.size(), 2u);
  EXPECT_EQ(dave_cam->sent[0].first, dave_video);
  auto seen = media::parse_rtp(dave_cam->sent[1].second);
  ASSERT_TRUE(seen);
  const uint32_t dave_sees = seen.value().ssrc;
  EXPECT_NE(dave_sees, 0xCA201u) << "one stream of ours, whoever sends";
  EXPECT_EQ(seen.value().payload_type, 96);
  // Dave lost something and asks for a keyframe: Carol is asked (not more than one per 300 ms).
  advance(milliseconds(300));
  std::vector<uint8_t> pli;
  media::write_keyframe_request(pli, 0xDA7E, dave_sees, false, 0);
  dave_cam->rtcp_handler(udp::endpoint(dave_video.address(), 30003), pli);
  EXPECT_EQ(carol_cam->rtcp_sent.size(), 2u);
  dave_cam->rtcp_handler(udp::endpoint(dave_video.address(), 30003), pli);
  EXPECT_EQ(carol_cam->rtcp_sent.size(), 2u);
  EXPECT_EQ(gw->status()["meetings"][0]["speaker"], "sip:carol@contoso.com");
  // Dave's camera starts and he talks: Carol sees him at once (she does not see herself), and
  // after 300 ms of his speech he is the speaker.
  const udp::endpoint dave_phone(asio::ip::make_address("192.0.2.40"), 30000);
  for (uint16_t seq = 1; seq <= 40; ++seq) {
    dave_audio->handler(dave_phone, member_packet(seq));
    dave_cam->handler(dave_video, vp8(seq, 0xDA7E, seq % 10 == 1));
    carol_cam->handler(carol_video, vp8(static_cast<uint16_t>(seq + 4), 0xCA201, false));
    advance(milliseconds(20));
  }
  EXPECT_EQ(gw->status()["meetings"][0]["speaker"], "sip:dave@contoso.com");
  ASSERT_FALSE(carol_cam->sent.empty());
  EXPECT_NE(media::parse_rtp(carol_cam->sent.back().second).value().ssrc, 0xDA7Eu);
  // Carol shares her screen: she is the presenter (Dave has no screen line: nothing to send him).
  const udp::endpoint carol_slides(asio::ip::make_address("192.0.2.30"), 30004);
  carol_screen->handler(carol_slides, vp8(1, 0x5C4EE, true));
  advance(milliseconds(20));
  EXPECT_EQ(gw->status()["meetings"][0]["presenter"], "sip:carol@contoso.com");
  EXPECT_EQ(gw->metrics().meeting_presenter_changes, 1u);
  const auto cam_status = gw->status()["meetings"][0]["members"];
  EXPECT_TRUE(cam_status[0].contains("screenShare") || cam_status[1].contains("screenShare"));
  // She stops sharing (the line closed in a re-INVITE): no presenter, the port is given back.
  auto reinvite = [&](const std::string& body) {
    return ua.handlers.on_reoffer(
        carol, parse(with_body("INVITE sip:gw@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP "
                               "192.0.2.30:5060;branch=z9hG4bKr\r\nFrom: <sip:carol@contoso.com>;"
                               "tag=u\r\nTo: <sip:gw@192.0.2.1>;tag=gw\r\nCall-ID: vc\r\nCSeq: 5 "
                               "INVITE\r\nMax-Forwards: 70\r\n",
                               body, "application/sdp")));
  };
  std::string stopped = video_sdp("192.0.2.30", true);
  stopped.replace(stopped.find("m=video 30004"), 13, "m=video 0");
  auto answer = reinvite(stopped);
  ASSERT_TRUE(answer) << answer.error().message;
  EXPECT_EQ(count(answer.value(), "m=video 0 "), 1u) << answer.value();
  EXPECT_TRUE(carol_screen->closed);
  advance(milliseconds(20));
  EXPECT_EQ(gw->status()["meetings"][0]["presenter"], "");
  // An offer with fewer lines than before is refused (RFC 3264 §8).
  EXPECT_FALSE(reinvite(sdp_body("192.0.2.30", 30000)));
  ua.handlers.on_ended(carol, "bye");
  ua.handlers.on_ended(dave, "bye");
  EXPECT_EQ(media.open_ports, 0);
}

TEST_F(GatewayMeetings, AMembersCameraAndScreenAreRecordedOnLinesOfTheirOwnAsOneParticipant) {
  const Meeting m = start_meetings("gw-meeting-video-rec");
  const std::string uri = "sip:meet-" + m.id + "@contoso.com";
  // Bob is recorded; he joins with his camera and screen share.
  const uint64_t bob = user_call("bob", "192.0.2.20", uri, "vb", "", video_sdp("192.0.2.20", true));
  ASSERT_EQ(ua.invites_to("sip:srs@").size(), 1u);
  const uint64_t srs = ua.invites_to("sip:srs@")[0];
  const std::string& offer = ua.placed.at(srs).body;
  EXPECT_EQ(audio_lines(offer), 1u) << offer;
  EXPECT_EQ(count(offer, "\nm=video "), 2u) << offer;
  EXPECT_EQ(count(offer, "a=content:slides"), 1u);
  EXPECT_EQ(count(offer, "<participant "), 1u) << "one participant, three streams";
  EXPECT_EQ(count(offer, "<send>"), 3u) << offer;
  recorders_answer();
  ASSERT_NE(ua.find("accept", bob), nullptr);
  // His camera's and screen's packets reach the recorder as sent, each on its own line.
  const udp::endpoint cam(asio::ip::make_address("192.0.2.20"), 30002);
  const udp::endpoint screen(asio::ip::make_address("192.0.2.20"), 30004);
  // Taps: Bob's audio, camera, screen; then the recorder's three copies.
  media.taps.at(1)->handler(cam, vp8(1, 0xB0B, true));
  media.taps.at(2)->handler(screen, vp8(1, 0xB0B5, true));
  ASSERT_NE(copy_to(media, 40002), nullptr);
  EXPECT_EQ(copy_to(media, 40002)->sent.back().second, vp8(1, 0xB0B, true));
  ASSERT_NE(copy_to(media, 40004), nullptr);
  EXPECT_EQ(copy_to(media, 40004)->sent.back().second, vp8(1, 0xB0B5, true));
  // He presents: the recorder is told, in a partial update for his participant.
  advance(milliseconds(20));
  const Sent* update = last_sent(ua, "update", srs);
  ASSERT_NE(update, nullptr);
  EXPECT_NE(update->body.find("presenting"), std::string::npos) << update->body;
  // Carol joins with a camera: one re-offer, her participant once with two streams.
  const uint64_t carol =
      user_call("carol", "192.0.2.30", uri, "vc2", "", video_sdp("192.0.2.30", false));
  ASSERT_NE(ua.find("accept", carol), nullptr);
  advance(milliseconds(20));
  const Sent* re = last_sent(ua, "reinvite", srs);
  ASSERT_NE(re, nullptr);
  EXPECT_EQ(count(re->body, "\nm=video "), 3u) << re->body;
  EXPECT_EQ(count(re->body, "<participant "), 1u) << re->body;
  EXPECT_EQ(count(re->body, "<send>"), 2u) << re->body;
  ua.handlers.on_ended(carol, "bye");
  ua.handlers.on_ended(bob, "bye");
  EXPECT_EQ(media.open_ports, 0);
}

}  // namespace
}  // namespace verbatim::gateway::calls_test

namespace verbatim::gateway::calls_test {
namespace {

// --- ad-hoc conferences (adhoc_conference.cc, RFC 4579) --------------------------------------

TEST_F(GatewayMeetings, TheConferenceFactoryMakesAMeetingOnTheSpotAndACallEscalatesToItByRefer) {
  start_meetings("gw-adhoc");
  // Carol calls the factory: a meeting is made for her, and she is answered as its focus.
  const uint64_t carol = user_call("carol", "192.0.2.30", "sip:conference@contoso.com", "ah1");
  const Sent* ok = ua.find("accept", carol);
  ASSERT_NE(ok, nullptr);
  const std::string focus = ok->header("Focus");
  ASSERT_EQ(focus.rfind("meet-", 0), 0u) << focus;
  const nlohmann::json meeting = gw->status()["meetings"][0];
  EXPECT_EQ(meeting["meeting"], focus.substr(5));
  EXPECT_EQ(meeting["organizer"], "carol@contoso.com");
  EXPECT_EQ(meeting["subject"].get<std::string>().rfind("Ad-hoc conference (", 0), 0u);
  EXPECT_EQ(gw->metrics().meeting_adhoc, 1u);
  // The trunk cannot make one: only users (it is routed as any number, to no one here).
  const uint64_t pstn = call("sip:conference@contoso.com", "ah2");
  EXPECT_EQ(gw->metrics().meeting_adhoc, 1u);
  EXPECT_EQ(ua.find("accept", pstn), nullptr);
  // A call from the trunk to Carol's other line: she merges it into her conference, a REFER
  // with the conference's URI, which the gateway passes on to the caller's side.
  const uint64_t caller = call("sip:carol@contoso.com", "ah3");
  const uint64_t carol_leg = ua.invites_to("sip:carol@").back();
  answer(carol_leg);
  const std::string to = "sip:" + focus + "@contoso.com";
  ASSERT_TRUE(ua.handlers.on_refer(carol_leg, request("REFER", "Refer-To: <" + to + ">\r\n")));
  const Sent* refer = ua.find("refer", caller);
  ASSERT_NE(refer, nullptr);
  EXPECT_EQ(refer->body, "<" + to + ">");
  EXPECT_EQ(gw->metrics().meeting_escalations, 1u);
  // A second REFER while the first is out is declined.
  EXPECT_FALSE(ua.handlers.on_refer(carol_leg, request("REFER", "Refer-To: <" + to + ">\r\n")));
  // The caller's phone says how it goes; Carol is told each step, and the last one ends it.
  ua.handlers.on_refer_progress(caller, 180);
  ua.handlers.on_refer_progress(caller, 200);
  ua.handlers.on_refer_progress(caller, 200);  // a late duplicate: nothing more
  std::vector<int> told;
  for (const auto& s : ua.sent) {
    if (s.what == "notify" && s.session == carol_leg) told.push_back(s.status);
  }
  EXPECT_EQ(told, (std::vector<int>{180, 200}));
  // Another call whose far end refuses the REFER (a trunk without it): Carol hears that status
  // and the call stays as it was.
  const uint64_t caller2 = call("sip:carol@contoso.com", "ah4");
  const uint64_t carol_leg2 = ua.invites_to("sip:carol@").back();
  answer(carol_leg2);
  ASSERT_TRUE(ua.handlers.on_refer(carol_leg2, request("REFER", "Refer-To: <" + to + ">\r\n")));
  ua.refer_done.at(caller2)(405, nullptr);
  const Sent* refused = last_sent(ua, "notify", carol_leg2);
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(refused->status, 405);
  EXPECT_EQ(ua.find("hangup", caller2), nullptr);
  EXPECT_EQ(ua.find("hangup", carol_leg2), nullptr);
}

}  // namespace

namespace {

constexpr const char* kSuite = "AES_CM_128_HMAC_SHA1_80";

// A phone's SRTP (SDES) offer at `ip`: PCMU audio and, with `camera_key`, a VP8 camera.
std::string savp_sdp(const std::string& ip, const std::string& audio_key,
                     const std::string& camera_key = "") {
  std::string s = sdp_body(ip, 30000);
  s.replace(s.find("RTP/AVP"), 7, "RTP/SAVP");
  s += "a=crypto:2 " + std::string(kSuite) + " " + audio_key + "\r\n";
  if (!camera_key.empty()) {
    s += "m=video 30002 RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack pli\r\n"
         "a=crypto:1 " +
         std::string(kSuite) + " " + camera_key + "\r\n";
  }
  return s;
}

std::unique_ptr<media::SrtpSender> srtp_sender(const std::string& key) {
  return media::SrtpSender::create(media::parse_sdes_key(kSuite, key).value()).value();
}

// Our key for m-line `line` of an answer, as a receiver of what we send there.
std::unique_ptr<media::SrtpReceiver> our_key(const std::string& answer, size_t line) {
  const auto sdp = sip::parse_sdp(answer).value();
  const auto cryptos = sdp.media.at(line).cryptos();
  EXPECT_EQ(cryptos.size(), 1u) << answer;
  if (cryptos.empty()) return nullptr;
  return media::SrtpReceiver::create(
             media::parse_sdes_key(cryptos[0].suite, cryptos[0].key_params).value())
      .value();
}

std::vector<uint8_t> protect(media::SrtpSender& s, std::vector<uint8_t> p, bool rtcp = false) {
  EXPECT_TRUE(s.protect(p, rtcp));
  return p;
}

bool unprotects(media::SrtpReceiver& r, std::vector<uint8_t> p, bool rtcp = false) {
  size_t n = p.size();
  return r.unprotect(p.data(), n, rtcp) == media::SrtpReceiver::Outcome::kOk;
}

// The focus dials out (RFC 4579 §5.3): Carol, in a meeting, REFERs the focus to Dave. Every
// registration of Dave's is called from the meeting's URI, as its focus, with audio in each codec
// the meeting mixes; his answer makes him a member, and Carol is told each step in NOTIFYs. A
// user whose phone refuses: Carol is told that status.
TEST_F(GatewayMeetings, AMembersReferMakesTheFocusCallSomeoneInAndTellsHowItWent) {
  const Meeting m = start_meetings("gw-meeting-dial-out");
  const std::string uri = "sip:meet-" + m.id + "@contoso.com";
  const uint64_t carol = user_call("carol", "192.0.2.30", uri, "dc");
  ASSERT_NE(ua.find("accept", carol), nullptr);
  auto refer = [&](const std::string& to) {
    return ua.handlers.on_refer(carol, request("REFER", "Refer-To: <" + to + ">\r\n"));
  };
  // Declined: a meeting, someone who is not a user, Carol herself, a method other than INVITE.
  EXPECT_FALSE(refer(uri));
  EXPECT_FALSE(refer("sip:nobody@contoso.com"));
  EXPECT_FALSE(refer("sip:carol@contoso.com"));
  EXPECT_FALSE(refer("sip:dave@contoso.com;method=BYE"));
  ASSERT_TRUE(refer("sip:dave@contoso.com"));
  EXPECT_FALSE(refer("sip:dave@contoso.com")) << "being called already";
  EXPECT_TRUE(ua.invites_to("sip:dave@").empty()) << "called after the 202";
  advance(milliseconds(1));
  ASSERT_EQ(ua.invites_to("sip:dave@").size(), 1u);
  const uint64_t dave = ua.invites_to("sip:dave@")[0];
  const sip::OutgoingCall& placed = ua.placed.at(dave);
  EXPECT_NE(placed.from.find("<" + m.uri + ">"), std::string::npos) << placed.from;
  EXPECT_EQ(placed.contact_user, "meet-" + m.id);
  EXPECT_EQ(placed.contact_params, ";isfocus");
  for (const char* codec : {"G722/8000", "opus/48000/2", "PCMU/8000", "PCMA/8000"}) {
    EXPECT_NE(placed.body.find(codec), std::string::npos) << placed.body;
  }
  // Dave's phone rings, then answers in PCMU: he is in the meeting, and heard.
  ua.handlers.on_progress(dave, response_to(placed, 180, "Ringing", ""));
  ua.handlers.on_answered(dave, response_to(placed, 200, "OK", sdp_body("192.0.2.40", 30000)));
  std::vector<int> told;
  for (const auto& sent : ua.sent) {
    if (sent.what == "notify" && sent.session == carol) told.push_back(sent.status);
  }
  EXPECT_EQ(told, (std::vector<int>{180, 200}));
  nlohmann::json members = gw->status()["meetings"][0]["members"];
  ASSERT_EQ(members.size(), 2u) << members;
  EXPECT_EQ(members[1]["aor"], "sip:dave@contoso.com");
  EXPECT_EQ(members[1]["codec"], "PCMU");
  EXPECT_TRUE(members[1]["admitted"].get<bool>());
  const udp::endpoint dave_phone(asio::ip::make_address("192.0.2.40"), 30000);
  for (uint16_t seq = 1; seq <= 3; ++seq) media.taps.at(1)->handler(dave_phone, member_packet(seq));
  advance(milliseconds(100));
  EXPECT_EQ(gw->status()["meetings"][0]["members"][1]["packetsIn"], 3u);
  EXPECT_FALSE(media.taps.at(0)->sent.empty()) << "Carol hears the mix";
  EXPECT_FALSE(media.taps.at(1)->sent.empty()) << "and so does Dave";
  ua.handlers.on_ended(dave, "bye");
  EXPECT_EQ(gw->status()["meetings"][0]["members"].size(), 1u);
  // Bob's phone refuses: Carol hears 486, and the port is given back.
  const int open = media.open_ports;
  ASSERT_TRUE(refer("sip:bob@contoso.com"));
  advance(milliseconds(1));
  const uint64_t bob = ua.invites_to("sip:bob@").back();
  const sip::Message busy = response_to(ua.placed.at(bob), 486, "Busy Here", "");
  ua.handlers.on_failed(bob, 486, &busy);
  const Sent* last = last_sent(ua, "notify", carol);
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(last->status, 486);
  EXPECT_EQ(media.open_ports, open);
  EXPECT_EQ(gw->metrics().meeting_dial_outs, 2u);
  EXPECT_EQ(gw->metrics().meeting_dial_outs_failed, 1u);
}

}  // namespace

// A browser joins a meeting (WebRTC): its audio and camera lines are answered each on a port of
// its own with ICE-lite credentials, our certificate, DTLS passive, rtcp-mux and its mids; only
// a checked address gets an answer to its checks counted, and nothing it sends is mixed before
// DTLS has keyed the line. An offer without a fingerprint is refused.
TEST_F(GatewayMeetings, ABrowserMemberIsAnsweredInWebRtcTermsAndNotHeardBeforeDtls) {
  const Meeting m = start_meetings("gw-meeting-webrtc");
  const std::string uri = "sip:meet-" + m.id + "@contoso.com";
  const std::string fingerprint = media::DtlsIdentity::generate().value()->fingerprint();
  auto line = [&](const std::string& kind, const std::string& mid, const std::string& codec) {
    return "m=" + kind + " 9 UDP/TLS/RTP/SAVPF " + codec.substr(0, codec.find(' ')) +
           "\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:brw" + mid +
           "\r\na=ice-pwd:0123456789abcdefghijkl\r\na=fingerprint:" + fingerprint +
           "\r\na=setup:actpass\r\na=mid:" + mid +
           "\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:" + codec + "\r\n";
  };
  const std::string offer =
      "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
      "a=group:BUNDLE 0 1\r\n" +
      line("audio", "0", "111 opus/48000/2") + line("video", "1", "96 VP8/90000") +
      "a=rtcp-fb:96 nack pli\r\n";
  const uint64_t carol = user_call("carol", "192.0.2.30", uri, "wm", "", offer);
  const Sent* ok = ua.find("accept", carol);
  ASSERT_NE(ok, nullptr);
  const auto sdp = sip::parse_sdp(ok->body).value();
  ASSERT_EQ(sdp.media.size(), 2u) << ok->body;
  EXPECT_NE(ok->body.find("a=ice-lite\r\n"), std::string::npos) << ok->body;
  std::vector<std::string> pwds;
  for (size_t i = 0; i < 2; ++i) {
    const auto& l = sdp.media[i];
    EXPECT_EQ(l.proto, "UDP/TLS/RTP/SAVPF") << i;
    EXPECT_EQ(l.attribute("mid"), std::to_string(i));
    EXPECT_EQ(l.attribute("setup"), "passive");
    EXPECT_TRUE(l.has_attribute("rtcp-mux"));
    EXPECT_EQ(l.attribute("fingerprint").value_or("").substr(0, 8), "sha-256 ");
    EXPECT_NE(l.attribute("fingerprint"), fingerprint);
    EXPECT_EQ(l.attribute("candidate"),
              "1 1 udp 2130706431 192.0.2.1 " + std::to_string(l.port) + " typ host");
    EXPECT_FALSE(l.has_attribute("crypto"));
    pwds.push_back(l.attribute("ice-pwd").value_or(""));
  }
  EXPECT_NE(pwds[0], pwds[1]) << "each line its own credentials";
  EXPECT_EQ(sdp.media[0].formats, (std::vector<std::string>{"111"}));
  EXPECT_EQ(sdp.media[1].formats, (std::vector<std::string>{"96"}));
  // Its audio port: a check with the right credentials is answered; SRTP-looking packets from
  // there before DTLS are not heard.
  auto& audio = *media.taps.at(0);
  ASSERT_EQ(audio.p, sdp.media[0].port);
  const udp::endpoint browser(asio::ip::make_address("192.0.2.30"), 50000);
  media::StunTransaction t{};
  t[0] = 1;
  audio.handler(browser,
                media::binding_request(t, sdp.media[0].attribute("ice-ufrag").value() + ":brw0",
                                       pwds[0], 100, true));
  ASSERT_EQ(audio.sent.size(), 1u);
  EXPECT_EQ(audio.sent[0].first, browser);
  EXPECT_EQ(media::mapped_address(audio.sent[0].second, pwds[0]), browser);
  for (uint16_t seq = 1; seq <= 3; ++seq) audio.handler(browser, member_packet(seq));
  advance(milliseconds(100));
  EXPECT_EQ(gw->status()["meetings"][0]["members"][0]["packetsIn"], 0u);

  // Without a fingerprint: refused.
  std::string bare = offer;
  for (size_t at; (at = bare.find("a=fingerprint:")) != std::string::npos;) {
    bare.erase(at, bare.find("\r\n", at) + 2 - at);
  }
  const uint64_t dave = user_call("dave", "192.0.2.40", uri, "wn", "", bare);
  const Sent* no = ua.find("reject", dave);
  ASSERT_NE(no, nullptr);
  EXPECT_EQ(no->status, 488);
  EXPECT_NE(no->header("Warning").find("a=fingerprint"), std::string::npos)
      << no->header("Warning");
}

// SDES-SRTP members (RFC 4568), with SRTP required: each line is answered with a key of ours;
// what a member sends is authenticated and decrypted before it is mixed, forwarded or copied to
// the recorders (who get it as sent, in the clear here: they did not take SRTP), and what it is
// sent is encrypted. A forgery is dropped and counted; a member in the clear is refused.
TEST_F(GatewayMeetings,
       SrtpMembersAreAnsweredWithOurKeysAndOnlyWhatAuthenticatesIsHeardOrRecorded) {
  const Meeting m = start_meetings("gw-meeting-member-srtp", [&](GatewayOptions& o) {
    o.require_srtp = true;
    o.recorder_srtp = true;
    o.allow_sdes_over_plain_sip = true;  // the fake's phones and recorder come over UDP
  });
  const std::string uri = "sip:meet-" + m.id + "@contoso.com";
  const std::string carol_audio = media::new_sdes_inline(kSuite);
  const std::string carol_camera = media::new_sdes_inline(kSuite);
  const std::string bob_audio = media::new_sdes_inline(kSuite);
  const std::string bob_camera = media::new_sdes_inline(kSuite);
  const uint64_t carol = user_call("carol", "192.0.2.30", uri, "sc", "",
                                   savp_sdp("192.0.2.30", carol_audio, carol_camera));
  const Sent* ok = ua.find("accept", carol);
  ASSERT_NE(ok, nullptr);
  EXPECT_NE(ok->body.find("m=audio"), std::string::npos);
  EXPECT_NE(ok->body.find(" RTP/SAVP 0 101\r\n"), std::string::npos) << ok->body;
  EXPECT_NE(ok->body.find(" RTP/SAVPF 96\r\n"), std::string::npos) << ok->body;
  EXPECT_NE(ok->body.find("a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:"), std::string::npos);
  auto to_carol = our_key(ok->body, 0);
  auto to_carol_camera = our_key(ok->body, 1);
  ASSERT_TRUE(to_carol && to_carol_camera);
  const uint64_t bob =
      user_call("bob", "192.0.2.20", uri, "sb", "", savp_sdp("192.0.2.20", bob_audio, bob_camera));
  // The recorder takes SRTP with a key of its own.
  const uint64_t srs = ua.invites_to("sip:srs@").at(0);
  const std::string offer = ua.placed.at(srs).body;
  std::string answer = recorder_answer(offer);
  for (size_t at = answer.find(" RTP/AVP"); at != std::string::npos;
       at = answer.find(" RTP/AVP", at)) {
    answer.replace(at, 8, " RTP/SAVP");
    const size_t end = answer.find("\r\n", at) + 2;
    answer.insert(
        end, "a=crypto:1 " + std::string(kSuite) + " " + media::new_sdes_inline(kSuite) + "\r\n");
  }
  ua.handlers.on_answered(srs, response_to(ua.placed.at(srs), 200, "OK", answer));
  const Sent* bob_ok = ua.find("accept", bob);
  ASSERT_NE(bob_ok, nullptr);
  auto to_bob = our_key(bob_ok->body, 0);
  ASSERT_TRUE(to_bob);
  // A phone in the clear does not join.
  const uint64_t dave = user_call("dave", "192.0.2.40", uri, "sd");
  ASSERT_NE(ua.find("reject", dave), nullptr);
  EXPECT_EQ(ua.find("reject", dave)->status, 488);
  // Ports: Carol's audio and camera, Bob's audio and camera, then the recorder's copies.
  auto* carol_port = media.taps.at(0).get();
  auto* carol_cam = media.taps.at(1).get();
  auto* bob_port = media.taps.at(2).get();
  auto* bob_cam = media.taps.at(3).get();
  const udp::endpoint carol_phone(asio::ip::make_address("192.0.2.30"), 30000);
  const udp::endpoint bob_phone(asio::ip::make_address("192.0.2.20"), 30000);
  auto carol_sends = srtp_sender(carol_audio);
  auto bob_sends = srtp_sender(bob_audio);
  auto forger = srtp_sender(media::new_sdes_inline(kSuite));
  for (uint16_t seq = 1; seq <= 5; ++seq) {
    carol_port->handler(carol_phone, protect(*carol_sends, member_packet(seq)));
    bob_port->handler(bob_phone, protect(*bob_sends, member_packet(seq)));
    advance(milliseconds(20));
  }
  // The recorder got Carol's audio as she sent it: decrypted, then encrypted under our key of
  // the recorder's session (its first m-line is hers).
  const auto* copy = copy_to(media, 40000);
  ASSERT_NE(copy, nullptr);
  const size_t sdp_at = offer.find("v=0");
  auto recorder_key = our_key(offer.substr(sdp_at, offer.find("\r\n--", sdp_at) + 2 - sdp_at), 0);
  ASSERT_TRUE(recorder_key);
  auto copied = copy->sent.back().second;
  size_t copied_size = copied.size();
  ASSERT_EQ(recorder_key->unprotect(copied.data(), copied_size, false),
            media::SrtpReceiver::Outcome::kOk);
  copied.resize(copied_size);
  EXPECT_EQ(copied, member_packet(5));
  const size_t copies = copy->sent.size();
  // A forgery (another key) is neither copied nor mixed: dropped and counted.
  carol_port->handler(carol_phone, protect(*forger, member_packet(6)));
  EXPECT_EQ(copy->sent.size(), copies);
  nlohmann::json members = gw->status()["meetings"][0]["members"];
  ASSERT_EQ(members.size(), 2u);
  for (const auto& member : members) {
    EXPECT_TRUE(member["srtp"].get<bool>()) << member;
    if (member["aor"] == "sip:carol@contoso.com") {
      EXPECT_EQ(member["srtpFailed"], 1u) << member;
      EXPECT_EQ(member["packetsIn"], 5u) << member;
    }
  }
  // What each is sent (the mix) is SRTP under our key of its answer, and only that.
  ASSERT_FALSE(carol_port->sent.empty());
  ASSERT_FALSE(bob_port->sent.empty());
  EXPECT_TRUE(unprotects(*to_carol, carol_port->sent.back().second));
  EXPECT_TRUE(unprotects(*to_bob, bob_port->sent.back().second));
  EXPECT_FALSE(unprotects(*to_bob, carol_port->sent.back().second)) << "Carol's key, not Bob's";
  // Video: Carol's camera, decrypted, is forwarded to Bob encrypted under Bob's key; the
  // keyframe request to Carol is SRTCP under her camera's key of ours.
  const udp::endpoint carol_video(asio::ip::make_address("192.0.2.30"), 30002);
  auto carol_cam_sends = srtp_sender(carol_camera);
  carol_cam->handler(carol_video, protect(*carol_cam_sends, vp8(1, 0xCA201, false)));
  advance(milliseconds(20));
  ASSERT_FALSE(carol_cam->rtcp_sent.empty());
  auto request = carol_cam->rtcp_sent.back().second;
  EXPECT_TRUE(media::keyframe_requests(request).empty()) << "encrypted";
  size_t n = request.size();
  ASSERT_EQ(to_carol_camera->unprotect(request.data(), n, true), media::SrtpReceiver::Outcome::kOk);
  request.resize(n);
  EXPECT_EQ(media::keyframe_requests(request), std::vector<uint32_t>{0xCA201});
  carol_cam->handler(carol_video, protect(*carol_cam_sends, vp8(2, 0xCA201, true)));
  ASSERT_FALSE(bob_cam->sent.empty());
  auto to_bob_camera = our_key(bob_ok->body, 1);
  ASSERT_TRUE(to_bob_camera);
  EXPECT_TRUE(unprotects(*to_bob_camera, bob_cam->sent.back().second));
}

}  // namespace verbatim::gateway::calls_test
