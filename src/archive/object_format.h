// The encrypted object format: how every archived object (media segment, evidence capture,
// metadata) is laid out on disk. docs/archive-format.md describes it for independent
// verifiers.
//
//   header  64 bytes, plaintext, authenticated as part of every chunk's associated data:
//           "VBOBJ1\0\0" | object id (16) | nonce prefix (16, random) | chunk size (u32 LE)
//           | flags (u32 LE, 0) | created, Unix ms (u64 LE) | reserved (8, zero)
//   records u32 LE length L, then L bytes = XChaCha20-Poly1305-IETF ciphertext + 16-byte tag
//           of up to `chunk size` plaintext bytes, with
//             nonce = nonce prefix (16) | chunk counter (7 bytes, big endian) | last flag (1)
//             ad    = header (64) | L (u32 LE)
//
// A STREAM-style construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015): the counter in the
// nonce detects reordering and splicing between objects or positions; the last flag, set
// only on the final chunk, detects truncation; each chunk decrypts on its own, so playback
// can start anywhere. Chunks may be shorter than the chunk size (a periodic flush writes
// what is buffered), so readers locate chunks by walking the length fields.
//
// Hand-written on libsodium's AEAD because libsodium's secretstream cannot be read from the
// middle, and no packaged library offers a seekable STREAM construction.
// Writers and readers are single-threaded objects; they never throw.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "archive/merkle.h"
#include "archive/object_store.h"
#include "common/clock.h"
#include "common/result.h"

namespace verbatim::archive {

using DataKey = std::array<uint8_t, 32>;
using ObjectId = std::array<uint8_t, 16>;

inline constexpr size_t kHeaderSize = 64;
inline constexpr uint32_t kDefaultChunkSize = 64 * 1024;
inline constexpr uint32_t kMinChunkSize = 1024;
inline constexpr uint32_t kMaxChunkSize = 16 * 1024 * 1024;
inline constexpr size_t kTagSize = 16;

DataKey random_data_key();
ObjectId random_object_id();
std::string object_id_hex(const ObjectId& id);

// What sealing (or recovering) an object produced; this is what the ledger records.
struct SealedObject {
  ObjectId id{};
  uint64_t plaintext_size = 0;
  uint64_t stored_size = 0;  // bytes on disk
  Hash stored_sha256{};      // SHA-256 of the whole file as stored (ciphertext)
  uint64_t chunks = 0;
  bool interrupted = false;  // sealed by recovery after a crash: data after the last flush is lost
};

struct WriterOptions {
  uint32_t chunk_size = kDefaultChunkSize;
  // A crash loses at most this much: write() flushes (chunk + fdatasync) when it elapsed.
  std::chrono::milliseconds flush_interval{1000};
  // false: write() never flushes by itself; the owner calls flush() or flush_deferred() on
  // its own schedule (the recorder, which syncs thousands of objects off its event loop).
  bool auto_flush = true;
};

// A sync to run on another thread (a background syncer), owning what it needs; its Status says
// whether the data written before it was created is durable.
using DeferredSync = std::function<Status()>;

class ObjectWriter {
 public:
  // Writes into `sink` (created exclusively by its store) and makes the header durable.
  static Result<std::unique_ptr<ObjectWriter>> create(std::unique_ptr<ObjectSink> sink,
                                                      const DataKey& key, const ObjectId& id,
                                                      const Clock& clock,
                                                      WriterOptions options = {});
  // The same into a new file at `path` (never overwrites).
  static Result<std::unique_ptr<ObjectWriter>> create(const std::string& path, const DataKey& key,
                                                      const ObjectId& id, const Clock& clock,
                                                      WriterOptions options = {});
  ~ObjectWriter();

  Status write(std::span<const uint8_t> data);
  // Encrypts what is buffered as a chunk and makes it durable (fdatasync).
  Status flush();
  // Encrypts what is buffered as a chunk and writes it; returns the sync that makes it durable,
  // to be run elsewhere (the first sync of an object, which makes its name durable, is done
  // here). A failed deferred sync means the object must be treated as failed by the owner.
  Result<DeferredSync> flush_deferred();
  // Writes the final chunk, fsyncs file and directory. The writer is done afterwards.
  Result<SealedObject> seal();
  uint64_t plaintext_size() const { return plaintext_size_; }
  // After an I/O error the writer refuses further work; the object must be recovered.
  bool failed() const { return failed_; }

 private:
  ObjectWriter() = default;
  Status emit_chunk(bool last);
  Status fail(Error e);

  std::unique_ptr<ObjectSink> sink_;
  std::string path_;
  DataKey key_{};
  std::array<uint8_t, kHeaderSize> header_{};
  const Clock* clock_ = nullptr;
  WriterOptions options_;
  std::vector<uint8_t> buffer_;
  uint64_t counter_ = 0;
  uint64_t plaintext_size_ = 0;
  uint64_t stored_size_ = 0;
  TimePoint last_flush_{};
  struct HashState;
  std::unique_ptr<HashState> hash_;
  bool failed_ = false;
  bool sealed_ = false;
};

// Reads and verifies an object. open() walks the length fields to index the chunks without
// decrypting; read_chunk()/read() authenticate what they return.
class ObjectReader {
 public:
  struct Chunk {
    uint64_t file_offset = 0;  // of the length field
    uint32_t stored_len = 0;   // L
    uint64_t plaintext_offset = 0;
  };
  static Result<std::unique_ptr<ObjectReader>> open(std::unique_ptr<ObjectSource> source,
                                                    const DataKey& key);
  static Result<std::unique_ptr<ObjectReader>> open(const std::string& path, const DataKey& key);
  ~ObjectReader();

  const ObjectId& id() const { return id_; }
  uint32_t chunk_size() const { return chunk_size_; }
  const std::vector<Chunk>& chunks() const { return chunks_; }
  // Bytes after the last whole record (a torn write), 0 for a well-formed file.
  uint64_t trailing_bytes() const { return trailing_; }
  uint64_t valid_end() const { return valid_end_; }

  // Decrypts chunk i; `last` says whether it was written as the final chunk.
  Result<std::vector<uint8_t>> read_chunk(size_t i, bool* last = nullptr) const;
  // Plaintext bytes [offset, offset + size), authenticated chunk by chunk.
  Result<std::vector<uint8_t>> read(uint64_t offset, size_t size) const;
  uint64_t plaintext_size() const;
  // Full check: every chunk authenticates in order and the last one carries the last flag.
  Status verify() const;
  const ObjectSource& source() const { return *src_; }

 private:
  ObjectReader() = default;
  std::unique_ptr<ObjectSource> src_;
  std::string path_;
  DataKey key_{};
  std::array<uint8_t, kHeaderSize> header_{};
  ObjectId id_{};
  uint32_t chunk_size_ = 0;
  std::vector<Chunk> chunks_;
  uint64_t trailing_ = 0;
  uint64_t valid_end_ = 0;
};

// After a crash: keeps every chunk that authenticates, cuts what follows (a torn or partly
// written record), appends the final chunk and makes it durable. The result is marked
// interrupted. An object that is already sealed is left as it is.
Result<SealedObject> recover_object(ObjectStore& store, const std::string& object_key,
                                    const DataKey& key);
Result<SealedObject> recover_object(const std::string& path, const DataKey& key);

// SHA-256 of a file's bytes as stored.
Result<Hash> file_sha256(const std::string& path);

}  // namespace verbatim::archive
