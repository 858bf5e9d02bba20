// `verbatim admin` (the cmdlet interpreter: -c, a script file, stdin or interactive) and
// `verbatim policy explain | decide`.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "admin/interpreter.h"
#include "admin/parser.h"
#include "app/cli.h"
#include "common/exit_codes.h"
#include "policy/explain.h"

namespace verbatim::cli {
namespace {

int run_admin(Env& env, const std::string& command, const std::string& file, bool interactive) {
  auto svc = open_service(env);
  if (!svc) return fail(kExitUsage, svc.error().message);
  admin::Interpreter interp(*svc.value(), default_actor());
  auto emit = [](const admin::Interpreter::Outcome& o) {
    std::cout << o.output << std::flush;
    std::cerr << o.error_text << std::flush;
  };
  if (!command.empty() || !file.empty()) {
    std::string text = command;
    if (!file.empty()) {
      std::ifstream in(file, std::ios::binary);
      if (!in) return fail(kExitUsage, "cannot read " + file);
      std::stringstream buf;
      buf << in.rdbuf();
      text = buf.str();
      interp.set_base_dir(std::filesystem::absolute(file).parent_path().string());
    }
    const auto out = interp.run_script(text);
    emit(out);
    if (!out.ok()) std::cerr << "No changes were made.\n";
    return out.ok() ? kExitOk : kExitFinding;
  }
  if (!interactive) {  // a script on standard input
    std::stringstream buf;
    buf << std::cin.rdbuf();
    const auto out = interp.run_script(buf.str());
    emit(out);
    if (!out.ok()) std::cerr << "No changes were made.\n";
    return out.ok() ? kExitOk : kExitFinding;
  }
  std::cout << "Verbatim admin shell. Paste Teams cmdlets; Get-Command lists them; exit quits.\n";
  std::string pending;
  std::string line;
  bool any_error = false;
  while (true) {
    std::cout << (pending.empty() ? "PS Verbatim> " : ">> ") << std::flush;
    if (!std::getline(std::cin, line)) break;
    if (pending.empty() && (iequals(trim(line), "exit") || iequals(trim(line), "quit"))) break;
    pending += line + "\n";
    if (admin::needs_more_input(pending)) continue;
    const auto out = interp.run_interactive(pending);
    emit(out);
    any_error |= !out.ok();
    pending.clear();
  }
  return any_error ? kExitFinding : kExitOk;
}

const policy::User* find_user(const policy::PolicyState& state, const std::string& who) {
  if (const auto* u = state.user_by_address(who)) return u;
  auto named = state.users_by_display_name(who);
  return named.size() == 1 ? named.front() : nullptr;
}

int run_explain(Env& env, const std::string& who, bool json) {
  auto svc = open_service(env);
  if (!svc) return fail(kExitUsage, svc.error().message);
  const policy::User* u = find_user(svc.value()->state(), who);
  if (!u)
    return fail(kExitFinding,
                "no user \"" + who + "\" (try a UPN, SIP address, phone number or ObjectId)");
  const auto e = policy::explain(svc.value()->state(), *u);
  if (json) {
    std::cout << policy::explanation_json(e).dump(2) << "\n";
  } else {
    std::cout << policy::explanation_text(e);
  }
  return kExitOk;
}

int run_decide(Env& env, const std::string& party, bool json) {
  auto svc = open_service(env);
  if (!svc) return fail(kExitUsage, svc.error().message);
  const auto d = svc.value()->engine().decide(party);
  if (json) {
    std::cout << policy::decision_json(d, party).dump(2) << "\n";
    return kExitOk;
  }
  if (!d.known()) {
    std::cout << party << ": not a user of this tenant; not recorded by policy\n";
    return kExitOk;
  }
  std::cout << party << " -> " << d.user->user_principal_name << ": "
            << (d.record() ? "RECORD" : "do not record") << " (policy "
            << (d.policy ? d.policy->identity : "?") << " via " << policy::source_name(d.source)
            << (d.source == policy::Source::kGroup ? " rank " + std::to_string(d.rank) : "")
            << ")\n";
  if (d.record()) {
    for (const auto& inv : d.policy->invitations) {
      std::cout << "  invite " << inv.recorder.instance_upn << " x"
                << inv.concurrent_invitation_count << " at";
      for (const auto& e : policy::endpoints_for_region(inv.recorder, d.user->data_location)) {
        std::cout << " " << e.uri;
      }
      std::cout << (inv.required_before_call_establishment ? " [required before call]" : "")
                << (inv.required_during_call ? " [required during call]" : "") << "\n";
    }
  }
  return kExitOk;
}

}  // namespace

void add_policy_commands(CLI::App& app, Commands& commands) {
  struct Args {
    std::string command, file, who;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* admin = app.add_subcommand("admin", "run Teams-style admin cmdlets");
  admin->add_option("-c,--command", a->command, "cmdlets to run (atomically)");
  admin->add_option("-f,--file,script", a->file, "script file to run (atomically)");
  commands.on(admin, [a](Env& env) {
    return run_admin(env, a->command, a->file, ::isatty(STDIN_FILENO) != 0);
  });

  auto* pol = app.add_subcommand("policy", "who is recorded and why");
  pol->require_subcommand(1);
  auto* explain = pol->add_subcommand("explain", "explain a user's effective policy and recorders");
  explain->add_option("user", a->who, "UPN, SIP address, phone number, ObjectId or display name")
      ->required();
  explain->add_flag("--json", a->json, "print JSON");
  commands.on(explain, [a](Env& env) { return run_explain(env, a->who, a->json); });
  auto* decide = pol->add_subcommand("decide", "the gateway's decision for a call party");
  decide->add_option("party", a->who, "SIP URI, tel: URI, E.164 number or UPN")->required();
  decide->add_flag("--json", a->json, "print JSON");
  commands.on(decide, [a](Env& env) { return run_decide(env, a->who, a->json); });
}

}  // namespace verbatim::cli
