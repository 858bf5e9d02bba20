// Process exit codes every `verbatim` subcommand uses (design.md, "Conventions").
// Threads and ownership: constants.
#pragma once

namespace verbatim {
inline constexpr int kExitOk = 0;       // success
inline constexpr int kExitFinding = 1;  // a finding or refusal: invalid input, failed check
inline constexpr int kExitUsage = 2;    // usage or configuration error
}  // namespace verbatim
