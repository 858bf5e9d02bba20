#include "sip/transaction.h"

#include <gtest/gtest.h>

namespace verbatim::sip {
namespace {

Message request(const std::string& method, const std::string& branch, int cseq = 1,
                const std::string& to_tag = "", const std::string& cseq_method = "") {
  std::string text = method +
                     " sip:bob@192.0.2.2 SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=" +
                     branch +
                     "\r\n"
                     "Max-Forwards: 70\r\n"
                     "From: <sip:alice@example.com>;tag=a1\r\n"
                     "To: <sip:bob@example.com>" +
                     (to_tag.empty() ? "" : ";tag=" + to_tag) +
                     "\r\n"
                     "Call-ID: call-1@192.0.2.1\r\n"
                     "CSeq: " +
                     std::to_string(cseq) + " " + (cseq_method.empty() ? method : cseq_method) +
                     "\r\n"
                     "Content-Length: 0\r\n\r\n";
  return Message::parse(text).value();
}

Message reply(const Message& req, int status, const std::string& tag = "b1") {
  return Message::parse(make_response(req, status, "X", tag).serialize()).value();
}

struct Harness {
  ManualTimers timers;
  std::vector<std::pair<std::string, Millis>> sent;  // first line, when
  std::vector<Message> sent_messages;
  std::vector<uint64_t> requests;
  std::vector<uint64_t> cancels;
  std::vector<std::string> strays;
  std::vector<std::string> failures;
  TransactionLayer layer{
      timers, TransactionLayer::Callbacks{
                  [this](const Message& m, const Peer&) {
                    const std::string s = m.serialize();
                    sent.emplace_back(s.substr(0, s.find("\r\n")), timers.elapsed());
                    sent_messages.push_back(Message::parse(s).value());
                  },
                  [this](uint64_t id, const Message&, const Peer&, uint64_t c) {
                    requests.push_back(id);
                    cancels.push_back(c);
                  },
                  [this](const Message& m, const Peer&) {
                    strays.emplace_back(m.serialize().substr(0, 20));
                  },
                  [this](uint64_t, std::string_view why) { failures.emplace_back(why); }}};
  Peer udp{"UDP", "192.0.2.2", 5060};
  Peer tcp{"TCP", "192.0.2.2", 5060};

  std::vector<Millis> times_of(const std::string& first_line_prefix) const {
    std::vector<Millis> out;
    for (const auto& [line, t] : sent) {
      if (line.rfind(first_line_prefix, 0) == 0) out.push_back(t);
    }
    return out;
  }
};

using ms = Millis;

TEST(ClientTransaction, InviteRetransmitsWithTimerAAndTimesOutWithTimerB) {
  Harness h;
  std::vector<ClientOutcome> outcomes;
  ASSERT_TRUE(
      h.layer.send_request(request("INVITE", "z9hG4bK-a"), h.udp,
                           [&](ClientOutcome o, const Message*) { outcomes.push_back(o); }));
  h.timers.advance(ms(40000));
  EXPECT_EQ(h.times_of("INVITE"),
            (std::vector<ms>{ms(0), ms(500), ms(1500), ms(3500), ms(7500), ms(15500), ms(31500)}));
  EXPECT_EQ(outcomes, std::vector<ClientOutcome>{ClientOutcome::kTimeout});
  EXPECT_EQ(h.layer.client_count(), 0u);
  EXPECT_EQ(h.timers.pending(), 0u);
}

TEST(ClientTransaction, InviteNon2xxIsAckedInTheTransactionAndRetransmissionsAbsorbed) {
  Harness h;
  const Message inv = request("INVITE", "z9hG4bK-b");
  std::vector<int> statuses;
  ASSERT_TRUE(h.layer.send_request(inv.clone(), h.udp, [&](ClientOutcome, const Message* r) {
    statuses.push_back(r ? r->status() : 0);
  }));
  h.timers.advance(ms(600));
  h.layer.on_message(reply(inv, 100), h.udp);
  h.timers.advance(ms(5000));
  EXPECT_EQ(h.times_of("INVITE").size(), 2u) << "a provisional response stops timer A";
  h.layer.on_message(reply(inv, 486), h.udp);
  h.layer.on_message(reply(inv, 486), h.udp);  // retransmitted by the server
  EXPECT_EQ(statuses, (std::vector<int>{100, 486}));
  ASSERT_EQ(h.times_of("ACK").size(), 2u);
  const Message& ack = h.sent_messages.back();
  EXPECT_EQ(ack.method(), "ACK");
  EXPECT_EQ(ack.request_uri(), "sip:bob@192.0.2.2");
  EXPECT_EQ(ack.to().value().tag().value(), "b1");
  EXPECT_EQ(ack.cseq().value().method, "ACK");
  EXPECT_EQ(ack.vias().value().front().branch().value(), "z9hG4bK-b");
  h.timers.advance(ms(32000));  // timer D
  EXPECT_EQ(h.layer.client_count(), 0u);
}

TEST(ClientTransaction, Invite2xxGoesToTheTuIncludingRetransmissionsThenStray) {
  Harness h;
  const Message inv = request("INVITE", "z9hG4bK-c");
  int finals = 0;
  ASSERT_TRUE(h.layer.send_request(inv.clone(), h.udp, [&](ClientOutcome o, const Message*) {
    finals += o == ClientOutcome::kFinal;
  }));
  h.layer.on_message(reply(inv, 200), h.udp);
  h.layer.on_message(reply(inv, 200), h.udp);
  EXPECT_EQ(finals, 2) << "RFC 6026: every 2xx reaches the TU, which ACKs end to end";
  EXPECT_TRUE(h.times_of("ACK").empty()) << "the transaction never ACKs a 2xx";
  h.timers.advance(ms(32000));  // timer M
  EXPECT_EQ(h.layer.client_count(), 0u);
  h.layer.on_message(reply(inv, 200), h.udp);
  EXPECT_EQ(h.strays.size(), 1u);
}

TEST(ClientTransaction, NonInviteUsesTimerECappedAtT2AndTimerF) {
  Harness h;
  bool timed_out = false;
  ASSERT_TRUE(h.layer.send_request(
      request("OPTIONS", "z9hG4bK-d"), h.udp,
      [&](ClientOutcome o, const Message*) { timed_out = o == ClientOutcome::kTimeout; }));
  h.timers.advance(ms(32000));
  EXPECT_EQ(h.times_of("OPTIONS"),
            (std::vector<ms>{ms(0), ms(500), ms(1500), ms(3500), ms(7500), ms(11500), ms(15500),
                             ms(19500), ms(23500), ms(27500), ms(31500)}));
  EXPECT_TRUE(timed_out);
}

TEST(ClientTransaction, NonInviteProvisionalMovesRetransmissionsToT2) {
  Harness h;
  const Message opt = request("OPTIONS", "z9hG4bK-e");
  ASSERT_TRUE(h.layer.send_request(opt.clone(), h.udp, nullptr));
  h.timers.advance(ms(600));
  h.layer.on_message(reply(opt, 100), h.udp);
  h.timers.advance(ms(10000));
  EXPECT_EQ(h.times_of("OPTIONS"), (std::vector<ms>{ms(0), ms(500), ms(1500), ms(5500), ms(9500)}));
  h.layer.on_message(reply(opt, 200), h.udp);
  h.timers.advance(ms(5000));  // timer K
  EXPECT_EQ(h.layer.client_count(), 0u);
}

TEST(ClientTransaction, ReliableTransportsDoNotRetransmit) {
  Harness h;
  bool timed_out = false;
  ASSERT_TRUE(h.layer.send_request(
      request("INVITE", "z9hG4bK-f"), h.tcp,
      [&](ClientOutcome o, const Message*) { timed_out = o == ClientOutcome::kTimeout; }));
  h.timers.advance(ms(31999));
  EXPECT_EQ(h.times_of("INVITE").size(), 1u);
  EXPECT_FALSE(timed_out);
  h.timers.advance(ms(1));
  EXPECT_TRUE(timed_out);
}

TEST(ClientTransaction, RefusesRequestsItCannotMatch) {
  Harness h;
  EXPECT_FALSE(h.layer.send_request(request("INVITE", "old-style-branch"), h.udp, nullptr));
  EXPECT_FALSE(h.layer.send_request(request("INVITE", "z9hG4bK-g", 1, "", "BYE"), h.udp, nullptr));
  EXPECT_FALSE(h.layer.send_request(request("ACK", "z9hG4bK-h"), h.udp, nullptr));
  ASSERT_TRUE(h.layer.send_request(request("BYE", "z9hG4bK-i"), h.udp, nullptr));
  EXPECT_FALSE(h.layer.send_request(request("BYE", "z9hG4bK-i"), h.udp, nullptr))
      << "duplicate branch";
}

TEST(ServerTransaction, InviteGets100AndRetransmissionsAreAnsweredNotRedelivered) {
  Harness h;
  h.layer.on_message(request("INVITE", "z9hG4bK-s1"), h.udp);
  ASSERT_EQ(h.requests.size(), 1u);
  EXPECT_EQ(h.times_of("SIP/2.0 100").size(), 1u);
  h.layer.on_message(request("INVITE", "z9hG4bK-s1"), h.udp);
  EXPECT_EQ(h.requests.size(), 1u) << "a retransmission is not a new request";
  EXPECT_EQ(h.times_of("SIP/2.0 100").size(), 2u);
  ASSERT_TRUE(h.layer.respond(
      h.requests[0], make_response(request("INVITE", "z9hG4bK-s1"), 486, "Busy Here", "t9")));
  h.timers.advance(ms(4000));
  EXPECT_EQ(h.times_of("SIP/2.0 486"), (std::vector<ms>{ms(0), ms(500), ms(1500), ms(3500)}));
  h.layer.on_message(request("ACK", "z9hG4bK-s1", 1, "t9"), h.udp);
  h.timers.advance(ms(10000));
  EXPECT_EQ(h.times_of("SIP/2.0 486").size(), 4u) << "the ACK stops timer G";
  EXPECT_EQ(h.layer.server_count(), 0u) << "timer I ended it";
  EXPECT_TRUE(h.failures.empty());
  EXPECT_FALSE(h.layer.respond(h.requests[0], Message::response(200, "OK")));
}

TEST(ServerTransaction, NoAckMeansTimerHAndTheTuIsTold) {
  Harness h;
  h.layer.on_message(request("INVITE", "z9hG4bK-s2"), h.udp);
  ASSERT_TRUE(
      h.layer.respond(h.requests[0], make_response(request("INVITE", "z9hG4bK-s2"), 503, "Busy")));
  h.timers.advance(ms(40000));
  EXPECT_EQ(h.times_of("SIP/2.0 503").back(), ms(31500));
  EXPECT_EQ(h.failures, std::vector<std::string>{"no ACK for the final response"});
  EXPECT_EQ(h.layer.server_count(), 0u);
}

TEST(ServerTransaction, Invite2xxAbsorbsRetransmissionsAndTheAckGoesToTheDialog) {
  Harness h;
  h.layer.on_message(request("INVITE", "z9hG4bK-s3"), h.udp);
  ASSERT_TRUE(h.layer.respond(h.requests[0],
                              make_response(request("INVITE", "z9hG4bK-s3"), 200, "OK", "t1")));
  const size_t sent = h.sent.size();
  h.layer.on_message(request("INVITE", "z9hG4bK-s3"), h.udp);
  EXPECT_EQ(h.sent.size(), sent) << "RFC 6026 Accepted: absorbed";
  h.layer.on_message(request("ACK", "z9hG4bK-new", 1, "t1"), h.udp);
  EXPECT_EQ(h.strays.size(), 1u);
  h.timers.advance(ms(32000));  // timer L
  EXPECT_EQ(h.layer.server_count(), 0u);
}

TEST(ServerTransaction, NonInviteFinalIsRepeatedForRetransmissionsUntilTimerJ) {
  Harness h;
  h.layer.on_message(request("OPTIONS", "z9hG4bK-s4"), h.udp);
  ASSERT_TRUE(
      h.layer.respond(h.requests[0], make_response(request("OPTIONS", "z9hG4bK-s4"), 200, "OK")));
  h.layer.on_message(request("OPTIONS", "z9hG4bK-s4"), h.udp);
  EXPECT_EQ(h.times_of("SIP/2.0 200").size(), 2u);
  EXPECT_EQ(h.requests.size(), 1u);
  h.timers.advance(ms(32000));
  EXPECT_EQ(h.layer.server_count(), 0u);
}

TEST(ServerTransaction, UnansweredNonInviteEndsAndTheTuIsTold) {
  Harness h;
  h.layer.on_message(request("OPTIONS", "z9hG4bK-s5"), h.udp);
  h.timers.advance(ms(40000));
  EXPECT_EQ(h.layer.server_count(), 0u);
  EXPECT_EQ(h.failures, std::vector<std::string>{"the request was never answered"});
}

TEST(ServerTransaction, CancelMatchesItsInviteAndMergedRequestsGet482) {
  Harness h;
  h.layer.on_message(request("INVITE", "z9hG4bK-s6"), h.udp);
  h.layer.on_message(request("CANCEL", "z9hG4bK-s6"), h.udp);
  ASSERT_EQ(h.requests.size(), 2u);
  EXPECT_EQ(h.cancels[1], h.requests[0]);
  h.layer.on_message(request("CANCEL", "z9hG4bK-other", 2), h.udp);
  EXPECT_EQ(h.cancels[2], 0u) << "no INVITE to cancel: the TU answers 481";
  // The same INVITE forked back to us by another path (another branch): 482, not a new call.
  h.layer.on_message(request("INVITE", "z9hG4bK-s7"), h.udp);
  EXPECT_EQ(h.requests.size(), 3u);
  EXPECT_EQ(h.times_of("SIP/2.0 482").size(), 1u);
}

TEST(ServerTransaction, UnmatchableRequestsGet400WithTheReason) {
  Harness h;
  auto bad = Message::parse(
                 "OPTIONS sip:a@b.com SIP/2.0\r\nVia: SIP/2.0/UDP h.com;branch=z9hG4bK-x\r\n"
                 "From: <sip:c@d.com>;tag=1\r\nTo: <sip:a@b.com>\r\nCall-ID: 1\r\n\r\n")
                 .value();
  h.layer.on_message(std::move(bad), h.udp);
  EXPECT_TRUE(h.requests.empty());
  ASSERT_EQ(h.times_of("SIP/2.0 400").size(), 1u);
  EXPECT_NE(h.sent_messages.back().find("Warning")->value.find("missing CSeq"),
            std::string_view::npos);
}

TEST(MakeResponse, CopiesTheTransactionHeadersAndAddsTheToTag) {
  const Message req = request("INVITE", "z9hG4bK-r");
  const Message r = reply(req, 180, "xyz");
  EXPECT_EQ(r.to().value().tag().value(), "xyz");
  EXPECT_EQ(r.vias().value().front().branch().value(), "z9hG4bK-r");
  EXPECT_EQ(r.cseq().value().number, 1u);
  EXPECT_FALSE(reply(req, 100, "xyz").to().value().tag()) << "100 Trying carries no tag";
  EXPECT_TRUE(validate(r));
  EXPECT_EQ(TransactionLayer::new_branch().substr(0, 7), "z9hG4bK");
  EXPECT_NE(TransactionLayer::new_branch(), TransactionLayer::new_branch());
}

}  // namespace
}  // namespace verbatim::sip
