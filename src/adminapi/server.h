// HttpServer: the admin REST API on Boost.Beast. One listener, one session per connection,
// keep-alive, a 1 MiB request limit and idle timeouts; requests are handled by Router. With a TLS
// context (sip/tls.h: TLS 1.2+ only) it speaks HTTPS only, and answers with HSTS.
// Runs on the caller's io_context (single thread is enough for an admin API; decisions
// are served lock-free from the DecisionEngine's shared lock).
#pragma once

#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "adminapi/router.h"
#include "common/result.h"

namespace verbatim::adminapi {

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, Router& router,
             std::shared_ptr<boost::asio::ssl::context> tls = nullptr);
  ~HttpServer();
  // Binds "host:port" ("[::1]:0" for IPv6; port 0 picks one) and starts accepting.
  Result<boost::asio::ip::tcp::endpoint> listen(const std::string& address);
  void stop();

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

// Parses "host:port" / "[v6]:port".
Result<boost::asio::ip::tcp::endpoint> parse_endpoint(const std::string& address);

}  // namespace verbatim::adminapi
