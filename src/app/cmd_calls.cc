// `verbatim calls show | list` (the gateway's call records) and `verbatim jobs list` (the work
// queued after calls).
#include <iostream>
#include <map>

#include <fmt/format.h>

#include "app/cli.h"
#include "common/call_records.h"
#include "common/data_paths.h"
#include "common/exit_codes.h"
#include "gateway/call_log.h"
#include "jobs/queue.h"

namespace verbatim::cli {
namespace {

Result<std::unique_ptr<gateway::CallLog>> open_call_log(const Env& env) {
  const DataPaths paths(env.config.data_dir);
  auto log = gateway::CallLog::open_existing(paths.calls_db(), paths.calls_jsonl());
  if (log && !log.value()) {
    return make_error(ErrorCode::kNotFound, "no call records in " + env.config.data_dir +
                                                " (the gateway writes them as calls end)");
  }
  return log;
}

int run_calls_show(Env& env, const std::string& call_id, bool as_json) {
  auto log = open_call_log(env);
  if (!log) return fail(kExitUsage, log.error().message);
  auto found = log.value()->find_call(call_id);
  if (!found) return fail(kExitUsage, found.error().message);
  if (!found.value()) return fail(kExitFinding, "no call " + call_id + " in the call records");
  const auto& c = *found.value();
  if (as_json) {
    std::cout << c.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << describe_call(c);
  return kExitOk;
}

// `verbatim calls list`: the newest call records, filtered.
int run_calls_list(Env& env, const verbatim::CallQuery& q, bool as_json) {
  if (auto st = verbatim::check_query(q); !st) return fail(kExitUsage, st.error().message);
  auto log = open_call_log(env);
  if (!log && log.error().code == ErrorCode::kNotFound) {
    if (as_json) std::cout << "[]\n";
    return kExitOk;
  }
  if (!log) return fail(kExitUsage, log.error().message);
  auto list = log.value()->find_calls(q);
  if (!list) return fail(kExitUsage, list.error().message);
  if (as_json) {
    std::cout << nlohmann::json(list.value()).dump(2) << "\n";
    return kExitOk;
  }
  std::cout << fmt::format("{:<24} {:<36} {:<28} {:<28} {:>6}  {}\n", "START", "CALL-ID", "CALLER",
                           "CALLEE", "STATUS", "OUTCOME");
  for (const auto& c : list.value()) {
    auto who = [](const nlohmann::json& p) {
      return p.value("aor", "") + (p.value("recorded", false) ? " (R)" : "");
    };
    std::cout << fmt::format("{:<24} {:<36} {:<28} {:<28} {:>6}  {}\n", c.value("start", ""),
                             c.value("callId", ""), who(c["caller"]), who(c["callee"]),
                             c.value("status", 0), c.value("outcome", ""));
  }
  return kExitOk;
}

int run_jobs_list(Env& env, const std::string& state, bool as_json) {
  const auto path = DataPaths(env.config.data_dir).jobs_db();
  if (!std::filesystem::exists(path)) {
    return fail(kExitUsage, "no job queue in " + env.config.data_dir +
                                " (the recorder creates it when it first runs)");
  }
  auto q = jobs::JobQueue::open(path, env.clock);
  if (!q) return fail(kExitUsage, q.error().message);
  auto list = q.value()->list(state);
  if (!list) return fail(kExitUsage, list.error().message);
  if (as_json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& j : list.value()) {
      nlohmann::json o = {{"id", j.id},
                          {"kind", j.kind},
                          {"recording", j.recording},
                          {"state", j.state},
                          {"attempts", j.attempts},
                          {"created", j.created_at},
                          {"updated", j.updated_at}};
      if (!j.error.empty()) o["error"] = j.error;
      if (!j.result.empty()) o["result"] = nlohmann::json::parse(j.result, nullptr, false);
      out.push_back(std::move(o));
    }
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << fmt::format("{:>6}  {:<9} {:<34} {:<8} {:>8}  {:<24} {}\n", "ID", "KIND",
                           "RECORDING", "STATE", "ATTEMPTS", "UPDATED", "ERROR");
  for (const auto& j : list.value()) {
    std::cout << fmt::format("{:>6}  {:<9} {:<34} {:<8} {:>8}  {:<24} {}\n", j.id, j.kind,
                             j.recording, j.state, j.attempts, j.updated_at, j.error);
  }
  return kExitOk;
}

}  // namespace

void add_calls_commands(CLI::App& app, Commands& commands) {
  struct Args {
    std::string call_id, state;
    CallQuery query;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* calls = app.add_subcommand("calls", "calls through the gateway");
  calls->require_subcommand(1);
  auto* show = calls->add_subcommand("show", "a call's recording decisions, recorders and outcome");
  show->add_option("call-id", a->call_id, "the caller's SIP Call-ID")->required();
  show->add_flag("--json", a->json, "print JSON");
  commands.on(show, [a](Env& env) { return run_calls_show(env, a->call_id, a->json); });
  auto* list = calls->add_subcommand("list", "the newest calls, with their outcome");
  list->add_option("--party", a->query.party,
                   "calls with a party whose address, user or number contains this");
  list->add_option("--since", a->query.since, "calls that started at or after (ISO 8601)");
  list->add_option("--limit", a->query.limit, "at most this many (default 100)");
  list->add_flag("--json", a->json, "print JSON");
  commands.on(list, [a](Env& env) { return run_calls_list(env, a->query, a->json); });

  struct MissedArgs {
    std::map<std::string, std::string> params{{"status", "missed"}};
    bool json = false;
  };
  auto m = std::make_shared<MissedArgs>();
  auto* missed = calls->add_subcommand(
      "missed",
      "calls a policy records that have no complete recording in the archive, newest first "
      "(the gateway's reconciler finds them gateway.missed_recording_after_s after the call)");
  auto opt = [&](const char* flag, const char* param, const char* help) {
    missed->add_option(flag, m->params[param], help);
  };
  opt("--status", "status", "missed (default: both), \"not recorded\" or \"incomplete media\"");
  opt("--participant", "participant", "a party's address, number or name, or part of one");
  opt("--from", "from", "calls that started at or after (2026-12-01 or ISO 8601)");
  opt("--to", "to", "calls that started before");
  opt("--call-id", "callId", "the caller's SIP Call-ID");
  opt("--application", "application", "the policy's recording application, as the call names it");
  opt("--policy", "policy", "the recorded party's policy");
  opt("--limit", "limit", "at most this many (default 50, up to 1000)");
  opt("--cursor", "cursor", "the next page, as the previous one printed it");
  missed->add_flag("--json", m->json, "print JSON");
  commands.on(missed, [m](Env& env) {
    auto params = m->params;
    for (auto it = params.begin(); it != params.end();) {
      it = it->second.empty() ? params.erase(it) : std::next(it);
    }
    auto q = search::query_from_params(params);
    if (!q) return fail(kExitUsage, q.error().message);
    if (!search::is_missed_status(q.value().status)) {
      return fail(kExitUsage, "--status: missed, \"not recorded\" or \"incomplete media\"");
    }
    return run_missed(env, q.value(), m->json);
  });

  auto* jobs = app.add_subcommand("jobs", "work queued after calls (playback files, transcripts)");
  jobs->require_subcommand(1);
  auto* jobs_list = jobs->add_subcommand("list", "the jobs, oldest first");
  jobs_list->add_option("--state", a->state, "only jobs in this state")
      ->check(CLI::IsMember({"waiting", "pending", "running", "done", "failed"}));
  jobs_list->add_flag("--json", a->json, "print JSON");
  commands.on(jobs_list, [a](Env& env) { return run_jobs_list(env, a->state, a->json); });
}

}  // namespace verbatim::cli
