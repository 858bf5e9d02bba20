// `verbatim config show`, `verbatim tls init` and the troubleshooting tools: `sip lint` (is a
// captured message valid?) and `siprec inspect` (what a SIPREC request asks to record).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "app/cli.h"
#include "common/data_paths.h"
#include "common/exit_codes.h"
#include "common/strings.h"
#include "sip/lint.h"
#include "sip/tls.h"
#include "siprec/inspect.h"

namespace verbatim::cli {
namespace {

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

int run_siprec_inspect(const std::string& file) {
  auto bytes = read_message_input(file);
  if (!bytes) return kExitUsage;
  const auto report = siprec::inspect(*bytes);
  // Captures carry anything: bytes that are not UTF-8 are printed as U+FFFD.
  std::cout << report.to_json().dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
            << "\n";
  return report.valid() ? kExitOk : kExitFinding;
}

}  // namespace

void add_tool_commands(CLI::App& app, Commands& commands) {
  auto* config = app.add_subcommand("config", "configuration");
  config->require_subcommand(1);
  auto* show = config->add_subcommand("show", "print the effective configuration");
  commands.on(show, [](Env& env) {
    std::cout << config_to_toml(env.config);
    return kExitOk;
  });

  struct TlsArgs {
    std::string dir;
    std::vector<std::string> names, ips;
    int days = 825;
  };
  auto t = std::make_shared<TlsArgs>();
  auto* tls = app.add_subcommand("tls", "certificates for SIP over TLS and HTTPS");
  tls->require_subcommand(1);
  auto* init = tls->add_subcommand(
      "init", "a private CA and a certificate for this host (gateway, recorder, REST API)");
  init->add_option("--dir", t->dir, "where to write them (default <data-dir>/tls)");
  init->add_option("--name", t->names, "DNS names (default: localhost and this host's name)");
  init->add_option("--ip", t->ips, "IP addresses (default 127.0.0.1 and ::1)");
  init->add_option("--days", t->days, "validity of the certificate (default 825)");
  commands.on(init, [t](Env& env) { return run_tls_init(env, t->dir, t->names, t->ips, t->days); });

  struct InputArgs {
    std::string sip_file = "-", siprec_file = "-";
    bool json = false;
  };
  auto in = std::make_shared<InputArgs>();
  auto* sip = app.add_subcommand("sip", "SIP troubleshooting tools");
  sip->require_subcommand(1);
  auto* lint = sip->add_subcommand(
      "lint", "is a captured SIP message valid? (exit 0 valid, 1 invalid, 2 unreadable)");
  lint->add_option("file", in->sip_file, "the message (CRLF or LF line ends); - for stdin");
  lint->add_flag("--json", in->json, "print the verdict and the parsed message as JSON");
  commands.on(lint, [in](Env&) { return run_sip_lint(in->sip_file, in->json); });
  auto* siprec = app.add_subcommand("siprec", "SIPREC troubleshooting tools");
  siprec->require_subcommand(1);
  auto* inspect = siprec->add_subcommand(
      "inspect",
      "what a captured SIPREC INVITE/re-INVITE/UPDATE (or its multipart body) asks to record, as "
      "JSON (exit 0 usable, 1 problems, 2 unreadable)");
  inspect->add_option("file", in->siprec_file, "the request or body; - for stdin");
  commands.on(inspect, [in](Env&) { return run_siprec_inspect(in->siprec_file); });
}

}  // namespace verbatim::cli
