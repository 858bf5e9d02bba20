// The `verbatim` command line, by command group. main.cc makes the CLI11 app with the global
// flags; each group (cmd_*.cc) adds its subcommands, owns their flags, and registers what runs
// when one of them is given. Everything here runs on the main thread.
//
//   cmd_policy.cc    admin (cmdlets), policy explain | decide
//   cmd_accounts.cc  account add | list, token create | list | revoke
//   cmd_serve.cc     serve --roles admin-api,archive-verify,recorder,gateway
//   cmd_archive.cc   archive ..., verify, export, verify-export
//   cmd_calls.cc     calls show | list, jobs list
//   cmd_meetings.cc  meeting create | list | show | cancel
//   cmd_search.cc    search
//   cmd_tools.cc     config show, tls init, sip lint, siprec inspect
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "archive/archive.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/ids.h"
#include "common/result.h"
#include "policy/service.h"
#include "search/search.h"

namespace verbatim::cli {

// Everything a command needs from the environment, resolved once (the configuration with the
// global flags applied).
struct Env {
  Config config;
  RandomIdGenerator ids;
  SystemClock clock;
};

// What runs when a subcommand was given: its exit code (common/exit_codes.h).
using Action = std::function<int(Env&)>;

class Commands {
 public:
  // `action` runs when `cmd` is the subcommand on the command line.
  void on(CLI::App* cmd, Action action) { actions_.emplace_back(cmd, std::move(action)); }
  // Runs the action of the subcommand that was parsed; kExitUsage when there is none.
  int run(Env& env) const;

 private:
  std::vector<std::pair<CLI::App*, Action>> actions_;
};

void add_policy_commands(CLI::App& app, Commands& commands);
void add_account_commands(CLI::App& app, Commands& commands);
void add_serve_command(CLI::App& app, Commands& commands);
void add_archive_commands(CLI::App& app, Commands& commands);
void add_calls_commands(CLI::App& app, Commands& commands);
void add_meeting_commands(CLI::App& app, Commands& commands);
void add_search_commands(CLI::App& app, Commands& commands);
void add_tool_commands(CLI::App& app, Commands& commands);

// Lists missed recordings (search status missed, "not recorded", "incomplete media"): for
// `verbatim search --status ...` and `verbatim calls missed`.
int run_missed(Env& env, const search::Query& query, bool as_json);

// Prints "verbatim: MESSAGE" on stderr and returns `code`.
int fail(int code, const std::string& message);

// Who the audit log and the ledger name for a command run here: the local OS user by uid —
// never $USER or a flag, which anyone can set to any name.
std::string default_actor();

// Opens the policy service on the data directory (created owner-only on first use).
Result<std::unique_ptr<policy::PolicyService>> open_service(Env& env);

// The archive's options from the configuration; `master_key`: a file, or empty for the default.
archive::ArchiveOptions archive_options(const Env& env, const std::string& master_key);
// Puts the configured object store into `o` ([archive.s3], or nothing for local files), and the
// configured HSM ([archive.hsm], the keys in a PKCS#11 token). Only the
// archive's writer uploads the S3 spool (`writer`); others read it and the bucket.
Status use_configured_store(const Env& env, archive::ArchiveOptions& o, bool writer);
// Who opens the archive: its one writer (the recorder, an import; creates it on first use), or a
// process beside it (everything else that reads it or logs to its ledger: archive.h).
enum class ArchiveAccess { kWriter, kShared };
// Opens the archive for `actor`.
Result<std::unique_ptr<archive::Archive>> open_archive(Env& env, const std::string& actor,
                                                       const std::string& master_key,
                                                       ArchiveAccess access);

}  // namespace verbatim::cli
