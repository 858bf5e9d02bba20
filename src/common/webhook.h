// Alerts to a webhook: one HTTP POST of a JSON body to an http:// or https:// URL, with a
// deadline, the server's certificate checked against the system's CAs (or a file of them) and
// its name (common/http_client.h does the HTTP).
// Threads and ownership: each call runs its own io_context on the caller's thread and blocks
// until the response or the deadline; any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/http_client.h"
#include "common/result.h"

namespace verbatim {

using WebhookUrl = HttpUrl;

// kInvalidArgument with what is wrong: the scheme, a missing host, a bad port.
Result<WebhookUrl> parse_webhook_url(std::string_view url);

struct Webhook {
  std::string url;
  std::string ca_file;  // empty: the system's CAs
  std::chrono::milliseconds timeout{10000};
};

// When to try a failed delivery again: 5 s, 10 s, 20 s, ... after the last attempt (`attempts`
// so far), at most 10 minutes apart, until `give_up` after the alert was raised; nullopt then.
std::optional<TimePoint> next_attempt(int attempts, TimePoint raised, TimePoint now,
                                      std::chrono::hours give_up = std::chrono::hours(24));

// POSTs `body` as application/json; the response's HTTP status, or an error saying what failed
// (name lookup, connection, TLS, timeout).
Result<int> post_json(const Webhook& hook, const std::string& body);

// One delivery: post_json, with any status but 2xx taken as a failure. Empty when delivered,
// else why not ("POST URL: HTTP 500", "POST URL: connecting to ...: ...").
std::string deliver_json(const Webhook& hook, const std::string& body);

}  // namespace verbatim
