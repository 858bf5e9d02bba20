// The archive's keys after the fact: re-wrapping every data key under a new master key, and the
// explicit replacement of a signing key lost for good (recorded in the ledger).
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
#include "archive/schema.h"

namespace verbatim::archive {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace detail;  // NOLINT(google-build-using-namespace)

Status Archive::replace_signing_key() {
  // The key the ledger names last: the archive's first, or the latest replacement.
  std::string old_key;
  {
    SqliteStmt s(*db_,
                 "SELECT entry FROM ledger_entries WHERE seq = 0 OR CAST(entry AS TEXT) LIKE "
                 "'%\"type\":\"key.signing_replaced\"%' ORDER BY seq");
    while (s.step() == kSqliteRow) {
      const auto bytes = s.blob(0);
      const auto e = json::parse(bytes.begin(), bytes.end(), nullptr, false);
      if (!e.is_object()) continue;
      if (e.value("type", "") == "archive.created") old_key = e.value("signing_public_key", "");
      if (e.value("type", "") == "key.signing_replaced") old_key = e.value("to", "");
    }
  }
  VB_TRY(transact([&]() -> Status {
    return append_event({{"type", "key.signing_replaced"},
                         {"from", old_key},
                         {"to", hex(signing_.public_key)},
                         {"by", actor_},
                         {"reason", options_.replacement_reason}});
  }));
  auto head = sign_head();
  if (!head) return head.error();
  spdlog::warn("archive: signing key replaced ({} -> {}) by {}: {}", old_key,
               hex(signing_.public_key), actor_, options_.replacement_reason);
  return ok_status();
}

Result<uint64_t> Archive::rotate_master_key(const std::string& new_key_file,
                                            const std::string& who) {
  VB_TRY(owns_writer_lock("rotating the master key"));
  VB_TRY(lock_readers(true));
  // Readers may open the archive again once the keys are re-wrapped (or the rotation failed).
  struct Unlock {
    Archive* a;
    ~Unlock() { a->unlock_readers(); }
  } unlock{this};
  auto fresh =
      fs::exists(new_key_file) ? load_master_key(new_key_file) : create_master_key(new_key_file);
  if (!fresh) return fresh.error();
  if (fresh.value().id == master_.id) {
    return make_error(ErrorCode::kInvalidArgument, "the new master key is the current one");
  }
  uint64_t count = 0;
  VB_TRY(transact([&]() -> Status {
    std::vector<std::pair<std::string, std::vector<uint8_t>>> keys;
    {
      SqliteStmt s(*db_, "SELECT object_id, wrapped FROM data_keys WHERE wrapped IS NOT NULL");
      while (s.step() == kSqliteRow) keys.emplace_back(s.text(0), s.blob(1));
    }
    for (const auto& [oid, wrapped] : keys) {
      auto id = parse_object_id(oid);
      if (!id) return id.error();
      auto key = unwrap_data_key(master_, wrapped, id.value());
      if (!key) return key.error();
      SqliteStmt u(*db_,
                   "UPDATE data_keys SET wrapped = ?2, master_key_id = ?3 WHERE object_id = ?1");
      u.bind(1, oid);
      u.bind_blob(2, wrap_data_key(fresh.value(), key.value(), id.value()));
      u.bind(3, fresh.value().id);
      if (u.step() != kSqliteDone) return db_->error("re-wrapping a data key");
      ++count;
    }
    return append_event({{"type", "key.rotated"},
                         {"from", master_.id},
                         {"to", fresh.value().id},
                         {"keys", count},
                         {"by", who}});
  }));
  master_ = fresh.value();
  options_.master_key_file = new_key_file;
  return count;
}

}  // namespace verbatim::archive
