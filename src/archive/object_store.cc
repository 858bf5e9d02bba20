#include "archive/object_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "archive/sha256.h"

namespace verbatim::archive {

namespace fs = std::filesystem;

namespace {

Error io_error(const std::string& what, const std::string& path, int err) {
  return make_error(ErrorCode::kIo, what + " " + path + ": " + std::strerror(err));
}

Status fsync_dir_of(const std::string& path) {
  const std::string dir = fs::path(path).parent_path().string();
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open directory of", path, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return io_error("cannot fsync directory of", path, err);
  return ok_status();
}

// A descriptor shared by a sink and the deferred syncs it handed out: closed by the last one.
struct SharedFd {
  int fd;
  explicit SharedFd(int f) : fd(f) {}
  ~SharedFd() { ::close(fd); }
  SharedFd(const SharedFd&) = delete;
  SharedFd& operator=(const SharedFd&) = delete;
};

class FileSink final : public ObjectSink {
 public:
  FileSink(int fd, std::string path, bool name_durable)
      : fd_(fd),
        shared_(std::make_shared<SharedFd>(fd)),
        path_(std::move(path)),
        name_durable_(name_durable) {}
  const std::string& name() const override { return path_; }

  Status append(std::span<const uint8_t> data) override {
    if (fd_ < 0) return closed();
    const uint8_t* p = data.data();
    size_t left = data.size();
    while (left > 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        return io_error("cannot write", path_, errno);
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    return ok_status();
  }

  Status sync() override {
    if (fd_ < 0) return closed();
    if (!name_durable_) {
      // First sync of a new file: its size and its directory entry must be durable too.
      if (::fsync(fd_) != 0) return io_error("cannot fsync", path_, errno);
      VB_TRY(fsync_dir_of(path_));
      name_durable_ = true;
      return ok_status();
    }
    if (::fdatasync(fd_) != 0) return io_error("cannot fdatasync", path_, errno);
    return ok_status();
  }

  Result<std::function<Status()>> deferred_sync() override {
    if (fd_ < 0) return closed().error();
    // The sync shares the descriptor (no extra one per pending sync: a recorder has thousands
    // of objects open), so it stays valid when the object is sealed meanwhile. The first sync
    // of a file also makes its name durable.
    const bool first = !name_durable_;
    name_durable_ = true;  // a failure of this sync fails the object for good
    return std::function<Status()>([fd = shared_, first, path = path_]() -> Status {
      if ((first ? ::fsync(fd->fd) : ::fdatasync(fd->fd)) != 0) {
        return io_error(first ? "cannot fsync" : "cannot fdatasync", path, errno);
      }
      if (first) return fsync_dir_of(path);
      return ok_status();
    });
  }

  Status commit() override {
    if (fd_ < 0) return closed();
    if (::fsync(fd_) != 0) return io_error("cannot fsync", path_, errno);
    // Closed here unless a deferred sync still holds it (after a successful fsync, close()
    // cannot lose data).
    shared_.reset();
    fd_ = -1;
    return fsync_dir_of(path_);
  }

 private:
  Status closed() const {
    return make_error(ErrorCode::kFailedPrecondition, path_ + " is already committed");
  }
  int fd_;
  std::shared_ptr<SharedFd> shared_;
  std::string path_;
  bool name_durable_;
};

class FileSource final : public ObjectSource {
 public:
  FileSource(int fd, std::string path, uint64_t size)
      : fd_(fd), path_(std::move(path)), size_(size) {}
  ~FileSource() override { ::close(fd_); }
  const std::string& name() const override { return path_; }
  uint64_t size() const override { return size_; }

  Status read_at(uint64_t offset, std::span<uint8_t> out) const override {
    uint8_t* p = out.data();
    size_t left = out.size();
    while (left > 0) {
      const ssize_t n = ::pread(fd_, p, left, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return io_error("cannot read", path_, errno);
      if (n == 0) {
        return make_error(ErrorCode::kFailedPrecondition,
                          path_ + ": ends before byte " + std::to_string(offset + left));
      }
      p += n;
      left -= static_cast<size_t>(n);
      offset += static_cast<uint64_t>(n);
    }
    return ok_status();
  }

 private:
  int fd_;
  std::string path_;
  uint64_t size_;
};

class LocalObjectStore final : public ObjectStore {
 public:
  explicit LocalObjectStore(std::string dir) : dir_(std::move(dir)) {}

  std::string describe(const std::string& key) const override { return dir_ + "/" + key; }

  Result<std::unique_ptr<ObjectSink>> create(const std::string& key,
                                             const std::string& /*retain_until*/) override {
    VB_TRY(check_key(key));
    std::error_code ec;
    fs::create_directories(fs::path(describe(key)).parent_path(), ec);
    if (ec) return make_error(ErrorCode::kIo, "cannot create the directory of " + describe(key));
    return create_file_sink(describe(key));
  }

  Result<std::unique_ptr<ObjectSource>> open(const std::string& key) const override {
    VB_TRY(check_key(key));
    return open_file_source(describe(key));
  }

  Result<bool> exists(const std::string& key) const override {
    VB_TRY(check_key(key));
    std::error_code ec;
    const bool e = fs::exists(describe(key), ec);
    if (ec) return make_error(ErrorCode::kIo, "cannot stat " + describe(key) + ": " + ec.message());
    return e;
  }

  Result<std::unique_ptr<ObjectSink>> resume(const std::string& key, uint64_t size) override {
    VB_TRY(check_key(key));
    const std::string path = describe(key);
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return io_error("cannot open", path, errno);
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0 || ::lseek(fd, 0, SEEK_END) < 0) {
      const int err = errno;
      ::close(fd);
      return io_error("cannot cut", path, err);
    }
    return std::unique_ptr<ObjectSink>(new FileSink(fd, path, true));
  }

  Status remove(const std::string& key) override {
    VB_TRY(check_key(key));
    std::error_code ec;
    fs::remove(describe(key), ec);
    if (ec)
      return make_error(ErrorCode::kIo, "cannot remove " + describe(key) + ": " + ec.message());
    return ok_status();
  }

  Result<std::vector<std::string>> list() const override {
    std::vector<std::string> keys;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file()) keys.push_back(fs::relative(it->path(), dir_).string());
    }
    if (ec) return make_error(ErrorCode::kIo, "cannot list " + dir_ + ": " + ec.message());
    return keys;
  }

  Result<uint64_t> free_bytes() const override {
    struct statvfs st {};
    if (::statvfs(dir_.c_str(), &st) != 0)
      return io_error("cannot stat the file system of", dir_, errno);
    return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  }

 private:
  static Status check_key(const std::string& key) {
    const fs::path p(key);
    bool bad = key.empty() || p.is_absolute();
    for (const auto& part : p) bad = bad || part == ".." || part == ".";
    if (bad) return make_error(ErrorCode::kInvalidArgument, "invalid object key '" + key + "'");
    return ok_status();
  }
  std::string dir_;
};

}  // namespace

Result<std::unique_ptr<ObjectStore>> open_local_store(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(ErrorCode::kIo, "cannot create " + dir + ": " + ec.message());
  return std::unique_ptr<ObjectStore>(new LocalObjectStore(dir));
}

Result<std::unique_ptr<ObjectSource>> open_file_source(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open", path, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return io_error("cannot stat", path, err);
  }
  return std::unique_ptr<ObjectSource>(new FileSource(fd, path, static_cast<uint64_t>(st.st_size)));
}

Result<std::unique_ptr<ObjectSink>> create_file_sink(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("cannot create", path, errno);
  // The first sync() makes the name durable, so recovery finds whatever gets flushed.
  return std::unique_ptr<ObjectSink>(new FileSink(fd, path, false));
}

Result<Hash> sha256_of(const ObjectSource& source) {
  Sha256 sha;
  std::vector<uint8_t> buf(1 << 16);
  for (uint64_t off = 0; off < source.size();) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), source.size() - off));
    VB_TRY(source.read_at(off, std::span(buf).first(n)));
    sha.update(std::span(buf).first(n));
    off += n;
  }
  return sha.final();
}

}  // namespace verbatim::archive
