// The web client's media setup and relay at the gateway (issue 20), against the SDES path in
// the same run. Per call, WebRTC costs a DTLS handshake (both sides run here, in memory: the
// gateway pays about half) where SDES costs a key from the random pool and a parse; per packet
// both relay through the same libsrtp2 sessions (unprotect from one side, protect to the other),
// so the ratio there should be 1. ICE-lite adds a STUN check or two per call and a keep-alive
// check every few seconds.
// Then calls through the gateway's own relay (gateway/relay.h) on loopback sockets, one thread:
// a browser's call set up (its ports opened, the ICE check answered, the DTLS handshake through
// the relay's port, the first SRTP packet relayed to a plain phone, the ports closed) against an
// SDES phone's (ports, keys, first packet, close): WebRTC calls per core; then SRTP packets
// relayed from each to a plain phone; then Opus transcoded to PCMU against PCMU relayed as is.
#include <benchmark/benchmark.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include "gateway/relay.h"
#include "media/audio.h"
#include "media/dtls_srtp.h"
#include "media/rtp.h"
#include "media/srtp.h"
#include "media/stun.h"
#include "media/transcoder.h"

namespace {

using namespace verbatim::media;

constexpr size_t kRelayPackets = 60000;  // under 2^16: sequence numbers do not wrap

const auto& identities() {
  static const auto a = DtlsIdentity::generate().value();
  static const auto b = DtlsIdentity::generate().value();
  static const std::pair pair{a, b};
  return pair;
}

// One DTLS-SRTP handshake, both sides, to the keys.
std::pair<SdesKey, SdesKey> handshake() {
  const auto& [a, b] = identities();
  auto client = DtlsSrtp::create(a, DtlsSrtp::Role::kClient, b->fingerprint()).value();
  auto server = DtlsSrtp::create(b, DtlsSrtp::Role::kServer, a->fingerprint()).value();
  Datagrams to_server = client->start(), to_client;
  while (!to_server.empty()) {
    for (const auto& d : to_server) {
      for (auto& r : server->receive(d)) to_client.push_back(std::move(r));
    }
    to_server.clear();
    for (const auto& d : to_client) {
      for (auto& r : client->receive(d)) to_server.push_back(std::move(r));
    }
    to_client.clear();
  }
  if (!client->done() || !server->done()) std::abort();
  return {client->local_key(), server->local_key()};
}

void BM_CallSetupDtls(benchmark::State& state) {
  for (auto _ : state) {
    auto keys = handshake();
    auto rx = SrtpReceiver::create(keys.first).value();
    auto tx = SrtpSender::create(keys.second).value();
    benchmark::DoNotOptimize(rx.get());
    benchmark::DoNotOptimize(tx.get());
  }
  state.counters["calls_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CallSetupDtls)->Unit(benchmark::kMicrosecond);

void BM_CallSetupSdes(benchmark::State& state) {
  const std::string suite = "AES_CM_128_HMAC_SHA1_80";
  for (auto _ : state) {
    const std::string theirs = new_sdes_inline(suite);
    const std::string ours = new_sdes_inline(suite);
    auto rx = SrtpReceiver::create(parse_sdes_key(suite, theirs).value()).value();
    auto tx = SrtpSender::create(parse_sdes_key(suite, ours).value()).value();
    benchmark::DoNotOptimize(rx.get());
    benchmark::DoNotOptimize(tx.get());
  }
  state.counters["calls_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CallSetupSdes)->Unit(benchmark::kMicrosecond);

// Relaying one 20 ms Opus-sized packet: unprotect what the browser sent, protect it for the
// other side. `dtls`: with the handshake's keys; else SDES keys.
void relay(benchmark::State& state, bool dtls) {
  const std::string suite = "AES_CM_128_HMAC_SHA1_80";
  SdesKey in, out;
  if (dtls) {
    std::tie(in, out) = handshake();
  } else {
    in = parse_sdes_key(suite, new_sdes_inline(suite)).value();
    out = parse_sdes_key(suite, new_sdes_inline(suite)).value();
  }
  auto browser = SrtpSender::create(in).value();
  auto rx = SrtpReceiver::create(in).value();
  auto tx = SrtpSender::create(out).value();
  // What the browser sent, protected beforehand (a packet may be unprotected only once: the
  // replay check), so the loop times only the gateway's work.
  std::vector<std::vector<uint8_t>> sent(kRelayPackets);
  for (size_t i = 0; i < sent.size(); ++i) {
    std::vector<uint8_t> p{
        0x80, 111, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i), 0, 0, 0, 0, 0x11, 0x22,
        0x33, 0x44};
    p.resize(12 + 120, 0x5a);
    (void)browser->protect(p, false);
    sent[i] = std::move(p);
  }
  size_t i = 0;
  for (auto _ : state) {
    std::vector<uint8_t>& packet = sent[i++];
    size_t size = packet.size();
    if (rx->unprotect(packet.data(), size, false) != SrtpReceiver::Outcome::kOk) std::abort();
    packet.resize(size);
    (void)tx->protect(packet, false);
    benchmark::DoNotOptimize(packet.data());
  }
  state.counters["packets_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
void BM_SrtpRelayDtlsKeys(benchmark::State& state) { relay(state, true); }
void BM_SrtpRelaySdesKeys(benchmark::State& state) { relay(state, false); }
BENCHMARK(BM_SrtpRelayDtlsKeys)->Iterations(kRelayPackets);
BENCHMARK(BM_SrtpRelaySdesKeys)->Iterations(kRelayPackets);

void BM_IceLiteCheck(benchmark::State& state) {
  IceLite ice;
  ice.set_remote_ufrag("brws");
  const boost::asio::ip::udp::endpoint from(boost::asio::ip::make_address("127.0.0.1"), 50000);
  const auto request = binding_request({1, 2, 3}, ice.ufrag() + ":brws", ice.pwd(), 1, true);
  for (auto _ : state) benchmark::DoNotOptimize(ice.on_stun(request, from));
}
BENCHMARK(BM_IceLiteCheck);

// --- through the relay -------------------------------------------------------------------

namespace asio = boost::asio;
using asio::ip::udp;
using verbatim::gateway::RelayStream;
using verbatim::gateway::Side;

const auto kLoopback = asio::ip::make_address("127.0.0.1");

// One thread's loop and the two parties' sockets: a browser (or SDES phone) and a plain phone.
struct Bench {
  Bench() : browser(io), phone(io) {
    for (udp::socket* s : {&browser, &phone}) {
      s->open(udp::v4());
      s->bind(udp::endpoint(kLoopback, 0));
      s->non_blocking(true);
    }
  }
  // A relay on the first free pair of ports from 47000 on (the same ones again and again).
  std::shared_ptr<RelayStream> open() {
    for (uint16_t p = 47000; p < 48000; p += 4) {
      auto r = RelayStream::open(io, kLoopback, p, static_cast<uint16_t>(p + 2));
      if (r) {
        r.value()->set_remote(Side::kB, phone.local_endpoint());
        return r.value();
      }
    }
    std::abort();
  }
  // Runs the loop until `s` has a datagram (bounded); its bytes.
  std::vector<uint8_t> wait(udp::socket& s) {
    std::vector<uint8_t> buf(2048);
    for (int i = 0; i < 200000; ++i) {
      if (io.stopped()) io.restart();
      io.poll();
      boost::system::error_code ec;
      const size_t n = s.receive(asio::buffer(buf), 0, ec);
      if (!ec) {
        buf.resize(n);
        return buf;
      }
    }
    std::abort();  // the relay never delivered
  }
  void send(const std::vector<uint8_t>& d, const std::shared_ptr<RelayStream>& r, Side to) {
    browser.send_to(asio::buffer(d), udp::endpoint(kLoopback, r->port(to)));
  }
  asio::io_context io;
  udp::socket browser, phone;
};

std::vector<uint8_t> rtp_packet(uint16_t seq, uint8_t pt = 0, size_t payload = 160) {
  std::vector<uint8_t> p;
  write_rtp_header(p, pt, false, seq, seq * 160u, 0x1234);
  p.resize(12 + payload, 0xd5);
  return p;
}

SdesKey new_key() {
  const std::string suite = "AES_CM_128_HMAC_SHA1_80";
  return parse_sdes_key(suite, new_sdes_inline(suite)).value();
}

// A browser's call: ICE check, DTLS through the relay, first SRTP packet at the phone. Returns
// the browser's sender (to go on sending with).
std::unique_ptr<SrtpSender> webrtc_call(Bench& b, const std::shared_ptr<RelayStream>& r) {
  const auto& [browser_id, gateway_id] = identities();
  IceLite ice;
  const std::string ufrag = ice.ufrag(), pwd = ice.pwd();
  r->set_ice(Side::kA, std::move(ice));
  r->set_dtls(
      Side::kA,
      DtlsSrtp::create(gateway_id, DtlsSrtp::Role::kServer, browser_id->fingerprint()).value());
  b.send(binding_request({7}, ufrag + ":brws", pwd, 100, true), r, Side::kA);
  (void)b.wait(b.browser);
  auto client =
      DtlsSrtp::create(browser_id, DtlsSrtp::Role::kClient, gateway_id->fingerprint()).value();
  Datagrams flight = client->start();
  while (!client->done()) {
    for (const auto& d : flight) b.send(d, r, Side::kA);
    flight = client->receive(b.wait(b.browser));
  }
  for (const auto& d : flight) b.send(d, r, Side::kA);
  auto tx = SrtpSender::create(client->local_key()).value();
  // The relay keys itself when the last flight comes: the first packet may find it not yet
  // keyed (dropped), so it is sent until one arrives.
  for (uint16_t seq = 1;; ++seq) {
    auto p = rtp_packet(seq);
    (void)tx->protect(p, false);
    b.send(p, r, Side::kA);
    for (int i = 0; i < 50; ++i) {
      b.io.poll();
      std::array<uint8_t, 2048> buf;
      boost::system::error_code ec;
      if (b.phone.receive(asio::buffer(buf), 0, ec) > 0 && !ec) return tx;
    }
  }
}

std::unique_ptr<SrtpSender> sdes_call(Bench& b, const std::shared_ptr<RelayStream>& r) {
  const SdesKey theirs = new_key(), ours = new_key();
  if (!r->set_srtp(Side::kA, theirs, ours)) std::abort();
  r->set_remote(Side::kA, b.browser.local_endpoint());
  auto tx = SrtpSender::create(theirs).value();
  auto p = rtp_packet(1);
  (void)tx->protect(p, false);
  b.send(p, r, Side::kA);
  (void)b.wait(b.phone);
  return tx;
}

void call_setup(benchmark::State& state, bool webrtc) {
  Bench b;
  for (auto _ : state) {
    auto r = b.open();
    auto tx = webrtc ? webrtc_call(b, r) : sdes_call(b, r);
    r->close();
  }
  state.counters["calls_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
void BM_RelayCallSetupWebRtc(benchmark::State& state) { call_setup(state, true); }
void BM_RelayCallSetupSdes(benchmark::State& state) { call_setup(state, false); }
BENCHMARK(BM_RelayCallSetupWebRtc)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RelayCallSetupSdes)->Unit(benchmark::kMicrosecond);

void relayed(benchmark::State& state, bool webrtc) {
  Bench b;
  auto r = b.open();
  auto tx = webrtc ? webrtc_call(b, r) : sdes_call(b, r);
  uint16_t seq = 100;
  for (auto _ : state) {
    auto p = rtp_packet(seq++, 0, 120);
    (void)tx->protect(p, false);
    b.send(p, r, Side::kA);
    benchmark::DoNotOptimize(b.wait(b.phone));
  }
  state.counters["packets_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  r->close();
}
void BM_RelayedSrtpFromBrowser(benchmark::State& state) { relayed(state, true); }
void BM_RelayedSrtpFromSdesPhone(benchmark::State& state) { relayed(state, false); }
BENCHMARK(BM_RelayedSrtpFromBrowser)->Iterations(kRelayPackets);
BENCHMARK(BM_RelayedSrtpFromSdesPhone)->Iterations(kRelayPackets);

// One 20 ms packet relayed: Opus in, PCMU out (transcoded) against PCMU in, PCMU out.
void transcoded(benchmark::State& state, bool transcode) {
  Bench b;
  auto r = b.open();
  r->set_remote(Side::kA, b.browser.local_endpoint());
  std::vector<std::vector<uint8_t>> sent;
  if (transcode) {
    r->set_transcoder(Side::kA, Transcoder::create({"opus", 111}, {"PCMU", 0}).value());
    auto enc = make_encoder("opus", 48000).value();
    std::vector<int16_t> frame(960);
    for (size_t i = 0; i < 500; ++i) {
      for (size_t k = 0; k < frame.size(); ++k) {
        frame[k] = static_cast<int16_t>(4000 * ((i * 960 + k) % 110 < 55 ? 1 : -1));
      }
      std::vector<uint8_t> payload, p;
      (void)enc->encode(frame, payload);
      write_rtp_header(p, 111, false, 0, 0, 0x1234);
      p.insert(p.end(), payload.begin(), payload.end());
      sent.push_back(std::move(p));
    }
  } else {
    for (size_t i = 0; i < 500; ++i) sent.push_back(rtp_packet(0));
  }
  uint16_t seq = 1;
  for (auto _ : state) {
    auto& p = sent[seq % sent.size()];
    p[2] = static_cast<uint8_t>(seq >> 8);
    p[3] = static_cast<uint8_t>(seq);
    ++seq;
    b.send(p, r, Side::kA);
    benchmark::DoNotOptimize(b.wait(b.phone));
  }
  state.counters["packets_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  r->close();
}
void BM_RelayedOpusTranscodedToPcmu(benchmark::State& state) { transcoded(state, true); }
void BM_RelayedPcmuAsIs(benchmark::State& state) { transcoded(state, false); }
BENCHMARK(BM_RelayedOpusTranscodedToPcmu)->Iterations(20000);
BENCHMARK(BM_RelayedPcmuAsIs)->Iterations(20000);

}  // namespace

BENCHMARK_MAIN();
