// The REST API's call records (/api/v1/calls) and recordings (/api/v1/recordings: catalog
// entries, objects, holds, retention, exports), each scoped by the caller's role.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "adminapi/http_util.h"
#include "adminapi/router.h"
#include "adminapi/router_redact.h"
#include "archive/archive.h"
#include "archive/export.h"
#include "archive/tarball.h"
#include "common/clock.h"
#include "common/strings.h"
#include "media/audio.h"
#include "policy/explain.h"
#include "reconcile/missed_search.h"
#include "saved/saved_searches.h"
#include "search/interaction.h"
#include "search/search.h"
#include "search/transcript.h"

namespace verbatim::adminapi {

using nlohmann::json;
using namespace detail;  // NOLINT(google-build-using-namespace)

// Lower-case UPNs and SIP addresses of the users in the groups an account is scoped to, and of
// those whose DataLocation is one of its regions (either admits, as in search::Query's scope).
std::set<std::string> Router::scope_members(const Principal& who) {
  std::set<std::string> members;
  std::lock_guard lock(svc_.mutex());
  const auto& state = svc_.state();
  for (const auto& g : who.account.groups) {
    const policy::Group* group = state.group_by_id(g);
    if (!group) {
      auto named = state.groups_by_display_name(g);
      if (!named.empty()) group = named.front();
    }
    if (!group) continue;
    for (const auto& uid : state.members_of(group->object_id)) {
      if (const policy::User* u = state.user_by_id(uid)) {
        members.insert(to_lower(u->user_principal_name));
        members.insert(to_lower(u->sip_address));
      }
    }
  }
  if (!who.account.regions.empty()) {
    for (const auto& entry : state.users()) {
      const policy::User& u = entry.second;
      const bool in_region = std::any_of(
          who.account.regions.begin(), who.account.regions.end(), [&](const std::string& r) {
            return !u.data_location.empty() && iequals(r, u.data_location);
          });
      if (!in_region) continue;
      members.insert(to_lower(u.user_principal_name));
      members.insert(to_lower(u.sip_address));
    }
  }
  return members;
}

// A call (its caller and callee, as call records and missed-recording alerts name them) with a
// party among `members`.
bool Router::in_scope(const std::set<std::string>& members, const json& call) {
  for (const char* side : {"caller", "callee"}) {
    if (!call.contains(side) || !call[side].is_object()) continue;
    const json& p = call[side];
    if (members.count(to_lower(p.value("user", ""))) || members.count(to_lower(p.value("aor", ""))))
      return true;
  }
  return false;
}

Response Router::calls(const Request& req, const Principal& who, std::string_view call_id,
                       const std::map<std::string, std::string>& query) {
  if (!options_.call_records) {
    return problem(req, http::status::not_found, "this server keeps no call records",
                   "NoCallRecords");
  }
  auto opened = options_.call_records();
  if (!opened) {
    return problem(req, http::status::service_unavailable, opened.error().message,
                   "CallRecordsUnavailable");
  }
  const std::unique_ptr<CallRecords> log = std::move(opened).value();
  const bool scoped = who.account.role == policy::Role::kSupervisor;
  const std::set<std::string> members = scoped ? scope_members(who) : std::set<std::string>{};
  auto visible = [&](const json& c) { return !scoped || in_scope(members, c); };
  if (!call_id.empty()) {
    if (!log) return forbidden(req);
    auto found = log->find_call(call_id);
    if (!found) {
      return problem(req, http::status::service_unavailable, found.error().message,
                     "CallRecordsUnavailable");
    }
    if (!found.value() || !visible(*found.value())) return forbidden(req);
    if (auto f = query.find("format"); f != query.end() && f->second == "text") {
      return download(req, "text/plain; charset=utf-8", describe_call(*found.value()));
    }
    if (auto f = query.find("format"); f != query.end() && f->second != "json") {
      return problem(req, http::status::bad_request, "format must be json or text",
                     "InvalidArgument");
    }
    return reply(req, http::status::ok, *found.value());
  }
  CallQuery q;
  if (auto it = query.find("party"); it != query.end()) q.party = it->second;
  if (auto it = query.find("since"); it != query.end()) q.since = it->second;
  if (auto it = query.find("limit"); it != query.end()) {
    const auto& v = it->second;
    if (v.empty() || v.size() > 6 ||
        !std::all_of(v.begin(), v.end(), [](char c) { return std::isdigit(c); })) {
      return problem(req, http::status::bad_request, "limit must be a number from 1 to 1000",
                     "InvalidQuery");
    }
    q.limit = std::stoul(v);
  }
  if (scoped) q.limit = std::max<size_t>(q.limit, 1000);  // filtered below
  if (auto st = check_query(q); !st) {
    return problem(req, http::status::bad_request, st.error().message, "InvalidQuery");
  }
  if (!log) return reply(req, http::status::ok, {{"calls", json::array()}, {"count", 0}});
  auto list = log->find_calls(q);
  if (!list && list.error().code == ErrorCode::kInvalidArgument) {
    return problem(req, http::status::bad_request, list.error().message, "InvalidQuery");
  }
  if (!list) {
    return problem(req, http::status::service_unavailable, list.error().message,
                   "CallRecordsUnavailable");
  }
  json out = json::array();
  for (auto& c : list.value()) {
    if (visible(c)) out.push_back(std::move(c));
  }
  const size_t n = out.size();
  return reply(req, http::status::ok, {{"calls", std::move(out)}, {"count", n}});
}

// A search over the catalog, narrowed to the caller's scope (groups, regions): the same
// parameters as `verbatim search`; the query and the recordings listed go into the ledger.
Response Router::search_recordings(const Request& req, const Principal& who,
                                   const std::map<std::string, std::string>& params) {
  if (!options_.archive) {
    return problem(req, http::status::service_unavailable, "this server has no archive",
                   "ArchiveUnavailable");
  }
  auto query = search::query_from_params(params);
  if (!query) return problem(req, http::status::bad_request, query.error().message, "InvalidQuery");
  if (search::is_missed_status(query.value().status)) return missed_recordings(req, who, params);
  if (!options_.phonetic_dictionary.empty()) {
    query.value().dictionary = options_.phonetic_dictionary;
  }
  query.value().scope_groups = who.account.groups;
  query.value().scope_regions = who.account.regions;
  std::optional<Response> out;
  auto st = options_.archive([&](archive::Archive& a) -> Status {
    auto page = search::run(a.catalog(), query.value());
    if (!page && page.error().code == ErrorCode::kInvalidArgument) {
      out = problem(req, http::status::bad_request, page.error().message, "InvalidQuery");
      return ok_status();
    }
    if (!page) return page.error();
    json hits = json::array();
    std::vector<std::string> ids;
    for (const auto& h : page.value().hits) {
      ids.push_back(h.id);
      hits.push_back(search::hit_json(h));
    }
    VB_TRY(a.log_search(query.value().to_json(), ids, who.actor()));
    const size_t n = ids.size();
    out = reply(
        req, http::status::ok,
        {{"recordings", std::move(hits)},
         {"count", n},
         {"next", page.value().next_cursor.empty() ? json() : json(page.value().next_cursor)}});
    return ok_status();
  });
  if (!st) {
    return problem(req,
                   st.error().code == ErrorCode::kNotFound ? http::status::not_found
                                                           : http::status::service_unavailable,
                   st.error().message, "ArchiveUnavailable");
  }
  return std::move(*out);
}

// Calls a policy records that have no complete recording (reconcile/missed_search.h): GET
// /api/v1/missed-recordings, and GET /api/v1/recordings with a missed status. An account scoped
// to groups or regions sees the calls of their members (users located there); the search is in the
// ledger when there is an archive here.
// The missed-recording dashboard over time: for each of the last `days` days (UTC, by the
// calls' start), the recordings the policies expected and those missed, as the reconciler counted
// them (reconcile/missed_store.h), with the share recorded as expected against the target of
// 100 %. Days without a call are listed with zeros. The counts cover every call, so accounts
// scoped to groups or regions are refused.
Response Router::missed_trend(const Request& req, const Principal& who,
                              const std::map<std::string, std::string>& params) {
  if (who.account.role == policy::Role::kSupervisor || !who.account.groups.empty() ||
      !who.account.regions.empty()) {
    return problem(req, http::status::forbidden,
                   "the trend counts every call: it is for accounts without a group or region "
                   "scope",
                   "Forbidden");
  }
  const auto asked = whole_param(params, "days", 30, 1, 366);
  if (!asked) return problem(req, http::status::bad_request, "days: 1 to 366", "InvalidQuery");
  const int days = static_cast<int>(*asked);
  const auto today = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  auto day_of = [](std::chrono::sys_days d) { return format_iso8601(d).substr(0, 10); };
  const std::string since = day_of(today - std::chrono::days(days - 1));
  std::map<std::string, reconcile::DayCount> counted;
  if (!options_.missed_db.empty()) {
    auto store = reconcile::MissedStore::open_existing(options_.missed_db);
    if (!store) {
      return problem(req, http::status::service_unavailable, store.error().message,
                     "MissedRecordingsUnavailable");
    }
    if (store.value()) {
      auto rows = store.value()->daily(since);
      if (!rows) {
        return problem(req, http::status::service_unavailable, rows.error().message,
                       "MissedRecordingsUnavailable");
      }
      for (const auto& d : rows.value()) counted[d.day] = d;
    }
  }
  json out = json::array();
  int64_t expected = 0, missed = 0;
  for (int i = days - 1; i >= 0; --i) {
    const std::string day = day_of(today - std::chrono::days(i));
    const auto it = counted.find(day);
    const int64_t e = it == counted.end() ? 0 : it->second.expected;
    const int64_t m = it == counted.end() ? 0 : it->second.missed;
    expected += e;
    missed += m;
    out.push_back(
        {{"day", day},
         {"expected", e},
         {"missed", m},
         {"recordedPercent",
          e ? json(100.0 * static_cast<double>(e - m) / static_cast<double>(e)) : json()}});
  }
  return reply(req, http::status::ok,
               {{"days", out},
                {"targetPercent", 100},
                {"expected", expected},
                {"missed", missed},
                {"recordedPercent", expected ? json(100.0 * static_cast<double>(expected - missed) /
                                                    static_cast<double>(expected))
                                             : json()}});
}

Response Router::missed_recordings(const Request& req, const Principal& who,
                                   std::map<std::string, std::string> params) {
  if (!params.count("status")) params["status"] = "missed";
  auto query = search::query_from_params(params);
  if (!query) return problem(req, http::status::bad_request, query.error().message, "InvalidQuery");
  if (!search::is_missed_status(query.value().status)) {
    return problem(req, http::status::bad_request,
                   "status: missed, not recorded or incomplete media", "InvalidQuery");
  }
  std::unique_ptr<reconcile::MissedStore> store;
  if (!options_.missed_db.empty()) {
    auto opened = reconcile::MissedStore::open_existing(options_.missed_db);
    if (!opened) {
      return problem(req, http::status::service_unavailable, opened.error().message,
                     "MissedRecordingsUnavailable");
    }
    store = std::move(opened).value();
  }
  auto page = reconcile::search_missed(store.get(), query.value());
  if (!page && page.error().code == ErrorCode::kInvalidArgument) {
    return problem(req, http::status::bad_request, page.error().message, "InvalidQuery");
  }
  if (!page) {
    return problem(req, http::status::service_unavailable, page.error().message,
                   "MissedRecordingsUnavailable");
  }
  const bool scoped = who.account.role == policy::Role::kSupervisor ||
                      !who.account.groups.empty() || !who.account.regions.empty();
  if (scoped) {
    const auto members = scope_members(who);
    auto& alerts = page.value().alerts;
    alerts.erase(
        std::remove_if(alerts.begin(), alerts.end(),
                       [&](const reconcile::Alert& a) { return !in_scope(members, a.to_json()); }),
        alerts.end());
  }
  if (options_.archive) {
    std::vector<std::string> ids;
    for (const auto& a : page.value().alerts) {
      ids.insert(ids.end(), a.recordings.begin(), a.recordings.end());
    }
    auto st = options_.archive([&](archive::Archive& a) {
      return a.log_search(query.value().to_json(), ids, who.actor());
    });
    if (!st && st.error().code != ErrorCode::kNotFound) {
      return problem(
          req, http::status::service_unavailable,
          "the search could not be logged, so its results are withheld: " + st.error().message,
          "ArchiveUnavailable");
    }
  }
  json out = reconcile::missed_page_json(page.value());
  out["count"] = page.value().alerts.size();
  return reply(req, http::status::ok, out);
}

// Saved searches (saved/saved_searches.h): each compliance officer's own, with the officer's
// scope. GET lists them, POST saves one {"name", "params": {...}, "everySeconds", "webhook"},
// DELETE .../{name} removes it, GET .../{name}/hits lists what it found.
Response Router::saved_searches(const Request& req, const Principal& who, std::string_view path,
                                const std::map<std::string, std::string>& query) {
  if (options_.searches_db.empty()) {
    return problem(req, http::status::not_found, "this server keeps no saved searches", "NotFound");
  }
  auto opened = saved::SavedSearches::open(options_.searches_db);
  if (!opened) {
    return problem(req, http::status::service_unavailable, opened.error().message,
                   "SavedSearchesUnavailable");
  }
  saved::SavedSearches& store = *opened.value();
  const auto all = store.list();
  if (!all) {
    return problem(req, http::status::service_unavailable, all.error().message,
                   "SavedSearchesUnavailable");
  }
  auto mine = [&](const std::string& name) -> const saved::SavedSearch* {
    for (const auto& s : all.value()) {
      if (s.name == name && s.owner == who.actor()) return &s;
    }
    return nullptr;
  };
  const std::string_view base = "/api/v1/saved-searches";
  if (path == base && req.method() == http::verb::get) {
    json out = json::array();
    for (const auto& s : all.value()) {
      if (s.owner == who.actor()) out.push_back(s.to_json());
    }
    return reply(req, http::status::ok, {{"savedSearches", std::move(out)}});
  }
  if (path == base && req.method() == http::verb::post) {
    auto parsed = object_body(req);
    if (!parsed || !parsed->contains("params") || !(*parsed)["params"].is_object()) {
      return problem(req, http::status::bad_request,
                     "the body must be {\"name\", \"params\": {...}, \"everySeconds\", "
                     "\"webhook\"}",
                     "InvalidBody");
    }
    const json& body = *parsed;
    saved::SavedSearch s;
    s.name = body.value("name", "");
    for (const auto& [k, v] : body["params"].items()) {
      s.params[k] = v.is_string() ? v.get<std::string>() : v.dump();
    }
    s.every_s = body.value("everySeconds", int64_t{300});
    s.webhook = body.value("webhook", "");
    s.owner = who.actor();
    s.scope_groups = who.account.groups;
    s.scope_regions = who.account.regions;
    for (const auto& other : all.value()) {
      if (other.name == s.name && other.owner != s.owner) {
        return problem(req, http::status::conflict,
                       "another account has a saved search named '" + s.name + "'",
                       "SavedSearchExists");
      }
    }
    const auto now = std::chrono::system_clock::now();
    s.created_at = format_iso8601_ms(now);
    s.next_run_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    if (options_.archive) {
      auto st = options_.archive([&](archive::Archive& a) -> Status {
        auto marks = saved::archive_marks(a.catalog());
        if (!marks) return marks.error();
        s.serial_mark = marks.value().first;
        s.utterance_mark = marks.value().second;
        return ok_status();
      });
      if (!st && st.error().code != ErrorCode::kNotFound) {
        return problem(req, http::status::service_unavailable, st.error().message,
                       "ArchiveUnavailable");
      }
    }
    if (auto st = store.save(s); !st) {
      return problem(req, http::status::bad_request, st.error().message, "InvalidQuery");
    }
    return reply(req, http::status::created, s.to_json());
  }
  std::string name, tail;
  const std::string_view rest = path.substr(base.size());
  if (rest.size() > 1 && rest[0] == '/') {
    const auto parts = split(rest.substr(1), '/');
    name = url_decode(parts[0]);
    if (parts.size() == 2) tail = parts[1];
    if (parts.size() > 2 || (parts.size() == 2 && tail != "hits")) name.clear();
  }
  if (name.empty()) return problem(req, http::status::not_found, "no such resource", "NotFound");
  if (!mine(name)) return forbidden(req);
  if (tail.empty() && req.method() == http::verb::delete_) {
    if (auto st = store.remove(name); !st) {
      return problem(req, http::status::service_unavailable, st.error().message,
                     "SavedSearchesUnavailable");
    }
    return reply(req, http::status::ok, {{"removed", name}});
  }
  if (tail == "hits" && req.method() == http::verb::get) {
    size_t limit = 50;
    if (auto it = query.find("limit"); it != query.end()) {
      const auto& v = it->second;
      if (v.empty() || v.size() > 4 || v.find_first_not_of("0123456789") != std::string::npos ||
          std::stoul(v) < 1 || std::stoul(v) > 1000) {
        return problem(req, http::status::bad_request, "limit must be a number from 1 to 1000",
                       "InvalidQuery");
      }
      limit = std::stoul(v);
    }
    auto hits = store.hits(name, limit);
    if (!hits) {
      return problem(req, http::status::service_unavailable, hits.error().message,
                     "SavedSearchesUnavailable");
    }
    json out = json::array();
    for (const auto& h : hits.value()) out.push_back(h.to_json());
    return reply(req, http::status::ok, {{"search", name}, {"hits", std::move(out)}});
  }
  return problem(req, http::status::method_not_allowed, tail.empty() ? "use DELETE" : "use GET",
                 "MethodNotAllowed");
}

namespace {

std::string event_label(const json& e) {
  const std::string type = e.value("type", "");
  const std::string stream = e.contains("label") ? " (stream " + e.value("label", "") + ")" : "";
  if (type == "dtmf") return "DTMF " + e.value("digit", "?") + stream;
  if (type == "hold") return "hold" + stream;
  if (type == "resume") return "resumed" + stream;
  if (type == "pause") return "recording paused";
  if (type == "pause-end") return "recording resumed";
  if (type == "metadata-update") return "participants changed (transfer or join)";
  if (type == "ssrc-change" || type == "relatch") return "the media source changed" + stream;
  if (type == "renegotiated") return "media renegotiated" + stream;
  if (type == "gap") {
    return fmt::format("no media for {:.1f} s{}{}", e.value("seconds", 0.0),
                       e.value("toEnd", false) ? ", to the end" : "", stream);
  }
  if (type == "loss") return fmt::format("{} packets lost{}", e.value("packets", 0), stream);
  return type + stream;
}

}  // namespace

// What happened during the recording, in seconds from its start (the playback files' time 0):
// the recorder's events from its quality report (hold and resume, DTMF, participants changing,
// the media source changing, SRTP errors, media gaps, packet loss as it happened).
Result<json> Router::recording_timeline(archive::Archive& a, const archive::RecordingInfo& r,
                                        const json& objects, const std::string& who) {
  json out = json::array();
  std::string quality;
  for (const auto& o : objects) {
    if (o.value("kind", "") == "quality" && o.value("status", "") == "sealed") quality = o["id"];
  }
  json q = json::object();
  if (!quality.empty()) {
    auto text = a.read_whole(quality, who);
    if (!text) return text.error();
    q = json::parse(text.value(), nullptr, false);
    if (!q.is_object()) q = json::object();
  }
  auto start = parse_iso8601(q.value("startedAt", r.metadata.value("startedAt", "")));
  if (!start) start = parse_iso8601(r.created_at);
  if (!start) return out;
  // Recorder failover: the same call recorded again for the same application (the gateway
  // invited another of its recorders when one failed): where this recording's call went on in
  // another, or where this one took over.
  const std::string call_id = r.metadata.value("callId", "");
  if (!call_id.empty()) {
    auto same = search::recordings_of_call(a.catalog(), call_id);
    if (!same) return same.error();
    const int64_t mine_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(start->time_since_epoch()).count();
    std::string application;
    for (const auto& c : same.value()) {
      if (c.id == r.id) application = c.application;
    }
    for (const auto& c : same.value()) {
      if (c.id == r.id || c.application != application) continue;
      const double at = std::max(0.0, static_cast<double>(c.started_ms - mine_ms) / 1000.0);
      out.push_back(
          {{"atSeconds", at},
           {"type", "failover"},
           {"recording", c.id},
           {"label",
            c.started_ms > mine_ms
                ? "recorder failover: the call goes on in recording " + c.id.substr(0, 12)
                : "recorder failover: this recording took over from " + c.id.substr(0, 12)}});
    }
  }
  auto seconds = [&](const std::string& iso) -> std::optional<double> {
    auto t = parse_iso8601(iso);
    if (!t) return std::nullopt;
    return std::max(0.0, std::chrono::duration<double>(*t - *start).count());
  };
  // What an officer looks for; not the routine first sight of each source and codec.
  static const std::set<std::string> kShown = {"dtmf",
                                               "hold",
                                               "resume",
                                               "pause",
                                               "pause-end",
                                               "metadata-update",
                                               "ssrc-change",
                                               "relatch",
                                               "renegotiated",
                                               "gap",
                                               "loss",
                                               "srtp-error",
                                               "srtp-auth-failed",
                                               "codec-not-decodable"};
  for (const auto& e : q.value("events", json::array())) {
    if (!e.is_object() || !kShown.count(e.value("type", ""))) continue;
    const auto at = seconds(e.value("startedAt", e.value("at", "")));
    if (!at) continue;
    out.push_back({{"atSeconds", *at}, {"type", e.value("type", "")}, {"label", event_label(e)}});
  }
  // A recording made before the recorder noted loss as it happened: its totals per source, at
  // the source's start.
  bool loss_noted = false;
  for (const auto& e : q.value("events", json::array())) {
    if (e.is_object() && e.value("type", "") == "loss") loss_noted = true;
  }
  for (const auto& st : q.value("streams", json::array())) {
    if (loss_noted) break;
    for (const auto& src : st.value("sources", json::array())) {
      const int64_t lost = src.value("lost", int64_t{0});
      const auto at = seconds(src.value("first", ""));
      if (lost <= 0 || !at) continue;
      out.push_back(
          {{"atSeconds", *at},
           {"type", "loss"},
           {"label", fmt::format("{} packets lost on stream {} ({:.1f} %)", lost,
                                 st.value("label", "?"), 100.0 * src.value("lossRatio", 0.0))}});
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const json& x, const json& y) {
    return x["atSeconds"].get<double>() < y["atSeconds"].get<double>();
  });
  return out;
}

// A WAV download is made in memory: about 4 hours of 8 kHz audio, 1.3 hours at 48 kHz.
constexpr size_t kMaxWavBytes = 256u << 20;

bool Router::reason_given(const std::string& account, const std::string& recording) {
  std::lock_guard lock(reasons_mu_);
  auto it = reasons_.find({account, recording});
  return it != reasons_.end() &&
         std::chrono::steady_clock::now() - it->second < options_.session_limits.absolute;
}

void Router::remember_reason(const std::string& account, const std::string& recording) {
  std::lock_guard lock(reasons_mu_);
  const auto now = std::chrono::steady_clock::now();
  if (reasons_.size() > 100000) {
    std::erase_if(reasons_, [&](const auto& kv) {
      return now - kv.second >= options_.session_limits.absolute;
    });
  }
  reasons_[{account, recording}] = now;
}

// Recordings, for compliance officers within their scope. A recording out of scope and one that
// does not exist get the same 403; both attempts go into the ledger (access.denied).
Response Router::recordings(const Request& req, const Principal& who, std::string_view path) {
  const auto parts = split(path.substr(std::string_view("/api/v1/recordings/").size()), '/');
  const std::string rec = parts.empty() ? "" : url_decode(parts[0]);
  const bool reading = req.method() == http::verb::get;
  const Right needed = reading ? Right::kRecordingsRead : Right::kRecordingsHold;
  if (!options_.archive) {
    return problem(req, http::status::service_unavailable, "this server has no archive",
                   "ArchiveUnavailable");
  }
  auto parsed = object_body(req);
  if (!parsed) {
    return problem(req, http::status::bad_request, "the body must be a JSON object", "InvalidBody");
  }
  const json body = std::move(*parsed);
  std::optional<Response> out;
  auto st = options_.archive([&](archive::Archive& a) -> Status {
    auto deny = [&]() {
      (void)a.log_access("denied", rec, who.actor());
      security_event(who.actor(), "access.denied",
                     {{"recording", rec}, {"path", std::string(path)}});
      out = forbidden(req);
      return ok_status();
    };
    if (!policy::has_right(who.account.role, needed)) return deny();
    auto info = a.recording(rec);
    if (!info || !policy::in_scope(who.account, info.value().metadata)) return deny();
    const auto& r = info.value();
    const Versions versions(r.metadata, listed(options_.original_roles, who.account.role));
    if (parts.size() == 2 && (parts[1] == "redactions" || parts[1] == "annotations")) {
      Status failed = ok_status();
      if (auto res = parts[1] == "redactions" ? redaction_routes(req, who, a, r, body, failed)
                                              : annotation_routes(req, who, a, r, body, failed)) {
        out = std::move(*res);
        return ok_status();
      }
      if (!failed) return failed;
    }
    // Roles that give a reason before they listen: once per recording (POST .../reason, or
    // X-Access-Reason on the request), into the ledger as access.reason.
    const bool content =
        reading && parts.size() == 3 && (parts[1] == "media" || parts[1] == "objects");
    const bool reasoned = listed(options_.reason_roles, who.account.role);
    if (parts.size() == 2 && parts[1] == "reason" && req.method() == http::verb::post) {
      const std::string why(trim(body.value("reason", "")));
      if (why.empty() || why.size() > 500) {
        out = problem(req, http::status::bad_request, "give the reason: 1-500 characters",
                      "InvalidReason");
        return ok_status();
      }
      VB_TRY(a.log_access("reason", rec, who.actor(), {{"reason", why}}));
      remember_reason(who.account.name, rec);
      out = reply(req, http::status::ok, {{"recording", rec}, {"reason", why}});
      return ok_status();
    }
    if (content && reasoned && !reason_given(who.account.name, rec)) {
      const std::string why(trim(header(req, "X-Access-Reason")));
      if (why.empty()) {
        out = problem(req, http::status::precondition_required,
                      "your role gives a reason before listening: POST /api/v1/recordings/" + rec +
                          "/reason {\"reason\"}, or send X-Access-Reason",
                      "ReasonRequired");
        return ok_status();
      }
      VB_TRY(a.log_access("reason", rec, who.actor(), {{"reason", why.substr(0, 500)}}));
      remember_reason(who.account.name, rec);
    }
    // Related interactions, oldest first, with why, within the caller's scope (access.search
    // in the ledger).
    auto related = [&]() -> Result<json> {
      search::Query scope;
      scope.scope_groups = who.account.groups;
      scope.scope_regions = who.account.regions;
      auto found = search::related(a.catalog(), rec, scope);
      if (!found) return found.error();
      auto hits = found.value().page.hits;
      std::reverse(hits.begin(), hits.end());
      json list = json::array();
      std::vector<std::string> ids;
      for (const auto& h : hits) {
        ids.push_back(h.id);
        auto j = search::hit_json(h);
        j["why"] = found.value().reasons.at(h.id);
        list.push_back(std::move(j));
      }
      VB_TRY(a.log_search(
          {{"relatedTo", rec},
           {"scope", {{"groups", scope.scope_groups}, {"regions", scope.scope_regions}}}},
          ids, who.actor()));
      return list;
    };
    // An object's content: whole (authenticated end to end), or the byte range a player asks
    // for (authenticated chunk by chunk); access.read in the ledger either way.
    auto send_object = [&](const archive::ObjectInfo& o, const std::string& type) -> Status {
      if (o.status != "sealed") {  // still growing: no stable length to take ranges of
        auto content = a.read_whole(o.id, who.actor());
        if (!content) return content.error();
        out = download(req, type, std::move(content).value());
        return ok_status();
      }
      auto res = ranged_download(req, type, o.plaintext_size, "\"" + o.sha256 + "\"",
                                 [&](uint64_t offset, uint64_t count) -> Result<std::string> {
                                   if (offset == 0 && count == o.plaintext_size)
                                     return a.read_whole(o.id, who.actor());
                                   auto reader = a.read_object(o.id, who.actor());
                                   if (!reader) return reader.error();
                                   auto bytes =
                                       reader.value()->read(offset, static_cast<size_t>(count));
                                   if (!bytes) return bytes.error();
                                   return std::string(bytes.value().begin(), bytes.value().end());
                                 });
      if (!res) return res.error();
      out = std::move(res).value();
      return ok_status();
    };
    const std::string_view target(req.target().data(), req.target().size());
    const size_t query_at = target.find('?');
    const auto params =
        query_params(query_at == std::string_view::npos ? "" : target.substr(query_at + 1));
    // The version a media request asks for (default: the latest), or a problem.
    auto version_of = [&]() -> std::optional<int> {
      auto v = versions.wanted(params);
      if (v) return v.value();
      if (v.error().code == ErrorCode::kFailedPrecondition) {
        (void)a.log_access("denied", rec, who.actor(), {{"version", 0}});
        out = problem(req, http::status::forbidden, v.error().message, "RedactedOnly");
      } else {
        out = problem(req, http::status::not_found, v.error().message, "NoSuchVersion");
      }
      return std::nullopt;
    };
    const json& playback_files = versions.playback;
    const std::string media_base = "/api/v1/recordings/" + rec + "/media/";
    // GET /recordings/{id}: everything about one interaction: the catalog entry, participants
    // with their media, talk and sentiment, the transcript, related interactions and objects
    // (access.metadata, the transcripts' access.read and access.search in the ledger).
    if (parts.size() == 1 && reading) {
      VB_TRY(a.log_access("metadata", rec, who.actor()));
      json objects = json::array();
      auto ids = a.objects_of(rec);
      if (!ids) return ids.error();
      for (const auto& oid : ids.value()) {
        auto o = a.object_info(oid);
        if (!o) return o.error();
        if (!versions.may_read(oid)) continue;
        objects.push_back({{"id", o.value().id},
                           {"kind", o.value().kind},
                           {"status", o.value().status},
                           {"bytes", o.value().plaintext_size},
                           {"sha256", o.value().sha256}});
      }
      json view = {{"id", r.id},
                   {"serial", a.node_id() + "-" + std::to_string(r.serial)},
                   {"status", r.status},
                   {"metadata", r.metadata},
                   {"created", r.created_at},
                   {"completed", r.completed_at},
                   {"retentionUntil", r.retention_until},
                   {"legalHolds", r.active_holds},
                   {"participants", search::participants_view(r.metadata, media_base)},
                   {"objects", objects}};
      auto notes = annotations_of(rec);
      if (!notes) return notes.error();
      view["annotations"] = std::move(notes).value();
      view["versions"] = versions.view(media_base);
      view["version"] = versions.latest();
      auto transcript = search::read_transcript(a, rec, who.actor());
      if (transcript) {
        view["transcript"] = std::move(transcript).value();
        if (!versions.originals) versions.hide_words(view["transcript"]);
      } else if (transcript.error().code == ErrorCode::kNotFound) {
        view["transcript"] = nullptr;
      } else {
        return transcript.error();
      }
      if (r.metadata.contains("transcripts") && r.metadata["transcripts"].contains("sentiment")) {
        view["sentiment"] = r.metadata["transcripts"]["sentiment"];
      }
      auto rel = related();
      if (!rel) return rel.error();
      view["related"] = std::move(rel).value();
      auto timeline = recording_timeline(a, r, objects, who.actor());
      if (!timeline) return timeline.error();
      view["timeline"] = std::move(timeline).value();
      out = reply(req, http::status::ok, view);
      return ok_status();
    }
    if (parts.size() == 2 && parts[1] == "related" && reading) {
      auto rel = related();
      if (!rel) return rel.error();
      out = reply(req, http::status::ok, {{"recording", rec}, {"related", std::move(rel).value()}});
      return ok_status();
    }
    // GET /recordings/{id}/transcript: every participant's transcript merged in time order
    // (access.read of each transcript object in the ledger).
    if (parts.size() == 2 && parts[1] == "transcript" && reading) {
      auto t = search::read_transcript(a, rec, who.actor());
      if (!t && t.error().code == ErrorCode::kNotFound) {
        out = problem(req, http::status::not_found, t.error().message, "NoTranscript");
        return ok_status();
      }
      if (!t) return t.error();
      if (!versions.originals) versions.hide_words(t.value());
      out = reply(req, http::status::ok, t.value());
      return ok_status();
    }
    // GET /recordings/{id}/media: the playback files, one per participant (access.metadata).
    if (parts.size() == 2 && parts[1] == "media" && reading) {
      const auto version = version_of();
      if (!version) return ok_status();
      VB_TRY(a.log_access("metadata", rec, who.actor()));
      json files = json::array();
      for (const auto& f : versions.files(*version)) {
        json e = search::media_entry(f, media_base);
        if (versions.latest() > 0)
          e["url"] = e.value("url", "") + "?version=" + std::to_string(*version);
        files.push_back(std::move(e));
      }
      json body = {{"recording", rec}, {"version", *version}, {"files", files}};
      if (playback_files.empty()) body["note"] = search::kNoPlaybackYet;
      out = reply(req, http::status::ok, body);
      return ok_status();
    }
    // GET /recordings/{id}/media/{participant}: one participant's audio as Ogg/Opus, with range
    // requests; the participant by SIPREC id, address (with or without "sip:"), name or object.
    if (parts.size() == 3 && parts[1] == "media" && reading) {
      const auto version = version_of();
      if (!version) return ok_status();
      const std::string wanted = url_decode(parts[2]);
      const json* file = search::find_media(versions.files(*version), wanted);
      if (!file) {
        out = problem(req, http::status::not_found,
                      playback_files.empty()
                          ? std::string(search::kNoPlaybackYet)
                          : "recording " + rec + " has no playback file for \"" + wanted +
                                "\" (GET " + media_base.substr(0, media_base.size() - 1) +
                                " lists them)",
                      "NoMedia");
        return ok_status();
      }
      auto o = a.object_info(file->value("object", ""));
      if (!o || o.value().recording_id != rec) return deny();
      // ?format=wav: the same audio as 16-bit PCM WAV at its original rate, as a download.
      if (auto f = params.find("format"); f != params.end() && f->second == "wav") {
        auto ogg = a.read_whole(o.value().id, who.actor());
        if (!ogg) return ogg.error();
        auto wav = media::ogg_opus_to_wav(ogg.value(), kMaxWavBytes);
        if (!wav) return wav.error();
        out = download(req, "audio/wav", std::move(wav).value(),
                       rec.substr(0, 12) + "-" + file->value("name", "participant") +
                           (*version > 0 ? "-redacted-v" + std::to_string(*version) : "") + ".wav");
        return ok_status();
      }
      return send_object(o.value(), "audio/ogg; codecs=opus");
    }
    // GET /recordings/{id}/objects/{oid}: the decrypted content, with range requests
    // (access.read in the ledger).
    if (parts.size() == 3 && parts[1] == "objects" && reading) {
      const std::string oid = url_decode(parts[2]);
      auto o = a.object_info(oid);
      if (!o || o.value().recording_id != rec) return deny();
      if (!versions.may_read(oid)) {
        (void)a.log_access("denied", rec, who.actor(), {{"object", oid}});
        out =
            problem(req, http::status::forbidden,
                    "your role reads the redacted versions of this recording only", "RedactedOnly");
        return ok_status();
      }
      return send_object(o.value(),
                         o.value().kind == "playback" || o.value().kind == "playback-redacted"
                             ? "audio/ogg; codecs=opus"
                             : "application/octet-stream");
    }
    // POST /recordings/{id}/export: an offline-verifiable package (tar), logged as an export.
    if (parts.size() == 2 && parts[1] == "export" && req.method() == http::verb::post) {
      if (!versions.originals) {  // a package holds every object, the original's too
        out = problem(req, http::status::forbidden,
                      "your role reads the redacted versions of this recording only; its "
                      "export package holds the original",
                      "RedactedOnly");
        return ok_status();
      }
      const std::filesystem::path base = options_.work_dir.empty()
                                             ? std::filesystem::temp_directory_path()
                                             : std::filesystem::path(options_.work_dir);
      const std::string scratch = (base / ("export-" + random_hex(8))).string();
      std::error_code ec;
      std::filesystem::create_directories(scratch, ec);
      std::filesystem::permissions(scratch, std::filesystem::perms::owner_all,
                                   std::filesystem::perm_options::replace, ec);
      const std::string tar = scratch + "/package.tar";
      auto done = archive::export_package(a, {rec}, tar, who.actor());
      std::string bytes;
      if (done) {
        std::ifstream in(tar, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
      }
      std::filesystem::remove_all(scratch, ec);
      if (!done) return done.error();
      out = download(req, "application/x-tar", std::move(bytes), "recording-" + rec + ".tar");
      return ok_status();
    }
    // POST /recordings/{id}/holds {"case"}: a legal hold.
    if (parts.size() == 2 && parts[1] == "holds" && req.method() == http::verb::post) {
      const std::string case_id = body.value("case", "");
      VB_TRY(a.set_hold(case_id, rec, who.actor()));
      out = reply(req, http::status::created, {{"recording", rec}, {"case", case_id}});
      return ok_status();
    }
    // DELETE /recordings/{id}/holds/{case}: released only with a second officer's approval.
    if (parts.size() == 3 && parts[1] == "holds" && req.method() == http::verb::delete_) {
      const std::string case_id = url_decode(parts[2]);
      if (std::find(r.active_holds.begin(), r.active_holds.end(), case_id) ==
          r.active_holds.end()) {
        return deny();
      }
      json action = {{"type", "release-hold"},
                     {"recording", rec},
                     {"case", case_id},
                     {"right", right_name(Right::kRecordingsHold)},
                     {"scope", {{"groups", who.account.groups}, {"regions", who.account.regions}}}};
      policy::Approval ap{0,         action, who.actor(), now_iso(), body.value("reason", ""),
                          "pending", "",     "",          ""};
      std::lock_guard lock(svc_.mutex());
      auto id = svc_.store()->add_approval(ap);
      if (!id) return id.error();
      (void)svc_.store()->log_security_event({0,
                                              now_iso(),
                                              who.actor(),
                                              "approval.requested",
                                              {{"id", id.value()}, {"action", action}}});
      out = accepted_for_approval(req, id.value(), "releasing a legal hold");
      return ok_status();
    }
    // DELETE /recordings/{id}: disposal, which the archive refuses (and records) before the
    // retention date or under a legal hold, whoever asks (T25).
    if (parts.size() == 1 && req.method() == http::verb::delete_) {
      VB_TRY(a.dispose(rec, who.actor()));
      out = reply(req, http::status::ok, {{"disposed", rec}});
      return ok_status();
    }
    // POST /recordings/{id}/retention {"until"}: longer only (the archive refuses shorter).
    if (parts.size() == 2 && parts[1] == "retention" && req.method() == http::verb::post) {
      VB_TRY(a.extend_retention(rec, body.value("until", ""), who.actor()));
      out = reply(req, http::status::ok, {{"recording", rec}, {"retentionUntil", body["until"]}});
      return ok_status();
    }
    out = problem(req, http::status::not_found, "no such resource", "NotFound");
    return ok_status();
  });
  if (!st) {
    const auto code = st.error().code;
    return problem(req,
                   code == ErrorCode::kFailedPrecondition || code == ErrorCode::kInvalidArgument
                       ? http::status::conflict
                       : http::status::service_unavailable,
                   st.error().message,
                   code == ErrorCode::kFailedPrecondition ? "Refused" : "ArchiveUnavailable");
  }
  return std::move(*out);
}

// Accounts and tokens. Creating an account (granting a role) is a request a second admin
// approves. Over the API a token is made for one's own account only: an admin cannot mint a
// compliance officer's token and read recordings with it (the host's operator can, with
// `verbatim token create`).

}  // namespace verbatim::adminapi
