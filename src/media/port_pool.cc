#include "media/port_pool.h"

namespace verbatim::media {

PortPool::PortPool(uint16_t min, uint16_t max) {
  for (uint32_t p = min + (min % 2); p + 1 <= max; p += 2)
    free_.push_back(static_cast<uint16_t>(p));
  capacity_ = free_.size();
}

std::optional<uint16_t> PortPool::take() {
  if (free_.empty()) return std::nullopt;
  const uint16_t p = free_.front();
  free_.pop_front();
  return p;
}

void PortPool::give(uint16_t port) { free_.push_back(port); }

}  // namespace verbatim::media
