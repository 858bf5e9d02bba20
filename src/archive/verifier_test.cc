#include "archive/verifier.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "common/test_dir.h"

namespace verbatim::archive {
namespace {

class VerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options.root = tmp / "archive";
    writer = Archive::open(options, clock, "recorder").value();
    add_recordings(10);
  }
  void add_recordings(int n) {
    for (int r = 0; r < n; ++r) {
      auto rec = writer->create_recording({{"r", r}}).value();
      for (int i = 0; i < 3; ++i) {
        auto obj = writer->begin_object(rec, "media").value();
        ASSERT_TRUE(obj->writer().write(std::vector<uint8_t>(20000, static_cast<uint8_t>(i))));
        ASSERT_TRUE(writer->seal(*obj));
        ids.push_back(obj->id());
      }
      ASSERT_TRUE(writer->complete_recording(rec, "complete"));
    }
  }
  // Runs a whole pass; returns the number of steps it took and checks progress on the way.
  int run_pass(IncrementalVerifier& v) {
    int steps = 0;
    double last = -1;
    do {
      auto f = v.step();
      EXPECT_TRUE(f) << f.error().message;
      ++steps;
      EXPECT_GE(v.status().percent(), last) << "progress never goes back";
      last = v.status().percent();
    } while (v.status().in_pass && steps < 1000);
    return steps;
  }

  TestDir tmp{"vb_verifier"};
  ManualClock clock{TimePoint{std::chrono::seconds(1800000000)}};
  ArchiveOptions options;
  std::unique_ptr<Archive> writer;
  std::vector<std::string> ids;
};

TEST_F(VerifierTest, WorksInBoundedStepsWithProgressAndSeesNewRecordings) {
  IncrementalVerifier v(options, clock, /*deep=*/true, /*bytes_per_step=*/100000);
  const int steps = run_pass(v);
  // 30 objects of ~20 KB at ~100 KB per step: the records step, then about six object steps.
  EXPECT_GE(steps, 6);
  EXPECT_LE(steps, 9);
  EXPECT_EQ(v.status().passes_completed, 1u);
  EXPECT_EQ(v.status().objects_checked, 30u);
  EXPECT_DOUBLE_EQ(v.status().percent(), 100.0);
  EXPECT_TRUE(v.status().last_pass_findings.empty());
  const uint64_t covered = v.status().ledger_size;
  // The writer keeps going while the verifier runs: the next pass covers the new entries.
  add_recordings(2);
  run_pass(v);
  EXPECT_EQ(v.status().passes_completed, 2u);
  EXPECT_EQ(v.status().objects_total, 36u);
  EXPECT_GT(v.status().ledger_size, covered);
}

TEST_F(VerifierTest, ReportsExactlyTheTamperedObjectAndKeepsItWithThePass) {
  IncrementalVerifier v(options, clock, false, 100000);
  run_pass(v);
  const std::string path = writer->object_info(ids[17]).value().path;
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(5000);
    f.put('\x55');
  }
  std::vector<Finding> alerts;
  do {
    auto f = v.step();
    ASSERT_TRUE(f);
    alerts.insert(alerts.end(), f.value().begin(), f.value().end());
  } while (v.status().in_pass);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_NE(alerts[0].where.find(ids[17]), std::string::npos);
  ASSERT_EQ(v.status().last_pass_findings.size(), 1u);

  const std::string status_file = tmp / "verify-status.json";
  ASSERT_TRUE(v.write_status(status_file));
  std::ifstream in(status_file);
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["passesCompleted"], 2);
  EXPECT_EQ(j["lastPassFindings"].size(), 1u);
  EXPECT_EQ(j["percent"], 100.0);
}

TEST_F(VerifierTest, AMissingArchiveIsAnError) {
  ArchiveOptions none;
  none.root = tmp / "nothing-here";
  IncrementalVerifier v(none, clock, false);
  auto f = v.step();
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message.find("no archive"), std::string::npos);
}

}  // namespace
}  // namespace verbatim::archive
