#include "archive/archive.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "archive/archive_detail.h"
#include "archive/catalog_index.h"
#include "archive/schema.h"

namespace verbatim::archive {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace detail;  // NOLINT(google-build-using-namespace)

Archive::Archive(ArchiveOptions options, const Clock& clock, std::string actor)
    : options_(std::move(options)), clock_(clock), actor_(std::move(actor)) {}

Archive::~Archive() {
  // Whatever this process logged gets a signed head before the writer goes away.
  if (!options_.read_only && ledger_ && ledger_->size() > signed_size_) (void)sign_head();
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
  unlock_readers();
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

Status Archive::owns_writer_lock(std::string_view what) const {
  VB_TRY(writable());
  if (!options_.shared) return ok_status();
  return make_error(ErrorCode::kFailedPrecondition,
                    std::string(what) +
                        " needs the archive's writer (the recorder); this process "
                        "opened it beside the writer");
}

Status Archive::lock_readers(bool exclusive) {
  const std::string path = options_.root + "/readers.lock";
  unlock_readers();
  readers_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (readers_fd_ >= 0 && ::flock(readers_fd_, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0) {
    return ok_status();
  }
  unlock_readers();
  return make_error(ErrorCode::kFailedPrecondition,
                    exclusive ? "other processes have the archive at " + options_.root +
                                    " open (the admin API, a search or an export): stop them "
                                    "first (" +
                                    path + ")"
                              : "the archive's keys are being replaced; try again when that "
                                "is done (" +
                                    path + ")");
}

void Archive::unlock_readers() {
  if (readers_fd_ >= 0) ::close(readers_fd_);  // releases the flock
  readers_fd_ = -1;
}

// Under the write lock, after reading what other processes appended, so heads are witnessed
// in order of size whoever signs them.
Result<TreeHead> Archive::sign_head() {
  VB_TRY(writable());
  VB_TRY(db_->exec("BEGIN IMMEDIATE"));
  Result<TreeHead> head = [&]() -> Result<TreeHead> {
    VB_TRY(ledger_->sync());
    return ledger_->sign_head();
  }();
  if (head) {
    if (auto committed = db_->exec("COMMIT"); !committed) head = committed.error();
  }
  if (!head) {
    (void)db_->exec("ROLLBACK");
    return head;
  }
  {
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
  if (options.read_only && options.shared) {
    return make_error(ErrorCode::kInvalidArgument, "an archive is opened read-only or shared");
  }
  if (!options.read_only && !options.shared) {
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
  if (a->options_.read_only || a->options_.shared) {
    if (!fs::exists(a->options_.root + "/archive.db")) {
      return make_error(ErrorCode::kNotFound, "no archive at " + a->options_.root +
                                                  " (the recorder makes it with its first call)");
    }
    if (a->options_.shared) {
      VB_TRY(a->lock_readers(false));
      // No writer running: recover what a crashed one left open now, as it would on its next
      // start, holding its lock only while doing so.
      const std::string lock = a->options_.root + "/lock";
      const int fd = ::open(lock.c_str(), O_RDWR | O_CLOEXEC);
      if (fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) == 0) {
        a->lock_fd_ = fd;
      } else if (fd >= 0) {
        ::close(fd);
      }
    }
  } else {
    const std::string lock = a->options_.root + "/lock";
    a->lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    // A process beside the writer may hold the lock for a moment (recovering after a crash).
    bool locked = false;
    for (int i = 0; a->lock_fd_ >= 0 && i < 50 && !locked; ++i) {
      locked = ::flock(a->lock_fd_, LOCK_EX | LOCK_NB) == 0;
      if (!locked) ::usleep(100'000);
    }
    if (!locked) {
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
  // With an HSM, both keys are the token's; an archive that cannot reach it does not open (T38:
  // no recording is made, rather than one the archive could not encrypt or sign).
  std::shared_ptr<Hsm> hsm;
  if (a->options_.hsm.enabled()) {
    auto h = Hsm::open(a->options_.hsm);
    if (!h) {
      return make_error(h.error().code, "the archive's keys are in an HSM that cannot be used (" +
                                            h.error().message + "); nothing is recorded until " +
                                            "it can");
    }
    hsm = std::move(h).value();
    a->hsm_ = hsm;
  }
  const bool new_archive = !fs::exists(a->options_.root + "/archive.db");
  const bool moving = hsm && a->options_.moving_to_hsm;
  // Moving to the HSM: the data keys may be under the file's key or (an interrupted move) the
  // token's already; the check against the catalog below takes the one they are under.
  std::optional<MasterKey> moved_master;
  if (moving) {
    auto in_hsm = hsm_master_key(hsm, false);
    if (in_hsm) moved_master = in_hsm.value();
    if (!fs::exists(a->options_.master_key_file) && moved_master) {
      a->master_ = *moved_master;
    } else {
      auto file = load_master_key(a->options_.master_key_file);
      if (!file) return file.error();
      a->master_ = file.value();
    }
  } else {
    auto master =
        hsm ? hsm_master_key(hsm, new_archive && !a->options_.read_only && !a->options_.shared)
        : fs::exists(a->options_.master_key_file) || a->options_.read_only || a->options_.shared
            ? load_master_key(a->options_.master_key_file)
            : create_master_key(a->options_.master_key_file);
    if (!master) return master.error();
    a->master_ = master.value();
  }
  if (a->options_.read_only) {
    auto pk = load_public_key(a->options_.signing_key_file + ".pub");
    if (!pk) return pk.error();
    a->signing_.public_key = pk.value();  // no secret key: cannot sign
  }
  std::optional<SigningKey> hsm_signing;
  // Moving: the file's signing key while it is there (move_keys_to_hsm() takes the token's key
  // over only when the ledger already names it).
  if (hsm && !a->options_.read_only && !(moving && fs::exists(a->options_.signing_key_file))) {
    auto found = find_hsm_signing_key(hsm);
    if (!found) return found.error();
    hsm_signing = std::move(found).value();
  }
  const std::string signing_key_name =
      hsm ? "'" + a->options_.hsm.signing_key_label + "' (" + hsm->describe() + ")"
          : a->options_.signing_key_file;
  const bool have_signing_key =
      hsm_signing.has_value() || ((!hsm || moving) && fs::exists(a->options_.signing_key_file));
  if (a->options_.replace_lost_signing_key && a->options_.replacement_reason.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "say why the signing key is replaced (--reason): it goes into the ledger");
  }
  if (!a->options_.read_only && have_signing_key) {
    if (a->options_.replace_lost_signing_key) {
      return make_error(
          ErrorCode::kFailedPrecondition,
          "the signing key " + signing_key_name + " is present: there is no lost key to replace");
    }
    auto signing = hsm_signing ? Result<SigningKey>(*hsm_signing)
                               : load_signing_key(a->options_.signing_key_file);
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
  if (a->node_id_.empty() && !a->options_.read_only && !a->options_.shared) {
    a->node_id_ = object_id_hex(random_object_id()).substr(0, 16);
    SqliteStmt s(*a->db_, "INSERT INTO archive_info(key, value) VALUES('node_id', ?1)");
    s.bind(1, a->node_id_);
    if (s.step() != kSqliteDone) return a->db_->error("storing the node id");
  }
  if (a->options_.shared && !have_signing_key) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "the archive's signing key " + signing_key_name +
                          " is missing: the writer (the recorder) reports what to do");
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
          "the archive's signing key " + signing_key_name + " is missing, but its " +
              "ledger has " + std::to_string(entries) + " entries signed under it. Restore the " +
              "key from your backup; if it is lost for good, run `verbatim archive " +
              "replace-signing-key --reason TEXT` (recorded in the ledger; heads signed before " +
              "stay verifiable with the old public key)");
    }
    if (entries == 0 && a->options_.replace_lost_signing_key) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "this archive has no ledger yet: there is no lost key to replace");
    }
    auto signing = hsm && !moving
                       ? create_hsm_signing_key(hsm, a->options_.signing_key_file + ".pub")
                       : create_signing_key(a->options_.signing_key_file);
    if (!signing) return signing.error();
    a->signing_ = signing.value();
  }
  auto ledger = Ledger::open(*a->db_, a->signing_, clock, a->options_.root + "/ledger-heads");
  if (!ledger) return ledger.error();
  a->ledger_ = std::move(ledger).value();
  if (a->options_.replace_lost_signing_key) {
    VB_TRY(a->lock_readers(true));
    VB_TRY(a->replace_signing_key());
  }
  {  // The master key must be the one the data keys are wrapped under.
    SqliteStmt s(*a->db_, "SELECT DISTINCT master_key_id FROM data_keys WHERE wrapped IS NOT NULL");
    while (s.step() == kSqliteRow) {
      if (moved_master && s.text(0) == moved_master->id) a->master_ = *moved_master;
      if (s.text(0) != a->master_.id) {
        return make_error(ErrorCode::kFailedPrecondition,
                          "data keys are wrapped under master key " + s.text(0) + ", but " +
                              (hsm ? a->master_.describe()
                                   : a->options_.master_key_file + " holds key " + a->master_.id) +
                              (hsm ? " has id " + a->master_.id : ""));
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
  if (a->options_.shared) {
    if (a->ledger_->size() == 0 || a->node_id_.empty()) {
      return make_error(ErrorCode::kConflict,
                        "the archive at " + a->options_.root + " is being created; try again");
    }
    if (a->lock_fd_ >= 0) {  // no writer was running (above)
      VB_TRY(a->recover_open_objects());
      ::close(a->lock_fd_);
      a->lock_fd_ = -1;
    }
    return a;
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
  {  // Recordings made before the search index existed (or by a build without it).
    size_t indexed = 0;
    VB_TRY(a->transact([&]() -> Status {
      auto n = index_missing(*a->db_);
      if (!n) return n.error();
      indexed = n.value();
      return ok_status();
    }));
    if (indexed > 0) spdlog::info("archive: indexed {} recording(s) for search", indexed);
  }
  return a;
}

Status Archive::transact(const std::function<Status()>& body) {
  VB_TRY(db_->exec("BEGIN IMMEDIATE"));
  Status st = ledger_->sync();  // what processes beside this one appended
  if (st) st = body();
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
  VB_TRY(owns_writer_lock("creating a recording"));
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
  VB_TRY(owns_writer_lock("writing an object"));
  auto free = free_bytes();
  if (!free) return free.error();
  if (free.value() < options_.min_free_bytes) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "refusing a new object: " + std::to_string(free.value() >> 20) +
                          " MiB free under " + objects_dir_ + ", below the " +
                          std::to_string(options_.min_free_bytes >> 20) + " MiB threshold");
  }
  std::string retain_until;  // the object is locked as long as its recording is kept
  {
    SqliteStmt s(*db_, "SELECT status, retention_until FROM recordings WHERE id = ?1");
    s.bind(1, recording_id);
    if (s.step() != kSqliteRow) return not_found("recording", recording_id);
    const std::string status = s.text(0);
    retain_until = s.text(1);
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
  auto wrapped = wrap_data_key(master_, key, oid);
  if (!wrapped) return wrapped.error();  // the HSM: no object it could not protect
  // The catalog row (status open) comes first, so a crash at any later point leaves an
  // object that recovery finds.
  VB_TRY(transact([&]() -> Status {
    SqliteStmt k(*db_,
                 "INSERT INTO data_keys(object_id, master_key_id, wrapped) VALUES(?1, ?2, ?3)");
    k.bind(1, obj->id_);
    k.bind(2, master_.id);
    k.bind_blob(3, wrapped.value());
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
  auto sink = store_->create(rel, retain_until);
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
  VB_TRY(owns_writer_lock("sealing an object"));
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
    std::string id, recording, kind, path, retain_until;
  };
  std::vector<Open> open;
  {
    SqliteStmt s(*db_,
                 "SELECT o.id, o.recording_id, o.kind, o.path, r.retention_until FROM objects o "
                 "JOIN recordings r ON r.id = o.recording_id WHERE o.status = 'open'");
    while (s.step() == kSqliteRow) {
      open.push_back({s.text(0), s.text(1), s.text(2), s.text(3), s.text(4)});
    }
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
      auto sink =
          exists.value() ? store_->resume(o.path, 0) : store_->create(o.path, o.retain_until);
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
  VB_TRY(owns_writer_lock("completing a recording"));
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
  // The search index follows every version, in the same transaction.
  return index_recording(*db_, recording_id, json::parse(text, nullptr, false));
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

Status Archive::index_transcript(const std::string& recording_id, const std::string& object_id,
                                 const std::vector<IndexedUtterance>& utterances) {
  VB_TRY(writable());
  VB_TRY(owns_writer_lock("indexing a transcript"));
  return transact([&]() -> Status {
    SqliteStmt s(*db_, "SELECT status FROM recordings WHERE id = ?1");
    s.bind(1, recording_id);
    if (s.step() != kSqliteRow) return not_found("recording", recording_id);
    if (s.text(0) == "disposed") {
      return make_error(ErrorCode::kFailedPrecondition,
                        "recording " + recording_id + " was disposed; nothing of it is indexed");
    }
    return index_utterances(*db_, recording_id, object_id, utterances);
  });
}

Status Archive::drop_transcripts(const std::string& recording_id) {
  VB_TRY(writable());
  VB_TRY(owns_writer_lock("indexing a transcript"));
  return transact([&] { return drop_utterances(*db_, recording_id); });
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

Status Archive::log_search(const json& query, const std::vector<std::string>& recordings,
                           const std::string& who) {
  VB_TRY(writable());
  return transact([&]() -> Status {
    return append_event(
        {{"type", "access.search"}, {"query", query}, {"recordings", recordings}, {"by", who}});
  });
}

Status Archive::log_case(const std::string& case_name, const std::string& action,
                         const std::vector<std::string>& recordings, const json& detail,
                         const std::string& who) {
  VB_TRY(writable());
  return transact([&]() -> Status {
    return append_event({{"type", "case." + action},
                         {"case", case_name},
                         {"recordings", recordings},
                         {"detail", detail},
                         {"by", who}});
  });
}

Status Archive::log_access(const std::string& what, const std::string& recording,
                           const std::string& who, const json& detail) {
  VB_TRY(writable());
  return transact([&]() -> Status {
    // A denied request may name anything: kept as its target, never indexed as a recording.
    json event = {{"type", "access." + what}, {"by", who}};
    // Without a recording (a call control step before its recording exists): none named.
    if (what == "denied" || !recording.empty()) {
      event[what == "denied" ? "target" : "recording"] = recording;
    }
    if (detail.is_object()) {
      for (const auto& [k, v] : detail.items()) {
        if (!event.contains(k)) event[k] = v;
      }
    }
    return append_event(std::move(event));
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

Result<std::string> Archive::read_whole(const std::string& object_id, const std::string& who) {
  auto reader = read_object(object_id, who);
  if (!reader) return reader.error();
  VB_TRY(reader.value()->verify());
  std::string content;
  for (size_t i = 0; i < reader.value()->chunks().size(); ++i) {
    auto chunk = reader.value()->read_chunk(i);
    if (!chunk) return chunk.error();
    content.append(reinterpret_cast<const char*>(chunk.value().data()), chunk.value().size());
  }
  return content;
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

Result<std::unique_ptr<LiveReader>> Archive::read_live(const std::string& object_id) {
  VB_TRY(writable());
  std::string object_key;
  {
    SqliteStmt s(*db_, "SELECT path FROM objects WHERE id = ?1");
    s.bind(1, object_id);
    if (s.step() != kSqliteRow) return not_found("object", object_id);
    object_key = s.text(0);
  }
  auto key = data_key(object_id);
  if (!key) return key.error();
  return std::make_unique<LiveReader>(store_, object_key, key.value());
}

LiveReader::~LiveReader() { sodium_memzero(data_key_.data(), data_key_.size()); }

Result<std::vector<uint8_t>> LiveReader::poll() {
  auto source = store_->open(key_);
  if (!source) return source.error();
  auto reader = ObjectReader::open(std::move(source).value(), data_key_);
  if (!reader) return reader.error();
  std::vector<uint8_t> out;
  for (; next_chunk_ < reader.value()->chunks().size(); ++next_chunk_) {
    auto chunk = reader.value()->read_chunk(next_chunk_);
    if (!chunk) return chunk.error();
    out.insert(out.end(), chunk.value().begin(), chunk.value().end());
  }
  return out;
}

}  // namespace verbatim::archive
