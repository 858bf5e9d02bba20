// IdGenerator: where object identifiers (GUIDs) come from. Production uses random v4 GUIDs
// from libsodium; tests inject SequentialIdGenerator so outputs are reproducible.
// Implementations are not thread-safe; each owner serialises its own calls.
#pragma once

#include <cstdint>
#include <string>

namespace verbatim {

class IdGenerator {
 public:
  virtual ~IdGenerator() = default;
  // A lower-case RFC 4122 version-4 style GUID: 8-4-4-4-12 hex digits.
  virtual std::string new_guid() = 0;
};

class RandomIdGenerator final : public IdGenerator {
 public:
  std::string new_guid() override;
};

// Deterministic: "<prefix>-0000-4000-8000-<counter as 12 hex digits>".
class SequentialIdGenerator final : public IdGenerator {
 public:
  explicit SequentialIdGenerator(uint32_t prefix = 0) : prefix_(prefix) {}
  std::string new_guid() override;

 private:
  uint32_t prefix_;
  uint64_t next_ = 1;
};

bool is_guid(std::string_view s);

// Random bytes as lower-case hex (for tokens); uses libsodium.
std::string random_hex(size_t bytes);

}  // namespace verbatim
