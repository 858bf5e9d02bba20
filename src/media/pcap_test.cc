#include "media/pcap.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "common/test_dir.h"

namespace verbatim::media {
namespace {

uint32_t le32(const std::vector<uint8_t>& b, size_t at) {
  return b[at] | b[at + 1] << 8 | b[at + 2] << 16 | static_cast<uint32_t>(b[at + 3]) << 24;
}

std::vector<uint8_t> capture() {
  auto a4 = UdpEndpoint::parse("192.0.2.10", 40000).value();
  auto b4 = UdpEndpoint::parse("198.51.100.20", 20000).value();
  auto a6 = UdpEndpoint::parse("2001:db8::10", 40002).value();
  auto b6 = UdpEndpoint::parse("2001:db8::20", 20002).value();
  std::vector<uint8_t> f = pcap_file_header();
  const auto t0 = std::chrono::system_clock::time_point(std::chrono::seconds(1800000000)) +
                  std::chrono::nanoseconds(123456789);
  const std::vector<uint8_t> rtp = {0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7, 0xff, 0xfe, 0x7f};
  EXPECT_TRUE(append_pcap_udp(f, t0, a4, b4, rtp));
  EXPECT_TRUE(append_pcap_udp(f, t0 + std::chrono::milliseconds(20), a6, b6, rtp));
  EXPECT_FALSE(append_pcap_udp(f, t0, a4, b6, rtp)) << "mixed families";
  return f;
}

TEST(Pcap, RecordsCarryIpAndUdpHeadersWithValidChecksums) {
  const auto f = capture();
  ASSERT_EQ(f.size(), 24u + (16 + 20 + 8 + 15) + (16 + 40 + 8 + 15));
  EXPECT_EQ(le32(f, 0), 0xa1b23c4du);
  EXPECT_EQ(le32(f, 20), 101u) << "LINKTYPE_RAW";
  EXPECT_EQ(le32(f, 24), 1800000000u);
  EXPECT_EQ(le32(f, 28), 123456789u) << "nanoseconds";
  EXPECT_EQ(le32(f, 32), 43u);
  // The IPv4 header sums to 0xffff (its checksum is right).
  uint32_t sum = 0;
  for (size_t i = 40; i < 60; i += 2) sum += static_cast<uint32_t>(f[i] << 8 | f[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  EXPECT_EQ(sum, 0xffffu);
  EXPECT_EQ(f[60] << 8 | f[61], 40000) << "source port";
  EXPECT_FALSE(UdpEndpoint::parse("not-an-ip", 1));
}

// The real reader: tcpdump (libpcap, what Wireshark reads with too) opens the file, decodes
// both packets and finds the UDP checksums right.
TEST(Pcap, TcpdumpReadsItAndChecksTheChecksums) {
  if (std::system("command -v tcpdump >/dev/null 2>&1") != 0) {
    GTEST_FAIL() << "needs tcpdump (Debian package tcpdump; scripts/bootstrap.sh installs it)";
  }
  TestDir dir("vb_pcap");
  const auto path = dir.path() / "evidence.pcap";
  const auto f = capture();
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(f.data()), static_cast<std::streamsize>(f.size()));
  const std::string cmd = "TZ=UTC tcpdump -nn -vv -r " + path.string() + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  ASSERT_EQ(pclose(p), 0) << out;
  EXPECT_NE(out.find("192.0.2.10.40000 > 198.51.100.20.20000: [udp sum ok] UDP, length 15"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("2001:db8::10.40002 > 2001:db8::20.20002: [udp sum ok] UDP, length 15"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("08:00:00.123456"), std::string::npos) << "arrival time kept: " << out;
}

}  // namespace
}  // namespace verbatim::media
