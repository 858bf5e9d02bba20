// Meetings over REST (common/meetings.h): admins schedule them, list them and cancel them, as
// `verbatim meeting` does, in the same <data_dir>/meetings.db.
//   GET    /api/v1/meetings[?organizer=UPN&all=true]   the meetings, newest first
//   POST   /api/v1/meetings {organizer, subject, start?, pin?}   201 with the meeting
//   GET    /api/v1/meetings/{id}
//   DELETE /api/v1/meetings/{id} {reason}               cancelled (kept, with who and why)
#include "adminapi/http_util.h"
#include "adminapi/router.h"
#include "common/data_paths.h"
#include "common/meetings.h"
#include "policy/organizer.h"

namespace verbatim::adminapi {

using nlohmann::json;
using namespace detail;  // NOLINT(google-build-using-namespace)

namespace {

std::string text_field(const json& body, const char* key) {
  return body.contains(key) && body[key].is_string() ? body[key].get<std::string>() : "";
}

}  // namespace

Response Router::meetings(const Request& req, const Principal& who, std::string_view path,
                          const std::map<std::string, std::string>& query) {
  const bool writes = req.method() == http::verb::post || req.method() == http::verb::delete_;
  if (!has_right(who.account.role,
                 writes ? policy::Right::kPolicyWrite : policy::Right::kPolicyRead)) {
    return forbidden(req);
  }
  std::string id;
  if (path != "/api/v1/meetings" && !match("/api/v1/meetings/{id}", path, id)) {
    return problem(req, http::status::not_found, "no such resource", "NotFound");
  }
  if (id.empty() && req.method() != http::verb::get && req.method() != http::verb::post) {
    return problem(req, http::status::method_not_allowed, "use GET or POST", "MethodNotAllowed");
  }
  if (!id.empty() && req.method() != http::verb::get && req.method() != http::verb::delete_) {
    return problem(req, http::status::method_not_allowed, "use GET or DELETE", "MethodNotAllowed");
  }
  if (options_.data_dir.empty()) {
    return problem(req, http::status::service_unavailable, "this server keeps no meetings",
                   "MeetingsUnavailable");
  }
  auto store = MeetingStore::open(DataPaths(options_.data_dir).meetings_db());
  if (!store) {
    return problem(req, http::status::service_unavailable, store.error().message,
                   "MeetingsUnavailable");
  }
  json body = json::object();
  if (writes) {
    auto parsed = object_body(req);
    if (!parsed) {
      return problem(req, http::status::bad_request, "the body must be a JSON object",
                     "InvalidBody");
    }
    body = *parsed;
  }
  if (id.empty() && req.method() == http::verb::get) {
    const auto organizer = query.count("organizer") ? query.at("organizer") : "";
    const bool all = query.count("all") && query.at("all") == "true";
    auto list = store.value()->list(organizer, all);
    if (!list) {
      return problem(req, http::status::service_unavailable, list.error().message,
                     "MeetingsUnavailable");
    }
    json out = json::array();
    for (const auto& m : list.value()) out.push_back(m.to_json());
    return reply(req, http::status::ok, {{"count", out.size()}, {"meetings", out}});
  }
  if (id.empty()) {  // POST: a new meeting
    NewMeeting n;
    n.organizer = text_field(body, "organizer");
    n.subject = text_field(body, "subject");
    n.start = text_field(body, "start");
    n.pin = text_field(body, "pin");
    n.created_by = who.actor();
    Result<NewMeeting> checked = make_error(ErrorCode::kInternal, "");
    {
      std::lock_guard lock(svc_.mutex());
      (void)svc_.refresh();  // a user the CLI added a moment ago
      checked = policy::with_organizer(svc_.state(), std::move(n));
    }
    if (!checked) {
      return problem(req, http::status::bad_request, checked.error().message, "InvalidMeeting");
    }
    auto m = store.value()->create(checked.value());
    if (!m) {
      const bool taken = m.error().code == ErrorCode::kAlreadyExists;
      return problem(req, taken ? http::status::conflict : http::status::bad_request,
                     m.error().message, taken ? "PinInUse" : "InvalidMeeting");
    }
    return reply(req, http::status::created, m.value().to_json());
  }
  if (req.method() == http::verb::get) {
    auto m = store.value()->get(id);
    if (!m) {
      return problem(req, http::status::service_unavailable, m.error().message,
                     "MeetingsUnavailable");
    }
    if (!m.value()) {
      return problem(req, http::status::not_found, "no meeting " + id, "MeetingNotFound");
    }
    return reply(req, http::status::ok, m.value()->to_json());
  }
  const std::string reason = text_field(body, "reason");
  if (trim(reason).empty() || reason.size() > 500) {
    return problem(req, http::status::bad_request, "give a reason of 1 to 500 characters",
                   "InvalidReason");
  }
  auto done = store.value()->cancel(id, who.actor(), reason);
  if (!done) {
    return problem(req, http::status::service_unavailable, done.error().message,
                   "MeetingsUnavailable");
  }
  if (!done.value()) {
    return problem(req, http::status::not_found, "no meeting " + id + " that stands",
                   "MeetingNotFound");
  }
  return reply(req, http::status::ok, store.value()->get(id).value()->to_json());
}

}  // namespace verbatim::adminapi
