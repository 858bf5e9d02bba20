#include "archive/schema.h"

namespace verbatim::archive {

namespace {
constexpr const char* kMigrations[] = {
    // 1: the ledger (entries and signed tree heads) and wrapped data keys.
    R"sql(
    CREATE TABLE ledger_entries (
      seq   INTEGER PRIMARY KEY,      -- 0-based leaf index
      entry BLOB NOT NULL,            -- canonical JSON bytes
      leaf  BLOB NOT NULL             -- SHA-256(0x00 || entry)
    );
    CREATE TABLE tree_heads (
      size         INTEGER NOT NULL,
      root         BLOB NOT NULL,
      timestamp_ms INTEGER NOT NULL,
      signature    BLOB NOT NULL      -- Ed25519 over the signed text (docs/archive-format.md)
    );
    CREATE TABLE data_keys (
      object_id     TEXT PRIMARY KEY, -- 32 hex digits
      master_key_id TEXT NOT NULL,
      wrapped       BLOB,             -- NULL once destroyed (crypto-shredded)
      destroyed_at  TEXT
    );
    )sql",
};
}  // namespace

std::span<const char* const> archive_migrations() { return kMigrations; }

}  // namespace verbatim::archive
