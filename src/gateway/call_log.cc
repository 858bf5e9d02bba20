#include "gateway/call_log.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>

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

}  // namespace

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

namespace {
constexpr const char* kInsert =
    "INSERT INTO calls(call_id, start, parties, record) VALUES(?1, ?2, ?3, ?4)";
}  // namespace

CallLogEntry CallLogEntry::of(const nlohmann::json& record) {
  return {record.value("callId", ""), record.value("start", ""), party_text(record), record.dump()};
}

Result<std::unique_ptr<CallLog>> CallLog::open_existing(const std::string& db_path,
                                                        const std::string& legacy_jsonl) {
  std::error_code ec;
  if (!std::filesystem::exists(db_path, ec) && !std::filesystem::exists(legacy_jsonl, ec)) {
    return std::unique_ptr<CallLog>();
  }
  return open(db_path, legacy_jsonl);
}

Status CallLog::append(const nlohmann::json& record) {
  SqliteStmt s(*db_, kInsert);
  return insert(s, CallLogEntry::of(record));
}

Status CallLog::insert(SqliteStmt& s, const CallLogEntry& e) {
  s.reset();
  s.bind(1, e.call_id);
  s.bind(2, e.start);
  s.bind(3, e.parties);
  s.bind(4, e.text);
  if (s.step() != kSqliteDone) return db_->error("storing the call record");
  return ok_status();
}

Status CallLog::append_all(const std::deque<CallLogEntry>& records) {
  const bool in_transaction = db_->exec("BEGIN").has_value();
  size_t failed = 0;
  std::string first;
  SqliteStmt s(*db_, kInsert);  // prepared once for the batch
  for (const auto& e : records) {
    if (auto st = insert(s, e); !st) {
      if (failed++ == 0) first = st.error().message + " (call " + e.call_id + ")";
    }
  }
  if (in_transaction) {
    if (auto st = db_->exec("COMMIT"); !st) {
      (void)db_->exec("ROLLBACK");
      return make_error(st.error().code, "storing " + std::to_string(records.size()) +
                                             " call records: " + st.error().message);
    }
  }
  if (failed > 0) {
    return make_error(ErrorCode::kIo, std::to_string(failed) + " of " +
                                          std::to_string(records.size()) +
                                          " call records not stored: " + first);
  }
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

Result<std::vector<std::pair<int64_t, nlohmann::json>>> CallLog::calls_after(int64_t seq,
                                                                             size_t limit) {
  SqliteStmt s(*db_, "SELECT seq, record FROM calls WHERE seq > ?1 ORDER BY seq LIMIT ?2");
  s.bind(1, seq);
  s.bind(2, static_cast<int64_t>(limit));
  std::vector<std::pair<int64_t, nlohmann::json>> out;
  int rc;
  while ((rc = s.step()) == kSqliteRow) {
    auto j = nlohmann::json::parse(s.text(1), nullptr, false);
    out.emplace_back(s.int64(0), j.is_object() ? std::move(j) : nlohmann::json::object());
  }
  if (rc != kSqliteDone) return db_->error("reading call records");
  return out;
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
  return std::unique_ptr<CallLogWriter>(
      new CallLogWriter(std::move(options), std::move(log).value()));
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

namespace {
// Group commit: the writer gathers records for up to kGather (or until kBatch are queued) and
// stores them in one transaction, so the disk is synced a few times a second, not once per
// call; a call record is at most that late in `calls list`.
constexpr auto kGather = std::chrono::milliseconds(200);
constexpr size_t kBatch = 512;
}  // namespace

void CallLogWriter::append(const nlohmann::json& record) {
  auto entry = CallLogEntry::of(record);
  size_t queued;
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(entry));
    queued = queue_.size();
  }
  // Only the first record of a batch (and a full batch) wakes the writer: the SIP thread does
  // not pay a wake-up per call.
  if (queued == 1 || queued == kBatch) wake_.notify_one();
}

void CallLogWriter::flush() {
  std::unique_lock lock(mutex_);
  ++flushing_;
  wake_.notify_one();
  drained_.wait(lock, [this] { return queue_.empty() && busy_ == 0; });
  --flushing_;
}

void CallLogWriter::write_jsonl(const std::deque<CallLogEntry>& entries) {
  if (options_.jsonl_path.empty()) return;
  for (const auto& e : entries) {
    const std::string& line = e.text;
    if (!jsonl_.is_open()) {
      std::error_code ec;
      const auto size = std::filesystem::file_size(options_.jsonl_path, ec);
      jsonl_size_ = ec ? 0 : size;
      jsonl_.clear();
      jsonl_.open(options_.jsonl_path, std::ios::app);
    }
    if (jsonl_size_ > 0 && jsonl_size_ + line.size() + 1 > options_.jsonl_max_bytes) {
      // Rotation: .3 -> .4, ... , the file -> .1 (at most four old files kept).
      jsonl_.close();
      std::error_code ec;
      for (int i = 3; i >= 1; --i) {
        std::filesystem::rename(options_.jsonl_path + "." + std::to_string(i),
                                options_.jsonl_path + "." + std::to_string(i + 1), ec);
      }
      std::filesystem::rename(options_.jsonl_path, options_.jsonl_path + ".1", ec);
      jsonl_.clear();
      jsonl_.open(options_.jsonl_path, std::ios::app);
      jsonl_size_ = 0;
    }
    jsonl_ << line << '\n';
    jsonl_size_ += line.size() + 1;
  }
  jsonl_.flush();
  if (!jsonl_) {
    spdlog::error("call records: could not append to {}", options_.jsonl_path);
    jsonl_.close();  // reopened (and its size read again) for the next records
  }
}

void CallLogWriter::run() {
  // None yet: the first batch expires (not "an hour after the clock's zero", which on a host
  // up for less than an hour is never at start).
  std::optional<std::chrono::steady_clock::time_point> last_expiry;
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait_for(lock, std::chrono::hours(1), [this] { return stop_ || !queue_.empty(); });
    wake_.wait_for(lock, kGather,
                   [this] { return stop_ || flushing_ > 0 || queue_.size() >= kBatch; });
    std::deque<CallLogEntry> batch;
    batch.swap(queue_);
    busy_ = batch.size();
    const bool stopping = stop_;
    lock.unlock();
    if (!batch.empty()) {
      // One transaction per batch: at a high call rate the batches grow and the disk is
      // synced once per batch, not once per call.
      if (auto st = log_->append_all(batch); !st) {
        spdlog::error("call records: {}", st.error().message);
      }
      write_jsonl(batch);
    }
    const auto now = std::chrono::steady_clock::now();
    if (options_.keep_days > 0 && (!last_expiry || now - *last_expiry >= std::chrono::hours(1))) {
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
