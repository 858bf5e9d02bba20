#include "gateway/call_log.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/strings.h"

namespace verbatim::gateway {

namespace {

constexpr const char* kMigrations[] = {
    // 1: one row per ended call; the record as written, the columns queries use.
    R"sql(
    CREATE TABLE calls (
      seq     INTEGER PRIMARY KEY AUTOINCREMENT,
      call_id TEXT NOT NULL,
      start   TEXT NOT NULL,
      parties TEXT NOT NULL,  -- lower case: each party's aor, user, number and name
      record  TEXT NOT NULL   -- the JSON record
    );
    CREATE INDEX calls_by_call_id ON calls(call_id);
    CREATE INDEX calls_by_start ON calls(start);
    )sql",
};

std::string parties_of(const nlohmann::json& j) {
  std::string out;
  for (const char* side : {"caller", "callee"}) {
    if (!j.contains(side) || !j[side].is_object()) continue;
    for (const char* k : {"aor", "user", "number", "display"}) {
      const auto& p = j[side];
      if (p.contains(k) && p[k].is_string()) out += to_lower(p[k].get<std::string>()) + "\n";
    }
  }
  return out;
}

// LIKE with the user's text taken literally.
std::string like_pattern(std::string_view text) {
  std::string out = "%";
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out + "%";
}

}  // namespace

Status check_query(const CallQuery& q) {
  if (q.limit < 1 || q.limit > 1000) {
    return make_error(ErrorCode::kInvalidArgument, "limit must be between 1 and 1000");
  }
  // YYYY-MM-DD, optionally followed by a time: compared as text with the records' start.
  const auto& s = q.since;
  if (!s.empty() &&
      (s.size() < 10 || s[4] != '-' || s[7] != '-' ||
       !std::all_of(s.begin(), s.begin() + 4, [](char c) { return std::isdigit(c); }))) {
    return make_error(ErrorCode::kInvalidArgument,
                      "since must be an ISO 8601 date or time (2026-11-27 or "
                      "2026-11-27T09:30:00Z), got \"" +
                          s + "\"");
  }
  return ok_status();
}

Result<std::unique_ptr<CallLog>> CallLog::open(const std::string& db_path,
                                               const std::string& legacy_jsonl) {
  std::error_code ec;
  const bool fresh = !std::filesystem::exists(db_path, ec);
  auto db = SqliteDb::open(db_path);
  if (!db) return db.error();
  VB_TRY(db.value()->migrate(kMigrations, "call records database"));
  std::unique_ptr<CallLog> log(new CallLog(std::move(db).value()));
  if (fresh && !legacy_jsonl.empty() && std::filesystem::exists(legacy_jsonl, ec)) {
    // Records from before the database: imported once, in order.
    std::ifstream in(legacy_jsonl);
    VB_TRY(log->db_->exec("BEGIN"));
    for (std::string line; std::getline(in, line);) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object()) {
        if (auto st = log->append(j); !st) {
          (void)log->db_->exec("ROLLBACK");
          return st.error();
        }
      }
    }
    VB_TRY(log->db_->exec("COMMIT"));
  }
  return log;
}

Status CallLog::append(const nlohmann::json& record) {
  SqliteStmt s(*db_, "INSERT INTO calls(call_id, start, parties, record) VALUES(?1, ?2, ?3, ?4)");
  s.bind(1, record.value("callId", ""));
  s.bind(2, record.value("start", ""));
  s.bind(3, parties_of(record));
  s.bind(4, record.dump());
  if (s.step() != kSqliteDone) return db_->error("storing the call record");
  return ok_status();
}

Result<std::vector<nlohmann::json>> CallLog::find_calls(const CallQuery& q) {
  VB_TRY(check_query(q));
  SqliteStmt s(*db_,
               "SELECT record FROM calls WHERE (?1 = '' OR start >= ?1) AND "
               "(?2 = '' OR parties LIKE ?3 ESCAPE '\\') ORDER BY seq DESC LIMIT ?4");
  s.bind(1, q.since);
  s.bind(2, q.party);
  s.bind(3, like_pattern(q.party));
  s.bind(4, static_cast<int64_t>(q.limit));
  std::vector<nlohmann::json> out;
  int rc;
  while ((rc = s.step()) == kSqliteRow) {
    auto j = nlohmann::json::parse(s.text(0), nullptr, false);
    if (j.is_object()) out.push_back(std::move(j));
  }
  if (rc != kSqliteDone) return db_->error("reading call records");
  return out;
}

Result<std::optional<nlohmann::json>> CallLog::find_call(std::string_view call_id) {
  SqliteStmt s(*db_, "SELECT record FROM calls WHERE call_id = ?1 ORDER BY seq DESC LIMIT 1");
  s.bind(1, std::string(call_id));
  const int rc = s.step();
  if (rc == kSqliteRow) {
    auto j = nlohmann::json::parse(s.text(0), nullptr, false);
    if (j.is_object()) return std::optional<nlohmann::json>(std::move(j));
  } else if (rc != kSqliteDone) {
    return db_->error("reading call records");
  }
  return std::optional<nlohmann::json>();
}

Result<int64_t> CallLog::expire(const std::string& before) {
  SqliteStmt s(*db_, "DELETE FROM calls WHERE start < ?1");
  s.bind(1, before);
  if (s.step() != kSqliteDone) return db_->error("expiring call records");
  return db_->changes();
}

// --- the writer ------------------------------------------------------------------------------

Result<std::unique_ptr<CallLogWriter>> CallLogWriter::start(Options options) {
  auto log = CallLog::open(options.db_path, options.jsonl_path);
  if (!log) return log.error();
  return std::unique_ptr<CallLogWriter>(new CallLogWriter(std::move(options), std::move(log).value()));
}

CallLogWriter::CallLogWriter(Options options, std::unique_ptr<CallLog> log)
    : options_(std::move(options)), log_(std::move(log)) {
  thread_ = std::thread([this] { run(); });
}

CallLogWriter::~CallLogWriter() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void CallLogWriter::append(nlohmann::json record) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(record));
  }
  wake_.notify_one();
}

void CallLogWriter::flush() {
  std::unique_lock lock(mutex_);
  drained_.wait(lock, [this] { return queue_.empty() && busy_ == 0; });
}

void CallLogWriter::write_jsonl(const std::string& line) {
  if (options_.jsonl_path.empty()) return;
  std::error_code ec;
  const auto size = std::filesystem::file_size(options_.jsonl_path, ec);
  if (!ec && size + line.size() > options_.jsonl_max_bytes) {
    // Rotation: .3 -> .4, ... , the file -> .1 (at most four old files kept).
    for (int i = 3; i >= 1; --i) {
      std::filesystem::rename(options_.jsonl_path + "." + std::to_string(i),
                              options_.jsonl_path + "." + std::to_string(i + 1), ec);
    }
    std::filesystem::rename(options_.jsonl_path, options_.jsonl_path + ".1", ec);
  }
  std::ofstream out(options_.jsonl_path, std::ios::app);
  out << line << "\n";
  if (!out) spdlog::error("call records: could not append to {}", options_.jsonl_path);
}

void CallLogWriter::run() {
  auto last_expiry = std::chrono::steady_clock::time_point{};
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait_for(lock, std::chrono::hours(1), [this] { return stop_ || !queue_.empty(); });
    std::deque<nlohmann::json> batch;
    batch.swap(queue_);
    busy_ = batch.size();
    const bool stopping = stop_;
    lock.unlock();
    for (auto& record : batch) {
      if (auto st = log_->append(record); !st) {
        spdlog::error("call records: {} (call {})", st.error().message, record.value("callId", ""));
      }
      write_jsonl(record.dump());
    }
    const auto now = std::chrono::steady_clock::now();
    if (options_.keep_days > 0 && now - last_expiry >= std::chrono::hours(1)) {
      last_expiry = now;
      const auto cutoff = format_iso8601(std::chrono::system_clock::now() -
                                         std::chrono::hours(24) * options_.keep_days);
      if (auto n = log_->expire(cutoff); n && n.value() > 0) {
        spdlog::info("call records: {} older than {} days deleted", n.value(), options_.keep_days);
      }
    }
    lock.lock();
    busy_ = 0;
    drained_.notify_all();
    if (stopping && queue_.empty()) return;
  }
}

}  // namespace verbatim::gateway
