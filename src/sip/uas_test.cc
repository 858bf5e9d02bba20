#include "sip/uas.h"

#include <gtest/gtest.h>

namespace verbatim::sip {
namespace {

using ms = Millis;

std::string invite_text(const std::string& extra = "", int cseq = 1, const std::string& to_tag = "",
                        const std::string& method = "INVITE",
                        const std::string& branch = "z9hG4bK-i") {
  const std::string body = method == "INVITE" || method == "UPDATE"
                               ? "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 "
                                 "RTP/AVP 0\r\na=label:1\r\n"
                               : "";
  return method +
         " sip:srs@192.0.2.7 SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=" +
         branch +
         "\r\n"
         "Max-Forwards: 70\r\nFrom: <sip:sbc@example.com>;tag=f1\r\n"
         "To: <sip:srs@192.0.2.7>" +
         (to_tag.empty() ? "" : ";tag=" + to_tag) +
         "\r\n"
         "Call-ID: call-7@sbc\r\nCSeq: " +
         std::to_string(cseq) + " " + method +
         "\r\n"
         "Contact: <sip:sbc@192.0.2.1:5060>\r\n" +
         extra + (body.empty() ? "" : "Content-Type: application/sdp\r\n") +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

struct UasHarness {
  ManualTimers timers;
  std::vector<Message> sent;
  std::vector<std::pair<uint64_t, std::string>> ended;
  std::vector<uint64_t> invites;
  int options_status = 200;
  std::unique_ptr<TransactionLayer> layer;
  std::unique_ptr<UserAgentServer> uas;
  Peer peer{"UDP", "192.0.2.1", 5060};

  UasHarness() {
    layer = std::make_unique<TransactionLayer>(
        timers, TransactionLayer::Callbacks{
                    [this](const Message& m, const Peer&) {
                      sent.push_back(Message::parse(m.serialize()).value());
                    },
                    [this](uint64_t t, const Message& r, const Peer& f, uint64_t c) {
                      uas->on_request(t, r, f, c);
                    },
                    [this](const Message& m, const Peer& f) { uas->on_stray(m, f); },
                    [this](uint64_t t, std::string_view w) { uas->on_server_failed(t, w); }});
    UasOptions o;
    o.contact = "<sip:srs@192.0.2.7:5060>";
    o.via_sent_by = "192.0.2.7:5060";
    uas = std::make_unique<UserAgentServer>(
        *layer, timers, o,
        UserAgentServer::Handlers{
            [this](uint64_t s, const Message&) { invites.push_back(s); },
            [](uint64_t, const Message& r) -> SipResult<std::string> {
              if (r.body().find("m=video") != std::string_view::npos)
                return SipError{0, 488, "no video"};
              return std::string(
                  "v=0\r\no=srs 2 2 IN IP4 192.0.2.7\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP "
                  "0\r\na=recvonly\r\n");
            },
            [this](uint64_t s, std::string_view why) { ended.emplace_back(s, std::string(why)); },
            [this]() { return options_status; }});
  }
  void receive(const std::string& text) { layer->on_message(Message::parse(text).value(), peer); }
  std::vector<const Message*> sent_with(const std::string& prefix) const {
    std::vector<const Message*> out;
    for (const auto& m : sent) {
      const std::string s = m.serialize();
      if (s.rfind(prefix, 0) == 0) out.push_back(&m);
    }
    return out;
  }
  std::string local_tag() const {
    return std::string(sent_with("SIP/2.0 200").front()->to().value().tag().value());
  }
};

const char* kAnswer =
    "v=0\r\no=srs 1 1 IN IP4 192.0.2.7\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\na=recvonly\r\n";

TEST(Uas, AnswersRetransmits2xxUntilTheAckAndHandlesReinviteAndBye) {
  UasHarness h;
  h.receive(invite_text());
  ASSERT_EQ(h.invites.size(), 1u);
  ASSERT_TRUE(h.uas->ring(h.invites[0]));
  ASSERT_TRUE(h.uas->accept(h.invites[0], kAnswer));
  h.timers.advance(ms(2000));
  EXPECT_EQ(h.sent_with("SIP/2.0 200").size(), 3u) << "the 2xx at 0, 0.5 s and 1.5 s";
  const std::string tag = h.local_tag();
  h.receive(invite_text("", 1, tag, "ACK", "z9hG4bK-ack"));
  h.timers.advance(ms(10000));
  EXPECT_EQ(h.sent_with("SIP/2.0 200").size(), 3u) << "the ACK stopped the retransmissions";
  // A re-INVITE with a new offer gets the application's answer.
  h.receive(invite_text("", 2, tag, "INVITE", "z9hG4bK-re"));
  EXPECT_NE(h.sent.back().body().find("recvonly"), std::string_view::npos);
  EXPECT_EQ(h.sent.back().status(), 200);
  // An offer the application refuses: 488, the session stays.
  std::string video = invite_text("", 3, tag, "UPDATE", "z9hG4bK-up");
  video.replace(video.find("m=audio"), 7, "m=video");
  h.receive(video);
  EXPECT_EQ(h.sent.back().status(), 488);
  // Out of order: 500. Unknown dialog: 481.
  h.receive(invite_text("", 2, tag, "UPDATE", "z9hG4bK-old"));
  EXPECT_EQ(h.sent.back().status(), 500);
  h.receive(invite_text("", 9, "other-tag", "BYE", "z9hG4bK-x"));
  EXPECT_EQ(h.sent.back().status(), 481);
  h.receive(invite_text("", 10, tag, "BYE", "z9hG4bK-bye"));
  EXPECT_EQ(h.sent.back().status(), 200);
  ASSERT_EQ(h.ended.size(), 1u);
  EXPECT_EQ(h.ended[0].second, "bye");
  EXPECT_EQ(h.uas->sessions(), 0u);
}

TEST(Uas, NoAckEndsTheSessionWithABye) {
  UasHarness h;
  h.receive(invite_text());
  ASSERT_TRUE(h.uas->accept(h.invites[0], kAnswer));
  h.timers.advance(ms(40000));
  ASSERT_EQ(h.ended.size(), 1u);
  EXPECT_EQ(h.ended[0].second, "no-ack");
  // One BYE transaction (retransmitted over UDP while unanswered).
  ASSERT_GE(h.sent_with("BYE").size(), 1u);
  for (const Message* b : h.sent_with("BYE")) {
    EXPECT_EQ(b->vias().value().front().branch(),
              h.sent_with("BYE").front()->vias().value().front().branch());
  }
  const Message& bye = *h.sent_with("BYE").front();
  EXPECT_EQ(bye.request_uri(), "sip:sbc@192.0.2.1:5060");
  EXPECT_EQ(bye.to().value().tag().value(), "f1");
  EXPECT_TRUE(validate(bye)) << validate(bye).error().to_string();
}

TEST(Uas, CancelWhileIncomingGives487) {
  UasHarness h;
  h.receive(invite_text());
  ASSERT_TRUE(h.uas->ring(h.invites[0]));
  h.receive(invite_text("", 1, "", "CANCEL"));
  EXPECT_EQ(h.sent_with("SIP/2.0 200").size(), 1u);
  EXPECT_EQ(h.sent_with("SIP/2.0 487").size(), 1u);
  ASSERT_EQ(h.ended.size(), 1u);
  EXPECT_EQ(h.ended[0].second, "cancel");
  EXPECT_FALSE(h.uas->accept(h.invites[0], kAnswer)) << "a cancelled session cannot be answered";
}

TEST(Uas, RejectCarriesExtraHeaders) {
  UasHarness h;
  h.receive(invite_text());
  ASSERT_TRUE(h.uas->reject(h.invites[0], 503, "Service Unavailable", {{"Retry-After", "30"}}));
  ASSERT_EQ(h.sent_with("SIP/2.0 503").size(), 1u);
  EXPECT_EQ(h.sent_with("SIP/2.0 503").front()->find("Retry-After")->value, "30");
  EXPECT_EQ(h.ended.at(0).second, "rejected");
}

TEST(Uas, SessionTimersEndSilentSessionsAndRefreshWhenWeAreTheRefresher) {
  UasHarness h;
  h.receive(invite_text("Supported: timer\r\nSession-Expires: 90;refresher=uac\r\n"));
  ASSERT_TRUE(h.uas->accept(h.invites[0], kAnswer));
  EXPECT_EQ(h.sent_with("SIP/2.0 200").front()->find(HeaderId::kSessionExpires)->value,
            "90;refresher=uac");
  const std::string tag = h.local_tag();
  h.receive(invite_text("", 1, tag, "ACK", "z9hG4bK-ack"));
  h.timers.advance(ms(45000));
  h.receive(invite_text("Supported: timer\r\nSession-Expires: 90;refresher=uac\r\n", 2, tag,
                        "UPDATE", "z9hG4bK-r1"));
  h.timers.advance(ms(50000));
  EXPECT_TRUE(h.ended.empty()) << "the refresh at 45 s restarted the clock";
  h.timers.advance(ms(15000));  // 60 s after the refresh: 90 - 30
  ASSERT_EQ(h.ended.size(), 1u);
  EXPECT_EQ(h.ended[0].second, "session-timer");
  EXPECT_GE(h.sent_with("BYE").size(), 1u);

  UasHarness we_refresh;  // the UAC does not support timers: we refresh with UPDATE
  we_refresh.receive(invite_text("Session-Expires: 120\r\n"));
  ASSERT_TRUE(we_refresh.uas->accept(we_refresh.invites[0], kAnswer));
  we_refresh.receive(invite_text("", 1, we_refresh.local_tag(), "ACK", "z9hG4bK-ack"));
  we_refresh.timers.advance(ms(60000));
  ASSERT_EQ(we_refresh.sent_with("UPDATE").size(), 1u);
  EXPECT_EQ(we_refresh.sent_with("UPDATE").front()->find(HeaderId::kSessionExpires)->value,
            "120;refresher=uas");

  UasHarness small;
  small.receive(invite_text("Supported: timer\r\nSession-Expires: 30\r\n"));
  EXPECT_TRUE(small.invites.empty());
  ASSERT_EQ(small.sent_with("SIP/2.0 422").size(), 1u);
  EXPECT_EQ(small.sent_with("SIP/2.0 422").front()->find(HeaderId::kMinSe)->value, "90");
}

TEST(Uas, OptionsReportLoadAndUnknownMethodsGet501) {
  UasHarness h;
  h.receive(invite_text("", 1, "", "OPTIONS"));
  ASSERT_EQ(h.sent.back().status(), 200);
  EXPECT_NE(h.sent.back().find(HeaderId::kAllow), nullptr);
  EXPECT_NE(h.sent.back().find(HeaderId::kAccept)->value.find("rs-metadata"),
            std::string_view::npos);
  h.options_status = 503;
  h.receive(invite_text("", 2, "", "OPTIONS", "z9hG4bK-o2"));
  EXPECT_EQ(h.sent.back().status(), 503);
  EXPECT_EQ(h.sent.back().find("Retry-After")->value, "30");
  h.receive(invite_text("", 3, "", "SUBSCRIBE", "z9hG4bK-s"));
  EXPECT_EQ(h.sent.back().status(), 501);
  h.receive(invite_text("", 4, "", "MESSAGE", "z9hG4bK-m"));
  EXPECT_EQ(h.sent.back().status(), 200);
}

}  // namespace
}  // namespace verbatim::sip
