// The shared test corpus (RFC 4475/5118 torture messages, real vendors' SIPREC captures): where
// tests find it, and how they skip when it is absent. For tests only (header-only, GoogleTest).
//
// The corpus is not part of this repository. Tests read it from $VERBATIM_TESTDATA, or from
// ../shared/testdata beside the checkout (where CI has it). In a plain clone it is absent: every
// test that needs it is reported SKIPPED with the reason (never failed, never silently passed),
// through VB_REQUIRE_TESTDATA at the top of the test body.
// Threads and ownership: pure functions; any thread.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include <gtest/gtest.h>

namespace verbatim {

// <corpus>/<sub>, whether or not it exists.
inline std::filesystem::path testdata_path(const std::string& sub = "") {
  const char* env = std::getenv("VERBATIM_TESTDATA");
  const std::filesystem::path root =
      env && *env ? std::filesystem::path(env)
                  : std::filesystem::path(VERBATIM_SOURCE_DIR) / ".." / "shared" / "testdata";
  return sub.empty() ? root : root / sub;
}

// Why <corpus>/<sub> cannot be used, or nullopt when it is there.
inline std::optional<std::string> testdata_missing(const std::string& sub) {
  const auto p = testdata_path(sub);
  std::error_code ec;
  if (std::filesystem::exists(p, ec)) return std::nullopt;
  return "the shared test corpus is absent (" + p.string() +
         " not found): set VERBATIM_TESTDATA to the folder holding sip-torture/ and "
         "siprec-vendors/, or place it at ../shared/testdata beside the checkout";
}

}  // namespace verbatim

// Skips the current test, with the reason, when <corpus>/<sub> is absent.
#define VB_REQUIRE_TESTDATA(sub)                                \
  do {                                                          \
    if (auto vb_missing_ = ::verbatim::testdata_missing(sub)) { \
      GTEST_SKIP() << *vb_missing_;                             \
    }                                                           \
  } while (0)
