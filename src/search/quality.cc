#include "search/quality.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace verbatim::search {

using nlohmann::json;

namespace {

std::vector<QualityRow> sorted(std::map<std::string, QualityRow>& rows) {
  std::vector<QualityRow> out;
  for (auto& [key, row] : rows) {
    row.key = key;
    out.push_back(row);
  }
  std::stable_sort(out.begin(), out.end(), [](const QualityRow& a, const QualityRow& b) {
    return a.recordings > b.recordings;
  });
  return out;
}

}  // namespace

json QualityRow::to_json() const {
  auto percent = [](double part, double whole) {
    return whole > 0 ? json(100.0 * part / whole) : json();
  };
  return {
      {"recordings", recordings},
      {"complete", complete},
      {"partial", partial},
      {"interrupted", interrupted},
      {"completePercent", percent(static_cast<double>(complete), static_cast<double>(recordings))},
      {"streams", streams},
      {"packets", packets},
      {"lossPercent", percent(lost, static_cast<double>(packets) + lost)},
      {"mos", rated ? json({{"average", mos_sum / static_cast<double>(rated)}, {"lowest", mos_min}})
                    : json()},
      {"poorStreams", poor},
      {"jitterMs", jittered ? json(jitter_sum / static_cast<double>(jittered)) : json()}};
}

Result<QualityReport> quality_report(SqliteDb& catalog, int64_t from_ms, int64_t to_ms) {
  // One row per stream (a recording without streams: one row of NULLs).
  SqliteStmt s(catalog,
               "SELECT r.id, COALESCE(i.application_id, ''), COALESCE(i.region, ''), r.status, "
               "json_extract(st.value, '$.packets'), json_extract(st.value, '$.lossRatio'), "
               "json_extract(st.value, '$.mos'), json_extract(st.value, '$.jitterMs') "
               "FROM search_index i JOIN recordings r ON r.id = i.recording_id "
               "LEFT JOIN json_each(r.metadata, '$.streams') st "
               "WHERE i.started_ms >= ?1 AND i.started_ms < ?2 "
               "AND r.status IN ('complete', 'partial', 'interrupted') ORDER BY r.id");
  s.bind(1, from_ms);
  s.bind(2, to_ms);
  std::map<std::string, QualityRow> apps, regions;
  QualityReport out;
  std::string last;
  int rc = 0;
  while ((rc = s.step()) == kSqliteRow) {
    const std::string id = s.text(0), status = s.text(3);
    QualityRow* rows[] = {&apps[s.text(1)], &regions[s.text(2)]};
    const bool first = id != last;
    last = id;
    for (QualityRow* q : rows) {
      if (first) {
        ++q->recordings;
        ++(status == "complete" ? q->complete : status == "partial" ? q->partial : q->interrupted);
      }
      if (s.is_null(4)) continue;
      const int64_t packets = std::max<int64_t>(0, s.int64(4));
      ++q->streams;
      q->packets += packets;
      if (!s.is_null(5)) {
        const double ratio = std::clamp(s.real(5), 0.0, 0.999);
        q->lost += static_cast<double>(packets) * ratio / (1.0 - ratio);
      }
      if (!s.is_null(6)) {
        const double mos = s.real(6);
        q->mos_min = q->rated ? std::min(q->mos_min, mos) : mos;
        q->mos_sum += mos;
        ++q->rated;
        if (mos < kPoorMos) ++q->poor;
      }
      if (!s.is_null(7)) {
        q->jitter_sum += s.real(7);
        ++q->jittered;
      }
    }
    if (first) ++out.recordings;
  }
  if (rc != kSqliteDone) return catalog.error("reading the recordings' quality");
  out.by_application = sorted(apps);
  out.by_region = sorted(regions);
  // Usage per day: every recording started in the window, those in progress too.
  SqliteStmt u(catalog,
               "SELECT strftime('%Y-%m-%d', started_ms / 1000, 'unixepoch') AS day, COUNT(*), "
               "COALESCE(SUM(duration_ms), 0) FROM search_index "
               "WHERE started_ms >= ?1 AND started_ms < ?2 GROUP BY day ORDER BY day");
  u.bind(1, from_ms);
  u.bind(2, to_ms);
  while ((rc = u.step()) == kSqliteRow) {
    out.usage.push_back({u.text(0), u.int64(1), static_cast<double>(u.int64(2)) / 60000.0});
  }
  if (rc != kSqliteDone) return catalog.error("reading the recordings per day");
  return out;
}

}  // namespace verbatim::search
