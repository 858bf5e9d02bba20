// sip_peer: a SIP user agent built on Verbatim's own stack (src/sip: parser, transaction
// layer, UDP transport), so interop tests can put it opposite real peers (SIPp, Kamailio).
// It is our code under test, not a stand-in for a peer.
//
//   sip_peer uas --listen 127.0.0.1:0
//       answers OPTIONS 200; INVITE 100/180/200 with an SDP answer (re-INVITE too), the 2xx
//       retransmitted until the ACK (RFC 3261 §13.3.1.4); BYE 200; CANCEL 200 + 487.
//   sip_peer uac --listen 127.0.0.1:0 --to 127.0.0.1:5060 --calls N [--hold-ms 200]
//       N calls one after the other: INVITE, ACK, BYE; exits 0 when every call completed.
// Both print "listening UDP <port>" first and a JSON line of counters at the end (SIGTERM
// for the UAS).
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <iostream>
#include <map>

#include "common/ids.h"
#include "sip/sdp.h"
#include "sip/tcp_transport.h"
#include "sip/transaction.h"
#include "sip/transport.h"

using namespace verbatim;
using namespace verbatim::sip;

namespace {

std::string arg(int argc, char** argv, const std::string& name, const std::string& def) {
  for (int i = 2; i + 1 < argc; ++i) {
    if (argv[i] == name) return argv[i + 1];
  }
  return def;
}

const char* kOffer =
    "v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

struct Uas {
  boost::asio::io_context& io;
  AsioTimers timers{io};
  UdpTransport* transport = nullptr;
  std::unique_ptr<TransactionLayer> layer;
  std::string contact;
  std::map<std::string, uint64_t> unacked;       // Call-ID -> 2xx retransmission timer
  std::map<uint64_t, uint64_t> pending_invites;  // server id of INVITEs not answered finally
  uint64_t invites = 0, acks = 0, byes = 0, options = 0, cancels = 0, reinvites = 0;

  void answer_invite(uint64_t id, const Message& req) {
    const std::string tag = random_hex(4);
    (void)layer->respond(id, make_response(req, 180, "Ringing", tag));
    Message ok = make_response(req, 200, "OK", tag);
    ok.add_header("Contact", contact);
    std::string body;
    if (auto offer = parse_sdp(req.body())) {
      AnswerOptions o;
      o.address = "127.0.0.1";
      o.session_id = 7;
      for (size_t i = 0; i < offer.value().media.size(); ++i)
        o.ports.push_back(static_cast<uint16_t>(42000 + 2 * i));
      if (auto a = answer_recvonly(offer.value(), o)) body = serialize_sdp(a.value());
    }
    if (!body.empty()) ok.set_body("application/sdp", body);
    const std::string call_id(req.call_id().value());
    const Peer peer = peer_of(id);
    const std::string bytes = ok.serialize();
    (void)layer->respond(id, std::move(ok));
    // §13.3.1.4: the UAS core retransmits the 2xx until the ACK, T1 doubling up to T2.
    retransmit_2xx(call_id, bytes, peer, Millis(500), Millis(0));
  }
  std::map<uint64_t, Peer> peers;
  Peer peer_of(uint64_t id) { return peers[id]; }

  void retransmit_2xx(const std::string& call_id, const std::string& bytes, const Peer& peer,
                      Millis interval, Millis elapsed) {
    if (elapsed >= Millis(32000)) {
      unacked.erase(call_id);
      return;
    }
    unacked[call_id] = timers.start(interval, [=, this]() {
      if (!unacked.count(call_id)) return;
      transport->send(Message::parse(bytes).value(), peer);
      retransmit_2xx(call_id, bytes, peer, std::min(interval * 2, Millis(4000)),
                     elapsed + interval);
    });
  }

  void on_request(uint64_t id, const Message& req, const Peer& from, uint64_t cancelled) {
    peers[id] = from;
    const std::string method(req.method());
    if (method == "INVITE") {
      const bool in_dialog = req.to() && req.to().value().tag();
      ++(in_dialog ? reinvites : invites);
      answer_invite(id, req);
    } else if (method == "BYE") {
      ++byes;
      (void)layer->respond(id, make_response(req, 200, "OK"));
    } else if (method == "OPTIONS") {
      ++options;
      Message r = make_response(req, 200, "OK", random_hex(4));
      r.add_header("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS");
      (void)layer->respond(id, std::move(r));
    } else if (method == "CANCEL") {
      ++cancels;
      if (!cancelled) {
        (void)layer->respond(id, make_response(req, 481, "Call/Transaction Does Not Exist"));
        return;
      }
      (void)layer->respond(id, make_response(req, 200, "OK"));
    } else {
      Message r = make_response(req, 501, "Not Implemented");
      r.add_header("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS");
      (void)layer->respond(id, std::move(r));
    }
  }

  void on_stray(const Message& m, const Peer&) {
    if (m.is_request() && m.method() == "ACK") {
      ++acks;
      if (auto c = m.call_id()) {
        auto it = unacked.find(std::string(c.value()));
        if (it != unacked.end()) {
          timers.cancel(it->second);
          unacked.erase(it);
        }
      }
    }
  }
};

struct Uac {
  boost::asio::io_context& io;
  AsioTimers timers{io};
  UdpTransport* transport = nullptr;
  std::unique_ptr<TransactionLayer> layer;
  std::string local;  // host:port we listen on
  Peer target;
  int calls = 0, started = 0, completed = 0, failed = 0;
  Millis hold{200};
  std::optional<Message> last_ack;

  Message base(const std::string& method, const std::string& call_id, const std::string& from_tag,
               const std::string& to_tag, int cseq) {
    Message m = Message::request(
        method, "sip:service@" + target.address + ":" + std::to_string(target.port));
    m.add_header("Via",
                 "SIP/2.0/UDP " + local + ";branch=" + TransactionLayer::new_branch() + ";rport");
    m.add_header("Max-Forwards", "70");
    m.add_header("From", "<sip:peer@" + local + ">;tag=" + from_tag);
    m.add_header("To",
                 "<sip:service@" + target.address + ">" + (to_tag.empty() ? "" : ";tag=" + to_tag));
    m.add_header("Call-ID", call_id);
    m.add_header("CSeq", std::to_string(cseq) + " " + method);
    m.add_header("Contact", "<sip:peer@" + local + ">");
    return m;
  }

  void next() {
    if (started == calls) {
      io.stop();
      return;
    }
    ++started;
    const std::string call_id = random_hex(8) + "@verbatim";
    const std::string tag = random_hex(4);
    Message inv = base("INVITE", call_id, tag, "", 1);
    inv.set_body("application/sdp", kOffer);
    auto done = std::make_shared<bool>(false);
    auto r = layer->send_request(
        std::move(inv), target, [=, this](ClientOutcome o, const Message* resp) {
          if (o == ClientOutcome::kTimeout || (resp && resp->status() >= 300)) {
            if (!*done) {
              *done = true;
              ++failed;
              next();
            }
            return;
          }
          if (!resp || resp->status() < 200) return;
          const std::string to_tag(resp->to().value().tag().value_or(""));
          Message ack = base("ACK", call_id, tag, to_tag, 1);
          transport->send(ack, target);  // every 2xx (retransmissions too) is ACKed end to end
          if (*done) return;
          *done = true;
          timers.start(hold, [=, this]() {
            auto b =
                layer->send_request(base("BYE", call_id, tag, to_tag, 2), target,
                                    [this](ClientOutcome o, const Message* resp) {
                                      if (o == ClientOutcome::kProvisional) return;
                                      if (o == ClientOutcome::kFinal && resp->status() == 200) {
                                        ++completed;
                                      } else {
                                        ++failed;
                                      }
                                      next();
                                    });
            if (!b) {
              ++failed;
              next();
            }
          });
        });
    if (!r) {
      ++failed;
      next();
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: sip_peer uas|uac --listen HOST:PORT [--to HOST:PORT --calls N]\n";
    return 2;
  }
  const std::string mode = argv[1];
  boost::asio::io_context io;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code, int) { io.stop(); });
  std::function<void(Message, const Peer&)> deliver;
  UdpTransport transport(io, [&](Message m, const Peer& p) { deliver(std::move(m), p); });
  auto ep = transport.listen(arg(argc, argv, "--listen", "127.0.0.1:0"));
  if (!ep) {
    std::cerr << ep.error().message << "\n";
    return 2;
  }
  const std::string local =
      ep.value().address().to_string() + ":" + std::to_string(ep.value().port());
  // TCP on the same port number (RFC 3261 §18: a UAS listens on both).
  TcpTransport tcp(io, [&](Message m, const Peer& p) { deliver(std::move(m), p); });
  if (auto t = tcp.listen(local); !t) {
    std::cerr << t.error().message << "\n";
    return 2;
  }
  std::cout << "listening UDP " << ep.value().port() << std::endl;
  auto send = [&](const Message& m, const Peer& p) {
    if (p.transport == "TCP") {
      tcp.send(m, p);
    } else {
      transport.send(m, p);
    }
  };
  if (mode == "uas") {
    Uas uas{io};
    uas.transport = &transport;
    uas.contact = "<sip:uas@" + local + ">";
    uas.layer = std::make_unique<TransactionLayer>(
        uas.timers, TransactionLayer::Callbacks{
                        send,
                        [&](uint64_t id, const Message& r, const Peer& f, uint64_t c) {
                          uas.on_request(id, r, f, c);
                        },
                        [&](const Message& m, const Peer& f) { uas.on_stray(m, f); }, nullptr});
    deliver = [&](Message m, const Peer& p) { uas.layer->on_message(std::move(m), p); };
    io.run();
    std::cout << "{\"invites\": " << uas.invites << ", \"reinvites\": " << uas.reinvites
              << ", \"acks\": " << uas.acks << ", \"byes\": " << uas.byes
              << ", \"tcp_connections\": " << tcp.stats().accepted
              << ", \"options\": " << uas.options << ", \"cancels\": " << uas.cancels
              << ", \"rejected\": " << transport.stats().rejected_invalid
              << ", \"dropped\": " << transport.stats().dropped_unparseable << "}" << std::endl;
    return 0;
  }
  if (mode == "uac") {
    Uac uac{io};
    uac.transport = &transport;
    uac.local = local;
    const std::string to = arg(argc, argv, "--to", "127.0.0.1:5060");
    uac.target = Peer{"UDP", to.substr(0, to.rfind(':')),
                      static_cast<uint16_t>(std::stoi(to.substr(to.rfind(':') + 1)))};
    uac.calls = std::stoi(arg(argc, argv, "--calls", "1"));
    uac.hold = Millis(std::stoi(arg(argc, argv, "--hold-ms", "200")));
    uac.layer = std::make_unique<TransactionLayer>(
        uac.timers,
        TransactionLayer::Callbacks{send, nullptr,
                                    [&](const Message& m, const Peer&) {
                                      // A 2xx retransmission after the transaction
                                      // ended: ACK it again.
                                      if (!m.is_request()) {
                                        Message ack = uac.base(
                                            "ACK", std::string(m.call_id().value()),
                                            std::string(m.from().value().tag().value_or("")),
                                            std::string(m.to().value().tag().value_or("")), 1);
                                        transport.send(ack, uac.target);
                                      }
                                    },
                                    nullptr});
    deliver = [&](Message m, const Peer& p) { uac.layer->on_message(std::move(m), p); };
    io.post([&] { uac.next(); });
    io.run();
    std::cout << "{\"calls\": " << uac.calls << ", \"completed\": " << uac.completed
              << ", \"failed\": " << uac.failed << "}" << std::endl;
    return uac.completed == uac.calls ? 0 : 1;
  }
  std::cerr << "unknown mode " << mode << "\n";
  return 2;
}
