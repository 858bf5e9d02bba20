#include "media/dtls_srtp.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace verbatim::media {
namespace {

// Moves each side's datagrams to the other until neither has anything to say (bounded).
void exchange(DtlsSrtp& client, DtlsSrtp& server, Datagrams first, bool drop_first_answer = false) {
  Datagrams to_server = std::move(first), to_client;
  for (int round = 0; round < 20 && (!to_server.empty() || !to_client.empty()); ++round) {
    for (const auto& d : to_server) {
      for (auto& r : server.receive(d)) to_client.push_back(std::move(r));
    }
    to_server.clear();
    if (drop_first_answer) {
      to_client.clear();  // the server's first flight is lost
      drop_first_answer = false;
      return;
    }
    for (const auto& d : to_client) {
      for (auto& r : client.receive(d)) to_server.push_back(std::move(r));
    }
    to_client.clear();
  }
}

struct Pair {
  std::shared_ptr<const DtlsIdentity> a = DtlsIdentity::generate().value();
  std::shared_ptr<const DtlsIdentity> b = DtlsIdentity::generate().value();
};

TEST(DtlsSrtp, BothSidesAgreeOnKeysAndSrtpFlowsWithThem) {
  Pair p;
  EXPECT_EQ(p.a->fingerprint().substr(0, 8), "sha-256 ");
  EXPECT_EQ(p.a->fingerprint().size(), 8u + 32 * 3 - 1);
  EXPECT_NE(p.a->fingerprint(), p.b->fingerprint());
  auto client = DtlsSrtp::create(p.a, DtlsSrtp::Role::kClient, p.b->fingerprint()).value();
  auto server = DtlsSrtp::create(p.b, DtlsSrtp::Role::kServer, p.a->fingerprint()).value();
  EXPECT_TRUE(server->start().empty()) << "the passive side waits for the ClientHello";
  auto hello = client->start();
  ASSERT_FALSE(hello.empty());
  EXPECT_EQ(hello[0][0], 22) << "a DTLS handshake record (RFC 7983: 20-63)";
  exchange(*client, *server, std::move(hello));
  ASSERT_TRUE(client->done()) << client->failure();
  ASSERT_TRUE(server->done()) << server->failure();
  EXPECT_EQ(client->local_key(), server->remote_key());
  EXPECT_EQ(server->local_key(), client->remote_key());
  EXPECT_NE(client->local_key(), server->local_key());
  EXPECT_EQ(client->local_key().key_salt.size(), 30u);

  // The browser's side sends SRTP with its key; ours authenticates and decrypts it.
  auto sender = SrtpSender::create(client->local_key()).value();
  auto receiver = SrtpReceiver::create(server->remote_key()).value();
  std::vector<uint8_t> rtp{0x80, 0x00, 0x00, 0x01, 0, 0, 0, 160, 0x12, 0x34, 0x56, 0x78};
  rtp.resize(12 + 160, 0xd5);
  const std::vector<uint8_t> plain = rtp;
  ASSERT_TRUE(sender->protect(rtp, false));
  size_t size = rtp.size();
  ASSERT_EQ(receiver->unprotect(rtp.data(), size, false), SrtpReceiver::Outcome::kOk);
  rtp.resize(size);
  EXPECT_EQ(rtp, plain);
}

TEST(DtlsSrtp, ACertificateThatIsNotTheOneInTheSdpIsRefusedAndGivesNoKeys) {
  Pair p;
  auto other = DtlsIdentity::generate().value();
  // The server was told (by SDP) to expect another certificate than the client presents: a
  // man in the middle on the media path.
  auto client = DtlsSrtp::create(p.a, DtlsSrtp::Role::kClient, p.b->fingerprint()).value();
  auto server = DtlsSrtp::create(p.b, DtlsSrtp::Role::kServer, other->fingerprint()).value();
  exchange(*client, *server, client->start());
  EXPECT_FALSE(server->done());
  EXPECT_NE(server->failure().find("does not match its a=fingerprint"), std::string::npos)
      << server->failure();
  EXPECT_TRUE(server->local_key().key_salt.empty());
  EXPECT_TRUE(server->receive(std::vector<uint8_t>{22, 0xfe, 0xfd}).empty()) << "failed for good";
  // The client learns it too (the server's bad_certificate alert): it has no keys either.
  EXPECT_FALSE(client->done());
  EXPECT_FALSE(client->failure().empty());
  // And the other way round: the client checks the server too.
  auto c2 = DtlsSrtp::create(p.a, DtlsSrtp::Role::kClient, other->fingerprint()).value();
  auto s2 = DtlsSrtp::create(p.b, DtlsSrtp::Role::kServer, p.a->fingerprint()).value();
  exchange(*c2, *s2, c2->start());
  EXPECT_FALSE(c2->done());
  EXPECT_NE(c2->failure().find("does not match its a=fingerprint"), std::string::npos);
  EXPECT_FALSE(s2->done());
}

TEST(DtlsSrtp, BadFingerprintsAreRefusedUpFrontAndALostFlightIsSentAgain) {
  Pair p;
  for (const char* bad : {"sha-256", "md5 AB:CD", "sha-256 AB:CD", "sha-256 ZZ:", "sha-1 AB;CD"}) {
    EXPECT_FALSE(DtlsSrtp::create(p.a, DtlsSrtp::Role::kServer, bad)) << bad;
  }
  auto client = DtlsSrtp::create(p.a, DtlsSrtp::Role::kClient, p.b->fingerprint()).value();
  auto server = DtlsSrtp::create(p.b, DtlsSrtp::Role::kServer, p.a->fingerprint()).value();
  exchange(*client, *server, client->start(), /*drop_first_answer=*/true);
  EXPECT_FALSE(client->done());
  // The client's timer (1 s at first) sends its flight again, and the handshake completes.
  Datagrams again;
  for (int i = 0; i < 40 && again.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    again = client->on_timer();
  }
  ASSERT_FALSE(again.empty());
  exchange(*client, *server, std::move(again));
  EXPECT_TRUE(client->done()) << client->failure();
  EXPECT_TRUE(server->done()) << server->failure();
}

}  // namespace
}  // namespace verbatim::media
