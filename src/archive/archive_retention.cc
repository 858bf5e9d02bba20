// The archive's retention, legal holds and disposal: each decided on what the ledger proves
// (ledger_facts), never on catalog columns alone; deletion of objects is always refused.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "archive/archive.h"
#include "archive/archive_detail.h"
#include "archive/catalog_index.h"
#include "archive/schema.h"

namespace verbatim::archive {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace detail;  // NOLINT(google-build-using-namespace)

Status Archive::extend_retention(const std::string& recording_id, const std::string& until,
                                 const std::string& who) {
  VB_TRY(writable());
  auto r = recording(recording_id);
  if (!r) return r.error();
  if (until.size() != 20 || until[10] != 'T' || until.back() != 'Z') {
    return make_error(ErrorCode::kInvalidArgument,
                      "retention must be an ISO 8601 UTC time like 2033-01-31T00:00:00Z");
  }
  if (until == r.value().retention_until) {
    // Already so in the catalog: only make sure the object store holds it too (a retry after the
    // store was out of reach).
    return mirror_to_store(
        recording_id, [&](const std::string& key) { return store_->extend_retention(key, until); });
  }
  if (until <= r.value().retention_until) {
    return refuse("retention.shorten", recording_id, who,
                  "retention of recording " + recording_id + " ends " + r.value().retention_until +
                      "; it can be extended, never shortened");
  }
  VB_TRY(transact([&]() -> Status {
    SqliteStmt s(*db_, "UPDATE recordings SET retention_until = ?2 WHERE id = ?1");
    s.bind(1, recording_id);
    s.bind(2, until);
    if (s.step() != kSqliteDone) return db_->error("extending retention");
    return append_event({{"type", "retention.extended"},
                         {"recording", recording_id},
                         {"from", r.value().retention_until},
                         {"until", until},
                         {"by", who}});
  }));
  return mirror_to_store(
      recording_id, [&](const std::string& key) { return store_->extend_retention(key, until); });
}

Status Archive::mirror_to_store(const std::string& recording_id,
                                const std::function<Status(const std::string&)>& apply) {
  std::vector<std::string> keys;
  {
    SqliteStmt s(*db_, "SELECT path FROM objects WHERE recording_id = ?1 AND status != 'disposed'");
    s.bind(1, recording_id);
    while (s.step() == kSqliteRow) keys.push_back(s.text(0));
  }
  for (const auto& key : keys) {
    if (auto st = apply(key); !st) {
      return make_error(st.error().code,
                        "the archive took the change, but the object store did not: " +
                            st.error().message + ". Run the same command again to retry.");
    }
  }
  return ok_status();
}

Status Archive::set_hold(const std::string& case_id, const std::string& recording_id,
                         const std::string& who) {
  VB_TRY(writable());
  if (case_id.empty())
    return make_error(ErrorCode::kInvalidArgument, "a legal hold needs a case id");
  auto r = recording(recording_id);
  if (!r) return r.error();
  if (r.value().status == "disposed") {
    return make_error(ErrorCode::kFailedPrecondition,
                      "recording " + recording_id + " was disposed");
  }
  VB_TRY(transact([&]() -> Status {
    SqliteStmt s(*db_,
                 "INSERT INTO legal_holds(case_id, recording_id, set_by, set_at) "
                 "VALUES(?1, ?2, ?3, ?4) ON CONFLICT(case_id, recording_id) DO UPDATE "
                 "SET released_at = NULL, set_by = excluded.set_by, set_at = excluded.set_at");
    s.bind(1, case_id);
    s.bind(2, recording_id);
    s.bind(3, who);
    s.bind(4, now());
    if (s.step() != kSqliteDone) return db_->error("setting the legal hold");
    return append_event(
        {{"type", "hold.set"}, {"case", case_id}, {"recording", recording_id}, {"by", who}});
  }));
  return mirror_to_store(recording_id,
                         [&](const std::string& key) { return store_->set_legal_hold(key, true); });
}

Status Archive::release_hold(const std::string& case_id, const std::string& recording_id,
                             const std::string& who) {
  VB_TRY(writable());
  VB_TRY(transact([&]() -> Status {
    SqliteStmt s(*db_,
                 "UPDATE legal_holds SET released_at = ?3 WHERE case_id = ?1 AND "
                 "recording_id = ?2 AND released_at IS NULL");
    s.bind(1, case_id);
    s.bind(2, recording_id);
    s.bind(3, now());
    if (s.step() != kSqliteDone) return db_->error("releasing the legal hold");
    if (db_->changes() != 1) {
      return make_error(ErrorCode::kNotFound,
                        "no active hold of case " + case_id + " on recording " + recording_id);
    }
    return append_event(
        {{"type", "hold.released"}, {"case", case_id}, {"recording", recording_id}, {"by", who}});
  }));
  // The store's legal hold is one flag: off only when no case holds the recording any more.
  bool held = false;
  {
    SqliteStmt s(*db_, "SELECT 1 FROM legal_holds WHERE recording_id = ?1 AND released_at IS NULL");
    s.bind(1, recording_id);
    held = s.step() == kSqliteRow;
  }
  if (held) return ok_status();
  return mirror_to_store(
      recording_id, [&](const std::string& key) { return store_->set_legal_hold(key, false); });
}

Result<json> Archive::sealed_objects(const std::string& recording_id) {
  json out = json::array();
  SqliteStmt s(*db_,
               "SELECT id, kind, sha256 FROM objects WHERE recording_id = ?1 AND status = 'sealed' "
               "ORDER BY rowid");
  s.bind(1, recording_id);
  while (s.step() == kSqliteRow) {
    out.push_back({{"object", s.text(0)}, {"kind", s.text(1)}, {"sha256", s.text(2)}});
  }
  return out;
}

Result<std::optional<uint64_t>> Archive::ending_entry(const std::string& recording_id) {
  SqliteStmt s(*db_,
               "SELECT seq FROM ledger_entries WHERE recording_id = ?1 AND "
               "(CAST(entry AS TEXT) LIKE '%\"type\":\"recording.completed\"%' OR "
               "CAST(entry AS TEXT) LIKE '%\"type\":\"recording.interrupted\"%') "
               "ORDER BY seq DESC LIMIT 1");
  s.bind(1, recording_id);
  if (s.step() == kSqliteRow) return std::optional<uint64_t>(static_cast<uint64_t>(s.int64(0)));
  return std::optional<uint64_t>();
}

Result<Archive::LedgerFacts> Archive::ledger_facts(const std::string& recording_id) {
  LedgerFacts f;
  std::map<std::string, bool> holds;
  SqliteStmt s(*db_, "SELECT entry FROM ledger_entries WHERE recording_id = ?1 ORDER BY seq");
  s.bind(1, recording_id);
  while (s.step() == kSqliteRow) {
    const auto bytes = s.blob(0);
    const auto e = json::parse(bytes.begin(), bytes.end(), nullptr, false);
    if (!e.is_object() || e.value("recording", "") != recording_id) continue;
    const std::string type = e.value("type", "");
    if (type == "recording.created") {
      f.created = true;
      f.retention_until = e.value("retention_until", "");
    } else if (type == "retention.extended") {
      f.retention_until = std::max(f.retention_until, e.value("until", std::string()));
    } else if (type == "hold.set") {
      holds[e.value("case", "")] = true;
    } else if (type == "hold.released") {
      holds[e.value("case", "")] = false;
    } else if (type == "recording.completed" || type == "recording.interrupted") {
      f.ended = true;
    } else if (type == "recording.disposed") {
      f.disposed = true;
    } else if (type == "object.sealed") {
      f.objects.insert(e.value("object", ""));
    }
  }
  for (const auto& [case_id, active] : holds) {
    if (active) f.holds.insert(case_id);
  }
  return f;
}

Status Archive::ledger_intact() {
  auto findings = ledger_->verify();
  if (!findings) return findings.error();
  if (findings.value().empty()) return ok_status();
  const Finding& first = findings.value().front();
  return make_error(ErrorCode::kFailedPrecondition,
                    "the ledger does not verify (" + std::to_string(findings.value().size()) +
                        " finding(s), first: " + first.where + ": " + first.what +
                        "); nothing is disposed until `verbatim verify` is clean");
}

Status Archive::dispose(const std::string& recording_id, const std::string& who) {
  VB_TRY(writable());
  VB_TRY(ledger_intact());
  return dispose_proven(recording_id, who);
}

Status Archive::dispose_proven(const std::string& recording_id, const std::string& who) {
  auto facts = ledger_facts(recording_id);
  if (!facts) return facts.error();
  const LedgerFacts& f = facts.value();
  if (!f.created) return not_found("recording", recording_id);
  if (f.disposed) return ok_status();
  // Every condition from the ledger: a catalog row edited to an earlier retention date or a
  // released hold changes nothing here (verify reports the edit).
  if (now() < f.retention_until) {
    return refuse("disposal", recording_id, who,
                  "recording " + recording_id + " is retained until " + f.retention_until +
                      "; nothing can delete it before then");
  }
  if (!f.holds.empty()) {
    return refuse(
        "disposal", recording_id, who,
        "recording " + recording_id + " is under legal hold (case " + *f.holds.begin() + ")");
  }
  if (!f.ended) {
    return refuse("disposal", recording_id, who,
                  "recording " + recording_id + " is still being recorded");
  }
  auto listed = objects_of(recording_id);
  if (!listed) return listed.error();
  std::set<std::string> all(listed.value().begin(), listed.value().end());
  all.insert(f.objects.begin(), f.objects.end());
  const std::vector<std::string> objects(all.begin(), all.end());
  std::vector<std::string> paths;
  VB_TRY(transact([&]() -> Status {
    for (const auto& oid : objects) {
      SqliteStmt k(*db_,
                   "UPDATE data_keys SET wrapped = NULL, destroyed_at = ?2 WHERE object_id = ?1");
      k.bind(1, oid);
      k.bind(2, now());
      if (k.step() != kSqliteDone) return db_->error("destroying a data key");
      SqliteStmt o(*db_, "UPDATE objects SET status = 'disposed' WHERE id = ?1 RETURNING path");
      o.bind(1, oid);
      if (o.step() == kSqliteRow) paths.push_back(o.text(0));
    }
    SqliteStmt u(*db_, "UPDATE recordings SET status = 'disposed' WHERE id = ?1");
    u.bind(1, recording_id);
    if (u.step() != kSqliteDone) return db_->error("disposing the recording");
    VB_TRY(drop_utterances(*db_, recording_id));  // what was said goes with the recording
    return append_event({{"type", "recording.disposed"},
                         {"recording", recording_id},
                         {"objects", objects},
                         {"by", who},
                         {"method", "crypto-shred"}});
  }));
  // The keys are gone (committed); the ciphertext is now unreadable. Remove it too.
  for (const auto& p : paths) (void)store_->remove(p);
  return ok_status();
}

Result<std::vector<std::string>> Archive::dispose_expired(const std::string& who) {
  VB_TRY(writable());
  VB_TRY(ledger_intact());
  // Candidates from the catalog (an edited row only adds or hides a candidate); each one is
  // then decided on the ledger alone.
  std::vector<std::string> due;
  {
    SqliteStmt s(*db_,
                 "SELECT id FROM recordings r WHERE status NOT IN ('disposed', 'recording') "
                 "AND retention_until <= ?1 AND NOT EXISTS (SELECT 1 FROM legal_holds h "
                 "WHERE h.recording_id = r.id AND h.released_at IS NULL)");
    s.bind(1, now());
    while (s.step() == kSqliteRow) due.push_back(s.text(0));
  }
  std::vector<std::string> done;
  for (const auto& id : due) {
    if (auto st = dispose_proven(id, who); !st) {
      spdlog::warn("archive: recording {} not disposed: {}", id, st.error().message);
      continue;
    }
    done.push_back(id);
  }
  return done;
}

Status Archive::delete_object(const std::string& object_id, const std::string& who) {
  VB_TRY(writable());
  return refuse("deletion", object_id, who,
                "object " + object_id +
                    " is write-once: sealed objects are never deleted or "
                    "overwritten; a recording is disposed as a whole when its retention ends");
}

}  // namespace verbatim::archive
