// The fixture of the gateway's unit tests in virtual time (gateway_calls_test.cc,
// gateway_routing_test.cc): fakes of the gateway's edges, SIP messages, and a tenant.
// Test-only; one test thread.
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>

#include "common/clock.h"
#include "common/ids.h"
#include "common/strings.h"
#include "gateway/gateway.h"
#include "gateway/media_anchor.h"
#include "gateway/policy_view.h"
#include "policy/service.h"
#include "sip/digest.h"
#include "sip/signalling.h"
#include "sip/timers.h"

namespace verbatim::gateway::calls_test {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using std::chrono::seconds;

// --- the fakes -------------------------------------------------------------------------------

// What the gateway asked of the signalling, in order.
struct Sent {
  explicit Sent(std::string what_, uint64_t session_ = 0, int status_ = 0, std::string reason_ = {},
                std::string body_ = {}, sip::HeaderList headers_ = {})
      : what(std::move(what_)),
        session(session_),
        status(status_),
        reason(std::move(reason_)),
        body(std::move(body_)),
        headers(std::move(headers_)) {}
  std::string what;  // "ring", "accept", "reject", "invite", "cancel", "hangup", "update", ...
  uint64_t session = 0;
  int status = 0;
  std::string reason, body;
  sip::HeaderList headers;
  std::string header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (iequals(n, name)) return v;
    }
    return "";
  }
};

class FakeSignalling final : public sip::Signalling {
 public:
  Handlers handlers;
  std::vector<Sent> sent;
  std::map<uint64_t, sip::OutgoingCall> placed;  // our INVITEs, by session
  std::map<uint64_t, sip::Peer> peers;
  std::map<uint64_t, sip::RequestDone> info_done;      // the last INFO's, by session
  std::map<uint64_t, sip::RequestDone> reinvite_done;  // the last re-INVITE's with a body

  Status ring(uint64_t session, const sip::HeaderList& headers) override {
    return log(Sent("ring", session, 180, "", "", headers));
  }
  Status accept(uint64_t session, std::string_view sdp, const sip::HeaderList& headers) override {
    return log(Sent("accept", session, 200, "", std::string(sdp), headers));
  }
  // Recorded as an accept whose headers name the focus's Contact user ("Focus").
  Status accept_as_focus(uint64_t session, std::string_view sdp, std::string_view user,
                         const sip::HeaderList& headers) override {
    auto with = headers;
    with.emplace_back("Focus", std::string(user));
    return log(Sent("accept", session, 200, "", std::string(sdp), with));
  }
  Status reject(uint64_t session, int status, std::string_view reason,
                const sip::HeaderList& headers) override {
    return log(Sent("reject", session, status, std::string(reason), "", headers));
  }
  Result<uint64_t> invite(sip::OutgoingCall call) override {
    const uint64_t id = next_++;
    peers[id] = call.next_hop;
    sent.emplace_back("invite", id, 0, "", call.body, call.headers);
    placed[id] = std::move(call);
    return id;
  }
  Status cancel(uint64_t session) override { return log(Sent("cancel", session)); }
  Status options(const sip::Peer&, std::string_view, sip::RequestDone) override {
    return log(Sent("options"));
  }
  // Page-mode MESSAGEs sent outside a dialog (sent as "page"; the test answers with `done`).
  struct Page {
    sip::OutgoingMessage message;
    sip::RequestDone done;
  };
  std::vector<Page> pages;
  Status send_message(sip::OutgoingMessage message, sip::RequestDone done) override {
    sent.emplace_back("page", 0, 0, message.request_uri, message.body, message.headers);
    pages.push_back({std::move(message), std::move(done)});
    return ok_status();
  }
  Status bye_saved(const sip::Dialog::Saved&, const sip::Peer&, const sip::HeaderList& headers,
                   sip::RequestDone) override {
    return log(Sent("bye-saved", 0, 0, "", "", headers));
  }
  Status reply(uint64_t txn, const sip::Message&, int status, std::string_view reason,
               const sip::HeaderList& headers) override {
    return log(Sent("reply", txn, status, std::string(reason), "", headers));
  }
  Status hangup(uint64_t session, const sip::HeaderList& headers) override {
    return log(Sent("hangup", session, 0, "", "", headers));
  }
  Status reinvite(uint64_t session, std::string_view sdp, sip::RequestDone) override {
    return log(Sent("reinvite", session, 0, "", std::string(sdp)));
  }
  Status reinvite_with_body(uint64_t session, std::string_view, std::string_view content_type,
                            std::string body, sip::RequestDone done) override {
    reinvite_done[session] = std::move(done);
    return log(Sent("reinvite", session, 0, std::string(content_type), std::move(body)));
  }
  Status refer(uint64_t session, std::string_view to, sip::RequestDone done) override {
    refer_done[session] = std::move(done);
    return log(Sent("refer", session, 0, "", std::string(to)));
  }
  std::map<uint64_t, sip::RequestDone> refer_done;  // the last REFER's, by session
  Status update(uint64_t session, std::string_view, std::string body, const sip::HeaderList& h,
                sip::RequestDone) override {
    return log(Sent("update", session, 0, "", std::move(body), h));
  }
  Status info(uint64_t session, std::string_view content_type, std::string body,
              sip::RequestDone done) override {
    info_done[session] = std::move(done);
    return log(Sent("info", session, 0, std::string(content_type), std::move(body)));
  }
  Status notify(uint64_t session, std::string_view event, std::string_view state,
                std::string_view content_type, std::string body) override {
    return log(Sent("notify-" + std::string(event), session, 0, std::string(state), std::move(body),
                    {{"Content-Type", std::string(content_type)}}));
  }
  Status message(uint64_t session, std::string_view content_type, std::string body,
                 sip::RequestDone done) override {
    message_done[session] = std::move(done);
    return log(Sent("message", session, 0, std::string(content_type), std::move(body)));
  }
  std::map<uint64_t, sip::RequestDone> message_done;  // the last in-dialog MESSAGE's, by session
  Status notify_refer(uint64_t session, int status, std::string_view reason) override {
    return log(Sent("notify", session, status, std::string(reason)));
  }
  const sip::Peer* peer(uint64_t session) const override {
    auto it = peers.find(session);
    return it == peers.end() ? nullptr : &it->second;
  }
  const sip::Dialog* dialog(uint64_t) const override { return nullptr; }

  // Our INVITEs whose Request-URI starts with `prefix`, in the order sent.
  std::vector<uint64_t> invites_to(std::string_view prefix) const {
    std::vector<uint64_t> out;
    for (const auto& [id, c] : placed) {
      if (istarts_with(c.request_uri, prefix)) out.push_back(id);
    }
    return out;
  }
  // The first thing of kind `what` sent on `session` (null: none).
  const Sent* find(std::string_view what, uint64_t session) const {
    for (const auto& s : sent) {
      if (s.what == what && s.session == session) return &s;
    }
    return nullptr;
  }
  uint64_t new_session() { return next_++; }

 private:
  Status log(Sent s) {
    sent.push_back(std::move(s));
    return ok_status();
  }
  uint64_t next_ = 1000;
};

// A media anchor that binds nothing: streams count what the gateway did with them, and
// announcements are remembered (they "play" in no time; the gateway times them itself).
class FakeMedia final : public MediaAnchor {
 public:
  struct Stream final : MediaStream {
    uint16_t ports[2] = {0, 0};
    std::vector<std::pair<Side, std::string>> plays;  // to whom, and how many frames
    size_t taps = 0;
    bool closed = false;
    FakeMedia* anchor = nullptr;
    uint16_t port(Side facing) const override { return ports[static_cast<size_t>(facing)]; }
    void set_remote(Side, const asio::ip::udp::endpoint&, bool) override {}
    Status set_srtp(Side, const media::SdesKey&, const media::SdesKey&) override {
      return ok_status();
    }
    void set_signalling(Side, const asio::ip::address&) override {}
    void set_ice(Side side, media::IceLite ice) override {
      ice_ufrag[static_cast<size_t>(side)] = ice.ufrag();
    }
    void set_dtls(Side side, std::unique_ptr<media::DtlsSrtp> d) override {
      dtls[static_cast<size_t>(side)] = d != nullptr;
    }
    Status set_transcoding(Side from, const media::Transcoder::Codec& source,
                           const media::Transcoder::Codec& target) override {
      transcoding[static_cast<size_t>(from)] =
          source.encoding + "->" + target.encoding + "/" + std::to_string(target.payload_type);
      return ok_status();
    }
    std::string transcoding[2];
    std::string ice_ufrag[2];
    bool dtls[2] = {false, false};
    uint64_t add_tap(Side, const std::shared_ptr<MediaTap>&, const asio::ip::udp::endpoint&,
                     std::unique_ptr<media::SrtpSender>) override {
      return ++taps;
    }
    void remove_tap(uint64_t) override { --taps; }
    void pause_tap(uint64_t, bool paused) override { anchor->paused_taps += paused ? 1 : -1; }
    void play(Side to, Announcement a, std::function<void(uint64_t)> done) override {
      plays.emplace_back(to, std::to_string(a.frames ? a.frames->size() : 0));
      anchor->played.push_back(to);
      if (done) done(a.frames ? a.frames->size() : 0);
    }
    RelayCounters counters() const override { return {}; }
    void close() override {
      if (!closed) anchor->open_ports -= 2;
      closed = true;
    }
  };
  struct Tap final : MediaTap {
    uint16_t p = 0;
    bool closed = false;
    FakeMedia* anchor = nullptr;
    uint16_t port() const override { return p; }
    void on_rtp(RtpHandler h) override { handler = std::move(h); }
    void on_rtcp(RtpHandler h) override { rtcp_handler = std::move(h); }
    void send(std::span<const uint8_t> packet, const asio::ip::udp::endpoint& to) override {
      sent.emplace_back(to, std::vector<uint8_t>(packet.begin(), packet.end()));
    }
    void send_rtcp(std::span<const uint8_t> packet, const asio::ip::udp::endpoint& to) override {
      rtcp_sent.emplace_back(to, std::vector<uint8_t>(packet.begin(), packet.end()));
    }
    RtpHandler handler, rtcp_handler;
    std::vector<std::pair<asio::ip::udp::endpoint, std::vector<uint8_t>>> sent, rtcp_sent;
    void close() override {
      if (!closed) --anchor->open_ports;
      closed = true;
    }
  };
  asio::ip::address address() const override { return asio::ip::make_address("192.0.2.1"); }
  Result<std::shared_ptr<MediaStream>> open_stream() override {
    auto s = std::make_shared<Stream>();
    s->ports[0] = next_port_;
    s->ports[1] = next_port_ + 2;
    next_port_ += 4;
    s->anchor = this;
    open_ports += 2;
    streams.push_back(s);
    return std::shared_ptr<MediaStream>(s);
  }
  Result<std::shared_ptr<MediaTap>> open_tap() override {
    auto t = std::make_shared<Tap>();
    taps.push_back(t);
    t->p = next_port_;
    next_port_ += 2;
    t->anchor = this;
    ++open_ports;
    return std::shared_ptr<MediaTap>(t);
  }
  size_t ports_free() const override { return 1000; }

  std::vector<std::shared_ptr<Tap>> taps;        // every tap opened, in order
  std::vector<std::shared_ptr<Stream>> streams;  // every stream opened, in order
  int open_ports = 0;                            // streams' and taps' ports not yet given back
  int paused_taps = 0;                           // taps paused (call control) and not resumed
  std::vector<Side> played;                      // every announcement, to whom
  uint16_t next_port_ = 20000;                   // NOLINT: a test's fake
};

// --- messages --------------------------------------------------------------------------------

inline std::string sdp_body(const std::string& ip, int port, int lines = 1) {
  std::string s = "v=0\r\no=- 1 1 IN IP4 " + ip + "\r\ns=-\r\nc=IN IP4 " + ip + "\r\nt=0 0\r\n";
  for (int i = 0; i < lines; ++i) {
    s += "m=audio " + std::to_string(port + 2 * i) +
         " RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
  }
  return s;
}

inline sip::Message parse(const std::string& text) {
  auto m = sip::Message::parse(text);
  EXPECT_TRUE(m) << text;
  return std::move(m).value();
}

inline std::string with_body(std::string head, const std::string& body, const std::string& type) {
  if (!body.empty()) head += "Content-Type: " + type + "\r\n";
  return head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// An INVITE from the trunk (a PSTN caller) to `to`.
inline sip::Message trunk_invite(const std::string& to, const std::string& call_id,
                                 const std::string& extra = "") {
  return parse(with_body("INVITE " + to +
                             " SIP/2.0\r\n"
                             "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK" +
                             call_id +
                             "\r\n"
                             "From: \"PSTN\" <sip:+14255550199@192.0.2.9>;tag=pstn\r\n"
                             "To: <" +
                             to +
                             ">\r\n"
                             "Call-ID: " +
                             call_id +
                             "\r\n"
                             "CSeq: 1 INVITE\r\n"
                             "Contact: <sip:+14255550199@192.0.2.9:5060>\r\n"
                             "Max-Forwards: 70\r\n" +
                             extra,
                         sdp_body("192.0.2.9", 30000), "application/sdp"));
}

// The response of a peer to one of our INVITEs (or a request in its dialog).
inline sip::Message response_to(const sip::OutgoingCall& c, int status, const std::string& reason,
                                const std::string& body = "", const std::string& extra = "") {
  return parse(with_body("SIP/2.0 " + std::to_string(status) + " " + reason +
                             "\r\n"
                             "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKgw\r\n"
                             "From: " +
                             c.from +
                             ";tag=gw\r\n"
                             "To: " +
                             c.to +
                             ";tag=peer\r\n"
                             "Call-ID: " +
                             (c.call_id.empty() ? "gw-call" : c.call_id) +
                             "\r\n"
                             "CSeq: 1 INVITE\r\n"
                             "Contact: <" +
                             c.request_uri + ">\r\n" + extra,
                         body, "application/sdp"));
}

// An in-dialog request from a party (BYE, REFER).
inline sip::Message request(const std::string& method, const std::string& extra = "") {
  return parse(with_body(method +
                             " sip:gw@192.0.2.1 SIP/2.0\r\n"
                             "Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKr\r\n"
                             "From: <sip:bob@contoso.com>;tag=b\r\n"
                             "To: <sip:gw@192.0.2.1>;tag=gw\r\n"
                             "Call-ID: dialog\r\n"
                             "CSeq: 2 " +
                             method +
                             "\r\n"
                             "Max-Forwards: 70\r\n" +
                             extra,
                         "", ""));
}

// The recorder's answer to a SIPREC offer: one receive-only m-line per offered one.
inline std::string recorder_answer(const std::string& offer) {
  std::string s = "v=0\r\no=- 2 2 IN IP4 192.0.2.50\r\ns=-\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\n";
  size_t i = 0;
  for (size_t at = offer.find("\nm="); at != std::string::npos; at = offer.find("\nm=", at + 1)) {
    const bool video = offer.compare(at, 8, "\nm=video") == 0;
    s += std::string(video ? "m=video " : "m=audio ") + std::to_string(40000 + 2 * i++) +
         (video ? " RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n"
                : " RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n") +
         "a=recvonly\r\n";
  }
  return s;
}

// --- the fixture -----------------------------------------------------------------------------

// Contoso: Bob and Carol are users with a registered phone each; Bob's policy records him with
// one recorder (RequiredBeforeCallEstablishment and RequiredDuringCall unless a test changes
// them); Carol is not recorded. Calls come in from the trunk.
class GatewayCalls : public ::testing::Test {
 protected:
  GatewayCalls() : svc(nullptr, ids, wall) {}

  void SetUp() override {
    ASSERT_TRUE(svc.open());
    // Before the tenant is committed: a service without a store has the credentials' hashes only
    // in its commits, which the view hears.
    view = std::make_unique<ServicePolicyView>(svc);
  }

  // Builds the tenant, then the gateway. `edit` may change the policy before it is committed.
  void start(const std::function<void(policy::Policy&)>& edit = nullptr,
             const std::function<void(GatewayOptions&)>& options = nullptr) {
    {
      std::lock_guard lock(svc.mutex());
      auto& s = svc.state();
      s.put_instance(
          policy::ApplicationInstance{"rec-app", "recorder@contoso.com", "app-1", "Recorder", ""});
      s.put_endpoint(
          policy::RecorderEndpoint{"e1", "app-1", "sip:srs@192.0.2.50:5060", "", "", true});
      policy::Policy p;
      p.name = "Traders";
      p.enabled = true;
      policy::RecordingApplication app;
      app.id = "rec-app";
      app.parent = p.name;
      p.applications.push_back(app);
      if (edit) edit(p);
      s.put_policy(p);
      add_user("u-bob", "bob", "+14255550101", "Traders");
      add_user("u-carol", "carol", "+14255550102", "");
      add_user("u-dave", "dave", "+14255550103", "");
      ASSERT_TRUE(svc.commit("test"));
    }
    GatewayOptions o;
    o.sip_listen = "192.0.2.1:5060";
    o.trunk = "192.0.2.9:5060";
    o.health_interval = milliseconds(0);
    o.sip_domains = {"contoso.com"};
    o.recording_setup_timeout = seconds(5);
    if (options) options(o);
    gw = std::make_unique<Gateway>(io, GatewaySeams{view.get(), &ua, &timers, &wall, &media}, o);
    ua.handlers = gw->handlers();
    ASSERT_TRUE(gw->start());
    register_phone("bob", "192.0.2.20");
    register_phone("carol", "192.0.2.30");
    register_phone("dave", "192.0.2.40");
  }

  void add_user(const std::string& id, const std::string& name, const std::string& number,
                const std::string& policy_name) {
    auto& s = svc.state();
    policy::User u;
    u.object_id = id;
    u.user_principal_name = name + "@contoso.com";
    u.sip_address = "sip:" + name + "@contoso.com";
    u.display_name = name;
    u.phone_number = number;
    u.compliance_recording_policy = policy_name;
    s.put_user(u);
    policy::SipCredential c{id, name, "contoso.com", "", "", ""};
    c.ha1_md5 = sip::digest_ha1(sip::DigestAlgorithm::kMd5, name, "contoso.com", name + "-pw");
    c.ha1_sha256 =
        sip::digest_ha1(sip::DigestAlgorithm::kSha256, name, "contoso.com", name + "-pw");
    s.put_sip_credential(c);
  }

  // REGISTER with digest (the challenge, then the answer): the phone's binding.
  void register_phone(const std::string& name, const std::string& ip) {
    const sip::Peer from{"UDP", ip, 5060};
    auto reg = [&](int cseq, const std::string& auth) {
      return parse(
          with_body("REGISTER sip:contoso.com SIP/2.0\r\n"
                    "Via: SIP/2.0/UDP " +
                        ip + ":5060;branch=z9hG4bKreg" + std::to_string(cseq) +
                        "\r\n"
                        "From: <sip:" +
                        name +
                        "@contoso.com>;tag=r\r\n"
                        "To: <sip:" +
                        name +
                        "@contoso.com>\r\n"
                        "Call-ID: reg-" +
                        name +
                        "\r\n"
                        "CSeq: " +
                        std::to_string(cseq) +
                        " REGISTER\r\n"
                        "Contact: <sip:" +
                        name + "@" + ip +
                        ":5060>\r\n"
                        "Expires: 3600\r\n"
                        "Max-Forwards: 70\r\n" +
                        auth,
                    "", ""));
    };
    ASSERT_TRUE(ua.handlers.on_request(1, reg(1, ""), from));
    const Sent challenge = ua.sent.back();
    ASSERT_EQ(challenge.status, 401) << name;
    auto a = sip::digest_authorize(challenge.header("WWW-Authenticate"), "REGISTER",
                                   "sip:contoso.com", name, name + "-pw", "c0ffee", 1);
    ASSERT_TRUE(a);
    ASSERT_TRUE(ua.handlers.on_request(2, reg(2, "Authorization: " + a.value() + "\r\n"), from));
    ASSERT_EQ(ua.sent.back().status, 200) << name << " did not register";
  }

  // A call from the trunk to `to`; the caller's session.
  uint64_t call(const std::string& to, const std::string& call_id = "call-1",
                const std::string& extra_headers = "") {
    const uint64_t s = ua.new_session();
    ua.peers[s] = sip::Peer{"UDP", "192.0.2.9", 5060};
    ua.handlers.on_invite(s, trunk_invite(to, call_id, extra_headers));
    return s;
  }

  // A call from user `name`'s phone at `ip` (digest: challenged, then sent again with the
  // answer); the session of the INVITE that was let through.
  // `sdp`: the offer (empty: one PCMU stream at ip:30000).
  uint64_t user_call(const std::string& name, const std::string& ip, const std::string& to,
                     const std::string& call_id, const std::string& extra = "",
                     const std::string& sdp = "") {
    auto invite = [&](int cseq, const std::string& auth) {
      return parse(with_body("INVITE " + to + " SIP/2.0\r\nVia: SIP/2.0/UDP " + ip +
                                 ":5060;branch=z9hG4bK" + call_id + std::to_string(cseq) +
                                 "\r\nFrom: <sip:" + name + "@contoso.com>;tag=u\r\nTo: <" + to +
                                 ">\r\nCall-ID: " + call_id + "\r\nCSeq: " + std::to_string(cseq) +
                                 " INVITE\r\nContact: <sip:" + name + "@" + ip +
                                 ":5060>\r\nMax-Forwards: 70\r\n" + extra + auth,
                             sdp.empty() ? sdp_body(ip, 30000) : sdp, "application/sdp"));
    };
    const sip::Peer from{"UDP", ip, 5060};
    const uint64_t first = ua.new_session();
    ua.peers[first] = from;
    ua.handlers.on_invite(first, invite(1, ""));
    const Sent* challenge = ua.find("reject", first);
    EXPECT_TRUE(challenge && challenge->status == 401) << name;
    if (!challenge) return 0;
    auto a = sip::digest_authorize(challenge->header("WWW-Authenticate"), "INVITE", to, name,
                                   name + "-pw", "c0ffee", 1);
    EXPECT_TRUE(a);
    const uint64_t s = ua.new_session();
    ua.peers[s] = from;
    ua.handlers.on_invite(s, invite(2, "Authorization: " + a.value() + "\r\n"));
    return s;
  }

  // The recorder answers each SIPREC INVITE not yet answered.
  void recorders_answer() {
    for (uint64_t s : ua.invites_to("sip:srs@")) {
      if (answered_.insert(s).second) {
        const auto& c = ua.placed.at(s);
        ua.handlers.on_answered(s, response_to(c, 200, "OK", recorder_answer(c.body)));
      }
    }
  }
  void answer(uint64_t session, const std::string& extra = "") {
    answered_.insert(session);
    ua.handlers.on_answered(session, response_to(ua.placed.at(session), 200, "OK",
                                                 sdp_body("192.0.2.20", 32000), extra));
  }
  void advance(milliseconds by) { timers.advance(by); }

  SequentialIdGenerator ids;
  ManualClock wall{TimePoint(std::chrono::seconds(1'800'000'000))};
  policy::PolicyService svc;
  std::unique_ptr<ServicePolicyView> view;
  asio::io_context io;
  sip::ManualTimers timers;
  FakeSignalling ua;
  FakeMedia media;
  std::unique_ptr<Gateway> gw;
  std::set<uint64_t> answered_;
};

}  // namespace verbatim::gateway::calls_test
