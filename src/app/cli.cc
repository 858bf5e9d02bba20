#include "app/cli.h"

#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "common/data_paths.h"
#include "common/exit_codes.h"
#include "policy/sqlite_store.h"

namespace verbatim::cli {

int Commands::run(Env& env) const {
  for (const auto& [cmd, action] : actions_) {
    if (cmd->parsed()) return action(env);
  }
  return kExitUsage;
}

int fail(int code, const std::string& message) {
  std::cerr << "verbatim: " << message << "\n";
  return code;
}

std::string default_actor() { return "os:" + std::to_string(::getuid()); }

Result<std::unique_ptr<policy::PolicyService>> open_service(Env& env) {
  std::error_code ec;
  const std::filesystem::path dir = env.config.data_dir;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return make_error(ErrorCode::kIo,
                      "cannot create data directory " + dir.string() + ": " + ec.message());
  }
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  auto store = policy::SqliteStore::open(DataPaths(dir).policy_db());
  if (!store) return store.error();
  auto svc = std::make_unique<policy::PolicyService>(std::move(store).value(), env.ids, env.clock);
  if (auto st = svc->open(); !st) return st.error();
  return svc;
}

archive::ArchiveOptions archive_options(const Env& env, const std::string& master_key) {
  archive::ArchiveOptions o;
  o.root = DataPaths(env.config.data_dir).archive_dir();
  o.master_key_file = master_key;
  const Config& c = env.config;
  o.writer.flush_interval = std::chrono::milliseconds(c.archive_flush_interval_ms);
  o.min_free_bytes = static_cast<uint64_t>(c.archive_min_free_mb) << 20;
  o.sign_interval = std::chrono::seconds(c.archive_sign_interval_s);
  o.retention.default_period = c.archive_default_retention;
  for (const auto& r : c.archive_retention)
    o.retention.rules.push_back({r.field, r.value, r.period});
  return o;
}

Result<std::unique_ptr<archive::Archive>> open_archive(Env& env, const std::string& actor,
                                                       const std::string& master_key,
                                                       ArchiveAccess access) {
  archive::ArchiveOptions o = archive_options(env, master_key);
  o.shared = access == ArchiveAccess::kShared;
  std::error_code ec;
  std::filesystem::create_directories(env.config.data_dir, ec);
  std::filesystem::permissions(env.config.data_dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  return archive::Archive::open(o, env.clock, actor);
}

}  // namespace verbatim::cli
