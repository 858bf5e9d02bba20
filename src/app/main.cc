// The `verbatim` binary: one executable, one subcommand per role or tool (cli.h lists the
// command groups and their files).
//
//   verbatim admin        run cmdlets (interactive, -c "...", or a script file)
//   verbatim policy       explain USER / decide PARTY
//   verbatim serve        run roles: the admin REST API, the archive verifier, the recorder,
//                         the gateway
//   verbatim account      REST API accounts and roles; verbatim token: their tokens
//   verbatim archive      store, list, read, hold, retain and dispose recordings
//   verbatim verify       check the archive: objects, catalog, ledger, signed heads
//   verbatim calls, jobs  the gateway's call records, the recorder's queued work
//   verbatim config, tls, sip, siprec   configuration, certificates, troubleshooting
//
// Global flags: --config FILE, --data-dir DIR (or VERBATIM_DATA_DIR), --log-format,
// --log-level. Exit codes: 0 ok, 1 a finding or refusal, 2 usage or configuration error.
// Exceptions end here and become exit code 2 with a message; they never cross components.
#include <cstdio>
#include <iostream>
#include <optional>

#include <CLI/CLI.hpp>

#include "app/cli.h"
#include "common/config.h"
#include "common/exit_codes.h"
#include "common/log.h"

namespace {

int run(int argc, char** argv) {
  using namespace verbatim;
  using namespace verbatim::cli;
  CLI::App app{"Verbatim: open, policy-based compliance recording"};
  app.require_subcommand(1);
  std::string config_file, data_dir, log_format, log_level;
  app.add_option("--config", config_file, "TOML configuration file (or VERBATIM_CONFIG)")
      ->envname("VERBATIM_CONFIG")
      ->check(CLI::ExistingFile);
  app.add_option("--data-dir", data_dir, "data directory (default ./var, or VERBATIM_DATA_DIR)");
  app.add_option("--log-format", log_format, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error");
  auto* version = app.add_subcommand("version", "print the version");
  Commands commands;
  add_tool_commands(app, commands);
  add_policy_commands(app, commands);
  add_serve_command(app, commands);
  add_account_commands(app, commands);
  add_archive_commands(app, commands);
  add_calls_commands(app, commands);
  add_meeting_commands(app, commands);
  add_search_commands(app, commands);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  if (version->parsed()) {
    std::cout << "verbatim 0.1.0\n";
    return kExitOk;
  }
  Env env;
  try {
    auto cfg =
        load_config(config_file.empty() ? std::nullopt : std::optional<std::string>(config_file));
    if (!cfg) return fail(kExitUsage, cfg.error().message);
    env.config = cfg.value();
  } catch (const std::exception& e) {
    return fail(kExitUsage, e.what());
  }
  if (!data_dir.empty()) env.config.data_dir = data_dir;
  if (!log_format.empty()) env.config.log_format = log_format;
  if (!log_level.empty()) env.config.log_level = log_level;
  if (auto st = init_logging(env.config.log_format, env.config.log_level); !st) {
    return fail(kExitUsage, st.error().message);
  }
  try {
    return commands.run(env);
  } catch (const std::exception& e) {
    return fail(kExitUsage, std::string("internal error: ") + e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (...) {  // what run() let through (building the command line, say): exit 2
    std::fputs("verbatim: internal error\n", stderr);
    return verbatim::kExitUsage;
  }
}
