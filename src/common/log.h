// Process-wide logging set-up (spdlog): human-readable lines by default, one JSON object per
// line with `--log-format json`. Logs go to stderr so command output on stdout stays clean.
// Threads and ownership: spdlog's loggers are thread-safe; the helpers here keep no state.
#pragma once

#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "common/result.h"

namespace verbatim {

Status init_logging(const std::string& format, const std::string& level);

// For a result the caller can do nothing more about (a response to a peer that is gone, a
// notification): never ignored silently; a failure is logged as a warning naming `what`.
template <typename T>
void warn_on_error(const Result<T>& r, std::string_view what) {
  if (!r) spdlog::warn("{}: {}", what, r.error().message);
}

}  // namespace verbatim
