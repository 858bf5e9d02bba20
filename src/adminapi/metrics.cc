// Hand-written exposition: the format is a few lines of text per metric, and Debian has no
// packaged C++ Prometheus client (prometheus-cpp is not in bookworm).
#include "adminapi/metrics.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/clock.h"

namespace verbatim::adminapi {

using nlohmann::json;

namespace {

// "recordingAnswered" -> "recording_answered".
std::string snake(std::string_view camel) {
  std::string out;
  for (char c : camel) {
    if (std::isupper(static_cast<unsigned char>(c))) {
      if (!out.empty()) out += '_';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (std::isalnum(static_cast<unsigned char>(c))) {
      out += c;
    } else {
      out += '_';
    }
  }
  return out;
}

std::string label_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

class Exposition {
 public:
  // One family: HELP and TYPE once, then its samples.
  void family(const std::string& name, const char* type, const std::string& help) {
    out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  }
  void sample(const std::string& name, double v, const std::string& labels = "") {
    out_ << name;
    if (!labels.empty()) out_ << '{' << labels << '}';
    out_ << ' ' << v << '\n';
  }
  void one(const std::string& name, const char* type, const std::string& help, double v) {
    family(name, type, help);
    sample(name, v);
  }
  std::string str() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

bool is_counter(const std::string& key) {
  // Totals only grow; the rest are levels.
  static constexpr std::string_view kGauges[] = {
      "sessionsActive", "streamsActive",  "maxSessions",  "portsFree",
      "draining",       "s3SpoolObjects", "s3SpoolBytes", "s3StoreUp"};
  for (auto g : kGauges) {
    if (key == g) return false;
  }
  return true;
}

void role_status(Exposition& e, const std::string& role, const std::string& path,
                 std::chrono::system_clock::time_point now) {
  const std::string prefix = "verbatim_" + role + "_";
  const double age = status_age_seconds(path, now);
  e.one(prefix + "up", "gauge",
        "1 when this data directory has a status file of the " + role +
            " (written every second while it runs)",
        age >= 0 ? 1 : 0);
  if (age < 0) return;
  e.one(prefix + "status_age_seconds", "gauge",
        "seconds since the " + role + " last wrote its status (a stopped role grows old)", age);
}

}  // namespace

std::optional<json> read_status_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

double status_age_seconds(const std::string& path, std::chrono::system_clock::time_point now) {
  std::error_code ec;
  const auto t = std::filesystem::last_write_time(path, ec);
  if (ec) return -1;
  const auto sys = std::chrono::file_clock::to_sys(t);
  return std::chrono::duration<double>(now - sys).count();
}

std::string prometheus_metrics(const DataPaths& paths, std::chrono::system_clock::time_point now) {
  Exposition e;

  // The gateway: calls, recording invitations and their outcomes, recorder endpoints' health,
  // missed recordings (its reconciler's totals).
  role_status(e, "gateway", paths.gateway_status(), now);
  if (auto g = read_status_file(paths.gateway_status())) {
    e.one("verbatim_gateway_calls_active", "gauge", "calls in progress", g->value("calls", 0.0));
    e.one("verbatim_gateway_registered_users", "gauge", "users with a registered phone",
          g->value("registeredUsers", 0.0));
    e.one("verbatim_gateway_media_ports_free", "gauge", "RTP ports free for new calls",
          g->value("mediaPortsFree", 0.0));
    if (g->contains("recorderEndpoints") && (*g)["recorderEndpoints"].is_object()) {
      e.family("verbatim_gateway_recorder_endpoint_up", "gauge",
               "1 while the recorder endpoint answers the gateway's OPTIONS health checks");
      for (const auto& [uri, h] : (*g)["recorderEndpoints"].items()) {
        e.sample("verbatim_gateway_recorder_endpoint_up", h.value("up", false) ? 1 : 0,
                 "endpoint=\"" + label_value(uri) + "\"");
      }
    }
    if (g->contains("totals") && (*g)["totals"].is_object()) {
      for (const auto& [k, v] : (*g)["totals"].items()) {
        if (!v.is_number()) continue;
        if (k == "alertWebhooksPending") {  // a level, not a total
          e.one("verbatim_gateway_alert_webhooks_pending", "gauge",
                "missed-recording alerts whose webhook is not delivered yet", v.get<double>());
          continue;
        }
        e.one("verbatim_gateway_" + snake(k) + "_total", "counter",
              "the gateway's total of " + k + " (since it started; missed recordings: ever)",
              v.get<double>());
      }
    }
  }

  // The recorder: sessions, streams, packets and loss, refusals, the playback job backlog.
  role_status(e, "recorder", paths.recorder_status(), now);
  if (auto r = read_status_file(paths.recorder_status())) {
    for (const auto& [k, v] : r->items()) {
      if (!v.is_number() && !v.is_boolean()) continue;
      const bool counter = is_counter(k);
      const std::string name = "verbatim_recorder_" + snake(k) + (counter ? "_total" : "");
      e.one(name, counter ? "counter" : "gauge", "the recorder's " + k,
            v.is_boolean() ? (v.get<bool>() ? 1 : 0) : v.get<double>());
    }
    if (r->contains("refused") && (*r)["refused"].is_object()) {
      e.family("verbatim_recorder_refused_total", "counter",
               "recording sessions the recorder refused, by reason");
      for (const auto& [reason, n] : (*r)["refused"].items()) {
        if (n.is_number()) {
          e.sample("verbatim_recorder_refused_total", n.get<double>(),
                   "reason=\"" + label_value(reason) + "\"");
        }
      }
    }
    if (r->contains("playbackJobs") && (*r)["playbackJobs"].is_object()) {
      e.family("verbatim_jobs", "gauge",
               "the durable job queue (playback, transcription), by state");
      for (const auto& [state, n] : (*r)["playbackJobs"].items()) {
        if (n.is_number())
          e.sample("verbatim_jobs", n.get<double>(), "state=\"" + label_value(state) + "\"");
      }
    }
  }

  // The archive's background verification.
  if (auto v = read_status_file(paths.verify_status())) {
    e.one("verbatim_archive_verify_passes_total", "counter", "complete verification passes",
          v->value("passesCompleted", 0.0));
    e.one("verbatim_archive_verify_percent", "gauge", "progress of the current pass (0-100)",
          v->value("percent", 0.0));
    e.one("verbatim_archive_ledger_entries", "gauge", "entries in the archive's ledger",
          v->value("ledgerEntries", 0.0));
    e.one("verbatim_archive_objects", "gauge", "objects in the archive",
          v->value("objectsTotal", 0.0));
    e.one("verbatim_archive_bytes", "gauge", "bytes of objects in the archive",
          v->value("bytesTotal", 0.0));
    const double findings = static_cast<double>(v->value("findings", json::array()).size() +
                                                v->value("lastPassFindings", json::array()).size());
    e.one("verbatim_archive_verify_findings", "gauge",
          "findings of the current and last verification pass (anything above 0 is tampering or "
          "damage: see `verbatim verify --status`)",
          findings);
    const std::string last = v->value("lastPassFinished", "");
    if (auto t = parse_iso8601(last)) {
      e.one("verbatim_archive_verify_last_pass_timestamp_seconds", "gauge",
            "when the last complete verification pass finished (Unix time)",
            std::chrono::duration<double>(t->time_since_epoch()).count());
    }
  }
  return e.str();
}

}  // namespace verbatim::adminapi
