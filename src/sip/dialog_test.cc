#include "sip/dialog.h"

#include <gtest/gtest.h>

#include "sip/transaction.h"

namespace verbatim::sip {
namespace {

Message parse(const std::string& s) { return Message::parse(s).value(); }

const std::string kInvite =
    "INVITE sip:srs@192.0.2.7 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK-p\r\n"
    "Via: SIP/2.0/UDP sbc.example.com;branch=z9hG4bK-s\r\n"
    "Record-Route: <sip:proxy.example.com;lr>\r\n"
    "Record-Route: <sip:edge.example.com;lr;transport=tcp>\r\n"
    "Max-Forwards: 69\r\n"
    "From: \"SBC\" <sip:sbc@example.com>;tag=from-1\r\n"
    "To: <sip:srs@192.0.2.7>\r\n"
    "Call-ID: dlg-1@sbc\r\n"
    "CSeq: 10 INVITE\r\n"
    "Contact: <sip:sbc@198.51.100.5:5060;transport=udp>\r\n"
    "Supported: timer\r\n"
    "Session-Expires: 1800;refresher=uac\r\n"
    "Content-Length: 0\r\n\r\n";

TEST(Dialog, UasBuildsRequestsWithRouteSetTagsAndCSeq) {
  const Message inv = parse(kInvite);
  Message ok = make_response(inv, 200, "OK", "to-9");
  for (const Header* rr : inv.all(HeaderId::kRecordRoute)) ok.add_header("Record-Route", rr->value);
  auto d = Dialog::as_uas(inv, parse(ok.serialize()));
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d.value().state(), Dialog::State::kConfirmed);
  EXPECT_EQ(d.value().id(), "dlg-1@sbc;to-9;from-1");
  EXPECT_EQ(Dialog::id_of(inv), "dlg-1@sbc;;from-1");
  EXPECT_EQ(d.value().remote_target(), "sip:sbc@198.51.100.5:5060;transport=udp");
  ASSERT_EQ(d.value().route_set().size(), 2u);
  EXPECT_EQ(d.value().route_set()[0], "<sip:proxy.example.com;lr>") << "UAS keeps the order";
  // The recorder ends the session: a BYE along the route set.
  Message bye = d.value().make_request("BYE", "<sip:srs@192.0.2.7>");
  bye.prepend_header("Via", "SIP/2.0/UDP 192.0.2.7;branch=" + TransactionLayer::new_branch());
  const Message b = parse(bye.serialize());
  EXPECT_TRUE(validate(b)) << validate(b).error().describe();
  EXPECT_EQ(b.request_uri(), "sip:sbc@198.51.100.5:5060;transport=udp");
  EXPECT_EQ(b.routes().value().size(), 2u);
  EXPECT_EQ(b.from().value().tag().value(), "to-9");
  EXPECT_EQ(b.to().value().tag().value(), "from-1");
  EXPECT_EQ(b.cseq().value().number, 1u) << "the UAS's own CSeq space starts fresh";
  EXPECT_EQ(b.find(HeaderId::kContact), nullptr);
  EXPECT_EQ(Dialog::id_of(b), "dlg-1@sbc;from-1;to-9") << "as the peer will see it";
}

TEST(Dialog, InDialogRequestsAreOrderedAndRefreshTheTarget) {
  const Message inv = parse(kInvite);
  auto d = Dialog::as_uas(inv, parse(make_response(inv, 200, "OK", "t").serialize())).value();
  auto reinvite = parse(
      "INVITE sip:srs@192.0.2.7 SIP/2.0\r\nVia: SIP/2.0/UDP sbc;branch=z9hG4bK-r\r\n"
      "From: <sip:sbc@example.com>;tag=from-1\r\nTo: <sip:srs@192.0.2.7>;tag=t\r\n"
      "Call-ID: dlg-1@sbc\r\nCSeq: 11 INVITE\r\nContact: <sip:sbc@198.51.100.99>\r\n"
      "Content-Length: 0\r\n\r\n");
  ASSERT_TRUE(d.receive(reinvite));
  EXPECT_EQ(d.remote_target(), "sip:sbc@198.51.100.99") << "a re-INVITE is a target refresh";
  EXPECT_EQ(d.remote_cseq().value(), 11u);
  auto old = parse(
      "UPDATE sip:srs@192.0.2.7 SIP/2.0\r\nVia: SIP/2.0/UDP sbc;branch=z9hG4bK-u\r\n"
      "From: <sip:sbc@example.com>;tag=from-1\r\nTo: <sip:srs@192.0.2.7>;tag=t\r\n"
      "Call-ID: dlg-1@sbc\r\nCSeq: 5 UPDATE\r\nContent-Length: 0\r\n\r\n");
  auto r = d.receive(old);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status, 500);
}

TEST(Dialog, UacReversesRoutesUsesStrictRoutingAndAcksWithTheInviteCSeq) {
  const Message inv = parse(
      "INVITE sip:bob@biloxi.example.com SIP/2.0\r\nVia: SIP/2.0/UDP pc33;branch=z9hG4bK-u\r\n"
      "From: <sip:alice@atlanta.example.com>;tag=a1\r\nTo: <sip:bob@biloxi.example.com>\r\n"
      "Call-ID: c2@pc33\r\nCSeq: 314159 INVITE\r\nContact: <sip:alice@pc33>\r\n"
      "Content-Length: 0\r\n\r\n");
  const Message ok = parse(
      "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP pc33;branch=z9hG4bK-u\r\n"
      "Record-Route: <sip:p2.biloxi.example.com;lr>, <sip:p1.atlanta.example.com>\r\n"
      "From: <sip:alice@atlanta.example.com>;tag=a1\r\nTo: <sip:bob@biloxi.example.com>;tag=b1\r\n"
      "Call-ID: c2@pc33\r\nCSeq: 314159 INVITE\r\nContact: <sip:bob@192.0.2.4>\r\n"
      "Content-Length: 0\r\n\r\n");
  auto d = Dialog::as_uac(inv, ok);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d.value().route_set().front(), "<sip:p1.atlanta.example.com>") << "reversed";
  // p1 is a strict router (no ;lr): it becomes the Request-URI, the target goes last.
  const Message ack = d.value().make_request("ACK", "", 314159);
  EXPECT_EQ(ack.request_uri(), "sip:p1.atlanta.example.com");
  ASSERT_EQ(ack.all(HeaderId::kRoute).size(), 2u);
  EXPECT_EQ(ack.all(HeaderId::kRoute)[1]->value, "<sip:bob@192.0.2.4>");
  EXPECT_EQ(ack.cseq().value().number, 314159u);
  EXPECT_EQ(ack.cseq().value().method, "ACK");
  const Message bye = d.value().make_request("BYE", "");
  EXPECT_EQ(bye.cseq().value().number, 314160u);
  EXPECT_EQ(Dialog::id_of(ok), d.value().id());
}

TEST(Dialog, RefusesWithoutTagsOrContact) {
  const Message inv = parse(kInvite);
  EXPECT_FALSE(Dialog::as_uas(inv, parse(make_response(inv, 200, "OK").serialize())));
  const Message no_contact = parse(
      "INVITE sip:a@b.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK-1\r\n"
      "From: <sip:c@d.com>;tag=1\r\nTo: <sip:a@b.com>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n"
      "Content-Length: 0\r\n\r\n");
  EXPECT_FALSE(
      Dialog::as_uas(no_contact, parse(make_response(no_contact, 200, "OK", "t").serialize())));
}

TEST(SessionTimer, NegotiatesIntervalRefresherAnd422) {
  SessionTimerPolicy p;
  auto t = negotiate_session_timer(parse(kInvite), p);
  ASSERT_TRUE(t);
  EXPECT_EQ(t.value().interval, std::chrono::seconds(1800));
  EXPECT_TRUE(t.value().refresher_is_uac);
  EXPECT_EQ(session_expires_value(t.value()), "1800;refresher=uac");
  std::string small = kInvite;
  small.replace(small.find("1800;refresher=uac"), 18, "60");
  auto too_small = negotiate_session_timer(parse(small), p);
  ASSERT_FALSE(too_small);
  EXPECT_EQ(too_small.error().status, 422);
  // Session-Expires from a proxy but no timer support at the UAC: the UAS refreshes.
  std::string unsupported = kInvite;
  unsupported.replace(unsupported.find("Supported: timer\r\n"), 18, "");
  EXPECT_FALSE(negotiate_session_timer(parse(unsupported), p).value().refresher_is_uac);
  std::string none = unsupported;
  none.replace(none.find("Session-Expires: 1800;refresher=uac\r\n"), 37, "");
  EXPECT_EQ(negotiate_session_timer(parse(none), p).value().interval, std::chrono::seconds(0));
}

}  // namespace
}  // namespace verbatim::sip
