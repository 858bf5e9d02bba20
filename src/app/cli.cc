#include "app/cli.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "archive/s3_store.h"

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

namespace {
// AWS's credentials file form: "aws_access_key_id = ..." and "aws_secret_access_key = ..." lines
// (the first of each; sections are not told apart).
Status read_s3_credentials(const std::string& file, archive::S3Config& s3) {
  std::ifstream in(file);
  if (!in) return make_error(ErrorCode::kIo, "cannot read archive.s3.credentials_file " + file);
  std::string line;
  while (std::getline(in, line)) {
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string name = line.substr(0, eq), value = line.substr(eq + 1);
    auto trim = [](std::string& x) {
      x.erase(0, x.find_first_not_of(" \t\r"));
      x.erase(x.find_last_not_of(" \t\r") + 1);
    };
    trim(name);
    trim(value);
    if (name == "aws_access_key_id" && s3.access_key.empty()) s3.access_key = value;
    if (name == "aws_secret_access_key" && s3.secret_key.empty()) s3.secret_key = value;
  }
  if (s3.access_key.empty() || s3.secret_key.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      file + " lacks aws_access_key_id or aws_secret_access_key");
  }
  return ok_status();
}

// The HSM of [archive.hsm], its PIN from an owner-only file or VERBATIM_HSM_PIN.
Status use_configured_hsm(const Config& c, archive::ArchiveOptions& o) {
  if (c.archive_hsm_module.empty()) return ok_status();
  o.hsm.module = c.archive_hsm_module;
  o.hsm.token = c.archive_hsm_token;
  o.hsm.master_key_label = c.archive_hsm_master_key_label;
  o.hsm.signing_key_label = c.archive_hsm_signing_key_label;
  if (c.archive_hsm_pin_file.empty()) {
    const char* pin = std::getenv("VERBATIM_HSM_PIN");
    if (!pin || !*pin) {
      return make_error(ErrorCode::kInvalidArgument,
                        "archive.hsm: set pin_file, or the PIN in VERBATIM_HSM_PIN");
    }
    o.hsm.pin = pin;
    return ok_status();
  }
  auto pin = archive::read_secret_file(c.archive_hsm_pin_file);
  if (!pin) return make_error(pin.error().code, "archive.hsm.pin_file: " + pin.error().message);
  o.hsm.pin = std::move(pin).value();
  if (o.hsm.pin.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "archive.hsm.pin_file " + c.archive_hsm_pin_file + " is empty");
  }
  return ok_status();
}
}  // namespace

Status use_configured_store(const Env& env, archive::ArchiveOptions& o, bool writer) {
  const Config& c = env.config;
  VB_TRY(use_configured_hsm(c, o));
  if (c.archive_s3_endpoint.empty()) return ok_status();
  archive::S3StoreOptions s;
  s.s3.endpoint = c.archive_s3_endpoint;
  s.s3.bucket = c.archive_s3_bucket;
  s.s3.region = c.archive_s3_region;
  s.s3.ca_file = c.archive_s3_ca_file;
  s.s3.timeout = std::chrono::seconds(c.archive_s3_timeout_s);
  if (!c.archive_s3_credentials_file.empty()) {
    VB_TRY(read_s3_credentials(c.archive_s3_credentials_file, s.s3));
  } else {
    const char* id = std::getenv("AWS_ACCESS_KEY_ID");
    const char* secret = std::getenv("AWS_SECRET_ACCESS_KEY");
    s.s3.access_key = id ? id : "";
    s.s3.secret_key = secret ? secret : "";
  }
  s.prefix = c.archive_s3_prefix;
  s.spool_dir = c.archive_s3_spool_dir.empty() ? o.root + "/spool" : c.archive_s3_spool_dir;
  s.part_size = static_cast<uint64_t>(c.archive_s3_part_size_mb) << 20;
  s.upload = writer;
  s.require_object_lock = writer;  // only the writer puts objects there
  auto store = archive::open_s3_store(s);
  if (!store) return store.error();
  o.store = std::move(store).value();
  return ok_status();
}

Result<std::unique_ptr<archive::Archive>> open_archive(Env& env, const std::string& actor,
                                                       const std::string& master_key,
                                                       ArchiveAccess access) {
  archive::ArchiveOptions o = archive_options(env, master_key);
  o.shared = access == ArchiveAccess::kShared;
  VB_TRY(use_configured_store(env, o, access == ArchiveAccess::kWriter));
  std::error_code ec;
  std::filesystem::create_directories(env.config.data_dir, ec);
  std::filesystem::permissions(env.config.data_dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  return archive::Archive::open(o, env.clock, actor);
}

}  // namespace verbatim::cli
