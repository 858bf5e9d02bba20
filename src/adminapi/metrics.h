// Prometheus metrics (text exposition format 0.0.4) for GET /metrics: what the gateway, the
// recorder and the archive's background verification write to their status files once a second
// or once per pass (<data_dir>/gateway-status.json, recorder-status.json,
// archive/verify-status.json), read when Prometheus scrapes. So one scrape of the admin API
// covers every role that shares its data directory, whichever process runs it; a role that
// stopped shows as a status file growing old (verbatim_<role>_status_age_seconds), which the
// sample rules alert on (share/prometheus/verbatim-alerts.yml). Names and labels carry no
// personal data: counters, gauges, recorder endpoint URIs and refusal reasons only.
// Pure function of the files; any thread.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/data_paths.h"

namespace verbatim::adminapi {

std::string prometheus_metrics(const DataPaths& paths, std::chrono::system_clock::time_point now);

// A role's status file as a JSON object; nullopt when it is missing or not one.
std::optional<nlohmann::json> read_status_file(const std::string& path);
// Seconds since the file was last written; -1 when it does not exist.
double status_age_seconds(const std::string& path, std::chrono::system_clock::time_point now);

}  // namespace verbatim::adminapi
