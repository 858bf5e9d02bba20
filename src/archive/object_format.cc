#include "archive/object_format.h"

#include <sodium.h>

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

Error corrupt(const std::string& path, const std::string& why) {
  return make_error(ErrorCode::kFailedPrecondition, path + ": " + why);
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
  auto sink = create_file_sink(path);
  if (!sink) return sink.error();
  return create(std::move(sink).value(), key, id, clock, options);
}

Result<std::unique_ptr<ObjectWriter>> ObjectWriter::create(std::unique_ptr<ObjectSink> sink,
                                                           const DataKey& key, const ObjectId& id,
                                                           const Clock& clock,
                                                           WriterOptions options) {
  if (!sodium_ready()) return make_error(ErrorCode::kInternal, "libsodium failed to initialise");
  if (options.chunk_size < kMinChunkSize || options.chunk_size > kMaxChunkSize) {
    return make_error(ErrorCode::kInvalidArgument, "chunk size out of range");
  }
  std::unique_ptr<ObjectWriter> w(new ObjectWriter());
  w->path_ = sink->name();
  w->sink_ = std::move(sink);
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
  VB_TRY(w->sink_->append(h));
  w->hash_->sha.update(h);
  w->stored_size_ = h.size();
  VB_TRY(w->sink_->sync());
  w->buffer_.reserve(options.chunk_size);
  w->last_flush_ = clock.now();
  return w;
}

ObjectWriter::~ObjectWriter() { sodium_memzero(key_.data(), key_.size()); }

Status ObjectWriter::fail(Error e) {
  // After a failed write or fsync the file's state is unknown (a retried fsync may report
  // success for lost data), so the writer never continues; recovery decides what survived.
  failed_ = true;
  return e;
}

Status ObjectWriter::emit_chunk(bool last) {
  const uint32_t stored_len = static_cast<uint32_t>(buffer_.size() + kTagSize);
  // One encryption buffer per thread, not per object: a recorder has thousands of objects
  // open at once and emits chunks one at a time.
  thread_local std::vector<uint8_t> record_;
  record_.resize(4 + stored_len);
  put_u32(record_.data(), stored_len);
  const auto nonce = make_nonce(header_, counter_, last);
  const auto ad = make_ad(header_, stored_len);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(record_.data() + 4, &clen, buffer_.data(),
                                             buffer_.size(), ad.data(), ad.size(), nullptr,
                                             nonce.data(), key_.data());
  if (auto st = sink_->append(record_); !st) return fail(st.error());
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
  if (options_.auto_flush && clock_->now() - last_flush_ >= options_.flush_interval) return flush();
  return ok_status();
}

Status ObjectWriter::flush() {
  if (failed_ || sealed_)
    return make_error(ErrorCode::kFailedPrecondition, path_ + ": not writable");
  if (!buffer_.empty()) {
    VB_TRY(emit_chunk(false));
  }
  if (auto st = sink_->sync(); !st) return fail(st.error());
  last_flush_ = clock_->now();
  return ok_status();
}

Result<DeferredSync> ObjectWriter::flush_deferred() {
  if (failed_ || sealed_)
    return make_error(ErrorCode::kFailedPrecondition, path_ + ": not writable");
  if (!buffer_.empty()) {
    VB_TRY(emit_chunk(false));
  }
  last_flush_ = clock_->now();
  auto deferred = sink_->deferred_sync();
  if (!deferred) return fail(deferred.error()).error();
  if (!deferred.value()) {  // this sink syncs here only
    if (auto st = sink_->sync(); !st) return fail(st.error()).error();
    return DeferredSync([] { return ok_status(); });
  }
  return std::move(deferred).value();
}

Result<SealedObject> ObjectWriter::seal() {
  if (failed_ || sealed_)
    return make_error(ErrorCode::kFailedPrecondition, path_ + ": not writable");
  VB_TRY(emit_chunk(true));
  if (auto st = sink_->commit(); !st) return fail(st.error()).error();
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
  auto source = open_file_source(path);
  if (!source) return source.error();
  return open(std::move(source).value(), key);
}

Result<std::unique_ptr<ObjectReader>> ObjectReader::open(std::unique_ptr<ObjectSource> source,
                                                         const DataKey& key) {
  if (!sodium_ready()) return make_error(ErrorCode::kInternal, "libsodium failed to initialise");
  std::unique_ptr<ObjectReader> r(new ObjectReader());
  const std::string path = source->name();
  r->path_ = path;
  r->src_ = std::move(source);
  r->key_ = key;
  const uint64_t file_size = r->src_->size();
  if (file_size < kHeaderSize) return corrupt(path, "shorter than the 64-byte header");
  VB_TRY(r->src_->read_at(0, r->header_));
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
    VB_TRY(r->src_->read_at(off, len));
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

ObjectReader::~ObjectReader() { sodium_memzero(key_.data(), key_.size()); }

Result<std::vector<uint8_t>> ObjectReader::read_chunk(size_t i, bool* last) const {
  if (i >= chunks_.size()) return make_error(ErrorCode::kInvalidArgument, "no such chunk");
  const Chunk& c = chunks_[i];
  std::vector<uint8_t> cipher(c.stored_len);
  VB_TRY(src_->read_at(c.file_offset + 4, cipher));
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
  auto source = open_file_source(path);
  if (!source) return source.error();
  return sha256_of(*source.value());
}

Result<SealedObject> recover_object(const std::string& path, const DataKey& key) {
  const std::filesystem::path p(path);
  auto store = open_local_store(p.has_parent_path() ? p.parent_path().string() : ".");
  if (!store) return store.error();
  return recover_object(*store.value(), p.filename().string(), key);
}

Result<SealedObject> recover_object(ObjectStore& store, const std::string& object_key,
                                    const DataKey& key) {
  const std::string path = store.describe(object_key);
  auto source = store.open(object_key);
  if (!source) return source.error();
  auto reader = ObjectReader::open(std::move(source).value(), key);
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
        auto h = sha256_of(r.source());
        if (!h) return h.error();
        s.stored_sha256 = h.value();
        // Sealed, but the crash may have come before the store took the commit (the S3 spool
        // moves a committed object to its upload queue): commit it again. A store that has it
        // committed already says so.
        reader.value().reset();
        auto again = store.resume(object_key, s.stored_size);
        if (again) {
          VB_TRY(again.value()->commit());
        } else if (again.error().code != ErrorCode::kAlreadyExists) {
          return again.error();
        }
        return s;
      }
      return corrupt(path, "data follows the final chunk; refusing to recover");
    }
  }
  const uint64_t cut = good < r.chunks().size() ? r.chunks()[good].file_offset : r.valid_end();
  // Append the final (empty) chunk with the next counter.
  std::array<uint8_t, kHeaderSize> header{};
  VB_TRY(r.source().read_at(0, header));
  const uint32_t stored_len = kTagSize;
  std::array<uint8_t, 4 + kTagSize> record{};
  put_u32(record.data(), stored_len);
  const auto nonce = make_nonce(header, good, true);
  const auto ad = make_ad(header, stored_len);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(record.data() + 4, &clen, nullptr, 0, ad.data(),
                                             ad.size(), nullptr, nonce.data(), key.data());
  SealedObject s;
  s.id = r.id();
  reader.value().reset();  // close the source before cutting the object (r is gone now)
  auto sink = store.resume(object_key, cut);
  if (!sink) return sink.error();
  VB_TRY(sink.value()->append(record));
  VB_TRY(sink.value()->commit());
  s.plaintext_size = plain;
  s.chunks = good + 1;
  s.stored_size = cut + record.size();
  s.interrupted = true;
  auto after = store.open(object_key);
  if (!after) return after.error();
  auto h = sha256_of(*after.value());
  if (!h) return h.error();
  s.stored_sha256 = h.value();
  return s;
}

}  // namespace verbatim::archive
