// One HTTP/1.1 request and its response over http:// or https://, with a deadline, the server's
// certificate checked against the system's CAs (or a file of them) and its name. Boost.Beast does
// the HTTP; this file only puts the request together and reads the reply. Used by webhooks and
// the S3 object store (archive/s3_client.h).
// Threads and ownership: each call runs its own io_context and connection on the caller's thread
// and blocks until the response or the deadline; any thread.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace verbatim {

struct HttpUrl {
  bool tls = false;
  std::string host;  // a name or an address (IPv6 without its brackets)
  std::string port;  // "80" / "443" unless given
  std::string target = "/";
  // "host" or "host:port" (brackets around IPv6), as the Host header wants it.
  std::string authority() const;
};

// kInvalidArgument with what is wrong: the scheme, a missing host, a bad port. `what` names the
// URL in the message ("webhook URL", "archive.s3.endpoint").
Result<HttpUrl> parse_http_url(std::string_view url, std::string_view what);

struct HttpRequest {
  std::string method = "GET";
  std::string target = "/";                                  // path and query, already encoded
  std::vector<std::pair<std::string, std::string>> headers;  // Host is added when missing
  std::string body;
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::string header(const std::string& lower_name) const;
};

struct HttpOptions {
  std::string ca_file;  // empty: the system's CAs
  std::chrono::milliseconds timeout{10000};
};

// Sends `request` to `url`'s host and port; the response whatever its status, or kIo saying what
// failed (name lookup, connection, TLS, timeout).
Result<HttpResponse> http_exchange(const HttpUrl& url, const HttpRequest& request,
                                   const HttpOptions& options);

}  // namespace verbatim
