// Where encrypted object files live. The archive names each object by a key
// ("3f/3f9c….vbo") and never interprets the bytes it stores; an ObjectStore maps keys to bytes.
//
// The contract is what an archive needs to be crash-safe and write-once:
//   create(key, retain_until)
//                 exclusive: fails if the key exists (nothing is ever overwritten); a store that
//                 can lock objects locks it until retain_until (ISO 8601 UTC)
//   append/sync   sync() makes everything appended so far durable, the object's name
//                 included (a crash loses at most what came after the last sync); commit()
//                 makes the object final and durable
//   open(key)     random-access reads (playback seeks, chunk-wise verification)
//   resume(key)   recovery only: cuts an object that was never committed at `size` and
//                 reopens it for appending the final chunk (kAlreadyExists for an object the
//                 store holds as committed and will not reopen)
//   remove(key)   disposal only, after the data key was destroyed (crypto-shredding)
//   extend_retention(key, until), set_legal_hold(key, on)
//                 the archive's retention and holds, mirrored where the store enforces them
//
// LocalObjectStore (the default) keeps objects as files under one directory, created with
// O_EXCL and mode 0600, fdatasync on sync(), fsync of file and directory on commit().
// The S3 store (s3_store.h) fits the same contract: create() and append/sync() write a local
// spool file (S3 cannot make a few kilobytes durable every second), commit() queues it for upload
// with Object Lock retention (compliance mode), open() reads the spool or ranged GETs, resume()
// works on the spool, remove() deletes only after the lock expired.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "archive/merkle.h"
#include "common/result.h"

namespace verbatim::archive {

class ObjectSink {
 public:
  virtual ~ObjectSink() = default;
  virtual const std::string& name() const = 0;  // for messages: a path or URL
  virtual Status append(std::span<const uint8_t> data) = 0;
  virtual Status sync() = 0;
  // A sync of what was appended so far that may run on another thread while appends go on, or
  // null when the sink cannot (then sync() is used). May sync in place when it must (the first
  // sync of a file makes its name durable).
  virtual Result<std::function<Status()>> deferred_sync() { return std::function<Status()>(); }
  // Final: durable with its name. The sink accepts nothing afterwards.
  virtual Status commit() = 0;
};

class ObjectSource {
 public:
  virtual ~ObjectSource() = default;
  virtual const std::string& name() const = 0;
  virtual uint64_t size() const = 0;
  // Exactly out.size() bytes at `offset`; an error if the object is shorter.
  virtual Status read_at(uint64_t offset, std::span<uint8_t> out) const = 0;
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;
  virtual std::string describe(const std::string& key) const = 0;
  virtual Result<std::unique_ptr<ObjectSink>> create(const std::string& key,
                                                     const std::string& retain_until) = 0;
  virtual Result<std::unique_ptr<ObjectSource>> open(const std::string& key) const = 0;
  virtual Result<bool> exists(const std::string& key) const = 0;
  virtual Result<std::unique_ptr<ObjectSink>> resume(const std::string& key, uint64_t size) = 0;
  virtual Status remove(const std::string& key) = 0;
  // Every key in the store (for finding objects the catalog does not know).
  virtual Result<std::vector<std::string>> list() const = 0;
  // Space left for new objects (statvfs for files; the spool's file system for S3).
  virtual Result<uint64_t> free_bytes() const = 0;
  // Retention made longer, or a legal hold set or released. Files need nothing: the archive
  // enforces both itself. A store that locks objects mirrors them.
  virtual Status extend_retention(const std::string& /*key*/, const std::string& /*until*/) {
    return ok_status();
  }
  virtual Status set_legal_hold(const std::string& /*key*/, bool /*on*/) { return ok_status(); }
};

// Files under `dir` (created if missing); keys are relative paths without "..".
Result<std::unique_ptr<ObjectStore>> open_local_store(const std::string& dir);

// One file as a source or (exclusively created) sink, outside any store.
Result<std::unique_ptr<ObjectSource>> open_file_source(const std::string& path);
Result<std::unique_ptr<ObjectSink>> create_file_sink(const std::string& path);

// SHA-256 of everything a source holds.
Result<Hash> sha256_of(const ObjectSource& source);

}  // namespace verbatim::archive
