#include "adminapi/http_util.h"

#include <algorithm>
#include <cctype>

#include "common/clock.h"
#include "common/strings.h"

namespace verbatim::adminapi::detail {

Response reply(const Request& req, http::status status, const json& body) {
  Response res{status, req.version()};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.body() = body.dump(2) + "\n";
  res.prepare_payload();
  return res;
}

Response download(const Request& req, const std::string& content_type, std::string bytes,
                  const std::string& filename) {
  Response res{http::status::ok, req.version()};
  res.set(http::field::content_type, content_type);
  if (!filename.empty()) {
    res.set(http::field::content_disposition, "attachment; filename=\"" + filename + "\"");
  }
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(bytes);
  res.prepare_payload();
  return res;
}

std::optional<ByteRange> parse_range(std::string_view header, uint64_t size) {
  constexpr std::string_view kUnit = "bytes=";
  if (header.size() <= kUnit.size() || !iequals(header.substr(0, kUnit.size()), kUnit)) {
    return std::nullopt;
  }
  std::string_view spec = trim(header.substr(kUnit.size()));
  if (spec.find(',') != std::string_view::npos) return std::nullopt;  // several: sent whole
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto number = [](std::string_view d) -> std::optional<uint64_t> {
    if (d.empty() || d.size() > 18) return std::nullopt;
    uint64_t v = 0;
    for (char c : d) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    return v;
  };
  const std::string_view a = trim(spec.substr(0, dash)), b = trim(spec.substr(dash + 1));
  if (a.empty()) {  // "-N": the last N bytes
    auto n = number(b);
    if (!n) return std::nullopt;
    if (*n == 0 || size == 0) return ByteRange{false, 0, 0};
    return ByteRange{true, size - std::min(*n, size), size - 1};
  }
  auto first = number(a);
  if (!first) return std::nullopt;
  std::optional<uint64_t> last;
  if (!b.empty()) {
    last = number(b);
    if (!last || *last < *first) return std::nullopt;
  }
  if (*first >= size) return ByteRange{false, 0, 0};
  return ByteRange{true, *first, std::min(last.value_or(size - 1), size - 1)};
}

Result<Response> ranged_download(const Request& req, const std::string& content_type, uint64_t size,
                                 const std::string& etag, const ReadBytes& read) {
  std::optional<ByteRange> range;
  if (auto h = req.find(http::field::range); h != req.end()) {
    range = parse_range(std::string_view(h->value().data(), h->value().size()), size);
    // If-Range: the range only if the client's copy is still this content.
    if (auto ir = req.find(http::field::if_range); ir != req.end() && ir->value() != etag) {
      range.reset();
    }
  }
  Response res{http::status::ok, req.version()};
  res.set(http::field::accept_ranges, "bytes");
  res.set(http::field::cache_control, "no-store");
  if (!etag.empty()) res.set(http::field::etag, etag);
  res.keep_alive(req.keep_alive());
  if (range && !range->satisfiable) {
    res.result(http::status::range_not_satisfiable);
    res.set(http::field::content_range, "bytes */" + std::to_string(size));
    res.prepare_payload();
    return res;
  }
  res.set(http::field::content_type, content_type);
  const uint64_t first = range ? range->first : 0;
  const uint64_t count = range ? range->last - range->first + 1 : size;
  auto bytes = read(first, count);
  if (!bytes) return bytes.error();
  if (range) {
    res.result(http::status::partial_content);
    res.set(http::field::content_range, "bytes " + std::to_string(range->first) + "-" +
                                            std::to_string(range->last) + "/" +
                                            std::to_string(size));
  }
  res.body() = std::move(bytes).value();
  res.prepare_payload();
  return res;
}

std::optional<json> object_body(const Request& req) {
  if (req.body().empty()) return json::object();
  json body = json::parse(req.body(), nullptr, false);
  if (!body.is_object()) return std::nullopt;
  return body;
}

Response problem(const Request& req, http::status status, const std::string& message,
                 const std::string& id) {
  return reply(req, status, {{"error", {{"message", message}, {"errorId", id}}}});
}

std::string url_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> query_params(std::string_view query) {
  std::map<std::string, std::string> out;
  for (const auto& part : split(query, '&')) {
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    out[to_lower(url_decode(part.substr(0, eq)))] =
        eq == std::string::npos ? "" : url_decode(part.substr(eq + 1));
  }
  return out;
}

std::optional<int64_t> whole_param(const std::map<std::string, std::string>& params,
                                   const std::string& key, int64_t fallback, int64_t min,
                                   int64_t max) {
  const auto it = params.find(key);
  if (it == params.end()) return fallback;
  const std::string& v = it->second;
  if (v.empty() || v.size() > 18 ||
      !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  const int64_t n = std::stoll(v);
  if (n < min || n > max) return std::nullopt;
  return n;
}

bool match(std::string_view pattern, std::string_view path, std::string& id) {
  const auto p = split(pattern, '/');
  const auto s = split(path, '/');
  if (p.size() != s.size()) return false;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == "{id}") {
      if (s[i].empty()) return false;
      id = url_decode(s[i]);
    } else if (p[i] != s[i]) {
      return false;
    }
  }
  return true;
}

http::status status_for(const admin::PsError& e) {
  if (e.category == "ObjectNotFound") return http::status::not_found;
  if (e.category == "PermissionDenied") return http::status::forbidden;
  if (e.category == "ResourceExists" || e.category == "InvalidOperation") {
    return http::status::conflict;
  }
  if (e.category == "WriteError") return http::status::service_unavailable;
  return http::status::bad_request;
}

json outcome_json(const admin::Interpreter::Outcome& o) {
  json objects = json::array();
  for (const auto& v : o.objects) objects.push_back(admin::to_json(v));
  return {{"objects", objects}, {"output", o.output}};
}

Response outcome_reply(const Request& req, const admin::Interpreter::Outcome& o,
                       http::status ok_status) {
  if (!o.ok()) {
    const admin::PsError& e = *o.error;
    return reply(req, status_for(e),
                 {{"error",
                   {{"message", e.message},
                    {"category", e.category},
                    {"errorId", e.error_id},
                    {"cmdlet", e.cmdlet},
                    {"target", e.target},
                    {"text", o.error_text}}}});
  }
  return reply(req, ok_status, outcome_json(o));
}

Response forbidden(const Request& req) {
  return problem(req, http::status::forbidden, "forbidden, or no such resource", "Forbidden");
}

Right right_for_cmdlet(std::string_view name) {
  if (iequals(name, "Get-VbAuditLog")) return Right::kAuditRead;
  if (istarts_with(name, "Get-")) return Right::kPolicyRead;
  const auto noun = name.substr(std::min(name.size(), name.find('-') + 1));
  if (iequals(noun, "VbRecorderEndpoint") || iequals(noun, "CsOnlineApplicationInstance")) {
    return Right::kRecordersWrite;
  }
  return Right::kPolicyWrite;
}

bool needs_approval(std::string_view cmdlet) {
  return !istarts_with(cmdlet, "Get-") &&
         iequals(cmdlet.substr(std::min(cmdlet.size(), cmdlet.find('-') + 1)),
                 "VbRecorderEndpoint");
}

std::string right_name(Right r) {
  switch (r) {
    case Right::kPolicyRead:
      return "policy-read";
    case Right::kPolicyWrite:
      return "policy-write";
    case Right::kRecordersWrite:
      return "recorders-write";
    case Right::kCallsRead:
      return "calls-read";
    case Right::kRecordingsRead:
      return "recordings-read";
    case Right::kRecordingsHold:
      return "recordings-hold";
    case Right::kAuditRead:
      return "audit-read";
    case Right::kLedgerRead:
      return "ledger-read";
    case Right::kAccountsManage:
      return "accounts-manage";
  }
  return "?";
}

std::optional<Right> right_from_name(std::string_view n) {
  for (Right r : {Right::kPolicyRead, Right::kPolicyWrite, Right::kRecordersWrite,
                  Right::kCallsRead, Right::kRecordingsRead, Right::kRecordingsHold,
                  Right::kAuditRead, Right::kLedgerRead, Right::kAccountsManage}) {
    if (right_name(r) == n) return r;
  }
  return std::nullopt;
}

std::string now_iso() { return format_iso8601(std::chrono::system_clock::now()); }

Response accepted_for_approval(const Request& req, int64_t id, const std::string& what) {
  return reply(req, http::status::accepted,
               {{"approval",
                 {{"id", id},
                  {"status", "pending"},
                  {"message", what +
                                  " needs a second person's approval: another account with the "
                                  "right approves it with POST /api/v1/approvals/" +
                                  std::to_string(id) + "/approve"}}}});
}

std::vector<std::string> strings_in(const json& v) {
  std::vector<std::string> out;
  if (v.is_string()) {
    for (const auto& p : split(v.get<std::string>(), ',')) {
      if (!trim(p).empty()) out.emplace_back(trim(p));
    }
  } else if (v.is_array()) {
    for (const auto& x : v) {
      if (x.is_string()) out.push_back(x.get<std::string>());
    }
  }
  return out;
}

}  // namespace verbatim::adminapi::detail
