// Cases over REST (cases/cases.h): /api/v1/cases[/{name}[/hold | /exports[/{id}[/package]]]].
// Compliance officers only, and only the case's owner and the accounts on its access list see a
// case; anyone else gets the same 403 as for a case that does not exist. A case's recordings are
// its members plus its query's hits, always within the caller's scope. Holding a case holds
// each recording in the archive; releasing it is a four-eyes request. Exports run as jobs on a
// worker thread with their own view of the archive, and report progress per recording.
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "adminapi/http_util.h"
#include "adminapi/router.h"
#include "adminapi/router_redact.h"
#include "archive/archive.h"
#include "archive/export.h"
#include "cases/cases.h"
#include "common/clock.h"
#include "common/strings.h"
#include "search/interaction.h"
#include "search/search.h"

namespace verbatim::adminapi {

using nlohmann::json;
using namespace detail;  // NOLINT(google-build-using-namespace)

namespace {

constexpr size_t kMaxCaseRecordings = 1000;

std::vector<std::string> strings_of(const json& body, const char* key) {
  return body.contains(key) ? strings_in(body[key]) : std::vector<std::string>{};
}

void add_unique(std::vector<std::string>& to, const std::string& v) {
  if (std::find(to.begin(), to.end(), v) == to.end()) to.push_back(v);
}

}  // namespace

// One worker thread runs the export jobs in the order asked, each with its own view of the
// archive (RouterOptions::open_archive); stopped and joined with the Router.
class Router::ExportQueue {
 public:
  explicit ExportQueue(std::function<void(const ExportRequest&)> run) : run_(std::move(run)) {}
  ~ExportQueue() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void push(ExportRequest r) {
    {
      std::lock_guard lock(mu_);
      queue_.push_back(std::move(r));
      if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
    }
    cv_.notify_one();
  }

 private:
  void loop() {
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      ExportRequest r = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      run_(r);
      lock.lock();
    }
  }
  std::function<void(const ExportRequest&)> run_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ExportRequest> queue_;
  bool stop_ = false;
  std::thread thread_;
};

Router::~Router() = default;

Result<std::vector<std::string>> Router::case_recordings(archive::Archive& a, const cases::Case& c,
                                                         const Principal& who, json* listed) {
  std::vector<std::string> ids;
  if (!c.query.empty()) {
    auto params = c.query;
    params["limit"] = std::to_string(kMaxCaseRecordings);
    auto q = search::query_from_params(params);
    if (!q) return q.error();
    q.value().scope_groups = who.account.groups;
    q.value().scope_regions = who.account.regions;
    auto page = search::run(a.catalog(), q.value());
    if (!page) return page.error();
    for (const auto& h : page.value().hits) add_unique(ids, h.id);
    VB_TRY(a.log_search(q.value().to_json(), ids, who.actor()));
  }
  for (const auto& m : c.members) add_unique(ids, m);
  std::vector<std::string> visible;
  for (const auto& id : ids) {
    auto r = a.recording(id);
    if (!r || !policy::in_scope(who.account, r.value().metadata)) continue;
    visible.push_back(id);
    if (!listed) continue;
    json parties = json::array();
    for (const auto& p : search::participants_view(r.value().metadata, "")) {
      parties.push_back(p.value("name", p.value("aor", "")));
    }
    listed->push_back(
        {{"id", id},
         {"status", r.value().status},
         {"started", r.value().created_at},
         {"participants", parties},
         {"member", std::find(c.members.begin(), c.members.end(), id) != c.members.end()},
         {"legalHolds", r.value().active_holds}});
  }
  return visible;
}

Result<std::vector<std::string>> Router::hold_case(archive::Archive& a, cases::Case& c,
                                                   const Principal& who) {
  auto recs = case_recordings(a, c, who, nullptr);
  if (!recs) return recs.error();
  std::vector<std::string> newly;
  for (const auto& id : recs.value()) {
    if (std::find(c.held_recordings.begin(), c.held_recordings.end(), id) !=
        c.held_recordings.end()) {
      continue;
    }
    VB_TRY(a.set_hold(c.name, id, who.actor()));
    c.held_recordings.push_back(id);
    newly.push_back(id);
  }
  return newly;
}

void Router::run_export(const ExportRequest& r) {
  auto store = cases::CaseStore::open(options_.cases_db);
  if (!store) {
    spdlog::error("case export {}: {}", r.job, store.error().message);
    return;
  }
  auto job = store.value()->export_job(r.job);
  if (!job || !job.value()) return;
  cases::ExportJob j = *job.value();
  j.state = "running";
  j.total = static_cast<int64_t>(r.recordings.size());
  (void)store.value()->update_export(j);
  auto work = [&](archive::Archive& a) -> Status {
    std::error_code ec;
    const std::filesystem::path dir = std::filesystem::path(options_.work_dir) / "case-exports";
    std::filesystem::create_directories(dir, ec);
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
    const std::string tar =
        (dir / (r.case_name + "-" + std::to_string(r.job) + "-" + random_hex(4) + ".tar")).string();
    auto done = archive::export_package(a, r.recordings, tar, r.who, [&](size_t n, size_t) {
      j.done = static_cast<int64_t>(n);
      (void)store.value()->update_export(j);
    });
    if (!done) return done.error();
    j.file = tar;
    return a.log_case(r.case_name, "exported", r.recordings, {{"job", r.job}}, r.who);
  };
  Status st = ok_status();
  if (options_.open_archive) {
    auto a = options_.open_archive();
    st = a ? work(*a.value()) : Status(a.error());
  } else {
    st = options_.archive(work);
  }
  j.state = st ? "done" : "failed";
  j.error = st ? "" : st.error().message;
  j.finished_at = now_iso();
  (void)store.value()->update_export(j);
  (void)store.value()->log(r.case_name, r.who, st ? "exported" : "export-failed",
                           {{"job", r.job}, {"recordings", j.done}, {"error", j.error}});
}

Response Router::cases(const Request& req, const Principal& who, std::string_view path) {
  const bool reading = req.method() == http::verb::get;
  if (!policy::has_right(who.account.role,
                         reading ? Right::kRecordingsRead : Right::kRecordingsHold)) {
    return forbidden(req);
  }
  if (options_.cases_db.empty() || !options_.archive) {
    return problem(req, http::status::service_unavailable, "this server keeps no cases",
                   "CasesUnavailable");
  }
  auto opened = cases::CaseStore::open(options_.cases_db);
  if (!opened) {
    return problem(req, http::status::service_unavailable, opened.error().message,
                   "CasesUnavailable");
  }
  cases::CaseStore& store = *opened.value();
  auto body = object_body(req);
  if (!body)
    return problem(req, http::status::bad_request, "the body must be a JSON object", "InvalidBody");
  auto failed = [&](const Error& e) {
    const auto status = e.code == ErrorCode::kInvalidArgument ? http::status::bad_request
                        : e.code == ErrorCode::kAlreadyExists ? http::status::conflict
                                                              : http::status::service_unavailable;
    return problem(
        req, status, e.message,
        status == http::status::service_unavailable ? "CasesUnavailable" : "InvalidCase");
  };
  auto parts = split(path.substr(std::string_view("/api/v1/cases").size()), '/');
  if (!parts.empty() && parts.front().empty()) parts.erase(parts.begin());

  // GET /cases: the cases one may see; POST /cases: a new one.
  if (parts.empty()) {
    if (reading) {
      auto all = store.list();
      if (!all) return failed(all.error());
      json out = json::array();
      for (const auto& c : all.value()) {
        if (c.visible_to(who.account.name)) out.push_back(c.to_json());
      }
      return reply(req, http::status::ok, {{"cases", out}});
    }
    if (req.method() != http::verb::post) {
      return problem(req, http::status::method_not_allowed, "use GET or POST", "MethodNotAllowed");
    }
    cases::Case c;
    c.name = body->value("name", "");
    c.description = body->value("description", "");
    if (body->contains("query") && (*body)["query"].is_object()) {
      for (const auto& [k, v] : (*body)["query"].items()) {
        c.query[k] = v.is_string() ? v.get<std::string>() : v.dump();
      }
      c.query.erase("limit");
      c.query.erase("cursor");
      auto q = search::query_from_params(c.query);
      if (!q)
        return problem(req, http::status::bad_request, "query: " + q.error().message,
                       "InvalidQuery");
    }
    c.members = strings_of(*body, "members");
    c.access = strings_of(*body, "access");
    c.owner = who.actor();
    c.created_at = now_iso();
    if (auto st = cases::check_case_name(c.name); !st) return failed(st.error());
    std::optional<Response> out;
    auto st = options_.archive([&](archive::Archive& a) -> Status {
      for (const auto& m : c.members) {
        auto r = a.recording(m);
        if (!r || !policy::in_scope(who.account, r.value().metadata)) {
          (void)a.log_access("denied", m, who.actor());
          out = forbidden(req);
          return ok_status();
        }
      }
      VB_TRY(store.create(c));
      VB_TRY(a.log_case(c.name, "created", c.members, {{"query", c.query}, {"access", c.access}},
                        who.actor()));
      return store.log(c.name, who.actor(), "created",
                       {{"query", c.query}, {"members", c.members}, {"access", c.access}});
    });
    if (!st) return failed(st.error());
    if (out) return std::move(*out);
    return reply(req, http::status::created, c.to_json());
  }

  const std::string name = url_decode(parts[0]);
  auto found = store.get(name);
  if (!found) return failed(found.error());
  if (!found.value() || !found.value()->visible_to(who.account.name)) {
    security_event(who.actor(), "access.denied", {{"case", name}, {"path", std::string(path)}});
    return forbidden(req);
  }
  cases::Case c = *found.value();
  std::optional<Response> out;
  Status st = ok_status();

  // GET /cases/{name}: the case, its recordings (members and the query's hits, in scope), its
  // history and its export jobs.
  if (parts.size() == 1 && reading) {
    st = options_.archive([&](archive::Archive& a) -> Status {
      json listed = json::array();
      auto recs = case_recordings(a, c, who, &listed);
      if (!recs) return recs.error();
      auto history = store.history(name);
      if (!history) return history.error();
      auto jobs = store.exports(name);
      if (!jobs) return jobs.error();
      json h = json::array(), e = json::array();
      for (const auto& ev : history.value()) h.push_back(ev.to_json());
      for (const auto& jb : jobs.value()) e.push_back(jb.to_json());
      json view = c.to_json();
      view["recordings"] = listed;
      view["history"] = h;
      view["exports"] = e;
      out = reply(req, http::status::ok, view);
      return ok_status();
    });
  } else if (parts.size() == 1 && req.method() == http::verb::patch) {
    // PATCH /cases/{name}: {description, query, addMembers, removeMembers, access (owner only)}.
    st = options_.archive([&](archive::Archive& a) -> Status {
      for (const auto& m : strings_of(*body, "addMembers")) {
        auto r = a.recording(m);
        if (!r || !policy::in_scope(who.account, r.value().metadata)) {
          (void)a.log_access("denied", m, who.actor());
          out = forbidden(req);
          return ok_status();
        }
        add_unique(c.members, m);
      }
      for (const auto& m : strings_of(*body, "removeMembers")) {
        std::erase(c.members, m);
      }
      if (body->contains("description")) c.description = body->value("description", "");
      if (body->contains("query") && (*body)["query"].is_object()) {
        c.query.clear();
        for (const auto& [k, v] : (*body)["query"].items()) {
          if (k != "limit" && k != "cursor")
            c.query[k] = v.is_string() ? v.get<std::string>() : v.dump();
        }
        auto q = search::query_from_params(c.query);
        if (!q) {
          out = problem(req, http::status::bad_request, "query: " + q.error().message,
                        "InvalidQuery");
          return ok_status();
        }
      }
      if (body->contains("access")) {
        if (c.owner != who.actor()) {
          out = problem(req, http::status::forbidden,
                        "only the case's owner changes its access list", "NotOwner");
          return ok_status();
        }
        c.access = strings_of(*body, "access");
      }
      // A held case holds what joins it.
      std::vector<std::string> newly;
      if (c.held) {
        auto held = hold_case(a, c, who);
        if (!held) return held.error();
        newly = std::move(held).value();
      }
      VB_TRY(store.update(c));
      json detail = *body;
      if (!newly.empty()) detail["heldNow"] = newly;
      VB_TRY(a.log_case(c.name, "updated", c.members, detail, who.actor()));
      VB_TRY(store.log(c.name, who.actor(), "updated", detail));
      out = reply(req, http::status::ok, c.to_json());
      return ok_status();
    });
  } else if (parts.size() == 2 && parts[1] == "hold" && req.method() == http::verb::post) {
    // POST /cases/{name}/hold: every recording of the case held under the case's name.
    st = options_.archive([&](archive::Archive& a) -> Status {
      auto held = hold_case(a, c, who);
      if (!held) return held.error();
      c.held = true;
      VB_TRY(store.update(c));
      VB_TRY(a.log_case(c.name, "held", c.held_recordings, json::object(), who.actor()));
      VB_TRY(store.log(c.name, who.actor(), "held", {{"recordings", c.held_recordings}}));
      out = reply(req, http::status::ok, c.to_json());
      return ok_status();
    });
  } else if (parts.size() == 2 && parts[1] == "hold" && req.method() == http::verb::delete_) {
    // DELETE /cases/{name}/hold {"reason"}: a four-eyes request another officer approves.
    if (!c.held)
      return problem(req, http::status::conflict, "case " + name + " is not held", "NotHeld");
    json action = {{"type", "release-case-hold"},
                   {"case", name},
                   {"right", right_name(Right::kRecordingsHold)},
                   {"scope", {{"groups", who.account.groups}, {"regions", who.account.regions}}}};
    policy::Approval ap{0,         action, who.actor(), now_iso(), body->value("reason", ""),
                        "pending", "",     "",          ""};
    int64_t id = 0;
    {
      std::lock_guard lock(svc_.mutex());
      auto added = svc_.store()->add_approval(ap);
      if (!added) return failed(added.error());
      id = added.value();
      (void)svc_.store()->log_security_event(
          {0, now_iso(), who.actor(), "approval.requested", {{"id", id}, {"action", action}}});
    }
    (void)store.log(name, who.actor(), "release-requested",
                    {{"approval", id}, {"reason", body->value("reason", "")}});
    (void)options_.archive([&](archive::Archive& a) {
      return a.log_case(name, "release-requested", c.held_recordings, {{"approval", id}},
                        who.actor());
    });
    return accepted_for_approval(req, id, "releasing case " + name + "'s legal hold");
  } else if (parts.size() == 2 && parts[1] == "exports" && req.method() == http::verb::post) {
    // POST /cases/{name}/exports: a job that writes one package of all the case's recordings.
    ExportRequest r{0, name, {}, who.actor()};
    std::vector<std::string> redacted;
    st = options_.archive([&](archive::Archive& a) -> Status {
      auto recs = case_recordings(a, c, who, nullptr);
      if (!recs) return recs.error();
      r.recordings = recs.value();
      // A package holds each recording's original: not for a role that plays only the
      // redacted versions of a redacted one.
      if (listed(options_.original_roles, who.account.role)) return ok_status();
      for (const auto& id : r.recordings) {
        auto info = a.recording(id);
        if (!info) return info.error();
        if (!Versions(info.value().metadata, false).originals) redacted.push_back(id);
      }
      return ok_status();
    });
    if (st && !redacted.empty()) {
      return problem(req, http::status::forbidden,
                     "your role reads the redacted versions only of " +
                         std::to_string(redacted.size()) +
                         " of this case's recordings (the first: " + redacted.front() +
                         "); export packages hold the originals",
                     "RedactedOnly");
    }
    if (st && r.recordings.empty()) {
      return problem(req, http::status::conflict, "case " + name + " has no recordings to export",
                     "EmptyCase");
    }
    if (st) {
      cases::ExportJob j;
      j.case_name = name;
      j.total = static_cast<int64_t>(r.recordings.size());
      j.requested_by = who.actor();
      j.requested_at = now_iso();
      auto id = store.add_export(j);
      if (!id) return failed(id.error());
      j.id = r.job = id.value();
      (void)store.log(name, who.actor(), "export-requested",
                      {{"job", j.id}, {"recordings", r.recordings.size()}});
      if (options_.open_archive) {
        if (!exports_) {
          exports_ =
              std::make_unique<ExportQueue>([this](const ExportRequest& e) { run_export(e); });
        }
        exports_->push(r);
      } else {
        run_export(r);
      }
      out = reply(req, http::status::accepted, j.to_json());
    }
  } else if (parts.size() >= 3 && parts[1] == "exports" && reading) {
    // GET /cases/{name}/exports/{id}[/package]: progress, and the package once done.
    const std::string idtext(parts[2]);
    const int64_t id = idtext.find_first_not_of("0123456789") == std::string::npos &&
                               !idtext.empty() && idtext.size() < 12
                           ? std::stoll(idtext)
                           : -1;
    auto j = store.export_job(id);
    if (!j) return failed(j.error());
    if (!j.value() || j.value()->case_name != name) return forbidden(req);
    if (parts.size() == 3) return reply(req, http::status::ok, j.value()->to_json());
    if (parts.size() == 4 && parts[3] == "package") {
      if (j.value()->state != "done") {
        return problem(req, http::status::conflict, "export " + idtext + " is " + j.value()->state,
                       "NotReady");
      }
      std::ifstream in(j.value()->file, std::ios::binary);
      if (!in) return problem(req, http::status::gone, "the package is no longer kept", "Gone");
      std::string bytes((std::istreambuf_iterator<char>(in)), {});
      return download(req, "application/x-tar", std::move(bytes),
                      "case-" + name + "-" + idtext + ".tar");
    }
    return problem(req, http::status::not_found, "no such resource", "NotFound");
  } else {
    return problem(req, http::status::not_found, "no such resource", "NotFound");
  }
  if (!st) return failed(st.error());
  return std::move(*out);
}

Result<json> Router::release_case_hold(const json& action, const std::string& both) {
  const std::string name = action.value("case", "");
  auto store = cases::CaseStore::open(options_.cases_db);
  if (!store) return store.error();
  auto found = store.value()->get(name);
  if (!found) return found.error();
  if (!found.value()) return make_error(ErrorCode::kNotFound, "no case " + name);
  cases::Case c = *found.value();
  VB_TRY(options_.archive([&](archive::Archive& a) -> Status {
    for (const auto& id : c.held_recordings) {
      VB_TRY(a.release_hold(name, id, both));
    }
    return a.log_case(name, "released", c.held_recordings, json::object(), both);
  }));
  json released = c.held_recordings;
  c.held = false;
  c.held_recordings.clear();
  VB_TRY(store.value()->update(c));
  VB_TRY(store.value()->log(name, both, "released", {{"recordings", released}}));
  return json{{"released", name}, {"recordings", released}};
}

}  // namespace verbatim::adminapi
