// The media ports of a role (the recorder, the gateway's relay): pairs (even port for RTP, the
// odd one above for RTCP) from the configured range, handed out round-robin so that a port just
// released is the last to be used again (late packets of an ended call never land in a new one).
// Threads and ownership: a PortPool is owned by its media anchor and used on that anchor's thread
// only.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>

namespace verbatim::media {

class PortPool {
 public:
  // Every even port p with min <= p and p + 1 <= max.
  PortPool(uint16_t min, uint16_t max);
  std::optional<uint16_t> take();
  void give(uint16_t port);
  size_t available() const { return free_.size(); }
  size_t capacity() const { return capacity_; }

 private:
  std::deque<uint16_t> free_;
  size_t capacity_ = 0;
};

}  // namespace verbatim::media
