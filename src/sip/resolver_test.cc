#include "sip/resolver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <thread>

#include <gtest/gtest.h>

namespace verbatim::sip {
namespace {

// A tiny authoritative DNS server on loopback for the tests: answers A, AAAA, SRV and NAPTR
// questions from a table (NXDOMAIN for names it does not know), so RFC 3263 resolution is
// tested against real DNS traffic through c-ares without any network.
class FakeDns {
 public:
  enum Type : uint16_t { kA = 1, kAaaa = 28, kSrv = 33, kNaptr = 35 };

  FakeDns() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    timeval tv{0, 50000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~FakeDns() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  std::string servers() const { return "127.0.0.1:" + std::to_string(port_); }
  void start() {
    thread_ = std::thread([this] { serve(); });
  }

  void a(const std::string& name, const std::string& ip) {
    std::string rd(4, '\0');
    inet_pton(AF_INET, ip.c_str(), rd.data());
    add(name, kA, rd);
  }
  void aaaa(const std::string& name, const std::string& ip) {
    std::string rd(16, '\0');
    inet_pton(AF_INET6, ip.c_str(), rd.data());
    add(name, kAaaa, rd);
  }
  void srv(const std::string& name, uint16_t prio, uint16_t weight, uint16_t port,
           const std::string& target) {
    add(name, kSrv, u16(prio) + u16(weight) + u16(port) + encode_name(target));
  }
  void naptr(const std::string& name, uint16_t order, uint16_t pref, const std::string& flags,
             const std::string& service, const std::string& replacement) {
    add(name, kNaptr,
        u16(order) + u16(pref) + chars(flags) + chars(service) + chars("") +
            encode_name(replacement));
  }

 private:
  static std::string u16(uint16_t v) {
    return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
  }
  static std::string chars(const std::string& s) { return static_cast<char>(s.size()) + s; }
  static std::string encode_name(const std::string& name) {
    std::string out;
    size_t start = 0;
    while (start < name.size()) {
      size_t dot = name.find('.', start);
      if (dot == std::string::npos) dot = name.size();
      out += static_cast<char>(dot - start);
      out += name.substr(start, dot - start);
      start = dot + 1;
    }
    return out + '\0';
  }
  void add(const std::string& name, uint16_t type, const std::string& rdata) {
    records_[{name, type}].push_back(rdata);
  }

  void serve() {
    unsigned char buf[512];
    while (!stop_) {
      sockaddr_in from{};
      socklen_t flen = sizeof from;
      const ssize_t n =
          ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
      if (n < 12) continue;
      // The question: labels, then type and class.
      size_t i = 12;
      std::string name;
      while (i < static_cast<size_t>(n) && buf[i] != 0) {
        const size_t len = buf[i];
        if (!name.empty()) name += '.';
        name.append(reinterpret_cast<const char*>(buf + i + 1), len);
        i += len + 1;
      }
      const size_t qend = i + 5;
      if (qend > static_cast<size_t>(n)) continue;
      const uint16_t type = static_cast<uint16_t>(buf[i + 1] << 8 | buf[i + 2]);
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto it = records_.find({name, type});
      bool known_name = false;
      for (const auto& [k, v] : records_) known_name |= k.first == name;
      std::string out(reinterpret_cast<const char*>(buf), qend);
      out[2] = static_cast<char>(0x84 | (buf[2] & 1));       // QR, AA, RD copied
      out[3] = static_cast<char>(known_name ? 0x00 : 0x03);  // NOERROR / NXDOMAIN
      const uint16_t count = it == records_.end() ? 0 : static_cast<uint16_t>(it->second.size());
      out[4] = 0, out[5] = 1, out[6] = static_cast<char>(count >> 8),
      out[7] = static_cast<char>(count & 0xff);
      out[8] = out[9] = out[10] = out[11] = 0;
      if (it != records_.end()) {
        for (const auto& rd : it->second) {
          out += std::string("\xc0\x0c", 2) + u16(type) + u16(1) +
                 std::string("\x00\x00\x00\x3c", 4) + u16(static_cast<uint16_t>(rd.size())) + rd;
        }
      }
      ::sendto(fd_, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
    }
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::map<std::pair<std::string, uint16_t>, std::vector<std::string>> records_;
};

std::vector<ServerTarget> locate(const std::string& uri, const FakeDns& dns) {
  ResolverOptions o;
  o.servers = dns.servers();
  o.timeout = std::chrono::milliseconds(500);
  auto u = parse_uri(uri);
  EXPECT_TRUE(u);
  auto r = locate_server(u.value(), o);
  EXPECT_TRUE(r) << uri << ": " << (r ? "" : r.error().message);
  return r ? r.value() : std::vector<ServerTarget>{};
}

TEST(Rfc3263, NaptrThenSrvThenAddressesInOrder) {
  FakeDns dns;
  dns.naptr("example.test", 10, 50, "s", "SIPS+D2T", "_sips._tcp.example.test");
  dns.naptr("example.test", 20, 50, "s", "SIP+D2U", "_sip._udp.example.test");
  dns.naptr("example.test", 30, 50, "u", "E2U+sip", "ignored.example.test");
  dns.srv("_sips._tcp.example.test", 10, 0, 5061, "tls.example.test");
  dns.srv("_sip._udp.example.test", 10, 0, 5070, "udp.example.test");
  dns.a("tls.example.test", "192.0.2.10");
  dns.a("udp.example.test", "192.0.2.20");
  dns.aaaa("udp.example.test", "2001:db8::20");
  dns.start();
  EXPECT_EQ(locate("sip:recorder@example.test", dns),
            (std::vector<ServerTarget>{{"TLS", "192.0.2.10", 5061},
                                       {"UDP", "192.0.2.20", 5070},
                                       {"UDP", "2001:db8::20", 5070}}));
  // A SIPS URI only uses TLS.
  EXPECT_EQ(locate("sips:recorder@example.test", dns),
            (std::vector<ServerTarget>{{"TLS", "192.0.2.10", 5061}}));
}

TEST(Rfc3263, SrvByPriorityThenHostDefaultsAndShortcuts) {
  FakeDns dns;
  dns.srv("_sip._udp.srv.test", 20, 0, 5062, "backup.srv.test");
  dns.srv("_sip._udp.srv.test", 10, 0, 5060, "primary.srv.test");
  dns.srv("_sip._tcp.srv.test", 10, 0, 5060, "tcp.srv.test");
  dns.a("primary.srv.test", "192.0.2.1");
  dns.a("backup.srv.test", "192.0.2.2");
  dns.a("tcp.srv.test", "192.0.2.3");
  dns.a("plain.test", "192.0.2.30");
  dns.aaaa("plain.test", "2001:db8::30");
  dns.start();
  EXPECT_EQ(locate("sip:srv.test", dns), (std::vector<ServerTarget>{{"UDP", "192.0.2.1", 5060},
                                                                    {"UDP", "192.0.2.2", 5062},
                                                                    {"TCP", "192.0.2.3", 5060}}));
  EXPECT_EQ(locate("sip:srv.test;transport=tcp", dns),
            (std::vector<ServerTarget>{{"TCP", "192.0.2.3", 5060}}));
  EXPECT_EQ(
      locate("sip:plain.test", dns),
      (std::vector<ServerTarget>{{"UDP", "192.0.2.30", 5060}, {"UDP", "2001:db8::30", 5060}}));
  EXPECT_EQ(
      locate("sip:plain.test:5080", dns),
      (std::vector<ServerTarget>{{"UDP", "192.0.2.30", 5080}, {"UDP", "2001:db8::30", 5080}}));
  EXPECT_EQ(locate("sips:[2001:db8::99]", dns),
            (std::vector<ServerTarget>{{"TLS", "2001:db8::99", 5061}}));
  EXPECT_EQ(locate("sip:198.51.100.7;transport=tcp", dns),
            (std::vector<ServerTarget>{{"TCP", "198.51.100.7", 5060}}));
}

TEST(Rfc3263, NothingFoundOrNoServerIsAClearError) {
  FakeDns dns;
  dns.start();
  ResolverOptions o;
  o.servers = dns.servers();
  auto r = locate_server(parse_uri("sip:nowhere.test").value(), o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("nowhere.test"), std::string::npos);
  ResolverOptions dead;
  dead.servers = "127.0.0.1:9";  // nothing answers there
  dead.timeout = std::chrono::milliseconds(100);
  dead.tries = 1;
  EXPECT_FALSE(locate_server(parse_uri("sip:host.test").value(), dead));
  EXPECT_FALSE(locate_server(parse_uri("tel:+1555").value(), o));
}

}  // namespace
}  // namespace verbatim::sip
