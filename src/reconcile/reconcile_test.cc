// Missed-recording reconciliation: what a call record expects, how the archive's recordings are
// judged against it, the store, the webhook (a real HTTP server on loopback) and whole passes over
// a real archive with a manual clock.
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "archive/archive.h"
#include "common/test_dir.h"
#include "reconcile/reconciler.h"

namespace verbatim::reconcile {
namespace {

using nlohmann::json;
using search::CallRecording;

constexpr int64_t kStart = 1'800'000'000'000;  // 2027-01-15T08:00:00Z

json call_record(const std::string& call_id, int64_t connected_ms = 1000, int talk_s = 60,
                 bool answered = true) {
  const auto start = TimePoint(std::chrono::milliseconds(kStart));
  json legs = json::array();
  legs.push_back({{"instance", "rec@contoso.com"},
                  {"applicationId", "app-1"},
                  {"uri", "sip:srs@127.0.0.1:5070"},
                  {"state", answered ? "ended" : "failed"},
                  {"answeredMs", answered ? 120 : -1}});
  if (!answered) legs.back()["why"] = "refused: 503 Service Unavailable";
  return {{"callId", call_id},
          {"start", format_iso8601_ms(start)},
          {"end", format_iso8601_ms(start + std::chrono::milliseconds(connected_ms) +
                                    std::chrono::seconds(talk_s))},
          {"caller", {{"aor", "sip:alice@contoso.com"}, {"display", "Alice Trader"}}},
          {"callee", {{"aor", "sip:bob@contoso.com"}, {"number", "+14255550100"}}},
          {"status", 200},
          {"timings", {{"connectedMs", connected_ms}}},
          {"transfers", json::array()},
          {"forwards", json::array()},
          {"recordings",
           {{{"party", "sip:alice@contoso.com"},
             {"left", false},
             {"policy", "Traders"},
             {"applications",
              {{{"application", "Recorder"}, {"recorded", answered}, {"instances", legs}}}}}}}};
}

CallRecording recording(const std::string& id, const std::string& status, int64_t from_ms,
                        std::optional<int64_t> duration_ms, const std::string& app = "app-1",
                        const std::string& direction = "outbound") {
  return {id, app, direction, status, "", kStart + from_ms, duration_ms};
}

TEST(Expectations, ConnectedCallsOfRecordedPartiesOnly) {
  auto e = expectations_of(call_record("c1"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].party, "sip:alice@contoso.com");
  EXPECT_EQ(e[0].side, "caller");
  EXPECT_EQ(e[0].application_ids, std::vector<std::string>{"app-1"});
  EXPECT_TRUE(e[0].answered);
  EXPECT_EQ(e[0].connected_ms, kStart + 1000);
  EXPECT_TRUE(e[0].check_coverage);

  json never = call_record("c2");
  never["timings"]["connectedMs"] = -1;  // refused, cancelled, blocked by a required recorder
  EXPECT_TRUE(expectations_of(never).empty());
  json unrecorded = call_record("c3");
  unrecorded["recordings"] = json::array();  // nobody's policy records them
  EXPECT_TRUE(expectations_of(unrecorded).empty());
  EXPECT_TRUE(expectations_of(json::array()).empty());
  EXPECT_TRUE(expectations_of(json{{"start", "yesterday"}}).empty());
  json moved = call_record("c4");
  moved["transfers"].push_back({{"to", "sip:carol@contoso.com"}});
  EXPECT_FALSE(expectations_of(moved)[0].check_coverage);
}

TEST(Assess, NothingInTheArchiveIsNotRecorded) {
  const auto e = expectations_of(call_record("c1"))[0];
  auto f = assess(e, {});
  ASSERT_TRUE(f);
  EXPECT_EQ(f->status, kNotRecorded);
  EXPECT_NE(f->reason.find("answered (sip:srs@127.0.0.1:5070) but the archive holds no"),
            std::string::npos)
      << f->reason;
  const auto refused = expectations_of(call_record("c1", 1000, 60, false))[0];
  f = assess(refused, {});
  ASSERT_TRUE(f);
  EXPECT_NE(f->reason.find("no recorder answered: sip:srs@127.0.0.1:5070: refused: 503"),
            std::string::npos)
      << f->reason;
  // Another application's recording, or the other party's side, is not this one's.
  EXPECT_EQ(assess(e, {recording("r1", "complete", 0, 62000, "app-9")})->status, kNotRecorded);
  EXPECT_EQ(assess(e, {recording("r1", "complete", 0, 62000, "app-1", "inbound")})->status,
            kNotRecorded);
}

TEST(Assess, ACompleteRecordingOfTheWholeCallIsEnough) {
  const auto e = expectations_of(call_record("c1"))[0];
  EXPECT_FALSE(assess(e, {recording("r1", "complete", 100, 61000)}));
  // A recorder that cannot check our gateway's signature gives no application: the side decides.
  EXPECT_FALSE(assess(e, {recording("r1", "complete", 100, 61000, "")}));
  // Two instances (ConcurrentInvitationCount 2): one complete is enough.
  EXPECT_FALSE(assess(e, {recording("r1", "interrupted", 100, std::nullopt),
                          recording("r2", "complete", 100, 61000)}));
  // Failover: the replacement picks up within the tolerance (2 s).
  EXPECT_FALSE(assess(
      e, {recording("r1", "complete", 100, 30000), recording("r2", "complete", 31500, 30000)}));
}

TEST(Assess, PartialInterruptedOpenOrShortIsIncompleteMedia) {
  const auto e = expectations_of(call_record("c1"))[0];
  auto partial = recording("r1", "partial", 100, 61000);
  partial.reason = "no media received on stream(s) labelled 1";
  auto f = assess(e, {partial});
  ASSERT_TRUE(f);
  EXPECT_EQ(f->status, kIncompleteMedia);
  EXPECT_EQ(f->reason,
            "no complete recording: r1 partial (no media received on stream(s) "
            "labelled 1)");
  EXPECT_EQ(f->recordings, std::vector<std::string>{"r1"});
  EXPECT_EQ(assess(e, {recording("r1", "interrupted", 100, std::nullopt)})->status,
            kIncompleteMedia);
  EXPECT_NE(assess(e, {recording("r1", "recording", 100, std::nullopt)})
                ->reason.find("still open after the call ended"),
            std::string::npos);
  // A recorder lost half way and never replaced: 30 of 60 s.
  f = assess(e, {recording("r1", "complete", 100, 31000)});
  ASSERT_TRUE(f);
  EXPECT_EQ(f->status, kIncompleteMedia);
  EXPECT_EQ(f->reason,
            "the recordings cover 30.1 s of the 60.0 s call (the longest gap: 29.9 s from 30.1 s "
            "after the answer)");
  // The gap in the middle, between two recordings.
  f = assess(e, {recording("r1", "complete", 0, 20000), recording("r2", "complete", 40000, 30000)});
  ASSERT_TRUE(f);
  EXPECT_NE(f->reason.find("the longest gap: 20.0 s from 19.0 s"), std::string::npos) << f->reason;
  // A moved party's span is not known: existence and status only.
  json moved = call_record("c4");
  moved["transfers"].push_back({{"to", "sip:carol@contoso.com"}});
  EXPECT_FALSE(assess(expectations_of(moved)[0], {recording("r1", "complete", 100, 5000)}));
}

TEST(MissedStore, StoresEachFindingOnceWithThePosition) {
  TestDir dir("missed_store");
  auto store = MissedStore::open(dir / "missed.db");
  ASSERT_TRUE(store) << store.error().message;
  auto& s = *store.value();
  EXPECT_EQ(s.position().value(), 0);
  const json rec = call_record("c1");
  const auto e = expectations_of(rec)[0];
  const Alert a = Alert::of(e, *assess(e, {}), rec, "2027-01-15T08:05:00.000Z");
  auto stored = s.record({a}, 7, true);
  ASSERT_TRUE(stored) << stored.error().message;
  ASSERT_EQ(stored.value().size(), 1u);
  EXPECT_GT(stored.value()[0].id, 0);
  EXPECT_EQ(s.position().value(), 7);
  // Found again (a restart between finding and moving on): not a second alert.
  EXPECT_TRUE(s.record({a}, 8, true).value().empty());
  EXPECT_EQ(s.position().value(), 8);
  EXPECT_EQ(s.list({}).value().size(), 1u);
  auto where = [](const std::function<void(MissedQuery&)>& set) {
    MissedQuery q;
    set(q);
    return q;
  };
  auto party = [&](const char* p) { return where([&](MissedQuery& q) { q.party = p; }); };
  auto status = [&](const char* st) { return where([&](MissedQuery& q) { q.status = st; }); };
  EXPECT_EQ(s.list(party("ALICE TRADER")).value().size(), 1u);
  EXPECT_EQ(s.list(party("+1425555")).value().size(), 1u);
  EXPECT_TRUE(s.list(party("carol")).value().empty());
  EXPECT_EQ(s.list(status("missed")).value().size(), 1u);
  EXPECT_EQ(s.list(status("not recorded")).value().size(), 1u);
  EXPECT_TRUE(s.list(status("incomplete media")).value().empty());
  EXPECT_TRUE(s.list(where([](MissedQuery& q) { q.from_ms = kStart + 1; })).value().empty());
  EXPECT_EQ(s.list(where([](MissedQuery& q) {
               q.from_ms = kStart;
               q.to_ms = kStart + 1;
             }))
                .value()
                .size(),
            1u);
  // The application by its name (the call record's) or its id (the recordings' application).
  for (const char* app : {"Recorder", "app-1"}) {
    EXPECT_EQ(s.list(where([&](MissedQuery& q) { q.application = app; })).value().size(), 1u)
        << app;
  }
  EXPECT_TRUE(s.list(where([](MissedQuery& q) { q.application = "app-2"; })).value().empty());
  const Alert back = s.list(where([](MissedQuery& q) { q.call_id = "c1"; })).value().at(0);
  EXPECT_EQ(back.to_json()["caller"]["display"], "Alice Trader");
  EXPECT_EQ(back.webhook, "pending");
  // Delivery: due at once; a failure is retried when told; delivered is done.
  EXPECT_EQ(s.due(0, 10).value().size(), 0u);
  const int64_t detected = 1'800'000'300'000;
  ASSERT_EQ(s.due(detected, 10).value().size(), 1u);
  ASSERT_TRUE(s.attempted(back.id, false, "HTTP 500", detected + 5000));
  EXPECT_TRUE(s.due(detected + 4999, 10).value().empty());
  ASSERT_EQ(s.due(detected + 5000, 10).value().size(), 1u);
  ASSERT_TRUE(s.attempted(back.id, true, "", std::nullopt));
  EXPECT_TRUE(s.due(detected + 999999, 10).value().empty());
  const auto t = s.totals().value();
  EXPECT_EQ(t.alerts, 1);
  EXPECT_EQ(t.not_recorded, 1);
  EXPECT_EQ(t.pending, 0);
  EXPECT_EQ(s.list({}).value()[0].attempts, 2);
}

TEST(Webhook, Urls) {
  auto u = parse_webhook_url("https://alerts.example.com/hooks/missed?token=x");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u.value().tls);
  EXPECT_EQ(u.value().host, "alerts.example.com");
  EXPECT_EQ(u.value().port, "443");
  EXPECT_EQ(u.value().target, "/hooks/missed?token=x");
  u = parse_webhook_url("http://[::1]:8080");
  ASSERT_TRUE(u);
  EXPECT_EQ(u.value().host, "::1");
  EXPECT_EQ(u.value().port, "8080");
  EXPECT_EQ(u.value().target, "/");
  for (const char* bad : {"ftp://x/", "http://", "http://h:0/", "http://h:99999/", "http://[::1/",
                          "http://user:pw@h/", "alerts.example.com"}) {
    EXPECT_FALSE(parse_webhook_url(bad)) << bad;
  }
}

// An HTTP server on loopback answering each request with the next status given.
class HookServer {
 public:
  explicit HookServer(std::deque<int> statuses) : statuses_(std::move(statuses)) {
    acceptor_.open(boost::asio::ip::tcp::v4());
    acceptor_.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    thread_ = std::thread([this] {
      namespace http = boost::beast::http;
      while (!statuses_.empty()) {
        boost::asio::ip::tcp::socket sock(io_);
        boost::system::error_code ec;
        acceptor_.accept(sock, ec);
        if (ec || stopping_) return;
        boost::beast::flat_buffer buf;
        http::request<http::string_body> req;
        http::read(sock, buf, req, ec);
        if (ec) continue;
        bodies.push_back(req.body());
        http::response<http::string_body> res{static_cast<http::status>(statuses_.front()), 11};
        statuses_.pop_front();
        res.prepare_payload();
        http::write(sock, res, ec);
      }
    });
  }
  ~HookServer() {
    stopping_ = true;
    // Wakes an accept still waiting (a test that failed before using every status).
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket wake(io);
    boost::system::error_code ec;
    wake.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/missed";
  }
  std::vector<std::string> bodies;

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  std::deque<int> statuses_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

TEST(Webhook, PostsJsonAndSaysWhyItFailed) {
  {
    HookServer server({204});
    auto r = post_json({server.url(), "", std::chrono::seconds(5)}, R"({"a":1})");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value(), 204);
    ASSERT_EQ(server.bodies.size(), 1u);
    EXPECT_EQ(server.bodies[0], R"({"a":1})");
  }
  {
    // A server that takes the connection and never answers: the deadline ends it.
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor silent(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    const auto port = std::to_string(silent.local_endpoint().port());
    auto r =
        post_json({"http://127.0.0.1:" + port + "/", "", std::chrono::milliseconds(300)}, "{}");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("timeout"), std::string::npos) << r.error().message;
  }
  {
    // https to a server that speaks plain HTTP: the handshake fails, and says so.
    HookServer server({200});
    std::string url = server.url();
    url.replace(0, 4, "https");
    auto r = post_json({url, "", std::chrono::seconds(5)}, "{}");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("TLS with 127.0.0.1"), std::string::npos) << r.error().message;
  }
  // Nobody listening there now.
  auto r = post_json({"http://127.0.0.1:9/", "", std::chrono::seconds(2)}, "{}");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("connecting to 127.0.0.1:9"), std::string::npos)
      << r.error().message;
}

// Call records in memory, in the order stored.
class Records final : public CallRecords {
 public:
  Result<std::vector<json>> find_calls(const CallQuery&) override { return std::vector<json>{}; }
  Result<std::optional<json>> find_call(std::string_view) override { return std::optional<json>(); }
  Result<std::vector<std::pair<int64_t, json>>> calls_after(int64_t seq, size_t limit) override {
    std::vector<std::pair<int64_t, json>> out;
    for (size_t i = static_cast<size_t>(seq); i < calls->size() && out.size() < limit; ++i) {
      out.emplace_back(static_cast<int64_t>(i) + 1, (*calls)[i]);
    }
    return out;
  }
  std::shared_ptr<std::vector<json>> calls = std::make_shared<std::vector<json>>();
};

TEST(Reconciler, AlertsOncePerMissedRecordingAfterTheDelay) {
  TestDir dir("reconciler");
  ManualClock clock(TimePoint(std::chrono::milliseconds(kStart)) + std::chrono::seconds(61));
  // The archive: Alice's call c-ok recorded whole; c-missing never stored; c-short cut off.
  archive::ArchiveOptions ao;
  ao.root = dir / "archive";
  ao.min_free_bytes = 0;
  {
    auto a = archive::Archive::open(ao, clock);
    ASSERT_TRUE(a) << a.error().message;
    auto add = [&](const std::string& call_id, double seconds) {
      const json md = {
          {"callId", call_id},
          {"application_id", "app-1"},
          {"startedAt", format_iso8601_ms(TimePoint(std::chrono::milliseconds(kStart)) +
                                          std::chrono::milliseconds(200))},
          {"durationSeconds", seconds},
          {"call", {{"direction", "outbound"}}}};
      auto id = a.value()->create_recording(md);
      ASSERT_TRUE(id) << id.error().message;
      ASSERT_TRUE(a.value()->complete_recording(id.value(), "complete"));
    };
    add("c-ok", 61.0);
    add("c-short", 20.0);
  }
  Records records;
  auto calls = records.calls;
  calls->push_back(call_record("c-ok"));
  calls->push_back(call_record("c-missing"));
  json unrecorded = call_record("c-unrecorded");
  unrecorded["recordings"] = json::array();
  calls->push_back(unrecorded);
  calls->push_back(call_record("c-short"));
  calls->push_back(call_record("c-later", 1000, 120));  // ends a minute after the others
  HookServer hook({500, 200, 200, 200});
  ReconcilerOptions o;
  o.call_records = [calls]() -> Result<std::unique_ptr<CallRecords>> {
    auto r = std::make_unique<Records>();
    r->calls = calls;
    return std::unique_ptr<CallRecords>(std::move(r));
  };
  o.archive_db = dir / "archive/archive.db";
  o.store = dir / "missed.db";
  o.after = std::chrono::seconds(30);
  o.webhook.url = hook.url();
  o.clock = &clock;
  auto rec = Reconciler::start(o, false);
  ASSERT_TRUE(rec) << rec.error().message;
  auto& r = *rec.value();
  auto store = MissedStore::open(o.store).value();
  ASSERT_TRUE(r.pass());
  EXPECT_TRUE(store->list({}).value().empty()) << "30 s after the end have not passed";
  clock.advance(std::chrono::seconds(30));
  ASSERT_TRUE(r.pass());
  auto found = store->list({}).value();
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].call_id, "c-short");
  EXPECT_EQ(found[0].status, kIncompleteMedia);
  EXPECT_EQ(found[1].call_id, "c-missing");
  EXPECT_EQ(found[1].status, kNotRecorded);
  EXPECT_EQ(store->position().value(), 4) << "c-later is not due yet";
  // The webhook: the first attempt failed (500), the second delivered.
  EXPECT_EQ(r.totals()["alertWebhooksPending"], 1);
  EXPECT_EQ(r.totals()["missedRecordings"], 2);
  EXPECT_EQ(r.totals()["callsReconciled"], 4);
  clock.advance(std::chrono::seconds(5));
  ASSERT_TRUE(r.pass());
  EXPECT_EQ(r.totals()["alertWebhooksPending"], 0);
  ASSERT_EQ(hook.bodies.size(), 3u);
  const json body = json::parse(hook.bodies.back());
  EXPECT_EQ(body["type"], "missedRecording");
  EXPECT_EQ(body["callId"], "c-missing");  // refused (500) first, then retried
  EXPECT_EQ(body["status"], "not recorded");
  EXPECT_EQ(body["caller"]["aor"], "sip:alice@contoso.com");
  EXPECT_EQ(json::parse(hook.bodies[1])["callId"], "c-short");
  // c-later: due a minute later; recorded by nobody either.
  clock.advance(std::chrono::seconds(60));
  ASSERT_TRUE(r.pass());
  EXPECT_EQ(store->list({}).value().size(), 3u);
  EXPECT_EQ(store->position().value(), 5);
  EXPECT_EQ(hook.bodies.size(), 4u);
  ASSERT_TRUE(r.pass());
  EXPECT_EQ(store->list({}).value().size(), 3u) << "never twice";
  // The trend: the day's recordings expected (four recorded calls; c-unrecorded expects none)
  // and missed, each counted once however many passes ran.
  const auto days = store->daily("2000-01-01").value();
  ASSERT_EQ(days.size(), 1u);
  EXPECT_EQ(days[0].day,
            format_iso8601_ms(TimePoint(std::chrono::milliseconds(kStart))).substr(0, 10));
  EXPECT_EQ(days[0].expected, 4);
  EXPECT_EQ(days[0].missed, 3);
  EXPECT_TRUE(store->daily("2999-01-01").value().empty());
}

TEST(Reconciler, AFreshStoreLeavesOldCallsAlone) {
  TestDir dir("reconciler_fresh");
  ManualClock clock(TimePoint(std::chrono::milliseconds(kStart)) + std::chrono::hours(48));
  Records records;
  auto calls = records.calls;
  calls->push_back(call_record("c-old"));
  ReconcilerOptions o;
  o.call_records = [calls]() -> Result<std::unique_ptr<CallRecords>> {
    auto r = std::make_unique<Records>();
    r->calls = calls;
    return std::unique_ptr<CallRecords>(std::move(r));
  };
  o.archive_db = dir / "archive/archive.db";  // none: nothing was stored
  o.store = dir / "missed.db";
  o.clock = &clock;
  auto r = Reconciler::start(o, false);
  ASSERT_TRUE(r);
  ASSERT_TRUE(r.value()->pass());
  auto store = MissedStore::open(o.store).value();
  EXPECT_TRUE(store->list({}).value().empty());
  EXPECT_EQ(store->position().value(), 1);
  o.webhook.url = "ftp://nowhere/";
  EXPECT_FALSE(Reconciler::start(o, false));
}

}  // namespace
}  // namespace verbatim::reconcile
