// Evidence as pcap: the datagrams a recorder received, with their arrival times, in the
// classic libpcap format (nanosecond timestamps, LINKTYPE_RAW), so Wireshark, tshark and
// tcpdump open a recording's evidence as it is. Each datagram gets the IPv4 or IPv6 and UDP
// headers it arrived with (addresses and ports as received; checksums computed), since a
// recorder receives payloads from its sockets, not packets from a wire.
//
// Hand-written: libpcap's writer (pcap_dump) wants a FILE* and a capture handle; evidence goes
// through the archive's encrypted object writer instead, so records are produced as bytes.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace verbatim::media {

struct UdpEndpoint {
  std::array<uint8_t, 16> address{};  // IPv4 in the first 4 bytes
  bool v6 = false;
  uint16_t port = 0;
  // "192.0.2.1" or "2001:db8::1" (no brackets).
  static Result<UdpEndpoint> parse(std::string_view address, uint16_t port);
};

// The file header (24 bytes): magic for nanosecond timestamps, version 2.4, LINKTYPE_RAW.
std::vector<uint8_t> pcap_file_header(uint32_t snaplen = 65535);

// One record: the datagram `payload` from `from` to `to`, received at `at`. Both endpoints
// must be of the same family. Appends to `out`.
Status append_pcap_udp(std::vector<uint8_t>& out, std::chrono::system_clock::time_point at,
                       const UdpEndpoint& from, const UdpEndpoint& to,
                       std::span<const uint8_t> payload);

}  // namespace verbatim::media
