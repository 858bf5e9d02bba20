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
    // 2: the catalog: recordings, their objects, legal holds.
    R"sql(
    CREATE TABLE recordings (
      id              TEXT PRIMARY KEY,  -- 32 hex digits
      status          TEXT NOT NULL,     -- recording | complete | interrupted | partial | disposed
      reason          TEXT,
      metadata        TEXT NOT NULL,     -- JSON
      created_at      TEXT NOT NULL,
      completed_at    TEXT,
      retention_until TEXT NOT NULL,     -- ISO 8601 UTC; disposal not before
      ledger_seq      INTEGER NOT NULL   -- the recording.created entry
    );
    CREATE TABLE objects (
      id             TEXT PRIMARY KEY,   -- 32 hex digits
      recording_id   TEXT NOT NULL REFERENCES recordings(id),
      kind           TEXT NOT NULL,      -- media | evidence | metadata | transcript | ...
      path           TEXT NOT NULL,      -- relative to the objects directory
      status         TEXT NOT NULL,      -- open | sealed | disposed
      interrupted    INTEGER NOT NULL DEFAULT 0,
      plaintext_size INTEGER,
      stored_size    INTEGER,
      sha256         TEXT,               -- of the stored file
      sealed_at      TEXT,
      ledger_seq     INTEGER             -- the object.sealed entry
    );
    CREATE INDEX objects_by_recording ON objects(recording_id);
    CREATE TABLE legal_holds (
      case_id      TEXT NOT NULL,
      recording_id TEXT NOT NULL REFERENCES recordings(id),
      set_by       TEXT NOT NULL,
      set_at       TEXT NOT NULL,
      released_at  TEXT,
      PRIMARY KEY (case_id, recording_id)
    );
    )sql",
    // 3: metadata versions (every edit re-creatable, SEC 17a-4 audit-trail mode), recording
    //    serial numbers (gapless per archive), the archive's node id.
    R"sql(
    CREATE TABLE metadata_versions (
      recording_id TEXT NOT NULL REFERENCES recordings(id),
      version      INTEGER NOT NULL,  -- 1 = as created
      metadata     TEXT NOT NULL,     -- exactly as stored
      changed_by   TEXT NOT NULL,
      changed_at   TEXT NOT NULL,
      reason       TEXT,
      ledger_seq   INTEGER NOT NULL,  -- recording.created (1) or metadata.updated entry
      PRIMARY KEY (recording_id, version)
    );
    INSERT INTO metadata_versions
      SELECT id, 1, metadata, 'system', created_at, NULL, ledger_seq FROM recordings;
    ALTER TABLE recordings ADD COLUMN metadata_version INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE recordings ADD COLUMN serial INTEGER;
    UPDATE recordings SET serial =
      (SELECT COUNT(*) FROM recordings r2 WHERE r2.ledger_seq <= recordings.ledger_seq);
    CREATE UNIQUE INDEX recordings_by_serial ON recordings(serial);
    CREATE TABLE archive_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    )sql",
    // 4: the recording each ledger entry is about, as an index (not covered by the leaf hash:
    //    Ledger::verify checks it against the entry), so disposal reads a recording's retention
    //    and holds from the ledger without scanning all of it.
    R"sql(
    ALTER TABLE ledger_entries ADD COLUMN recording_id TEXT;
    UPDATE ledger_entries SET recording_id =
      CASE WHEN json_valid(CAST(entry AS TEXT))
           THEN json_extract(CAST(entry AS TEXT), '$.recording') END;
    CREATE INDEX ledger_by_recording ON ledger_entries(recording_id)
      WHERE recording_id IS NOT NULL;
    )sql",
    // 5: the search index (catalog_index.h): one row per recording with the columns searched
    //    and sorted on, its parties, groups and business data, and the parties' text for
    //    partial matches (trigram full text: any 3 or more characters of a name, address or
    //    number). Filled by the writer when it opens the archive, then with every change.
    R"sql(
    CREATE TABLE search_index (
      recording_id   TEXT PRIMARY KEY REFERENCES recordings(id),
      started_ms     INTEGER NOT NULL,  -- Unix time, milliseconds
      duration_ms    INTEGER,           -- NULL while recording
      direction      TEXT,              -- inbound | outbound | NULL (not said)
      origin_number  TEXT,              -- digits (E.164 without +) of who called
      dialed_number  TEXT,              -- digits of whom they called
      application_id TEXT,
      policy         TEXT,
      region         TEXT,
      call_id        TEXT               -- the call's SIP Call-ID (our gateway's: the caller's)
    );
    CREATE INDEX search_by_call ON search_index(call_id) WHERE call_id IS NOT NULL;
    CREATE INDEX search_by_time ON search_index(started_ms, recording_id);
    CREATE INDEX search_by_origin ON search_index(origin_number, started_ms);
    CREATE INDEX search_by_dialed ON search_index(dialed_number, started_ms);
    CREATE TABLE search_parties (
      recording_id TEXT NOT NULL,
      role         TEXT NOT NULL,       -- origin | dialed | participant
      name         TEXT NOT NULL,       -- display name, as given
      aor          TEXT NOT NULL,       -- lower case, without scheme and parameters
      number       TEXT NOT NULL        -- digits, or empty
    );
    CREATE INDEX parties_by_recording ON search_parties(recording_id);
    CREATE INDEX parties_by_aor ON search_parties(aor);
    CREATE INDEX parties_by_number ON search_parties(number) WHERE number != '';
    CREATE TABLE search_groups (
      recording_id TEXT NOT NULL,
      grp          TEXT NOT NULL,       -- lower case
      PRIMARY KEY (grp, recording_id)
    );
    CREATE INDEX groups_by_recording ON search_groups(recording_id);
    CREATE TABLE search_data (
      recording_id TEXT NOT NULL,
      key          TEXT NOT NULL,       -- lower case
      value        TEXT NOT NULL,
      source       TEXT NOT NULL,       -- header | siprec | api
      PRIMARY KEY (key, value, recording_id)
    );
    CREATE INDEX data_by_recording ON search_data(recording_id);
    -- rowid: the recording's search_index rowid.
    CREATE VIRTUAL TABLE search_party_text USING fts5(text, tokenize = 'trigram');
    )sql",
    // 6: what was said (catalog_index.h, index_utterances): one row per utterance of a
    //    transcript, with its speaker, time and recognised phones, and its words in full text
    //    (rowid = the utterance's id). Filled by the transcription job; emptied by disposal.
    R"sql(
    CREATE TABLE search_utterances (
      id           INTEGER PRIMARY KEY,
      recording_id TEXT NOT NULL,
      object_id    TEXT NOT NULL,       -- the transcript object
      speaker      TEXT NOT NULL,       -- the track's name ("Alice <sip:alice@example.com>")
      start_ms     INTEGER NOT NULL,    -- on the recording's timeline
      end_ms       INTEGER NOT NULL,
      phones       TEXT NOT NULL        -- one character per phone (transcribe/phonetic.h), or empty
    );
    CREATE INDEX utterances_by_recording ON search_utterances(recording_id);
    CREATE VIRTUAL TABLE search_utterance_text USING fts5(text);
    )sql",
    // 7: newest first without sorting (catalog_index.h): search_index's rowid becomes the search
    //    key (the start in milliseconds times 2^20, plus a sequence), shared by the parties' text
    //    and by a new full-text row of all the words of each recording. The index is emptied
    //    here and refilled from the catalog (and the kept utterances) when the writer next opens
    //    the archive. Rowid order replaces the time index; the number indexes need no time.
    R"sql(
    DELETE FROM search_party_text;
    DELETE FROM search_index;
    DELETE FROM search_parties;
    DELETE FROM search_groups;
    DELETE FROM search_data;
    DELETE FROM archive_info WHERE key = 'search_indexed_serial';
    DROP INDEX search_by_time;
    DROP INDEX search_by_origin;
    DROP INDEX search_by_dialed;
    CREATE INDEX search_by_origin ON search_index(origin_number);
    CREATE INDEX search_by_dialed ON search_index(dialed_number);
    CREATE VIRTUAL TABLE search_recording_text USING fts5(text);
    )sql",
    // 8: the call's sentiment (its transcripts' overall VADER score) and whether it was internal
    //    (between two users), searched on and listed.
    R"sql(
    ALTER TABLE search_index ADD COLUMN sentiment REAL;
    ALTER TABLE search_index ADD COLUMN internal INTEGER NOT NULL DEFAULT 0;
    UPDATE search_index SET internal = 1 WHERE recording_id IN (SELECT id FROM recordings
      WHERE json_valid(metadata) AND json_extract(metadata, '$.call.internal') = 1);
    UPDATE search_index SET sentiment = (SELECT json_extract(r.metadata,
      '$.transcripts.sentiment.overall.score') FROM recordings r WHERE r.id = recording_id)
      WHERE recording_id IN (SELECT id FROM recordings
                             WHERE json_valid(metadata) AND metadata LIKE '%"sentiment"%');
    )sql",
    // 9: the digits in the parties (catalog_index.h, number_keys): each run of digits by its
    //    suffixes, so a participant number (whole or any part) is a range lookup. Filled for
    //    recordings indexed before it from their parties' text when the writer next opens the
    //    archive (index_missing: fill_party_keys).
    R"sql(
    CREATE TABLE search_numbers (
      digits TEXT NOT NULL,             -- a suffix of a run of digits, its first kNumberKeyDigits
      key    INTEGER NOT NULL,          -- the recording's search key (search_index rowid)
      PRIMARY KEY (digits, key)
    ) WITHOUT ROWID;
    )sql",
    // 10: the parts of the parties' text (catalog_index.h, part_keys): the text from each place
    //    in a word, so a participant's name or address (whole or any part from inside a word) is
    //    a range lookup. Filled like search_numbers.
    R"sql(
    CREATE TABLE search_party_parts (
      part TEXT NOT NULL,               -- the text from a place in a word, its first kPartKeyBytes
      key  INTEGER NOT NULL,            -- the recording's search key (search_index rowid)
      PRIMARY KEY (part, key)
    ) WITHOUT ROWID;
    )sql",
};
}  // namespace

std::span<const char* const> archive_migrations() { return kMigrations; }

}  // namespace verbatim::archive
