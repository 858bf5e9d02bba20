// sip_peer: a SIP user agent built on Verbatim's own stack (src/sip: parser, transaction
// layer, UDP transport), so interop tests can put it opposite real peers (SIPp, Kamailio).
// It is our code under test, not a stand-in for a peer.
//
//   sip_peer uas --listen 127.0.0.1:0 [--md5-only] [--tls-cert PEM --tls-key PEM
//                [--tls-listen 127.0.0.1:0] [--max-connections N] [--max-per-ip N]
//                [--message-timeout-ms N]] [--t1-ms 500]
//       answers OPTIONS 200; REGISTER with a digest challenge (alice / s3cret; SHA-256 and
//       MD5, or MD5 alone); INVITE to "ring" rings 3 s (for CANCEL); INVITE 100/180/200 with an SDP
//       answer (re-INVITE too), the 2xx retransmitted until the ACK (RFC 3261 §13.3.1.4); BYE 200;
//       CANCEL 200 + 487.
//   sip_peer uac --listen 127.0.0.1:0 --to 127.0.0.1:5060 --calls N [--hold-ms 200]
//                [--to-user NAME] [--user U --password P] [--reinvite] [--cancel-after-ms N]
//                [--refer-to URI]
//       N calls one after the other with Verbatim's UserAgent: INVITE (answering a digest
//       challenge with the credentials), ACK, optionally a hold re-INVITE, BYE; or a CANCEL N ms
//       after the INVITE, expecting 487; or a transfer (REFER) of the answered call to URI,
//       waiting for the final NOTIFY. Exits 0 when every call went as planned.
// Both print "listening UDP <port>" first and a JSON line of counters at the end (SIGTERM
// for the UAS); SIGUSR1 prints a line with the heap bytes in use and the RSS.
#include <malloc.h>
#include <sys/resource.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>

#include <boost/asio/ssl/context.hpp>
#include <iostream>
#include <map>
#include <set>

#include "common/ids.h"
#include "sip/dialog.h"
#include "sip/digest.h"
#include "sip/sdp.h"
#include "sip/tcp_transport.h"
#include "sip/transaction.h"
#include "sip/transport.h"
#include "sip/user_agent.h"

using namespace verbatim;
using namespace verbatim::sip;

namespace {

std::string arg(int argc, char** argv, const std::string& name, const std::string& def) {
  for (int i = 2; i + 1 < argc; ++i) {
    if (argv[i] == name) return argv[i + 1];
  }
  return def;
}

#ifdef __SANITIZE_ADDRESS__
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#endif

// Bytes the program holds on the heap (what a leak or an unbounded table grows), RSS apart
// from the allocator's free lists: malloc_trim first returns what it can to the system.
std::string memory_report() {
#ifdef __SANITIZE_ADDRESS__
  const size_t heap = __sanitizer_get_current_allocated_bytes();
#else
  malloc_trim(0);
  const struct mallinfo2 mi = mallinfo2();
  const size_t heap = mi.uordblks + mi.hblkhd;
#endif
  long rss_kb = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    long pages = 0, resident = 0;
    if (std::fscanf(f, "%ld %ld", &pages, &resident) == 2) rss_kb = resident * 4;
    std::fclose(f);
  }
  return "{\"heap_bytes\": " + std::to_string(heap) + ", \"rss_kb\": " + std::to_string(rss_kb) +
         "}";
}

long max_rss_kb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

const char* kOffer =
    "v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

// The UAS: Verbatim's UserAgent core, plus a registrar for the digest test. Counters
// are taken where the messages pass (requests by method, ACKs, 481s sent).
struct Uas {
  explicit Uas(boost::asio::io_context& i) : io(i) {}
  boost::asio::io_context& io;
  AsioTimers timers{io};
  std::function<void(const Message&, const Peer&)> send;
  std::unique_ptr<TransactionLayer> layer;
  std::unique_ptr<UserAgent> core;
  std::map<uint64_t, uint64_t> ring_timers;  // session -> timer answering it
  std::map<uint64_t, std::string> offers;    // session -> the INVITE's SDP
  // Registrar credentials: alice / s3cret, stored as HA1 only.
  DigestServer auth{"verbatim.test",
                    {42},
                    [](std::string_view user, DigestAlgorithm a) -> std::optional<std::string> {
                      if (user != "alice") return std::nullopt;
                      return digest_ha1(a, "alice", "verbatim.test", "s3cret");
                    }};
  uint64_t invites = 0, acks = 0, byes = 0, options = 0, cancels = 0, reinvites = 0, registered = 0,
           challenged = 0, auth_failures = 0, no_dialog = 0;

  static std::string answer_for(std::string_view offer_text) {
    auto offer = parse_sdp(offer_text);
    if (!offer) return {};
    AnswerOptions o;
    o.address = "127.0.0.1";
    o.session_id = 7;
    for (size_t i = 0; i < offer.value().media.size(); ++i) {
      o.ports.push_back(static_cast<uint16_t>(42000 + 2 * i));
    }
    auto a = answer_recvonly(offer.value(), o);
    return a ? serialize_sdp(a.value()) : std::string();
  }

  void on_invite(uint64_t session, const Message& invite) {
    (void)core->ring(session);
    const std::string answer = answer_for(invite.body());
    auto uri = parse_uri(invite.request_uri());
    if (uri && uri.value().user == "ring") {  // rings for 3 s before answering (CANCEL tests)
      ring_timers[session] = timers.start(Millis(3000), [this, session, answer]() {
        ring_timers.erase(session);
        (void)core->accept(session, answer);
      });
      return;
    }
    (void)core->accept(session, answer);
  }

  void on_ended(uint64_t session) {
    if (auto t = ring_timers.find(session); t != ring_timers.end()) {
      timers.cancel(t->second);
      ring_timers.erase(t);
    }
  }

  void on_register(uint64_t id, const Message& req) {
    const Header* authz = req.find(HeaderId::kAuthorization);
    const auto now = std::chrono::system_clock::now();
    DigestVerdict v = authz ? auth.verify(authz->value, "REGISTER", req.request_uri(), now)
                            : DigestVerdict::kMalformed;
    if (v == DigestVerdict::kOk) {
      ++registered;
      Message r = make_response(req, 200, "OK", random_hex(4));
      if (const Header* c = req.find(HeaderId::kContact)) {
        r.add_header("Contact", std::string(c->value) + ";expires=300");
      }
      (void)layer->respond(id, std::move(r));
      return;
    }
    if (v == DigestVerdict::kBadCredentials || v == DigestVerdict::kReplay) {
      ++auth_failures;
      (void)layer->respond(id, make_response(req, 403, "Forbidden"));
      return;
    }
    ++challenged;
    Message r = make_response(req, 401, "Unauthorized", random_hex(4));
    for (const auto& c : auth.challenges(now, v == DigestVerdict::kStale)) {
      r.add_header("WWW-Authenticate", c);
    }
    (void)layer->respond(id, std::move(r));
  }

  void on_request(uint64_t id, const Message& req, const Peer& from, uint64_t cancelled) {
    const std::string method(req.method());
    const bool in_dialog = req.to() && req.to().value().tag();
    if (method == "INVITE") ++(in_dialog ? reinvites : invites);
    if (method == "BYE") ++byes;
    if (method == "OPTIONS") ++options;
    if (method == "CANCEL") ++cancels;
    if (method == "REGISTER") {
      on_register(id, req);
      return;
    }
    core->on_request(id, req, from, cancelled);
  }

  void on_stray(const Message& m, const Peer& from) {
    if (m.is_request() && m.method() == "ACK") ++acks;
    core->on_stray(m, from);
  }
};

// The UAC: Verbatim's UserAgent core placing N calls one after the other.
struct Uac {
  explicit Uac(boost::asio::io_context& i) : io(i) {}
  boost::asio::io_context& io;
  AsioTimers timers{io};
  std::unique_ptr<TransactionLayer> layer;
  std::unique_ptr<UserAgent> core;
  std::string local;  // host:port we listen on
  Peer target;
  std::string user = "service";  // the callee's user part
  std::optional<Credentials> credentials;
  int calls = 0, started = 0, completed = 0, failed_calls = 0, reinvites = 0;
  Millis hold{200};
  int cancel_after_ms = -1;  // >= 0: cancel each call this long after the INVITE (expect 487)
  bool reinvite = false;     // put each call on hold with a re-INVITE before the BYE
  std::string refer_to;      // transfer each answered call there (REFER), then hang up
  int transfers = 0;         // REFERs whose final NOTIFY said 200
  std::set<uint64_t> transferred;

  UserAgent::Handlers handlers() {
    return UserAgent::Handlers{
        .on_ended = [this](uint64_t s, std::string_view why) { ended(s, why); },
        .on_answered = [this](uint64_t s, const Message&) { answered(s); },
        .on_failed = [this](uint64_t, int status, const Message*) { failed(status); },
        .on_refer_progress = [this](uint64_t s, int status) { refer_progress(s, status); }};
  }

  void ended(uint64_t s, std::string_view why) {
    // A transferee may hang up itself once the transfer succeeded.
    if (why == "local" || (why == "bye" && transferred.count(s))) {
      ++completed;
    } else {
      std::cerr << "call ended by " << why << "\n";
      ++failed_calls;
    }
    next();
  }

  void answered(uint64_t s) {
    if (cancel_after_ms >= 0) return;  // the 2xx crossed the CANCEL: ended with a BYE
    timers.start(hold, [this, s]() {
      if (!refer_to.empty()) {
        auto r = core->refer(s, "<" + refer_to + ">", [this, s](int status, const Message*) {
          if (status != 202) (void)core->hangup(s);
        });
        if (!r) (void)core->hangup(s);
        return;
      }
      if (!reinvite) {
        (void)core->hangup(s);
        return;
      }
      std::string held(kOffer);
      held.replace(held.find("a=sendrecv"), 10, "a=sendonly");
      auto r = core->reinvite(s, held, [this, s](int status, const Message*) {
        if (status == 200) ++reinvites;
        (void)core->hangup(s);
      });
      if (!r) (void)core->hangup(s);
    });
  }

  void failed(int status) {
    if (cancel_after_ms >= 0 && status == 487) {
      ++completed;
    } else {
      std::cerr << "call failed with " << status << "\n";
      ++failed_calls;
    }
    next();
  }

  void refer_progress(uint64_t s, int status) {
    if (status < 200) return;
    if (status == 200) {
      ++transfers;
      transferred.insert(s);
    }
    (void)core->hangup(s);
  }

  void next() {
    if (started == calls) {
      io.stop();
      return;
    }
    ++started;
    OutgoingCall c;
    c.next_hop = target;
    c.request_uri = "sip:" + user + "@" + target.address + ":" + std::to_string(target.port);
    c.from = "<sip:peer@" + local + ">";
    c.to = "<sip:" + user + "@" + target.address + ">";
    c.body = kOffer;
    c.credentials = credentials;
    auto id = core->invite(std::move(c));
    if (!id) {
      ++failed_calls;
      io.post([this] { next(); });
      return;
    }
    if (cancel_after_ms >= 0) {
      timers.start(Millis(cancel_after_ms), [this, s = id.value()]() { (void)core->cancel(s); });
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
  // SIGUSR1: a line with the memory in use (for tests that look for growth).
  boost::asio::signal_set usr1(io, SIGUSR1);
  std::function<void()> report = [&]() {
    usr1.async_wait([&](boost::system::error_code ec, int) {
      if (ec) return;
      std::cout << memory_report() << std::endl;
      report();
    });
  };
  report();
  std::function<void(Message, const Peer&)> deliver;
  // UDP, and TCP on the same port number (RFC 3261 §18: a UAS listens on both). With port 0,
  // the number the system gives for UDP may be taken for TCP: then try another one.
  const std::string listen = arg(argc, argv, "--listen", "127.0.0.1:0");
  const bool any_port = listen.size() > 2 && listen.substr(listen.size() - 2) == ":0";
  std::unique_ptr<UdpTransport> udp;
  std::unique_ptr<TcpTransport> tcp_ptr;
  boost::asio::ip::udp::endpoint bound;
  for (int attempt = 0;; ++attempt) {
    udp = std::make_unique<UdpTransport>(
        io, [&](Message m, const Peer& p) { deliver(std::move(m), p); });
    auto ep = udp->listen(listen);
    if (!ep) {
      std::cerr << ep.error().message << "\n";
      return 2;
    }
    bound = ep.value();
    tcp_ptr = std::make_unique<TcpTransport>(
        io, [&](Message m, const Peer& p) { deliver(std::move(m), p); });
    auto t = tcp_ptr->listen(bound.address().to_string() + ":" + std::to_string(bound.port()));
    if (t) break;
    if (!any_port || attempt == 20) {
      std::cerr << t.error().message << "\n";
      return 2;
    }
  }
  UdpTransport& transport = *udp;
  TcpTransport& tcp = *tcp_ptr;
  const std::string local = bound.address().to_string() + ":" + std::to_string(bound.port());
  std::cout << "listening UDP " << bound.port() << std::endl;
  // TLS with the given certificate, on a port of its own, with the connection limits given.
  std::unique_ptr<TcpTransport> tls;
  if (const std::string cert = arg(argc, argv, "--tls-cert", ""); !cert.empty()) {
    auto ctx = std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_server);
    ctx->set_options(boost::asio::ssl::context::no_tlsv1 | boost::asio::ssl::context::no_tlsv1_1);
    boost::system::error_code ec;
    ctx->use_certificate_chain_file(cert, ec);
    if (!ec)
      ctx->use_private_key_file(arg(argc, argv, "--tls-key", ""), boost::asio::ssl::context::pem,
                                ec);
    if (ec) {
      std::cerr << "TLS certificate or key: " << ec.message() << "\n";
      return 2;
    }
    TcpOptions o;
    o.tls = ctx;
    o.max_connections = std::stoul(arg(argc, argv, "--max-connections", "10000"));
    o.max_per_ip = std::stoul(arg(argc, argv, "--max-per-ip", "64"));
    o.message_timeout = Millis(std::stoi(arg(argc, argv, "--message-timeout-ms", "10000")));
    tls = std::make_unique<TcpTransport>(
        io, [&](Message m, const Peer& p) { deliver(std::move(m), p); }, o);
    auto t = tls->listen(arg(argc, argv, "--tls-listen", "127.0.0.1:0"));
    if (!t) {
      std::cerr << t.error().message << "\n";
      return 2;
    }
    std::cout << "listening TLS " << t.value().port() << std::endl;
  }
  // --t1-ms: a shorter T1 (and T2, T4 with it) lets tests see transactions expire sooner.
  TimerConfig timer_config;
  timer_config.t1 = Millis(std::stoi(arg(argc, argv, "--t1-ms", "500")));
  timer_config.t2 = std::min(Millis(4000), timer_config.t1 * 8);
  timer_config.t4 = std::min(Millis(5000), timer_config.t1 * 10);
  auto send = [&](const Message& m, const Peer& p) {
    if (p.transport == "TLS" && tls) {
      tls->send(m, p);
    } else if (p.transport == "TCP") {
      tcp.send(m, p);
    } else {
      transport.send(m, p);
    }
  };
  if (mode == "uas") {
    Uas uas{io};
    uas.send = send;
    for (int i = 2; i < argc; ++i) {
      if (std::string(argv[i]) == "--md5-only") uas.auth.set_algorithms({DigestAlgorithm::kMd5});
    }
    // Every message the UAS sends passes here: 481s are counted (requests outside a dialog).
    auto uas_send = [&](const Message& m, const Peer& p) {
      if (!m.is_request() && m.status() == 481) ++uas.no_dialog;
      send(m, p);
    };
    uas.send = uas_send;
    uas.layer = std::make_unique<TransactionLayer>(
        uas.timers,
        TransactionLayer::Callbacks{
            uas_send,
            [&](uint64_t id, const Message& r, const Peer& f, uint64_t c) {
              uas.on_request(id, r, f, c);
            },
            [&](const Message& m, const Peer& f) { uas.on_stray(m, f); },
            [&](uint64_t id, std::string_view why) { uas.core->on_server_failed(id, why); }},
        timer_config);
    UaOptions uo;
    uo.contact = "<sip:uas@" + local + ">";
    uo.via_sent_by = local;
    uo.t = timer_config;
    uas.core = std::make_unique<UserAgent>(
        *uas.layer, uas.timers, uo,
        UserAgent::Handlers{
            .on_invite = [&](uint64_t s, const Message& inv) { uas.on_invite(s, inv); },
            .on_reoffer = [&](uint64_t, const Message& r) -> Result<std::string> {
              return Uas::answer_for(r.body());
            },
            .on_ended = [&](uint64_t s, std::string_view) { uas.on_ended(s); }});
    deliver = [&](Message m, const Peer& p) { uas.layer->on_message(std::move(m), p); };
    io.run();
    std::cout << "{\"invites\": " << uas.invites << ", \"reinvites\": " << uas.reinvites
              << ", \"acks\": " << uas.acks << ", \"byes\": " << uas.byes
              << ", \"tcp_connections\": " << tcp.stats().accepted
              << ", \"tls_accepted\": " << (tls ? tls->stats().accepted : 0)
              << ", \"tls_refused\": " << (tls ? tls->stats().refused_limit : 0)
              << ", \"tls_evicted\": " << (tls ? tls->stats().evicted : 0)
              << ", \"tls_timeouts\": " << (tls ? tls->stats().closed_timeout : 0)
              << ", \"tls_open\": " << (tls ? tls->connections() : 0)
              << ", \"max_rss_kb\": " << max_rss_kb() << ", \"options\": " << uas.options
              << ", \"cancels\": " << uas.cancels << ", \"registered\": " << uas.registered
              << ", \"challenged\": " << uas.challenged
              << ", \"auth_failures\": " << uas.auth_failures
              << ", \"no_dialog\": " << uas.no_dialog
              << ", \"rejected\": " << transport.stats().rejected_invalid
              << ", \"dropped\": " << transport.stats().dropped_unparseable
              << ", \"udp_received\": " << transport.stats().received
              << ", \"tcp_received\": " << tcp.stats().received
              << ", \"sessions\": " << uas.core->sessions()
              << ", \"transactions\": " << uas.layer->server_count() + uas.layer->client_count()
              << "}" << std::endl;
    return 0;
  }
  if (mode == "uac") {
    Uac uac{io};
    uac.local = local;
    const std::string to = arg(argc, argv, "--to", "127.0.0.1:5060");
    uac.target = Peer{"UDP", to.substr(0, to.rfind(':')),
                      static_cast<uint16_t>(std::stoi(to.substr(to.rfind(':') + 1)))};
    uac.calls = std::stoi(arg(argc, argv, "--calls", "1"));
    uac.user = arg(argc, argv, "--to-user", "service");
    uac.refer_to = arg(argc, argv, "--refer-to", "");
    uac.hold = Millis(std::stoi(arg(argc, argv, "--hold-ms", "200")));
    uac.cancel_after_ms = std::stoi(arg(argc, argv, "--cancel-after-ms", "-1"));
    for (int i = 2; i < argc; ++i) uac.reinvite |= std::string(argv[i]) == "--reinvite";
    if (const std::string user = arg(argc, argv, "--user", ""); !user.empty()) {
      uac.credentials = Credentials{user, arg(argc, argv, "--password", "")};
    }
    uac.layer = std::make_unique<TransactionLayer>(
        uac.timers,
        TransactionLayer::Callbacks{
            send,
            [&](uint64_t id, const Message& r, const Peer& f, uint64_t c) {
              uac.core->on_request(id, r, f, c);
            },
            [&](const Message& m, const Peer& f) { uac.core->on_stray(m, f); },
            [&](uint64_t id, std::string_view why) { uac.core->on_server_failed(id, why); }},
        timer_config);
    UaOptions uo;
    uo.contact = "<sip:peer@" + local + ">";
    uo.via_sent_by = local;
    uo.t = timer_config;
    uac.core = std::make_unique<UserAgent>(*uac.layer, uac.timers, uo, uac.handlers());
    deliver = [&](Message m, const Peer& p) { uac.layer->on_message(std::move(m), p); };
    io.post([&] { uac.next(); });
    io.run();
    std::cout << "{\"calls\": " << uac.calls << ", \"completed\": " << uac.completed
              << ", \"failed\": " << uac.failed_calls << ", \"reinvites\": " << uac.reinvites
              << ", \"transfers\": " << uac.transfers << "}" << std::endl;
    return uac.completed == uac.calls ? 0 : 1;
  }
  std::cerr << "unknown mode " << mode << "\n";
  return 2;
}
