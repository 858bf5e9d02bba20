#include "jobs/queue.h"

#include <gtest/gtest.h>

#include "common/test_dir.h"

namespace verbatim::jobs {
namespace {

TimePoint at(int seconds) { return TimePoint(std::chrono::seconds(1'800'000'000 + seconds)); }

TEST(JobQueue, WaitingJobsRunOnlyOnceTheirRecordingEnded) {
  TestDir dir("jobs");
  ManualClock clock(at(0));
  auto q = JobQueue::open(dir / "jobs.db", clock).value();
  ASSERT_TRUE(q->add("playback", "rec-1", false));
  ASSERT_TRUE(q->add("playback", "rec-2", true));
  ASSERT_TRUE(q->add("playback", "rec-2", false));  // again: nothing changes
  auto j = q->claim("playback").value();
  ASSERT_TRUE(j);
  EXPECT_EQ(j->recording, "rec-2");
  EXPECT_EQ(j->attempts, 1);
  EXPECT_FALSE(q->claim("playback").value());  // rec-1 still recording
  EXPECT_FALSE(q->claim("transcript").value());
  ASSERT_TRUE(q->ready("playback", "rec-1"));
  auto k = q->claim("playback").value();
  ASSERT_TRUE(k);
  EXPECT_EQ(k->recording, "rec-1");
  ASSERT_TRUE(q->done(j->id, R"({"files":[]})"));
  auto done = q->list("done").value();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].result, R"({"files":[]})");
}

TEST(JobQueue, ARestartResumesRunningAndWaitingJobs) {
  TestDir dir("jobs");
  ManualClock clock(at(0));
  {
    auto q = JobQueue::open(dir / "jobs.db", clock).value();
    ASSERT_TRUE(q->add("playback", "rec-1", true));
    ASSERT_TRUE(q->add("playback", "rec-2", false));
    ASSERT_TRUE(q->claim("playback").value());  // then the process dies
  }
  auto q = JobQueue::open(dir / "jobs.db", clock).value();
  EXPECT_FALSE(q->claim("playback").value());  // nothing until recovered
  EXPECT_EQ(q->recover().value(), 2);
  auto a = q->claim("playback").value();
  auto b = q->claim("playback").value();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->recording, "rec-1");
  EXPECT_EQ(a->attempts, 2);
  EXPECT_EQ(b->recording, "rec-2");
}

TEST(JobQueue, RetriesBackOffAndFailAfterTheLastAttempt) {
  TestDir dir("jobs");
  ManualClock clock(at(0));
  auto q = JobQueue::open(dir / "jobs.db", clock).value();
  q->max_attempts = 2;
  ASSERT_TRUE(q->add("playback", "rec-1", true));
  auto j = q->claim("playback").value();
  ASSERT_TRUE(j);
  ASSERT_TRUE(q->retry(j->id, "storage below the floor", std::chrono::seconds(10)));
  EXPECT_FALSE(q->claim("playback").value());  // not before 10 s
  clock.advance(std::chrono::seconds(11));
  j = q->claim("playback").value();
  ASSERT_TRUE(j);
  EXPECT_EQ(j->attempts, 2);
  ASSERT_TRUE(q->retry(j->id, "still failing", std::chrono::seconds(10)));
  clock.advance(std::chrono::seconds(60));
  EXPECT_FALSE(q->claim("playback").value());
  auto failed = q->list("failed").value();
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].error, "still failing");
  auto counts = q->counts().value();
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0], (std::pair<std::string, int64_t>{"failed", 1}));
}

TEST(JobQueue, AJobTheProcessDiesInEveryTimeIsGivenUp) {
  TestDir dir("jobs");
  ManualClock clock(at(0));
  for (int run = 0; run < 3; ++run) {
    auto q = JobQueue::open(dir / "jobs.db", clock).value();
    q->max_attempts = 2;
    (void)q->recover();
    if (run == 0) ASSERT_TRUE(q->add("playback", "rec-1", true));
    auto j = q->claim("playback").value();  // and the process dies
    EXPECT_EQ(j.has_value(), run < 2) << run;
  }
  auto q = JobQueue::open(dir / "jobs.db", clock).value();
  auto failed = q->list("failed").value();
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].error, "the process stopped during each of its 2 attempts");
}

TEST(JobQueue, EachRedactionIsAJobOfItsOwnWithItsRequestKept) {
  TestDir dir("jobs");
  ManualClock clock(at(0));
  auto q = JobQueue::open(dir / "jobs.db", clock).value();
  Redaction r;
  r.recording = "rec-1";
  r.spans = R"([{"start":1,"end":2}])";
  r.fill = "tone";
  r.reason = "card number";
  r.requested_by = "api:officer";
  const int64_t a = q->add_redaction(r).value();
  r.spans = R"([{"start":3,"end":4}])";
  r.fill = "silence";
  const int64_t b = q->add_redaction(r).value();
  EXPECT_NE(a, b);
  r.fill = "bleep";  // not a fill the table takes: refused, and no job is left behind
  EXPECT_FALSE(q->add_redaction(r));
  EXPECT_EQ(q->list().value().size(), 2u);

  auto listed = q->redactions("rec-1").value();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].id, a);
  EXPECT_EQ(listed[0].fill, "tone");
  EXPECT_EQ(listed[0].requested_by, "api:officer");
  EXPECT_EQ(listed[0].job.state, "pending");
  EXPECT_EQ(listed[1].spans, R"([{"start":3,"end":4}])");
  EXPECT_TRUE(q->redactions("rec-2").value().empty());

  auto j = q->claim(kRedactJob).value();
  ASSERT_TRUE(j);
  EXPECT_EQ(j->recording, JobQueue::redaction_subject("rec-1", a));
  ASSERT_TRUE(q->done(j->id, R"({"version":1})"));
  auto one = q->redaction(a).value();
  ASSERT_TRUE(one);
  EXPECT_EQ(one->job.state, "done");
  EXPECT_EQ(one->job.result, R"({"version":1})");
  EXPECT_EQ(q->redaction(b).value()->job.state, "pending");
  EXPECT_FALSE(q->redaction(999).value());
}

}  // namespace
}  // namespace verbatim::jobs
