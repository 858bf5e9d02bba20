// Evidence as pcap: the datagrams a recorder received, with their arrival times, in the
// classic libpcap format (nanosecond timestamps, LINKTYPE_RAW), so Wireshark, tshark and
// tcpdump open a recording's evidence as it is. Each datagram gets the IPv4 or IPv6 and UDP
// headers it arrived with (addresses and ports as received; checksums computed), since a
// recorder receives payloads from its sockets, not packets from a wire.
//
// Hand-written: libpcap's writer (pcap_dump) wants a FILE* and a capture handle, and its
// reader a file; evidence goes through the archive's encrypted objects instead, written and
// read back as bytes in memory.
// Threads and ownership: a PcapReader owns its file; one thread at a time.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
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

// One UDP datagram read back from a pcap file.
struct PcapRecord {
  int64_t ns = 0;  // arrival time, nanoseconds since the epoch
  UdpEndpoint from, to;
  std::span<const uint8_t> payload;  // valid during the callback only
};

// Reads a pcap file fed in pieces of any size (the archive hands objects out chunk by chunk):
// the evidence this recorder wrote, or any classic pcap of UDP over raw IP or Ethernet, with
// micro- or nanosecond timestamps, either byte order. Records that are not UDP (TCP, ARP,
// fragments) are skipped and counted; a malformed file header or record is an error saying
// at which byte. A file cut short (a crash before the last flush) just ends: finish() says how
// many bytes were left over.
class PcapReader {
 public:
  using OnRecord = std::function<void(const PcapRecord&)>;
  Status feed(std::span<const uint8_t> bytes, const OnRecord& on_record);
  // Bytes of a record cut short at the end (0 for a complete file).
  size_t leftover() const { return buffer_.size(); }
  uint64_t records() const { return records_; }
  uint64_t skipped() const { return skipped_; }

 private:
  Status parse_header();
  bool header_done_ = false;
  bool swapped_ = false;
  bool nanos_ = false;
  uint32_t linktype_ = 0;
  uint64_t offset_ = 0;  // of buffer_[0] in the file
  uint64_t records_ = 0, skipped_ = 0;
  std::vector<uint8_t> buffer_;
};

}  // namespace verbatim::media
