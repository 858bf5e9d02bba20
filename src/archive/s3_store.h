// The archive's objects in an S3-compatible object store with Object Lock in COMPLIANCE mode
// (Ceph RADOS Gateway, AWS S3, MinIO, ...): write-once retention that the store itself enforces,
// so that not even its root can delete or overwrite a recording before its retention date.
//
// Writing goes through a local spool, because a recording must be durable every second and an
// upload cannot be made per second:
//   <spool>/open/<key>     being written (create, append, sync, resume: plain files)
//   <spool>/outbox/<key>   committed, waiting for upload, in commit order
//   <spool>/meta/<key>.json  its retention date and legal hold, until it is uploaded
// One uploader thread (in the archive's writer only) sends the outbox to the bucket in order: a
// PUT up to `part_size`, a multipart upload above it, each locked until the recording's retention
// date, each checksum compared (s3_client.h), then a HEAD that checks size, checksum and lock
// before the spool copy is removed. A failure is retried with backoff (1 s doubling to 60 s)
// until it succeeds; nothing leaves the spool unconfirmed. A crash leaves the outbox as it was;
// the next start goes on with it, and an object already in the bucket with the same checksum is
// not sent twice.
//
// Reads look in the spool first, then the bucket (ranged GETs with 1 MiB read-ahead). The key in
// the bucket is `prefix` + the archive's key (a random object id: no personal data).
//
// Threads and ownership: the store is shared by the archive's thread and its uploader thread; all
// methods are safe to call from any thread. Destruction stops the uploader after its current
// object; what is left waits in the outbox.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "archive/object_store.h"
#include "archive/s3_client.h"

namespace verbatim::archive {

struct S3StoreOptions {
  S3Config s3;
  std::string prefix;     // prepended to every key in the bucket ("" or ending in '/')
  std::string spool_dir;  // the local spool (created if missing)
  uint64_t part_size = uint64_t{16} << 20;  // multipart above this; at least 5 MiB
  bool upload = true;  // false in processes beside the writer: they read, and mirror holds
  // Refuse a bucket without Object Lock (write-once would not hold). Only tests of other
  // things turn it off.
  bool require_object_lock = true;
  std::chrono::milliseconds longest_retry_wait{60000};
};

struct S3SpoolState {
  size_t waiting = 0;  // objects in the outbox
  uint64_t waiting_bytes = 0;
  uint64_t uploaded = 0;   // since start
  std::string last_error;  // of the latest failed attempt; empty once one succeeds
};

class S3ObjectStore : public ObjectStore {
 public:
  virtual S3SpoolState spool_state() const = 0;
  // Blocks until the outbox is empty or `timeout` passed; true when empty.
  virtual bool wait_uploaded(std::chrono::milliseconds timeout) = 0;
  virtual const S3Client& client() const = 0;
};

// Checks the endpoint, the credentials and (unless told not to) that the bucket has Object Lock
// enabled; starts the uploader when options.upload.
Result<std::shared_ptr<S3ObjectStore>> open_s3_store(const S3StoreOptions& options);

}  // namespace verbatim::archive
