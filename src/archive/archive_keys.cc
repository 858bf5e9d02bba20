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

std::string Archive::named_signing_key() {
  // The archive's first key, or the latest replacement.
  std::string key;
  SqliteStmt s(*db_,
               "SELECT entry FROM ledger_entries WHERE seq = 0 OR CAST(entry AS TEXT) LIKE "
               "'%\"type\":\"key.signing_replaced\"%' ORDER BY seq");
  while (s.step() == kSqliteRow) {
    const auto bytes = s.blob(0);
    const auto e = json::parse(bytes.begin(), bytes.end(), nullptr, false);
    if (!e.is_object()) continue;
    if (e.value("type", "") == "archive.created") key = e.value("signing_public_key", "");
    if (e.value("type", "") == "key.signing_replaced") key = e.value("to", "");
  }
  return key;
}

Status Archive::replace_signing_key() {
  const std::string old_key = named_signing_key();
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
  auto count = rewrap_data_keys(fresh.value(), who);
  if (!count) return count.error();
  options_.master_key_file = new_key_file;
  return count;
}

Result<uint64_t> Archive::rewrap_data_keys(const MasterKey& fresh, const std::string& who) {
  uint64_t count = 0;
  VB_TRY(transact([&]() -> Status { return rewrap_in_transaction(fresh, who, count); }));
  master_ = fresh;
  return count;
}

Status Archive::rewrap_in_transaction(const MasterKey& fresh, const std::string& who,
                                      uint64_t& count) {
  count = 0;
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
    auto rewrapped = wrap_data_key(fresh, key.value(), id.value());
    if (!rewrapped) return rewrapped.error();
    SqliteStmt u(*db_,
                 "UPDATE data_keys SET wrapped = ?2, master_key_id = ?3 WHERE object_id = ?1");
    u.bind(1, oid);
    u.bind_blob(2, rewrapped.value());
    u.bind(3, fresh.id);
    if (u.step() != kSqliteDone) return db_->error("re-wrapping a data key");
    ++count;
  }
  return append_event({{"type", "key.rotated"},
                       {"from", master_.id},
                       {"to", fresh.id},
                       {"keys", count},
                       {"by", who}});
}

Result<uint64_t> Archive::move_keys_to_hsm(const std::string& who) {
  if (!hsm_ || !options_.moving_to_hsm) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "no HSM configured ([archive.hsm] in the configuration)");
  }
  VB_TRY(owns_writer_lock("moving the keys to the HSM"));
  VB_TRY(lock_readers(true));
  struct Unlock {
    Archive* a;
    ~Unlock() { a->unlock_readers(); }
  } unlock{this};
  // 1. The signing key: heads so far under the file's key, then the token's key from the
  //    key.signing_replaced entry on (verify checks each head with the key of its time).
  if (!signing_.hsm) {
    auto found = find_hsm_signing_key(hsm_);
    if (!found) return found.error();
    if (found.value() && hex(found.value()->public_key) == named_signing_key()) {
      // An interrupted move: the ledger already names the token's key.
      signing_ = *found.value();
      ledger_->set_key(signing_);
    } else if (found.value()) {
      return make_error(ErrorCode::kAlreadyExists,
                        "the HSM already has a key labelled '" + options_.hsm.signing_key_label +
                            "' that this archive does not name: choose another "
                            "archive.hsm.signing_key_label");
    } else {
      auto head = sign_head();
      if (!head) return head.error();
      auto made = create_hsm_signing_key(hsm_, options_.signing_key_file + ".pub");
      if (!made) return made.error();
      signing_ = made.value();
      ledger_->set_key(signing_);
      options_.replacement_reason = "moved to the HSM (" + hsm_->describe() + ")";
      const std::string actor = actor_;
      actor_ = who;
      const Status replaced = replace_signing_key();
      actor_ = actor;
      VB_TRY(replaced);
    }
  }
  // 2. The data keys, under the token's master key (found, or made now).
  uint64_t count = 0;
  if (!master_.hsm) {
    auto fresh = hsm_master_key(hsm_, true);
    if (!fresh) return fresh.error();
    auto n = rewrap_data_keys(fresh.value(), who);
    if (!n) return n.error();
    count = n.value();
    auto head = sign_head();
    if (!head) return head.error();
  }
  // 3. The key files are no longer needed by anything: heads they signed verify with the public
  //    key the ledger holds.
  for (const std::string& f : {options_.master_key_file, options_.signing_key_file}) {
    std::error_code ec;
    fs::remove(f, ec);
    if (ec) spdlog::warn("archive: cannot delete {}: {}", f, ec.message());
  }
  return count;
}

}  // namespace verbatim::archive
