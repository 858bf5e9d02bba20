#include "archive/object_format.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "archive/sha256.h"
#include "common/strings.h"

namespace verbatim::archive {

namespace {

constexpr char kMagic[8] = {'V', 'B', 'O', 'B', 'J', '1', 0, 0};
constexpr size_t kNonceSize = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;  // 24
static_assert(kNonceSize == 24);

bool sodium_ready() {
  static const bool ok = sodium_init() >= 0;
  return ok;
}

void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get_u32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

std::array<uint8_t, kNonceSize> make_nonce(const std::array<uint8_t, kHeaderSize>& header,
                                           uint64_t counter, bool last) {
  std::array<uint8_t, kNonceSize> n{};
  std::memcpy(n.data(), header.data() + 24, 16);  // nonce prefix
  for (int i = 0; i < 7; ++i) n[16 + i] = static_cast<uint8_t>(counter >> (8 * (6 - i)));
  n[23] = last ? 1 : 0;
  return n;
}

std::array<uint8_t, kHeaderSize + 4> make_ad(const std::array<uint8_t, kHeaderSize>& header,
                                             uint32_t stored_len) {
  std::array<uint8_t, kHeaderSize + 4> ad{};
  std::memcpy(ad.data(), header.data(), kHeaderSize);
  put_u32(ad.data() + kHeaderSize, stored_len);
  return ad;
}

Error io_error(const std::string& what, const std::string& path, int err) {
  return make_error(ErrorCode::kIo, what + " " + path + ": " + std::strerror(err));
}

Error corrupt(const std::string& path, const std::string& why) {
  return make_error(ErrorCode::kFailedPrecondition, path + ": " + why);
}

// Writes all of `data` at the current position, retrying on EINTR and short writes.
bool write_all(int fd, const uint8_t* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool read_exact(int fd, uint64_t offset, uint8_t* out, size_t size) {
  while (size > 0) {
    const ssize_t n = ::pread(fd, out, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    out += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

Status fsync_dir(const std::string& path) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open directory of", path, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return io_error("cannot fsync directory of", path, err);
  return ok_status();
}

}  // namespace

struct ObjectWriter::HashState {
  Sha256 sha;
};

DataKey random_data_key() {
  sodium_ready();
  DataKey k;
  crypto_aead_xchacha20poly1305_ietf_keygen(k.data());
  return k;
}

ObjectId random_object_id() {
  sodium_ready();
  ObjectId id;
  randombytes_buf(id.data(), id.size());
  return id;
}

std::string object_id_hex(const ObjectId& id) { return verbatim::to_hex(id); }

// --- writer -----------------------------------------------------------------------------

Result<std::unique_ptr<ObjectWriter>> ObjectWriter::create(const std::string& path,
                                                           const DataKey& key, const ObjectId& id,
                                                           const Clock& clock,
                                                           WriterOptions options) {
  if (!sodium_ready()) return make_error(ErrorCode::kInternal, "libsodium failed to initialise");
  if (options.chunk_size < kMinChunkSize || options.chunk_size > kMaxChunkSize) {
    return make_error(ErrorCode::kInvalidArgument, "chunk size out of range");
  }
  std::unique_ptr<ObjectWriter> w(new ObjectWriter());
  w->fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (w->fd_ < 0) return io_error("cannot create", path, errno);
  w->path_ = path;
  w->key_ = key;
  w->clock_ = &clock;
  w->options_ = options;
  w->hash_ = std::make_unique<HashState>();
  auto& h = w->header_;
  std::memcpy(h.data(), kMagic, 8);
  std::memcpy(h.data() + 8, id.data(), 16);
  randombytes_buf(h.data() + 24, 16);
  put_u32(h.data() + 40, options.chunk_size);
  put_u32(h.data() + 44, 0);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock.now().time_since_epoch()).count();
  put_u64(h.data() + 48, static_cast<uint64_t>(ms));
  if (!write_all(w->fd_, h.data(), h.size())) return io_error("cannot write", path, errno);
  w->hash_->sha.update(h);
  w->stored_size_ = h.size();
  if (::fsync(w->fd_) != 0) return io_error("cannot fsync", path, errno);
  VB_TRY(fsync_dir(path));
  w->buffer_.reserve(options.chunk_size);
  w->last_flush_ = clock.now();
  return w;
}

ObjectWriter::~ObjectWriter() {
  if (fd_ >= 0) ::close(fd_);
  sodium_memzero(key_.data(), key_.size());
}

Status ObjectWriter::fail(Error e) {
  // After a failed write or fsync the file's state is unknown (a retried fsync may report
  // success for lost data), so the writer never continues; recovery decides what survived.
  failed_ = true;
  return e;
}

Status ObjectWriter::emit_chunk(bool last) {
  const uint32_t stored_len = static_cast<uint32_t>(buffer_.size() + kTagSize);
  record_.resize(4 + stored_len);
  put_u32(record_.data(), stored_len);
  const auto nonce = make_nonce(header_, counter_, last);
  const auto ad = make_ad(header_, stored_len);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(record_.data() + 4, &clen, buffer_.data(),
                                             buffer_.size(), ad.data(), ad.size(), nullptr,
                                             nonce.data(), key_.data());
  if (!write_all(fd_, record_.data(), record_.size())) {
    return fail(io_error("cannot write", path_, errno));
  }
  hash_->sha.update(record_);
  stored_size_ += record_.size();
  plaintext_size_ += buffer_.size();
  buffer_.clear();
  ++counter_;
  return ok_status();
}

Status ObjectWriter::write(std::span<const uint8_t> data) {
  if (failed_ || sealed_) {
    return make_error(ErrorCode::kFailedPrecondition,
                      path_ + ": the writer " + (failed_ ? "failed earlier" : "is sealed"));
  }
  while (!data.empty()) {
    const size_t room = options_.chunk_size - buffer_.size();
    const size_t n = std::min(room, data.size());
    buffer_.insert(buffer_.end(), data.begin(), data.begin() + static_cast<long>(n));
    data = data.subspan(n);
    if (buffer_.size() == options_.chunk_size) {
      VB_TRY(emit_chunk(false));
    }
  }
  if (clock_->now() - last_flush_ >= options_.flush_interval) return flush();
  return ok_status();
}

Status ObjectWriter::flush() {
  if (failed_ || sealed_)
    return make_error(ErrorCode::kFailedPrecondition, path_ + ": not writable");
  if (!buffer_.empty()) {
    VB_TRY(emit_chunk(false));
  }
  if (::fdatasync(fd_) != 0) return fail(io_error("cannot fdatasync", path_, errno));
  last_flush_ = clock_->now();
  return ok_status();
}

Result<SealedObject> ObjectWriter::seal() {
  if (failed_ || sealed_)
    return make_error(ErrorCode::kFailedPrecondition, path_ + ": not writable");
  VB_TRY(emit_chunk(true));
  if (::fsync(fd_) != 0) return fail(io_error("cannot fsync", path_, errno)).error();
  if (::close(fd_) != 0) {
    fd_ = -1;
    return fail(io_error("cannot close", path_, errno)).error();
  }
  fd_ = -1;
  VB_TRY(fsync_dir(path_));
  sealed_ = true;
  SealedObject s;
  std::memcpy(s.id.data(), header_.data() + 8, 16);
  s.plaintext_size = plaintext_size_;
  s.stored_size = stored_size_;
  s.chunks = counter_;
  s.stored_sha256 = hash_->sha.final();
  return s;
}

// --- reader -----------------------------------------------------------------------------

Result<std::unique_ptr<ObjectReader>> ObjectReader::open(const std::string& path,
                                                         const DataKey& key) {
  if (!sodium_ready()) return make_error(ErrorCode::kInternal, "libsodium failed to initialise");
  std::unique_ptr<ObjectReader> r(new ObjectReader());
  r->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (r->fd_ < 0) return io_error("cannot open", path, errno);
  r->path_ = path;
  r->key_ = key;
  struct stat st {};
  if (::fstat(r->fd_, &st) != 0) return io_error("cannot stat", path, errno);
  const auto file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < kHeaderSize || !read_exact(r->fd_, 0, r->header_.data(), kHeaderSize)) {
    return corrupt(path, "shorter than the 64-byte header");
  }
  if (std::memcmp(r->header_.data(), kMagic, 8) != 0) {
    return corrupt(path, "not a Verbatim object (bad magic)");
  }
  std::memcpy(r->id_.data(), r->header_.data() + 8, 16);
  r->chunk_size_ = get_u32(r->header_.data() + 40);
  if (r->chunk_size_ < kMinChunkSize || r->chunk_size_ > kMaxChunkSize ||
      get_u32(r->header_.data() + 44) != 0) {
    return corrupt(path, "header has an invalid chunk size or unknown flags");
  }
  uint64_t off = kHeaderSize;
  uint64_t plain = 0;
  while (off + 4 <= file_size) {
    uint8_t len[4];
    if (!read_exact(r->fd_, off, len, 4)) return io_error("cannot read", path, errno);
    const uint32_t stored_len = get_u32(len);
    if (stored_len < kTagSize || stored_len > r->chunk_size_ + kTagSize) {
      break;  // not a record boundary: a torn or damaged tail
    }
    if (off + 4 + stored_len > file_size) break;  // torn last record
    r->chunks_.push_back(Chunk{off, stored_len, plain});
    plain += stored_len - kTagSize;
    off += 4 + stored_len;
  }
  r->valid_end_ = off;
  r->trailing_ = file_size - off;
  return r;
}

ObjectReader::~ObjectReader() {
  if (fd_ >= 0) ::close(fd_);
  sodium_memzero(key_.data(), key_.size());
}

Result<std::vector<uint8_t>> ObjectReader::read_chunk(size_t i, bool* last) const {
  if (i >= chunks_.size()) return make_error(ErrorCode::kInvalidArgument, "no such chunk");
  const Chunk& c = chunks_[i];
  std::vector<uint8_t> cipher(c.stored_len);
  if (!read_exact(fd_, c.file_offset + 4, cipher.data(), cipher.size())) {
    return io_error("cannot read", path_, errno);
  }
  std::vector<uint8_t> plain(c.stored_len - kTagSize);
  const auto ad = make_ad(header_, c.stored_len);
  for (bool is_last : {false, true}) {
    const auto nonce = make_nonce(header_, i, is_last);
    unsigned long long plen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain.data(), &plen, nullptr, cipher.data(),
                                                   cipher.size(), ad.data(), ad.size(),
                                                   nonce.data(), key_.data()) == 0) {
      if (last) *last = is_last;
      return plain;
    }
  }
  return corrupt(path_, "chunk " + std::to_string(i) + " at byte " + std::to_string(c.file_offset) +
                            " fails authentication (altered, reordered, from another object, "
                            "or the wrong key)");
}

uint64_t ObjectReader::plaintext_size() const {
  if (chunks_.empty()) return 0;
  const Chunk& c = chunks_.back();
  return c.plaintext_offset + c.stored_len - kTagSize;
}

Result<std::vector<uint8_t>> ObjectReader::read(uint64_t offset, size_t size) const {
  std::vector<uint8_t> out;
  if (offset >= plaintext_size() || size == 0) return out;
  // First chunk holding `offset`: binary search on plaintext offsets.
  size_t lo = 0, hi = chunks_.size();
  while (hi - lo > 1) {
    const size_t mid = (lo + hi) / 2;
    (chunks_[mid].plaintext_offset <= offset ? lo : hi) = mid;
  }
  for (size_t i = lo; i < chunks_.size() && out.size() < size; ++i) {
    auto chunk = read_chunk(i);
    if (!chunk) return chunk.error();
    const uint64_t skip = i == lo ? offset - chunks_[i].plaintext_offset : 0;
    const size_t take = std::min<size_t>(chunk.value().size() - skip, size - out.size());
    out.insert(out.end(), chunk.value().begin() + static_cast<long>(skip),
               chunk.value().begin() + static_cast<long>(skip + take));
  }
  return out;
}

Status ObjectReader::verify() const {
  if (chunks_.empty()) return corrupt(path_, "has no chunks (truncated after the header)");
  for (size_t i = 0; i < chunks_.size(); ++i) {
    bool last = false;
    auto c = read_chunk(i, &last);
    if (!c) return c.error();
    if (last && i + 1 != chunks_.size()) {
      return corrupt(path_, "data follows the final chunk (appended or spliced)");
    }
    if (!last && i + 1 == chunks_.size()) {
      return corrupt(path_, "ends without its final chunk (truncated or never sealed)");
    }
  }
  if (trailing_ != 0) {
    return corrupt(path_, std::to_string(trailing_) + " bytes after the final chunk");
  }
  return ok_status();
}

Result<Hash> file_sha256(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open", path, errno);
  Sha256 sha;
  std::vector<uint8_t> buf(1 << 16);
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return io_error("cannot read", path, err);
    }
    if (n == 0) break;
    sha.update(std::span(buf).first(static_cast<size_t>(n)));
  }
  ::close(fd);
  return sha.final();
}

Result<SealedObject> recover_object(const std::string& path, const DataKey& key) {
  auto reader = ObjectReader::open(path, key);
  if (!reader) return reader.error();
  const ObjectReader& r = *reader.value();
  // Keep the longest prefix of chunks that authenticate in order and are not final.
  size_t good = 0;
  uint64_t plain = 0;
  for (; good < r.chunks().size(); ++good) {
    bool last = false;
    auto c = r.read_chunk(good, &last);
    if (!c) break;
    plain += c.value().size();
    if (last) {
      if (good + 1 == r.chunks().size() && r.trailing_bytes() == 0) {
        SealedObject s;  // already sealed: nothing to do
        s.id = r.id();
        s.plaintext_size = plain;
        s.chunks = good + 1;
        s.stored_size = r.valid_end();
        auto h = file_sha256(path);
        if (!h) return h.error();
        s.stored_sha256 = h.value();
        return s;
      }
      return corrupt(path, "data follows the final chunk; refusing to recover");
    }
  }
  const uint64_t cut = good < r.chunks().size() ? r.chunks()[good].file_offset : r.valid_end();
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open", path, errno);
  auto close_fail = [&](const char* what) {
    const int err = errno;
    ::close(fd);
    return io_error(what, path, err);
  };
  if (::ftruncate(fd, static_cast<off_t>(cut)) != 0) return close_fail("cannot truncate");
  if (::lseek(fd, 0, SEEK_END) < 0) return close_fail("cannot seek");
  // Append the final (empty) chunk with the next counter.
  std::array<uint8_t, kHeaderSize> header{};
  if (!read_exact(fd, 0, header.data(), kHeaderSize)) return close_fail("cannot read");
  const uint32_t stored_len = kTagSize;
  uint8_t record[4 + kTagSize];
  put_u32(record, stored_len);
  const auto nonce = make_nonce(header, good, true);
  const auto ad = make_ad(header, stored_len);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(record + 4, &clen, nullptr, 0, ad.data(), ad.size(),
                                             nullptr, nonce.data(), key.data());
  if (!write_all(fd, record, sizeof record)) return close_fail("cannot write");
  if (::fsync(fd) != 0) return close_fail("cannot fsync");
  ::close(fd);
  VB_TRY(fsync_dir(path));
  SealedObject s;
  s.id = r.id();
  s.plaintext_size = plain;
  s.chunks = good + 1;
  s.stored_size = cut + sizeof record;
  s.interrupted = true;
  auto h = file_sha256(path);
  if (!h) return h.error();
  s.stored_sha256 = h.value();
  return s;
}

}  // namespace verbatim::archive
