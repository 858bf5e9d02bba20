#include "archive/archive.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "archive/schema.h"

namespace verbatim::archive {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string sha256_hex(const std::string& s) {
  return to_hex(sha256(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size())));
}

Result<ObjectId> parse_object_id(const std::string& hexid) {
  auto bytes = unhex(hexid);
  if (!bytes || bytes.value().size() != 16) {
    return make_error(ErrorCode::kInvalidArgument, "\"" + hexid + "\" is not an object id");
  }
  ObjectId id;
  std::copy(bytes.value().begin(), bytes.value().end(), id.begin());
  return id;
}

Error not_found(const std::string& what, const std::string& id) {
  return make_error(ErrorCode::kNotFound, "no " + what + " " + id);
}

}  // namespace

Archive::Archive(ArchiveOptions options, const Clock& clock, std::string actor)
    : options_(std::move(options)), clock_(clock), actor_(std::move(actor)) {}

Archive::~Archive() {
  // Whatever this process logged gets a signed head before the writer goes away.
  if (!options_.read_only && ledger_ && ledger_->size() > signed_size_) (void)sign_head();
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

std::string Archive::now() const { return format_iso8601(clock_.now()); }

Status Archive::append_event(json event) {
  auto seq = ledger_->append(std::move(event));
  if (!seq) return seq.error();
  return ok_status();
}

Status Archive::writable() const {
  if (!options_.read_only) return ok_status();
  return make_error(ErrorCode::kFailedPrecondition,
                    "the archive is open read-only (verification); this needs the writer");
}

Result<TreeHead> Archive::sign_head() {
  VB_TRY(writable());
  auto head = ledger_->sign_head();
  if (head) {
    signed_size_ = head.value().size;
    signed_at_ = clock_.now();
  }
  return head;
}

Status Archive::tick() {
  if (options_.read_only || ledger_->size() <= signed_size_ ||
      clock_.now() - signed_at_ < options_.sign_interval) {
    return ok_status();
  }
  auto head = sign_head();
  if (!head) return head.error();
  return ok_status();
}

Result<std::unique_ptr<Archive>> Archive::open(ArchiveOptions options, const Clock& clock,
                                               std::string actor) {
  std::error_code ec;
  if (!options.read_only) {
    fs::create_directories(options.root, ec);
    if (ec) {
      return make_error(ErrorCode::kIo, "cannot create " + options.root + ": " + ec.message());
    }
    fs::permissions(options.root, fs::perms::owner_all, fs::perm_options::replace, ec);
  }
  if (options.master_key_file.empty()) options.master_key_file = options.root + "/master.key";
  if (options.signing_key_file.empty()) options.signing_key_file = options.root + "/signing.key";
  std::unique_ptr<Archive> a(new Archive(std::move(options), clock, std::move(actor)));
  a->objects_dir_ = a->options_.root + "/objects";
  if (a->options_.read_only) {
    if (!fs::exists(a->options_.root + "/archive.db")) {
      return make_error(ErrorCode::kNotFound, "no archive at " + a->options_.root);
    }
  } else {
    const std::string lock = a->options_.root + "/lock";
    a->lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (a->lock_fd_ < 0 || ::flock(a->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "the archive at " + a->options_.root +
                            " is open for writing by another process (" + lock + ")");
    }
  }
  if (a->options_.store) {
    a->store_ = a->options_.store;
  } else {
    auto store = open_local_store(a->objects_dir_);
    if (!store) return store.error();
    a->store_ = std::move(store).value();
  }
  auto master = fs::exists(a->options_.master_key_file) || a->options_.read_only
                    ? load_master_key(a->options_.master_key_file)
                    : create_master_key(a->options_.master_key_file);
  if (!master) return master.error();
  a->master_ = master.value();
  if (a->options_.read_only) {
    auto pk = load_public_key(a->options_.signing_key_file + ".pub");
    if (!pk) return pk.error();
    a->signing_.public_key = pk.value();  // no secret key: cannot sign
  }
  const bool have_signing_key = fs::exists(a->options_.signing_key_file);
  if (a->options_.replace_lost_signing_key && a->options_.replacement_reason.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "say why the signing key is replaced (--reason): it goes into the ledger");
  }
  if (!a->options_.read_only && have_signing_key) {
    if (a->options_.replace_lost_signing_key) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "the signing key " + a->options_.signing_key_file +
                            " is present: there is no lost key to replace");
    }
    auto signing = load_signing_key(a->options_.signing_key_file);
    if (!signing) return signing.error();
    a->signing_ = signing.value();
  }
  auto db = SqliteDb::open(a->options_.root + "/archive.db");
  if (!db) return db.error();
  a->db_ = std::move(db).value();
  VB_TRY(a->db_->migrate(archive_migrations(), "archive database"));
  {
    SqliteStmt s(*a->db_, "SELECT value FROM archive_info WHERE key = 'node_id'");
    if (s.step() == kSqliteRow) a->node_id_ = s.text(0);
  }
  if (a->node_id_.empty() && !a->options_.read_only) {
    a->node_id_ = object_id_hex(random_object_id()).substr(0, 16);
    SqliteStmt s(*a->db_, "INSERT INTO archive_info(key, value) VALUES('node_id', ?1)");
    s.bind(1, a->node_id_);
    if (s.step() != kSqliteDone) return a->db_->error("storing the node id");
  }
  if (!a->options_.read_only && !have_signing_key) {
    int64_t entries = 0;
    {
      SqliteStmt n(*a->db_, "SELECT COUNT(*) FROM ledger_entries");
      if (n.step() == kSqliteRow) entries = n.int64(0);
    }
    if (entries > 0 && !a->options_.replace_lost_signing_key) {
      // Never silently: a new key would sign over whatever the database now holds.
      return make_error(
          ErrorCode::kFailedPrecondition,
          "the archive's signing key " + a->options_.signing_key_file + " is missing, but its " +
              "ledger has " + std::to_string(entries) + " entries signed under it. Restore the " +
              "key from your backup; if it is lost for good, run `verbatim archive " +
              "replace-signing-key --reason TEXT` (recorded in the ledger; heads signed before " +
              "stay verifiable with the old public key)");
    }
    if (entries == 0 && a->options_.replace_lost_signing_key) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "this archive has no ledger yet: there is no lost key to replace");
    }
    auto signing = create_signing_key(a->options_.signing_key_file);
    if (!signing) return signing.error();
    a->signing_ = signing.value();
  }
  auto ledger = Ledger::open(*a->db_, a->signing_, clock, a->options_.root + "/ledger-heads");
  if (!ledger) return ledger.error();
  a->ledger_ = std::move(ledger).value();
  if (a->options_.replace_lost_signing_key) {
    VB_TRY(a->replace_signing_key());
  }
  {  // The master key must be the one the data keys are wrapped under.
    SqliteStmt s(*a->db_, "SELECT DISTINCT master_key_id FROM data_keys WHERE wrapped IS NOT NULL");
    while (s.step() == kSqliteRow) {
      if (s.text(0) != a->master_.id) {
        return make_error(ErrorCode::kFailedPrecondition,
                          "data keys are wrapped under master key " + s.text(0) + ", but " +
                              a->options_.master_key_file + " holds key " + a->master_.id);
      }
    }
  }
  if (a->options_.read_only) return a;
  {
    auto last = a->ledger_->latest_head();
    if (!last) return last.error();
    if (last.value()) {
      a->signed_size_ = last.value()->size;
      a->signed_at_ = TimePoint(std::chrono::milliseconds(last.value()->timestamp_ms));
    }
  }
  if (a->ledger_->size() == 0) {
    VB_TRY(a->transact([&]() -> Status {
      auto seq = a->ledger_->append({{"type", "archive.created"},
                                     {"node", a->node_id_},
                                     {"signing_public_key", hex(a->signing_.public_key)},
                                     {"master_key_id", a->master_.id}});
      if (!seq) return seq.error();
      return ok_status();
    }));
    auto head = a->sign_head();
    if (!head) return head.error();
  }
  VB_TRY(a->recover_open_objects());
  return a;
}

Status Archive::transact(const std::function<Status()>& body) {
  VB_TRY(db_->exec("BEGIN IMMEDIATE"));
  Status st = body();
  if (st) st = db_->exec("COMMIT");
  if (st) {
    // The change is committed; a head that cannot be signed now is retried at the next one.
    if (auto t = tick(); !t) spdlog::warn("archive: signing a tree head: {}", t.error().message);
    return st;
  }
  {
    (void)db_->exec("ROLLBACK");
    // The in-memory tree may hold leaves of the rolled-back entries: rebuild it.
    auto ledger = Ledger::open(*db_, signing_, clock_, options_.root + "/ledger-heads");
    if (ledger) ledger_ = std::move(ledger).value();
  }
  return st;
}

Status Archive::refuse(const std::string& what, const std::string& target, const std::string& who,
                       const std::string& why) {
  (void)transact([&]() -> Status {
    return append_event(
        {{"type", what + ".refused"}, {"target", target}, {"by", who}, {"reason", why}});
  });
  return make_error(ErrorCode::kFailedPrecondition, why);
}

Result<std::string> Archive::create_recording(const json& metadata,
                                              std::optional<std::chrono::days> retention) {
  VB_TRY(writable());
  const std::string id = object_id_hex(random_object_id());
  const std::string meta = metadata.dump();
  RetentionChoice choice = options_.retention.choose(metadata);
  const TimePoint by_rule = choice.period.after(clock_.now());
  if (retention && clock_.now() + *retention < by_rule) {
    // An explicit period may lengthen what the rules keep, never shorten it.
    return make_error(ErrorCode::kInvalidArgument,
                      "retention of " + std::to_string(retention->count()) +
                          " days is shorter than the rule " + choice.rule + " (" +
                          choice.period.str() + "): retention can be lengthened, never shortened");
  }
  const std::string until = format_iso8601(retention ? clock_.now() + *retention : by_rule);
  if (retention) choice.rule = "explicit";
  VB_TRY(transact([&]() -> Status {
    // Inside the write transaction, so serials are unique and gapless: an aborted creation
    // rolls its serial back with everything else.
    int64_t serial = 1;
    {
      SqliteStmt m(*db_, "SELECT COALESCE(MAX(serial), 0) + 1 FROM recordings");
      if (m.step() == kSqliteRow) serial = m.int64(0);
    }
    auto seq = ledger_->append({{"type", "recording.created"},
                                {"recording", id},
                                {"node", node_id_},
                                {"serial", serial},
                                {"metadata_sha256", sha256_hex(meta)},
                                {"retention_until", until},
                                {"retention_rule", choice.rule}});
    if (!seq) return seq.error();
    SqliteStmt s(*db_,
                 "INSERT INTO recordings(id, status, metadata, created_at, retention_until, "
                 "ledger_seq, serial) VALUES(?1, 'recording', ?2, ?3, ?4, ?5, ?6)");
    s.bind(1, id);
    s.bind(2, meta);
    s.bind(3, now());
    s.bind(4, until);
    s.bind(5, static_cast<int64_t>(seq.value()));
    s.bind(6, serial);
    if (s.step() != kSqliteDone) return db_->error("creating the recording");
    return insert_metadata_version(id, 1, meta, actor_, "", seq.value());
  }));
  return id;
}

Result<uint64_t> Archive::free_bytes() const { return store_->free_bytes(); }

Result<std::unique_ptr<OpenObject>> Archive::begin_object(
    const std::string& recording_id, const std::string& kind,
    const std::optional<WriterOptions>& writer) {
  return begin(recording_id, kind, writer, false);
}

Result<std::unique_ptr<OpenObject>> Archive::begin_derived_object(const std::string& recording_id,
                                                                  const std::string& kind) {
  return begin(recording_id, kind, std::nullopt, true);
}

Result<std::unique_ptr<OpenObject>> Archive::begin(const std::string& recording_id,
                                                   const std::string& kind,
                                                   const std::optional<WriterOptions>& writer,
                                                   bool derived) {
  VB_TRY(writable());
  auto free = free_bytes();
  if (!free) return free.error();
  if (free.value() < options_.min_free_bytes) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "refusing a new object: " + std::to_string(free.value() >> 20) +
                          " MiB free under " + objects_dir_ + ", below the " +
                          std::to_string(options_.min_free_bytes >> 20) + " MiB threshold");
  }
  {
    SqliteStmt s(*db_, "SELECT status FROM recordings WHERE id = ?1");
    s.bind(1, recording_id);
    if (s.step() != kSqliteRow) return not_found("recording", recording_id);
    const std::string status = s.text(0);
    if (!derived && status != "recording") {
      return make_error(ErrorCode::kFailedPrecondition, "recording " + recording_id + " is " +
                                                            status + "; it takes no new objects");
    }
    if (derived && status != "complete" && status != "partial" && status != "interrupted") {
      return make_error(ErrorCode::kFailedPrecondition,
                        "recording " + recording_id + " is " + status +
                            "; objects made from it are added once it ended, never after disposal");
    }
  }
  const ObjectId oid = random_object_id();
  auto obj = std::make_unique<OpenObject>();
  obj->id_ = object_id_hex(oid);
  obj->recording_id = recording_id;
  const std::string rel = obj->id_.substr(0, 2) + "/" + obj->id_ + ".vbo";
  const DataKey key = random_data_key();
  const auto wrapped = wrap_data_key(master_, key, oid);
  // The catalog row (status open) comes first, so a crash at any later point leaves an
  // object that recovery finds.
  VB_TRY(transact([&]() -> Status {
    SqliteStmt k(*db_,
                 "INSERT INTO data_keys(object_id, master_key_id, wrapped) VALUES(?1, ?2, ?3)");
    k.bind(1, obj->id_);
    k.bind(2, master_.id);
    k.bind_blob(3, wrapped);
    if (k.step() != kSqliteDone) return db_->error("storing the data key");
    SqliteStmt o(*db_,
                 "INSERT INTO objects(id, recording_id, kind, path, status) "
                 "VALUES(?1, ?2, ?3, ?4, 'open')");
    o.bind(1, obj->id_);
    o.bind(2, recording_id);
    o.bind(3, kind);
    o.bind(4, rel);
    if (o.step() != kSqliteDone) return db_->error("registering the object");
    return ok_status();
  }));
  auto sink = store_->create(rel);
  if (!sink) return sink.error();
  auto writer_created = ObjectWriter::create(std::move(sink).value(), key, oid, clock_,
                                             writer.value_or(options_.writer));
  if (!writer_created) return writer_created.error();
  obj->writer_ = std::move(writer_created).value();
  return obj;
}

namespace {
Status record_sealed(SqliteDb& db, Ledger& ledger, const std::string& object_id,
                     const std::string& recording_id, const std::string& kind,
                     const SealedObject& s, const std::string& when) {
  auto seq = ledger.append({{"type", "object.sealed"},
                            {"object", object_id},
                            {"recording", recording_id},
                            {"kind", kind},
                            {"sha256", to_hex(s.stored_sha256)},
                            {"stored_size", s.stored_size},
                            {"plaintext_size", s.plaintext_size},
                            {"interrupted", s.interrupted}});
  if (!seq) return seq.error();
  SqliteStmt u(db,
               "UPDATE objects SET status = 'sealed', interrupted = ?2, plaintext_size = ?3, "
               "stored_size = ?4, sha256 = ?5, sealed_at = ?6, ledger_seq = ?7 WHERE id = ?1");
  u.bind(1, object_id);
  u.bind(2, static_cast<int64_t>(s.interrupted));
  u.bind(3, static_cast<int64_t>(s.plaintext_size));
  u.bind(4, static_cast<int64_t>(s.stored_size));
  u.bind(5, to_hex(s.stored_sha256));
  u.bind(6, when);
  u.bind(7, static_cast<int64_t>(seq.value()));
  if (u.step() != kSqliteDone) return db.error("sealing the object");
  return ok_status();
}
}  // namespace

Result<SealedObject> Archive::seal(OpenObject& object) {
  VB_TRY(writable());
  auto sealed = object.writer_->seal();
  if (!sealed) return sealed.error();
  std::string kind;
  {
    SqliteStmt s(*db_, "SELECT kind FROM objects WHERE id = ?1");
    s.bind(1, object.id_);
    if (s.step() == kSqliteRow) kind = s.text(0);
  }
  VB_TRY(transact([&]() {
    return record_sealed(*db_, *ledger_, object.id_, object.recording_id, kind, sealed.value(),
                         now());
  }));
  return sealed;
}

Status Archive::recover_open_objects() {
  struct Open {
    std::string id, recording, kind, path;
  };
  std::vector<Open> open;
  {
    SqliteStmt s(*db_, "SELECT id, recording_id, kind, path FROM objects WHERE status = 'open'");
    while (s.step() == kSqliteRow) open.push_back({s.text(0), s.text(1), s.text(2), s.text(3)});
  }
  for (const Open& o : open) {
    auto key = data_key(o.id);
    if (!key) return key.error();
    SealedObject s;
    auto exists = store_->exists(o.path);
    if (!exists) return exists.error();
    uint64_t size = 0;
    if (exists.value()) {
      auto source = store_->open(o.path);
      if (!source) return source.error();
      size = source.value()->size();
    }
    if (size >= kHeaderSize) {
      auto r = recover_object(*store_, o.path, key.value());
      if (!r) return r.error();
      s = r.value();
    } else {
      // Crashed between registering the object and making its header durable: nothing of
      // the recording was written. Start the object afresh and seal it empty.
      auto sink = exists.value() ? store_->resume(o.path, 0) : store_->create(o.path);
      if (!sink) return sink.error();
      auto w = ObjectWriter::create(std::move(sink).value(), key.value(),
                                    parse_object_id(o.id).value(), clock_, options_.writer);
      if (!w) return w.error();
      auto r = w.value()->seal();
      if (!r) return r.error();
      s = r.value();
    }
    s.interrupted = true;
    VB_TRY(transact([&]() -> Status {
      VB_TRY(record_sealed(*db_, *ledger_, o.id, o.recording, o.kind, s, now()));
      SqliteStmt u(*db_,
                   "UPDATE recordings SET status = 'interrupted', reason = ?2 "
                   "WHERE id = ?1 AND status = 'recording'");
      u.bind(1, o.recording);
      u.bind(2, "the recorder stopped unexpectedly; media after the last flush is missing");
      if (u.step() != kSqliteDone) return db_->error("marking the recording interrupted");
      // An object made after the recording ended (a playback file) leaves its status alone.
      if (db_->changes() == 0) return ok_status();
      auto objects = sealed_objects(o.recording);
      if (!objects) return objects.error();
      return append_event({{"type", "recording.interrupted"},
                           {"recording", o.recording},
                           {"object", o.id},
                           {"objects", objects.value()}});
    }));
  }
  return ok_status();
}

Status Archive::complete_recording(const std::string& recording_id, const std::string& status,
                                   const std::string& reason) {
  VB_TRY(writable());
  if (status != "complete" && status != "partial") {
    return make_error(ErrorCode::kInvalidArgument, "status must be complete or partial");
  }
  return transact([&]() -> Status {
    SqliteStmt s(*db_,
                 "UPDATE recordings SET status = ?2, reason = ?3, completed_at = ?4 "
                 "WHERE id = ?1 AND status = 'recording'");
    s.bind(1, recording_id);
    s.bind(2, status);
    s.bind(3, reason);
    s.bind(4, now());
    if (s.step() != kSqliteDone) return db_->error("completing the recording");
    if (db_->changes() != 1) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "recording " + recording_id + " is not being recorded");
    }
    auto objects = sealed_objects(recording_id);
    if (!objects) return objects.error();
    // The entry commits to the recording's objects, so an export package can prove it holds
    // all of them (export.h).
    return append_event({{"type", "recording.completed"},
                         {"recording", recording_id},
                         {"status", status},
                         {"reason", reason},
                         {"objects", objects.value()}});
  });
}

Result<RecordingInfo> Archive::recording(const std::string& id) {
  SqliteStmt s(*db_,
               "SELECT status, COALESCE(reason, ''), metadata, created_at, "
               "COALESCE(completed_at, ''), retention_until, ledger_seq, COALESCE(serial, 0), "
               "metadata_version FROM recordings WHERE id = ?1");
  s.bind(1, id);
  if (s.step() != kSqliteRow) return not_found("recording", id);
  RecordingInfo r;
  r.id = id;
  r.status = s.text(0);
  r.reason = s.text(1);
  r.metadata_text = s.text(2);
  r.metadata = json::parse(r.metadata_text, nullptr, false);
  r.ledger_seq = static_cast<uint64_t>(s.int64(6));
  r.created_at = s.text(3);
  r.completed_at = s.text(4);
  r.retention_until = s.text(5);
  r.serial = static_cast<uint64_t>(s.int64(7));
  r.metadata_version = static_cast<int>(s.int64(8));
  SqliteStmt h(*db_,
               "SELECT case_id FROM legal_holds WHERE recording_id = ?1 AND released_at IS NULL");
  h.bind(1, id);
  while (h.step() == kSqliteRow) r.active_holds.push_back(h.text(0));
  return r;
}

Status Archive::insert_metadata_version(const std::string& recording_id, int version,
                                        const std::string& text, const std::string& who,
                                        const std::string& reason, uint64_t ledger_seq) {
  SqliteStmt s(*db_,
               "INSERT INTO metadata_versions(recording_id, version, metadata, changed_by, "
               "changed_at, reason, ledger_seq) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  s.bind(1, recording_id);
  s.bind(2, static_cast<int64_t>(version));
  s.bind(3, text);
  s.bind(4, who);
  s.bind(5, now());
  if (reason.empty()) {
    s.bind_null(6);
  } else {
    s.bind(6, reason);
  }
  s.bind(7, static_cast<int64_t>(ledger_seq));
  if (s.step() != kSqliteDone) return db_->error("storing a metadata version");
  return ok_status();
}

Result<int> Archive::update_metadata(const std::string& recording_id, const json& metadata,
                                     const std::string& who, const std::string& reason) {
  VB_TRY(writable());
  if (!metadata.is_object()) {
    return make_error(ErrorCode::kInvalidArgument, "metadata must be a JSON object");
  }
  if (reason.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "say why the metadata changes (the reason is kept in the audit trail)");
  }
  auto r = recording(recording_id);
  if (!r) return r.error();
  if (r.value().status == "disposed") {
    return make_error(ErrorCode::kFailedPrecondition,
                      "recording " + recording_id + " was disposed; its metadata is gone");
  }
  const std::string text = metadata.dump();
  const int version = r.value().metadata_version + 1;
  VB_TRY(transact([&]() -> Status {
    auto seq = ledger_->append({{"type", "metadata.updated"},
                                {"recording", recording_id},
                                {"version", version},
                                {"metadata_sha256", sha256_hex(text)},
                                {"previous_sha256", sha256_hex(r.value().metadata_text)},
                                {"by", who},
                                {"reason", reason}});
    if (!seq) return seq.error();
    SqliteStmt u(*db_, "UPDATE recordings SET metadata = ?2, metadata_version = ?3 WHERE id = ?1");
    u.bind(1, recording_id);
    u.bind(2, text);
    u.bind(3, static_cast<int64_t>(version));
    if (u.step() != kSqliteDone) return db_->error("updating the metadata");
    return insert_metadata_version(recording_id, version, text, who, reason, seq.value());
  }));
  return version;
}

Result<std::vector<MetadataVersion>> Archive::metadata_history(const std::string& recording_id) {
  auto r = recording(recording_id);
  if (!r) return r.error();
  std::vector<MetadataVersion> out;
  SqliteStmt s(*db_,
               "SELECT version, metadata, changed_by, changed_at, COALESCE(reason, ''), ledger_seq "
               "FROM metadata_versions WHERE recording_id = ?1 ORDER BY version");
  s.bind(1, recording_id);
  while (s.step() == kSqliteRow) {
    out.push_back({static_cast<int>(s.int64(0)), s.text(1), s.text(2), s.text(3), s.text(4),
                   static_cast<uint64_t>(s.int64(5))});
  }
  return out;
}

Result<std::vector<std::string>> Archive::objects_of(const std::string& recording_id) {
  std::vector<std::string> out;
  SqliteStmt s(*db_, "SELECT id FROM objects WHERE recording_id = ?1 ORDER BY rowid");
  s.bind(1, recording_id);
  while (s.step() == kSqliteRow) out.push_back(s.text(0));
  return out;
}

Result<ObjectInfo> Archive::object_info(const std::string& object_id) {
  SqliteStmt s(*db_,
               "SELECT recording_id, kind, path, status, interrupted, "
               "COALESCE(plaintext_size, 0), COALESCE(sha256, ''), COALESCE(ledger_seq, -1) "
               "FROM objects WHERE id = ?1");
  s.bind(1, object_id);
  if (s.step() != kSqliteRow) return not_found("object", object_id);
  ObjectInfo o;
  o.id = object_id;
  o.recording_id = s.text(0);
  o.kind = s.text(1);
  o.key = s.text(2);
  o.path = store_->describe(o.key);
  o.status = s.text(3);
  o.interrupted = s.int64(4) != 0;
  o.plaintext_size = static_cast<uint64_t>(s.int64(5));
  o.sha256 = s.text(6);
  o.ledger_seq = static_cast<uint64_t>(s.int64(7));
  return o;
}

Result<DataKey> Archive::export_data_key(const std::string& object_id, const std::string& who) {
  VB_TRY(writable());
  auto key = data_key(object_id);
  if (!key) return key.error();
  VB_TRY(transact([&]() -> Status {
    return append_event({{"type", "access.key"}, {"object", object_id}, {"by", who}});
  }));
  return key;
}

Status Archive::log_export(const std::vector<std::string>& recordings, const std::string& who) {
  VB_TRY(writable());
  return transact([&]() -> Status {
    auto seq =
        ledger_->append({{"type", "access.export"}, {"recordings", recordings}, {"by", who}});
    if (!seq) return seq.error();
    return ok_status();
  });
}

Status Archive::log_access(const std::string& what, const std::string& recording,
                           const std::string& who) {
  VB_TRY(writable());
  return transact([&]() -> Status {
    // A denied request may name anything: kept as its target, never indexed as a recording.
    return append_event({{"type", "access." + what},
                         {what == "denied" ? "target" : "recording", recording},
                         {"by", who}});
  });
}

Result<DataKey> Archive::data_key(const std::string& object_id) {
  auto oid = parse_object_id(object_id);
  if (!oid) return oid.error();
  SqliteStmt s(*db_, "SELECT wrapped FROM data_keys WHERE object_id = ?1");
  s.bind(1, object_id);
  if (s.step() != kSqliteRow) return not_found("data key for object", object_id);
  if (s.is_null(0)) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "object " + object_id + " was disposed: its key is destroyed");
  }
  return unwrap_data_key(master_, s.blob(0), oid.value());
}

Result<std::unique_ptr<ObjectReader>> Archive::read_object(const std::string& object_id,
                                                           const std::string& who) {
  VB_TRY(writable());
  std::string object_key;
  {
    SqliteStmt s(*db_, "SELECT path, status FROM objects WHERE id = ?1");
    s.bind(1, object_id);
    if (s.step() != kSqliteRow) return not_found("object", object_id);
    object_key = s.text(0);
  }
  auto key = data_key(object_id);
  if (!key) return key.error();
  VB_TRY(transact([&]() -> Status {
    return append_event({{"type", "access.read"}, {"object", object_id}, {"by", who}});
  }));
  auto source = store_->open(object_key);
  if (!source) return source.error();
  return ObjectReader::open(std::move(source).value(), key.value());
}

Status Archive::extend_retention(const std::string& recording_id, const std::string& until,
                                 const std::string& who) {
  VB_TRY(writable());
  auto r = recording(recording_id);
  if (!r) return r.error();
  if (until.size() != 20 || until[10] != 'T' || until.back() != 'Z') {
    return make_error(ErrorCode::kInvalidArgument,
                      "retention must be an ISO 8601 UTC time like 2033-01-31T00:00:00Z");
  }
  if (until <= r.value().retention_until) {
    return refuse("retention.shorten", recording_id, who,
                  "retention of recording " + recording_id + " ends " + r.value().retention_until +
                      "; it can be extended, never shortened");
  }
  return transact([&]() -> Status {
    SqliteStmt s(*db_, "UPDATE recordings SET retention_until = ?2 WHERE id = ?1");
    s.bind(1, recording_id);
    s.bind(2, until);
    if (s.step() != kSqliteDone) return db_->error("extending retention");
    return append_event({{"type", "retention.extended"},
                         {"recording", recording_id},
                         {"from", r.value().retention_until},
                         {"until", until},
                         {"by", who}});
  });
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
  return transact([&]() -> Status {
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
  });
}

Status Archive::release_hold(const std::string& case_id, const std::string& recording_id,
                             const std::string& who) {
  VB_TRY(writable());
  return transact([&]() -> Status {
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
  });
}

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

Result<uint64_t> Archive::rotate_master_key(const std::string& new_key_file,
                                            const std::string& who) {
  VB_TRY(writable());
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

Result<std::vector<Finding>> Archive::verify(bool deep) {
  std::vector<ObjectCheck> objects;
  auto findings = verify_records(&objects);
  if (!findings) return findings.error();
  for (const ObjectCheck& o : objects) {
    if (auto f = check_object(o, deep)) findings.value().push_back(*f);
  }
  return findings;
}

std::optional<Finding> Archive::check_object(const ObjectCheck& o, bool deep) {
  auto source = store_->open(o.key);
  if (!source) {
    auto exists = store_->exists(o.key);
    if (exists && !exists.value()) return Finding{o.where, "object file is missing (deleted)"};
    return Finding{o.where, source.error().message};
  }
  auto h = sha256_of(*source.value());
  if (!h) return Finding{o.where, h.error().message};
  if (to_hex(h.value()) != o.sha256) {
    const uint64_t size = source.value()->size();
    return Finding{o.where,
                   size < o.stored_size
                       ? "object file is truncated (" + std::to_string(size) + " of " +
                             std::to_string(o.stored_size) + " bytes)"
                       : "object file content differs from the ledger (altered or swapped)"};
  }
  if (!deep) return std::nullopt;
  auto key = data_key(o.id);
  if (!key) return Finding{o.where, key.error().message};
  auto reader = ObjectReader::open(std::move(source).value(), key.value());
  if (!reader) return Finding{o.where, reader.error().message};
  if (auto st = reader.value()->verify(); !st) return Finding{o.where, st.error().message};
  return std::nullopt;
}

Result<std::vector<Finding>> Archive::verify_records(std::vector<ObjectCheck>* objects) {
  auto ledger_findings = ledger_->verify();
  if (!ledger_findings) return ledger_findings.error();
  std::vector<Finding> findings = ledger_findings.value();
  // What the ledger says about each object and recording.
  std::map<std::string, json> sealed_by_ledger;
  std::map<std::string, json> created_by_ledger;
  std::set<std::string> disposed_objects;
  // (recording, metadata version) -> metadata hash, from recording.created and metadata.updated.
  std::map<std::pair<std::string, int64_t>, std::string> versions_by_ledger;
  std::map<std::string, std::pair<int64_t, std::string>> latest_metadata;  // version, hash
  std::map<std::string, std::string> retention_by_ledger;                  // recording -> until
  std::map<std::pair<std::string, std::string>, bool> holds_by_ledger;     // (case, rec) -> active
  std::set<std::string> disposed_recordings;
  {
    SqliteStmt s(*db_, "SELECT entry FROM ledger_entries ORDER BY seq");
    while (s.step() == kSqliteRow) {
      const auto bytes = s.blob(0);
      auto e = json::parse(bytes.begin(), bytes.end(), nullptr, false);
      if (!e.is_object()) continue;  // reported by the ledger check
      const std::string type = e.value("type", "");
      if (type == "object.sealed") sealed_by_ledger[e.value("object", "")] = e;
      if (type == "recording.created" || type == "metadata.updated") {
        const std::string rec = e.value("recording", "");
        const int64_t version = type == "recording.created" ? 1 : e.value("version", int64_t{0});
        const std::string sha = e.value("metadata_sha256", "");
        versions_by_ledger[{rec, version}] = sha;
        latest_metadata[rec] = {version, sha};
        if (type == "recording.created") created_by_ledger[rec] = e;
      }
      if (type == "recording.created") {
        retention_by_ledger[e.value("recording", "")] = e.value("retention_until", "");
      }
      if (type == "retention.extended") {
        auto& until = retention_by_ledger[e.value("recording", "")];
        until = std::max(until, e.value("until", std::string()));
      }
      if (type == "hold.set" || type == "hold.released") {
        holds_by_ledger[{e.value("case", ""), e.value("recording", "")}] = type == "hold.set";
      }
      if (type == "recording.disposed") {
        disposed_recordings.insert(e.value("recording", ""));
        if (e.contains("objects") && e["objects"].is_array()) {
          for (const auto& o : e["objects"]) {
            if (o.is_string()) disposed_objects.insert(o.get<std::string>());
          }
        }
      }
    }
  }
  // Recordings: their current metadata and serial number, retention and disposal.
  std::set<std::string> catalog_recordings;
  {
    SqliteStmt s(*db_,
                 "SELECT id, metadata, metadata_version, serial, retention_until, status "
                 "FROM recordings");
    while (s.step() == kSqliteRow) {
      const std::string id = s.text(0);
      catalog_recordings.insert(id);
      auto it = created_by_ledger.find(id);
      const std::string status = s.text(5);
      if (it != created_by_ledger.end() && s.text(4) != retention_by_ledger[id]) {
        findings.push_back({"recording " + id, "retention until " + s.text(4) +
                                                   " in the catalog, but the ledger says " +
                                                   retention_by_ledger[id] + " (edited row)"});
      }
      if (status == "disposed" && !disposed_recordings.count(id)) {
        findings.push_back(
            {"recording " + id,
             "marked disposed in the catalog, but the ledger has no "
             "recording.disposed entry for it (disposed behind the archive's back)"});
      } else if (status != "disposed" && disposed_recordings.count(id)) {
        findings.push_back({"recording " + id, "disposed in the ledger, but the catalog says " +
                                                   status + " (edited row)"});
      }
      const auto& latest = latest_metadata[id];
      if (it == created_by_ledger.end()) {
        findings.push_back(
            {"recording " + id, "in the catalog but never created in the ledger (forged row)"});
      } else if (latest.second != sha256_hex(s.text(1)) || latest.first != s.int64(2)) {
        findings.push_back(
            {"recording " + id, "catalog metadata differs from what was recorded (edited row)"});
      } else if (it->second.contains("serial") &&
                 it->second.value("serial", int64_t{0}) != s.int64(3)) {
        findings.push_back(
            {"recording " + id, "serial number differs from the ledger (edited row)"});
      }
    }
  }
  // Every metadata version, byte-exact (audit-trail re-creation).
  {
    std::set<std::pair<std::string, int64_t>> catalog_versions;
    SqliteStmt s(*db_, "SELECT recording_id, version, metadata FROM metadata_versions");
    while (s.step() == kSqliteRow) {
      const std::pair<std::string, int64_t> key{s.text(0), s.int64(1)};
      catalog_versions.insert(key);
      const std::string where =
          "recording " + key.first + " metadata version " + std::to_string(key.second);
      auto it = versions_by_ledger.find(key);
      if (it == versions_by_ledger.end()) {
        findings.push_back({where, "not in the ledger (forged row)"});
      } else if (it->second != sha256_hex(s.text(2))) {
        findings.push_back({where, "differs from what was recorded (edited row)"});
      }
    }
    for (const auto& [key, sha] : versions_by_ledger) {
      if (!catalog_versions.count(key) && catalog_recordings.count(key.first)) {
        findings.push_back(
            {"recording " + key.first + " metadata version " + std::to_string(key.second),
             "in the ledger but missing from the catalog (deleted row)"});
      }
    }
  }
  // Legal holds: every hold the ledger set and did not release is active in the catalog, and
  // the catalog holds nothing the ledger did not set.
  {
    std::map<std::pair<std::string, std::string>, bool> catalog_holds;
    SqliteStmt s(*db_, "SELECT case_id, recording_id, released_at IS NULL FROM legal_holds");
    while (s.step() == kSqliteRow) catalog_holds[{s.text(0), s.text(1)}] = s.int64(2) != 0;
    for (const auto& [key, active] : holds_by_ledger) {
      auto it = catalog_holds.find(key);
      const bool catalog_active = it != catalog_holds.end() && it->second;
      if (active != catalog_active) {
        findings.push_back(
            {"recording " + key.second + " legal hold " + key.first,
             active ? (it == catalog_holds.end()
                           ? "set in the ledger, missing from the catalog (deleted row)"
                           : "active in the ledger, released in the catalog (edited row)")
                    : "released in the ledger, active in the catalog (edited row)"});
      }
    }
    for (const auto& [key, active] : catalog_holds) {
      if (!holds_by_ledger.count(key)) {
        findings.push_back({"recording " + key.second + " legal hold " + key.first,
                            "in the catalog but never set in the ledger (forged row)"});
      }
    }
  }
  for (const auto& [id, e] : created_by_ledger) {
    if (!catalog_recordings.count(id)) {
      findings.push_back(
          {"recording " + id, "in the ledger but missing from the catalog (deleted row)"});
    }
  }
  // Objects: file <-> catalog <-> ledger.
  std::set<std::string> catalog_paths;
  std::set<std::string> catalog_objects;
  struct Row {
    std::string id, recording, path, status, sha;
    int64_t size;
  };
  std::vector<Row> rows;
  {
    SqliteStmt s(*db_,
                 "SELECT id, recording_id, path, status, COALESCE(sha256, ''), "
                 "COALESCE(stored_size, -1) FROM objects");
    while (s.step() == kSqliteRow) {
      rows.push_back({s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), s.int64(5)});
    }
  }
  for (const Row& r : rows) {
    catalog_objects.insert(r.id);
    catalog_paths.insert(r.path);
    const std::string where = "recording " + r.recording + " object " + r.id + " (" + r.path + ")";
    auto led = sealed_by_ledger.find(r.id);
    if (r.status == "disposed") {  // its key destroyed, its file removed: the ledger must say so
      if (!disposed_objects.count(r.id)) {
        findings.push_back({where,
                            "marked disposed in the catalog, but no recording.disposed entry of "
                            "the ledger names it (disposed behind the archive's back)"});
      }
      continue;
    }
    if (disposed_objects.count(r.id)) {
      findings.push_back(
          {where, "disposed in the ledger, but the catalog says " + r.status + " (edited row)"});
      continue;
    }
    if (r.status == "open") {  // being written; the ledger has not sealed it
      if (led != sealed_by_ledger.end()) {
        findings.push_back({where, "sealed in the ledger, but open in the catalog (edited row)"});
      }
      continue;
    }
    if (led == sealed_by_ledger.end()) {
      findings.push_back({where, "sealed in the catalog but not in the ledger (forged row)"});
    } else if (led->second.value("sha256", "") != r.sha ||
               led->second.value("stored_size", int64_t{-1}) != r.size ||
               led->second.value("recording", "") != r.recording) {
      findings.push_back({where, "catalog row differs from the ledger (edited row)"});
    }
    // The content is checked against what the ledger says (the catalog only if the ledger
    // lost the entry, which is reported above).
    const bool in_ledger = led != sealed_by_ledger.end();
    objects->push_back(
        {r.id, where, r.path, in_ledger ? led->second.value("sha256", "") : r.sha,
         static_cast<uint64_t>(in_ledger ? led->second.value("stored_size", int64_t{0}) : r.size)});
  }
  for (const auto& [id, e] : sealed_by_ledger) {
    if (!catalog_objects.count(id)) {
      findings.push_back(
          {"object " + id, "sealed in the ledger but missing from the catalog (deleted row)"});
    }
  }
  // Data keys destroyed (crypto-shredded) for objects the ledger never disposed.
  {
    SqliteStmt s(*db_, "SELECT object_id FROM data_keys WHERE wrapped IS NULL");
    while (s.step() == kSqliteRow) {
      if (!disposed_objects.count(s.text(0))) {
        findings.push_back({"object " + s.text(0),
                            "its data key was destroyed, but the ledger never disposed it"});
      }
    }
  }
  // The signing key itself: an archive with signed heads that lost its key can no longer sign,
  // and a writer refuses to start until it is restored or replaced explicitly.
  if (std::error_code ec; !fs::exists(options_.signing_key_file, ec)) {
    if (auto head = ledger_->latest_head(); head && head.value()) {
      findings.push_back({"signing key " + options_.signing_key_file,
                          "is missing (deleted); restore it from backup, or replace it with "
                          "`verbatim archive replace-signing-key`"});
    }
  }
  // Files nobody registered.
  auto keys = store_->list();
  if (!keys) return keys.error();
  for (const std::string& rel : keys.value()) {
    if (!catalog_paths.count(rel))
      findings.push_back({"file " + rel, "extra object file not in the catalog (inserted)"});
  }
  return findings;
}

}  // namespace verbatim::archive
