#include "recorder/redact_jobs.h"

#include <cmath>
#include <numbers>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/executor_work_guard.hpp>

#include "common/test_dir.h"
#include "media/audio.h"

namespace verbatim::recorder {
namespace {

using nlohmann::json;

std::string tone_file(const std::string& title) {
  std::vector<int16_t> pcm(size_t{8000} * 3);
  for (size_t i = 0; i < pcm.size(); ++i)
    pcm[i] = static_cast<int16_t>(8000 * std::sin(2 * std::numbers::pi * 440 * double(i) / 8000));
  auto w = media::OggOpusWriter::create(8000, 40000, {{"TITLE", title}});
  EXPECT_TRUE(w);
  EXPECT_TRUE(w.value()->write(pcm));
  return w.value()->finish().value();
}

double rms(const std::vector<int16_t>& pcm, double from_s, double to_s) {
  double e = 0;
  const auto a = static_cast<size_t>(from_s * 8000), b = static_cast<size_t>(to_s * 8000);
  for (size_t i = a; i < b; ++i) e += double(pcm[i]) * pcm[i];
  return std::sqrt(e / double(b - a));
}

class RedactJob : public ::testing::Test {
 protected:
  void SetUp() override {
    archive::ArchiveOptions o;
    o.root = dir / "archive";
    archive_ = archive::Archive::open(o, clock_, "test").value();
    queue_ = jobs::JobQueue::open(dir / "jobs.db", clock_).value();
    rec_ = archive_->create_recording({{"participants", json::array()}}).value();
    ASSERT_TRUE(archive_->complete_recording(rec_, "complete"));
    json files = json::array();
    for (const std::string p : {"p1", "p2"}) {
      const std::string ogg = tone_file(p);
      auto obj = archive_->begin_derived_object(rec_, "playback").value();
      ASSERT_TRUE(
          obj->writer().write(std::span(reinterpret_cast<const uint8_t*>(ogg.data()), ogg.size())));
      ASSERT_TRUE(archive_->seal(*obj));
      originals_.push_back(obj->id());
      files.push_back({{"object", obj->id()}, {"name", p}, {"participants", {p}}});
    }
    auto m = archive_->recording(rec_).value().metadata;
    m["playback"] = {{"files", files}};
    ASSERT_TRUE(archive_->update_metadata(rec_, m, "playback-job", "files"));
    worker_ = std::make_unique<JobWorker>(io_, *queue_, jobs::kRedactJob,
                                          [this](JobWorker& w, const jobs::Job& j) {
                                            return run_redact_job(w, *archive_, *queue_, j);
                                          });
    loop_ = std::thread([this] { io_.run(); });
    worker_->start();
  }
  void TearDown() override { stop(); }
  void stop() {
    if (!loop_.joinable()) return;
    worker_->stop();
    guard_.reset();
    loop_.join();
  }
  // Adds a request and waits (bounded) until its job is over; its final state.
  jobs::Redaction redact(const json& spans, const std::string& fill) {
    jobs::Redaction r{0, rec_, spans.dump(), fill, "card number", "api:officer", "", {}};
    const int64_t id = queue_->add_redaction(r).value();
    worker_->wake();
    for (int i = 0; i < 400; ++i) {
      auto now = queue_->redaction(id).value();
      if (now->job.state == "done" || now->job.state == "failed") return *now;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "redaction " << id << " did not finish";
    return *queue_->redaction(id).value();
  }
  std::vector<int16_t> audio(const std::string& object) {
    auto ogg = archive_->read_whole(object, "test").value();
    return media::decode_ogg_opus(ogg, 1 << 24).value().pcm;
  }

  TestDir dir{"redact"};
  ManualClock clock_{TimePoint(std::chrono::seconds(1'800'000'000))};
  std::unique_ptr<archive::Archive> archive_;
  std::unique_ptr<jobs::JobQueue> queue_;
  std::string rec_;
  std::vector<std::string> originals_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_{
      io_.get_executor()};
  std::unique_ptr<JobWorker> worker_;
  std::thread loop_;
};

TEST_F(RedactJob, ANewVersionHidesTheSpansAndTheOriginalStaysIntactAndVerifiable) {
  const auto first =
      redact(json::array({{{"start", 1.0}, {"end", 2.0}, {"participant", "p1"}}}), "silence");
  ASSERT_EQ(first.job.state, "done") << first.job.error;
  EXPECT_EQ(json::parse(first.job.result)["version"], 1);
  // Version 2 builds on version 1: a tone over the first half second of everyone.
  const auto second = redact(json::array({{{"start", 0.0}, {"end", 0.5}}}), "tone");
  ASSERT_EQ(second.job.state, "done") << second.job.error;
  stop();  // the archive is the test's again

  const auto m = archive_->recording(rec_).value().metadata;
  ASSERT_EQ(m["redactions"].size(), 2u);
  const json& v1 = m["redactions"][0];
  EXPECT_EQ(v1["version"], 1);
  EXPECT_EQ(v1["fill"], "silence");
  EXPECT_EQ(v1["reason"], "card number");
  EXPECT_EQ(v1["requestedBy"], "api:officer");
  const std::string p1_v1 = v1["files"][0]["object"];
  EXPECT_NE(p1_v1, originals_[0]);
  EXPECT_EQ(v1["files"][0]["redactedFrom"], originals_[0]);
  EXPECT_EQ(v1["files"][1]["object"], originals_[1]);  // p2 untouched: shared
  const json& v2 = m["redactions"][1];
  EXPECT_EQ(v2["files"][0]["redactedFrom"], p1_v1);
  EXPECT_EQ(v2["files"][1]["redactedFrom"], originals_[1]);

  const auto a1 = audio(p1_v1);
  EXPECT_LT(rms(a1, 1.05, 1.95), 50);  // silenced
  EXPECT_GT(rms(a1, 2.1, 2.9), 2000);  // the rest kept
  const auto a2 = audio(v2["files"][0]["object"]);
  EXPECT_LT(rms(a2, 1.05, 1.95), 50);                      // still silenced in version 2
  EXPECT_GT(rms(a2, 0.05, 0.45), 2000);                    // and the tone over the start
  EXPECT_GT(rms(audio(originals_[0]), 1.05, 1.95), 2000);  // the original is whole

  // Who asked and why is in the metadata's history (and so the ledger).
  auto history = archive_->metadata_history(rec_).value();
  EXPECT_EQ(history.back().changed_by, "api:officer");
  EXPECT_NE(history.back().reason.find("card number"), std::string::npos);
  auto findings = archive_->verify(true).value();
  EXPECT_TRUE(findings.empty()) << findings.front().where << ": " << findings.front().what;
}

TEST_F(RedactJob, BadRequestsAreRefusedAndARepeatAddsNoVersion) {
  EXPECT_FALSE(jobs::check_redaction_spans(json::array()));
  EXPECT_FALSE(jobs::check_redaction_spans(json::array({{{"start", 2}, {"end", 1}}})));
  EXPECT_FALSE(jobs::check_redaction_spans(json::array({{{"start", -1}, {"end", 1}}})));
  EXPECT_FALSE(jobs::check_redaction_spans(json::array({{{"start", "0"}, {"end", 1}}})));
  EXPECT_FALSE(
      jobs::check_redaction_spans(json::array({{{"start", 0}, {"end", 1}, {"participant", 3}}})));
  EXPECT_TRUE(jobs::check_redaction_spans(json::array({{{"start", 0}, {"end", 1.5}}})));
  const auto done = redact(json::array({{{"start", 0.2}, {"end", 0.4}}}), "silence");
  ASSERT_EQ(done.job.state, "done");
  // The same job run again (a restart after the metadata update): the version it made.
  stop();
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  JobWorker again(io, *queue_, jobs::kRedactJob, nullptr);
  std::thread t([&] { io.run(); });
  auto result = run_redact_job(again, *archive_, *queue_, done.job);
  guard.reset();
  t.join();
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result.value()["version"], 1);
  EXPECT_EQ(archive_->recording(rec_).value().metadata["redactions"].size(), 1u);
}

}  // namespace
}  // namespace verbatim::recorder
