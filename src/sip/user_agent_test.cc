#include "sip/user_agent.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>

#include "sip/digest.h"

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
  std::unique_ptr<UserAgent> uas;
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
    UaOptions o;
    o.contact = "<sip:srs@192.0.2.7:5060>";
    o.via_sent_by = "192.0.2.7:5060";
    uas = std::make_unique<UserAgent>(
        *layer, timers, o,
        UserAgent::Handlers{
            .on_invite = [this](uint64_t s, const Message&) { invites.push_back(s); },
            .on_reoffer = [](uint64_t, const Message& r) -> Result<std::string> {
              if (r.body().find("m=video") != std::string_view::npos)
                return protocol_error(488, "no video");
              return std::string(
                  "v=0\r\no=srs 2 2 IN IP4 192.0.2.7\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP "
                  "0\r\na=recvonly\r\n");
            },
            .on_ended = [this](uint64_t s,
                               std::string_view why) { ended.emplace_back(s, std::string(why)); },
            .options_status = [this]() { return options_status; }});
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

TEST(UserAgentTakesCalls, AnswersRetransmits2xxUntilTheAckAndHandlesReinviteAndBye) {
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

TEST(UserAgentTakesCalls, ABrowsersClosedConnectionEndsItsSessionsAndNoOtherPeers) {
  UasHarness h;
  h.peer = Peer{"WSS", "192.0.2.1", 40001};  // a browser: its connection is the only way back
  h.receive(invite_text());
  h.peer = Peer{"UDP", "192.0.2.1", 5060};
  std::string other = invite_text("", 1, "", "INVITE", "z9hG4bK-other");
  other.replace(other.find("call-7@sbc"), 10, "call-8@sbc");
  h.receive(other);
  ASSERT_EQ(h.invites.size(), 2u);
  ASSERT_TRUE(h.uas->accept(h.invites[0], kAnswer));
  ASSERT_TRUE(h.uas->accept(h.invites[1], kAnswer));
  const size_t sent = h.sent.size();
  // The same address and port over another transport is another peer: it stays.
  h.uas->flow_closed(Peer{"WS", "192.0.2.1", 40001});
  EXPECT_TRUE(h.ended.empty());
  h.uas->flow_closed(Peer{"WSS", "192.0.2.1", 40001});
  ASSERT_EQ(h.ended.size(), 1u);
  EXPECT_EQ(h.ended[0], std::make_pair(h.invites[0], std::string("peer-gone")));
  EXPECT_EQ(h.sent.size(), sent) << "no BYE into a connection that is gone";
  EXPECT_NE(h.uas->peer(h.invites[1]), nullptr);
}

TEST(UserAgentTakesCalls, NoAckEndsTheSessionWithABye) {
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
  EXPECT_TRUE(validate(bye)) << validate(bye).error().describe();
}

TEST(UserAgentTakesCalls, CancelWhileIncomingGives487) {
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

TEST(UserAgentTakesCalls, RejectCarriesExtraHeaders) {
  UasHarness h;
  h.receive(invite_text());
  ASSERT_TRUE(h.uas->reject(h.invites[0], 503, "Service Unavailable", {{"Retry-After", "30"}}));
  ASSERT_EQ(h.sent_with("SIP/2.0 503").size(), 1u);
  EXPECT_EQ(h.sent_with("SIP/2.0 503").front()->find("Retry-After")->value, "30");
  EXPECT_EQ(h.ended.at(0).second, "rejected");
}

TEST(UserAgentTakesCalls, SessionTimersEndSilentSessionsAndRefreshWhenWeAreTheRefresher) {
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
            "120;refresher=uac")
      << "we send it and we refresh";

  UasHarness small;
  small.receive(invite_text("Supported: timer\r\nSession-Expires: 30\r\n"));
  EXPECT_TRUE(small.invites.empty());
  ASSERT_EQ(small.sent_with("SIP/2.0 422").size(), 1u);
  EXPECT_EQ(small.sent_with("SIP/2.0 422").front()->find(HeaderId::kMinSe)->value, "90");
}

TEST(UserAgentTakesCalls, OptionsReportLoadUnknownMethodsGet501AndMessage405) {
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
  // A MESSAGE is refused, not acknowledged and dropped: nothing here delivers or keeps it.
  h.receive(invite_text("", 4, "", "MESSAGE", "z9hG4bK-m"));
  EXPECT_EQ(h.sent.back().status(), 405);
  ASSERT_NE(h.sent.back().find(HeaderId::kAllow), nullptr);
  EXPECT_EQ(h.sent.back().find(HeaderId::kAllow)->value.find("MESSAGE"), std::string_view::npos);
  EXPECT_NE(h.sent.back().find(HeaderId::kAllow)->value.find("INVITE"), std::string_view::npos);
}

// ---------------------------------------------------------------------------------------------
// Two user agents on an in-memory wire, in virtual time: alice (192.0.2.1) places calls, bob
// (192.0.2.2) takes them. Every message crosses the wire as bytes and is parsed again.

const char* kOfferSdp =
    "v=0\r\no=alice 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

struct Side {
  Peer address;
  std::unique_ptr<TransactionLayer> layer;
  std::unique_ptr<UserAgent> ua;
  std::vector<uint64_t> invites;
  std::vector<int> progress, failed, refer_progress;
  std::vector<std::string> ended;
  int answered = 0, reoffers = 0;
  bool accept_refer = true;
  std::vector<std::string> infos;  // the INFO bodies the application saw
  int info_status = 0;             // its answer to them; 0: the UA's 200
  std::vector<std::string> pages;  // "From|Content-Type|body" of MESSAGEs outside a dialog
  int page_status = 200;           // the application's answer to them
};

struct Wire {
  ManualTimers timers;
  Side alice, bob;
  struct Packet {
    Side* to;
    Peer from, dest;
    std::string bytes;
  };
  std::deque<Packet> queue;
  std::vector<std::string> log;  // "alice>bob INVITE", "bob>alice 200 INVITE"
  std::function<bool(const Message&, const Side& to)> drop;

  explicit Wire(UaOptions bob_options = {}, UaOptions alice_options = {}) {
    setup(alice, "192.0.2.1", "alice", alice_options);
    setup(bob, "192.0.2.2", "bob", bob_options);
  }
  Side& other(Side& s) { return &s == &alice ? bob : alice; }
  void setup(Side& side, const std::string& ip, const std::string& name, UaOptions o) {
    side.address = Peer{"UDP", ip, 5060};
    side.layer = std::make_unique<TransactionLayer>(
        timers, TransactionLayer::Callbacks{
                    [this, &side](const Message& m, const Peer& to) {
                      queue.push_back(Packet{&other(side), side.address, to, m.serialize()});
                    },
                    [&side](uint64_t t, const Message& r, const Peer& f, uint64_t c) {
                      side.ua->on_request(t, r, f, c);
                    },
                    [&side](const Message& m, const Peer& f) { side.ua->on_stray(m, f); },
                    [&side](uint64_t t, std::string_view w) { side.ua->on_server_failed(t, w); }});
    o.contact = "<sip:" + name + "@" + ip + ":5060>";
    o.via_sent_by = ip + ":5060";
    side.ua = std::make_unique<UserAgent>(
        *side.layer, timers, o,
        UserAgent::Handlers{
            .on_invite = [&side](uint64_t s, const Message&) { side.invites.push_back(s); },
            .on_reoffer = [&side](uint64_t, const Message& r) -> Result<std::string> {
              ++side.reoffers;
              if (r.body().find("m=video") != std::string_view::npos)
                return protocol_error(488, "no video");
              return std::string(kAnswer);
            },
            .on_ended = [&side](uint64_t, std::string_view why) { side.ended.emplace_back(why); },
            .options_status = nullptr,
            .on_progress = [&side](uint64_t,
                                   const Message& r) { side.progress.push_back(r.status()); },
            .on_answered = [&side](uint64_t, const Message&) { ++side.answered; },
            .on_failed = [&side](uint64_t, int status,
                                 const Message*) { side.failed.push_back(status); },
            .on_refer = [&side](uint64_t, const Message&) { return side.accept_refer; },
            .on_refer_progress = [&side](uint64_t,
                                         int status) { side.refer_progress.push_back(status); },
            .on_info =
                [&side](uint64_t, uint64_t txn, const Message& info) {
                  side.infos.emplace_back(info.body());
                  if (side.info_status == 0) return false;
                  EXPECT_TRUE(side.ua->reply(txn, info, side.info_status, "Not Acceptable Here"));
                  return true;
                },
            .on_request =
                [&side](uint64_t txn, const Message& r, const Peer&) {
                  if (r.method() != "MESSAGE") return false;
                  const auto* ct = r.find(HeaderId::kContentType);
                  side.pages.push_back(std::string(r.from().value().uri.text) + "|" +
                                       std::string(ct ? ct->value : "") + "|" +
                                       std::string(r.body()));
                  EXPECT_TRUE(side.ua->reply(txn, r, side.page_status, "Whatever"));
                  return true;
                }});
  }
  // Delivers everything in flight (and what that causes).
  void pump() {
    for (int guard = 0; !queue.empty() && guard < 10000; ++guard) {
      Packet p = std::move(queue.front());
      queue.pop_front();
      Message m = Message::parse(p.bytes).value();
      const std::string who = p.to == &bob ? "alice>bob " : "bob>alice ";
      if (m.is_request()) {
        log.push_back(who + std::string(m.method()));
      } else {
        log.push_back(who + std::to_string(m.status()) + " " +
                      std::string(m.cseq().value().method));
      }
      EXPECT_EQ(p.dest.address, p.to->address.address) << log.back() << " sent to the wrong host";
      if (drop && drop(m, *p.to)) {
        log.back() += " (lost)";
        continue;
      }
      p.to->layer->on_message(std::move(m), p.from);
    }
  }
  void run(Millis total) {
    for (Millis t{0}; t < total; t += Millis(100)) {
      timers.advance(Millis(100));
      pump();
    }
  }
  size_t count(const std::string& entry) const {
    return static_cast<size_t>(std::count(log.begin(), log.end(), entry));
  }
  uint64_t call(std::optional<Credentials> credentials = std::nullopt) {
    OutgoingCall c;
    c.next_hop = bob.address;
    c.request_uri = "sip:bob@192.0.2.2";
    c.from = "\"Alice\" <sip:alice@example.com>";
    c.to = "<sip:bob@example.com>";
    c.body = kOfferSdp;
    c.credentials = std::move(credentials);
    auto id = alice.ua->invite(std::move(c));
    EXPECT_TRUE(id) << id.error().message;
    pump();
    return id.value();
  }
  // alice calls, bob rings and answers.
  uint64_t connect() {
    const uint64_t id = call();
    EXPECT_EQ(bob.invites.size(), 1u);
    EXPECT_TRUE(bob.ua->ring(bob.invites.back()));
    EXPECT_TRUE(bob.ua->accept(bob.invites.back(), kAnswer));
    pump();
    EXPECT_EQ(alice.answered, 1);
    return id;
  }
};

TEST(UserAgentPlacesCalls, AnsweredCallIsAckedOnceAndHungUpWithBye) {
  Wire w;
  const uint64_t id = w.connect();
  EXPECT_EQ(w.alice.progress, std::vector<int>{180});
  EXPECT_EQ(w.count("alice>bob ACK"), 1u);
  w.run(Millis(10000));
  EXPECT_EQ(w.count("bob>alice 200 INVITE"), 1u) << "the ACK reached bob: no retransmissions";
  const Dialog* d = w.alice.ua->dialog(id);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->remote_target(), "sip:bob@192.0.2.2:5060");
  EXPECT_TRUE(d->is_uac());
  ASSERT_TRUE(w.alice.ua->hangup(id));
  w.pump();
  EXPECT_EQ(w.alice.ended, std::vector<std::string>{"local"});
  EXPECT_EQ(w.bob.ended, std::vector<std::string>{"bye"});
  EXPECT_EQ(w.alice.ua->sessions(), 0u);
  EXPECT_EQ(w.bob.ua->sessions(), 0u);

  // And the other way round: the callee hangs up.
  Wire v;
  v.connect();
  ASSERT_TRUE(v.bob.ua->hangup(v.bob.invites.back()));
  v.pump();
  EXPECT_EQ(v.alice.ended, std::vector<std::string>{"bye"});
}

// RFC 7866 §6.1.1: a recording session's INVITE (and every request of it that carries a
// Contact) has the +sip.src feature tag; recorders such as pjsip's SIPREC module tell recording
// sessions from calls by it.
TEST(UserAgentPlacesCalls, RecordingSessionsCarryTheSrcFeatureTagInContact) {
  Wire w;
  OutgoingCall c;
  c.next_hop = w.bob.address;
  c.request_uri = "sip:srs@192.0.2.2";
  c.from = "<sip:gateway@example.com>";
  c.to = "<sip:srs@192.0.2.2>";
  c.body = kOfferSdp;
  c.headers = {{"Require", "siprec"}};
  c.contact_params = ";+sip.src";
  auto id = w.alice.ua->invite(std::move(c));
  ASSERT_TRUE(id);
  ASSERT_FALSE(w.queue.empty());
  auto invite = Message::parse(w.queue.front().bytes).value();
  auto contacts = invite.contacts();
  ASSERT_TRUE(contacts);
  ASSERT_EQ(contacts.value().size(), 1u);
  EXPECT_TRUE(contacts.value()[0].param("+sip.src").has_value()) << invite.serialize();
  w.pump();
  ASSERT_TRUE(w.bob.ua->accept(w.bob.invites.back(), kAnswer));
  w.pump();
  ASSERT_TRUE(w.alice.ua->reinvite(id.value(), kOfferSdp));
  ASSERT_FALSE(w.queue.empty());
  auto re = Message::parse(w.queue.front().bytes).value();
  EXPECT_NE(re.find(HeaderId::kContact)->value.find(";+sip.src"), std::string_view::npos);
}

// RFC 4579 §3: a conference focus's Contact is the conference's URI with the isfocus feature
// tag, in the 200 and in every later request of the dialog; the caller's re-INVITE goes there.
TEST(UserAgentTakesCalls, AFocusAnswersWithTheConferenceUriAndIsfocusInContact) {
  Wire w;
  OutgoingCall c;
  c.next_hop = w.bob.address;
  c.request_uri = "sip:conference@192.0.2.2";
  c.from = "<sip:alice@example.com>";
  c.to = "<sip:conference@192.0.2.2>";
  c.body = kOfferSdp;
  auto id = w.alice.ua->invite(std::move(c));
  ASSERT_TRUE(id);
  w.pump();
  EXPECT_FALSE(w.bob.ua->accept_as_focus(w.bob.invites.back(), kAnswer, "meet 1"))
      << "a user part with a space";
  ASSERT_TRUE(w.bob.ua->accept_as_focus(w.bob.invites.back(), kAnswer, "meet-4821937765"));
  ASSERT_FALSE(w.queue.empty());
  auto ok = Message::parse(w.queue.front().bytes).value();
  auto contacts = ok.contacts();
  ASSERT_TRUE(contacts);
  ASSERT_EQ(contacts.value().size(), 1u);
  EXPECT_EQ(contacts.value()[0].uri.text.substr(0, 20), "sip:meet-4821937765@") << ok.serialize();
  EXPECT_TRUE(contacts.value()[0].param("isfocus").has_value()) << ok.serialize();
  w.pump();
  ASSERT_TRUE(w.bob.ua->reinvite(w.bob.invites.back(), kOfferSdp));
  ASSERT_FALSE(w.queue.empty());
  auto re = Message::parse(w.queue.front().bytes).value();
  EXPECT_NE(re.find(HeaderId::kContact)->value.find("meet-4821937765@"), std::string_view::npos);
  EXPECT_NE(re.find(HeaderId::kContact)->value.find(";isfocus"), std::string_view::npos);
}

// RFC 3261 §15.1.2: a BYE (or UPDATE) for a dialog we do not have gets 481, never 501, even
// without a To tag.
TEST(UserAgentTakesCalls, ByeOutsideAnyDialogGets481) {
  UasHarness h;
  h.receive(invite_text("", 1, "", "BYE", "z9hG4bK-stray"));
  EXPECT_EQ(h.sent.back().status(), 481);
  h.receive(invite_text("", 2, "", "UPDATE", "z9hG4bK-stray2"));
  EXPECT_EQ(h.sent.back().status(), 481);
}

TEST(UserAgentPlacesCalls, RejectionTimeoutAndBadInputAreReported) {
  Wire w;
  w.call();
  ASSERT_TRUE(w.bob.ua->reject(w.bob.invites.back(), 486, "Busy Here"));
  w.pump();
  EXPECT_EQ(w.alice.failed, std::vector<int>{486});
  EXPECT_EQ(w.count("alice>bob ACK"), 1u) << "the ACK of a non-2xx, inside the transaction";
  EXPECT_EQ(w.alice.ua->sessions(), 0u);

  Wire silent;
  silent.drop = [](const Message&, const Side&) { return true; };
  silent.call();
  silent.run(Millis(31000));
  EXPECT_TRUE(silent.alice.failed.empty());
  silent.run(Millis(2000));
  EXPECT_EQ(silent.alice.failed, std::vector<int>{408}) << "timer B: 64*T1";

  OutgoingCall bad;
  bad.request_uri = "sip:bob@exa mple.com";
  bad.from = "<sip:alice@example.com>";
  bad.to = "<sip:bob@example.com>";
  auto r = w.alice.ua->invite(std::move(bad));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("request URI"), std::string::npos) << r.error().message;
}

TEST(UserAgentPlacesCalls, PageModeMessagesOutsideADialogReportTheirFinalStatus) {
  Wire w;
  auto page = [&](std::string body, std::vector<int>& statuses) {
    OutgoingMessage m;
    m.next_hop = w.bob.address;
    m.request_uri = "sip:bob@192.0.2.2";
    m.from = "\"Alice\" <sip:alice@example.com>";
    m.to = "<sip:bob@example.com>";
    m.content_type = "text/plain;charset=utf-8";
    m.body = std::move(body);
    m.headers = {{"Date", "Mon, 07 Dec 2026 08:00:00 GMT"}};
    return w.alice.ua->send_message(
        std::move(m), [&statuses](int status, const Message*) { statuses.push_back(status); });
  };
  std::vector<int> first, second, lost;
  ASSERT_TRUE(page("Hello Bob\r\nsecond line", first));
  w.pump();
  EXPECT_EQ(first, std::vector<int>{200});
  ASSERT_EQ(w.bob.pages.size(), 1u);
  EXPECT_EQ(w.bob.pages[0],
            "sip:alice@example.com|text/plain;charset=utf-8|Hello Bob\r\nsecond line");
  w.bob.page_status = 480;
  ASSERT_TRUE(page("again", second));
  w.pump();
  EXPECT_EQ(second, std::vector<int>{480});
  EXPECT_EQ(w.bob.ua->sessions(), 0u) << "a MESSAGE makes no dialog";

  w.drop = [](const Message&, const Side&) { return true; };
  ASSERT_TRUE(page("into the void", lost));
  w.run(Millis(31000));
  EXPECT_TRUE(lost.empty());
  w.run(Millis(2000));
  EXPECT_EQ(lost, std::vector<int>{408}) << "timer F: 64*T1";

  OutgoingMessage bad;
  bad.next_hop = w.bob.address;
  bad.request_uri = "sip:bob@exa mple.com";
  bad.from = "<sip:alice@example.com>";
  bad.to = "<sip:bob@example.com>";
  EXPECT_FALSE(w.alice.ua->send_message(std::move(bad), nullptr));
}

struct Challenger {
  DigestServer server{"verbatim.example",
                      {7},
                      [](std::string_view user, DigestAlgorithm a) -> std::optional<std::string> {
                        if (user != "alice") return std::nullopt;
                        return digest_ha1(a, "alice", "verbatim.example", "s3cret");
                      }};
  // Bob answers an INVITE only with valid credentials (in Authorization, or for a proxy
  // challenge in Proxy-Authorization).
  void handle(Wire& w, bool proxy) {
    const auto now = std::chrono::system_clock::now();
    const uint64_t id = w.bob.invites.back();
    const Message* inv = last_invite;
    const Header* auth = inv ? inv->find(proxy ? "Proxy-Authorization" : "Authorization") : nullptr;
    if (auth &&
        server.verify(auth->value, "INVITE", inv->request_uri(), now) == DigestVerdict::kOk) {
      ASSERT_TRUE(w.bob.ua->accept(id, kAnswer));
    } else {
      HeaderList h;
      for (const auto& c : server.challenges(now))
        h.emplace_back(proxy ? "Proxy-Authenticate" : "WWW-Authenticate", c);
      ASSERT_TRUE(w.bob.ua->reject(id, proxy ? 407 : 401, "Unauthorized", h));
    }
    w.pump();
  }
  const Message* last_invite = nullptr;
};

TEST(UserAgentPlacesCalls, AnswersDigestChallengesOnceAndGivesUpOnWrongPasswords) {
  for (bool proxy : {false, true}) {
    SCOPED_TRACE(proxy ? "407" : "401");
    Wire w;
    std::vector<Message> seen;  // bob's UA is replaced by one that keeps the INVITEs
    UaOptions o;
    o.contact = "<sip:bob@192.0.2.2:5060>";
    o.via_sent_by = "192.0.2.2:5060";
    Challenger c;
    w.bob.ua = std::make_unique<UserAgent>(
        *w.bob.layer, w.timers, o,
        UserAgent::Handlers{.on_invite = [&](uint64_t s, const Message& inv) {
          w.bob.invites.push_back(s);
          seen.push_back(inv.clone());
        }});
    w.call(Credentials{"alice", "s3cret"});
    for (int round = 0; round < 3 && w.alice.answered == 0 && w.alice.failed.empty(); ++round) {
      c.last_invite = &seen.back();
      c.handle(w, proxy);
    }
    EXPECT_EQ(w.alice.answered, 1);
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[1].cseq().value().number, 2u) << "the retry is a new transaction";
    EXPECT_EQ(seen[1].call_id().value(), seen[0].call_id().value());
    EXPECT_EQ(seen[1].from().value().tag(), seen[0].from().value().tag());
    EXPECT_NE(seen[1]
                  .find(proxy ? "Proxy-Authorization" : "Authorization")
                  ->value.find("algorithm=SHA-256"),
              std::string_view::npos)
        << "the first challenge offered is SHA-256 (RFC 8760)";

    Wire wrong;
    std::vector<Message> seen2;
    wrong.bob.ua = std::make_unique<UserAgent>(
        *wrong.bob.layer, wrong.timers, o,
        UserAgent::Handlers{.on_invite = [&](uint64_t s, const Message& inv) {
          wrong.bob.invites.push_back(s);
          seen2.push_back(inv.clone());
        }});
    wrong.call(Credentials{"alice", "guess"});
    for (int round = 0; round < 3 && wrong.alice.failed.empty(); ++round) {
      c.last_invite = &seen2.back();
      c.handle(wrong, proxy);
    }
    EXPECT_EQ(wrong.alice.failed, std::vector<int>{proxy ? 407 : 401});
    EXPECT_EQ(seen2.size(), 2u) << "one answer per challenge, no loop";
  }
}

TEST(UserAgentPlacesCalls, CancelWaitsForAProvisionalResponseAndEndsWith487) {
  Wire w;
  w.drop = [](const Message& m, const Side&) { return !m.is_request() && m.status() == 100; };
  const uint64_t id = w.call();
  ASSERT_TRUE(w.alice.ua->cancel(id));
  w.pump();
  EXPECT_EQ(w.count("alice>bob CANCEL"), 0u) << "RFC 3261 §9.1: not before a provisional";
  ASSERT_TRUE(w.bob.ua->ring(w.bob.invites.back()));
  w.pump();
  EXPECT_EQ(w.count("alice>bob CANCEL"), 1u);
  EXPECT_EQ(w.count("bob>alice 487 INVITE"), 1u);
  EXPECT_EQ(w.alice.failed, std::vector<int>{487});
  EXPECT_EQ(w.bob.ended, std::vector<std::string>{"cancel"});
  EXPECT_TRUE(w.alice.progress.empty()) << "progress of a cancelled call is not reported";

  // A 2xx that crosses the CANCEL: ACKed, then ended with a BYE.
  Wire x;
  const uint64_t id2 = x.call();
  ASSERT_TRUE(x.bob.ua->ring(x.bob.invites.back()));
  x.pump();
  ASSERT_TRUE(x.alice.ua->cancel(id2));
  ASSERT_TRUE(x.bob.ua->accept(x.bob.invites.back(), kAnswer));
  x.pump();
  EXPECT_EQ(x.count("alice>bob ACK"), 1u);
  EXPECT_EQ(x.count("alice>bob BYE"), 1u);
  EXPECT_EQ(x.alice.ended, std::vector<std::string>{"cancel"});
  EXPECT_EQ(x.alice.answered, 0);
  EXPECT_EQ(x.bob.ended, std::vector<std::string>{"bye"});
}

TEST(UserAgentPlacesCalls, LostAckIsRepeatedForTheRetransmitted2xx) {
  Wire w;
  int acks = 0;
  w.drop = [&](const Message& m, const Side&) {
    return m.is_request() && m.method() == "ACK" && ++acks == 1;
  };
  w.connect();
  w.run(Millis(2000));
  EXPECT_EQ(w.count("bob>alice 200 INVITE"), 2u);
  EXPECT_EQ(w.count("alice>bob ACK (lost)"), 1u);
  EXPECT_EQ(w.count("alice>bob ACK"), 1u);
  EXPECT_EQ(w.alice.answered, 1) << "a retransmitted 2xx is not a second answer";
  w.run(Millis(40000));
  EXPECT_TRUE(w.bob.ended.empty()) << "bob got the second ACK";
}

TEST(UserAgentPlacesCalls, SecondForkIsAckedAndHungUp) {
  Wire w;
  std::string ok_bytes;
  w.drop = [&](const Message& m, const Side&) {
    if (!m.is_request() && m.status() == 200 && ok_bytes.empty()) ok_bytes = m.serialize();
    return false;
  };
  w.connect();
  Message fork = Message::parse(ok_bytes).value();
  const Header* to = fork.find(HeaderId::kTo);
  fork.replace_header(to, "<sip:bob@example.com>;tag=other-fork");
  w.alice.layer->on_message(std::move(fork), w.bob.address);
  w.pump();
  EXPECT_EQ(w.count("alice>bob ACK"), 2u);
  EXPECT_EQ(w.count("alice>bob BYE"), 1u);
  EXPECT_EQ(w.count("bob>alice 481 BYE"), 1u) << "bob never had that dialog";
  EXPECT_EQ(w.alice.answered, 1);
  EXPECT_TRUE(w.alice.ended.empty()) << "the first dialog goes on";
}

TEST(UserAgentPlacesCalls, ReinviteInBothDirections) {
  Wire w;
  const uint64_t id = w.connect();
  int status = 0;
  ASSERT_TRUE(w.alice.ua->reinvite(id, std::string(kOfferSdp) + "a=sendonly\r\n",
                                   [&](int s, const Message*) { status = s; }));
  EXPECT_FALSE(w.alice.ua->reinvite(id, kOfferSdp)) << "one re-INVITE at a time";
  w.pump();
  EXPECT_EQ(status, 200);
  EXPECT_EQ(w.bob.reoffers, 1);
  EXPECT_EQ(w.count("alice>bob ACK"), 2u);
  ASSERT_TRUE(w.alice.ua->reinvite(id, std::string(kOfferSdp) + "m=video 4002 RTP/AVP 96\r\n",
                                   [&](int s, const Message*) { status = s; }));
  w.pump();
  EXPECT_EQ(status, 488);
  EXPECT_TRUE(w.alice.ended.empty()) << "a refused offer does not end the call";
  // bob (who took the call) sends an offer to alice.
  ASSERT_TRUE(w.bob.ua->reinvite(w.bob.invites.back(), kAnswer));
  w.pump();
  EXPECT_EQ(w.alice.reoffers, 1);
  EXPECT_EQ(w.count("bob>alice ACK"), 1u);
  w.run(Millis(40000));
  EXPECT_TRUE(w.alice.ended.empty() && w.bob.ended.empty()) << "every 2xx was ACKed";
}

TEST(UserAgentPlacesCalls, UpdateCarriesAnotherBodyWithoutAnOffer) {
  Wire w;
  const uint64_t id = w.connect();
  int status = 0;
  EXPECT_FALSE(w.alice.ua->update(id, "application/sdp", kOfferSdp)) << "offers go in re-INVITEs";
  EXPECT_FALSE(w.alice.ua->update(id + 100, "application/rs-metadata+xml", "<recording/>"));
  ASSERT_TRUE(w.alice.ua->update(id, "application/rs-metadata+xml", "<recording/>",
                                 {{"Content-Disposition", "recording-session"}},
                                 [&](int s, const Message*) { status = s; }));
  w.pump();
  EXPECT_EQ(status, 200);
  EXPECT_EQ(w.count("alice>bob UPDATE"), 1u);
  EXPECT_EQ(w.bob.reoffers, 1) << "the peer's application saw the body";
  EXPECT_TRUE(w.alice.ended.empty() && w.bob.ended.empty());
}

// RFC 6086 INFO in the dialog (DTMF by SIP INFO): the application sees it and answers it, or
// the UA answers 200; a refusal does not end the call.
TEST(UserAgentPlacesCalls, InfoInTheDialogReachesTheApplicationWhichAnswersIt) {
  Wire w;
  const uint64_t id = w.connect();
  std::vector<int> statuses;
  auto done = [&](int s, const Message*) { statuses.push_back(s); };
  EXPECT_FALSE(
      w.alice.ua->info(id + 100, "application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"));
  ASSERT_TRUE(w.alice.ua->info(id, "application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", done));
  w.pump();
  w.bob.info_status = 488;
  ASSERT_TRUE(w.alice.ua->info(id, "application/dtmf-relay", "Signal=#\r\nDuration=160\r\n", done));
  w.pump();
  EXPECT_EQ(statuses, (std::vector<int>{200, 488}));
  EXPECT_EQ(w.bob.infos, (std::vector<std::string>{"Signal=5\r\nDuration=160\r\n",
                                                   "Signal=#\r\nDuration=160\r\n"}));
  EXPECT_EQ(w.count("alice>bob INFO"), 2u);
  EXPECT_TRUE(w.alice.ended.empty() && w.bob.ended.empty());
}

TEST(UserAgentPlacesCalls, TransferWithReferAndSipfragNotifies) {
  Wire w;
  const uint64_t id = w.connect();
  int refer_status = 0;
  EXPECT_FALSE(w.alice.ua->refer(id, "sip carol")) << "Refer-To must be a URI";
  ASSERT_TRUE(w.alice.ua->refer(id, "<sip:carol@example.com>",
                                [&](int s, const Message*) { refer_status = s; }));
  w.pump();
  EXPECT_EQ(refer_status, 202);
  EXPECT_EQ(w.alice.refer_progress, std::vector<int>{100});
  ASSERT_TRUE(w.bob.ua->notify_refer(w.bob.invites.back(), 180, "Ringing"));
  ASSERT_TRUE(w.bob.ua->notify_refer(w.bob.invites.back(), 200, "OK"));
  w.pump();
  EXPECT_EQ(w.alice.refer_progress, (std::vector<int>{100, 180, 200}));
  EXPECT_FALSE(w.bob.ua->notify_refer(w.bob.invites.back(), 200, "OK"))
      << "the subscription ended with the final NOTIFY";

  w.bob.accept_refer = false;
  ASSERT_TRUE(w.alice.ua->refer(id, "<sip:carol@example.com>",
                                [&](int s, const Message*) { refer_status = s; }));
  w.pump();
  EXPECT_EQ(refer_status, 603);
  EXPECT_EQ(sipfrag_status("SIP/2.0 486 Busy Here\r\n"), 486);
  EXPECT_EQ(sipfrag_status("SIP/2.0 99 x"), 0);
  EXPECT_EQ(sipfrag_status("HTTP/1.1 200 OK"), 0);
}

TEST(UserAgentPlacesCalls, SessionTimersRefreshAnd422IsRetriedWithMinSe) {
  UaOptions alice_o;
  alice_o.timers.preferred = std::chrono::seconds(120);
  Wire w({}, alice_o);
  w.connect();
  w.run(Millis(61000));
  EXPECT_EQ(w.count("alice>bob UPDATE"), 1u) << "alice asked to refresh: at half of 120 s";
  w.run(Millis(240000));
  EXPECT_EQ(w.count("alice>bob UPDATE"), 5u);
  EXPECT_TRUE(w.bob.ended.empty());
  // alice's refreshes stop arriving: bob ends the call before it expires, alice hears the BYE.
  w.drop = [](const Message& m, const Side&) { return m.is_request() && m.method() == "UPDATE"; };
  w.run(Millis(130000));
  EXPECT_EQ(w.bob.ended, std::vector<std::string>{"session-timer"});
  EXPECT_EQ(w.alice.ended, std::vector<std::string>{"bye"});

  UaOptions strict;
  strict.timers.min_se = std::chrono::seconds(300);
  Wire m(strict, alice_o);
  m.call();
  EXPECT_EQ(m.count("bob>alice 422 INVITE"), 1u);
  ASSERT_EQ(m.bob.invites.size(), 1u) << "the retry with Session-Expires 300 got through";
  ASSERT_TRUE(m.bob.ua->accept(m.bob.invites.back(), kAnswer));
  m.pump();
  EXPECT_EQ(m.alice.answered, 1);
  m.run(Millis(151000));
  EXPECT_EQ(m.count("alice>bob UPDATE"), 1u);
}

}  // namespace
}  // namespace verbatim::sip
