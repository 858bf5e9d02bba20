// Quality and reliability over time, per recorder application and per site (the recorded user's
// region), from the catalog alone: each finished recording's status and the recorder's brief of
// each stream (packets, loss ratio, MOS estimate, jitter) that it keeps in the catalog metadata
// (recorder_sessions.cc). No evidence is decrypted, so the view costs one indexed range scan of
// the search index by start time. The admin page and GET /api/v1/quality show it.
// Threads and ownership: functions over the caller's catalog connection; its thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "common/sqlite.h"

namespace verbatim::search {

// The figures of one group of recordings (one application, or one region).
struct QualityRow {
  std::string key;  // the application id, or the region ("" for none)
  int64_t recordings = 0, complete = 0, partial = 0, interrupted = 0;
  int64_t streams = 0, packets = 0;
  double lost = 0;    // packets lost (estimated from each stream's loss ratio)
  int64_t rated = 0;  // streams with a MOS estimate
  double mos_sum = 0, mos_min = 0;
  int64_t poor = 0;      // streams rated below kPoorMos
  int64_t jittered = 0;  // streams with a jitter figure
  double jitter_sum = 0;
  nlohmann::json to_json() const;
};

// Below this a stream's quality is poor (ITU-T G.107's "many users dissatisfied" starts at 3.6).
inline constexpr double kPoorMos = 3.6;

// Usage: one day's recordings (UTC, by their start) and the minutes recorded.
struct UsageDay {
  std::string day;  // YYYY-MM-DD
  int64_t recordings = 0;
  double minutes = 0;
};

struct QualityReport {
  std::vector<QualityRow> by_application, by_region;  // most recordings first
  int64_t recordings = 0;
  std::vector<UsageDay> usage;  // the days with recordings, oldest first (ended or not)
};

// The recordings started in [from_ms, to_ms) that have ended (complete, partial, interrupted).
Result<QualityReport> quality_report(SqliteDb& catalog, int64_t from_ms, int64_t to_ms);

}  // namespace verbatim::search
