// Router: the REST API's request handling, independent of sockets.
//
// Every /api route needs `Authorization: Bearer <token>`; a token belongs to an account
// (`verbatim account add`, `verbatim token create ACCOUNT`) and acts with its role and scope
// (policy/accounts.h). Each route names the right it needs; a role without it gets 403 — the
// same answer, word for word, as a recording or object that does not exist, so ids cannot be
// probed. Every request is logged with its actor.
//
// Routes (docs/rest-api.md, docs/openapi.yaml):
//   - policy: resource routes (GET/POST/PATCH/DELETE on /api/v1/users, /groups, /policies, ...)
//     become cmdlet invocations with the JSON body as named parameters; /api/v1/cmdlets/{Name}
//     invokes any cmdlet, /api/v1/script runs a script atomically; /api/v1/decision and
//     /api/v1/explain answer "is this party recorded?". Changing a recorder endpoint is a
//     request that a second account approves.
//   - /api/v1/calls[/{callId}]: the gateway's call records (supervisors: their groups' calls).
//   - /api/v1/recordings/{id}[/objects/{oid} | /export | /holds | /retention]: recordings for
//     compliance officers, within their scope; every read, export and hold is in the ledger with
//     the account's name; releasing a hold needs a second officer's approval.
//   - /api/v1/accounts, /api/v1/tokens: accounts and tokens (granting a role needs approval);
//     /api/v1/approvals: the four-eyes requests; /api/v1/security-log, /api/v1/audit,
//     /api/v1/ledger/head: for auditors.
// Thread-safe as PolicyService is; the archive is lent per request (RouterOptions::archive).
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include <boost/beast/http.hpp>

#include "adminapi/http_types.h"
#include "adminapi/live.h"
#include "adminapi/sessions.h"
#include "adminapi/static_files.h"
#include "common/call_records.h"
#include "common/log_limit.h"
#include "common/result.h"
#include "jobs/queue.h"
#include "policy/accounts.h"
#include "policy/service.h"

namespace verbatim::archive {
class Archive;
struct RecordingInfo;
}  // namespace verbatim::archive
namespace verbatim::cases {
struct Case;
}

namespace verbatim::adminapi {

// SHA-256 hex of a token, as stored.
std::string token_hash(const std::string& token);
// A new random token ("vbt_" + 48 hex digits).
std::string new_token();

struct IssuedToken {
  policy::ApiToken record;  // id "<account>-<8 hex digits>"
  std::string secret;       // shown once; only its hash is stored
};
// Makes a token for `account` and stores its hash (the CLI's `token create` and POST /tokens).
Result<IssuedToken> issue_token(policy::Store& store, const std::string& account,
                                const std::string& now_iso);

struct RouterOptions {
  // The gateway's call records, opened per request; empty: this server keeps none.
  OpenCallRecords call_records;
  std::string import_dir;  // Import-VbDirectory over REST reads only here (and uploads go here)
  std::string work_dir;    // scratch space for export packages
  // Lends the archive for the length of one call of `use`; an error when it cannot (no archive,
  // or another process holds it).
  std::function<Status(const std::function<Status(archive::Archive&)>& use)> archive;
  // The pronunciation dictionary for phonetic searches (the recogniser's; search.h).
  std::string phonetic_dictionary;
  // The missed recordings the gateway's reconciler found (<data_dir>/missed.db); empty: none.
  std::string missed_db;
  // The saved searches (<data_dir>/searches.db); empty: none.
  std::string searches_db;
  // The data directory whose status files GET /metrics reads (adminapi/metrics.h); empty: none.
  std::string data_dir;
  // The cases (<data_dir>/cases.db); empty: none.
  std::string cases_db;
  // Opens a view of the archive of its own for a background job (case exports) on a worker
  // thread; empty: such jobs run within the request, on the lent archive.
  std::function<Result<std::unique_ptr<archive::Archive>>()> open_archive;
  // The portal: its built front end (empty: none, only the API) and its sign-in sessions.
  std::string web_root;
  // The users' web client: where its SIP over WebSocket is ({"webSocketPort": 8089, "secure":
  // true}), null when the gateway has none. GET /api/v1/client answers it without sign-in.
  std::function<nlohmann::json()> client;
  SessionStore::Limits session_limits;
  std::vector<policy::Role> cosign_roles;  // a second account co-signs these roles' sign-in
  // These roles give a reason (into the ledger) before they listen to or read a recording's
  // content: POST /api/v1/recordings/{id}/reason, or X-Access-Reason on the request.
  std::vector<policy::Role> reason_roles;
  // The job queue (<data_dir>/jobs.db) that redactions are asked through (the recorder's
  // redaction worker makes them); empty: redaction is not offered.
  std::string jobs_db;
  // These roles play a redacted recording's original (version 0) and export it; other roles
  // that read recordings get its redacted versions only, and its transcript with the redacted
  // words hidden.
  std::vector<policy::Role> original_roles{policy::Role::kComplianceOfficer};
};

class Router {
 public:
  Router(policy::PolicyService& svc, RouterOptions options);
  explicit Router(policy::PolicyService& svc) : Router(svc, RouterOptions{}) {}
  ~Router();
  // `peer`: the client's address (for the request log).
  Response handle(const Request& req, const std::string& peer = "");
  // Requests that read files or databases at length (the call records) and touch nothing the
  // event loop owns: the server runs them on its worker threads, never on the loop.
  static bool runs_off_loop(const Request& req);

  struct Principal {
    policy::Account account;
    std::string token_id;  // the API token's id, or "session <id>" for the portal
    // The account acts, whether through a token or a portal session (approvals compare it).
    std::string actor() const { return "api:" + account.name; }
  };
  SessionStore& sessions() { return sessions_; }
  // WebSocket GET /api/v1/live/{id}/listen (router_live.cc): the feed of a recording in progress
  // for a caller who may monitor it (logged in the ledger), or the refusal to answer instead of
  // upgrading. Cross-origin requests are refused (a WebSocket is not bound by CORS).
  std::variant<Response, std::unique_ptr<LiveFeed>> live_open(const Request& req,
                                                              const std::string& peer);
  // Whether `role` is in one of the options' role lists (cosign_roles, reason_roles).
  static bool listed(const std::vector<policy::Role>& roles, policy::Role role) {
    return std::find(roles.begin(), roles.end(), role) != roles.end();
  }

 private:
  // /api/v1/session[/reauth]: the portal's sign-in, who am I, sign-out, password again.
  Response session(const Request& req, std::string_view path, const std::string& peer);
  // The principal of a request that carries the session cookie and no token; a problem
  // response when the session is gone, the CSRF token or origin is wrong, or a sensitive action
  // needs the password again.
  std::variant<Principal, Response> session_principal(const Request& req, std::string_view path);
  // The principal of a request: its bearer token's account, or its portal session's.
  std::variant<Principal, Response> authenticate(const Request& req, std::string_view path,
                                                 const std::string& peer);
  // GET /api/v1/live: the recordings in progress the caller may listen to (router_live.cc).
  Response live_calls(const Request& req, const Principal& who);
  // POST /api/v1/live/calls/{callId}/{pause|resume|record|stop-recording} (router_control.cc).
  Response call_control(const Request& req, const Principal& who, std::string_view path);
  // The calls in progress at the gateway (its status file); an error when it is not running.
  Result<nlohmann::json> gateway_calls() const;
  // What a gateway call's scope is matched on (policy::in_scope): its parties' groups, regions.
  static nlohmann::json call_scope(const nlohmann::json& call);
  // Who may monitor calls live: compliance officers and supervisors, within their scope.
  static bool may_monitor(policy::Role role);
  // Recorder application ids by the name the admin gave their instance (display name, else UPN).
  std::map<std::string, std::string> application_names();
  Response route(const Request& req, const Principal& who, std::string_view path,
                 const std::map<std::string, std::string>& query);
  Response calls(const Request& req, const Principal& who, std::string_view call_id,
                 const std::map<std::string, std::string>& query);
  Response recordings(const Request& req, const Principal& who, std::string_view path);
  // GET /api/v1/recordings?participant=..: search (search/search.h), within the caller's scope.
  Response search_recordings(const Request& req, const Principal& who,
                             const std::map<std::string, std::string>& query);
  // GET /api/v1/missed-recordings (and /recordings?status=missed ...).
  // /api/v1/meetings[/{id}]: meetings and their dial-in PINs (router_meetings.cc).
  Response meetings(const Request& req, const Principal& who, std::string_view path,
                    const std::map<std::string, std::string>& query);
  // GET /api/v1/quality?days=N: quality and reliability per recorder application and per site.
  Response quality(const Request& req, const std::map<std::string, std::string>& params);
  // GET /api/v1/missed-recordings/trend?days=N: per day, recordings expected and missed.
  Response missed_trend(const Request& req, const Principal& who,
                        const std::map<std::string, std::string>& params);
  Response missed_recordings(const Request& req, const Principal& who,
                             std::map<std::string, std::string> params);
  // The recording's events on its timeline (router_records.cc).
  Result<nlohmann::json> recording_timeline(archive::Archive& a, const archive::RecordingInfo& r,
                                            const nlohmann::json& objects, const std::string& who);
  Response saved_searches(const Request& req, const Principal& who, std::string_view path,
                          const std::map<std::string, std::string>& query);
  std::set<std::string> scope_members(const Principal& who);
  static bool in_scope(const std::set<std::string>& members, const nlohmann::json& call);
  Response accounts(const Request& req, const Principal& who, std::string_view path);
  // /api/v1/cases... (router_cases.cc).
  Response cases(const Request& req, const Principal& who, std::string_view path);
  // A case's recordings within the caller's scope: its query's hits, then its members; with
  // `listed`, a summary of each is appended there.
  Result<std::vector<std::string>> case_recordings(archive::Archive& a, const cases::Case& c,
                                                   const Principal& who, nlohmann::json* listed);
  // Holds, under the case's name, each of its recordings (in the caller's scope) not held yet;
  // returns those.
  Result<std::vector<std::string>> hold_case(archive::Archive& a, cases::Case& c,
                                             const Principal& who);
  struct ExportRequest {
    int64_t job = 0;
    std::string case_name;
    std::vector<std::string> recordings;
    std::string who;
  };
  void run_export(const ExportRequest& r);
  Result<nlohmann::json> release_case_hold(const nlohmann::json& action, const std::string& both);
  Response approvals(const Request& req, const Principal& who, std::string_view path);
  Response cmdlet(const Request& req, const Principal& who, const std::string& name,
                  std::map<std::string, nlohmann::json> params, http::status ok);
  // Runs an approved request's action, as `requester` with `approver` co-signing.
  Result<nlohmann::json> execute(const nlohmann::json& action, const std::string& requester,
                                 const std::string& approver);
  Result<std::optional<policy::Account>> account(const std::string& name);
  void security_event(const std::string& actor, const std::string& action,
                      const nlohmann::json& detail);

  policy::PolicyService& svc_;
  RouterOptions options_;
  LogLimiter auth_log_{60, 10};  // refused tokens: anyone can cause them
  StaticFiles static_files_;
  SessionStore sessions_;
  // Reasons given: (account, recording) -> when; good for the length of a portal session.
  bool reason_given(const std::string& account, const std::string& recording);
  void remember_reason(const std::string& account, const std::string& recording);
  std::mutex reasons_mu_;
  std::map<std::pair<std::string, std::string>, std::chrono::steady_clock::time_point> reasons_;
  // GET and POST /api/v1/recordings/{id}/redactions (router_redact.cc): a response, or nothing
  // with `failed` set (an archive or queue error), or nothing at all (not such a request).
  std::optional<Response> redaction_routes(const Request& req, const Principal& who,
                                           archive::Archive& a, const archive::RecordingInfo& r,
                                           const nlohmann::json& body, Status& failed);
  // GET and POST /api/v1/recordings/{id}/annotations (router_annotations.cc), as above.
  std::optional<Response> annotation_routes(const Request& req, const Principal& who,
                                            archive::Archive& a, const archive::RecordingInfo& r,
                                            const nlohmann::json& body, Status& failed);
  Result<nlohmann::json> annotations_of(const std::string& recording);
  // The job queue for redactions, opened on first use.
  Result<jobs::JobQueue*> job_queue();
  std::mutex jobs_mu_;
  std::unique_ptr<jobs::JobQueue> jobs_;
  class ExportQueue;
  std::shared_ptr<ExportQueue> exports_;  // started by the first case export
};

// A request from a browser names its origin; it must be this server (the Host it asked for). A
// request without Origin (not a browser's) passes.
bool same_origin(const Request& req);

// Requests a portal session makes only with the password entered within the last few minutes:
// exports, hold releases and disposals, approving anything, accounts and tokens.
bool sensitive(const Request& req, std::string_view path);

}  // namespace verbatim::adminapi
