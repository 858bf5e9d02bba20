// The `verbatim` binary: one executable, one subcommand per role or tool.
//
//   verbatim admin        run cmdlets (interactive, -c "...", or a script file)
//   verbatim policy       explain USER / decide PARTY
//   verbatim serve        run roles: the admin REST API, the archive verifier, the recorder
//   verbatim token        manage REST API tokens
//   verbatim config show  print the effective configuration
//   verbatim archive      store, list, read, hold, retain and dispose recordings
//   verbatim verify       check the archive: objects, catalog, ledger, signed heads
//
// Global flags: --config FILE, --data-dir DIR (or VERBATIM_DATA_DIR), --log-format,
// --log-level. Exit codes: 0 ok, 1 a finding or refusal, 2 usage or configuration error.
// Exceptions end here and become exit code 2 with a message; they never cross components.
#include <pwd.h>
#include <sodium.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "admin/interpreter.h"
#include "admin/parser.h"
#include "adminapi/router.h"
#include "adminapi/server.h"
#include "archive/archive.h"
#include "archive/export.h"
#include "archive/verifier.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/data_paths.h"
#include "common/exit_codes.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/strings.h"
#include "gateway/call_log.h"
#include "gateway/gateway.h"
#include "policy/explain.h"
#include "policy/sqlite_store.h"
#include "recorder/playback_jobs.h"
#include "recorder/recorder.h"
#include "sip/lint.h"
#include "sip/tls.h"
#include "siprec/gateway_context.h"
#include "siprec/inspect.h"

namespace verbatim {
namespace {

struct Globals {
  std::string config_file;
  std::string data_dir;
  std::string log_format;
  std::string log_level;
};

// Everything a subcommand needs from the environment, resolved once.
struct Env {
  Config config;
  RandomIdGenerator ids;
  SystemClock clock;
};

int fail(int code, const std::string& message) {
  std::cerr << "verbatim: " << message << "\n";
  return code;
}

// Who the audit log and the ledger name for a command run here: the local OS user by uid —
// never $USER or a flag, which anyone can set to any name.
std::string default_actor() { return "os:" + std::to_string(::getuid()); }

// Opens the policy service on the data directory (created owner-only on first use).
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

archive::ArchiveOptions archive_options(const Env& env, const std::string& master_key);
Result<std::unique_ptr<archive::Archive>> open_archive(Env& env, const std::string& actor,
                                                       const std::string& master_key);

// Background verification (role archive-verify): one bounded step every 100 ms while a pass
// runs (verify_rate_mb_s / 10 per step), archive.verify_interval_s between passes. Findings
// are logged as errors (alerts); progress goes to the log and <archive>/verify-status.json.
class VerifyLoop {
 public:
  VerifyLoop(boost::asio::io_context& io, Env& env)
      : env_(env),
        timer_(io),
        verifier_(archive_options(env, ""), env.clock, /*deep=*/false,
                  (static_cast<uint64_t>(env.config.archive_verify_rate_mb_s) << 20) / 10),
        status_file_(DataPaths(env.config.data_dir).verify_status()) {}
  void start() { schedule(std::chrono::milliseconds(0)); }
  void stop() { timer_.cancel(); }

 private:
  void schedule(std::chrono::milliseconds after) {
    timer_.expires_after(after);
    timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) run_step();
    });
  }
  void run_step() {
    const bool starting = !verifier_.status().in_pass;
    auto found = verifier_.step();
    if (!found) {
      if (!waiting_) spdlog::warn("archive verification: {} (retrying)", found.error().message);
      waiting_ = true;
      schedule(std::chrono::seconds(10));
      return;
    }
    waiting_ = false;
    const auto& st = verifier_.status();
    if (starting) {
      spdlog::info("archive verification: pass {} started: {} ledger entries, {} objects",
                   st.passes_completed + 1, st.ledger_size, st.objects_total);
    }
    for (const auto& f : found.value()) {
      spdlog::error("archive verification FINDING {}: {}", f.where, f.what);
    }
    const int decile = static_cast<int>(st.percent()) / 10;
    if (st.in_pass && decile != last_decile_) {
      spdlog::info("archive verification: {}% ({} of {} objects)", static_cast<int>(st.percent()),
                   st.objects_checked, st.objects_total);
    }
    last_decile_ = decile;
    const auto now = std::chrono::steady_clock::now();
    if (!st.in_pass || now - last_write_ >= std::chrono::seconds(1)) {
      if (auto w = verifier_.write_status(status_file_); !w) {
        spdlog::warn("archive verification: {}", w.error().message);
      }
      last_write_ = now;
    }
    if (st.in_pass) {
      schedule(std::chrono::milliseconds(100));
      return;
    }
    spdlog::info("archive verification: pass {} finished: {} objects, {} finding(s)",
                 st.passes_completed, st.objects_checked, st.last_pass_findings.size());
    schedule(std::chrono::seconds(env_.config.archive_verify_interval_s));
  }

  Env& env_;
  boost::asio::steady_timer timer_;
  archive::IncrementalVerifier verifier_;
  std::string status_file_;
  std::chrono::steady_clock::time_point last_write_{};
  int last_decile_ = -1;
  bool waiting_ = false;
};

recorder::RecorderOptions recorder_options(const Env& env) {
  const Config& c = env.config;
  recorder::RecorderOptions o;
  o.sip_listen = c.recorder_sip_listen;
  o.media_address = c.recorder_media_address;
  o.rtp_port_min = static_cast<uint16_t>(c.recorder_rtp_port_min);
  o.rtp_port_max = static_cast<uint16_t>(c.recorder_rtp_port_max);
  o.max_sessions = static_cast<size_t>(c.recorder_max_sessions);
  o.min_free_bytes = static_cast<uint64_t>(c.recorder_min_free_mb) << 20;
  o.retry_after = std::chrono::seconds(c.recorder_retry_after_s);
  o.media_timeout = std::chrono::seconds(c.recorder_media_timeout_s);
  o.drain_timeout = std::chrono::seconds(c.recorder_drain_timeout_s);
  o.flush_interval = std::chrono::milliseconds(c.archive_flush_interval_ms);
  o.latch = c.recorder_latch == "first-packet" ? recorder::StreamReceiver::Latch::kFirstPacket
                                               : recorder::StreamReceiver::Latch::kSdpAddress;
  o.accept_non_siprec = c.recorder_accept_non_siprec;
  o.allowed_sources = c.recorder_allowed_sources;
  o.status_file = DataPaths(c.data_dir).recorder_status();
  return o;
}

// The gateway's digest nonce secret: 32 random bytes drawn anew at every start. Nonces issued
// before a restart are then never accepted after it (their replay state died with the process);
// phones are re-challenged with stale=true and answer at once.
std::array<uint8_t, 32> nonce_secret() {
  std::array<uint8_t, 32> key{};
  randombytes_buf(key.data(), key.size());
  return key;
}

// The [tls] context of a role, asking clients for certificates as `client_auth` says.
Result<std::shared_ptr<boost::asio::ssl::context>> tls_context(const Env& env,
                                                               const std::string& client_auth) {
  const Config& c = env.config;
  sip::TlsSettings t{c.tls_certificate, c.tls_private_key, c.tls_ca_file,
                     client_auth == "require" ? sip::ClientAuth::kRequire
                     : client_auth == "none"  ? sip::ClientAuth::kNone
                                              : sip::ClientAuth::kOptional};
  return sip::make_tls_context(t);
}

// The key our gateway signs its X-Verbatim headers with and our recorder checks them with.
std::string gateway_key_file(const Env& env, const std::string& configured) {
  return configured.empty() ? DataPaths(env.config.data_dir).gateway_recorder_key() : configured;
}

// A secret kept in a file that must be owner-only (trunk passwords): its first line.
Result<std::string> read_secret_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return make_error(ErrorCode::kNotFound, "cannot read " + path);
  if (st.st_mode & 077) {
    return make_error(ErrorCode::kInvalidArgument, path + " may be read by others (mode " +
                                                       fmt::format("{:o}", st.st_mode & 0777) +
                                                       "): chmod 600 it");
  }
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  if (line.empty()) return make_error(ErrorCode::kInvalidArgument, path + " is empty");
  return line;
}

gateway::GatewayOptions gateway_options(const Env& env) {
  const Config& c = env.config;
  gateway::GatewayOptions o;
  o.sip_listen = c.gateway_sip_listen;
  o.media_address = c.gateway_media_address;
  o.rtp_port_min = static_cast<uint16_t>(c.gateway_rtp_port_min);
  o.rtp_port_max = static_cast<uint16_t>(c.gateway_rtp_port_max);
  o.recording_setup_timeout = std::chrono::milliseconds(c.gateway_recording_setup_timeout_ms);
  o.trunk = c.gateway_trunk;
  o.trunk_transport = c.gateway_trunk_transport == "tls"   ? "TLS"
                      : c.gateway_trunk_transport == "tcp" ? "TCP"
                                                           : "UDP";
  o.trunk_sources = c.gateway_trunk_sources;
  o.trunk_username = c.gateway_trunk_username;
  o.trunk_tls_name = c.gateway_trunk_tls_name;
  o.sip_domains = c.gateway_sip_domains;
  o.allow_sdes_over_plain_sip = c.gateway_allow_sdes_over_plain_sip;
  o.dns.servers = c.gateway_dns_servers;
  o.voicemail_uri = c.gateway_voicemail_uri;
  o.health_interval = std::chrono::milliseconds(c.gateway_health_check_interval_ms);
  o.require_srtp = c.gateway_require_srtp;
  o.recorder_srtp = c.gateway_recorder_srtp;
  o.emergency_numbers = c.gateway_emergency_numbers;
  o.banner_text = c.gateway_banner_text;
  o.prompt_dirs = {
      c.gateway_prompts_dir.empty() ? DataPaths(c.data_dir).prompts_dir() : c.gateway_prompts_dir,
      VERBATIM_BUILT_PROMPTS};
  o.registrar.algorithms.clear();
  for (const auto& a : c.gateway_digest_algorithms) {
    o.registrar.algorithms.push_back(a == "MD5" ? sip::DigestAlgorithm::kMd5
                                                : sip::DigestAlgorithm::kSha256);
  }
  o.calls_db = DataPaths(c.data_dir).calls_db();
  o.calls_file = DataPaths(c.data_dir).calls_jsonl();
  o.call_records_days = c.gateway_call_records_days;
  o.status_file = DataPaths(c.data_dir).gateway_status();
  o.dialogs_file = DataPaths(c.data_dir).gateway_dialogs();
  o.registrations_file = DataPaths(c.data_dir).gateway_registrations();
  return o;
}

int run_serve(Env& env, const std::string& roles, const std::string& listen) {
  bool draining = false;
  // A recorder holds two sockets per stream: allow as many descriptors as the system lets us.
  if (rlimit nofile{};
      ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &nofile);
  }
  std::set<std::string> wanted;
  for (const auto& role : split(roles, ',')) {
    if (role != "admin-api" && role != "archive-verify" && role != "recorder" &&
        role != "gateway") {
      return fail(kExitUsage, "unknown role '" + role +
                                  "' (available: admin-api, archive-verify, recorder, gateway)");
    }
    wanted.insert(role);
  }
  if (wanted.empty()) return fail(kExitUsage, "name at least one role");
  boost::asio::io_context io;
  // Installed before any address is printed: a supervisor (or test) may signal us as soon as
  // it has read it.
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  std::unique_ptr<policy::PolicyService> svc;
  std::unique_ptr<adminapi::Router> router;
  std::unique_ptr<adminapi::HttpServer> server;
  boost::asio::steady_timer timer(io);
  std::function<void()> tick;
  if (wanted.count("admin-api") || wanted.count("gateway")) {
    auto opened = open_service(env);
    if (!opened) return fail(kExitUsage, opened.error().message);
    svc = std::move(opened).value();
  }
  std::unique_ptr<archive::Archive> recorder_archive;  // the recorder's, when it runs here
  if (wanted.count("admin-api")) {
    const std::filesystem::path data(env.config.data_dir);
    adminapi::RouterOptions ro;
    const DataPaths paths(env.config.data_dir);
    ro.call_records = [paths]() -> Result<std::unique_ptr<CallRecords>> {
      auto log = gateway::CallLog::open_existing(paths.calls_db(), paths.calls_jsonl());
      if (!log) return log.error();
      return std::unique_ptr<CallRecords>(std::move(log).value());
    };
    ro.import_dir = paths.import_dir();
    ro.work_dir = paths.work_dir();
    // The archive for the recordings routes: the recorder's in this process (one thread: the
    // loop), else opened for the request (the writer lock; refused while another process holds
    // it, until the archive admits many readers).
    ro.archive =
        [&env, &recorder_archive](const std::function<Status(archive::Archive&)>& use) -> Status {
      if (recorder_archive) return use(*recorder_archive);
      if (!std::filesystem::exists(DataPaths(env.config.data_dir).archive_db())) {
        return make_error(ErrorCode::kNotFound, "there is no archive in " + env.config.data_dir);
      }
      auto opened = open_archive(env, "admin-api", "");
      if (!opened) return opened.error();
      return use(*opened.value());
    };
    router = std::make_unique<adminapi::Router>(*svc, ro);
    std::shared_ptr<boost::asio::ssl::context> https;
    if (env.config.http_tls) {
      auto ctx = tls_context(env, "none");
      if (!ctx) return fail(kExitUsage, "admin_api.tls: " + ctx.error().message);
      https = ctx.value();
    }
    server = std::make_unique<adminapi::HttpServer>(io, *router, https);
    auto ep = server->listen(listen.empty() ? env.config.http_listen : listen);
    if (!ep) return fail(kExitUsage, ep.error().message);
    const auto& a = ep.value().address();
    std::cout << "admin-api listening on " << (https ? "https" : "http") << "://"
              << (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) << ":" << ep.value().port()
              << std::endl;
  }
  if (svc) {
    // Pick up changes committed by other processes (an admin CLI) promptly.
    tick = [&] {
      timer.expires_after(std::chrono::milliseconds(env.config.reload_interval_ms));
      timer.async_wait([&](boost::system::error_code ec) {
        if (ec) return;
        std::lock_guard lock(svc->mutex());
        if (auto st = svc->refresh(); !st) spdlog::warn("refresh: {}", st.error().message);
        tick();
      });
    };
    tick();
  }
  std::unique_ptr<VerifyLoop> verify;
  if (wanted.count("archive-verify")) {
    verify = std::make_unique<VerifyLoop>(io, env);
    verify->start();
    std::cout << "archive-verify running" << std::endl;
  }
  std::unique_ptr<jobs::JobQueue> job_queue;
  std::unique_ptr<recorder::PlaybackJobs> playback;
  std::unique_ptr<recorder::Recorder> rec;
  if (wanted.count("recorder")) {
    auto opened = open_archive(env, "recorder", "");
    if (!opened) return fail(kExitUsage, opened.error().message);
    recorder_archive = std::move(opened).value();
    auto options = recorder_options(env);
    if (env.config.recorder_playback) {
      auto q = jobs::JobQueue::open(DataPaths(env.config.data_dir).jobs_db(), env.clock);
      if (!q) return fail(kExitUsage, q.error().message);
      job_queue = std::move(q).value();
      playback = std::make_unique<recorder::PlaybackJobs>(io, *recorder_archive, *job_queue);
      if (auto st = playback->start(); !st) return fail(kExitUsage, st.error().message);
      options.jobs = job_queue.get();
      options.jobs_ready = [p = playback.get()] { p->wake(); };
    }
    auto key =
        siprec::load_gateway_key(gateway_key_file(env, env.config.recorder_gateway_key_file), true);
    if (!key) return fail(kExitUsage, "recorder.gateway_key_file: " + key.error().message);
    options.gateway_key = key.value();
    if (!env.config.recorder_tls_listen.empty()) {
      auto ctx = tls_context(env, env.config.recorder_tls_client_auth);
      if (!ctx) return fail(kExitUsage, "recorder.tls_listen: " + ctx.error().message);
      options.tls = ctx.value();
      options.tls_listen = env.config.recorder_tls_listen;
    }
    rec = std::make_unique<recorder::Recorder>(io, *recorder_archive, options);
    auto local = rec->start();
    if (!local) return fail(kExitUsage, "recorder: " + local.error().message);
    std::cout << "recorder listening on sip:" << local.value() << " (UDP, TCP)"
              << (rec->tls_local().empty() ? "" : ", sips:" + rec->tls_local() + " (TLS)")
              << std::endl;
  }
  std::unique_ptr<gateway::Gateway> gw;
  if (wanted.count("gateway")) {
    auto options = gateway_options(env);
    options.nonce_secret = nonce_secret();
    auto key =
        siprec::load_gateway_key(gateway_key_file(env, env.config.gateway_recorder_key_file), true);
    if (!key) return fail(kExitUsage, "gateway.recorder_key_file: " + key.error().message);
    options.recorder_key = key.value();
    if (!env.config.tls_certificate.empty()) {
      // TLS towards recorders with sips:/transport=tls endpoints, and a listener when configured.
      auto ctx = tls_context(env, env.config.gateway_tls_client_auth);
      if (!ctx) return fail(kExitUsage, "tls: " + ctx.error().message);
      options.tls = ctx.value();
      options.tls_listen = env.config.gateway_tls_listen;
    } else if (!env.config.gateway_tls_listen.empty()) {
      return fail(kExitUsage,
                  "gateway.tls_listen needs tls.certificate and tls.private_key "
                  "(`verbatim tls init` makes a private CA and a certificate)");
    }
    if (!env.config.gateway_trunk_password_file.empty()) {
      auto pw = read_secret_file(env.config.gateway_trunk_password_file);
      if (!pw) return fail(kExitUsage, "gateway.trunk_password_file: " + pw.error().message);
      options.trunk_password = pw.value();
    }
    gw = std::make_unique<gateway::Gateway>(io, *svc, options);
    auto local = gw->start();
    if (!local) return fail(kExitUsage, "gateway: " + local.error().message);
    std::cout << "gateway listening on sip:" << local.value() << " (UDP, TCP)"
              << (gw->tls_local().empty() ? "" : ", sips:" + gw->tls_local() + " (TLS)")
              << std::endl;
  }
  spdlog::info("data directory {}", env.config.data_dir);
  std::function<void()> stop_all = [&] {
    if (gw) gw->stop();
    if (server) server->stop();
    if (verify) verify->stop();
    timer.cancel();
    io.stop();
  };
  // The first signal drains the recorder (calls in progress end, or are ended after
  // recorder.drain_timeout_s); a second one stops at once (the archive recovers what was
  // being written on the next start).
  std::function<void()> wait_signal = [&] {
    signals.async_wait([&](boost::system::error_code ec, int sig) {
      if (ec) return;
      spdlog::info("signal {}: shutting down", sig);
      if (rec && rec->sessions() > 0 && !draining) {
        draining = true;
        rec->drain(stop_all);
        wait_signal();
        return;
      }
      stop_all();
    });
  };
  wait_signal();
  io.run();
  // The playback worker may be waiting for the loop: it gives its job back (resumed on the
  // next start) once it sees the loop gone.
  if (playback) playback->stop();
  return kExitOk;
}

int run_tls_init(Env& env, std::string dir, std::vector<std::string> names,
                 std::vector<std::string> ips, int days) {
  if (dir.empty()) dir = DataPaths(env.config.data_dir).tls_dir();
  if (names.empty()) {
    names.emplace_back("localhost");
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0 && std::string(host) != "localhost") {
      names.emplace_back(host);
    }
  }
  if (ips.empty()) ips = {"127.0.0.1", "::1"};
  if (days < 1 || days > 3650) return fail(kExitUsage, "--days must be 1 to 3650");
  auto made = sip::issue_certificates(dir, names, ips, days);
  if (!made) return fail(kExitFinding, made.error().message);
  const auto abs = [](const std::string& p) { return std::filesystem::absolute(p).string(); };
  std::cout << "# A private CA and a certificate for " << join(names, ", ") << ", "
            << join(ips, ", ") << " (" << days << " days), written to " << abs(dir) << ".\n"
            << "# Give peers " << abs(made.value().ca_certificate)
            << " to trust; keep ca.key offline. Add to the configuration:\n"
            << "[tls]\ncertificate = \"" << abs(made.value().certificate) << "\"\n"
            << "private_key = \"" << abs(made.value().private_key) << "\"\n"
            << "ca_file = \"" << abs(made.value().ca_certificate) << "\"\n";
  return kExitOk;
}

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

// --- archive -----------------------------------------------------------------------------

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
                                                       const std::string& master_key) {
  archive::ArchiveOptions o = archive_options(env, master_key);
  std::error_code ec;
  std::filesystem::create_directories(env.config.data_dir, ec);
  std::filesystem::permissions(env.config.data_dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  return archive::Archive::open(o, env.clock, actor);
}

struct ArchiveArgs {
  std::string action;
  std::vector<std::string> files;
  std::string metadata = "{}";
  int retention_days = 0;
  std::string recording;
  std::string object;
  std::string case_id;
  std::string until;
  std::string key_file;
  std::string master_key;
  std::string reason;
  int version = 0;
  bool json = false;
};

int run_archive(Env& env, const ArchiveArgs& a) {
  const std::string who = default_actor();
  if (a.action == "replace-signing-key") {
    archive::ArchiveOptions o = archive_options(env, a.master_key);
    o.replace_lost_signing_key = true;
    o.replacement_reason = a.reason;
    if (o.signing_key_file.empty()) o.signing_key_file = o.root + "/signing.key";
    auto replaced = archive::Archive::open(o, env.clock, who);
    if (!replaced) return fail(kExitFinding, replaced.error().message);
    std::cout << "new signing key " << o.signing_key_file << " (public key "
              << archive::hex(replaced.value()->ledger().public_key())
              << "); the replacement is in the ledger. Give auditors the new public key ("
              << o.signing_key_file << ".pub) alongside the old one.\n";
    return kExitOk;
  }
  auto opened = open_archive(env, who, a.master_key);
  if (!opened) return fail(kExitUsage, opened.error().message);
  archive::Archive& ar = *opened.value();
  auto refused = [](const Error& e) {
    return fail(e.code == ErrorCode::kNotFound || e.code == ErrorCode::kFailedPrecondition ||
                        e.code == ErrorCode::kInvalidArgument
                    ? kExitFinding
                    : kExitUsage,
                e.message);
  };
  if (a.action == "import") {
    auto meta = nlohmann::json::parse(a.metadata, nullptr, false);
    if (meta.is_discarded() || !meta.is_object())
      return fail(kExitUsage, "--metadata must be a JSON object");
    std::optional<std::chrono::days> keep;
    if (a.retention_days > 0) keep = std::chrono::days(a.retention_days);
    auto rec = ar.create_recording(meta, keep);
    if (!rec) return refused(rec.error());
    for (const auto& f : a.files) {
      std::ifstream in(f, std::ios::binary);
      if (!in) return fail(kExitUsage, "cannot read " + f);
      auto obj = ar.begin_object(rec.value(), "media");
      if (!obj) return refused(obj.error());
      std::vector<uint8_t> buf(1 << 16);
      while (in) {
        in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(buf.size()));
        const auto n = static_cast<size_t>(in.gcount());
        if (n == 0) break;
        if (auto st = obj.value()->writer().write(std::span(buf).first(n)); !st) {
          return refused(st.error());
        }
      }
      auto sealed = ar.seal(*obj.value());
      if (!sealed) return refused(sealed.error());
      std::cout << "object " << obj.value()->id() << " " << f << " "
                << sealed.value().plaintext_size << " bytes, sha256 "
                << archive::to_hex(sealed.value().stored_sha256) << "\n";
    }
    if (auto st = ar.complete_recording(rec.value(), "complete"); !st) return refused(st.error());
    std::cout << "recording " << rec.value() << "\n";
    return kExitOk;
  }
  if (a.action == "show") {
    auto r = ar.recording(a.recording);
    if (!r) return refused(r.error());
    auto objs = ar.objects_of(a.recording);
    if (!objs) return refused(objs.error());
    nlohmann::json objects = nlohmann::json::array();
    for (const auto& id : objs.value()) {
      auto info = ar.object_info(id);
      if (!info) return refused(info.error());
      const auto& o = info.value();
      nlohmann::json oj = {{"id", o.id},
                           {"kind", o.kind},
                           {"status", o.status},
                           {"bytes", o.plaintext_size},
                           {"sha256", o.sha256}};
      if (o.interrupted) oj["interrupted"] = true;
      objects.push_back(oj);
    }
    nlohmann::json j = {{"id", r.value().id},
                        {"serial", ar.node_id() + "-" + std::to_string(r.value().serial)},
                        {"status", r.value().status},
                        {"reason", r.value().reason},
                        {"metadata", r.value().metadata},
                        {"metadataVersion", r.value().metadata_version},
                        {"created", r.value().created_at},
                        {"completed", r.value().completed_at},
                        {"retentionUntil", r.value().retention_until},
                        {"legalHolds", r.value().active_holds},
                        {"objects", objects}};
    std::cout << j.dump(2) << "\n";
    return kExitOk;
  }
  if (a.action == "edit-metadata") {
    auto meta = nlohmann::json::parse(a.metadata, nullptr, false);
    if (meta.is_discarded() || !meta.is_object())
      return fail(kExitUsage, "--metadata must be a JSON object");
    auto v = ar.update_metadata(a.recording, meta, who, a.reason);
    if (!v) return refused(v.error());
    std::cout << "recording " << a.recording << " metadata version " << v.value() << "\n";
    return kExitOk;
  }
  if (a.action == "history") {
    auto h = ar.metadata_history(a.recording);
    if (!h) return refused(h.error());
    if (a.version > 0) {  // one version, byte-exact
      for (const auto& v : h.value()) {
        if (v.version == a.version) {
          std::cout << v.text;
          return kExitOk;
        }
      }
      return fail(kExitFinding, "recording " + a.recording + " has no metadata version " +
                                    std::to_string(a.version));
    }
    nlohmann::json j = nlohmann::json::array();
    for (const auto& v : h.value()) {
      j.push_back({{"version", v.version},
                   {"changedBy", v.changed_by},
                   {"changedAt", v.changed_at},
                   {"reason", v.reason},
                   {"ledgerSeq", v.ledger_seq},
                   {"metadata", nlohmann::json::parse(v.text, nullptr, false)}});
    }
    std::cout << j.dump(2) << "\n";
    return kExitOk;
  }
  if (a.action == "cat") {
    auto r = ar.read_object(a.object, who);
    if (!r) return refused(r.error());
    if (auto st = r.value()->verify(); !st) return fail(kExitFinding, st.error().message);
    for (size_t i = 0; i < r.value()->chunks().size(); ++i) {
      auto c = r.value()->read_chunk(i);
      if (!c) return fail(kExitFinding, c.error().message);
      std::cout.write(reinterpret_cast<const char*>(c.value().data()),
                      static_cast<std::streamsize>(c.value().size()));
    }
    return kExitOk;
  }
  Status st = ok_status();
  if (a.action == "hold") st = ar.set_hold(a.case_id, a.recording, who);
  if (a.action == "release") st = ar.release_hold(a.case_id, a.recording, who);
  if (a.action == "extend") st = ar.extend_retention(a.recording, a.until, who);
  if (a.action == "dispose") st = ar.dispose(a.recording, who);
  if (a.action == "delete") st = ar.delete_object(a.object, who);
  if (a.action == "dispose-expired") {
    auto gone = ar.dispose_expired(who);
    if (!gone) return refused(gone.error());
    for (const auto& id : gone.value()) std::cout << "disposed " << id << "\n";
    return kExitOk;
  }
  if (a.action == "rotate-key") {
    auto n = ar.rotate_master_key(a.key_file, who);
    if (!n) return refused(n.error());
    std::cout << "re-wrapped " << n.value() << " data keys under " << a.key_file
              << "; use it as the master key file from now on (--master-key)\n";
    return kExitOk;
  }
  if (a.action == "sign-head") {
    auto h = ar.sign_head();
    if (!h) return refused(h.error());
    std::cout << h.value().to_line() << "\n";
    return kExitOk;
  }
  if (!st) return refused(st.error());
  std::cout << "ok\n";
  return kExitOk;
}

struct VerifyArgs {
  bool deep = false;
  bool json = false;
  bool progress = false;
  bool status = false;
  std::string master_key;
};

// The background verifier's last report (verbatim serve --roles archive-verify).
int show_verify_status(Env& env, bool json) {
  const auto path = DataPaths(env.config.data_dir).verify_status();
  std::ifstream in(path);
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (!in || j.is_discarded()) {
    return fail(kExitUsage, "no background verification has reported yet (" + path +
                                "); run: verbatim serve --roles archive-verify");
  }
  const bool clean = j["findings"].empty() && j["lastPassFindings"].empty();
  if (json) {
    std::cout << j.dump(2) << "\n";
  } else {
    const bool in_pass = j["inPass"].get<bool>();
    std::cout << (in_pass ? "verifying: " : "idle: ") << j["percent"].dump() << "% of pass "
              << j["passesCompleted"].get<uint64_t>() + (in_pass ? 1 : 0) << " ("
              << j["objectsChecked"].dump() << " of " << j["objectsTotal"].dump() << " objects, "
              << j["bytesChecked"].dump() << " of " << j["bytesTotal"].dump() << " bytes), started "
              << j["passStarted"].get<std::string>() << "\n"
              << "last complete pass: " << j["lastPassFinished"].get<std::string>() << ", "
              << j["lastPassFindings"].size() << " finding(s)\n";
    for (const char* key : {"findings", "lastPassFindings"}) {
      for (const auto& f : j[key]) {
        std::cout << "FINDING " << f["where"].get<std::string>() << ": "
                  << f["what"].get<std::string>() << "\n";
      }
    }
  }
  return clean ? kExitOk : kExitFinding;
}

int run_verify(Env& env, const VerifyArgs& a) {
  if (a.status) return show_verify_status(env, a.json);
  if (!std::filesystem::exists(DataPaths(env.config.data_dir).archive_db())) {
    return fail(kExitUsage, "no archive in " + env.config.data_dir);
  }
  // Read-only: safe while a recorder writes; objects still open are skipped. The same
  // incremental verifier as the background role, run to the end of one pass.
  archive::IncrementalVerifier verifier(archive_options(env, a.master_key), env.clock, a.deep);
  int shown = -10;
  do {
    auto f = verifier.step();
    if (!f) return fail(kExitFinding, f.error().message);
    const int pct = static_cast<int>(verifier.status().percent());
    if (a.progress && pct / 10 != shown / 10) {
      std::cerr << "verify: " << pct << "% (" << verifier.status().objects_checked << " of "
                << verifier.status().objects_total << " objects)\n";
      shown = pct;
    }
  } while (verifier.status().in_pass);
  const auto& st = verifier.status();
  const auto& findings = st.findings;
  if (a.json) {
    nlohmann::json out = {{"ok", findings.empty()}, {"ledgerSize", st.ledger_size}};
    out["findings"] = nlohmann::json::array();
    for (const auto& f : findings)
      out["findings"].push_back({{"where", f.where}, {"what", f.what}});
    out["latestTreeHead"] = st.latest_head;
    std::cout << out.dump(2) << "\n";
  } else {
    for (const auto& f : findings) std::cout << "FINDING " << f.where << ": " << f.what << "\n";
    std::cout << (findings.empty() ? "OK" : "FAILED") << ": ledger of " << st.ledger_size
              << " entries, " << st.objects_checked << " objects, " << findings.size()
              << " finding(s)" << (a.deep ? " (deep: every chunk authenticated)" : "") << "\n";
    if (!st.latest_head.empty()) std::cout << "latest signed tree head: " << st.latest_head << "\n";
  }
  return findings.empty() ? kExitOk : kExitFinding;
}

int run_export(Env& env, const std::vector<std::string>& recordings, const std::string& out,
               const std::string& master_key) {
  const std::string who = default_actor();
  auto opened = open_archive(env, who, master_key);
  if (!opened) return fail(kExitUsage, opened.error().message);
  auto s = archive::export_package(*opened.value(), recordings, out, who);
  if (!s)
    return fail(s.error().code == ErrorCode::kIo ? kExitUsage : kExitFinding, s.error().message);
  std::cout << "exported " << s.value().recordings << " recording(s), " << s.value().objects
            << " object(s) to " << out << "\ntree head: " << s.value().head.to_line()
            << "\nverify offline with: verbatim verify-export " << out
            << " --public-key <archive>/signing.key.pub\n";
  return kExitOk;
}

// A captured message from a file or stdin ("-"); nullopt (after saying why) when unreadable.
std::optional<std::string> read_message_input(const std::string& file) {
  std::string bytes;
  if (file == "-") {
    bytes.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      fail(kExitUsage, "cannot read " + file);
      return std::nullopt;
    }
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  if (bytes.empty()) {
    fail(kExitUsage, "no message to check (empty input)");
    return std::nullopt;
  }
  return bytes;
}

int run_sip_lint(const std::string& file, bool json) {
  auto bytes = read_message_input(file);
  if (!bytes) return kExitUsage;
  const auto report = sip::lint_message(*bytes);
  std::cout << (json ? report.to_json().dump(2) + "\n" : report.to_text());
  return report.valid ? kExitOk : kExitFinding;
}

// The job queue (<data_dir>/jobs.db): what the recorder still has to do after its calls.
// `verbatim calls show CALL-ID`: the gateway's decisions and outcome for a call.
// The call records' database (an older data directory's JSONL file imported on first use).
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
  auto party = [](const nlohmann::json& p) {
    std::string s = p.value("aor", "");
    if (p.contains("user")) s += " (user " + p["user"].get<std::string>() + ")";
    if (p.contains("policy")) {
      s += ", policy " + p["policy"].get<std::string>() + " (" + p.value("policySource", "") + ")";
    }
    s += p.value("recorded", false) ? ", recorded" : ", not recorded";
    return s;
  };
  std::cout << "Call " << c.value("callId", "") << "\n"
            << "  start    " << c.value("start", "") << "\n"
            << "  end      " << c.value("end", "") << "\n"
            << "  caller   " << party(c["caller"]) << "\n"
            << "  callee   " << party(c["callee"]) << "\n"
            << "  status   " << c.value("status", 0) << " — " << c.value("outcome", "") << "\n";
  if (c.value("emergency", false)) std::cout << "  emergency call: never recorded\n";
  const auto& t = c["timings"];
  std::cout << "  timings  recorders ready " << t.value("recordersReadyMs", -1)
            << " ms, callee called " << t.value("calleeCalledMs", -1) << " ms, connected "
            << t.value("connectedMs", -1) << " ms\n";
  if (c.contains("queue")) {
    const auto& q = c["queue"];
    std::cout << "  queue    " << q.value("name", "") << " (" << q.value("routingMethod", "")
              << ", " << (q.value("conferenceMode", false) ? "conference" : "transfer")
              << " mode) via " << q.value("resourceAccount", "");
    if (q.value("callerAnsweredMs", -1) >= 0) {
      std::cout << ", caller answered by the queue at " << q["callerAnsweredMs"] << " ms";
    }
    std::cout << "\n";
    for (const auto& o : q.value("offers", nlohmann::json::array())) {
      std::cout << "    offered to " << o.value("agent", "") << " at " << o.value("atMs", 0)
                << " ms: " << o.value("outcome", "") << "\n";
    }
  }
  for (const auto& f : c.value("forwards", nlohmann::json::array())) {
    // By the phone (a 3xx status), or by the admin's calling settings (immediate, simultaneous).
    const std::string how = f.contains("setting")
                                ? f["setting"].get<std::string>() + " forwarding"
                                : "the phone answered " + std::to_string(f.value("status", 0));
    std::cout << "  forward  " << f.value("from", "") << " -> " << f.value("to", "") << " (" << how
              << ", reason " << f.value("reason", "unconditional") << ", at " << f.value("atMs", 0)
              << " ms)\n";
  }
  for (const auto& t : c.value("transfers", nlohmann::json::array())) {
    std::cout << "  transfer by " << t.value("by", "") << " to " << t.value("to", "") << ": "
              << t.value("outcome", "") << "\n";
  }
  for (const auto& r : c["recordings"]) {
    std::cout << "  recording of " << r.value("party", "") << " under " << r.value("policy", "")
              << "\n";
    for (const auto& a : r["applications"]) {
      std::cout << "    " << a.value("application", "") << " (required before call: "
                << (a.value("requiredBeforeCallEstablishment", true) ? "yes" : "no")
                << ", during call: " << (a.value("requiredDuringCall", true) ? "yes" : "no")
                << ")\n";
      for (const auto& l : a["instances"]) {
        std::cout << "      " << l.value("uri", "") << ": " << l.value("state", "");
        if (l.value("answeredMs", -1) >= 0)
          std::cout << " (answered in " << l["answeredMs"] << " ms)";
        if (l.contains("why")) std::cout << " — " << l["why"].get<std::string>();
        std::cout << "\n";
      }
    }
  }
  for (const auto& n : c.value("notices", nlohmann::json::array())) {
    std::cout << "  notice   " << n.value("prompt", "") << " to the " << n.value("to", "") << ": "
              << n.value("outcome", "");
    if (n.contains("file")) {
      std::cout << " (" << n.value("language", "") << ", " << n.value("encoding", "") << ", "
                << n.value("durationMs", 0) << " ms from " << n.value("startedMs", 0) << " ms, "
                << n.value("packetsSent", 0) << " packets)";
    }
    std::cout << "\n";
  }
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

int run_siprec_inspect(const std::string& file) {
  auto bytes = read_message_input(file);
  if (!bytes) return kExitUsage;
  const auto report = siprec::inspect(*bytes);
  // Captures carry anything: bytes that are not UTF-8 are printed as U+FFFD.
  std::cout << report.to_json().dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
            << "\n";
  return report.valid() ? kExitOk : kExitFinding;
}

int run_verify_export(const std::string& dir, const std::string& public_key_file, bool json) {
  auto pk = archive::load_public_key(public_key_file);
  if (!pk) return fail(kExitUsage, pk.error().message);
  auto verdicts = archive::verify_package(dir, pk.value());
  if (!verdicts) return fail(kExitFinding, verdicts.error().message);
  bool all_valid = !verdicts.value().empty();
  nlohmann::json out = nlohmann::json::array();
  for (const auto& v : verdicts.value()) {
    all_valid &= v.verdict == "valid";
    out.push_back({{"recording", v.recording}, {"verdict", v.verdict}, {"problems", v.problems}});
    if (!json) {
      std::cout << v.recording << ": " << v.verdict << "\n";
      for (const auto& p : v.problems) std::cout << "  " << p << "\n";
    }
  }
  if (json) std::cout << out.dump(2) << "\n";
  return all_valid ? kExitOk : kExitFinding;
}
}  // namespace
}  // namespace verbatim

int main(int argc, char** argv) {
  using namespace verbatim;
  CLI::App app{"Verbatim: open, policy-based compliance recording"};
  app.require_subcommand(1);
  Globals g;
  app.add_option("--config", g.config_file, "TOML configuration file")->check(CLI::ExistingFile);
  app.add_option("--data-dir", g.data_dir, "data directory (default ./var, or VERBATIM_DATA_DIR)");
  app.add_option("--log-format", g.log_format, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", g.log_level, "trace, debug, info, warn, error");

  auto* version = app.add_subcommand("version", "print the version");

  auto* config = app.add_subcommand("config", "configuration");
  config->require_subcommand(1);
  auto* config_show = config->add_subcommand("show", "print the effective configuration");

  auto* tls = app.add_subcommand("tls", "certificates for SIP over TLS and HTTPS");
  tls->require_subcommand(1);
  auto* tls_init = tls->add_subcommand(
      "init", "a private CA and a certificate for this host (gateway, recorder, REST API)");
  std::string tls_dir;
  std::vector<std::string> tls_names, tls_ips;
  int tls_days = 825;
  tls_init->add_option("--dir", tls_dir, "where to write them (default <data-dir>/tls)");
  tls_init->add_option("--name", tls_names, "DNS names (default: localhost and this host's name)");
  tls_init->add_option("--ip", tls_ips, "IP addresses (default 127.0.0.1 and ::1)");
  tls_init->add_option("--days", tls_days, "validity of the certificate (default 825)");

  auto* admin = app.add_subcommand("admin", "run Teams-style admin cmdlets");
  std::string admin_command, admin_file;
  admin->add_option("-c,--command", admin_command, "cmdlets to run (atomically)");
  admin->add_option("-f,--file,script", admin_file, "script file to run (atomically)");

  auto* pol = app.add_subcommand("policy", "who is recorded and why");
  pol->require_subcommand(1);
  std::string who;
  bool json = false;
  auto* explain = pol->add_subcommand("explain", "explain a user's effective policy and recorders");
  explain->add_option("user", who, "UPN, SIP address, phone number, ObjectId or display name")
      ->required();
  explain->add_flag("--json", json, "print JSON");
  auto* decide = pol->add_subcommand("decide", "the gateway's decision for a call party");
  decide->add_option("party", who, "SIP URI, tel: URI, E.164 number or UPN")->required();
  decide->add_flag("--json", json, "print JSON");

  auto* serve = app.add_subcommand("serve", "run server roles");
  std::string roles = "admin-api", http_listen;
  serve->add_option("--roles", roles,
                    "comma-separated roles (admin-api, archive-verify, recorder, gateway)");
  serve->add_option("--http-listen", http_listen, "admin API address host:port (port 0: any free)");

  auto* token = app.add_subcommand("token", "REST API tokens (each an account's)");
  token->require_subcommand(1);
  std::string token_name;
  auto* token_create =
      token->add_subcommand("create", "create a token for an account (printed once)");
  token_create->add_option("account", token_name, "the account it acts as")->required();
  auto* token_list = token->add_subcommand("list", "list tokens: id, account, created");
  auto* token_revoke = token->add_subcommand("revoke", "revoke a token");
  token_revoke->add_option("id", token_name, "token id (from token list)")->required();

  auto* account = app.add_subcommand("account", "accounts of the REST API, with their roles");
  account->require_subcommand(1);
  AccountArgs acc;
  auto* account_add = account->add_subcommand("add", "create an account with a role");
  account_add->add_option("name", acc.name, "account name")->required();
  account_add->add_option("--role", acc.role, policy::role_names())->required();
  account_add->add_option("--groups", acc.groups,
                          "scope: groups (names or ObjectIds), comma-separated");
  account_add->add_option("--regions", acc.regions,
                          "scope: regions (DataLocation), comma-separated");
  account_add->add_flag("--password-stdin", acc.password_stdin,
                        "read a password (Argon2id-hashed) from the first line of stdin");
  auto* account_list = account->add_subcommand("list", "list accounts");
  account_list->add_flag("--json", acc.json, "print JSON");

  auto* arch = app.add_subcommand("archive", "the encrypted, tamper-evident archive");
  arch->require_subcommand(1);
  ArchiveArgs aa;
  arch->add_option("--master-key", aa.master_key,
                   "master key file (default <data-dir>/archive/master.key)");
  auto* a_import = arch->add_subcommand("import", "store files as one recording");
  a_import->add_option("files", aa.files, "files to store")->required()->check(CLI::ExistingFile);
  a_import->add_option("--metadata", aa.metadata, "recording metadata (JSON object)");
  a_import->add_option("--retention-days", aa.retention_days, "retention (default 7 years)");
  auto* a_show = arch->add_subcommand("show", "a recording's catalog entry");
  a_show->add_option("recording", aa.recording)->required();
  auto* a_cat = arch->add_subcommand("cat", "decrypt an object to stdout (logged as access)");
  a_cat->add_option("object", aa.object)->required();
  auto* a_hold = arch->add_subcommand("hold", "set a legal hold");
  a_hold->add_option("case", aa.case_id)->required();
  a_hold->add_option("recording", aa.recording)->required();
  auto* a_release = arch->add_subcommand("release", "release a legal hold");
  a_release->add_option("case", aa.case_id)->required();
  a_release->add_option("recording", aa.recording)->required();
  auto* a_extend = arch->add_subcommand("extend", "extend a recording's retention");
  a_extend->add_option("recording", aa.recording)->required();
  a_extend->add_option("until", aa.until, "ISO 8601 UTC, e.g. 2033-01-31T00:00:00Z")->required();
  auto* a_dispose = arch->add_subcommand("dispose", "dispose a recording whose retention ended");
  a_dispose->add_option("recording", aa.recording)->required();
  auto* a_expired =
      arch->add_subcommand("dispose-expired", "dispose every expired, unheld recording");
  auto* a_delete = arch->add_subcommand("delete", "attempt to delete an object (always refused)");
  a_delete->add_option("object", aa.object)->required();
  auto* a_rotate = arch->add_subcommand("rotate-key", "re-wrap data keys under a new master key");
  a_rotate->add_option("key-file", aa.key_file, "new master key file (created if absent)")
      ->required();
  auto* a_head = arch->add_subcommand("sign-head", "sign and print the ledger's tree head");
  auto* a_rekey = arch->add_subcommand(
      "replace-signing-key",
      "after the signing key was lost for good: a new one, recorded in the ledger");
  a_rekey->add_option("--reason", aa.reason, "why (kept in the ledger)")->required();
  auto* a_edit = arch->add_subcommand(
      "edit-metadata", "replace a recording's metadata (a new version; every version is kept)");
  a_edit->add_option("recording", aa.recording)->required();
  a_edit->add_option("--metadata", aa.metadata, "the new metadata (JSON object)")->required();
  a_edit->add_option("--reason", aa.reason, "why (kept in the audit trail)")->required();
  auto* a_history =
      arch->add_subcommand("history", "every metadata version with who, when and why");
  a_history->add_option("recording", aa.recording)->required();
  a_history->add_option("--version", aa.version, "print this version byte-exact");

  auto* verify = app.add_subcommand("verify", "verify the archive (exit 1 on any finding)");
  VerifyArgs va;
  verify->add_flag("--deep", va.deep, "also decrypt and authenticate every chunk");
  verify->add_flag("--json", va.json, "print JSON");
  verify->add_flag("--progress", va.progress, "report progress on stderr");
  verify->add_flag("--status", va.status,
                   "show the background verifier's progress and findings instead");
  verify->add_option("--master-key", va.master_key, "master key file");

  auto* exp = app.add_subcommand("export", "write a verifiable package of recordings");
  std::vector<std::string> export_recordings;
  std::string export_out;
  exp->add_option("recordings", export_recordings, "recording ids")->required();
  exp->add_option("--out", export_out,
                  "package directory (must not exist or be empty), or a file ending in .tar, "
                  ".tar.gz or .tar.xz (must not exist)")
      ->required();
  exp->add_option("--master-key", aa.master_key, "master key file");
  auto* sip = app.add_subcommand("sip", "SIP troubleshooting tools");
  sip->require_subcommand(1);
  auto* sip_lint = sip->add_subcommand(
      "lint", "is a captured SIP message valid? (exit 0 valid, 1 invalid, 2 unreadable)");
  std::string sip_file = "-";
  sip_lint->add_option("file", sip_file, "the message (CRLF or LF line ends); - for stdin");
  sip_lint->add_flag("--json", json, "print the verdict and the parsed message as JSON");
  auto* siprec_cmd = app.add_subcommand("siprec", "SIPREC troubleshooting tools");
  siprec_cmd->require_subcommand(1);
  auto* siprec_inspect = siprec_cmd->add_subcommand(
      "inspect",
      "what a captured SIPREC INVITE/re-INVITE/UPDATE (or its multipart body) asks to record, as "
      "JSON (exit 0 usable, 1 problems, 2 unreadable)");
  std::string siprec_file = "-";
  siprec_inspect->add_option("file", siprec_file, "the request or body; - for stdin");
  auto* jobs_cmd = app.add_subcommand("jobs", "work queued after calls (playback files)");
  jobs_cmd->require_subcommand(1);
  auto* jobs_list = jobs_cmd->add_subcommand("list", "the jobs, oldest first");
  std::string jobs_state;
  jobs_list->add_option("--state", jobs_state, "only jobs in this state")
      ->check(CLI::IsMember({"waiting", "pending", "running", "done", "failed"}));
  jobs_list->add_flag("--json", json, "print JSON");
  auto* calls_cmd = app.add_subcommand("calls", "calls through the gateway");
  calls_cmd->require_subcommand(1);
  auto* calls_show =
      calls_cmd->add_subcommand("show", "a call's recording decisions, recorders and outcome");
  std::string show_call_id;
  calls_show->add_option("call-id", show_call_id, "the caller's SIP Call-ID")->required();
  calls_show->add_flag("--json", json, "print JSON");
  auto* calls_list = calls_cmd->add_subcommand("list", "the newest calls, with their outcome");
  verbatim::CallQuery calls_query;
  calls_list->add_option("--party", calls_query.party,
                         "calls with a party whose address, user or number contains this");
  calls_list->add_option("--since", calls_query.since, "calls that started at or after (ISO 8601)");
  calls_list->add_option("--limit", calls_query.limit, "at most this many (default 100)");
  calls_list->add_flag("--json", json, "print JSON");
  auto* vexp = app.add_subcommand("verify-export", "check an export package offline");
  std::string package_dir, public_key_file;
  vexp->add_option("package", package_dir, "package directory or tar file")
      ->required()
      ->check(CLI::ExistingPath);
  vexp->add_option("--public-key", public_key_file, "the archive's signing.key.pub")
      ->required()
      ->check(CLI::ExistingFile);
  vexp->add_flag("--json", json, "print JSON");

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
    auto cfg = load_config(g.config_file.empty() ? std::nullopt
                                                 : std::optional<std::string>(g.config_file));
    if (!cfg) return fail(kExitUsage, cfg.error().message);
    env.config = cfg.value();
  } catch (const std::exception& e) {
    return fail(kExitUsage, e.what());
  }
  if (!g.data_dir.empty()) env.config.data_dir = g.data_dir;
  if (!g.log_format.empty()) env.config.log_format = g.log_format;
  if (!g.log_level.empty()) env.config.log_level = g.log_level;
  if (auto st = init_logging(env.config.log_format, env.config.log_level); !st) {
    return fail(kExitUsage, st.error().message);
  }
  try {
    if (config_show->parsed()) {
      std::cout << config_to_toml(env.config);
      return kExitOk;
    }
    if (tls_init->parsed()) return run_tls_init(env, tls_dir, tls_names, tls_ips, tls_days);
    if (admin->parsed()) {
      const bool tty = ::isatty(STDIN_FILENO) != 0;
      return run_admin(env, admin_command, admin_file, tty);
    }
    if (explain->parsed()) return run_explain(env, who, json);
    if (decide->parsed()) return run_decide(env, who, json);
    if (serve->parsed()) return run_serve(env, roles, http_listen);
    if (account_add->parsed()) return run_account(env, "add", acc);
    if (account_list->parsed()) return run_account(env, "list", acc);
    if (token_create->parsed()) return run_token(env, "create", token_name);
    if (token_list->parsed()) return run_token(env, "list", "");
    if (token_revoke->parsed()) return run_token(env, "revoke", token_name);
    if (verify->parsed()) return run_verify(env, va);
    if (exp->parsed()) return run_export(env, export_recordings, export_out, aa.master_key);
    if (vexp->parsed()) return run_verify_export(package_dir, public_key_file, json);
    if (sip_lint->parsed()) return run_sip_lint(sip_file, json);
    if (siprec_inspect->parsed()) return run_siprec_inspect(siprec_file);
    if (jobs_list->parsed()) return run_jobs_list(env, jobs_state, json);
    if (calls_show->parsed()) return run_calls_show(env, show_call_id, json);
    if (calls_list->parsed()) return run_calls_list(env, calls_query, json);
    for (auto [cmd, name] : {std::pair{a_import, "import"},
                             {a_show, "show"},
                             {a_cat, "cat"},
                             {a_hold, "hold"},
                             {a_release, "release"},
                             {a_extend, "extend"},
                             {a_dispose, "dispose"},
                             {a_expired, "dispose-expired"},
                             {a_delete, "delete"},
                             {a_rotate, "rotate-key"},
                             {a_head, "sign-head"},
                             {a_rekey, "replace-signing-key"},
                             {a_edit, "edit-metadata"},
                             {a_history, "history"}}) {
      if (cmd->parsed()) {
        aa.action = name;
        return run_archive(env, aa);
      }
    }
  } catch (const std::exception& e) {
    return fail(kExitUsage, std::string("internal error: ") + e.what());
  }
  return kExitUsage;
}
