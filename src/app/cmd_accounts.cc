// `verbatim account add | list` and `verbatim token create | list | revoke`: the REST API's
// accounts and tokens, from the host (the operator's bootstrap path).
#include <iostream>

#include <fmt/format.h>

#include "adminapi/router.h"
#include "app/cli.h"
#include "common/exit_codes.h"
#include "common/strings.h"
#include "policy/accounts.h"

namespace verbatim::cli {
namespace {

// A security-log entry for what the CLI did (tokens, accounts).
void cli_security_event(policy::Store& store, const Env& env, const std::string& action,
                        const nlohmann::json& detail) {
  if (auto st = store.log_security_event(
          {0, format_iso8601(env.clock.now()), default_actor(), action, detail});
      !st) {
    std::cerr << "verbatim: warning: security log: " << st.error().message << "\n";
  }
}

int run_token(Env& env, const std::string& action, const std::string& name) {
  auto svc = open_service(env);
  if (!svc) return fail(kExitUsage, svc.error().message);
  policy::Store* store = svc.value()->store();
  if (action == "create") {
    auto account = store->account(name);
    if (!account) return fail(kExitUsage, account.error().message);
    if (!account.value()) {
      return fail(kExitFinding, "no account '" + name +
                                    "': create it first with `verbatim account add " + name +
                                    " --role ROLE`");
    }
    auto issued = adminapi::issue_token(*store, name, format_iso8601(env.clock.now()));
    if (!issued) return fail(kExitFinding, issued.error().message);
    const auto& t = issued.value().record;
    cli_security_event(*store, env, "token.created", {{"token", t.id}, {"account", name}});
    std::cout << issued.value().secret << "\n";
    std::cerr << "Token " << t.id << " for account '" << name << "' ("
              << policy::role_name(account.value()->role)
              << ") created. It is shown only once; store it safely.\n";
    return kExitOk;
  }
  if (action == "list") {
    auto tokens = store->list_tokens();
    if (!tokens) return fail(kExitFinding, tokens.error().message);
    for (const auto& t : tokens.value()) {
      std::cout << t.id << "\t" << t.account << "\t" << t.created << "\n";
    }
    return kExitOk;
  }
  auto tokens = store->list_tokens();
  if (!tokens) return fail(kExitFinding, tokens.error().message);
  auto it = std::find_if(tokens.value().begin(), tokens.value().end(),
                         [&](const policy::ApiToken& t) { return t.id == name; });
  auto removed = store->delete_token(name);
  if (!removed) return fail(kExitFinding, removed.error().message);
  if (!removed.value()) {
    return fail(kExitFinding, "no token '" + name + "' (`verbatim token list` shows their ids)");
  }
  cli_security_event(*store, env, "token.revoked",
                     {{"token", name}, {"account", it == tokens.value().end() ? "" : it->account}});
  std::cout << "Token " << name << " revoked.\n";
  return kExitOk;
}

struct AccountArgs {
  std::string name, role, groups, regions;
  bool password_stdin = false;
  bool json = false;
};

// Accounts, from the host (the operator's bootstrap path: the first admin, and accounts for
// people; over the REST API granting a role needs a second admin's approval).
int run_account(Env& env, const std::string& action, const AccountArgs& a) {
  auto svc = open_service(env);
  if (!svc) return fail(kExitUsage, svc.error().message);
  policy::Store* store = svc.value()->store();
  if (action == "list") {
    auto list = store->list_accounts();
    if (!list) return fail(kExitFinding, list.error().message);
    nlohmann::json out = nlohmann::json::array();
    for (const auto& x : list.value()) out.push_back(x.to_json());
    if (a.json) {
      std::cout << out.dump(2) << "\n";
      return kExitOk;
    }
    std::cout << "NAME\tROLE\tGROUPS\tREGIONS\tPASSWORD\tCREATED\tBY\n";
    for (const auto& x : list.value()) {
      std::cout << x.name << "\t" << policy::role_name(x.role) << "\t" << join(x.groups, ",")
                << "\t" << join(x.regions, ",") << "\t" << (x.password_hash.empty() ? "no" : "yes")
                << "\t" << x.created << "\t" << x.created_by << "\n";
    }
    return kExitOk;
  }
  if (auto st = policy::check_account_name(a.name); !st)
    return fail(kExitUsage, st.error().message);
  auto role = policy::role_from_name(a.role);
  if (!role) return fail(kExitUsage, "--role must be one of " + policy::role_names());
  auto existing = store->account(a.name);
  if (!existing) return fail(kExitUsage, existing.error().message);
  if (existing.value()) return fail(kExitFinding, "account '" + a.name + "' exists");
  policy::Account acct;
  acct.name = a.name;
  acct.role = *role;
  for (const auto& g : split(a.groups, ',')) {
    if (!trim(g).empty()) acct.groups.emplace_back(trim(g));
  }
  for (const auto& r : split(a.regions, ',')) {
    if (!trim(r).empty()) acct.regions.emplace_back(trim(r));
  }
  if (a.password_stdin) {
    std::string password;
    std::getline(std::cin, password);
    auto hash = policy::hash_password(password);
    if (!hash) return fail(kExitUsage, hash.error().message);
    acct.password_hash = hash.value();
  }
  acct.created = format_iso8601(env.clock.now());
  acct.created_by = default_actor();
  if (auto st = store->put_account(acct); !st) return fail(kExitFinding, st.error().message);
  auto logged = acct.to_json();
  cli_security_event(*store, env, "account.created", logged);
  std::cout << "Account '" << acct.name << "' (" << policy::role_name(acct.role) << ", "
            << (acct.groups.empty() && acct.regions.empty()
                    ? std::string("scope: every recording")
                    : "scope: groups " + (acct.groups.empty() ? "-" : join(acct.groups, ",")) +
                          ", regions " + (acct.regions.empty() ? "-" : join(acct.regions, ",")))
            << ") created. Give it a token: verbatim token create " << acct.name << "\n";
  return kExitOk;
}

}  // namespace

void add_account_commands(CLI::App& app, Commands& commands) {
  auto acc = std::make_shared<AccountArgs>();
  auto* account = app.add_subcommand("account", "accounts of the REST API, with their roles");
  account->require_subcommand(1);
  auto* add = account->add_subcommand("add", "create an account with a role");
  add->add_option("name", acc->name, "account name")->required();
  add->add_option("--role", acc->role, policy::role_names())->required();
  add->add_option("--groups", acc->groups, "scope: groups (names or ObjectIds), comma-separated");
  add->add_option("--regions", acc->regions, "scope: regions (DataLocation), comma-separated");
  add->add_flag("--password-stdin", acc->password_stdin,
                "read a password (Argon2id-hashed) from the first line of stdin");
  commands.on(add, [acc](Env& env) { return run_account(env, "add", *acc); });
  auto* list = account->add_subcommand("list", "list accounts");
  list->add_flag("--json", acc->json, "print JSON");
  commands.on(list, [acc](Env& env) { return run_account(env, "list", *acc); });

  auto name = std::make_shared<std::string>();
  auto* token = app.add_subcommand("token", "REST API tokens (each an account's)");
  token->require_subcommand(1);
  auto* create = token->add_subcommand("create", "create a token for an account (printed once)");
  create->add_option("account", *name, "the account it acts as")->required();
  commands.on(create, [name](Env& env) { return run_token(env, "create", *name); });
  auto* tokens = token->add_subcommand("list", "list tokens: id, account, created");
  commands.on(tokens, [](Env& env) { return run_token(env, "list", ""); });
  auto* revoke = token->add_subcommand("revoke", "revoke a token");
  revoke->add_option("id", *name, "token id (from token list)")->required();
  commands.on(revoke, [name](Env& env) { return run_token(env, "revoke", *name); });
}

}  // namespace verbatim::cli
