#include "common/webhook.h"

#include <algorithm>

namespace verbatim {

std::optional<TimePoint> next_attempt(int attempts, TimePoint raised, TimePoint now,
                                      std::chrono::hours give_up) {
  constexpr std::chrono::seconds kFirst{5};
  constexpr std::chrono::minutes kLongest{10};
  auto wait = std::chrono::duration_cast<std::chrono::seconds>(
      kFirst * (int64_t{1} << std::min(std::max(attempts, 0), 8)));
  if (wait > kLongest) wait = kLongest;
  if (now + wait >= raised + give_up) return std::nullopt;
  return now + wait;
}

Result<WebhookUrl> parse_webhook_url(std::string_view url) {
  return parse_http_url(url, "webhook URL");
}

Result<int> post_json(const Webhook& hook, const std::string& body) {
  auto url = parse_webhook_url(hook.url);
  if (!url) return url.error();
  HttpRequest request;
  request.method = "POST";
  request.target = url.value().target;
  request.headers = {{"Content-Type", "application/json"}};
  request.body = body;
  auto r = http_exchange(url.value(), request, {hook.ca_file, hook.timeout});
  if (!r) {
    // Name the hook as it was given (its query may carry a token the caller chose to show).
    const std::string& m = r.error().message;
    const size_t colon = m.find(": ");
    return make_error(ErrorCode::kIo,
                      "POST " + hook.url + (colon == std::string::npos ? "" : m.substr(colon)));
  }
  return r.value().status;
}

std::string deliver_json(const Webhook& hook, const std::string& body) {
  auto status = post_json(hook, body);
  if (!status) return status.error().message;
  if (status.value() < 200 || status.value() > 299) {
    return "POST " + hook.url + ": HTTP " + std::to_string(status.value());
  }
  return "";
}

}  // namespace verbatim
