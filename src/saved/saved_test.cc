// Saved searches: validation, what "new" means (recordings and transcripts since the last run,
// never the archive's past), one alert per recording, and webhook retries — over a real archive
// with a manual clock.
#include <gtest/gtest.h>

#include "common/test_dir.h"
#include "saved/watcher.h"

namespace verbatim::saved {
namespace {

using nlohmann::json;

constexpr int64_t kNow = 1'800'000'000'000;

class SavedTest : public ::testing::Test {
 protected:
  SavedTest() : dir_("saved"), clock_(TimePoint(std::chrono::milliseconds(kNow))) {
    archive::ArchiveOptions o;
    o.root = dir_ / "archive";
    o.min_free_bytes = 0;
    archive_ = std::move(archive::Archive::open(o, clock_)).value();
  }

  std::string recording(const std::string& who) {
    auto id = archive_->create_recording(
        {{"startedAt", format_iso8601_ms(clock_.now())},
         {"participants", {{{"aor", "sip:" + who + "@contoso.com"}, {"name", who}}}}});
    EXPECT_TRUE(id);
    EXPECT_TRUE(archive_->complete_recording(id.value(), "complete"));
    return id.value();
  }
  void say(const std::string& id, const std::string& words) {
    ASSERT_TRUE(archive_->index_transcript(id, "obj-" + id, {{"Alice", 1000, 3000, words, ""}}));
  }

  SavedSearch search(const std::string& name, std::map<std::string, std::string> params) {
    SavedSearch s;
    s.name = name;
    s.params = std::move(params);
    s.every_s = 60;
    s.owner = "officer";
    s.created_at = format_iso8601_ms(clock_.now());
    s.next_run_ms = kNow;
    const auto marks = archive_marks(archive_->catalog()).value();
    s.serial_mark = marks.first;
    s.utterance_mark = marks.second;
    return s;
  }

  std::unique_ptr<Watcher> watcher() {
    WatcherOptions o;
    o.store = dir_ / "searches.db";
    o.open_archive = [this]() -> Result<std::unique_ptr<archive::Archive>> {
      archive::ArchiveOptions ao;
      ao.root = dir_ / "archive";
      ao.shared = true;
      return archive::Archive::open(ao, clock_, "watcher");
    };
    o.webhook_timeout = std::chrono::milliseconds(500);
    o.clock = &clock_;
    return std::move(Watcher::start(o, false)).value();
  }

  std::vector<std::string> hit_ids(SavedSearches& store, const std::string& name) {
    std::vector<std::string> out;
    const auto hits = store.hits(name, 100);
    for (const auto& h : hits.value()) out.push_back(h.recording_id);
    return out;
  }

  TestDir dir_;
  ManualClock clock_;
  std::unique_ptr<archive::Archive> archive_;
};

TEST_F(SavedTest, BadDefinitionsSayWhy) {
  auto store = SavedSearches::open(dir_ / "searches.db").value();
  auto err = [&](SavedSearch s) {
    auto st = store->save(s);
    EXPECT_FALSE(st);
    return st ? std::string() : st.error().message;
  };
  auto ok = search("desk", {{"participant", "carol"}});
  EXPECT_TRUE(store->save(ok));
  auto s = ok;
  s.name = "a/b";
  EXPECT_NE(err(s).find("name it with"), std::string::npos);
  s = ok;
  s.every_s = 0;
  EXPECT_NE(err(s).find("every 1 s to 7 days"), std::string::npos);
  s = ok;
  s.params = {};
  EXPECT_NE(err(s).find("at least one filter"), std::string::npos);
  s.params = {{"participant", "carol"}, {"cursor", "x"}};
  EXPECT_NE(err(s).find("cursor: not for a saved search"), std::string::npos);
  s.params = {{"colour", "red"}};
  EXPECT_NE(err(s).find("colour: not a search parameter"), std::string::npos);
  s.params = {{"status", "not recorded"}};
  EXPECT_NE(err(s).find("alert by themselves"), std::string::npos);
  s = ok;
  s.webhook = "ftp://x/";
  EXPECT_NE(err(s).find("http:// or https://"), std::string::npos);
  EXPECT_EQ(store->list().value().size(), 1u);
  EXPECT_TRUE(store->remove("desk"));
  EXPECT_EQ(store->remove("desk").error().code, ErrorCode::kNotFound);
}

TEST_F(SavedTest, AlertsOnceOnWhatArrivesAfterItWasSaved) {
  const std::string old = recording("carol");
  say(old, "i guarantee the price");  // before the searches were saved: never alerted
  auto store = SavedSearches::open(dir_ / "searches.db").value();
  auto keywords = search("surveillance", {{"keywords", "guarantee, off the record"}});
  keywords.webhook = "http://127.0.0.1:9/hits";  // nobody listens: retried
  ASSERT_TRUE(store->save(keywords));
  ASSERT_TRUE(store->save(search("carol", {{"participant", "carol"}})));
  auto w = watcher();
  ASSERT_TRUE(w->pass());
  EXPECT_TRUE(store->hits("", 100).value().empty());

  // A new call: Carol's search finds it at once; its words come later, with the transcript.
  clock_.advance(std::chrono::seconds(60));
  const std::string fresh = recording("carol");
  ASSERT_TRUE(w->pass());
  EXPECT_EQ(hit_ids(*store, "carol"), std::vector<std::string>{fresh});
  EXPECT_TRUE(hit_ids(*store, "surveillance").empty());
  say(fresh, "this is off the record");
  ASSERT_TRUE(w->pass());
  EXPECT_TRUE(hit_ids(*store, "surveillance").empty()) << "not due for another minute";
  clock_.advance(std::chrono::seconds(60));
  ASSERT_TRUE(w->pass());
  auto found = store->hits("surveillance", 10).value();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].recording_id, fresh);
  EXPECT_EQ(found[0].hit["type"], "savedSearchHit");
  EXPECT_EQ(found[0].hit["search"], "surveillance");
  EXPECT_EQ(found[0].hit["matches"][0]["text"], "this is [off the record]");
  // The webhook could not be reached: pending, retried 5 s later.
  EXPECT_EQ(found[0].webhook, "pending");
  EXPECT_EQ(found[0].attempts, 1);
  EXPECT_NE(found[0].last_error.find("connecting to 127.0.0.1:9"), std::string::npos);
  EXPECT_EQ(store->hits("carol", 10).value()[0].webhook, "none");
  // More words in the same call, later runs: still one alert per recording and search.
  say(fresh, "i guarantee it");
  clock_.advance(std::chrono::seconds(60));
  ASSERT_TRUE(w->pass());
  EXPECT_EQ(store->hits("", 100).value().size(), 2u);
  EXPECT_EQ(store->hits("surveillance", 10).value()[0].attempts, 2);
  EXPECT_FALSE(store->list().value()[0].last_run_at.empty());
}

TEST(NextAttempt, BacksOffToTenMinutesAndGivesUpAfterADay) {
  const TimePoint raised(std::chrono::hours(1000));
  EXPECT_EQ(*next_attempt(0, raised, raised) - raised, std::chrono::seconds(5));
  EXPECT_EQ(*next_attempt(1, raised, raised) - raised, std::chrono::seconds(10));
  EXPECT_EQ(*next_attempt(7, raised, raised) - raised, std::chrono::seconds(600));
  EXPECT_EQ(*next_attempt(50, raised, raised) - raised, std::chrono::seconds(600));
  EXPECT_FALSE(next_attempt(50, raised, raised + std::chrono::hours(24)));
}

}  // namespace
}  // namespace verbatim::saved
