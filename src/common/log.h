// Process-wide logging set-up (spdlog): human-readable lines by default, one JSON object per
// line with `--log-format json`. Logs go to stderr so command output on stdout stays clean.
#pragma once

#include <string>

#include "common/result.h"

namespace verbatim {

Status init_logging(const std::string& format, const std::string& level);

}  // namespace verbatim
