// Archive: encrypted, tamper-evident, write-once storage for recordings.
//
// A recording is a set of objects (media segments, evidence, metadata, later transcripts),
// each an encrypted object file (object_format.h) under <root>/objects/, its data key wrapped
// by the master key (keys.h) in the catalog database <root>/archive.db, and every event —
// recording created, object sealed, recording completed, retention extended, hold set or
// released, disposal, refused deletion — an entry in the signed ledger (ledger.h), committed
// in the same transaction as the catalog change.
//
// Write-once: there is no call that deletes or overwrites a sealed object. dispose() removes
// a recording only after its retention date and only when no legal hold is active, and does
// it by destroying the data keys (crypto-shredding) and then the files; an early attempt is
// refused with a clear error and written to the ledger. Retention can be extended, never
// shortened.
//
// Crash safety: objects are flushed at the writer's interval; open() finds objects left
// "open" by a crash, recovers them up to their last flush, seals them as interrupted and
// marks their recording interrupted.
//
// verify() checks every object file against the catalog and the ledger and the ledger
// against its signed and witnessed heads, and reports each finding by recording and object.
//
// One writer, many readers: the writer (the recorder, or a command that imports) holds
// <root>/lock and alone creates recordings, writes objects and recovers after a crash. Any
// number of shared processes (the CLI's show, cat, hold, export, search; the admin API) open
// it beside the writer at the same time: they read the catalog (SQLite WAL: a long read never
// blocks the writer, nor the writer it) and append their access, hold, retention and export
// events to the same ledger, each append under SQLite's write lock after reading what the
// others appended (Ledger::sync). Rotating the master key or replacing a lost signing key
// needs every shared process gone (<root>/readers.lock).
// Not thread-safe: one Archive per thread (callers serialise).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "archive/catalog_index.h"
#include "archive/keys.h"
#include "archive/ledger.h"
#include "archive/object_format.h"
#include "archive/retention.h"
#include "common/clock.h"
#include "common/sqlite.h"

namespace verbatim::archive {

struct ArchiveOptions {
  std::string root;              // <data-dir>/archive
  std::string master_key_file;   // default <root>/master.key (created on first open)
  std::string signing_key_file;  // default <root>/signing.key (created on first open)
  // Set: both keys are in this HSM instead (hsm.h); only <signing_key_file>.pub is written.
  HsmOptions hsm;
  // For move_keys_to_hsm(): an archive of key files opens with them (or with whichever keys
  // an interrupted move already put in the HSM).
  bool moving_to_hsm = false;
  WriterOptions writer;
  RetentionRules retention;  // default 7 years (retention.h)
  // Read-only (verification, auditing): no recovery, no key or head creation, no lock.
  // Writers take an exclusive lock on <root>/lock, so two recorders never share an archive.
  bool read_only = false;
  // Shared: beside the writer (see above). The archive must exist; no recording or object can
  // be created, nothing is recovered; every read and change is logged as usual.
  bool shared = false;
  // New objects are refused while the file system holding the archive has less free space
  // than this (objects being written continue: nothing already recording is dropped).
  uint64_t min_free_bytes = uint64_t{256} << 20;
  // A signed tree head covers every change at most this long after it was made: heads are
  // signed after a transaction once this much time passed since the last one, by tick(),
  // and when the archive is closed.
  std::chrono::seconds sign_interval{60};
  // Where objects live; default: files under <root>/objects (object_store.h).
  std::shared_ptr<ObjectStore> store;
  // The signing key of an archive that has a ledger is never created anew in place of a lost
  // one: open() refuses. This is the explicit recovery (`verbatim archive replace-signing-key`):
  // a new key, and a key.signing_replaced ledger entry naming the old and new public keys, who
  // and why; heads signed before stay verifiable with the old public key.
  bool replace_lost_signing_key = false;
  std::string replacement_reason;
};

// NOLINTNEXTLINE(bugprone-exception-escape): nlohmann::json members move without throwing
struct RecordingInfo {
  std::string id;
  uint64_t serial = 0;       // 1, 2, 3, ... per archive, no gaps; "<node>-<serial>" is unique
  int metadata_version = 1;  // of metadata_text; earlier ones via metadata_history()
  std::string status;
  std::string reason;
  nlohmann::json metadata;
  std::string metadata_text;  // exactly as stored (its SHA-256 is in the ledger)
  uint64_t ledger_seq = 0;
  std::string created_at;
  std::string completed_at;
  std::string retention_until;
  std::vector<std::string> active_holds;
};

struct MetadataVersion {
  int version = 0;
  std::string text;  // byte-exact
  std::string changed_by;
  std::string changed_at;
  std::string reason;
  uint64_t ledger_seq = 0;
};

struct ObjectInfo {
  std::string id;
  std::string recording_id;
  std::string kind;
  std::string key;   // in the object store
  std::string path;  // for messages: the store's name for it (a file path for local storage)
  std::string status;
  bool interrupted = false;
  uint64_t plaintext_size = 0;
  std::string sha256;
  uint64_t ledger_seq = 0;
};

// An object being written. seal() (through Archive::seal) makes it permanent.
class OpenObject {
 public:
  const std::string& id() const { return id_; }
  ObjectWriter& writer() { return *writer_; }

 private:
  friend class Archive;
  std::string id_;
  std::string recording_id;
  std::unique_ptr<ObjectWriter> writer_;
};

// An object read as it is being written (live listening to a recording in progress): each poll()
// opens the object again and returns the chunks the writer flushed since the last poll, each
// authenticated. No ledger entry per poll: whoever listens is logged once by the caller
// (Archive::log_access "listen"). Holds the object's data key; one thread at a time.
class LiveReader {
 public:
  LiveReader(std::shared_ptr<ObjectStore> store, std::string key, const DataKey& data_key)
      : store_(std::move(store)), key_(std::move(key)), data_key_(data_key) {}
  ~LiveReader();
  LiveReader(const LiveReader&) = delete;
  LiveReader& operator=(const LiveReader&) = delete;
  // The plaintext flushed since the last poll (empty: nothing new).
  Result<std::vector<uint8_t>> poll();

 private:
  std::shared_ptr<ObjectStore> store_;
  std::string key_;
  DataKey data_key_;
  size_t next_chunk_ = 0;
};

class Archive {
 public:
  static Result<std::unique_ptr<Archive>> open(ArchiveOptions options, const Clock& clock,
                                               std::string actor = "system");
  ~Archive();

  // --- writing ---
  // `retention`: an explicit period, which may lengthen what the retention rules give, never
  // shorten it (kInvalidArgument).
  Result<std::string> create_recording(const nlohmann::json& metadata,
                                       std::optional<std::chrono::days> retention = {});
  // Refused with kFailedPrecondition when free space is below options.min_free_bytes.
  // `writer` replaces the archive's writer options for this object (a recorder with thousands
  // of objects open uses small chunks and schedules the flushes itself).
  Result<std::unique_ptr<OpenObject>> begin_object(
      const std::string& recording_id, const std::string& kind,
      const std::optional<WriterOptions>& writer = std::nullopt);
  // An object made from a recording's objects after it ended (playback files, transcripts):
  // allowed while the recording is complete, partial or interrupted, never once disposed. A
  // crash while writing it seals it as interrupted but leaves the recording's status alone.
  Result<std::unique_ptr<OpenObject>> begin_derived_object(const std::string& recording_id,
                                                           const std::string& kind);
  const WriterOptions& writer_options() const { return options_.writer; }
  // Free bytes on the archive's file system.
  Result<uint64_t> free_bytes() const;
  void set_min_free_bytes(uint64_t bytes) { options_.min_free_bytes = bytes; }
  Result<SealedObject> seal(OpenObject& object);
  // status: complete | partial (with a reason).
  Status complete_recording(const std::string& recording_id, const std::string& status,
                            const std::string& reason = "");
  // Replaces a recording's metadata with a new version; every earlier version stays
  // re-creatable byte for byte, and the change is in the ledger with who, when and why.
  Result<int> update_metadata(const std::string& recording_id, const nlohmann::json& metadata,
                              const std::string& who, const std::string& reason);
  Result<std::vector<MetadataVersion>> metadata_history(const std::string& recording_id);
  // The ledger entry that ended the recording (recording.completed or .interrupted): it lists
  // the objects the recording had then, each with its SHA-256 (what an export must contain).
  Result<std::optional<uint64_t>> ending_entry(const std::string& recording_id);
  // This archive's node id (random, fixed at creation): recording ids are random 128-bit
  // values, and "<node id>-<serial>" names a recording uniquely across nodes.
  const std::string& node_id() const { return node_id_; }

  // --- reading (logged as access) ---
  Result<RecordingInfo> recording(const std::string& id);
  Result<std::vector<std::string>> objects_of(const std::string& recording_id);
  Result<ObjectInfo> object_info(const std::string& object_id);
  // The object's data key (for an export package); logged as access.key.
  Result<DataKey> export_data_key(const std::string& object_id, const std::string& who);
  // Logs an export of `recordings` by `who` (before the head that covers it is signed).
  Status log_export(const std::vector<std::string>& recordings, const std::string& who);
  // Logs another access to a recording: "metadata" (its catalog entry was shown), "denied" (a
  // request for it, or for an id that does not exist, was refused).
  // `detail` adds fields to the entry (the reason given for listening: "reason").
  Status log_access(const std::string& what, const std::string& recording, const std::string& who,
                    const nlohmann::json& detail = nlohmann::json::object());
  // Logs a step of a case (cases/cases.h) by `who`: "case.<action>" with the case's name, its
  // recordings concerned and the step's detail.
  Status log_case(const std::string& case_name, const std::string& action,
                  const std::vector<std::string>& recordings, const nlohmann::json& detail,
                  const std::string& who);
  // Logs a search by `who`: the query as given and the recordings it listed (access.search).
  Status log_search(const nlohmann::json& query, const std::vector<std::string>& recordings,
                    const std::string& who);
  // A transcript of the recording (a derived object the writer stored) goes into the search
  // index (catalog_index.h): its utterances' words and phones. drop_transcripts removes all of a
  // recording's from the index (a transcription starting over).
  Status index_transcript(const std::string& recording_id, const std::string& object_id,
                          const std::vector<IndexedUtterance>& utterances);
  Status drop_transcripts(const std::string& recording_id);
  // The catalog database, for the search index's read-only queries (search/search.h).
  SqliteDb& catalog() { return *db_; }
  // An object's whole content, every chunk authenticated (read_object, then verify); for objects
  // read whole (transcripts, a download). Logged as access.read.
  Result<std::string> read_whole(const std::string& object_id, const std::string& who);
  Result<std::unique_ptr<ObjectReader>> read_object(const std::string& object_id,
                                                    const std::string& who);
  // An object still being written, read as it grows (LiveReader); the caller logs the access.
  Result<std::unique_ptr<LiveReader>> read_live(const std::string& object_id);

  // --- retention, holds, disposal ---
  Status extend_retention(const std::string& recording_id, const std::string& until_iso,
                          const std::string& who);
  Status set_hold(const std::string& case_id, const std::string& recording_id,
                  const std::string& who);
  Status release_hold(const std::string& case_id, const std::string& recording_id,
                      const std::string& who);
  // Refused (and logged) before retention ends or while a hold is active. Decided on what the
  // ledger proves (retention, holds, completion, disposal), never on catalog columns alone, and
  // only while the ledger verifies against its signed and witnessed heads.
  Status dispose(const std::string& recording_id, const std::string& who);
  // Disposes every recording whose retention ended and that has no active hold.
  Result<std::vector<std::string>> dispose_expired(const std::string& who);
  // There is no deletion of sealed objects; this logs and refuses the attempt.
  Status delete_object(const std::string& object_id, const std::string& who);

  // --- keys ---
  // Re-wraps every data key under the master key in `new_key_file`; objects are untouched.
  Result<uint64_t> rotate_master_key(const std::string& new_key_file, const std::string& who);
  // Moves an archive of key files to the configured HSM (opened with moving_to_hsm): a new
  // signing key in the token (key.signing_replaced in the ledger, heads before it stay
  // verifiable with the old key), every data key re-wrapped under the token's master key
  // (key.rotated), then master.key and signing.key deleted. Resumes an interrupted move.
  // Returns the number of data keys re-wrapped.
  Result<uint64_t> move_keys_to_hsm(const std::string& who);

  // --- integrity ---
  Result<TreeHead> sign_head();
  // Signs a head when entries are unsigned and sign_interval passed; owners with an event
  // loop call it periodically so quiet periods are covered too.
  Status tick();
  Ledger& ledger() { return *ledger_; }
  // deep: also decrypt and authenticate every chunk of every object.
  Result<std::vector<Finding>> verify(bool deep = false);
  // verify() in two parts, for incremental verification (verifier.h): everything but the
  // object contents (ledger, heads, catalog, metadata versions, unknown files), listing the
  // sealed objects to check; then one object's content.
  struct ObjectCheck {
    std::string id;
    std::string where;  // "recording … object … (key)"
    std::string key;    // in the object store
    std::string sha256;
    uint64_t stored_size = 0;
  };
  Result<std::vector<Finding>> verify_records(std::vector<ObjectCheck>* objects);
  std::optional<Finding> check_object(const ObjectCheck& object, bool deep);
  const std::string& objects_dir() const { return objects_dir_; }
  ObjectStore& store() { return *store_; }

 private:
  Archive(ArchiveOptions options, const Clock& clock, std::string actor);
  Status recover_open_objects();
  Result<std::unique_ptr<OpenObject>> begin(const std::string& recording_id,
                                            const std::string& kind,
                                            const std::optional<WriterOptions>& writer,
                                            bool derived);
  // Appends a ledger event (inside the caller's transaction).
  Status append_event(nlohmann::json event);
  // Applies a retention or hold change to each of a recording's objects in the store (for
  // stores that enforce them: S3 Object Lock).
  Status mirror_to_store(const std::string& recording_id,
                         const std::function<Status(const std::string&)>& apply);
  Status insert_metadata_version(const std::string& recording_id, int version,
                                 const std::string& text, const std::string& who,
                                 const std::string& reason, uint64_t ledger_seq);
  // Refuses every change (and logged reads) on an archive opened read-only.
  Status writable() const;
  // Refuses what only the writer does (new recordings and objects) on a shared archive.
  Status owns_writer_lock(std::string_view what) const;
  // Locks <root>/readers.lock: shared for a shared archive, exclusive (no shared process open)
  // for rotating or replacing keys.
  Status lock_readers(bool exclusive);
  void unlock_readers();
  Result<DataKey> data_key(const std::string& object_id);
  std::string now() const;
  // Runs `body` in a transaction; rolls back on error (ledger tree included).
  Status transact(const std::function<Status()>& body);
  Status refuse(const std::string& what, const std::string& recording_or_object,
                const std::string& who, const std::string& why);
  // What the ledger says about one recording (its entries, found through the index column).
  struct LedgerFacts {
    bool created = false, ended = false, disposed = false;
    std::string retention_until;
    std::set<std::string> holds;    // active legal holds by case
    std::set<std::string> objects;  // sealed objects
  };
  Result<LedgerFacts> ledger_facts(const std::string& recording_id);
  // The sealed objects of a recording, as a ledger entry lists them.
  Result<nlohmann::json> sealed_objects(const std::string& recording_id);
  // Refuses destructive actions unless the ledger verifies (no finding at all).
  Status ledger_intact();
  Status dispose_proven(const std::string& recording_id, const std::string& who);
  Status replace_signing_key();
  std::string named_signing_key();  // hex: the key the ledger names last
  // Re-wraps every data key under `fresh` in one transaction that logs key.rotated, then makes
  // it the archive's master key. Returns the number of keys.
  Result<uint64_t> rewrap_data_keys(const MasterKey& fresh, const std::string& who);
  Status rewrap_in_transaction(const MasterKey& fresh, const std::string& who, uint64_t& count);

  ArchiveOptions options_;
  int lock_fd_ = -1;
  int readers_fd_ = -1;
  const Clock& clock_;
  std::string actor_;
  std::string objects_dir_;
  std::shared_ptr<ObjectStore> store_;
  std::unique_ptr<SqliteDb> db_;
  MasterKey master_;
  std::shared_ptr<Hsm> hsm_;  // [archive.hsm]: the token both keys are in (or move to)
  std::unique_ptr<Ledger> ledger_;
  SigningKey signing_;
  std::string node_id_;
  uint64_t signed_size_ = 0;  // size of the last signed head
  TimePoint signed_at_{};
};

}  // namespace verbatim::archive
