// Where a recorder endpoint URI is on the network, for endpoints named by host name
// ("sip:rec-dr.contoso.com:5061;transport=tls"): RFC 3263 through sip/resolver.h (NAPTR, SRV,
// A/AAAA, c-ares), in the background — never on the SIP thread, which never waits for DNS —
// cached for a minute, with SRV failover: when the target in use fails (its INVITE or health
// checks go unanswered), the next one of the SRV answer takes over. Numeric URIs need none of
// it and are answered at once. TLS targets carry the host name, so the recorder's certificate
// is checked against the name in the URI, not its address.
//
// Thread-safety: peer(), why(), failed() on the SIP thread; resolution on a worker thread of
// its own; the cache between them under a mutex.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sip/resolver.h"
#include "sip/transaction.h"

namespace verbatim::gateway {

// A URI with a numeric host -> where to send (transport=tcp/tls and sips: honoured).
std::optional<sip::Peer> peer_of_uri(std::string_view uri);

class EndpointResolver {
 public:
  explicit EndpointResolver(sip::ResolverOptions dns = {},
                            std::chrono::seconds ttl = std::chrono::seconds(60));
  ~EndpointResolver();
  EndpointResolver(const EndpointResolver&) = delete;
  EndpointResolver& operator=(const EndpointResolver&) = delete;

  // Where to send for `uri` now; nullopt while a host name is being resolved or did not resolve
  // (why() says which). A stale answer is still used while it is refreshed.
  std::optional<sip::Peer> peer(const std::string& uri);
  std::string why(const std::string& uri);
  // Resolves these host-name URIs now, blocking (at start: the first calls find their
  // recorders); numeric ones are skipped.
  void resolve_now(const std::vector<std::string>& uris);
  // The target in use for `uri` failed: the next one takes over. False when none is left (the
  // first is tried again after the next resolution).
  bool failed(const std::string& uri);

 private:
  struct Entry {
    std::vector<sip::ServerTarget> targets;
    std::string host;  // the URI's host name (the TLS name)
    size_t current = 0;
    std::string error;  // the last resolution's failure
    std::chrono::steady_clock::time_point resolved{};
    bool queued = false;
  };
  void run();
  void store(const std::string& uri, Result<std::vector<sip::ServerTarget>> r);

  sip::ResolverOptions dns_;
  std::chrono::seconds ttl_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::string, Entry> cache_;
  std::deque<std::string> queue_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace verbatim::gateway
