#include "gateway/endpoint_resolver.h"

#include <spdlog/spdlog.h>
#include <boost/asio/ip/address.hpp>

#include "common/strings.h"
#include "sip/uri.h"

namespace verbatim::gateway {

std::optional<sip::Peer> peer_of_uri(std::string_view text) {
  auto uri = sip::parse_uri(text);
  if (!uri || !uri.value().is_sip()) return std::nullopt;
  const auto& u = uri.value();
  std::string host(u.host);
  if (!host.empty() && host[0] == '[') host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  if (ec) return std::nullopt;
  const auto t = u.param("transport");
  const bool tls = u.scheme == sip::Uri::Scheme::kSips || (t && iequals(*t, "tls"));
  sip::Peer p{tls ? "TLS" : "UDP", host, u.port.value_or(tls ? 5061 : 5060)};
  if (!tls && t && iequals(*t, "tcp")) p.transport = "TCP";
  return p;
}

EndpointResolver::EndpointResolver(sip::ResolverOptions dns, std::chrono::seconds ttl)
    : dns_(std::move(dns)), ttl_(ttl) {
  thread_ = std::thread([this] { run(); });
}

EndpointResolver::~EndpointResolver() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void EndpointResolver::store(const std::string& uri, Result<std::vector<sip::ServerTarget>> r) {
  std::lock_guard lock(mutex_);
  Entry& e = cache_[uri];
  e.queued = false;
  e.resolved = std::chrono::steady_clock::now();
  if (!r) {
    e.error = r.error().message;
    spdlog::warn("recorder endpoint {}: {}", uri, e.error);
    return;  // a previous answer, if any, stays in use
  }
  // A new answer: keep using the target in use if it is still in it.
  const std::optional<sip::ServerTarget> in_use =
      e.current < e.targets.size() ? std::optional(e.targets[e.current]) : std::nullopt;
  e.targets = std::move(r).value();
  e.error.clear();
  e.current = 0;
  for (size_t i = 0; in_use && i < e.targets.size(); ++i) {
    if (e.targets[i] == *in_use) e.current = i;
  }
}

void EndpointResolver::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    const std::string uri = queue_.front();
    queue_.pop_front();
    lock.unlock();
    auto parsed = sip::parse_uri(uri);
    auto r = parsed ? sip::locate_server(parsed.value(), dns_)
                    : Result<std::vector<sip::ServerTarget>>(parsed.error());
    store(uri, std::move(r));
    lock.lock();
  }
}

std::optional<sip::Peer> EndpointResolver::peer(const std::string& uri) {
  if (auto p = peer_of_uri(uri)) return p;
  std::lock_guard lock(mutex_);
  Entry& e = cache_[uri];
  const auto now = std::chrono::steady_clock::now();
  if (!e.queued &&
      (e.resolved == std::chrono::steady_clock::time_point{} || now - e.resolved > ttl_)) {
    e.queued = true;
    queue_.push_back(uri);
    wake_.notify_one();
  }
  if (e.targets.empty()) return std::nullopt;
  if (e.host.empty()) {
    auto parsed = sip::parse_uri(uri);
    if (parsed) e.host = std::string(parsed.value().host);
  }
  const sip::ServerTarget& t = e.targets[e.current % e.targets.size()];
  return sip::Peer{t.transport, t.address, t.port, t.transport == "TLS" ? e.host : ""};
}

std::string EndpointResolver::why(const std::string& uri) {
  std::lock_guard lock(mutex_);
  auto it = cache_.find(uri);
  if (it == cache_.end() || (it->second.targets.empty() && it->second.error.empty())) {
    return "recorder endpoint " + uri + ": its host name is being resolved (DNS)";
  }
  return "recorder endpoint " + uri + ": " + it->second.error;
}

void EndpointResolver::resolve_now(const std::vector<std::string>& uris) {
  for (const auto& uri : uris) {
    if (peer_of_uri(uri)) continue;
    auto parsed = sip::parse_uri(uri);
    if (!parsed) continue;
    store(uri, sip::locate_server(parsed.value(), dns_));
  }
}

bool EndpointResolver::failed(const std::string& uri) {
  if (peer_of_uri(uri)) return false;
  std::lock_guard lock(mutex_);
  auto it = cache_.find(uri);
  if (it == cache_.end() || it->second.targets.size() < 2) return false;
  Entry& e = it->second;
  const auto& gone = e.targets[e.current];
  e.current = (e.current + 1) % e.targets.size();
  const auto& next = e.targets[e.current];
  spdlog::warn("recorder endpoint {}: {}:{} failed, {}:{} ({}) takes over", uri, gone.address,
               gone.port, next.address, next.port, next.transport);
  return e.current != 0;
}

}  // namespace verbatim::gateway
