#include "media/pcap.h"

#include <arpa/inet.h>

#include <string>

namespace verbatim::media {

namespace {

void put16(std::vector<uint8_t>& o, uint16_t v) {  // network order
  o.push_back(static_cast<uint8_t>(v >> 8));
  o.push_back(static_cast<uint8_t>(v));
}

void put32le(std::vector<uint8_t>& o, uint32_t v) {  // the pcap headers: host order, written LE
  for (int i = 0; i < 4; ++i) o.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// RFC 1071 one's-complement sum, folded.
uint32_t sum16(std::span<const uint8_t> b, uint32_t acc = 0) {
  size_t i = 0;
  for (; i + 1 < b.size(); i += 2) acc += static_cast<uint32_t>(b[i] << 8 | b[i + 1]);
  if (i < b.size()) acc += static_cast<uint32_t>(b[i] << 8);
  return acc;
}

uint16_t fold(uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(~acc);
}

}  // namespace

Result<UdpEndpoint> UdpEndpoint::parse(std::string_view address, uint16_t port) {
  UdpEndpoint e;
  e.port = port;
  const std::string a(address);
  if (inet_pton(AF_INET, a.c_str(), e.address.data()) == 1) return e;
  if (inet_pton(AF_INET6, a.c_str(), e.address.data()) == 1) {
    e.v6 = true;
    return e;
  }
  return make_error(ErrorCode::kInvalidArgument, "not an IP address: '" + a + "'");
}

std::vector<uint8_t> pcap_file_header(uint32_t snaplen) {
  std::vector<uint8_t> h;
  put32le(h, 0xa1b23c4d);  // nanosecond-resolution magic
  h.push_back(2);          // version 2.4, little-endian
  h.push_back(0);
  h.push_back(4);
  h.push_back(0);
  put32le(h, 0);  // thiszone
  put32le(h, 0);  // sigfigs
  put32le(h, snaplen);
  put32le(h, 101);  // LINKTYPE_RAW: the packet starts with its IP header
  return h;
}

Status append_pcap_udp(std::vector<uint8_t>& out, std::chrono::system_clock::time_point at,
                       const UdpEndpoint& from, const UdpEndpoint& to,
                       std::span<const uint8_t> payload) {
  if (from.v6 != to.v6) {
    return make_error(ErrorCode::kInvalidArgument, "an IPv4 and an IPv6 endpoint in one packet");
  }
  const size_t udp_len = 8 + payload.size();
  const size_t ip_len = (from.v6 ? 40 : 20) + udp_len;
  if (udp_len > 0xffff || ip_len > 0xffff + (from.v6 ? 40u : 0u)) {
    return make_error(ErrorCode::kInvalidArgument, "datagram too large for UDP");
  }
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
  put32le(out, static_cast<uint32_t>(ns / 1000000000));
  put32le(out, static_cast<uint32_t>(ns % 1000000000));
  put32le(out, static_cast<uint32_t>(ip_len));
  put32le(out, static_cast<uint32_t>(ip_len));
  const size_t ip_start = out.size();
  const size_t n = from.v6 ? 16 : 4;
  if (!from.v6) {
    out.push_back(0x45);  // IPv4, 20-byte header
    out.push_back(0);
    put16(out, static_cast<uint16_t>(ip_len));
    put16(out, 0);       // identification
    put16(out, 0x4000);  // don't fragment
    out.push_back(64);   // TTL
    out.push_back(17);   // UDP
    put16(out, 0);       // header checksum, below
    out.insert(out.end(), from.address.begin(), from.address.begin() + 4);
    out.insert(out.end(), to.address.begin(), to.address.begin() + 4);
    const uint16_t c = fold(sum16(std::span(out).subspan(ip_start, 20)));
    out[ip_start + 10] = static_cast<uint8_t>(c >> 8);
    out[ip_start + 11] = static_cast<uint8_t>(c);
  } else {
    put16(out, 0x6000);  // version 6, traffic class 0, flow label 0
    put16(out, 0);
    put16(out, static_cast<uint16_t>(udp_len));
    out.push_back(17);  // next header: UDP
    out.push_back(64);  // hop limit
    out.insert(out.end(), from.address.begin(), from.address.end());
    out.insert(out.end(), to.address.begin(), to.address.end());
  }
  const size_t udp_start = out.size();
  put16(out, from.port);
  put16(out, to.port);
  put16(out, static_cast<uint16_t>(udp_len));
  put16(out, 0);  // checksum, below
  out.insert(out.end(), payload.begin(), payload.end());
  // UDP checksum over the pseudo-header (RFC 768 / RFC 8200 §8.1); mandatory for IPv6.
  uint32_t acc = sum16(std::span(from.address.data(), n));
  acc = sum16(std::span(to.address.data(), n), acc);
  acc += 17 + static_cast<uint32_t>(udp_len);
  acc = sum16(std::span(out).subspan(udp_start, udp_len), acc);
  uint16_t c = fold(acc);
  if (c == 0) c = 0xffff;
  out[udp_start + 6] = static_cast<uint8_t>(c >> 8);
  out[udp_start + 7] = static_cast<uint8_t>(c);
  return ok_status();
}

}  // namespace verbatim::media
