#include "archive/s3_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "archive/keys.h"

namespace verbatim::archive {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr uint64_t kMinPartSize = uint64_t{5} << 20;  // S3's smallest part but the last
constexpr uint64_t kReadAhead = uint64_t{1} << 20;

Status bad_key(const std::string& key) {
  return make_error(ErrorCode::kInvalidArgument, "invalid object key '" + key + "'");
}

Status check_spool_key(const std::string& key) {
  const fs::path p(key);
  bool bad = key.empty() || p.is_absolute() || key.ends_with(".json");
  for (const auto& part : p) bad = bad || part == ".." || part == ".";
  if (bad) return bad_key(key);
  return ok_status();
}

Status fsync_path(const fs::path& p, bool dir) {
  const int fd = ::open(p.c_str(), (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return make_error(ErrorCode::kIo, "cannot open " + p.string());
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return make_error(ErrorCode::kIo, "cannot fsync " + p.string());
  return ok_status();
}

// What the bucket should say of an object: the MD5 ETag of one PUT, or of a multipart upload
// (the MD5 of the parts' MD5s, "-" and the number of parts).
Result<std::string> expected_etag(const ObjectSource& src, uint64_t part_size) {
  const uint64_t size = src.size();
  std::string part;
  if (size <= part_size) {
    part.resize(size);
    VB_TRY(src.read_at(0, std::span(reinterpret_cast<uint8_t*>(part.data()), part.size())));
    return md5_hex(part);
  }
  std::string md5s;
  int parts = 0;
  for (uint64_t off = 0; off < size; off += part_size, ++parts) {
    part.resize(std::min(part_size, size - off));
    VB_TRY(src.read_at(off, std::span(reinterpret_cast<uint8_t*>(part.data()), part.size())));
    auto raw = unhex(md5_hex(part));
    md5s.append(raw.value().begin(), raw.value().end());
  }
  return md5_hex(md5s) + "-" + std::to_string(parts);
}

struct Meta {
  std::string retain_until;
  bool legal_hold = false;
};

// Reads in the bucket by ranged GETs, with read-ahead (the archive reads a chunk at a time).
class S3Source final : public ObjectSource {
 public:
  S3Source(const S3Client& client, std::string key, std::string label, uint64_t size)
      : client_(client), key_(std::move(key)), label_(std::move(label)), size_(size) {}
  const std::string& name() const override { return label_; }
  uint64_t size() const override { return size_; }
  Status read_at(uint64_t offset, std::span<uint8_t> out) const override {
    if (offset + out.size() > size_) {
      return make_error(ErrorCode::kFailedPrecondition,
                        label_ + ": ends before byte " + std::to_string(offset + out.size()));
    }
    std::lock_guard lock(mu_);
    if (offset < cache_at_ || offset + out.size() > cache_at_ + cache_.size()) {
      const uint64_t want =
          std::min<uint64_t>(std::max<uint64_t>(out.size(), kReadAhead), size_ - offset);
      auto got = client_.get_range(key_, offset, want);
      if (!got) return got.error();
      cache_ = std::move(got).value();
      cache_at_ = offset;
    }
    std::copy_n(cache_.data() + (offset - cache_at_), out.size(), out.data());
    return ok_status();
  }

 private:
  const S3Client& client_;
  std::string key_, label_;
  uint64_t size_;
  mutable std::mutex mu_;
  mutable std::string cache_;
  mutable uint64_t cache_at_ = 0;
};

class S3Store;

// The spool file being written; commit() moves it to the outbox and wakes the uploader.
class SpoolSink final : public ObjectSink {
 public:
  SpoolSink(S3Store& store, std::string key, std::unique_ptr<ObjectSink> file)
      : store_(store), key_(std::move(key)), file_(std::move(file)) {}
  const std::string& name() const override { return file_->name(); }
  Status append(std::span<const uint8_t> data) override { return file_->append(data); }
  Status sync() override { return file_->sync(); }
  Result<std::function<Status()>> deferred_sync() override { return file_->deferred_sync(); }
  Status commit() override;

 private:
  S3Store& store_;
  std::string key_;
  std::unique_ptr<ObjectSink> file_;
};

class S3Store final : public S3ObjectStore {
 public:
  S3Store(S3StoreOptions options, S3Client client, std::unique_ptr<ObjectStore> open,
          std::unique_ptr<ObjectStore> outbox)
      : options_(std::move(options)),
        client_(std::move(client)),
        open_(std::move(open)),
        outbox_(std::move(outbox)),
        spool_(options_.spool_dir) {}

  ~S3Store() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (uploader_.joinable()) uploader_.join();
  }
  S3Store(const S3Store&) = delete;
  S3Store& operator=(const S3Store&) = delete;

  Status start() {
    if (!options_.upload) return ok_status();
    // The outbox as the last run left it, oldest commit first.
    auto keys = outbox_->list();
    if (!keys) return keys.error();
    std::vector<std::pair<fs::file_time_type, std::string>> order;
    for (const auto& k : keys.value()) {
      std::error_code ec;
      order.emplace_back(fs::last_write_time(spool_ / "outbox" / k, ec), k);
    }
    std::sort(order.begin(), order.end());
    for (auto& [t, k] : order) {
      std::error_code ec;
      queued_bytes_ += fs::file_size(spool_ / "outbox" / k, ec);
      queue_.push_back(k);
    }
    if (!queue_.empty()) {
      spdlog::info("archive: {} object(s) in the S3 spool from before; uploading them first",
                   queue_.size());
    }
    uploader_ = std::thread([this] { upload_loop(); });
    return ok_status();
  }

  std::string describe(const std::string& key) const override {
    return client_.describe(options_.prefix + key);
  }

  Result<std::unique_ptr<ObjectSink>> create(const std::string& key,
                                             const std::string& retain_until) override {
    VB_TRY(check_spool_key(key));
    // Keys are random object ids: exclusive creation in the spool is enough (asking the bucket
    // would stop recording whenever the store is out of reach). Should a key ever repeat, the
    // locked version in the bucket stays: S3 Object Lock keeps every version.
    if (auto in_outbox = outbox_->exists(key); !in_outbox || in_outbox.value()) {
      return make_error(ErrorCode::kAlreadyExists, describe(key) + " exists");
    }
    VB_TRY(write_meta(key, {retain_until, false}));
    auto file = open_->create(key, retain_until);
    if (!file) return file.error();
    return std::unique_ptr<ObjectSink>(new SpoolSink(*this, key, std::move(file).value()));
  }

  Result<std::unique_ptr<ObjectSource>> open(const std::string& key) const override {
    VB_TRY(check_spool_key(key));
    for (const ObjectStore* s : {open_.get(), outbox_.get()}) {
      auto e = s->exists(key);
      if (!e) return e.error();
      if (e.value()) {
        auto src = s->open(key);
        if (src) return src;  // else uploaded and removed just now: read the bucket
      }
    }
    auto h = client_.head(options_.prefix + key);
    if (!h) return h.error();
    if (!h.value()) return make_error(ErrorCode::kNotFound, describe(key) + " does not exist");
    return std::unique_ptr<ObjectSource>(
        new S3Source(client_, options_.prefix + key, describe(key), h.value()->size));
  }

  Result<bool> exists(const std::string& key) const override {
    VB_TRY(check_spool_key(key));
    for (const ObjectStore* s : {open_.get(), outbox_.get()}) {
      auto e = s->exists(key);
      if (!e || e.value()) return e;
    }
    auto h = client_.head(options_.prefix + key);
    if (!h) return h.error();
    return h.value().has_value();
  }

  Result<std::unique_ptr<ObjectSink>> resume(const std::string& key, uint64_t size) override {
    VB_TRY(check_spool_key(key));
    auto e = open_->exists(key);
    if (!e) return e.error();
    if (!e.value()) {
      return make_error(ErrorCode::kAlreadyExists,
                        describe(key) + " was committed; a committed object is never cut");
    }
    auto file = open_->resume(key, size);
    if (!file) return file.error();
    return std::unique_ptr<ObjectSink>(new SpoolSink(*this, key, std::move(file).value()));
  }

  Status remove(const std::string& key) override {
    VB_TRY(check_spool_key(key));
    {
      std::lock_guard lock(mu_);
      if (!queue_.empty() && queue_.front() == key && uploading_) {
        return make_error(ErrorCode::kFailedPrecondition,
                          describe(key) + " is being uploaded; remove it afterwards");
      }
      const auto gone = std::remove(queue_.begin(), queue_.end(), key);
      if (gone != queue_.end()) {
        std::error_code ec;
        queued_bytes_ -=
            std::min<uint64_t>(queued_bytes_, fs::file_size(spool_ / "outbox" / key, ec));
      }
      queue_.erase(gone, queue_.end());
    }
    VB_TRY(open_->remove(key));
    VB_TRY(outbox_->remove(key));
    std::error_code ec;
    fs::remove(meta_path(key), ec);
    auto versions = client_.versions(options_.prefix + key);
    if (!versions) return versions.error();
    for (const S3Version& v : versions.value()) {
      VB_TRY(client_.delete_version(options_.prefix + key, v.version_id));
    }
    return ok_status();
  }

  Result<std::vector<std::string>> list() const override {
    std::set<std::string> keys;
    for (const ObjectStore* s : {open_.get(), outbox_.get()}) {
      auto l = s->list();
      if (!l) return l.error();
      keys.insert(l.value().begin(), l.value().end());
    }
    auto l = client_.list(options_.prefix);
    if (!l) return l.error();
    for (const auto& k : l.value()) keys.insert(k.substr(options_.prefix.size()));
    return std::vector<std::string>(keys.begin(), keys.end());
  }

  Result<uint64_t> free_bytes() const override { return open_->free_bytes(); }

  Status extend_retention(const std::string& key, const std::string& until) override {
    return mirror(
        key, [&](Meta& m) { m.retain_until = until; },
        [&](const std::string& version) {
          return client_.put_retention(options_.prefix + key, version, until);
        });
  }

  Status set_legal_hold(const std::string& key, bool on) override {
    return mirror(
        key, [&](Meta& m) { m.legal_hold = on; },
        [&](const std::string& version) {
          return client_.put_legal_hold(options_.prefix + key, version, on);
        });
  }

  S3SpoolState spool_state() const override {
    std::lock_guard lock(mu_);
    return {queue_.size(), queued_bytes_, uploaded_, last_error_};
  }

  bool wait_uploaded(std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mu_);
    return idle_cv_.wait_for(lock, timeout, [&] { return queue_.empty(); });
  }

  const S3Client& client() const override { return client_; }

  // From SpoolSink::commit: the file is final; move it to the outbox and queue it.
  Status committed(const std::string& key) {
    const fs::path from = spool_ / "open" / key;
    const fs::path to = spool_ / "outbox" / key;
    std::error_code ec;
    fs::create_directories(to.parent_path(), ec);
    fs::rename(from, to, ec);
    if (ec) {
      return make_error(ErrorCode::kIo,
                        "cannot move " + from.string() + " to the S3 outbox: " + ec.message());
    }
    VB_TRY(fsync_path(to.parent_path(), true));
    VB_TRY(fsync_path(from.parent_path(), true));
    {
      std::lock_guard lock(mu_);
      queued_bytes_ += fs::file_size(to, ec);
      queue_.push_back(key);
    }
    cv_.notify_all();
    return ok_status();
  }

 private:
  fs::path meta_path(const std::string& key) const { return spool_ / "meta" / (key + ".json"); }

  Result<Meta> read_meta(const std::string& key) const {
    std::ifstream in(meta_path(key));
    if (!in) return make_error(ErrorCode::kNotFound, "no spool record for " + key);
    std::stringstream text;
    text << in.rdbuf();
    auto j = json::parse(text.str(), nullptr, false);
    if (!j.is_object()) return make_error(ErrorCode::kIo, meta_path(key).string() + " is damaged");
    return Meta{j.value("retain_until", ""), j.value("legal_hold", false)};
  }

  Status write_meta(const std::string& key, const Meta& m) {
    const fs::path p = meta_path(key);
    std::error_code ec;
    fs::create_directories(p.parent_path(), ec);
    const fs::path tmp = p.string() + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << json{{"retain_until", m.retain_until}, {"legal_hold", m.legal_hold}}.dump();
      if (!out.flush()) return make_error(ErrorCode::kIo, "cannot write " + tmp.string());
    }
    VB_TRY(fsync_path(tmp, false));
    fs::rename(tmp, p, ec);
    if (ec) return make_error(ErrorCode::kIo, "cannot write " + p.string() + ": " + ec.message());
    return fsync_path(p.parent_path(), true);
  }

  // A retention or hold change: into the spool record while the object waits there (the
  // uploader applies it after its upload), and onto every version in the bucket.
  Status mirror(const std::string& key, const std::function<void(Meta&)>& change,
                const std::function<Status(const std::string&)>& apply) {
    VB_TRY(check_spool_key(key));
    {
      std::lock_guard lock(meta_mu_);
      if (auto m = read_meta(key); m) {
        change(m.value());
        VB_TRY(write_meta(key, m.value()));
      }
    }
    auto versions = client_.versions(options_.prefix + key);
    if (!versions) return versions.error();
    for (const S3Version& v : versions.value()) {
      if (!v.delete_marker) {
        VB_TRY(apply(v.version_id));
      }
    }
    return ok_status();
  }

  void upload_loop() {
    auto wait = std::chrono::milliseconds(1000);
    for (;;) {
      std::string key;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (stop_) return;
        key = queue_.front();
        uploading_ = true;
      }
      uint64_t size = 0;
      Status st = upload(key, size);
      {
        std::lock_guard lock(mu_);
        uploading_ = false;
        if (st) {
          if (!queue_.empty() && queue_.front() == key) queue_.pop_front();
          queued_bytes_ -= std::min(queued_bytes_, size);
          ++uploaded_;
          last_error_.clear();
        } else {
          if (last_error_ != st.error().message) {
            spdlog::warn("archive: S3 upload of {} failed, retrying: {}", key, st.error().message);
          }
          last_error_ = st.error().message;
        }
      }
      idle_cv_.notify_all();
      if (st) {
        wait = std::chrono::milliseconds(1000);
        continue;
      }
      std::unique_lock lock(mu_);
      if (cv_.wait_for(lock, wait, [&] { return stop_; })) return;
      wait = std::min(wait * 2, options_.longest_retry_wait);
    }
  }

  Status upload(const std::string& key, uint64_t& size) {
    const std::string remote = options_.prefix + key;
    auto src = outbox_->open(key);
    if (!src) return src.error();
    size = src.value()->size();
    auto meta = [&] {
      std::lock_guard lock(meta_mu_);
      return read_meta(key);
    }();
    if (!meta) return meta.error();
    auto etag = expected_etag(*src.value(), options_.part_size);
    if (!etag) return etag.error();
    auto before = client_.head(remote);
    if (!before) return before.error();
    // Sent before, and the spool not cleared (a crash, a lost reply): not sent twice.
    const bool there =
        before.value() && before.value()->size == size && before.value()->etag == etag.value();
    if (!there) {
      VB_TRY(send(remote, *src.value(), meta.value().retain_until));
    }
    auto after = client_.head(remote);
    if (!after) return after.error();
    if (!after.value() || after.value()->size != size || after.value()->etag != etag.value()) {
      return make_error(ErrorCode::kIo, describe(key) + " does not read back as sent (size " +
                                            std::to_string(size) + ", checksum " + etag.value() +
                                            ")");
    }
    if (!meta.value().retain_until.empty() && after.value()->lock_mode != "COMPLIANCE") {
      // Some stores (Ceph 16's radosgw) do not carry the lock of a multipart upload's start over
      // to the object: lock the version now, then check again.
      VB_TRY(client_.put_retention(remote, after.value()->version_id, meta.value().retain_until));
      after = client_.head(remote);
      if (!after) return after.error();
    }
    if (!meta.value().retain_until.empty() &&
        (!after.value() || after.value()->lock_mode != "COMPLIANCE")) {
      return make_error(ErrorCode::kIo, describe(key) +
                                            " is not locked in COMPLIANCE mode by the store "
                                            "(does the bucket have Object Lock?)");
    }
    // A retention extension or a hold that came while it was uploading.
    std::lock_guard lock(meta_mu_);
    auto now = read_meta(key);
    if (now && now.value().retain_until > after.value()->retain_until.substr(0, 19) + "Z" &&
        now.value().retain_until != meta.value().retain_until) {
      VB_TRY(client_.put_retention(remote, after.value()->version_id, now.value().retain_until));
    }
    if (now && now.value().legal_hold) {
      VB_TRY(client_.put_legal_hold(remote, after.value()->version_id, true));
    }
    src.value().reset();
    VB_TRY(outbox_->remove(key));
    std::error_code ec;
    fs::remove(meta_path(key), ec);
    return fsync_path(spool_ / "outbox", true);
  }

  Status send(const std::string& remote, const ObjectSource& src, const std::string& until) {
    const uint64_t size = src.size();
    std::string part;
    if (size <= options_.part_size) {
      part.resize(size);
      VB_TRY(src.read_at(0, std::span(reinterpret_cast<uint8_t*>(part.data()), part.size())));
      auto v = client_.put(remote, part, until);
      if (!v) return v.error();
      return ok_status();
    }
    auto id = client_.start_multipart(remote, until);
    if (!id) return id.error();
    std::vector<std::string> etags;
    Status st = ok_status();
    for (uint64_t off = 0; off < size && st; off += options_.part_size) {
      part.resize(std::min(options_.part_size, size - off));
      st = src.read_at(off, std::span(reinterpret_cast<uint8_t*>(part.data()), part.size()));
      if (!st) break;
      auto e = client_.put_part(remote, id.value(), static_cast<int>(etags.size() + 1), part);
      if (!e)
        st = e.error();
      else
        etags.push_back(e.value());
    }
    if (st) {
      auto done = client_.finish_multipart(remote, id.value(), etags);
      if (done) return ok_status();
      st = done.error();
    }
    (void)client_.abort_multipart(remote, id.value());  // the parts would only cost space
    return st;
  }

  S3StoreOptions options_;
  S3Client client_;
  std::unique_ptr<ObjectStore> open_, outbox_;
  fs::path spool_;
  mutable std::mutex mu_;
  std::mutex meta_mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<std::string> queue_;
  uint64_t queued_bytes_ = 0;
  uint64_t uploaded_ = 0;
  std::string last_error_;
  bool uploading_ = false;
  bool stop_ = false;
  std::thread uploader_;
};

Status SpoolSink::commit() {
  VB_TRY(file_->commit());
  return store_.committed(key_);
}

}  // namespace

Result<std::shared_ptr<S3ObjectStore>> open_s3_store(const S3StoreOptions& options) {
  S3StoreOptions o = options;
  if (o.part_size < kMinPartSize) {
    return make_error(ErrorCode::kInvalidArgument,
                      "archive.s3.part_size_mb must be at least 5 (S3's smallest part)");
  }
  if (!o.prefix.empty() && o.prefix.back() != '/') o.prefix += '/';
  if (o.spool_dir.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "the S3 store needs a spool directory");
  }
  auto client = S3Client::make(o.s3);
  if (!client) return client.error();
  if (o.require_object_lock) {
    // One quick attempt: a store out of reach must not stop recording into the spool (nor a
    // restart during an outage), but a store that answers must have Object Lock.
    S3Config quick = o.s3;
    quick.attempts = 1;
    quick.timeout = std::min<std::chrono::milliseconds>(quick.timeout, std::chrono::seconds(5));
    auto probe = S3Client::make(quick).value().lock_configuration();
    const bool unreachable = !probe && (probe.error().status == 0 || probe.error().status >= 500);
    if (unreachable) {
      spdlog::warn(
          "archive: the S3 store is out of reach ({}); recording goes to the spool {} "
          "until it is back",
          probe.error().message, o.spool_dir);
    } else if (!probe) {
      return probe.error();
    } else if (!probe.value().enabled) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "bucket " + o.s3.bucket + " at " + o.s3.endpoint +
                            " does not have Object Lock enabled: recordings there could be "
                            "deleted or overwritten. Create the bucket with Object Lock (it "
                            "cannot be turned on later on every store).");
    }
  }
  auto open = open_local_store(o.spool_dir + "/open");
  if (!open) return open.error();
  auto outbox = open_local_store(o.spool_dir + "/outbox");
  if (!outbox) return outbox.error();
  auto store = std::make_shared<S3Store>(o, std::move(client).value(), std::move(open).value(),
                                         std::move(outbox).value());
  VB_TRY(store->start());
  return std::shared_ptr<S3ObjectStore>(store);
}

}  // namespace verbatim::archive
