// Small helpers shared by the archive's files (archive.cc and its parts): object ids from text,
// not-found errors, hashes of catalog text. Private to src/archive/.
// Threads and ownership: helpers of archive.cc and its parts, called with the Archive's own
// discipline (one thread, the writer lock held).
#pragma once

#include <algorithm>
#include <span>
#include <string>

#include "archive/object_format.h"
#include "archive/sha256.h"
#include "common/result.h"

namespace verbatim::archive::detail {

inline std::string sha256_hex(const std::string& s) {
  return to_hex(sha256(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size())));
}

inline Result<ObjectId> parse_object_id(const std::string& hexid) {
  auto bytes = unhex(hexid);
  if (!bytes || bytes.value().size() != 16) {
    return make_error(ErrorCode::kInvalidArgument, "\"" + hexid + "\" is not an object id");
  }
  ObjectId id;
  std::copy(bytes.value().begin(), bytes.value().end(), id.begin());
  return id;
}

inline Error not_found(const std::string& what, const std::string& id) {
  return make_error(ErrorCode::kNotFound, "no " + what + " " + id);
}

}  // namespace verbatim::archive::detail
