#include "sip/transport.h"

#include <gtest/gtest.h>

namespace verbatim::sip {
namespace {

Message request_with_via(const std::string& via) {
  return Message::parse("OPTIONS sip:srs@127.0.0.1 SIP/2.0\r\nVia: " + via +
                        "\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:srs@127.0.0.1>\r\n"
                        "Call-ID: c\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                        "Content-Length: 0\r\n\r\n")
      .value();
}

std::string top_received(const Message& m) {
  auto v = m.vias();
  auto p = v.value().front().param("received");
  return p ? std::string(*p) : "";
}

// received= is the transport's to write (RFC 3261 §18.2.1): one the sender wrote into its own
// Via is removed, whether its sent-by matches the source or not — else a client could claim any
// source address to whatever reads the Via (the recorder's allowed_sources did).
TEST(StampReceived, RecorderSourceCheckSpoofableByViaReceived) {
  const Peer from{"UDP", "127.0.0.1", 5099};
  auto same_host = request_with_via("SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK1;received=10.9.9.9");
  stamp_received(same_host, from);
  EXPECT_EQ(top_received(same_host), "") << same_host.serialize();
  auto other_host = request_with_via("SIP/2.0/UDP 10.9.9.9:5099;branch=z9hG4bK2;received=10.9.9.9");
  stamp_received(other_host, from);
  EXPECT_EQ(top_received(other_host), "127.0.0.1");
  auto rport = request_with_via("SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK3;rport");
  stamp_received(rport, from);
  EXPECT_EQ(top_received(rport), "127.0.0.1");
  EXPECT_EQ(rport.vias().value().front().param("rport").value(), "5099");
  auto plain = request_with_via("SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK4");
  const std::string before = plain.serialize();
  stamp_received(plain, from);
  EXPECT_EQ(plain.serialize(), before) << "nothing to stamp: left byte for byte";
}

}  // namespace
}  // namespace verbatim::sip
