// Ledger: the archive's append-only, tamper-evident event log.
//
// Each event (object sealed, recording completed, access, retention or hold change,
// disposal, key rotation) is one entry: its canonical JSON bytes are stored, and their RFC
// 9162 leaf hash is a leaf of a Merkle tree (merkle.h). A tree head — size, root, time — is
// signed with the archive's Ed25519 key at an interval and on demand, stored, and also
// appended to a witness file outside the database (<data-dir>/archive/ledger-heads), so
// restoring an old database snapshot (a rollback) or rewriting history (a fork) is detected
// against heads that were already given out. Inclusion proofs show an entry is in a head;
// consistency proofs show a later head extends an earlier one.
//
// Entries are appended inside the caller's transaction on the shared database, so a catalog
// change and its ledger entry commit together. Not thread-safe: the Archive serialises it.
// docs/archive-format.md specifies the entry and head encodings.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "archive/keys.h"
#include "archive/merkle.h"
#include "common/clock.h"
#include "common/sqlite.h"

namespace verbatim::archive {

struct TreeHead {
  uint64_t size = 0;
  Hash root{};
  int64_t timestamp_ms = 0;
  std::array<uint8_t, 64> signature{};

  // The exact bytes that are signed.
  std::string signed_text() const;
  // One line: "<size> <root hex> <timestamp ms> <signature hex>".
  std::string to_line() const;
  static Result<TreeHead> from_line(std::string_view line);
  bool verify(const std::array<uint8_t, 32>& public_key) const;
};

struct Finding {
  std::string where;  // "ledger entry 17", "tree head 1200", "witness line 3", ...
  std::string what;
};

class Ledger {
 public:
  // Creates the ledger tables if needed (schema owned by the archive database migrations).
  static Result<std::unique_ptr<Ledger>> open(SqliteDb& db, SigningKey key, const Clock& clock,
                                              std::string witness_path);

  // Appends an event (an object; "type" names it) and returns its index. The caller owns
  // the transaction, a write transaction (BEGIN IMMEDIATE) begun before sync().
  Result<uint64_t> append(nlohmann::json event);
  // Reads the entries other processes appended since this one last looked (the archive has one
  // writer and any number of processes logging access beside it, each appending under SQLite's
  // write lock). Called first in every write transaction, so the next index and the tree are
  // the database's, never a stale copy.
  Status sync();
  uint64_t size() const { return tree_.size(); }
  Hash root() const { return tree_.root(); }
  const std::array<uint8_t, 32>& public_key() const { return key_.public_key; }
  // The key that signs heads from now on (its key.signing_replaced entry is the caller's).
  void set_key(SigningKey key) { key_ = std::move(key); }

  // Signs the current head, stores it and appends it to the witness file (fsynced). Inside
  // the caller's write transaction, after sync(), so heads from several processes are
  // witnessed in order of size.
  Result<TreeHead> sign_head();
  Result<std::optional<TreeHead>> latest_head();

  Result<std::vector<uint8_t>> entry_bytes(uint64_t index);
  Result<Hash> leaf(uint64_t index);
  Result<std::vector<Hash>> inclusion_proof(uint64_t index, uint64_t tree_size);
  // The first `count` leaf hashes, for computing many proofs against one head.
  Result<std::vector<Hash>> leaves(uint64_t count);
  Result<std::vector<Hash>> consistency_proof(uint64_t old_size, uint64_t new_size);

  // Recomputes every leaf from the stored entry bytes, checks every stored head (signature,
  // root, monotonic time and size) and every witnessed head (rollback, fork).
  Result<std::vector<Finding>> verify();

 private:
  Ledger(SqliteDb& db, SigningKey key, const Clock& clock, std::string witness)
      : db_(db), key_(std::move(key)), clock_(clock), witness_path_(std::move(witness)) {}

  SqliteDb& db_;
  SigningKey key_;
  const Clock& clock_;
  std::string witness_path_;
  CompactTree tree_;
};

}  // namespace verbatim::archive
