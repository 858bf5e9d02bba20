// `verbatim serve --roles ...`: the server roles in one process on one io_context — the admin
// REST API, the background archive verifier, the recorder and the gateway — with their options
// from the configuration, signals (the first drains the recorder, a second stops at once) and
// the policy refresh that brings other processes' changes in.
#include <sodium.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "adminapi/router.h"
#include "adminapi/server.h"
#include "app/cli.h"
#include "archive/verify_loop.h"
#include "common/data_paths.h"
#include "common/exit_codes.h"
#include "common/strings.h"
#include "gateway/call_log.h"
#include "gateway/gateway.h"
#include "jobs/queue.h"
#include "reconcile/reconciler.h"
#include "recorder/playback_jobs.h"
#include "recorder/recorder.h"
#include "recorder/redact_jobs.h"
#include "recorder/transcribe_jobs.h"
#include "saved/watcher.h"
#include "sip/tls.h"
#include "siprec/gateway_context.h"

namespace verbatim::cli {
namespace {

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
  o.business_headers = c.recorder_business_headers;
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
  o.meeting_chimes = c.gateway_meeting_chimes;
  o.conference_factory = c.gateway_conference_factory;
  o.dns.servers = c.gateway_dns_servers;
  o.voicemail_uri = c.gateway_voicemail_uri;
  o.health_interval = std::chrono::milliseconds(c.gateway_health_check_interval_ms);
  o.require_srtp = c.gateway_require_srtp;
  o.recorder_srtp = c.gateway_recorder_srtp;
  o.emergency_numbers = c.gateway_emergency_numbers;
  for (const auto& d : c.gateway_dial_in) {
    o.dial_in.push_back({d.number, d.language, d.secondary_languages});
  }
  o.business_headers = c.gateway_business_headers;
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
  o.control_db = DataPaths(c.data_dir).call_control_db();
  o.meetings_db = DataPaths(c.data_dir).meetings_db();
  o.max_pause = std::chrono::seconds(c.gateway_max_pause_seconds);
  return o;
}

// The gateway's call records in the data directory, opened when first needed.
OpenCallRecords call_records_of(const DataPaths& paths) {
  return [paths]() -> Result<std::unique_ptr<CallRecords>> {
    auto log = gateway::CallLog::open_existing(paths.calls_db(), paths.calls_jsonl());
    if (!log) return log.error();
    return std::unique_ptr<CallRecords>(std::move(log).value());
  };
}

// Missed recordings (reconcile/reconciler.h): this gateway's call records against the archive in
// the same data directory, on a thread of its own.
Result<std::unique_ptr<reconcile::Reconciler>> start_reconciler(const Env& env) {
  const DataPaths paths(env.config.data_dir);
  reconcile::ReconcilerOptions o;
  o.call_records = call_records_of(paths);
  o.archive_db = paths.archive_db();
  o.store = paths.missed_db();
  o.after = std::chrono::seconds(env.config.gateway_missed_recording_after_s);
  o.webhook.url = env.config.gateway_missed_recording_webhook;
  auto r = reconcile::Reconciler::start(o);
  if (!r) return make_error(r.error().code, "gateway.missed_recording_*: " + r.error().message);
  return r;
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
  std::vector<std::string> web_origins;  // where the web client is served from (WebSocket origin)
  // The web client's WebSocket port, known once the gateway listens (read by the HTTP server's
  // threads): 0 none, negative plain ws.
  auto client_port = std::make_shared<std::atomic<int>>(0);
  boost::asio::steady_timer timer(io);
  std::function<void()> tick;
  if (wanted.count("admin-api") || wanted.count("gateway")) {
    auto opened = open_service(env);
    if (!opened) return fail(kExitUsage, opened.error().message);
    svc = std::move(opened).value();
  }
  std::unique_ptr<archive::Archive> recorder_archive;  // the recorder's, when it runs here
  std::unique_ptr<archive::Archive> shared_archive;    // the admin API's, when it does not
  std::unique_ptr<saved::Watcher> watcher;             // saved searches (with the admin API)
  if (wanted.count("admin-api")) {
    const std::filesystem::path data(env.config.data_dir);
    adminapi::RouterOptions ro;
    ro.client = [client_port] {
      const int port = client_port->load();
      return port == 0 ? nlohmann::json()
                       : nlohmann::json{{"webSocketPort", std::abs(port)}, {"secure", port > 0}};
    };
    const DataPaths paths(env.config.data_dir);
    ro.call_records = call_records_of(paths);
    ro.import_dir = paths.import_dir();
    ro.work_dir = paths.work_dir();
    ro.phonetic_dictionary = env.config.recorder_transcription_model + "/cmudict-en-us.dict";
    ro.missed_db = paths.missed_db();
    // The archive for the recordings routes: the recorder's in this process (one thread: the
    // loop), else opened beside whichever recorder writes it, on the first request that needs
    // it, and kept.
    ro.archive = [&env, &recorder_archive,
                  &shared_archive](const std::function<Status(archive::Archive&)>& use) -> Status {
      if (recorder_archive) return use(*recorder_archive);
      if (!shared_archive) {
        if (!std::filesystem::exists(DataPaths(env.config.data_dir).archive_db())) {
          return make_error(ErrorCode::kNotFound, "there is no archive in " + env.config.data_dir);
        }
        auto opened = open_archive(env, "admin-api", "", ArchiveAccess::kShared);
        if (!opened) return opened.error();
        shared_archive = std::move(opened).value();
      }
      return use(*shared_archive);
    };
    ro.searches_db = paths.searches_db();
    ro.cases_db = paths.cases_db();
    ro.jobs_db = paths.jobs_db();
    ro.data_dir = env.config.data_dir;
    // Case exports run on a worker thread with a view of the archive of their own.
    ro.open_archive = [&env]() -> Result<std::unique_ptr<archive::Archive>> {
      if (!std::filesystem::exists(DataPaths(env.config.data_dir).archive_db())) {
        return make_error(ErrorCode::kNotFound, "there is no archive in " + env.config.data_dir);
      }
      return open_archive(env, "case-exports", "", ArchiveAccess::kShared);
    };
    // The portal: the front end this build made (web/ -> share/portal), unless configured.
    ro.web_root =
        env.config.portal_web_root.empty() ? VERBATIM_BUILT_PORTAL : env.config.portal_web_root;
    if (!std::filesystem::exists(std::filesystem::path(ro.web_root) / "index.html")) {
      if (!env.config.portal_web_root.empty()) {
        return fail(kExitUsage, "portal.web_root: no index.html in " + ro.web_root);
      }
      spdlog::warn("portal: no front end at {} (build the `portal` target); serving the API only",
                   ro.web_root);
      ro.web_root.clear();
    }
    ro.session_limits = {std::chrono::minutes(env.config.portal_idle_minutes),
                         std::chrono::hours(env.config.portal_absolute_hours),
                         std::chrono::minutes(env.config.portal_reauth_minutes)};
    ro.original_roles.clear();  // as configured (default: compliance-officer)
    for (const auto& [key, names, roles] :
         {std::tuple("portal.cosign_roles", &env.config.portal_cosign_roles, &ro.cosign_roles),
          std::tuple("portal.playback_reason_roles", &env.config.portal_reason_roles,
                     &ro.reason_roles),
          std::tuple("portal.original_roles", &env.config.portal_original_roles,
                     &ro.original_roles)}) {
      for (const auto& name : *names) {
        auto role = policy::role_from_name(name);
        if (!role) {
          return fail(kExitUsage, std::string(key) + ": unknown role '" + name +
                                      "' (roles: " + policy::role_names() + ")");
        }
        roles->push_back(*role);
      }
    }
    router = std::make_unique<adminapi::Router>(*svc, ro);
    // Saved searches run beside the API that manages them, on their own thread with their own
    // view of the archive.
    saved::WatcherOptions wo;
    wo.store = paths.searches_db();
    wo.dictionary = ro.phonetic_dictionary;
    wo.open_archive = [&env]() -> Result<std::unique_ptr<archive::Archive>> {
      if (!std::filesystem::exists(DataPaths(env.config.data_dir).archive_db())) {
        return make_error(ErrorCode::kNotFound, "no archive yet");
      }
      return open_archive(env, "saved-searches", "", ArchiveAccess::kShared);
    };
    auto w = saved::Watcher::start(wo);
    if (!w) return fail(kExitUsage, "saved searches: " + w.error().message);
    watcher = std::move(w).value();
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
    const std::string scheme = https ? "https" : "http";
    const std::string port = std::to_string(ep.value().port());
    const std::string origin =
        scheme + "://" + (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + port;
    std::cout << "admin-api listening on " << origin << std::endl;
    web_origins.push_back(origin);
    if (a.is_loopback()) web_origins.push_back(scheme + "://localhost:" + port);
    if (!ro.web_root.empty() && !https) {
      spdlog::warn(
          "portal: served over plain HTTP; browsers keep its session cookie only on "
          "localhost (set admin_api.tls = true)");
    }
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
  std::unique_ptr<archive::VerifyLoop> verify;
  if (wanted.count("archive-verify")) {
    archive::ArchiveOptions options = archive_options(env, "");
    if (auto st = use_configured_store(env, options, false); !st) {
      return fail(kExitFinding, st.error().message);
    }
    verify = std::make_unique<archive::VerifyLoop>(
        io, options, env.clock, env.config.archive_verify_rate_mb_s,
        std::chrono::seconds(env.config.archive_verify_interval_s),
        DataPaths(env.config.data_dir).verify_status());
    verify->start();
    std::cout << "archive-verify running" << std::endl;
  }
  std::unique_ptr<jobs::JobQueue> job_queue;
  std::unique_ptr<recorder::Transcriber> transcriber;
  std::vector<std::unique_ptr<recorder::JobWorker>> workers;
  std::unique_ptr<recorder::Recorder> rec;
  if (wanted.count("recorder")) {
    auto opened = open_archive(env, "recorder", "", ArchiveAccess::kWriter);
    if (!opened) return fail(kExitUsage, opened.error().message);
    recorder_archive = std::move(opened).value();
    auto options = recorder_options(env);
    // The jobs after each call (job_worker.h): one worker per kind.
    archive::Archive& ar = *recorder_archive;
    if (env.config.recorder_playback || env.config.recorder_transcription != "none") {
      auto q = jobs::JobQueue::open(DataPaths(env.config.data_dir).jobs_db(), env.clock);
      if (!q) return fail(kExitUsage, q.error().message);
      job_queue = std::move(q).value();
    }
    if (env.config.recorder_playback) {
      // One per spare core by default: the live path keeps its core, and idle-class workers
      // only take what is left anyway.
      int n = env.config.recorder_playback_workers;
      if (n == 0) n = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) - 1);
      for (int i = 0; i < n; ++i) {
        workers.push_back(std::make_unique<recorder::JobWorker>(
            io, *job_queue, recorder::kPlaybackJob,
            [&ar](recorder::JobWorker& w, const jobs::Job& j) {
              return recorder::run_playback_job(w, ar, j);
            }));
      }
      spdlog::info("playback: {} worker(s)", n);
      // Redactions the portal asks for (redact_jobs.h): new versions of the playback files.
      workers.push_back(std::make_unique<recorder::JobWorker>(
          io, *job_queue, jobs::kRedactJob,
          [&ar, q = job_queue.get()](recorder::JobWorker& w, const jobs::Job& j) {
            return recorder::run_redact_job(w, ar, *q, j);
          }));
    }
    if (env.config.recorder_transcription == "pocketsphinx") {
      auto engine = transcribe::make_pocketsphinx(
          {env.config.recorder_transcription_model, env.config.recorder_transcription_phones});
      if (!engine) {
        return fail(kExitUsage, "recorder.transcription: " + engine.error().message +
                                    " (recorder.transcription = \"none\" runs without)");
      }
      spdlog::info("transcription: {} {} ({})", engine.value()->info().name,
                   engine.value()->info().version, engine.value()->info().model);
      std::unique_ptr<transcribe::SentimentScorer> sentiment;
      if (env.config.recorder_sentiment == "vader") {
        const std::string dir = env.config.recorder_sentiment_lexicon.empty()
                                    ? transcribe::SentimentScorer::built_lexicon_dir()
                                    : env.config.recorder_sentiment_lexicon;
        auto s = transcribe::SentimentScorer::load(dir);
        if (!s) {
          return fail(kExitUsage, "recorder.sentiment: " + s.error().message +
                                      " (recorder.sentiment = \"none\" runs without)");
        }
        sentiment = std::move(s).value();
        spdlog::info("sentiment: {} ({}, {} words)", sentiment->info().version,
                     sentiment->info().lexicon.substr(0, 19), sentiment->words());
      }
      transcriber =
          std::make_unique<recorder::Transcriber>(std::move(engine).value(), std::move(sentiment));
      workers.push_back(std::make_unique<recorder::JobWorker>(
          io, *job_queue, recorder::kTranscribeJob,
          [&ar, t = transcriber.get()](recorder::JobWorker& w, const jobs::Job& j) {
            return t->run(w, ar, j);
          }));
    }
    if (!workers.empty()) {
      auto n = job_queue->recover();
      if (!n) return fail(kExitUsage, n.error().message);
      if (n.value() > 0) spdlog::info("jobs: {} job(s) resumed from before the restart", n.value());
      for (auto& w : workers) {
        // Redactions are asked for by the API, not made for every recording.
        if (w->kind() != jobs::kRedactJob &&
            std::find(options.job_kinds.begin(), options.job_kinds.end(), w->kind()) ==
                options.job_kinds.end())
          options.job_kinds.push_back(w->kind());
        w->start();
      }
      options.jobs = job_queue.get();
      options.jobs_ready = [&workers] {
        for (auto& w : workers) w->wake();
      };
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
  std::unique_ptr<reconcile::Reconciler> reconciler;
  if (wanted.count("gateway")) {
    auto options = gateway_options(env);
    if (env.config.gateway_missed_recording_after_s > 0) {
      auto r = start_reconciler(env);
      if (!r) return fail(kExitUsage, r.error().message);
      reconciler = std::move(r).value();
      options.extra_totals = [p = reconciler.get()] { return p->totals(); };
    }
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
      if (!env.config.gateway_wss_listen.empty()) {
        // Browsers are never asked for a certificate: they sign in with digest over it.
        auto wss = tls_context(env, "none");
        if (!wss) return fail(kExitUsage, "tls: " + wss.error().message);
        options.wss_tls = wss.value();
      }
    } else if (!env.config.gateway_tls_listen.empty() || !env.config.gateway_wss_listen.empty()) {
      return fail(kExitUsage,
                  std::string(env.config.gateway_tls_listen.empty() ? "gateway.wss_listen"
                                                                    : "gateway.tls_listen") +
                      " needs tls.certificate and tls.private_key "
                      "(`verbatim tls init` makes a private CA and a certificate)");
    }
    options.wss_listen = env.config.gateway_wss_listen;
    options.ws_listen = env.config.gateway_ws_listen;
    options.ws_allowed_origins = env.config.gateway_ws_allowed_origins.empty()
                                     ? web_origins
                                     : env.config.gateway_ws_allowed_origins;
    if (!options.ws_listen.empty() && options.ws_listen.rfind("127.", 0) != 0 &&
        options.ws_listen.rfind("[::1]", 0) != 0) {
      spdlog::warn(
          "gateway.ws_listen {} is plain WebSocket off loopback: put a proxy that terminates TLS "
          "in front, or use gateway.wss_listen",
          options.ws_listen);
    }
    if (!env.config.gateway_trunk_password_file.empty()) {
      auto pw = read_secret_file(env.config.gateway_trunk_password_file);
      if (!pw) return fail(kExitUsage, "gateway.trunk_password_file: " + pw.error().message);
      options.trunk_password = pw.value();
    }
    gw = std::make_unique<gateway::Gateway>(io, *svc, options);
    auto local = gw->start();
    if (!local) return fail(kExitUsage, "gateway: " + local.error().message);
    if (const std::string ws = gw->wss_local().empty() ? gw->ws_local() : gw->wss_local();
        !ws.empty()) {
      const int port = std::stoi(ws.substr(ws.rfind(':') + 1));
      client_port->store(gw->wss_local().empty() ? -port : port);
    }
    std::cout << "gateway listening on sip:" << local.value() << " (UDP, TCP)"
              << (gw->tls_local().empty() ? "" : ", sips:" + gw->tls_local() + " (TLS)")
              << (gw->wss_local().empty() ? "" : ", wss://" + gw->wss_local() + " (browsers)")
              << (gw->ws_local().empty() ? "" : ", ws://" + gw->ws_local() + " (browsers)")
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
  // A job worker may be waiting for the loop: it gives its job back (resumed on the next start)
  // once it sees the loop gone.
  for (auto& w : workers) w->stop();
  return kExitOk;
}

}  // namespace

void add_serve_command(CLI::App& app, Commands& commands) {
  struct Args {
    std::string roles = "admin-api", listen;
  };
  auto a = std::make_shared<Args>();
  auto* serve = app.add_subcommand("serve", "run server roles");
  serve->add_option("--roles", a->roles,
                    "comma-separated roles (admin-api, archive-verify, recorder, gateway)");
  serve->add_option("--http-listen", a->listen, "admin API address host:port (port 0: any free)");
  commands.on(serve, [a](Env& env) { return run_serve(env, a->roles, a->listen); });
}

}  // namespace verbatim::cli
