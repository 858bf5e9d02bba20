#include "media/stun.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "media/rtp.h"

namespace verbatim::media {
namespace {

using boost::asio::ip::make_address;
using boost::asio::ip::udp;

std::vector<uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

// RFC 5769 §2.1: a Binding request with short-term credentials (USERNAME "evtj:h6vY", password
// "VOkJxbRl1RmTxUk/WvJxBt"), PRIORITY, ICE-CONTROLLED, MESSAGE-INTEGRITY and FINGERPRINT.
const std::string kRequest = std::string(
    "\x00\x01\x00\x58\x21\x12\xa4\x42\xb7\xe7\xa7\x01\xbc\x34\xd6\x86\xfa\x87\xdf\xae"
    "\x80\x22\x00\x10STUN test client"
    "\x00\x24\x00\x04\x6e\x00\x01\xff"
    "\x80\x29\x00\x08\x93\x2f\xf9\xb1\x51\x26\x3b\x36"
    "\x00\x06\x00\x09\x65\x76\x74\x6a\x3a\x68\x36\x76\x59\x20\x20\x20"
    "\x00\x08\x00\x14\x9a\xea\xa7\x0c\xbf\xd8\xcb\x56\x78\x1e\xf2\xb5\xb2\xd3\xf2\x49\xc1\xb5\x71"
    "\xa2"
    "\x80\x28\x00\x04\xe5\x7a\x3b\xcf",
    108);
// RFC 5769 §2.2: its success response to 192.0.2.1:32853, SOFTWARE "test vector ".
const std::string kResponseV4 = std::string(
    "\x01\x01\x00\x3c\x21\x12\xa4\x42\xb7\xe7\xa7\x01\xbc\x34\xd6\x86\xfa\x87\xdf\xae"
    "\x80\x22\x00\x0b\x74\x65\x73\x74\x20\x76\x65\x63\x74\x6f\x72\x20"
    "\x00\x20\x00\x08\x00\x01\xa1\x47\xe1\x12\xa6\x43"
    "\x00\x08\x00\x14\x2b\x91\xf5\x99\xfd\x9e\x90\xc3\x8c\x74\x89\xf9\x2a\xf9\xba\x53\xf0\x6b\xe7"
    "\xd7"
    "\x80\x28\x00\x04\xc0\x7d\x4c\x96",
    80);
constexpr std::string_view kPassword = "VOkJxbRl1RmTxUk/WvJxBt";

TEST(Stun, TheRfc5769RequestChecksAndATamperedOneDoesNot) {
  const auto req = bytes(kRequest);
  EXPECT_EQ(classify(req), PacketKind::kStun);
  auto r = check_binding_request(req, kPassword);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r.value().username, "evtj:h6vY");
  EXPECT_EQ(r.value().priority, 0x6e0001ffu);
  EXPECT_FALSE(r.value().controlling);
  EXPECT_FALSE(r.value().use_candidate);

  auto wrong = check_binding_request(req, "not the password");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(stun_error_for(wrong.error()), 401);
  auto tampered = req;
  tampered[27] ^= 1;  // in SOFTWARE: the FINGERPRINT no longer matches
  ASSERT_FALSE(check_binding_request(tampered, kPassword));
  EXPECT_EQ(stun_error_for(check_binding_request(tampered, kPassword).error()), 400);
  // Without FINGERPRINT (it is optional) the integrity alone decides.
  auto no_fingerprint = std::vector<uint8_t>(req.begin(), req.end() - 8);
  no_fingerprint[3] = static_cast<uint8_t>(no_fingerprint.size() - 20);
  EXPECT_TRUE(check_binding_request(no_fingerprint, kPassword));
  no_fingerprint[30] ^= 1;  // the PRIORITY changed under the MESSAGE-INTEGRITY
  EXPECT_EQ(stun_error_for(check_binding_request(no_fingerprint, kPassword).error()), 401);
}

TEST(Stun, OurSuccessResponseMatchesTheRfc5769OneAndReadsBack) {
  StunTransaction t{};
  std::copy(kRequest.begin() + 8, kRequest.begin() + 20, t.begin());
  const udp::endpoint from(make_address("192.0.2.1"), 32853);
  // The same bytes up to SOFTWARE's padding (RFC 8489 pads with zeros, RFC 5769's vector with a
  // space, which its hashes then cover), and the same XOR-MAPPED-ADDRESS after it.
  const auto ours = binding_success(t, from, kPassword, "test vector");
  const auto rfc = bytes(kResponseV4);
  ASSERT_EQ(ours.size(), rfc.size());
  EXPECT_TRUE(std::equal(ours.begin(), ours.begin() + 35, rfc.begin()));
  EXPECT_TRUE(std::equal(ours.begin() + 36, ours.begin() + 48, rfc.begin() + 36));
  // Read back (without SOFTWARE too), over IPv4 and IPv6.
  EXPECT_EQ(mapped_address(bytes(kResponseV4), kPassword), from);
  EXPECT_EQ(mapped_address(binding_success(t, from, kPassword), kPassword), from);
  const udp::endpoint v6(make_address("2001:db8:1234:5678:11:2233:4455:6677"), 32853);
  EXPECT_EQ(mapped_address(binding_success(t, v6, kPassword), kPassword), v6);
  EXPECT_EQ(mapped_address(binding_success(t, from, kPassword), "another"), std::nullopt);
}

TEST(Stun, DatagramsAreToldApartAndGarbageIsNeitherAnsweredNorTrusted) {
  EXPECT_EQ(classify(bytes("\x16\xfe\xfd")), PacketKind::kDtls);          // a DTLS handshake record
  const std::vector<uint8_t> rtp{0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1};  // RTP version 2
  EXPECT_EQ(classify(rtp), PacketKind::kRtp);
  EXPECT_EQ(classify({}), PacketKind::kUnknown);
  EXPECT_EQ(classify(bytes("\xff")), PacketKind::kUnknown);
  for (const std::string& junk : {std::string("\x00\x01\x00\x04", 4), std::string(20, '\0'),
                                  kRequest.substr(0, 50), kResponseV4}) {
    auto r = check_binding_request(bytes(junk), kPassword);
    ASSERT_FALSE(r);
    EXPECT_EQ(stun_error_for(r.error()), 0) << "not a Binding request: not answered";
  }
  const auto err = binding_error(StunTransaction{}, 401, "Unauthorized");
  EXPECT_EQ(classify(err), PacketKind::kStun);
  EXPECT_EQ(err[0], 0x01);
  EXPECT_EQ(err[1], 0x11);
  EXPECT_EQ(mapped_address(err, kPassword), std::nullopt);
}

TEST(IceLite, OnlyChecksForThisSessionWithItsPasswordAreAnsweredAndOnlyTheirAddressesTrusted) {
  IceLite ice;
  EXPECT_EQ(ice.ufrag().size(), 8u);
  EXPECT_GE(ice.pwd().size(), 22u);
  EXPECT_NE(IceLite().pwd(), ice.pwd()) << "fresh credentials per session";
  ice.set_remote_ufrag("brws");
  const udp::endpoint browser(make_address("127.0.0.1"), 50000);
  const udp::endpoint attacker(make_address("127.0.0.1"), 50001);
  StunTransaction t{1, 2, 3};
  EXPECT_FALSE(ice.selected());

  // Unchecked: nothing is trusted yet. A check with the wrong password is refused (401) and
  // trusts nothing; so is one naming another session's ufrag, even with our password.
  auto wrong = ice.on_stun(binding_request(t, ice.ufrag() + ":brws", "guess", 1, false), attacker);
  ASSERT_FALSE(wrong.empty());
  EXPECT_EQ(wrong[1], 0x11) << "an error response";
  auto other = ice.on_stun(binding_request(t, "zzzz:brws", ice.pwd(), 1, false), attacker);
  EXPECT_EQ(other[1], 0x11);
  auto not_peer =
      ice.on_stun(binding_request(t, ice.ufrag() + ":evil", ice.pwd(), 1, false), attacker);
  EXPECT_EQ(not_peer[1], 0x11);
  EXPECT_FALSE(ice.checked(attacker));
  EXPECT_TRUE(ice.on_stun(bytes("garbage that is not STUN"), attacker).empty());

  // The browser's check is answered with its address, and that address is now trusted.
  auto ok = ice.on_stun(binding_request(t, ice.ufrag() + ":brws", ice.pwd(), 1, false), browser);
  EXPECT_EQ(mapped_address(ok, ice.pwd()), browser);
  EXPECT_TRUE(ice.checked(browser));
  EXPECT_FALSE(ice.checked(attacker));
  EXPECT_EQ(ice.selected(), browser);
  // A second candidate checked later, then the first nominated: the nominated one is used.
  const udp::endpoint v6(make_address("::1"), 50002);
  ice.on_stun(binding_request(t, ice.ufrag() + ":brws", ice.pwd(), 2, false), v6);
  EXPECT_EQ(ice.selected(), v6);
  ice.on_stun(binding_request(t, ice.ufrag() + ":brws", ice.pwd(), 1, true), browser);
  EXPECT_EQ(ice.selected(), browser);
  // Bounded: a flood of checked addresses keeps only the latest few.
  for (uint16_t port = 1; port <= 20; ++port) {
    ice.on_stun(binding_request(t, ice.ufrag() + ":brws", ice.pwd(), 1, false),
                udp::endpoint(make_address("127.0.0.2"), port));
  }
  EXPECT_TRUE(ice.checked(udp::endpoint(make_address("127.0.0.2"), 20)));
  EXPECT_FALSE(ice.checked(udp::endpoint(make_address("127.0.0.2"), 1)));
}

}  // namespace
}  // namespace verbatim::media
