// Load driver for the recorder (issue 5): N concurrent SIPREC sessions of two G.711 streams each
// (50 packets/s per stream, 20 ms of PCMU), N ramped until packets are lost. For every N it
// reports whether every packet sent was received, the receiver's CPU per packet, its memory
// per session and the evidence bytes written (encrypted, to disk).
//
// The receiver runs pinned to one core (--core, default 0), the driver on another (--driver-core,
// default 1), and the same ramp is run in the same invocation against:
//   bare      a bare receive loop: the same number of UDP sockets, epoll + recvmmsg, counting
//             (the kernel's UDP path alone: the physical ceiling on this core);
//   verbatim  `verbatim serve --roles recorder` with a fresh archive (evidence encrypted and
//             flushed at the archive's default interval);
//   rtpengine the peer recorder: Debian's rtpengine-daemon in userspace (its kernel module
//             cannot load in a VM), one worker thread, recording every call with its pcap
//             method; sessions set up over its ng control protocol (offer + answer with
//             "record call"), and the packets it recorded counted in its pcap files after the
//             calls are deleted. rtpengine is a relay: it also forwards each packet to the other
//             side (a sink socket here), which is part of what it costs to record with it.
// Packets go out with sendmmsg from one socket (each stream latches to it), in bursts every
// 20 ms; the driver checks it kept the pace and says so when it did not.
//
//   recorder_load --bin build-bench/verbatim --work /tmp/vbload [--seconds 8]
//                 [--ladder 250,500,1000,1500,2000,2500,3000] [--modes bare,verbatim]
//
// Hand-written (no load tool generates SIPREC sessions with RTP at this rate; SIPp's RTP
// playback is one stream per call from pcap files).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string bin = "build-bench/verbatim";
  std::string work = "/tmp/vb_recorder_load";
  int seconds = 8;
  std::vector<int> ladder = {250, 500, 1000, 1500, 2000, 2500, 3000, 3500, 4000};
  std::vector<std::string> modes = {"bare", "verbatim", "rtpengine"};
  int core = 0;
  int driver_core = 1;
};

void pin(int core) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(core, &set);
  sched_setaffinity(0, sizeof set, &set);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, sep);) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// utime + stime of a process, in seconds.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// --- the bare receive loop (a child process) ---------------------------------------------

volatile sig_atomic_t g_stop = 0;

int bare_child(uint16_t base, int sockets) {
  signal(SIGTERM, [](int) { g_stop = 1; });
  const int ep = epoll_create1(0);
  for (int i = 0; i < sockets; ++i) {
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sockaddr_in a = loopback(static_cast<uint16_t>(base + 2 * i));
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      std::fprintf(stderr, "bind %d: %s\n", base + 2 * i, std::strerror(errno));
      return 2;
    }
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
  }
  std::printf("ready\n");
  std::fflush(stdout);
  uint64_t packets = 0;
  constexpr int kBatch = 32;
  static uint8_t buffers[kBatch][2048];
  iovec iov[kBatch];
  mmsghdr msgs[kBatch];
  for (int i = 0; i < kBatch; ++i) {
    iov[i] = {buffers[i], sizeof buffers[i]};
    msgs[i] = {};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  epoll_event events[256];
  while (!g_stop) {
    const int n = epoll_wait(ep, events, 256, 100);
    for (int i = 0; i < n; ++i) {
      for (;;) {
        const int got = recvmmsg(events[i].data.fd, msgs, kBatch, MSG_DONTWAIT, nullptr);
        if (got <= 0) break;
        packets += static_cast<uint64_t>(got);
      }
    }
  }
  std::printf("%llu\n", static_cast<unsigned long long>(packets));
  return 0;
}

// --- a receiver process -------------------------------------------------------------------

struct Child {
  pid_t pid = -1;
  FILE* out = nullptr;  // its stdout
};

Child spawn(const std::vector<std::string>& argv, int core) {
  int fds[2];
  if (pipe(fds) != 0) std::exit(2);
  const pid_t pid = fork();
  if (pid == 0) {
    pin(core);
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execv(a[0], a.data());
    _exit(127);
  }
  close(fds[1]);
  return {pid, fdopen(fds[0], "r")};
}

std::string read_line(FILE* f) {
  char buf[4096];
  if (!std::fgets(buf, sizeof buf, f)) return "";
  return buf;
}

// --- SIP setup of the recording sessions (a minimal SIPREC client) -------------------------

struct Sip {
  int fd = -1;
  uint16_t local = 0;
  sockaddr_in to{};
};

std::string invite(const Sip& s, int i, uint16_t remote) {
  const std::string sdp =
      "v=0\r\no=load 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
      "m=audio 9000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=label:1\r\na=sendonly\r\n"
      "m=audio 9002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=label:2\r\na=sendonly\r\n";
  const std::string md =
      "<?xml version=\"1.0\"?><recording xmlns=\"urn:ietf:params:xml:ns:recording:1\">"
      "<datamode>complete</datamode><session session_id=\"s\"/>"
      "<participant participant_id=\"a\"><nameID aor=\"sip:a" +
      std::to_string(i) +
      "@example.com\"/></participant><participant participant_id=\"b\"><nameID aor=\"sip:b" +
      std::to_string(i) +
      "@example.com\"/></participant>"
      "<stream stream_id=\"1\" session_id=\"s\"><label>1</label></stream>"
      "<stream stream_id=\"2\" session_id=\"s\"><label>2</label></stream>"
      "<participantstreamassoc participant_id=\"a\"><send>1</send><recv>2</recv>"
      "</participantstreamassoc><participantstreamassoc participant_id=\"b\"><send>2</send>"
      "<recv>1</recv></participantstreamassoc></recording>";
  const std::string body = "--b\r\nContent-Type: application/sdp\r\n\r\n" + sdp +
                           "--b\r\nContent-Type: application/rs-metadata+xml\r\n"
                           "Content-Disposition: recording-session\r\n\r\n" +
                           md + "\r\n--b--\r\n";
  const std::string lp = std::to_string(s.local), rp = std::to_string(remote),
                    n = std::to_string(i);
  return "INVITE sip:srs@127.0.0.1:" + rp + " SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" + lp +
         ";branch=z9hG4bKload" + n + "\r\nFrom: <sip:src@127.0.0.1>;tag=f" + n +
         "\r\nTo: <sip:srs@127.0.0.1>\r\nCall-ID: load-" + n +
         "\r\nCSeq: 1 INVITE\r\nContact: <sip:src@127.0.0.1:" + lp +
         ">;+sip.src\r\nRequire: siprec\r\nMax-Forwards: 70\r\n"
         "Content-Type: multipart/mixed;boundary=b\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string in_dialog(const Sip& s, const std::string& method, int i, const std::string& to_tag,
                      uint16_t remote, int cseq) {
  const std::string lp = std::to_string(s.local), n = std::to_string(i);
  return method + " sip:srs@127.0.0.1:" + std::to_string(remote) +
         " SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" + lp + ";branch=z9hG4bK" + method + n +
         "\r\nFrom: <sip:src@127.0.0.1>;tag=f" + n + "\r\nTo: <sip:srs@127.0.0.1>;tag=" + to_tag +
         "\r\nCall-ID: load-" + n + "\r\nCSeq: " + std::to_string(cseq) + " " + method +
         "\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
}

struct Session {
  std::string to_tag;
  uint16_t ports[2] = {0, 0};
};

// Sets up n sessions one after another; returns them (empty on failure).
std::vector<Session> setup(Sip& s, int n, uint16_t remote) {
  std::vector<Session> out(static_cast<size_t>(n));
  static const std::regex kTag(R"(\r\nTo:[^\r]*;tag=([^;\r\s]+))");
  static const std::regex kPort(R"(m=audio (\d+))");
  char buf[65536];
  for (int i = 0; i < n; ++i) {
    const std::string m = invite(s, i, remote);
    sendto(s.fd, m.data(), m.size(), 0, reinterpret_cast<const sockaddr*>(&s.to), sizeof s.to);
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    bool done = false;
    while (!done && Clock::now() < deadline) {
      const ssize_t got = recv(s.fd, buf, sizeof buf - 1, 0);
      if (got <= 0) continue;
      const std::string r(buf, static_cast<size_t>(got));
      if (r.rfind("SIP/2.0 ", 0) != 0 ||
          r.find("Call-ID: load-" + std::to_string(i) + "\r\n") == std::string::npos) {
        continue;
      }
      const int status = std::atoi(r.c_str() + 8);
      if (status < 200) continue;
      if (status != 200) {
        std::fprintf(stderr, "session %d: %s\n", i, r.substr(0, r.find('\r')).c_str());
        return {};
      }
      std::smatch t;
      std::regex_search(r, t, kTag);
      out[static_cast<size_t>(i)].to_tag = t[1];
      int k = 0;
      for (auto it = std::sregex_iterator(r.begin(), r.end(), kPort);
           it != std::sregex_iterator() && k < 2; ++it) {
        out[static_cast<size_t>(i)].ports[k++] = static_cast<uint16_t>(std::stoi((*it)[1]));
      }
      const std::string ack = in_dialog(s, "ACK", i, t[1], remote, 1);
      sendto(s.fd, ack.data(), ack.size(), 0, reinterpret_cast<const sockaddr*>(&s.to),
             sizeof s.to);
      done = true;
    }
    if (!done) {
      std::fprintf(stderr, "session %d: no answer\n", i);
      return {};
    }
  }
  return out;
}

// --- RTP ---------------------------------------------------------------------------------

struct Traffic {
  uint64_t sent = 0;
  double behind_ms = 0;  // how late the driver was at worst
  double overrun = 0;    // how much longer than planned the whole run took (0.02 = 2 %)
};

Traffic send_rtp(const std::vector<uint16_t>& ports, int seconds) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in src = loopback(0);
  bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src);
  int sndbuf = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  const size_t n = ports.size();
  std::vector<std::array<uint8_t, 172>> pkts(n);
  std::vector<sockaddr_in> dst(n);
  std::vector<iovec> iov(n);
  std::vector<mmsghdr> msgs(n);
  for (size_t i = 0; i < n; ++i) {
    auto& p = pkts[i];
    p.fill(0xff);
    p[0] = 0x80;
    p[1] = 0;
    const uint32_t ssrc = 0x10000000u + static_cast<uint32_t>(i);
    p[8] = static_cast<uint8_t>(ssrc >> 24);
    p[9] = static_cast<uint8_t>(ssrc >> 16);
    p[10] = static_cast<uint8_t>(ssrc >> 8);
    p[11] = static_cast<uint8_t>(ssrc);
    dst[i] = loopback(ports[i]);
    iov[i] = {p.data(), p.size()};
    msgs[i] = {};
    msgs[i].msg_hdr.msg_name = &dst[i];
    msgs[i].msg_hdr.msg_namelen = sizeof dst[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  Traffic t;
  const int ticks = seconds * 50;
  const auto start = Clock::now();
  for (int k = 0; k < ticks; ++k) {
    const uint16_t seq = static_cast<uint16_t>(k);
    const uint32_t ts = static_cast<uint32_t>(k) * 160;
    for (auto& p : pkts) {
      p[2] = static_cast<uint8_t>(seq >> 8);
      p[3] = static_cast<uint8_t>(seq);
      p[4] = static_cast<uint8_t>(ts >> 24);
      p[5] = static_cast<uint8_t>(ts >> 16);
      p[6] = static_cast<uint8_t>(ts >> 8);
      p[7] = static_cast<uint8_t>(ts);
    }
    for (size_t off = 0; off < n;) {
      const int batch = static_cast<int>(std::min<size_t>(1024, n - off));
      const int r = sendmmsg(fd, msgs.data() + off, static_cast<unsigned>(batch), 0);
      if (r <= 0) {
        if (errno == ENOBUFS || errno == EAGAIN) continue;
        std::perror("sendmmsg");
        break;
      }
      off += static_cast<size_t>(r);
      t.sent += static_cast<uint64_t>(r);
    }
    const auto next = start + std::chrono::milliseconds(20 * (k + 1));
    const auto now = Clock::now();
    if (now > next) {
      t.behind_ms =
          std::max(t.behind_ms, std::chrono::duration<double, std::milli>(now - next).count());
    } else {
      std::this_thread::sleep_until(next);
    }
  }
  t.overrun = std::chrono::duration<double>(Clock::now() - start).count() / seconds - 1;
  close(fd);
  return t;
}

// --- one run -----------------------------------------------------------------------------

struct Row {
  std::string mode;
  int sessions = 0;
  uint64_t sent = 0, received = 0;
  double cpu_us_per_packet = 0;
  double cpu_share = 0;  // of the receiver's core
  double kib_per_session = 0;
  double evidence_mb = 0;
  double behind_ms = 0;
  double overrun = 0;
};

uint64_t status_packets(const std::string& file) {
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  std::smatch m;
  if (std::regex_search(text, m, std::regex(R"re("packets": (\d+))re"))) return std::stoull(m[1]);
  return 0;
}

uint64_t dir_bytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
}

// Sends the RTP to a receiver and measures it: CPU over the traffic and `settle` after it, and
// (rss0 >= 0) its memory growth per session 2 s in. Fills the row's driver figures.
struct Usage {
  double cpu = 0, wall = 0;
};

Usage drive(pid_t pid, const std::vector<uint16_t>& ports, int seconds,
            std::chrono::milliseconds settle, long rss0, Row& row) {
  std::thread probe;
  if (rss0 >= 0) {
    probe = std::thread([&] {
      std::this_thread::sleep_for(std::chrono::seconds(2));
      row.kib_per_session = static_cast<double>(rss_kib(pid) - rss0) / row.sessions;
    });
  }
  const double cpu0 = cpu_seconds(pid);
  const auto t0 = Clock::now();
  const Traffic t = send_rtp(ports, seconds);
  if (probe.joinable()) probe.join();
  std::this_thread::sleep_for(settle);
  row.sent = t.sent;
  row.behind_ms = t.behind_ms;
  row.overrun = t.overrun;
  return {cpu_seconds(pid) - cpu0, std::chrono::duration<double>(Clock::now() - t0).count()};
}

// CPU per received packet and the core's busy share (once row.received is known).
void account(Row& row, const Usage& u) {
  row.cpu_us_per_packet = u.cpu * 1e6 / std::max<uint64_t>(1, row.received);
  row.cpu_share = u.cpu / u.wall;
}

// --- rtpengine (the peer): its ng protocol, bencoded dictionaries over UDP -------------------

std::string bencode(const std::map<std::string, std::string>& d) {
  std::string out = "d";
  for (const auto& [k, v] : d) {  // std::map: keys sorted, as bencode wants
    out += std::to_string(k.size()) + ":" + k + std::to_string(v.size()) + ":" + v;
  }
  return out + "e";
}

struct Ng {
  int fd = -1;
  sockaddr_in to{};
  uint64_t cookie = 0;
  // Sends a command and returns the reply's bencoded part ("" on timeout).
  std::string call(const std::map<std::string, std::string>& d) {
    const std::string c = std::to_string(++cookie);
    const std::string msg = c + " " + bencode(d);
    for (int attempt = 0; attempt < 3; ++attempt) {
      sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
      char buf[65536];
      for (;;) {
        const ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r <= 0) break;
        std::string reply(buf, static_cast<size_t>(r));
        if (reply.rfind(c + " ", 0) == 0) return reply.substr(c.size() + 1);
      }
    }
    return "";
  }
};

// The RTP port of the first m=audio line of the SDP in an offer/answer reply.
int ng_port(const std::string& reply) {
  std::smatch m;
  if (std::regex_search(reply, m, std::regex(R"(m=audio (\d+))"))) return std::stoi(m[1]);
  return -1;
}

uint64_t pcap_records(const std::string& dir) {
  uint64_t n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::ifstream in(e.path(), std::ios::binary);
    std::string d((std::istreambuf_iterator<char>(in)), {});
    for (size_t i = 24; i + 16 <= d.size(); ++n) {
      uint32_t incl = 0;
      std::memcpy(&incl, d.data() + i + 8, 4);
      i += 16 + incl;
    }
  }
  return n;
}

Row run_rtpengine(const Args& a, int n, const std::string& dir, Row row) {
  const uint16_t base = 20000;
  const std::string rec = dir + "/rec";
  std::filesystem::create_directories(rec);
  Ng ng;
  ng.fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in l = loopback(0);
  bind(ng.fd, reinterpret_cast<sockaddr*>(&l), sizeof l);
  timeval tv{0, 300000};
  setsockopt(ng.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ng.cookie = static_cast<uint64_t>(Clock::now().time_since_epoch().count()) % 1000000000 * 1000;
  // Its control port: one the kernel says is free now.
  int probe = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in pl = loopback(0);
  bind(probe, reinterpret_cast<sockaddr*>(&pl), sizeof pl);
  socklen_t len = sizeof pl;
  getsockname(probe, reinterpret_cast<sockaddr*>(&pl), &len);
  const uint16_t ng_port_number = ntohs(pl.sin_port);
  close(probe);
  ng.to = loopback(ng_port_number);
  Child c = spawn(
      {"/usr/bin/rtpengine", "--foreground", "--log-stderr", "--log-level=2", "--table=-1",
       "--interface=127.0.0.1", "--listen-ng=127.0.0.1:" + std::to_string(ng_port_number),
       "--port-min=" + std::to_string(base), "--port-max=" + std::to_string(base + 4 * n + 64),
       "--num-threads=1", "--delete-delay=0", "--recording-dir=" + rec, "--recording-method=pcap"},
      a.core);
  bool up = false;
  for (int i = 0; i < 50 && !up; ++i) {
    up = ng.call({{"command", "ping"}}).find("pong") != std::string::npos;
  }
  if (!up) {
    std::fprintf(stderr, "rtpengine did not start\n");
    std::exit(2);
  }
  // Where it forwards to: a socket nobody reads (the kernel drops what does not fit).
  int sink = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in sl = loopback(0);
  bind(sink, reinterpret_cast<sockaddr*>(&sl), sizeof sl);
  len = sizeof sl;
  getsockname(sink, reinterpret_cast<sockaddr*>(&sl), &len);
  const std::string sdp =
      "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
      "m=audio " +
      std::to_string(ntohs(sl.sin_port)) + " RTP/AVP 0\r\n";
  const long rss0 = rss_kib(c.pid);
  std::vector<uint16_t> ports;
  for (int i = 0; i < n; ++i) {
    const std::string id = "load-" + std::to_string(i);
    const int pb = ng_port(ng.call({{"command", "offer"},
                                    {"call-id", id},
                                    {"from-tag", "a"},
                                    {"sdp", sdp},
                                    {"record call", "yes"}}));
    const int pa = ng_port(ng.call({{"command", "answer"},
                                    {"call-id", id},
                                    {"from-tag", "a"},
                                    {"to-tag", "b"},
                                    {"sdp", sdp},
                                    {"record call", "yes"}}));
    if (pa < 0 || pb < 0) {
      std::fprintf(stderr, "rtpengine: session %d not set up\n", i);
      std::exit(2);
    }
    ports.push_back(static_cast<uint16_t>(pa));
    ports.push_back(static_cast<uint16_t>(pb));
  }
  const Usage u = drive(c.pid, ports, a.seconds, std::chrono::milliseconds(300), rss0, row);
  for (int i = 0; i < n; ++i) {  // closes (and flushes) each call's pcap
    ng.call(
        {{"command", "delete"}, {"call-id", "load-" + std::to_string(i)}, {"delete delay", "0"}});
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  row.received = pcap_records(rec + "/pcaps");
  row.evidence_mb = static_cast<double>(dir_bytes(rec)) / 1e6;
  kill(c.pid, SIGTERM);
  waitpid(c.pid, nullptr, 0);
  fclose(c.out);
  close(sink);
  close(ng.fd);
  account(row, u);
  std::filesystem::remove_all(dir);
  return row;
}

Row run(const Args& a, const std::string& mode, int n, const std::string& self) {
  Row row;
  row.mode = mode;
  row.sessions = n;
  const std::string dir = a.work + "/" + mode + "-" + std::to_string(n);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const uint16_t base = 20000;
  std::vector<uint16_t> ports;
  Child c;
  if (mode == "rtpengine") return run_rtpengine(a, n, dir, row);
  if (mode == "bare") {
    c = spawn({self, "--bare-child", std::to_string(base), std::to_string(2 * n)}, a.core);
    if (read_line(c.out).rfind("ready", 0) != 0) {
      std::fprintf(stderr, "bare loop did not start\n");
      std::exit(2);
    }
    for (int i = 0; i < 2 * n; ++i) ports.push_back(static_cast<uint16_t>(base + 2 * i));
  } else {
    const std::string cfg = dir + "/verbatim.toml";
    std::ofstream(cfg) << "[general]\ndata_dir = \"" << dir << "/data\"\n[log]\nlevel = \"warn\"\n"
                       << "[archive]\nmin_free_mb = 0\n[recorder]\nsip_listen = \"127.0.0.1:0\"\n"
                       << "rtp_port_min = " << base << "\nrtp_port_max = " << base + 4 * n + 64
                       << "\nmax_sessions = " << n + 10 << "\nmin_free_mb = 0\n";
    c = spawn({a.bin, "--config", cfg, "serve", "--roles", "recorder"}, a.core);
    std::smatch m;
    const std::string line = read_line(c.out);
    if (!std::regex_search(line, m, std::regex(R"(sip:127\.0\.0\.1:(\d+))"))) {
      std::fprintf(stderr, "recorder did not start: %s\n", line.c_str());
      std::exit(2);
    }
    const uint16_t sip_port = static_cast<uint16_t>(std::stoi(m[1]));
    const long rss0 = rss_kib(c.pid);
    Sip s;
    s.fd = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in l = loopback(0);
    bind(s.fd, reinterpret_cast<sockaddr*>(&l), sizeof l);
    socklen_t len = sizeof l;
    getsockname(s.fd, reinterpret_cast<sockaddr*>(&l), &len);
    s.local = ntohs(l.sin_port);
    s.to = loopback(sip_port);
    timeval tv{0, 200000};
    setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    auto sessions = setup(s, n, sip_port);
    if (sessions.empty()) std::exit(2);
    for (const auto& x : sessions) {
      ports.push_back(x.ports[0]);
      ports.push_back(x.ports[1]);
    }
    // Memory per session: measured 2 s into the traffic (buffers in use); then the status
    // file's period.
    const Usage u = drive(c.pid, ports, a.seconds, std::chrono::milliseconds(1500), rss0, row);
    row.received = status_packets(dir + "/data/recorder-status.json");
    account(row, u);
    for (int i = 0; i < n; ++i) {
      const std::string bye =
          in_dialog(s, "BYE", i, sessions[static_cast<size_t>(i)].to_tag, sip_port, 2);
      sendto(s.fd, bye.data(), bye.size(), 0, reinterpret_cast<const sockaddr*>(&s.to),
             sizeof s.to);
    }
    kill(c.pid, SIGTERM);
    int st = 0;
    waitpid(c.pid, &st, 0);
    close(s.fd);
    row.evidence_mb = static_cast<double>(dir_bytes(dir + "/data/archive/objects")) / 1e6;
    fclose(c.out);
    std::filesystem::remove_all(dir);
    return row;
  }
  const Usage u = drive(c.pid, ports, a.seconds, std::chrono::milliseconds(300), -1, row);
  kill(c.pid, SIGTERM);
  row.received = std::strtoull(read_line(c.out).c_str(), nullptr, 10);
  waitpid(c.pid, nullptr, 0);
  fclose(c.out);
  account(row, u);
  std::filesystem::remove_all(dir);
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--bare-child") {
    return bare_child(static_cast<uint16_t>(std::atoi(argv[2])), std::atoi(argv[3]));
  }
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--bin")
      a.bin = v;
    else if (k == "--work")
      a.work = v;
    else if (k == "--seconds")
      a.seconds = std::atoi(v.c_str());
    else if (k == "--core")
      a.core = std::atoi(v.c_str());
    else if (k == "--driver-core")
      a.driver_core = std::atoi(v.c_str());
    else if (k == "--modes")
      a.modes = split(v, ',');
    else if (k == "--ladder") {
      a.ladder.clear();
      for (const auto& x : split(v, ',')) a.ladder.push_back(std::atoi(x.c_str()));
    } else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  pin(a.driver_core);
  const std::string self = std::filesystem::canonical("/proc/self/exe").string();
  std::printf(
      "| receiver | sessions | packets/s | sent | received | lost | CPU/packet | core busy | "
      "projected sessions/core | memory/session | evidence | driver late (worst tick, "
      "overrun) |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  // The highest N with zero loss; and the sessions one core would carry at 100 % busy, projected
  // from the busy share (for when the driver, not the receiver, is the limit).
  std::map<std::string, int> best;
  std::map<std::string, double> projected;
  for (const auto& mode : a.modes) {
    for (int n : a.ladder) {
      const Row r = run(a, mode, n, self);
      const uint64_t lost = r.sent > r.received ? r.sent - r.received : 0;
      const double proj = r.cpu_share > 0 ? n / r.cpu_share : 0;
      const std::string mem =
          mode == "bare" ? "-" : std::to_string(static_cast<int>(r.kib_per_session)) + " KiB";
      const std::string ev =
          mode == "bare" ? "-" : std::to_string(static_cast<int>(r.evidence_mb)) + " MB";
      std::printf(
          "| %s | %d | %d | %llu | %llu | %llu | %.2f µs | %.0f %% | %.0f | %s | %s | %.1f ms, "
          "%.1f %% |\n",
          mode.c_str(), n, 100 * n, static_cast<unsigned long long>(r.sent),
          static_cast<unsigned long long>(r.received), static_cast<unsigned long long>(lost),
          r.cpu_us_per_packet, 100 * r.cpu_share, proj, mem.c_str(), ev.c_str(), r.behind_ms,
          100 * r.overrun);
      std::fflush(stdout);
      if (lost > 0) break;
      best[mode] = n;
      projected[mode] = proj;
      if (r.overrun > 0.05) {
        std::printf("(the driver could not keep the pace: ramp stopped)\n");
        break;
      }
    }
  }
  for (const auto& [mode, n] : best) {
    std::printf("highest zero-loss N: %s %d (projected at 100 %% of one core: %.0f)\n",
                mode.c_str(), n, projected[mode]);
  }
  if (best.count("bare") && best.count("verbatim") && projected["bare"] > 0) {
    std::printf("verbatim / bare: measured %.0f %%, projected %.0f %%\n",
                100.0 * best["verbatim"] / best["bare"],
                100.0 * projected["verbatim"] / projected["bare"]);
  }
  if (best.count("rtpengine") && best.count("verbatim") && projected["rtpengine"] > 0) {
    std::printf("verbatim / rtpengine: measured %.2fx, projected %.2fx\n",
                static_cast<double>(best["verbatim"]) / best["rtpengine"],
                projected["verbatim"] / projected["rtpengine"]);
  }
  return 0;
}
