#include "media/pcap.h"
#include "media/rtp.h"

#include <arpa/inet.h>

#include <algorithm>

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

namespace {

uint32_t get32(const uint8_t* p, bool swapped) {
  uint32_t v = static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
               static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
  return swapped ? __builtin_bswap32(v) : v;
}

constexpr uint32_t kLinkEthernet = 1, kLinkRaw = 101, kLinkIpv4 = 228, kLinkIpv6 = 229;
constexpr size_t kMaxRecord = size_t{256} * 1024;

// The UDP datagram inside one captured frame, if it is one.
bool udp_of(std::span<const uint8_t> frame, uint32_t linktype, PcapRecord& r) {
  if (linktype == kLinkEthernet) {
    if (frame.size() < 14) return false;
    size_t off = 12;
    uint16_t type = be16(&frame[off]);
    while ((type == 0x8100 || type == 0x88a8) && frame.size() >= off + 6) {  // VLAN tags
      off += 4;
      type = be16(&frame[off]);
    }
    if (type != 0x0800 && type != 0x86dd) return false;
    frame = frame.subspan(off + 2);
  }
  if (frame.empty()) return false;
  std::span<const uint8_t> udp;
  const int version = frame[0] >> 4;
  if (version == 4) {
    const size_t ihl = static_cast<size_t>(frame[0] & 0x0f) * 4;
    if (ihl < 20 || frame.size() < ihl || frame[9] != 17) return false;
    if ((be16(&frame[6]) & 0x3fff) != 0) return false;  // a fragment
    const size_t total = be16(&frame[2]);
    if (total < ihl || total > frame.size()) return false;
    r.from.v6 = r.to.v6 = false;
    r.from.address = {};
    r.to.address = {};
    std::copy_n(&frame[12], 4, r.from.address.begin());
    std::copy_n(&frame[16], 4, r.to.address.begin());
    udp = frame.subspan(ihl, total - ihl);
  } else if (version == 6) {
    if (frame.size() < 40 || frame[6] != 17) return false;  // no extension headers
    const size_t len = be16(&frame[4]);
    if (40 + len > frame.size()) return false;
    r.from.v6 = r.to.v6 = true;
    std::copy_n(&frame[8], 16, r.from.address.begin());
    std::copy_n(&frame[24], 16, r.to.address.begin());
    udp = frame.subspan(40, len);
  } else {
    return false;
  }
  if (udp.size() < 8) return false;
  const size_t ulen = be16(&udp[4]);
  if (ulen < 8 || ulen > udp.size()) return false;
  r.from.port = be16(&udp[0]);
  r.to.port = be16(&udp[2]);
  r.payload = udp.subspan(8, ulen - 8);
  return true;
}

}  // namespace

Status PcapReader::parse_header() {
  const uint32_t magic = get32(buffer_.data(), false);
  switch (magic) {
    case 0xa1b2c3d4:
      break;
    case 0xa1b23c4d:
      nanos_ = true;
      break;
    case 0xd4c3b2a1:
      swapped_ = true;
      break;
    case 0x4d3cb2a1:
      swapped_ = nanos_ = true;
      break;
    default:
      return make_error(ErrorCode::kInvalidArgument,
                        "not a pcap file (byte 0: magic " + std::to_string(magic) + ")");
  }
  linktype_ = get32(&buffer_[20], swapped_) & 0x0fffffff;
  if (linktype_ != kLinkRaw && linktype_ != kLinkEthernet && linktype_ != kLinkIpv4 &&
      linktype_ != kLinkIpv6) {
    return make_error(ErrorCode::kInvalidArgument, "pcap link type " + std::to_string(linktype_) +
                                                       " not supported (raw IP or Ethernet)");
  }
  header_done_ = true;
  return ok_status();
}

Status PcapReader::feed(std::span<const uint8_t> bytes, const OnRecord& on_record) {
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
  size_t pos = 0;
  if (!header_done_) {
    if (buffer_.size() < 24) return ok_status();
    VB_TRY(parse_header());
    pos = 24;
  }
  while (buffer_.size() - pos >= 16) {
    const uint8_t* h = &buffer_[pos];
    const uint32_t sec = get32(h, swapped_), frac = get32(h + 4, swapped_);
    const uint32_t caplen = get32(h + 8, swapped_);
    if (caplen > kMaxRecord || frac >= (nanos_ ? 1000000000u : 1000000u)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "pcap record at byte " + std::to_string(offset_ + pos) + " is malformed" +
                            (caplen > kMaxRecord ? " (length " + std::to_string(caplen) + ")"
                                                 : " (timestamp fraction out of range)"));
    }
    if (buffer_.size() - pos - 16 < caplen) break;
    PcapRecord r;
    r.ns = static_cast<int64_t>(sec) * 1000000000 + (nanos_ ? frac : int64_t{frac} * 1000);
    ++records_;
    if (udp_of(std::span(h + 16, caplen), linktype_, r)) {
      on_record(r);
    } else {
      ++skipped_;
    }
    pos += 16 + caplen;
  }
  buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(pos));
  offset_ += pos;
  return ok_status();
}

}  // namespace verbatim::media
