#include "common/meetings.h"

#include <gtest/gtest.h>

#include <set>

#include "common/test_dir.h"

namespace verbatim {
namespace {

NewMeeting meeting(const std::string& pin = "") {
  NewMeeting n;
  n.organizer = "alice@contoso.com";
  n.subject = "Q4 rates review";
  n.start = "2026-12-09T15:00:00+01:00";
  n.pin = pin;
  n.domain = "contoso.com";
  n.created_by = "kim";
  return n;
}

TEST(MeetingStore, CreatesWithAUriAndAUniquePinAndSeenByAnotherConnection) {
  TestDir dir("meetings");
  const std::string path = (dir.path() / "meetings.db").string();
  auto admin = MeetingStore::open(path);
  auto gateway = MeetingStore::open(path);
  ASSERT_TRUE(admin && gateway);
  auto m = admin.value()->create(meeting());
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m.value().id.size(), 10u);
  EXPECT_EQ(m.value().uri, "sip:meet-" + m.value().id + "@contoso.com");
  EXPECT_EQ(m.value().pin.size(), 9u);
  EXPECT_EQ(m.value().starts_at, "2026-12-09T14:00:00Z");  // stored in UTC
  EXPECT_EQ(m.value().created_by, "kim");
  auto seen = gateway.value()->by_pin(m.value().pin);
  ASSERT_TRUE(seen && seen.value());
  EXPECT_EQ(seen.value()->id, m.value().id);
  EXPECT_EQ(seen.value()->to_json()["subject"], "Q4 rates review");

  // Random PINs and ids differ; a PIN given that another standing meeting has is refused.
  std::set<std::string> pins{m.value().pin}, ids{m.value().id};
  for (int i = 0; i < 20; ++i) {
    auto more = admin.value()->create(meeting());
    ASSERT_TRUE(more);
    pins.insert(more.value().pin);
    ids.insert(more.value().id);
  }
  EXPECT_EQ(pins.size(), 21u);
  EXPECT_EQ(ids.size(), 21u);
  ASSERT_TRUE(admin.value()->create(meeting("4242")));
  auto taken = admin.value()->create(meeting("4242"));
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, ErrorCode::kAlreadyExists);
  EXPECT_NE(taken.error().message.find("PIN 4242 is in use by meeting"), std::string::npos);

  // Cancelled: off the list and its PIN free again; kept with who and why.
  const std::string first = m.value().id;
  auto c = admin.value()->cancel(first, "kim", "moved to next week");
  ASSERT_TRUE(c && c.value());
  EXPECT_FALSE(admin.value()->cancel(first, "kim", "again").value());
  EXPECT_FALSE(gateway.value()->by_pin(m.value().pin).value());
  auto kept = gateway.value()->get(first);
  ASSERT_TRUE(kept && kept.value());
  EXPECT_TRUE(kept.value()->cancelled());
  EXPECT_EQ(kept.value()->to_json()["cancelReason"], "moved to next week");
  EXPECT_EQ(admin.value()->list("", false).value().size(), 21u);
  EXPECT_EQ(admin.value()->list("", true).value().size(), 22u);
  EXPECT_EQ(admin.value()->list("bob@contoso.com", true).value().size(), 0u);
  auto by = admin.value()->by_pin("4242");
  ASSERT_TRUE(by && by.value());
  ASSERT_TRUE(admin.value()->cancel(by.value()->id, "kim", "done"));
  EXPECT_TRUE(admin.value()->create(meeting("4242")));
}

TEST(MeetingStore, BadInputGetsAClearError) {
  TestDir dir("meetings_bad");
  auto store = MeetingStore::open((dir.path() / "meetings.db").string());
  ASSERT_TRUE(store);
  auto refused = [&](NewMeeting n, const std::string& says) {
    auto r = store.value()->create(n);
    ASSERT_FALSE(r) << says;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find(says), std::string::npos) << r.error().message;
  };
  NewMeeting n = meeting();
  n.subject = "";
  refused(n, "subject: 1 to 256");
  n.subject = std::string(257, 'x');
  refused(n, "subject: 1 to 256");
  n.subject = "line\nbreak";
  refused(n, "no control characters");
  refused(meeting("123"), "PIN: 4 to 12 digits");
  refused(meeting("1234567890123"), "PIN: 4 to 12 digits");
  refused(meeting("12a4"), "PIN: 4 to 12 digits");
  n = meeting();
  n.start = "next tuesday";
  refused(n, "start: not a time");
  n = meeting();
  n.domain = "";
  refused(n, "SIP domain");
  n = meeting();
  n.organizer = "";
  refused(n, "organiser");
  EXPECT_TRUE(store.value()->list("", true).value().empty());
}

}  // namespace
}  // namespace verbatim
