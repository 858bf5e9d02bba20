// The web client's media setup and relay at the gateway (issue 20), against the SDES path in
// the same run. Per call, WebRTC costs a DTLS handshake (both sides run here, in memory: the
// gateway pays about half) where SDES costs a key from the random pool and a parse; per packet
// both relay through the same libsrtp2 sessions (unprotect from one side, protect to the other),
// so the ratio there should be 1. ICE-lite adds a STUN check or two per call and a keep-alive
// check every few seconds.
#include <benchmark/benchmark.h>

#include "media/dtls_srtp.h"
#include "media/srtp.h"
#include "media/stun.h"

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

}  // namespace

BENCHMARK_MAIN();
