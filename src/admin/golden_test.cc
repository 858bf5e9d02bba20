// Golden outputs of every cmdlet: each tests/golden/NAME.ps1 runs against a fresh tenant with
// deterministic ids and a fixed clock, and its output (then its error text) must equal
// tests/golden/NAME.out byte for byte. NAME.interactive.ps1 runs line by line, as a console
// does, so one file can show many errors. VERBATIM_UPDATE_GOLDEN=1 rewrites the .out files
// (review the diff before committing).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "admin/interpreter.h"
#include "policy/sqlite_store.h"

namespace verbatim::admin {
namespace {

namespace fs = std::filesystem;

fs::path golden_dir() {
  const char* src = std::getenv("VERBATIM_SOURCE_DIR");
  return fs::path(src ? src : VERBATIM_SOURCE_DIR) / "tests" / "golden";
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, OutputMatches) {
  const fs::path script = golden_dir() / GetParam();
  const fs::path expected_path = fs::path(script).replace_extension(".out");
  const fs::path tmp = fs::temp_directory_path() / ("vb_golden_" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  SequentialIdGenerator ids;
  ManualClock clock{TimePoint{std::chrono::seconds(1800000000)}};
  auto store = policy::SqliteStore::open((tmp / "policy.db").string());
  ASSERT_TRUE(store);
  policy::PolicyService svc(std::move(store).value(), ids, clock);
  ASSERT_TRUE(svc.open());
  Interpreter interp(svc, "cli:admin");
  interp.set_base_dir(golden_dir().string());
  const std::string text = read(script);
  const bool interactive = GetParam().find(".interactive.") != std::string::npos;
  const auto out = interactive ? interp.run_interactive(text) : interp.run_script(text);
  std::string actual = out.output;
  if (!out.error_text.empty()) actual += "---- errors ----\n" + out.error_text;
  fs::remove_all(tmp);
  if (std::getenv("VERBATIM_UPDATE_GOLDEN")) {
    std::ofstream(expected_path, std::ios::binary) << actual;
    GTEST_SKIP() << "rewrote " << expected_path;
  }
  ASSERT_TRUE(fs::exists(expected_path)) << expected_path << " is missing";
  EXPECT_EQ(actual, read(expected_path)) << "golden mismatch for " << GetParam();
}

std::vector<std::string> scripts() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(golden_dir(), ec)) {
    if (e.path().extension() == ".ps1") out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

INSTANTIATE_TEST_SUITE_P(Cmdlets, Golden, ::testing::ValuesIn(scripts()), [](const auto& info) {
  std::string n = info.param;
  for (char& c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return n;
});

}  // namespace
}  // namespace verbatim::admin
