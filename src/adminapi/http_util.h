// What the REST API's handlers share: JSON replies and problems, downloads, request bodies and
// query strings, path matching, the rights behind cmdlets and the answers for approvals. Private
// to src/adminapi/; pure functions, callable from any of the server's threads.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "admin/interpreter.h"
#include "adminapi/router.h"
#include "policy/accounts.h"

namespace verbatim::adminapi::detail {

using nlohmann::json;
using policy::Right;

Response reply(const Request& req, http::status status, const json& body);

// 200 with bytes to download (recordings' objects, export packages): never cached; with
// `filename`, offered as an attachment.
Response download(const Request& req, const std::string& content_type, std::string bytes,
                  const std::string& filename = "");

// One byte range of a Range header (RFC 9110 §14.2) against content of `size` bytes.
struct ByteRange {
  bool satisfiable = true;  // false: 416, the range starts past the end
  uint64_t first = 0, last = 0;
};
// nullopt when the header is absent, not a single "bytes=" range, or malformed: the whole
// content is sent then, as RFC 9110 allows.
std::optional<ByteRange> parse_range(std::string_view header, uint64_t size);

// A download that honours Range and If-Range (players seek in long recordings without fetching
// them whole): 200 with all `size` bytes, 206 with the range asked for, or 416. `read` gives the
// bytes [offset, offset + count) and is called once; `etag` (strong, quoted) names this exact
// content. Always "Accept-Ranges: bytes", never cached.
using ReadBytes = std::function<Result<std::string>(uint64_t offset, uint64_t count)>;
Result<Response> ranged_download(const Request& req, const std::string& content_type, uint64_t size,
                                 const std::string& etag, const ReadBytes& read);

// The request's body as a JSON object ({} when there is none); nullopt when it is anything else.
std::optional<json> object_body(const Request& req);

Response problem(const Request& req, http::status status, const std::string& message,
                 const std::string& id);

std::string url_decode(std::string_view s);

std::map<std::string, std::string> query_params(std::string_view query);
// A whole-number parameter between `min` and `max`; `fallback` when absent; nullopt when it is
// not a number in that range.
std::optional<int64_t> whole_param(const std::map<std::string, std::string>& params,
                                   const std::string& key, int64_t fallback, int64_t min,
                                   int64_t max);

// Matches `path` against `pattern`; fills `id` from the {id} segment.
bool match(std::string_view pattern, std::string_view path, std::string& id);

http::status status_for(const admin::PsError& e);

json outcome_json(const admin::Interpreter::Outcome& o);

Response outcome_reply(const Request& req, const admin::Interpreter::Outcome& o,
                       http::status ok_status);

// One answer for "your role may not" and "there is no such thing": ids cannot be probed.
Response forbidden(const Request& req);

// What a cmdlet needs: reading, changing recorders (applications, endpoints), changing policy.
Right right_for_cmdlet(std::string_view name);

// Changing where recordings go is four-eyes (an endpoint moved to an attacker's recorder would
// silently take every call).
bool needs_approval(std::string_view cmdlet);

std::string right_name(Right r);

std::optional<Right> right_from_name(std::string_view n);

std::string now_iso();

Response accepted_for_approval(const Request& req, int64_t id, const std::string& what);

std::vector<std::string> strings_in(const json& v);

}  // namespace verbatim::adminapi::detail
