#include "sip/digest.h"

#include <gtest/gtest.h>

namespace verbatim::sip {
namespace {

using namespace std::chrono;

TEST(Digest, Rfc2617AndRfc7616TestVectors) {
  // RFC 2617 §3.5 (MD5, qop=auth).
  auto md5 = digest_authorize(
      "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", "
      "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
      "GET", "/dir/index.html", "Mufasa", "Circle Of Life", "0a4f113b", 1);
  ASSERT_TRUE(md5) << md5.error().message;
  EXPECT_NE(md5.value().find("response=\"6629fae49393a05397450978507c4ef1\""), std::string::npos)
      << md5.value();
  EXPECT_NE(md5.value().find("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""), std::string::npos);
  // RFC 7616 §3.9.1 (SHA-256).
  auto sha = digest_authorize(
      "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=SHA-256, "
      "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
      "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
      "GET", "/dir/index.html", "Mufasa", "Circle of Life",
      "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", 1);
  ASSERT_TRUE(sha) << sha.error().message;
  EXPECT_NE(sha.value().find("753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
            std::string::npos)
      << sha.value();
}

constexpr const char* kUri = "sip:verbatim.example";

class DigestServerTest : public ::testing::Test {
 protected:
  const std::array<uint8_t, 32> secret{7, 7, 7};
  DigestServer server{"verbatim.example", secret,
                      [](std::string_view user, DigestAlgorithm a) -> std::optional<std::string> {
                        if (user != "alice") return std::nullopt;
                        return digest_ha1(a, "alice", "verbatim.example", "s3cret");
                      }};
  system_clock::time_point t0 = system_clock::time_point(seconds(1800000000));

  std::string answer(const std::string& challenge, const std::string& user, const std::string& pw,
                     uint32_t nc = 1) {
    return digest_authorize(challenge, "REGISTER", "sip:verbatim.example", user, pw, "c0ffee", nc)
        .value();
  }
};

TEST_F(DigestServerTest, AcceptsBothAlgorithmsAndRejectsWrongPasswordsAndUnknownUsersAlike) {
  const auto ch = server.challenges(t0);
  ASSERT_EQ(ch.size(), 2u);
  EXPECT_NE(ch[0].find("algorithm=SHA-256"), std::string::npos) << "SHA-256 first (RFC 8760)";
  EXPECT_NE(ch[1].find("algorithm=MD5"), std::string::npos);
  EXPECT_EQ(server.verify(answer(ch[0], "alice", "s3cret"), "REGISTER", kUri, t0),
            DigestVerdict::kOk);
  // Both challenges carry the same nonce, so the next answer counts on (nc=2).
  EXPECT_EQ(server.verify(answer(ch[1], "alice", "s3cret", 2), "REGISTER", kUri, t0),
            DigestVerdict::kOk);
  EXPECT_EQ(server.verify(answer(ch[0], "alice", "wrong"), "REGISTER", kUri, t0),
            DigestVerdict::kBadCredentials);
  EXPECT_EQ(server.verify(answer(ch[0], "mallory", "s3cret"), "REGISTER", kUri, t0),
            DigestVerdict::kBadCredentials)
      << "an unknown user looks exactly like a wrong password";
  // The method is part of the answer.
  EXPECT_EQ(server.verify(answer(ch[0], "alice", "s3cret", 2), "INVITE", kUri, t0),
            DigestVerdict::kBadCredentials);
}

TEST_F(DigestServerTest, ExpiredNoncesAreStaleReplaysAndForgedNoncesAreRefused) {
  const auto ch = server.challenges(t0);
  const std::string first = answer(ch[0], "alice", "s3cret", 1);
  EXPECT_EQ(server.verify(first, "REGISTER", kUri, t0), DigestVerdict::kOk);
  EXPECT_EQ(server.verify(first, "REGISTER", kUri, t0 + seconds(1)), DigestVerdict::kReplay);
  EXPECT_EQ(server.verify(answer(ch[0], "alice", "s3cret", 2), "REGISTER", kUri, t0 + seconds(2)),
            DigestVerdict::kOk)
      << "a higher nonce-count is fine";
  EXPECT_EQ(server.verify(answer(ch[0], "alice", "s3cret", 3), "REGISTER", kUri, t0 + seconds(301)),
            DigestVerdict::kStale);
  EXPECT_NE(server.challenges(t0, true)[0].find("stale=true"), std::string::npos);
  // A nonce we did not issue (or issued under another secret) is not accepted.
  std::string forged = ch[0];
  forged[forged.find("nonce=\"") + 8] ^= 1;
  EXPECT_NE(server.verify(answer(forged, "alice", "s3cret"), "REGISTER", kUri, t0),
            DigestVerdict::kOk);
  std::string garbled = ch[0];
  garbled.replace(garbled.find("nonce=\"") + 7, 40, "not-a-nonce");
  EXPECT_EQ(server.verify(answer(garbled, "alice", "s3cret"), "REGISTER", kUri, t0),
            DigestVerdict::kMalformed);
  // Found by UBSan: an issue time of 2^56 ms must not overflow the clock arithmetic.
  std::string far_future = ch[0];
  far_future.replace(far_future.find("nonce=\"") + 7, 16, "0100000000000000");
  EXPECT_NE(server.verify(answer(far_future, "alice", "s3cret"), "REGISTER", kUri, t0),
            DigestVerdict::kOk);
  // A nonce of ours under another secret — one issued before a restart: stale (re-challenge
  // without bothering the user), never accepted.
  DigestServer other("verbatim.example", {9}, [](auto, auto) { return std::nullopt; });
  EXPECT_EQ(server.verify(answer(other.challenges(t0)[0], "alice", "s3cret"), "REGISTER", kUri, t0),
            DigestVerdict::kStale);
}

TEST(DigestParse, HandlesQuotingAndRejectsGarbage) {
  auto p = parse_digest("Digest username=\"a\\\"b\", realm=x , nc=00000001,qop=auth");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p.value().get("username"), "a\"b");
  EXPECT_EQ(p.value().get("realm"), "x");
  EXPECT_EQ(p.value().get("qop"), "auth");
  for (const char* bad :
       {"", "Digest username", "Digest a=\"open", "Digest a=1 b=2", "Digest a=1, a=2"}) {
    EXPECT_FALSE(parse_digest(bad)) << bad;
  }
  EXPECT_FALSE(digest_authorize("Basic realm=\"x\"", "GET", "/", "u", "p", "c", 1));
  EXPECT_FALSE(digest_authorize("Digest realm=\"x\", nonce=\"n\", algorithm=SHA-512-256", "GET",
                                "/", "u", "p", "c", 1));
}

// T33: 10 k guesses a minute from one source are cut off after the threshold; other sources
// are unaffected; the block ends.
TEST(AuthFailureLimiter, BlocksABruteForcingSourceOnly) {
  AuthFailureLimiter limiter(20, seconds(60), seconds(600));
  const auto t0 = steady_clock::time_point(seconds(1000));
  int verified = 0;
  for (int i = 0; i < 10000; ++i) {
    const auto now = t0 + milliseconds(6 * i);  // 10 k per minute
    if (limiter.blocked("198.51.100.66", "alice@x", now)) continue;
    ++verified;
    limiter.failure("198.51.100.66", "alice@x", now);
  }
  EXPECT_EQ(verified, 20) << "only the first 20 guesses are even checked";
  EXPECT_FALSE(limiter.blocked("192.0.2.10", "alice@x", t0 + seconds(30)));
  EXPECT_TRUE(limiter.blocked("198.51.100.66", "alice@x", t0 + seconds(599)));  // at ~0.1 s
  EXPECT_FALSE(limiter.blocked("198.51.100.66", "alice@x", t0 + seconds(601)));
  // Failures spread out over more than the window never block.
  for (int i = 0; i < 100; ++i) limiter.failure("192.0.2.11", "alice@x", t0 + seconds(61 * i));
  EXPECT_FALSE(limiter.blocked("192.0.2.11", "alice@x", t0 + seconds(61 * 99)));
  // Spraying many identities from one source blocks the source (5 x the threshold).
  for (int i = 0; i < 100; ++i) {
    limiter.failure("198.51.100.77", "user" + std::to_string(i) + "@x", t0 + milliseconds(i));
  }
  EXPECT_TRUE(limiter.blocked("198.51.100.77", "someone-else@x", t0 + seconds(1)));
}

// One account's successful login from a source must not wipe out another account's failures
// from that source (an attacker with one valid login could otherwise guess forever).
TEST(AuthFailureLimiter, BruteForceLimiterKeyedBySourceAndIdentity) {
  AuthFailureLimiter limiter(20, seconds(60), seconds(600));
  const auto t0 = steady_clock::time_point(seconds(1000));
  int verified = 0;
  for (int i = 0; i < 100; ++i) {
    const auto now = t0 + milliseconds(100 * i);
    if (limiter.blocked("198.51.100.9", "victim@x", now)) continue;
    ++verified;
    limiter.failure("198.51.100.9", "victim@x", now);
    limiter.success("198.51.100.9", "mallory@x");  // the attacker's own account logs in
  }
  EXPECT_EQ(verified, 20);
  EXPECT_FALSE(limiter.blocked("198.51.100.9", "mallory@x", t0 + seconds(11)));
}

// The realm is not the request's to choose, and a nonce-count table that is full never lets a
// still-valid nonce be replayed: the dropped nonce is no longer accepted at all.
TEST_F(DigestServerTest, DigestReplayNonceCountStateNeverEvictedForALiveNonce) {
  DigestServer small{"verbatim.example", secret,
                     [](std::string_view user, DigestAlgorithm a) -> std::optional<std::string> {
                       if (user != "alice") return std::nullopt;
                       return digest_ha1(a, "alice", "verbatim.example", "s3cret");
                     },
                     seconds(300), 4};
  const std::string captured = answer(small.challenges(t0)[0], "alice", "s3cret", 1);
  ASSERT_EQ(small.verify(captured, "REGISTER", kUri, t0), DigestVerdict::kOk);
  // The attacker fills the table with fresh nonces of its own valid account.
  for (int i = 0; i < 10; ++i) {
    const auto t = t0 + milliseconds(10 + i);
    EXPECT_EQ(
        small.verify(answer(small.challenges(t)[0], "alice", "s3cret", 1), "REGISTER", kUri, t),
        DigestVerdict::kOk);
  }
  // The captured answer's nonce is still within its lifetime: a replay is refused, not accepted
  // because its state was evicted.
  EXPECT_NE(small.verify(captured, "REGISTER", kUri, t0 + seconds(1)), DigestVerdict::kOk);
}

// RFC 3261 §22.4: the digest uri names the Request-URI; an answer captured for one target is
// refused on another.
TEST_F(DigestServerTest, DigestReplayUriMustMatchTheRequestUri) {
  const auto ch = server.challenges(t0);
  const std::string a =
      digest_authorize(ch[0], "INVITE", "sip:bob@verbatim.example", "alice", "s3cret", "c0ffee", 1)
          .value();
  EXPECT_EQ(server.verify(a, "INVITE", "sip:premium-rate@verbatim.example", t0),
            DigestVerdict::kWrongUri);
  const std::string b =
      digest_authorize(ch[0], "INVITE", "sip:bob@verbatim.example", "alice", "s3cret", "c0ffee", 2)
          .value();
  EXPECT_EQ(server.verify(b, "INVITE", "sip:bob@VERBATIM.example;transport=udp", t0),
            DigestVerdict::kOk)
      << "the same target, host case and parameters aside";
}

// digest.cc read the nonce-count from two different temporaries' buffers: built at -O0, every
// qop=auth answer failed. This file is also built at -O0 (sip_digest_o0_test).
TEST_F(DigestServerTest, DigestFromCharsOnTemporariesQopAuthAcceptedAtEveryOptimisation) {
  const auto ch = server.challenges(t0);
  for (uint32_t nc = 1; nc <= 3; ++nc) {
    EXPECT_EQ(server.verify(answer(ch[0], "alice", "s3cret", nc), "REGISTER", kUri, t0),
              DigestVerdict::kOk)
        << nc;
  }
}

}  // namespace
}  // namespace verbatim::sip
