#include "sip/resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <sys/select.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <random>

#include "common/strings.h"

namespace verbatim::sip {

namespace {

struct Answer {
  bool done = false;
  int status = ARES_SUCCESS;
  std::vector<unsigned char> bytes;
};

void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  auto* a = static_cast<Answer*>(arg);
  a->done = true;
  a->status = status;
  if (status == ARES_SUCCESS && abuf && alen > 0) a->bytes.assign(abuf, abuf + alen);
}

class Channel {
 public:
  explicit Channel(const ResolverOptions& o) {
    static std::once_flag once;
    std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
    ares_options opts{};
    opts.timeout = static_cast<int>(o.timeout.count());
    opts.tries = o.tries;
    status_ = ares_init_options(&channel_, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    if (status_ == ARES_SUCCESS && !o.servers.empty()) {
      status_ = ares_set_servers_ports_csv(channel_, o.servers.c_str());
    }
  }
  ~Channel() {
    if (channel_) ares_destroy(channel_);
  }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  bool ok() const { return status_ == ARES_SUCCESS; }
  std::string error() const { return ares_strerror(status_); }

  // One query, run to completion.
  Answer query(const std::string& name, int type) {
    Answer a;
    ares_query(channel_, name.c_str(), ns_c_in, type, on_answer, &a);
    while (!a.done) {
      fd_set read_fds, write_fds;
      FD_ZERO(&read_fds);
      FD_ZERO(&write_fds);
      const int nfds = ares_fds(channel_, &read_fds, &write_fds);
      if (nfds == 0) break;
      timeval tv{};
      timeval* tvp = ares_timeout(channel_, nullptr, &tv);
      select(nfds, &read_fds, &write_fds, nullptr, tvp);
      ares_process(channel_, &read_fds, &write_fds);
    }
    return a;
  }

 private:
  ares_channel channel_ = nullptr;
  int status_ = ARES_SUCCESS;
};

std::vector<std::string> addresses(Channel& ch, const std::string& host) {
  std::vector<std::string> out;
  Answer a = ch.query(host, ns_t_a);
  if (a.status == ARES_SUCCESS) {
    ares_addrttl ttls[16];
    int n = 16;
    hostent* he = nullptr;
    if (ares_parse_a_reply(a.bytes.data(), static_cast<int>(a.bytes.size()), &he, ttls, &n) ==
        ARES_SUCCESS) {
      char buf[INET_ADDRSTRLEN];
      for (int i = 0; i < n; ++i)
        out.emplace_back(inet_ntop(AF_INET, &ttls[i].ipaddr, buf, sizeof buf));
      if (he) ares_free_hostent(he);
    }
  }
  Answer b = ch.query(host, ns_t_aaaa);
  if (b.status == ARES_SUCCESS) {
    ares_addr6ttl ttls[16];
    int n = 16;
    hostent* he = nullptr;
    if (ares_parse_aaaa_reply(b.bytes.data(), static_cast<int>(b.bytes.size()), &he, ttls, &n) ==
        ARES_SUCCESS) {
      char buf[INET6_ADDRSTRLEN];
      for (int i = 0; i < n; ++i)
        out.emplace_back(inet_ntop(AF_INET6, &ttls[i].ip6addr, buf, sizeof buf));
      if (he) ares_free_hostent(he);
    }
  }
  return out;
}

struct Srv {
  uint16_t priority, weight, port;
  std::string host;
};

// RFC 2782: by priority; within one, a weighted random order.
std::vector<Srv> srv_lookup(Channel& ch, const std::string& name) {
  std::vector<Srv> out;
  Answer a = ch.query(name, ns_t_srv);
  if (a.status != ARES_SUCCESS) return out;
  ares_srv_reply* reply = nullptr;
  if (ares_parse_srv_reply(a.bytes.data(), static_cast<int>(a.bytes.size()), &reply) !=
      ARES_SUCCESS)
    return out;
  for (auto* r = reply; r; r = r->next) out.push_back({r->priority, r->weight, r->port, r->host});
  ares_free_data(reply);
  std::sort(out.begin(), out.end(),
            [](const Srv& x, const Srv& y) { return x.priority < y.priority; });
  static thread_local std::mt19937 rng{std::random_device{}()};
  std::vector<Srv> ordered;
  for (size_t i = 0; i < out.size();) {
    size_t j = i;
    while (j < out.size() && out[j].priority == out[i].priority) ++j;
    std::vector<Srv> group(out.begin() + static_cast<long>(i), out.begin() + static_cast<long>(j));
    while (!group.empty()) {
      uint32_t total = 0;
      for (const auto& s : group) total += s.weight;
      size_t pick = 0;
      if (total > 0) {
        uint32_t r = std::uniform_int_distribution<uint32_t>(1, total)(rng);
        for (pick = 0; pick < group.size(); ++pick) {
          if (r <= group[pick].weight) break;
          r -= group[pick].weight;
        }
        if (pick == group.size()) pick = group.size() - 1;
      }
      ordered.push_back(group[pick]);
      group.erase(group.begin() + static_cast<long>(pick));
    }
    i = j;
  }
  return ordered;
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Result<std::vector<ServerTarget>> locate_server(const Uri& uri, const ResolverOptions& options) {
  if (!uri.is_sip())
    return make_error(ErrorCode::kInvalidArgument,
                      "not a SIP or SIPS URI: " + std::string(uri.text));
  const bool sips = uri.scheme == Uri::Scheme::kSips;
  std::string host(uri.param("maddr").value_or(uri.host));
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  std::string transport;
  if (auto t = uri.param("transport")) transport = upper(std::string(*t));
  if (sips && transport == "TCP") transport = "TLS";
  const uint16_t default_port = sips || transport == "TLS" ? 5061 : 5060;
  // §4.1/4.2: a numeric address, or an explicit port, is used as it is.
  const bool numeric =
      classify_host(uri.host) == HostKind::kIpv4 || classify_host(uri.host) == HostKind::kIpv6;
  if (numeric) {
    return std::vector<ServerTarget>{{transport.empty() ? (sips ? "TLS" : "UDP") : transport, host,
                                      uri.port.value_or(default_port)}};
  }
  Channel ch(options);
  if (!ch.ok()) return make_error(ErrorCode::kIo, "DNS resolver: " + ch.error());
  std::vector<ServerTarget> out;
  auto add_host = [&](const std::string& name, const std::string& t, uint16_t port) {
    for (const auto& a : addresses(ch, name)) out.push_back({t, a, port});
  };
  if (uri.port) {
    add_host(host, transport.empty() ? (sips ? "TLS" : "UDP") : transport, *uri.port);
  } else {
    // §4.1: NAPTR unless the transport is given.
    struct Choice {
      std::string transport, srv;
    };
    std::vector<Choice> choices;
    if (transport.empty()) {
      Answer n = ch.query(host, ns_t_naptr);
      ares_naptr_reply* reply = nullptr;
      if (n.status == ARES_SUCCESS &&
          ares_parse_naptr_reply(n.bytes.data(), static_cast<int>(n.bytes.size()), &reply) ==
              ARES_SUCCESS) {
        struct Naptr {
          uint16_t order, pref;
          std::string service, replacement;
        };
        std::vector<Naptr> ns;
        for (auto* r = reply; r; r = r->next) {
          const std::string flags = upper(reinterpret_cast<const char*>(r->flags));
          if (flags != "S") continue;
          ns.push_back({r->order, r->preference, upper(reinterpret_cast<const char*>(r->service)),
                        reinterpret_cast<const char*>(r->replacement)});
        }
        ares_free_data(reply);
        std::sort(ns.begin(), ns.end(), [](const Naptr& a, const Naptr& b) {
          return a.order != b.order ? a.order < b.order : a.pref < b.pref;
        });
        for (const auto& x : ns) {
          if (x.service == "SIPS+D2T") choices.push_back({"TLS", x.replacement});
          if (!sips && x.service == "SIP+D2T") choices.push_back({"TCP", x.replacement});
          if (!sips && x.service == "SIP+D2U") choices.push_back({"UDP", x.replacement});
        }
      }
    }
    if (choices.empty()) {  // §4.1: SRV for each transport we support
      const std::vector<std::string> ts = !transport.empty() ? std::vector<std::string>{transport}
                                          : sips             ? std::vector<std::string>{"TLS"}
                                                 : std::vector<std::string>{"UDP", "TCP", "TLS"};
      for (const auto& t : ts) {
        const std::string prefix = t == "TLS"   ? "_sips._tcp."
                                   : t == "TCP" ? "_sip._tcp."
                                                : "_sip._udp.";
        choices.push_back({t, prefix + host});
      }
    }
    for (const auto& c : choices) {
      for (const auto& s : srv_lookup(ch, c.srv)) add_host(s.host, c.transport, s.port);
    }
    if (out.empty()) {  // §4.2: no SRV records: the host itself on the default port
      add_host(host, transport.empty() ? (sips ? "TLS" : "UDP") : transport, default_port);
    }
  }
  if (out.empty()) {
    return make_error(ErrorCode::kNotFound, "no SIP server found for " + std::string(uri.text) +
                                                " (NAPTR, SRV and A/AAAA lookups of " + host +
                                                " found nothing)");
  }
  return out;
}

}  // namespace verbatim::sip
