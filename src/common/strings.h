// Small ASCII string helpers shared by every component. Case-insensitivity here is ASCII
// only, which is what SIP, PowerShell identifiers and e-mail style names need.
// Threads and ownership: pure functions; returned views point into the caller's strings.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace verbatim {

std::string to_lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view s, std::string_view prefix);
std::string_view trim(std::string_view s);
std::vector<std::string> split(std::string_view s, char sep);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
// A SQL LIKE pattern (with ESCAPE '\\') matching `text` anywhere, taken literally, in lower case.
std::string like_pattern(std::string_view text);

// Percent-encodes every byte but RFC 3986's unreserved ones (A-Z a-z 0-9 - . _ ~): one path
// segment or query value.
std::string url_encode(std::string_view s);

// Lower-case hexadecimal of bytes, and back (nullopt for odd length or a non-hex digit).
std::string to_hex(std::span<const uint8_t> bytes);
std::optional<std::vector<uint8_t>> from_hex(std::string_view text);

// Hash and equality functors for case-insensitive, heterogeneous unordered containers.
struct CaseInsensitiveHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept;
};
struct CaseInsensitiveEqual {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const noexcept { return iequals(a, b); }
};

// Transparent hash for std::string keys looked up by std::string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

}  // namespace verbatim
