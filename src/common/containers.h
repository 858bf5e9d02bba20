// Small helpers for standard containers.
// Threads and ownership: helpers on a container the caller owns and guards.
#pragma once

#include <cstddef>

namespace verbatim {

// Hash tables keep the buckets of their busiest moment. After a burst (or a flood) has
// passed, give them back, so a long-running server returns to its baseline (reliability tests
// T31, T37). Call after erasing; amortised: a table shrinks only when it is 16 times larger
// than its contents, and small tables are left alone.
template <typename HashMap>
void shrink_if_sparse(HashMap& map, std::size_t min_buckets = 4096) {
  if (map.bucket_count() > min_buckets && map.size() * 16 < map.bucket_count()) map.rehash(0);
}

}  // namespace verbatim
