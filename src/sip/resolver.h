// RFC 3263 server location: which transport, address and port to send a request for a SIP or
// SIPS URI to. NAPTR (SIP+D2U, SIP+D2T, SIPS+D2T) -> SRV (_sip._udp, _sip._tcp, _sips._tcp;
// priority, then weighted random order within a priority, RFC 2782) -> A/AAAA, with the
// shortcuts of §4.1/§4.2: a numeric host or an explicit port skips NAPTR and SRV, an explicit
// transport parameter skips NAPTR. DNS itself is c-ares (Debian's libc-ares-dev); nothing here
// speaks DNS wire format.
//
// locate_server() blocks until every lookup finished or timed out (c-ares' own loop), so the
// gateway calls it off the SIP thread and caches the answer for the records' lifetime (the
// gateway issue); recorder endpoints are few and stable.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "sip/uri.h"

namespace verbatim::sip {

struct ServerTarget {
  std::string transport;  // UDP | TCP | TLS
  std::string address;    // IPv4 or IPv6 (no brackets)
  uint16_t port = 5060;
  bool operator==(const ServerTarget&) const = default;
};

struct ResolverOptions {
  // DNS servers as "ip:port,ip:port"; empty: the system's (/etc/resolv.conf).
  std::string servers;
  std::chrono::milliseconds timeout{2000};
  int tries = 2;
};

// The targets to try, in order. An error when nothing resolves (naming what was looked up).
Result<std::vector<ServerTarget>> locate_server(const Uri& uri,
                                                const ResolverOptions& options = {});

}  // namespace verbatim::sip
