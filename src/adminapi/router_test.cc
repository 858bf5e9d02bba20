#include "adminapi/router.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "admin/interpreter.h"
#include "adminapi/http_util.h"
#include "archive/archive.h"
#include "archive/export.h"
#include "common/call_control.h"
#include "common/data_paths.h"
#include "jobs/queue.h"
#include "media/pcap.h"
#include "policy/sqlite_store.h"
#include "reconcile/missed_store.h"

namespace verbatim::adminapi {
namespace {

using nlohmann::json;

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() / ("vb_router_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto store = policy::SqliteStore::open((dir / "policy.db").string());
    ASSERT_TRUE(store);
    using policy::Role;
    const std::vector<std::tuple<std::string, Role, std::vector<std::string>, std::string>> people =
        {
            {"tester", Role::kAdmin, {}, "secret-token"},
            {"second", Role::kAdmin, {}, "second-token"},
            {"audit", Role::kAuditor, {}, "audit-token"},
            {"recadm", Role::kRecorderAdmin, {}, "recadm-token"},
            {"jane", Role::kComplianceOfficer, {"FX Desk"}, "jane-token"},
            {"omar", Role::kComplianceOfficer, {"FX Desk"}, "omar-token"},
            {"rita", Role::kComplianceOfficer, {"Rates"}, "rita-token"},
            {"sam", Role::kSupervisor, {"FX Desk"}, "sam-token"},
        };
    for (const auto& [name, role, groups, token] : people) {
      ASSERT_TRUE(store.value()->put_account({name, role, groups, {}, "", "t", "test"}));
      ASSERT_TRUE(store.value()->put_token({name + "-1", name, "t"}, token_hash(token)));
    }
    svc = std::make_unique<policy::PolicyService>(std::move(store).value(), ids, clock);
    ASSERT_TRUE(svc->open());
    archive::ArchiveOptions ao;
    ao.root = (dir / "archive").string();
    ao.writer.chunk_size = archive::kMinChunkSize;
    auto a = archive::Archive::open(ao, clock, "test");
    ASSERT_TRUE(a) << a.error().message;
    archive_ = std::move(a).value();
    RouterOptions ro;
    ro.import_dir = (dir / "import").string();
    ro.work_dir = (dir / "tmp").string();
    ro.cases_db = (dir / "cases.db").string();
    ro.archive = [this](const std::function<Status(archive::Archive&)>& use) {
      return use(*archive_);
    };
    router = std::make_unique<Router>(*svc, ro);
  }
  void TearDown() override {
    router.reset();
    archive_.reset();
    std::filesystem::remove_all(dir);
  }

  // A complete recording of `group` with one media object; returns (recording, object).
  std::pair<std::string, std::string> recording(const std::string& group) {
    auto rec = archive_->create_recording({{"groups", {group}}, {"policy", "Traders"}});
    EXPECT_TRUE(rec);
    auto obj = archive_->begin_object(rec.value(), "media");
    EXPECT_TRUE(obj);
    const std::string text = "the call of " + group;
    EXPECT_TRUE(obj.value()->writer().write(
        std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size())));
    EXPECT_TRUE(archive_->seal(*obj.value()));
    EXPECT_TRUE(archive_->complete_recording(rec.value(), "complete"));
    return {rec.value(), obj.value()->id()};
  }
  // The ledger entries of a type, as JSON.
  std::vector<json> ledger(const std::string& type) {
    std::vector<json> out;
    for (uint64_t i = 0; i < archive_->ledger().size(); ++i) {
      auto e = json::parse(archive_->ledger().entry_bytes(i).value());
      if (e["type"] == type) out.push_back(e);
    }
    return out;
  }

  Response call(http::verb method, const std::string& target, const json& body = nullptr,
                const std::string& token = "secret-token",
                const std::vector<std::pair<http::field, std::string>>& headers = {}) {
    Request req{method, target, 11};
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    for (const auto& [field, value] : headers) req.set(field, value);
    if (!body.is_null()) req.body() = body.dump();
    req.prepare_payload();
    return router->handle(req);
  }
  static json body(const Response& r) { return json::parse(r.body()); }

  std::filesystem::path dir;
  SequentialIdGenerator ids;
  ManualClock clock{TimePoint{std::chrono::seconds(1800000000)}};
  std::unique_ptr<policy::PolicyService> svc;
  std::unique_ptr<archive::Archive> archive_;
  std::unique_ptr<Router> router;
};

TEST(HttpRanges, OneByteRangeOfEachFormElseTheWholeContent) {
  using detail::parse_range;
  auto r = parse_range("bytes=0-9", 100);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->satisfiable);
  EXPECT_EQ(r->first, 0u);
  EXPECT_EQ(r->last, 9u);
  r = parse_range("bytes=90-", 100);  // to the end
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 90u);
  EXPECT_EQ(r->last, 99u);
  r = parse_range("Bytes=50-1000", 100);  // clipped to the end
  ASSERT_TRUE(r);
  EXPECT_EQ(r->last, 99u);
  r = parse_range("bytes=-10", 100);  // the last ten
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 90u);
  EXPECT_EQ(r->last, 99u);
  r = parse_range("bytes=-1000", 100);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 0u);
  // Past the end: 416.
  for (const char* h : {"bytes=100-", "bytes=100-200", "bytes=-0"}) {
    r = parse_range(h, 100);
    ASSERT_TRUE(r) << h;
    EXPECT_FALSE(r->satisfiable) << h;
  }
  // Not usable: the whole content (RFC 9110 lets a server ignore Range).
  for (const char* h : {"", "bytes=", "items=0-1", "bytes=5-2", "bytes=0-1,5-6", "bytes=a-b",
                        "bytes=1", "bytes=--1", "bytes=99999999999999999999-"}) {
    EXPECT_FALSE(parse_range(h, 100)) << h;
  }
}

TEST_F(RouterTest, HealthNeedsNoTokenButTheApiDoes) {
  EXPECT_EQ(call(http::verb::get, "/healthz", nullptr, "").result(), http::status::ok);
  EXPECT_EQ(call(http::verb::get, "/api/v1/policies", nullptr, "").result(),
            http::status::unauthorized);
  EXPECT_EQ(call(http::verb::get, "/api/v1/policies", nullptr, "wrong").result(),
            http::status::unauthorized);
  EXPECT_EQ(call(http::verb::get, "/api/v1/policies").result(), http::status::ok);
}

TEST_F(RouterTest, ResourceRoutesAreTheCmdlets) {
  auto r = call(http::verb::post, "/api/v1/policies", {{"Identity", "Traders"}, {"Enabled", true}});
  ASSERT_EQ(r.result(), http::status::created) << r.body();
  EXPECT_EQ(body(r)["objects"][0]["Identity"], "Tag:Traders");
  EXPECT_EQ(call(http::verb::post, "/api/v1/policies", {{"Identity", "Traders"}}).result(),
            http::status::conflict);
  r = call(http::verb::patch, "/api/v1/policies/Traders", {{"Description", "desk"}});
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  r = call(http::verb::get, "/api/v1/policies/Tag%3ATraders");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  EXPECT_EQ(body(r)["objects"][0]["Description"], "desk");
  EXPECT_EQ(call(http::verb::get, "/api/v1/policies/Nope").result(), http::status::not_found);
  r = call(http::verb::post, "/api/v1/policies", {{"Identity", "X"}, {"Enabled", "yes"}});
  EXPECT_EQ(r.result(), http::status::bad_request);
  EXPECT_EQ(body(r)["error"]["errorId"], "ParameterArgumentTransformationError");
  EXPECT_EQ(call(http::verb::put, "/api/v1/policies").result(), http::status::method_not_allowed);
  EXPECT_EQ(call(http::verb::get, "/api/v1/nothing").result(), http::status::not_found);
}

TEST_F(RouterTest, DecisionAndExplain) {
  auto script = R"(
New-VbUser alice@contoso.com -PhoneNumber +14255550100 -DataLocation EUR
New-CsOnlineApplicationInstance -UserPrincipalName rec@contoso.com -ApplicationId 0f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b
New-CsTeamsComplianceRecordingPolicy Traders -Enabled $true -ComplianceRecordingApplications @(New-CsTeamsComplianceRecordingApplication -Parent Traders -Id rec@contoso.com)
)";
  auto r = call(http::verb::post, "/api/v1/script", {{"script", script}});
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  // Where recordings go changes only with a second admin's approval.
  r = call(http::verb::post, "/api/v1/recorder-endpoints",
           {{"ApplicationId", "0f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"},
            {"Uri", "sip:rec.contoso.com"},
            {"Region", "EUR"}});
  ASSERT_EQ(r.result(), http::status::accepted) << r.body();
  const auto approval = std::to_string(body(r)["approval"]["id"].get<int64_t>());
  EXPECT_TRUE(svc->state().endpoints().empty()) << "nothing changed before the approval";
  r = call(http::verb::post, "/api/v1/approvals/" + approval + "/approve");
  EXPECT_EQ(r.result(), http::status::forbidden) << "not by the one who asked";
  r = call(http::verb::post, "/api/v1/approvals/" + approval + "/approve", nullptr, "second-token");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  EXPECT_EQ(svc->state().endpoints().size(), 1u);
  r = call(http::verb::post, "/api/v1/users/alice@contoso.com/policy", {{"PolicyName", "Traders"}});
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  r = call(http::verb::get, "/api/v1/decision?party=tel%3A%2B14255550100");
  ASSERT_EQ(r.result(), http::status::ok);
  const json d = body(r);
  EXPECT_TRUE(d["record"]);
  EXPECT_EQ(d["source"], "Direct");
  EXPECT_EQ(d["policy"]["invitations"][0]["recorder"]["endpoints"][0]["uri"],
            "sip:rec.contoso.com");
  EXPECT_FALSE(body(call(http::verb::get, "/api/v1/decision?party=sip:bob@x"))["knownUser"]);
  EXPECT_EQ(call(http::verb::get, "/api/v1/decision").result(), http::status::bad_request);
  r = call(http::verb::get, "/api/v1/explain?user=alice@contoso.com");
  ASSERT_EQ(r.result(), http::status::ok);
  EXPECT_TRUE(body(r)["recorded"]);
  EXPECT_EQ(call(http::verb::get, "/api/v1/explain?user=nobody").result(), http::status::not_found);
}

TEST_F(RouterTest, FailedScriptChangesNothingAndIsAudited) {
  auto r = call(http::verb::post, "/api/v1/script",
                {{"script", "New-CsTeamsComplianceRecordingPolicy A\nNew-Bogus"}});
  EXPECT_EQ(r.result(), http::status::not_found);
  EXPECT_EQ(body(r)["error"]["errorId"], "CommandNotFoundException");
  EXPECT_EQ(svc->state().find_policy("A"), nullptr);
  ASSERT_EQ(
      call(http::verb::post, "/api/v1/cmdlets/New-VbGroup", {{"DisplayName", "Desk"}}).result(),
      http::status::created);
  r = call(http::verb::get, "/api/v1/audit?Last=1");
  ASSERT_EQ(r.result(), http::status::ok);
  EXPECT_EQ(body(r)["objects"][0]["Actor"], "api:tester");
  EXPECT_EQ(call(http::verb::post, "/api/v1/script", json("not an object")).result(),
            http::status::bad_request);
  Request bad{http::verb::post, "/api/v1/policies", 11};
  bad.set(http::field::authorization, "Bearer secret-token");
  bad.body() = "{not json";
  bad.prepare_payload();
  EXPECT_EQ(router->handle(bad).result(), http::status::bad_request);
}

// Today any token can do anything: now each token is an account's, with its role, and every
// route checks it. A missing right is 403.
TEST_F(RouterTest, RestAuthorizationAnyTokenCanDoAnything) {
  auto policy = json{{"Identity", "Traders"}, {"Enabled", true}};
  EXPECT_EQ(call(http::verb::post, "/api/v1/policies", policy, "audit-token").result(),
            http::status::forbidden);
  EXPECT_EQ(call(http::verb::post, "/api/v1/policies", policy, "jane-token").result(),
            http::status::forbidden);
  EXPECT_EQ(call(http::verb::get, "/api/v1/policies", nullptr, "jane-token").result(),
            http::status::forbidden);
  EXPECT_EQ(call(http::verb::post, "/api/v1/script", {{"script", "New-VbGroup X"}}, "recadm-token")
                .result(),
            http::status::forbidden);
  EXPECT_EQ(call(http::verb::post, "/api/v1/policies", policy).result(), http::status::created);
  EXPECT_EQ(call(http::verb::get, "/api/v1/audit", nullptr, "audit-token").result(),
            http::status::ok);
  EXPECT_EQ(call(http::verb::get, "/api/v1/policies", nullptr, "recadm-token").result(),
            http::status::ok);
  EXPECT_EQ(call(http::verb::get, "/api/v1/security-log", nullptr, "jane-token").result(),
            http::status::forbidden);
  EXPECT_EQ(call(http::verb::get, "/api/v1/ledger/head", nullptr, "audit-token").result(),
            http::status::ok);
  // Admins run policy; recordings are not theirs.
  const auto [rec, obj] = recording("FX Desk");
  EXPECT_EQ(call(http::verb::get, "/api/v1/recordings/" + rec).result(), http::status::forbidden);
  EXPECT_EQ(call(http::verb::get, "/api/v1/recordings/" + rec, nullptr, "audit-token").result(),
            http::status::forbidden);
}

// T36: a compliance officer of desk X cannot read, play or export desk Y's recordings, by UI or
// by guessing ids: the same 403 as for an id that does not exist, and every attempt and every
// access goes into the ledger with the account's name.
TEST_F(RouterTest, T36ComplianceOfficerScopedToTheirDesk) {
  const auto [fx, fx_obj] = recording("FX Desk");
  const auto [rates, rates_obj] = recording("Rates");
  const auto in_scope = call(http::verb::get, "/api/v1/recordings/" + fx, nullptr, "jane-token");
  ASSERT_EQ(in_scope.result(), http::status::ok) << in_scope.body();
  EXPECT_EQ(body(in_scope)["objects"][0]["id"], fx_obj);
  auto played = call(http::verb::get, "/api/v1/recordings/" + fx + "/objects/" + fx_obj, nullptr,
                     "jane-token");
  ASSERT_EQ(played.result(), http::status::ok);
  EXPECT_EQ(played.body(), "the call of FX Desk");
  const auto other = call(http::verb::get, "/api/v1/recordings/" + rates, nullptr, "jane-token");
  const auto missing = call(http::verb::get, "/api/v1/recordings/00112233445566778899aabbccddeeff",
                            nullptr, "jane-token");
  EXPECT_EQ(other.result(), http::status::forbidden);
  EXPECT_EQ(other.body(), missing.body()) << "no existence leak";
  EXPECT_EQ(other.result(), missing.result());
  // Another desk's object through a recording of one's own, and export of another desk's.
  EXPECT_EQ(call(http::verb::get, "/api/v1/recordings/" + fx + "/objects/" + rates_obj, nullptr,
                 "jane-token")
                .body(),
            missing.body());
  EXPECT_EQ(call(http::verb::post, "/api/v1/recordings/" + rates + "/export", json::object(),
                 "jane-token")
                .body(),
            missing.body());
  const auto exported =
      call(http::verb::post, "/api/v1/recordings/" + fx + "/export", json::object(), "jane-token");
  ASSERT_EQ(exported.result(), http::status::ok) << exported.body();
  EXPECT_GT(exported.body().size(), 512u);
  EXPECT_EQ(call(http::verb::get, "/api/v1/recordings/" + rates, nullptr, "rita-token").result(),
            http::status::ok);
  // Tamper-evident: every access and every refusal is in the ledger with who did it.
  const auto denied = ledger("access.denied");
  ASSERT_EQ(denied.size(), 4u);
  EXPECT_EQ(denied[0]["by"], "api:jane");
  EXPECT_EQ(denied[0]["target"], rates);
  EXPECT_EQ(ledger("access.metadata").size(), 2u);
  EXPECT_EQ(ledger("access.read").front()["by"], "api:jane");
  EXPECT_EQ(ledger("access.export").front()["by"], "api:jane");
}

// Releasing a legal hold needs a second officer: the request waits, the requester cannot approve
// it, another officer with the right does, and the ledger names both.
TEST_F(RouterTest, SensitiveActionsNeedASecondPersonsApproval) {
  const auto [fx, fx_obj] = recording("FX Desk");
  ASSERT_EQ(call(http::verb::post, "/api/v1/recordings/" + fx + "/holds", {{"case", "SEC-7"}},
                 "jane-token")
                .result(),
            http::status::created);
  auto r = call(http::verb::delete_, "/api/v1/recordings/" + fx + "/holds/SEC-7",
                {{"reason", "case closed"}}, "jane-token");
  ASSERT_EQ(r.result(), http::status::accepted) << r.body();
  const std::string id = std::to_string(body(r)["approval"]["id"].get<int64_t>());
  EXPECT_EQ(archive_->recording(fx).value().active_holds.size(), 1u);
  EXPECT_EQ(call(http::verb::post, "/api/v1/approvals/" + id + "/approve", nullptr, "jane-token")
                .result(),
            http::status::forbidden);
  EXPECT_EQ(call(http::verb::post, "/api/v1/approvals/" + id + "/approve", nullptr, "audit-token")
                .result(),
            http::status::forbidden)
      << "an auditor has no right to release holds";
  r = call(http::verb::post, "/api/v1/approvals/" + id + "/approve", nullptr, "omar-token");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  EXPECT_TRUE(archive_->recording(fx).value().active_holds.empty());
  EXPECT_EQ(ledger("hold.released").front()["by"], "api:jane approved by api:omar");
  EXPECT_EQ(call(http::verb::post, "/api/v1/approvals/" + id + "/approve", nullptr, "omar-token")
                .result(),
            http::status::conflict);
  // Granting a role: an admin asks, a second admin approves.
  r = call(http::verb::post, "/api/v1/accounts",
           {{"name", "newbie"}, {"role", "compliance-officer"}, {"groups", "FX Desk"}});
  ASSERT_EQ(r.result(), http::status::accepted) << r.body();
  const std::string grant = std::to_string(body(r)["approval"]["id"].get<int64_t>());
  EXPECT_FALSE(svc->store()->account("newbie").value());
  ASSERT_EQ(
      call(http::verb::post, "/api/v1/approvals/" + grant + "/approve", nullptr, "second-token")
          .result(),
      http::status::ok);
  EXPECT_EQ(svc->store()->account("newbie").value()->role, policy::Role::kComplianceOfficer);
}

// Creating and revoking tokens is in the security log; over the API a token is made only for
// one's own account (an admin cannot mint an officer's token to read recordings).
TEST_F(RouterTest, TokensAreAuditedAndOnlyOnesOwn) {
  auto r = call(http::verb::post, "/api/v1/tokens", json::object(), "jane-token");
  ASSERT_EQ(r.result(), http::status::created) << r.body();
  const std::string fresh = body(r)["token"];
  const std::string id = body(r)["id"];
  EXPECT_EQ(body(r)["account"], "jane");
  const auto [fx, obj] = recording("FX Desk");
  EXPECT_EQ(call(http::verb::get, "/api/v1/recordings/" + fx, nullptr, fresh).result(),
            http::status::ok);
  EXPECT_EQ(call(http::verb::delete_, "/api/v1/tokens/" + id, nullptr, "rita-token").result(),
            http::status::forbidden);
  EXPECT_EQ(call(http::verb::delete_, "/api/v1/tokens/" + id, nullptr, "jane-token").result(),
            http::status::ok);
  EXPECT_EQ(call(http::verb::get, "/api/v1/recordings/" + fx, nullptr, fresh).result(),
            http::status::unauthorized);
  r = call(http::verb::get, "/api/v1/security-log", nullptr, "audit-token");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  std::vector<std::string> actions;
  const json log = body(r);
  for (const auto& e : log["events"]) actions.push_back(e["action"]);
  EXPECT_NE(std::find(actions.begin(), actions.end(), "token.created"), actions.end()) << r.body();
  EXPECT_NE(std::find(actions.begin(), actions.end(), "token.revoked"), actions.end());
}

// Import-VbDirectory over REST reads only from the import folder or an upload, never any file
// the server can read.
TEST_F(RouterTest, ImportVbDirectoryOverRestReadsOnlyUploadsOrTheImportFolder) {
  auto r = call(http::verb::post, "/api/v1/cmdlets/Import-VbDirectory", {{"Path", "/etc/passwd"}});
  EXPECT_EQ(r.result(), http::status::forbidden) << r.body();
  EXPECT_NE(body(r)["error"]["message"].get<std::string>().find("import folder"),
            std::string::npos);
  r = call(http::verb::post, "/api/v1/cmdlets/Import-VbDirectory", {{"Path", "../../etc/passwd"}});
  EXPECT_EQ(r.result(), http::status::forbidden);
  r = call(http::verb::post, "/api/v1/cmdlets/Import-VbDirectory",
           {{"Content", "UserPrincipalName,DisplayName\nzoe@contoso.com,Zoe\n"}});
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  EXPECT_NE(svc->state().user_by_address("zoe@contoso.com"), nullptr);
}

// Supervisors see the call records of their groups only.
TEST_F(RouterTest, SupervisorsSeeTheirGroupsCalls) {
  EXPECT_EQ(call(http::verb::get, "/api/v1/calls", nullptr, "jane-token").result(),
            http::status::forbidden);
}

// T25 (a): deleting a recording before its retention date through the API is refused for
// everyone — an admin (no right to recordings at all) and a compliance officer (the archive's
// write-once rule) — and every attempt is in the ledger.
TEST_F(RouterTest, T25aDeleteBeforeRetentionRefusedAndAudited) {
  const auto [rec, obj] = recording("FX Desk");
  auto r = call(http::verb::delete_, "/api/v1/recordings/" + rec);
  EXPECT_EQ(r.result(), http::status::forbidden);
  r = call(http::verb::delete_, "/api/v1/recordings/" + rec, nullptr, "jane-token");
  EXPECT_EQ(r.result(), http::status::conflict) << r.body();
  EXPECT_NE(body(r)["error"]["message"].get<std::string>().find("retained until"),
            std::string::npos);
  EXPECT_EQ(ledger("access.denied").front()["by"], "api:tester");
  ASSERT_EQ(ledger("disposal.refused").size(), 1u);
  EXPECT_EQ(ledger("disposal.refused").front()["by"], "api:jane");
  EXPECT_TRUE(archive_->read_object(obj, "check"));  // still there
}

// A player seeks in a participant's audio: GET /recordings/{id}/media lists the playback files,
// /media/{participant} serves one by SIPREC id, address or name, with range requests that give
// exactly those bytes (206), 416 past the end, and the whole file when If-Range no longer fits;
// GET /recordings/{id} gathers participants, media, talk and transcript state in one answer.
TEST_F(RouterTest, PlayersSeekInAParticipantsAudioWithRangeRequests) {
  const auto [rec, media] = recording("FX Desk");
  const auto waiting =
      call(http::verb::get, "/api/v1/recordings/" + rec + "/media/p1", nullptr, "jane-token");
  EXPECT_EQ(waiting.result(), http::status::not_found);
  EXPECT_NE(waiting.body().find("not made yet"), std::string::npos) << waiting.body();
  // The playback job's output: a derived object and the "playback" metadata.
  std::string audio;
  for (int i = 0; i < 3000; ++i) audio += static_cast<char>(i * 7 % 251);
  auto obj = archive_->begin_derived_object(rec, "playback");
  ASSERT_TRUE(obj) << obj.error().message;
  ASSERT_TRUE(obj.value()->writer().write(
      std::span(reinterpret_cast<const uint8_t*>(audio.data()), audio.size())));
  ASSERT_TRUE(archive_->seal(*obj.value()));
  const std::string oid = obj.value()->id();
  json meta = archive_->recording(rec).value().metadata;
  meta["participants"] = {{{"id", "p1"}, {"aor", "sip:ava@fx.example"}, {"name", "Ava"}},
                          {{"id", "p2"}, {"aor", "tel:+15550100"}}};
  meta["playback"] = {{"files",
                       {{{"object", oid},
                         {"name", "Ava <sip:ava@fx.example>"},
                         {"participants", {"p1"}},
                         {"aors", {"sip:ava@fx.example"}},
                         {"durationSeconds", 1.5},
                         {"bytes", audio.size()}}}}};
  meta["transcripts"] = {{"files", {{{"participants", {"p1"}}, {"talkRatio", 0.7}}}}};
  ASSERT_TRUE(archive_->update_metadata(rec, meta, "test", "playback"));

  auto list = call(http::verb::get, "/api/v1/recordings/" + rec + "/media", nullptr, "jane-token");
  ASSERT_EQ(list.result(), http::status::ok) << list.body();
  ASSERT_EQ(body(list)["files"].size(), 1u);
  EXPECT_EQ(body(list)["files"][0]["url"], "/api/v1/recordings/" + rec + "/media/p1");
  for (const char* who :
       {"p1", "sip%3Aava%40fx.example", "ava@fx.example", "AVA%20%3Csip%3Aava%40fx.example%3E"}) {
    auto whole =
        call(http::verb::get, "/api/v1/recordings/" + rec + "/media/" + who, nullptr, "jane-token");
    ASSERT_EQ(whole.result(), http::status::ok) << who << " " << whole.body();
    EXPECT_EQ(whole.body(), audio);
    EXPECT_EQ(whole[http::field::accept_ranges], "bytes");
    EXPECT_EQ(whole[http::field::content_type], "audio/ogg; codecs=opus");
  }
  const std::string url = "/api/v1/recordings/" + rec + "/media/p1";
  auto part =
      call(http::verb::get, url, nullptr, "jane-token", {{http::field::range, "bytes=1000-1999"}});
  ASSERT_EQ(part.result(), http::status::partial_content);
  EXPECT_EQ(part.body(), audio.substr(1000, 1000));  // across the archive's chunks
  EXPECT_EQ(part[http::field::content_range], "bytes 1000-1999/3000");
  const std::string etag(part[http::field::etag]);
  part = call(http::verb::get, url, nullptr, "jane-token", {{http::field::range, "bytes=-7"}});
  ASSERT_EQ(part.result(), http::status::partial_content);
  EXPECT_EQ(part.body(), audio.substr(2993));
  part = call(http::verb::get, url, nullptr, "jane-token",
              {{http::field::range, "bytes=2990-"}, {http::field::if_range, etag}});
  EXPECT_EQ(part.result(), http::status::partial_content);
  part = call(http::verb::get, url, nullptr, "jane-token",
              {{http::field::range, "bytes=2990-"}, {http::field::if_range, "\"other\""}});
  EXPECT_EQ(part.result(), http::status::ok);
  EXPECT_EQ(part.body().size(), audio.size());
  part = call(http::verb::get, url, nullptr, "jane-token", {{http::field::range, "bytes=3000-"}});
  EXPECT_EQ(part.result(), http::status::range_not_satisfiable);
  EXPECT_EQ(part[http::field::content_range], "bytes */3000");
  auto nobody =
      call(http::verb::get, "/api/v1/recordings/" + rec + "/media/mallory", nullptr, "jane-token");
  EXPECT_EQ(nobody.result(), http::status::not_found);
  EXPECT_NE(nobody.body().find("mallory"), std::string::npos);
  // Another desk's officer: the same 403 as for anything that does not exist.
  EXPECT_EQ(call(http::verb::get, url, nullptr, "rita-token").result(), http::status::forbidden);
  // The same ranges on the object route; the raw evidence object is sealed too.
  part = call(http::verb::get, "/api/v1/recordings/" + rec + "/objects/" + media, nullptr,
              "jane-token", {{http::field::range, "bytes=4-6"}});
  ASSERT_EQ(part.result(), http::status::partial_content);
  EXPECT_EQ(part.body(), "cal");

  // One interaction in one answer.
  auto view = call(http::verb::get, "/api/v1/recordings/" + rec, nullptr, "jane-token");
  ASSERT_EQ(view.result(), http::status::ok) << view.body();
  const json v = body(view);
  ASSERT_EQ(v["participants"].size(), 2u);
  EXPECT_EQ(v["participants"][0]["media"], url);
  EXPECT_EQ(v["participants"][0]["talkRatio"], 0.7);
  EXPECT_FALSE(v["participants"][1].contains("media"));
  EXPECT_TRUE(v["transcript"].is_null());
  EXPECT_TRUE(v["related"].is_array());
  EXPECT_EQ(v["objects"].size(), 2u);
  // Every play is an access in the ledger, with who.
  EXPECT_GE(ledger("access.read").size(), 8u);
  EXPECT_EQ(ledger("access.read").back()["by"], "api:jane");
}

}  // namespace
}  // namespace verbatim::adminapi

namespace verbatim::adminapi {
namespace {

TEST(PortalSessions, EndWhenIdleOrOldAndLockANameAfterFiveFailures) {
  using namespace std::chrono_literals;
  SessionStore store({.idle = 60s, .absolute = 300s, .reauth = 30s});
  const auto t0 = SessionStore::Clock::time_point{} + 1000h;
  auto c = store.create("jane", "", t0);
  EXPECT_EQ(c.secret.size(), 64u);
  EXPECT_NE(c.session.csrf, c.secret);
  ASSERT_TRUE(store.find(c.secret, t0 + 59s));  // used: the idle time starts again
  EXPECT_TRUE(store.recently_authenticated(*store.find(c.secret, t0 + 60s), t0 + 30s));
  EXPECT_FALSE(store.recently_authenticated(*store.find(c.secret, t0 + 90s), t0 + 31s));
  EXPECT_TRUE(store.reauthenticated(c.secret, t0 + 100s));
  EXPECT_TRUE(store.recently_authenticated(*store.find(c.secret, t0 + 120s), t0 + 120s));
  for (auto t = t0 + 150s; t < t0 + 300s; t += 50s) ASSERT_TRUE(store.find(c.secret, t));
  EXPECT_FALSE(store.find(c.secret, t0 + 301s));  // absolute: however busy
  EXPECT_EQ(store.size(), 0u);
  auto d = store.create("jane", "", t0);
  EXPECT_FALSE(store.find(d.secret, t0 + 61s));  // idle
  EXPECT_FALSE(store.find("", t0));
  EXPECT_FALSE(store.find(c.secret + "0", t0));
  // Sign out everywhere; at most kMaxSessionsPerAccount each, the oldest ending first.
  std::vector<std::string> secrets;
  for (size_t i = 0; i < SessionStore::kMaxSessionsPerAccount + 2; ++i) {
    secrets.push_back(store.create("omar", "", t0 + std::chrono::seconds(i)).secret);
  }
  EXPECT_FALSE(store.find(secrets[0], t0 + 30s));
  EXPECT_FALSE(store.find(secrets[1], t0 + 30s));
  EXPECT_TRUE(store.find(secrets.back(), t0 + 30s));
  EXPECT_EQ(store.remove_account("omar"), SessionStore::kMaxSessionsPerAccount);

  for (int i = 1; i < SessionStore::kMaxFailures; ++i) EXPECT_FALSE(store.failed("kim", t0));
  EXPECT_FALSE(store.locked("kim", t0));
  EXPECT_TRUE(store.failed("kim", t0 + 1s));
  EXPECT_TRUE(store.locked("kim", t0 + 2s));
  EXPECT_FALSE(store.locked("kim", t0 + 1s + SessionStore::kLockout));
  EXPECT_FALSE(store.locked("other", t0 + 2s));
  // Failures further apart than the window never add up.
  for (int i = 0; i < 2 * SessionStore::kMaxFailures; ++i) {
    EXPECT_FALSE(store.failed("spread", t0 + i * (SessionStore::kFailureWindow / 2 + 1s)));
  }
}

TEST(PortalSessions, CookieValueAndSensitiveRequests) {
  EXPECT_EQ(cookie_value("a=1; __Host-vb_session=abc ; b=2", kSessionCookie), "abc");
  EXPECT_EQ(cookie_value("x__Host-vb_session=abc", kSessionCookie), "");
  EXPECT_EQ(cookie_value("", kSessionCookie), "");
  auto req = [](http::verb m) { return Request{m, "/", 11}; };
  EXPECT_TRUE(sensitive(req(http::verb::post), "/api/v1/recordings/abc/export"));
  EXPECT_TRUE(sensitive(req(http::verb::delete_), "/api/v1/recordings/abc/holds/C-1"));
  EXPECT_TRUE(sensitive(req(http::verb::post), "/api/v1/approvals/3/approve"));
  EXPECT_TRUE(sensitive(req(http::verb::post), "/api/v1/accounts"));
  EXPECT_TRUE(sensitive(req(http::verb::post), "/api/v1/tokens"));
  EXPECT_FALSE(sensitive(req(http::verb::get), "/api/v1/recordings/abc/export"));
  EXPECT_FALSE(sensitive(req(http::verb::post), "/api/v1/recordings/abc/holds"));
  EXPECT_FALSE(sensitive(req(http::verb::post), "/api/v1/saved-searches"));
}

class PortalRouterTest : public RouterTest {
 protected:
  void password(const std::string& name, const std::string& pw) {
    std::lock_guard lock(svc->mutex());
    auto a = svc->store()->account(name);
    ASSERT_TRUE(a && a.value());
    policy::Account acct = *a.value();
    acct.password_hash = policy::hash_password(pw).value();
    ASSERT_TRUE(svc->store()->put_account(acct));
  }
  // Signs in; returns the cookie header and the CSRF token ("" when refused).
  std::pair<std::string, std::string> sign_in(const json& body, Response* out = nullptr) {
    Response r = call(http::verb::post, "/api/v1/session", body, "");
    if (out) *out = r;
    if (r.result() != http::status::created) return {};
    const std::string set = std::string(r[http::field::set_cookie]);
    return {set.substr(0, set.find(';')), body_of(r)["csrfToken"]};
  }
  static json body_of(const Response& r) { return json::parse(r.body()); }
  Response as(const std::pair<std::string, std::string>& s, http::verb m, const std::string& target,
              const json& body = nullptr, bool csrf = true, const std::string& origin = "") {
    std::vector<std::pair<http::field, std::string>> h{{http::field::cookie, s.first},
                                                       {http::field::host, "portal.test"}};
    if (!origin.empty()) h.emplace_back(http::field::origin, origin);
    Request req{m, target, 11};
    for (const auto& [f, v] : h) req.set(f, v);
    if (csrf) req.set("X-CSRF-Token", s.second);
    if (!body.is_null()) req.body() = body.dump();
    req.prepare_payload();
    return router->handle(req);
  }
};

TEST_F(PortalRouterTest, SignInWithAPasswordThenActWithTheCookieAndTheCsrfToken) {
  password("jane", "jane's passphrase");
  auto [rec, obj] = recording("FX Desk");
  auto [other, other_obj] = recording("Rates");
  Response r;
  EXPECT_EQ(sign_in({{"name", "jane"}, {"password", "wrong"}}, &r).first, "");
  EXPECT_EQ(r.result(), http::status::unauthorized);
  EXPECT_EQ(body_of(r)["error"]["errorId"], "Unauthenticated");
  EXPECT_EQ(sign_in({{"name", "nobody"}, {"password", "wrong"}}, &r).first, "");
  EXPECT_EQ(body_of(r)["error"]["message"], "wrong account name or password");  // no hint which
  EXPECT_EQ(sign_in({{"name", "omar"}, {"password", ""}}, &r).first,
            "");  // tokens only: no password
  auto s = sign_in({{"name", "jane"}, {"password", "jane's passphrase"}}, &r);
  ASSERT_FALSE(s.first.empty()) << r.body();
  EXPECT_EQ(s.first.rfind("__Host-vb_session=", 0), 0u);
  EXPECT_NE(
      std::string(r[http::field::set_cookie]).find("; Path=/; Secure; HttpOnly; SameSite=Strict"),
      std::string::npos);
  EXPECT_EQ(body_of(r)["account"]["name"], "jane");
  EXPECT_EQ(body_of(r)["rights"], json({"recordings-read", "recordings-hold", "ledger-read"}));

  // Reading: the cookie is enough; the scope is the account's, as with a token.
  EXPECT_EQ(as(s, http::verb::get, "/api/v1/recordings/" + rec, nullptr, false).result(),
            http::status::ok);
  EXPECT_EQ(as(s, http::verb::get, "/api/v1/recordings/" + other, nullptr, false).result(),
            http::status::forbidden);
  EXPECT_EQ(ledger("access.denied").back()["by"], "api:jane");
  // Changing: the CSRF token too, and from this origin only.
  const json hold = {{"case", "C-7"}};
  r = as(s, http::verb::post, "/api/v1/recordings/" + rec + "/holds", hold, false);
  EXPECT_EQ(r.result(), http::status::forbidden);
  EXPECT_EQ(body_of(r)["error"]["errorId"], "CsrfFailed");
  r = as(s, http::verb::post, "/api/v1/recordings/" + rec + "/holds", hold, true,
         "https://evil.example");
  EXPECT_EQ(body_of(r)["error"]["errorId"], "CsrfFailed");
  r = as(s, http::verb::post, "/api/v1/recordings/" + rec + "/holds", hold, true,
         "https://portal.test");
  EXPECT_LT(r.result_int(), 300) << r.body();
  EXPECT_EQ(ledger("hold.set").back()["by"], "api:jane");
  // Who am I; reauthentication (a wrong password counts as a failure); sign-out ends it.
  EXPECT_EQ(body_of(as(s, http::verb::get, "/api/v1/session"))["csrfToken"], s.second);
  EXPECT_EQ(as(s, http::verb::post, "/api/v1/session/reauth", {{"password", "nope"}}).result(),
            http::status::unauthorized);
  EXPECT_EQ(as(s, http::verb::post, "/api/v1/session/reauth", {{"password", "jane's passphrase"}})
                .result(),
            http::status::ok);
  EXPECT_EQ(as(s, http::verb::delete_, "/api/v1/session", nullptr, false).result(),
            http::status::forbidden);
  EXPECT_EQ(as(s, http::verb::delete_, "/api/v1/session").result(), http::status::ok);
  r = as(s, http::verb::get, "/api/v1/recordings/" + rec, nullptr, false);
  EXPECT_EQ(r.result(), http::status::unauthorized);
  EXPECT_EQ(body_of(r)["error"]["errorId"], "SessionExpired");

  // Five wrong passwords lock the name: then even the right one is refused, the same way.
  for (int i = 0; i < SessionStore::kMaxFailures; ++i)
    sign_in({{"name", "jane"}, {"password", "x"}});
  EXPECT_EQ(sign_in({{"name", "jane"}, {"password", "jane's passphrase"}}, &r).first, "");
  EXPECT_EQ(body_of(r)["error"]["message"], "wrong account name or password");
  std::vector<std::string> actions;
  const json log = body(call(http::verb::get, "/api/v1/security-log", nullptr, "audit-token"));
  for (const auto& e : log["events"]) {
    actions.push_back(e["action"]);
  }
  for (const char* a : {"session.failed", "session.created", "session.reauthenticated",
                        "session.ended", "session.locked", "session.refused"}) {
    EXPECT_NE(std::find(actions.begin(), actions.end(), a), actions.end()) << a;
  }
}

TEST_F(PortalRouterTest, SensitiveActionsNeedThePasswordAgainAndCosignedRolesASecondPerson) {
  password("jane", "jane's passphrase");
  password("omar", "omar's passphrase");
  password("tester", "tester's passphrase");
  RouterOptions ro;
  ro.archive = [this](const std::function<Status(archive::Archive&)>& use) {
    return use(*archive_);
  };
  ro.work_dir = (dir / "tmp").string();
  ro.session_limits.reauth = std::chrono::seconds(0);  // every sensitive action asks again
  ro.cosign_roles = {policy::Role::kComplianceOfficer};
  router = std::make_unique<Router>(*svc, ro);
  auto [rec, obj] = recording("FX Desk");

  Response r;
  sign_in({{"name", "jane"}, {"password", "jane's passphrase"}}, &r);
  EXPECT_EQ(r.result(), http::status::unauthorized);
  EXPECT_EQ(body_of(r)["error"]["errorId"], "CosignRequired");
  for (const json& co : {json{{"name", "jane"}, {"password", "jane's passphrase"}},
                         json{{"name", "omar"}, {"password", "wrong"}},
                         json{{"name", "tester"}, {"password", "tester's passphrase"}}}) {
    sign_in({{"name", "jane"}, {"password", "jane's passphrase"}, {"cosigner", co}}, &r);
    EXPECT_EQ(body_of(r)["error"]["errorId"], "CosignRequired") << co;
  }
  auto s = sign_in({{"name", "jane"},
                    {"password", "jane's passphrase"},
                    {"cosigner", {{"name", "omar"}, {"password", "omar's passphrase"}}}},
                   &r);
  ASSERT_FALSE(s.first.empty()) << r.body();
  EXPECT_EQ(body_of(r)["cosigner"], "omar");
  r = as(s, http::verb::post, "/api/v1/recordings/" + rec + "/export");
  EXPECT_EQ(r.result(), http::status::unauthorized);
  EXPECT_EQ(body_of(r)["error"]["errorId"], "ReauthRequired");
  EXPECT_TRUE(ledger("access.export").empty());
  // Not sensitive: no password asked.
  EXPECT_EQ(as(s, http::verb::post, "/api/v1/recordings/" + rec + "/holds", {{"case", "C-1"}})
                    .result_int() /
                100,
            2);
  // An admin's role is not co-signed here.
  EXPECT_FALSE(sign_in({{"name", "tester"}, {"password", "tester's passphrase"}}).first.empty());
}

}  // namespace
}  // namespace verbatim::adminapi

namespace verbatim::adminapi {
namespace {

TEST_F(RouterTest, CasesHoldTheirRecordingsReleaseWithASecondOfficerAndExportAPackage) {
  auto [fx1, o1] = recording("FX Desk");
  auto [fx2, o2] = recording("FX Desk");
  auto [rates, o3] = recording("Rates");
  auto post = [&](const std::string& target, const json& b, const std::string& token) {
    return call(http::verb::post, target, b, token);
  };
  // A case: the query (the FX Desk's recordings, by policy) and one member by hand.
  Response r = post("/api/v1/cases",
                    {{"name", "CASE-7"},
                     {"description", "front running"},
                     {"query", {{"policy", "Traders"}}},
                     {"members", {fx1}}},
                    "jane-token");
  ASSERT_EQ(r.result(), http::status::created) << r.body();
  EXPECT_EQ(post("/api/v1/cases", {{"name", "CASE-7"}}, "jane-token").result(),
            http::status::conflict);
  EXPECT_EQ(post("/api/v1/cases", {{"name", "bad name"}}, "jane-token").result(),
            http::status::bad_request);
  EXPECT_EQ(post("/api/v1/cases", {{"name", "C-8"}, {"query", {{"colour", "red"}}}}, "jane-token")
                .result(),
            http::status::bad_request);
  // Out of scope as a member: refused like a missing recording.
  EXPECT_EQ(post("/api/v1/cases", {{"name", "C-9"}, {"members", {rates}}}, "jane-token").result(),
            http::status::forbidden);
  r = call(http::verb::get, "/api/v1/cases/CASE-7", nullptr, "jane-token");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  std::set<std::string> listed;
  const json view = body(r);
  for (const auto& x : view["recordings"]) listed.insert(x["id"]);
  EXPECT_EQ(listed, (std::set<std::string>{fx1, fx2}));  // Rates' is out of jane's scope
  // Nobody else sees it, not even another officer of the desk: the same 403 as no case.
  EXPECT_EQ(call(http::verb::get, "/api/v1/cases/CASE-7", nullptr, "omar-token").result(),
            http::status::forbidden);
  EXPECT_EQ(call(http::verb::get, "/api/v1/cases/NOPE", nullptr, "jane-token").result(),
            http::status::forbidden);
  EXPECT_TRUE(body(call(http::verb::get, "/api/v1/cases", nullptr, "omar-token"))["cases"].empty());
  EXPECT_EQ(call(http::verb::get, "/api/v1/cases", nullptr, "secret-token").result(),
            http::status::forbidden);  // admins have no recordings

  // The hold: each recording held under the case's name; disposal refused.
  r = post("/api/v1/cases/CASE-7/hold", nullptr, "jane-token");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  EXPECT_EQ(archive_->recording(fx2).value().active_holds, std::vector<std::string>{"CASE-7"});
  EXPECT_EQ(ledger("hold.set").size(), 2u);
  EXPECT_EQ(ledger("case.held").back()["by"], "api:jane");
  // A recording added later is held at once.
  auto [fx3, o4] = recording("FX Desk");
  r = call(http::verb::patch, "/api/v1/cases/CASE-7", {{"addMembers", {fx3}}, {"access", {"omar"}}},
           "jane-token");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  EXPECT_EQ(archive_->recording(fx3).value().active_holds, std::vector<std::string>{"CASE-7"});
  // Only the owner changes the access list.
  EXPECT_EQ(
      call(http::verb::patch, "/api/v1/cases/CASE-7", {{"access", json::array()}}, "omar-token")
          .result(),
      http::status::forbidden);

  // Release: asked by jane, refused to jane herself and to rita (not on the access list),
  // carried out by omar.
  r = call(http::verb::delete_, "/api/v1/cases/CASE-7/hold", {{"reason", "closed"}}, "jane-token");
  ASSERT_EQ(r.result(), http::status::accepted) << r.body();
  const std::string approval = std::to_string(body(r)["approval"]["id"].get<int64_t>());
  EXPECT_EQ(post("/api/v1/approvals/" + approval + "/approve", nullptr, "jane-token").result(),
            http::status::forbidden);
  EXPECT_EQ(post("/api/v1/approvals/" + approval + "/approve", nullptr, "rita-token").result(),
            http::status::forbidden);
  EXPECT_FALSE(archive_->recording(fx1).value().active_holds.empty());
  r = post("/api/v1/approvals/" + approval + "/approve", nullptr, "omar-token");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  for (const auto& id : {fx1, fx2, fx3}) {
    EXPECT_TRUE(archive_->recording(id).value().active_holds.empty()) << id;
  }
  EXPECT_EQ(ledger("hold.released").size(), 3u);
  EXPECT_EQ(ledger("case.released").back()["by"], "api:jane approved by api:omar");

  // Export: a job (here run within the request) with progress, then one package that verifies.
  r = post("/api/v1/cases/CASE-7/exports", nullptr, "omar-token");
  ASSERT_EQ(r.result(), http::status::accepted) << r.body();
  const std::string job = std::to_string(body(r)["id"].get<int64_t>());
  r = call(http::verb::get, "/api/v1/cases/CASE-7/exports/" + job, nullptr, "omar-token");
  EXPECT_EQ(body(r)["state"], "done") << r.body();
  EXPECT_EQ(body(r)["done"], 3);
  r = call(http::verb::get, "/api/v1/cases/CASE-7/exports/" + job + "/package", nullptr,
           "omar-token");
  ASSERT_EQ(r.result(), http::status::ok);
  const auto tar = dir / "case.tar";
  std::ofstream(tar, std::ios::binary) << r.body();
  auto verdicts = archive::verify_package(tar.string(), archive_->ledger().public_key());
  ASSERT_TRUE(verdicts) << verdicts.error().message;
  ASSERT_EQ(verdicts.value().size(), 3u);
  for (const auto& v : verdicts.value()) EXPECT_EQ(v.verdict, "valid") << v.recording;

  // The history: every step, with who.
  r = call(http::verb::get, "/api/v1/cases/CASE-7", nullptr, "omar-token");
  std::vector<std::string> steps;
  const json after = body(r);
  for (const auto& h : after["history"]) steps.push_back(h["action"]);
  EXPECT_EQ(steps, (std::vector<std::string>{"created", "held", "updated", "release-requested",
                                             "released", "export-requested", "exported"}));
  EXPECT_EQ(body(r)["exports"][0]["state"], "done");
  EXPECT_FALSE(body(r)["exports"][0].contains("file"));
}

}  // namespace
}  // namespace verbatim::adminapi

namespace verbatim::adminapi {
namespace {

// Seals `quality` as the quality report of a new complete recording of the FX Desk.
std::string recording_with_quality(archive::Archive& a, const json& quality) {
  auto rec = a.create_recording({{"groups", {"FX Desk"}}});
  EXPECT_TRUE(rec);
  auto obj = a.begin_object(rec.value(), "quality");
  EXPECT_TRUE(obj);
  const std::string text = quality.dump();
  EXPECT_TRUE(obj.value()->writer().write(
      std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size())));
  EXPECT_TRUE(a.seal(*obj.value()));
  EXPECT_TRUE(a.complete_recording(rec.value(), "complete"));
  return rec.value();
}

// Gaps and loss as the recorder noted them, where they happened; the totals per source are then
// not repeated.
TEST_F(RouterTest, TheTimelineShowsMediaGapsAndLossWhereTheyHappened) {
  const json quality = {
      {"startedAt", "2026-12-01T09:00:00.000Z"},
      {"events",
       {{{"type", "gap"},
         {"seconds", 2.5},
         {"startedAt", "2026-12-01T09:00:04.000Z"},
         {"at", "2026-12-01T09:00:06.500Z"},
         {"label", "1"}},
        {{"type", "loss"},
         {"packets", 12},
         {"startedAt", "2026-12-01T09:00:20.000Z"},
         {"at", "2026-12-01T09:00:25.000Z"},
         {"label", "2"}},
        {{"type", "gap"},
         {"seconds", 31.0},
         {"toEnd", true},
         {"startedAt", "2026-12-01T09:00:30.000Z"},
         {"at", "2026-12-01T09:01:01.000Z"},
         {"label", "2"}}}},
      {"streams",
       {{{"label", "2"},
         {"sources",
          {{{"lost", 12}, {"lossRatio", 0.01}, {"first", "2026-12-01T09:00:00.020Z"}}}}}}}};
  const std::string id = recording_with_quality(*archive_, quality);
  Response r = call(http::verb::get, "/api/v1/recordings/" + id, nullptr, "jane-token");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  const json t = body(r)["timeline"];
  ASSERT_EQ(t.size(), 3u) << t;
  EXPECT_EQ(t[0]["label"], "no media for 2.5 s (stream 1)");
  EXPECT_DOUBLE_EQ(t[0]["atSeconds"].get<double>(), 4.0);
  EXPECT_EQ(t[1]["label"], "12 packets lost (stream 2)");
  EXPECT_DOUBLE_EQ(t[1]["atSeconds"].get<double>(), 20.0);
  EXPECT_EQ(t[2]["label"], "no media for 31.0 s, to the end (stream 2)");
}

TEST_F(RouterTest, TheRecordingsTimelineShowsHoldDtmfAndLossFromTheQualityReport) {
  const json quality = {
      {"startedAt", "2026-12-01T09:00:00.000Z"},
      {"events",
       {{{"type", "latched"}, {"at", "2026-12-01T09:00:00.020Z"}, {"label", "1"}},
        {{"type", "hold"}, {"at", "2026-12-01T09:00:12.500Z"}, {"label", "1"}},
        {{"type", "dtmf"},
         {"digit", "5"},
         {"startedAt", "2026-12-01T09:00:03.000Z"},
         {"at", "2026-12-01T09:00:03.200Z"},
         {"label", "2"}}}},
      {"streams",
       {{{"label", "1"},
         {"sources",
          {{{"lost", 7}, {"lossRatio", 0.035}, {"first", "2026-12-01T09:00:00.020Z"}}}}}}}};
  const std::string rec = recording_with_quality(*archive_, quality);
  Response r = call(http::verb::get, "/api/v1/recordings/" + rec, nullptr, "jane-token");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  const json t = body(r)["timeline"];
  ASSERT_EQ(t.size(), 3u) << t;
  EXPECT_EQ(t[0]["type"], "loss");
  EXPECT_EQ(t[0]["label"], "7 packets lost on stream 1 (3.5 %)");
  EXPECT_EQ(t[1]["label"], "DTMF 5 (stream 2)");
  EXPECT_DOUBLE_EQ(t[1]["atSeconds"].get<double>(), 3.0);
  EXPECT_EQ(t[2]["type"], "hold");
  EXPECT_DOUBLE_EQ(t[2]["atSeconds"].get<double>(), 12.5);

  // Recorder failover: the call recorded again for the same application 20 s in (another
  // application's recording of the same call is no failover).
  auto leg = [&](const std::string& app, const std::string& at) {
    auto id = archive_->create_recording({{"groups", {"FX Desk"}},
                                          {"callId", "call-7@gw"},
                                          {"application_id", app},
                                          {"startedAt", at}});
    EXPECT_TRUE(id);
    EXPECT_TRUE(archive_->complete_recording(id.value(), "partial", "recorder lost"));
    return id.value();
  };
  const std::string first = leg("app-1", "2026-12-01T10:00:00.000Z");
  const std::string second = leg("app-1", "2026-12-01T10:00:20.000Z");
  leg("app-2", "2026-12-01T10:00:00.000Z");
  auto timeline = [&](const std::string& id) {
    return body(
        call(http::verb::get, "/api/v1/recordings/" + id, nullptr, "jane-token"))["timeline"];
  };
  const json one = timeline(first);
  ASSERT_EQ(one.size(), 1u) << one;
  EXPECT_EQ(one[0]["type"], "failover");
  EXPECT_EQ(one[0]["recording"], second);
  EXPECT_DOUBLE_EQ(one[0]["atSeconds"].get<double>(), 20.0);
  const json two = timeline(second);
  ASSERT_EQ(two.size(), 1u) << two;
  EXPECT_NE(two[0]["label"].get<std::string>().find("took over from " + first.substr(0, 12)),
            std::string::npos);
  EXPECT_DOUBLE_EQ(two[0]["atSeconds"].get<double>(), 0.0);
}

}  // namespace
}  // namespace verbatim::adminapi

namespace verbatim::adminapi {
namespace {

TEST_F(RouterTest, RolesThatGiveAReasonGiveItBeforeTheContentAndItIsInTheLedger) {
  RouterOptions ro;
  ro.archive = [this](const std::function<Status(archive::Archive&)>& use) {
    return use(*archive_);
  };
  ro.reason_roles = {policy::Role::kComplianceOfficer};
  router = std::make_unique<Router>(*svc, ro);
  auto [rec, obj] = recording("FX Desk");
  const std::string content = "/api/v1/recordings/" + rec + "/objects/" + obj;
  Response r = call(http::verb::get, content, nullptr, "jane-token");
  EXPECT_EQ(r.result(), http::status::precondition_required);
  EXPECT_EQ(body(r)["error"]["errorId"], "ReasonRequired");
  EXPECT_TRUE(ledger("access.read").empty());
  // The metadata needs none.
  EXPECT_EQ(call(http::verb::get, "/api/v1/recordings/" + rec, nullptr, "jane-token").result(),
            http::status::ok);
  EXPECT_EQ(call(http::verb::post, "/api/v1/recordings/" + rec + "/reason", {{"reason", " "}},
                 "jane-token")
                .result(),
            http::status::bad_request);
  EXPECT_EQ(call(http::verb::post, "/api/v1/recordings/" + rec + "/reason",
                 {{"reason", "surveillance alert 9"}}, "jane-token")
                .result(),
            http::status::ok);
  EXPECT_EQ(call(http::verb::get, content, nullptr, "jane-token").result(), http::status::ok);
  EXPECT_EQ(call(http::verb::get, content, nullptr, "omar-token").result(),
            http::status::precondition_required);  // jane's reason is jane's
  Request req{http::verb::get, content, 11};
  req.set(http::field::authorization, "Bearer omar-token");
  req.set("X-Access-Reason", "complaint 42");
  EXPECT_EQ(router->handle(req).result(), http::status::ok);
  const auto reasons = ledger("access.reason");
  ASSERT_EQ(reasons.size(), 2u);
  EXPECT_EQ(reasons[0]["by"], "api:jane");
  EXPECT_EQ(reasons[0]["reason"], "surveillance alert 9");
  EXPECT_EQ(reasons[0]["recording"], rec);
  EXPECT_EQ(reasons[1]["by"], "api:omar");
  EXPECT_EQ(reasons[1]["reason"], "complaint 42");
  EXPECT_LT(reasons[0]["seq"], ledger("access.read").front()["seq"]);
}

// Redaction: an officer asks for a redacted version (checked, queued for the recorder's
// redaction worker, in the ledger with the reason); once made, the latest version is what plays
// by default, the original stays reachable for the roles that may play it, and a role that may
// not gets neither its audio, nor its objects, nor its words, nor an export holding it.
TEST_F(RouterTest, RedactedVersionsPlayByDefaultAndTheOriginalOnlyForTheRolesAllowed) {
  auto make_router = [&](std::vector<policy::Role> originals) {
    RouterOptions ro;
    ro.archive = [this](const std::function<Status(archive::Archive&)>& use) {
      return use(*archive_);
    };
    ro.work_dir = (dir / "tmp").string();
    ro.jobs_db = (dir / "jobs.db").string();
    ro.original_roles = std::move(originals);
    router = std::make_unique<Router>(*svc, ro);
  };
  make_router({policy::Role::kComplianceOfficer});
  const auto made = recording("FX Desk");
  const std::string rec = made.first, evidence = made.second;
  auto store = [&](const std::string& kind, const std::string& bytes) {
    auto obj = archive_->begin_derived_object(rec, kind);
    EXPECT_TRUE(obj);
    EXPECT_TRUE(obj.value()->writer().write(
        std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size())));
    EXPECT_TRUE(archive_->seal(*obj.value()));
    return obj.value()->id();
  };
  const std::string url = "/api/v1/recordings/" + rec;
  EXPECT_EQ(call(http::verb::post, url + "/redactions",
                 {{"spans", {{{"start", 1}, {"end", 2}}}}, {"reason", "card"}}, "jane-token")
                .result(),
            http::status::conflict);  // no playback files yet
  const std::string ava = store("playback", "ava original");
  const std::string bob = store("playback", "bob original");
  const std::string words =
      store("transcript", json{{"track", {{"name", "Ava"}}},
                               {"utterances",
                                {{{"start", 1.1},
                                  {"end", 2.6},
                                  {"text", "four two thanks"},
                                  {"words",
                                   {{{"word", "four"}, {"start", 1.1}, {"end", 1.4}},
                                    {{"word", "two"}, {"start", 1.5}, {"end", 1.9}},
                                    {{"word", "thanks"}, {"start", 2.2}, {"end", 2.6}}}}}}}}
                              .dump());
  json meta = archive_->recording(rec).value().metadata;
  meta["playback"] = {{"durationSeconds", 3.0},
                      {"files",
                       {{{"object", ava}, {"name", "Ava"}, {"participants", {"p1"}}},
                        {{"object", bob}, {"name", "Bob"}, {"participants", {"p2"}}}}}};
  meta["transcripts"] = {{"files", {{{"object", words}, {"participants", {"p1"}}}}}};
  ASSERT_TRUE(archive_->update_metadata(rec, meta, "test", "playback"));

  // Asking: checked, then queued and in the ledger.
  for (const json& bad :
       {json{{"spans", json::array()}, {"reason", "card"}},
        json{{"spans", {{{"start", 2}, {"end", 1}}}}, {"reason", "card"}},
        json{{"spans", {{{"start", 5}, {"end", 6}}}}, {"reason", "card"}},  // after the end
        json{{"spans", {{{"start", 1}, {"end", 2}, {"participant", "p9"}}}}, {"reason", "card"}},
        json{{"spans", {{{"start", 1}, {"end", 2}}}}, {"reason", "card"}, {"fill", "bleep"}},
        json{{"spans", {{{"start", 1}, {"end", 2}}}}, {"reason", " "}}}) {
    const auto r = call(http::verb::post, url + "/redactions", bad, "jane-token");
    EXPECT_EQ(r.result(), http::status::bad_request) << bad.dump() << " " << r.body();
  }
  EXPECT_EQ(call(http::verb::post, url + "/redactions",
                 {{"spans", {{{"start", 1}, {"end", 2}}}}, {"reason", "card"}}, "audit-token")
                .result(),
            http::status::forbidden);
  const auto asked = call(http::verb::post, url + "/redactions",
                          {{"spans", {{{"start", 1}, {"end", 2}, {"participant", "Ava"}}}},
                           {"fill", "tone"},
                           {"reason", "card number read out"}},
                          "jane-token");
  ASSERT_EQ(asked.result(), http::status::accepted) << asked.body();
  EXPECT_EQ(body(asked)["spans"][0]["participant"], "p1");  // as the file names it
  const auto logged = ledger("access.redaction");
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_EQ(logged[0]["by"], "api:jane");
  EXPECT_EQ(logged[0]["reason"], "card number read out");
  auto listed = call(http::verb::get, url + "/redactions", nullptr, "jane-token");
  ASSERT_EQ(listed.result(), http::status::ok);
  EXPECT_EQ(body(listed)["requests"][0]["state"], "pending");
  EXPECT_EQ(body(listed)["requests"][0]["fill"], "tone");
  auto queue = jobs::JobQueue::open((dir / "jobs.db").string(), clock).value();
  const auto job = queue->claim(jobs::kRedactJob).value();
  ASSERT_TRUE(job);
  EXPECT_EQ(job->recording, rec + "/" + std::to_string(body(asked)["request"].get<int64_t>()));

  // What the recorder's worker makes of it (recorder/redact_jobs.h): version 1.
  const std::string ava1 = store("playback-redacted", "ava redacted");
  meta = archive_->recording(rec).value().metadata;
  meta["redactions"] = {
      {{"version", 1},
       {"request", body(asked)["request"]},
       {"spans", {{{"start", 1}, {"end", 2}, {"participant", "p1"}}}},
       {"fill", "tone"},
       {"reason", "card number read out"},
       {"requestedBy", "api:jane"},
       {"files",
        {{{"object", ava1}, {"name", "Ava"}, {"participants", {"p1"}}, {"redactedFrom", ava}},
         meta["playback"]["files"][1]}}}};
  ASSERT_TRUE(archive_->update_metadata(rec, meta, "api:jane", "redaction version 1"));
  ASSERT_TRUE(queue->done(job->id, R"({"version":1})"));
  listed = call(http::verb::get, url + "/redactions", nullptr, "jane-token");
  EXPECT_EQ(body(listed)["requests"][0]["version"], 1);

  // An officer who may play originals: the latest version by default, the original on request.
  auto get = [&](const std::string& target, const std::string& token = "jane-token") {
    return call(http::verb::get, target, nullptr, token);
  };
  EXPECT_EQ(get(url + "/media/p1").body(), "ava redacted");
  EXPECT_EQ(get(url + "/media/p1?version=1").body(), "ava redacted");
  EXPECT_EQ(get(url + "/media/p1?version=0").body(), "ava original");
  EXPECT_EQ(get(url + "/media/p2").body(), "bob original");  // untouched: shared
  EXPECT_EQ(get(url + "/media/p1?version=2").result(), http::status::not_found);
  EXPECT_EQ(get(url + "/media/p1?version=x").result(), http::status::not_found);
  json view = body(get(url));
  EXPECT_EQ(view["version"], 1);
  ASSERT_EQ(view["versions"].size(), 2u);
  EXPECT_TRUE(view["versions"][0]["playable"]);
  EXPECT_EQ(view["versions"][1]["files"][0]["url"], url + "/media/p1?version=1");
  EXPECT_EQ(view["versions"][1]["files"][0]["redacted"], true);
  EXPECT_EQ(view["transcript"]["utterances"][0]["text"], "four two thanks");

  // A role that plays redacted versions only.
  make_router({});
  EXPECT_EQ(get(url + "/media/p1").body(), "ava redacted");
  const auto refused = get(url + "/media/p1?version=0");
  EXPECT_EQ(refused.result(), http::status::forbidden);
  EXPECT_EQ(body(refused)["error"]["errorId"], "RedactedOnly");
  EXPECT_EQ(get(url + "/objects/" + ava).result(), http::status::forbidden);
  EXPECT_EQ(get(url + "/objects/" + evidence).result(), http::status::forbidden);
  EXPECT_EQ(get(url + "/objects/" + ava1).body(), "ava redacted");
  EXPECT_EQ(get(url + "/objects/" + bob).body(), "bob original");
  view = body(get(url));
  EXPECT_FALSE(view["versions"][0]["playable"]);
  EXPECT_TRUE(view["versions"][0]["files"].empty());
  for (const auto& o : view["objects"]) {
    EXPECT_NE(o["id"], ava);
    EXPECT_NE(o["id"], evidence);
  }
  EXPECT_EQ(view["transcript"]["utterances"][0]["text"], "[redacted] [redacted] thanks");
  EXPECT_EQ(body(get(url + "/transcript"))["utterances"][0]["words"][0]["word"], "[redacted]");
  EXPECT_EQ(call(http::verb::post, url + "/export", json::object(), "jane-token").result(),
            http::status::forbidden);
  EXPECT_FALSE(ledger("access.denied").empty());
  // A recording with no redaction is whole for everyone.
  auto [plain, plain_obj] = recording("FX Desk");
  EXPECT_EQ(get("/api/v1/recordings/" + plain + "/objects/" + plain_obj).result(),
            http::status::ok);
}

// Live monitoring: the calls being recorded now, within the caller's scope, for officers and
// supervisors; listening (the WebSocket's feed) only for them, never cross-origin, only while the
// call goes on, and each listen's start and end in the ledger.
TEST_F(RouterTest, LiveCallsAndListeningWithinScopeAndInTheLedger) {
  RouterOptions ro;
  ro.archive = [this](const std::function<Status(archive::Archive&)>& use) {
    return use(*archive_);
  };
  ro.open_archive = [this]() -> Result<std::unique_ptr<archive::Archive>> {
    archive::ArchiveOptions ao;
    ao.root = (dir / "archive").string();
    ao.shared = true;
    return archive::Archive::open(ao, clock, "live");
  };
  router = std::make_unique<Router>(*svc, ro);
  const std::string ended = recording("FX Desk").first;
  auto named =
      call(http::verb::post, "/api/v1/script",
           {{"script",
             "New-CsOnlineApplicationInstance -UserPrincipalName rec@contoso.com "
             "-DisplayName 'FX Recorder' -ApplicationId 0f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"}});
  ASSERT_EQ(named.result(), http::status::ok) << named.body();
  auto rec = archive_->create_recording(
      {{"groups", {"FX Desk"}},
       {"policy", "Traders"},
       {"application_id", "0f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"},
       {"participants", {{{"id", "p1"}, {"aor", "sip:ava@fx.example"}, {"name", "Ava"}}}},
       {"media", {{{"label", "1"}, {"port", 7400}, {"payloads", {{"0", "PCMU/8000"}}}}}}});
  ASSERT_TRUE(rec);
  auto evidence = archive_->begin_object(rec.value(), "evidence-pcap");
  ASSERT_TRUE(evidence);
  auto pcap = media::pcap_file_header();
  const auto from = media::UdpEndpoint::parse("127.0.0.1", 40000).value();
  const auto to = media::UdpEndpoint::parse("127.0.0.1", 7400).value();
  const auto now = std::chrono::system_clock::now();
  std::vector<uint8_t> payload(160, 0x00);  // loud µ-law
  for (int i = 0; i < 50; ++i) {
    std::vector<uint8_t> rtp = {0x80, 0, 0, static_cast<uint8_t>(i), 0, 0, 0, 0, 0, 0, 0, 1};
    rtp.insert(rtp.end(), payload.begin(), payload.end());
    ASSERT_TRUE(
        media::append_pcap_udp(pcap, now + std::chrono::milliseconds(20 * i), from, to, rtp));
  }
  ASSERT_TRUE(evidence.value()->writer().write(pcap));
  ASSERT_TRUE(evidence.value()->writer().flush());

  auto listed = call(http::verb::get, "/api/v1/live", nullptr, "jane-token");
  ASSERT_EQ(listed.result(), http::status::ok) << listed.body();
  ASSERT_EQ(body(listed)["count"], 1);
  EXPECT_EQ(body(listed)["calls"][0]["id"], rec.value());
  EXPECT_EQ(body(listed)["calls"][0]["listen"], "/api/v1/live/" + rec.value() + "/listen");
  EXPECT_EQ(body(listed)["calls"][0]["recorders"],
            json::parse(R"([{"application": "0f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b",
                             "name": "FX Recorder"}])"));
  EXPECT_EQ(body(call(http::verb::get, "/api/v1/live", nullptr, "sam-token"))["count"], 1);
  EXPECT_EQ(body(call(http::verb::get, "/api/v1/live", nullptr, "rita-token"))["count"], 0);
  EXPECT_EQ(call(http::verb::get, "/api/v1/live", nullptr, "audit-token").result(),
            http::status::forbidden);
  EXPECT_EQ(call(http::verb::get, "/api/v1/live/" + rec.value() + "/listen", nullptr, "jane-token")
                .result(),
            http::status::upgrade_required);

  auto open = [&](const std::string& id, const std::string& token,
                  const std::string& origin = "https://portal.example") {
    Request req{http::verb::get, "/api/v1/live/" + id + "/listen", 11};
    req.set(http::field::host, "portal.example");
    req.set(http::field::origin, origin);
    req.set(http::field::upgrade, "websocket");
    req.set(http::field::connection, "Upgrade");
    req.set(http::field::authorization, "Bearer " + token);
    return router->live_open(req, "127.0.0.1");
  };
  auto refused = [&](auto&& opened) {
    auto* r = std::get_if<Response>(&opened);
    return r ? r->result() : http::status::ok;
  };
  EXPECT_EQ(refused(open(rec.value(), "jane-token", "https://evil.example")),
            http::status::forbidden);
  EXPECT_EQ(refused(open(rec.value(), "rita-token")), http::status::forbidden);
  EXPECT_EQ(refused(open(rec.value(), "audit-token")), http::status::forbidden);
  EXPECT_EQ(refused(open(std::string(32, '0'), "jane-token")), http::status::forbidden);
  EXPECT_EQ(refused(open(ended, "jane-token")), http::status::conflict);
  EXPECT_EQ(ledger("access.denied").size(), 3u);
  {
    auto opened = open(rec.value(), "sam-token");
    auto* feed = std::get_if<std::unique_ptr<LiveFeed>>(&opened);
    ASSERT_TRUE(feed) << std::get<Response>(opened).body();
    EXPECT_EQ((*feed)->header()["participants"][0]["name"], "Ava");
    EXPECT_EQ((*feed)->header()["codec"], "opus");
    // Once each 20 ms is kDelay old it goes out: all 50 packets' audio, and silence after.
    auto due = (*feed)->poll(now + std::chrono::seconds(3));
    ASSERT_TRUE(due) << due.error().message;
    ASSERT_GE(due.value().size(), 50u);
    double first_ms = 0;
    std::memcpy(&first_ms, due.value()[0].data(), 8);
    EXPECT_NEAR(
        first_ms,
        double(
            std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count()),
        20.0);
    EXPECT_FALSE((*feed)->ended());
  }
  ASSERT_TRUE(archive_->ledger().sync());  // what the feed's own view of the archive appended
  const auto listens = ledger("access.listen");
  ASSERT_EQ(listens.size(), 2u);
  EXPECT_EQ(listens[0]["by"], "api:sam");
  EXPECT_EQ(listens[0]["event"], "start");
  EXPECT_EQ(listens[1]["event"], "end");
  EXPECT_EQ(listens[1]["recording"], rec.value());
}

// Call control: the request goes to the gateway through the call control table and its answer
// comes back; calls out of scope are refused like missing ones; every step is in the ledger.
// (The gateway's side is tested in gateway_calls_test.cc and, end to end, in test_portal.py.)
TEST_F(RouterTest, CallControlAsksTheGatewayWithinScopeAndLogsTheReason) {
  RouterOptions ro;
  ro.archive = [this](const std::function<Status(archive::Archive&)>& use) {
    return use(*archive_);
  };
  ro.data_dir = (dir / "data").string();
  std::filesystem::create_directories(ro.data_dir);
  router = std::make_unique<Router>(*svc, ro);
  const DataPaths paths(ro.data_dir);
  const std::string url = "/api/v1/live/calls/" + url_encode("c1@pstn") + "/pause";
  const json reason = {{"reason", "card payment"}};
  // No gateway running: said so.
  EXPECT_EQ(call(http::verb::post, url, reason, "jane-token").result(),
            http::status::service_unavailable);
  const json status = {
      {"calls", 2},
      {"activeCalls",
       {{{"callId", "c1@pstn"},
         {"state", "connected"},
         {"caller", {{"aor", "tel:+14255550199"}}},
         {"callee",
          {{"aor", "sip:ava@fx.example"}, {"user", "ava@fx.example"}, {"groups", {"FX Desk"}}}},
         {"recordings", {{{"party", "sip:ava@fx.example"}, {"policy", "Traders"}}}}},
        {{"callId", "c2@pstn"},
         {"state", "connected"},
         {"caller", {{"aor", "tel:+14255550198"}}},
         {"callee", {{"aor", "sip:rob@rates.example"}, {"groups", {"Rates"}}}},
         {"recordings", json::array()}}}}};
  std::ofstream(paths.gateway_status()) << status.dump();
  auto listed = body(call(http::verb::get, "/api/v1/live", nullptr, "jane-token"));
  ASSERT_EQ(listed["gatewayCalls"].size(), 1u) << listed.dump();
  EXPECT_EQ(listed["gatewayCalls"][0]["callId"], "c1@pstn");
  EXPECT_FALSE(listed["gatewayCalls"][0]["callee"].contains("groups"));
  // What the API asks is checked before anything goes to the gateway.
  EXPECT_EQ(call(http::verb::post, url, json::object(), "jane-token").result(),
            http::status::bad_request);
  EXPECT_EQ(
      call(http::verb::post, url, {{"reason", "x"}, {"party", "both"}}, "jane-token").result(),
      http::status::bad_request);
  EXPECT_EQ(
      call(http::verb::post, "/api/v1/live/calls/c1%40pstn/explode", reason, "jane-token").result(),
      http::status::not_found);
  EXPECT_EQ(call(http::verb::post, url, reason, "audit-token").result(), http::status::forbidden);
  // Out of scope and missing: the same 403, both in the ledger.
  EXPECT_EQ(
      call(http::verb::post, "/api/v1/live/calls/c2%40pstn/pause", reason, "jane-token").result(),
      http::status::forbidden);
  EXPECT_EQ(call(http::verb::post, "/api/v1/live/calls/nope/pause", reason, "jane-token").result(),
            http::status::forbidden);
  EXPECT_EQ(ledger("access.denied").size(), 2u);
  // The gateway: takes what is pending, answers it (a pause it did; a stop it refuses).
  std::atomic<bool> stop{false};
  std::thread gateway([&] {
    auto control = CallControl::open(paths.call_control_db()).value();
    while (!stop) {
      const auto pending = control->pending().value();
      for (const auto& r : pending) {
        if (!control->take(r.id).value()) continue;
        const bool done = r.action == "pause";
        (void)control->answer(r.id, done, done ? "paused" : "cannot be stopped, only paused");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  auto paused = call(http::verb::post, url, reason, "sam-token");
  auto refused = call(http::verb::post, "/api/v1/live/calls/c1%40pstn/stop-recording",
                      {{"reason", "done"}}, "jane-token");
  stop = true;
  gateway.join();
  ASSERT_EQ(paused.result(), http::status::ok) << paused.body();
  EXPECT_EQ(body(paused)["result"], "paused");
  EXPECT_EQ(refused.result(), http::status::conflict);
  EXPECT_NE(refused.body().find("only paused"), std::string::npos);
  auto pauses = ledger("access.pause");
  ASSERT_EQ(pauses.size(), 1u);
  EXPECT_EQ(pauses[0]["by"], "api:sam");
  EXPECT_EQ(pauses[0]["reason"], "card payment");
  EXPECT_EQ(pauses[0]["callId"], "c1@pstn");
  EXPECT_EQ(pauses[0]["done"], true);
  EXPECT_EQ(ledger("access.stop-recording").at(0)["done"], false);
}

// The missed-recording trend: the reconciler's daily counts over the days asked for, with the
// days without calls as zeros, for accounts without a scope.
TEST_F(RouterTest, MissedRecordingTrendPerDayAgainstTheTarget) {
  RouterOptions ro;
  ro.missed_db = (dir / "missed.db").string();
  router = std::make_unique<Router>(*svc, ro);
  auto empty =
      call(http::verb::get, "/api/v1/missed-recordings/trend?days=3", nullptr, "secret-token");
  ASSERT_EQ(empty.result(), http::status::ok) << empty.body();
  EXPECT_EQ(body(empty)["days"].size(), 3u);
  EXPECT_TRUE(body(empty)["recordedPercent"].is_null()) << "nothing expected yet";
  const auto today = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  const std::string d0 = format_iso8601(today).substr(0, 10);
  const std::string d1 = format_iso8601(today - std::chrono::days(1)).substr(0, 10);
  const std::string old = format_iso8601(today - std::chrono::days(40)).substr(0, 10);
  {
    auto store = reconcile::MissedStore::open(ro.missed_db).value();
    ASSERT_TRUE(store->record({}, 1, false, {{d1, 200, 1}, {old, 10, 10}}));
    ASSERT_TRUE(store->record({}, 2, false, {{d0, 100, 0}, {d1, 50, 1}}));
  }
  const json t = body(
      call(http::verb::get, "/api/v1/missed-recordings/trend?days=3", nullptr, "secret-token"));
  ASSERT_EQ(t["days"].size(), 3u) << t.dump();
  EXPECT_EQ(t["days"][0]["expected"], 0);  // two days ago: no call
  EXPECT_TRUE(t["days"][0]["recordedPercent"].is_null());
  EXPECT_EQ(t["days"][1]["day"], d1);
  EXPECT_EQ(t["days"][1]["expected"], 250);
  EXPECT_EQ(t["days"][1]["missed"], 2);
  EXPECT_DOUBLE_EQ(t["days"][1]["recordedPercent"].get<double>(), 99.2);
  EXPECT_EQ(t["days"][2]["day"], d0);
  EXPECT_DOUBLE_EQ(t["days"][2]["recordedPercent"].get<double>(), 100.0);
  EXPECT_EQ(t["expected"], 350);  // the old day is outside the three
  EXPECT_EQ(t["targetPercent"], 100);
  EXPECT_EQ(body(call(http::verb::get, "/api/v1/missed-recordings/trend", nullptr,
                      "secret-token"))["days"]
                .size(),
            30u);
  for (const char* bad : {"0", "367", "x", "-1"}) {
    EXPECT_EQ(call(http::verb::get, std::string("/api/v1/missed-recordings/trend?days=") + bad,
                   nullptr, "secret-token")
                  .result(),
              http::status::bad_request)
        << bad;
  }
  EXPECT_EQ(
      call(http::verb::get, "/api/v1/missed-recordings/trend", nullptr, "jane-token").result(),
      http::status::forbidden)
      << "scoped to a desk";
  EXPECT_EQ(
      call(http::verb::get, "/api/v1/missed-recordings/trend", nullptr, "audit-token").result(),
      http::status::forbidden);
}

// Quality and reliability per recorder application and per site, from the recorder's brief of
// each stream in the catalog; for admins and auditors, not for officers.
TEST_F(RouterTest, QualityPerRecorderAndSite) {
  RouterOptions ro;
  ro.archive = [this](const std::function<Status(archive::Archive&)>& use) {
    return use(*archive_);
  };
  router = std::make_unique<Router>(*svc, ro);
  const std::string now = format_iso8601_ms(std::chrono::system_clock::now());
  auto add = [&](const std::string& app, const std::string& region, const std::string& status,
                 const json& streams, const std::string& started) {
    auto rec = archive_->create_recording({{"application_id", app},
                                           {"region", region},
                                           {"startedAt", started},
                                           {"durationSeconds", 90},
                                           {"streams", streams}});
    ASSERT_TRUE(rec);
    ASSERT_TRUE(archive_->complete_recording(rec.value(), status));
  };
  const json good = {{{"packets", 1000}, {"lossRatio", 0.0}, {"mos", 4.4}, {"jitterMs", 2.0}},
                     {{"packets", 1000}, {"lossRatio", 0.0}, {"mos", 4.2}, {"jitterMs", 4.0}}};
  const json lossy = {{{"packets", 900}, {"lossRatio", 0.1}, {"mos", 3.1}, {"jitterMs", 30.0}}};
  add("app-1", "EUR", "complete", good, now);
  add("app-1", "USA", "partial", lossy, now);
  add("app-2", "EUR", "partial", json::array(), now);
  add("app-1", "EUR", "complete", good, "2020-01-01T00:00:00.000Z");  // long before
  (void)archive_->create_recording({{"application_id", "app-1"}, {"startedAt", now}});  // recording
  auto r = call(http::verb::get, "/api/v1/quality?days=7");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  const json q = body(r);
  EXPECT_EQ(q["recordings"], 3);
  ASSERT_EQ(q["byRecorder"].size(), 2u) << q.dump();
  const json& a1 = q["byRecorder"][0];
  EXPECT_EQ(a1["application"], "app-1");
  EXPECT_EQ(a1["recordings"], 2);
  EXPECT_EQ(a1["complete"], 1);
  EXPECT_EQ(a1["partial"], 1);
  EXPECT_DOUBLE_EQ(a1["completePercent"].get<double>(), 50.0);
  EXPECT_EQ(a1["streams"], 3);
  EXPECT_EQ(a1["packets"], 2900);
  EXPECT_NEAR(a1["lossPercent"].get<double>(), 100.0 * 100 / 3000, 0.01);  // 100 lost of 3000
  EXPECT_NEAR(a1["mos"]["average"].get<double>(), (4.4 + 4.2 + 3.1) / 3, 1e-9);
  EXPECT_DOUBLE_EQ(a1["mos"]["lowest"].get<double>(), 3.1);
  EXPECT_EQ(a1["poorStreams"], 1);
  EXPECT_NEAR(a1["jitterMs"].get<double>(), 12.0, 1e-9);
  EXPECT_EQ(q["byRecorder"][1]["application"], "app-2");
  EXPECT_EQ(q["byRecorder"][1]["partial"], 1);
  EXPECT_TRUE(q["byRecorder"][1]["mos"].is_null());
  ASSERT_EQ(q["bySite"].size(), 2u);
  EXPECT_EQ(q["bySite"][0]["region"], "EUR");
  EXPECT_EQ(q["bySite"][0]["recordings"], 2);
  EXPECT_EQ(q["bySite"][1]["region"], "USA");
  // Usage: today's three recordings that ended and the one still recording, and their minutes.
  ASSERT_EQ(q["usage"].size(), 1u) << q["usage"].dump();
  EXPECT_EQ(q["usage"][0]["day"], now.substr(0, 10));
  EXPECT_EQ(q["usage"][0]["recordings"], 4);
  EXPECT_DOUBLE_EQ(q["usage"][0]["minutes"].get<double>(), 4.5);
  EXPECT_EQ(call(http::verb::get, "/api/v1/quality", nullptr, "audit-token").result(),
            http::status::ok);
  for (const char* token : {"jane-token", "sam-token"}) {  // an officer, a supervisor
    EXPECT_EQ(call(http::verb::get, "/api/v1/quality", nullptr, token).result(),
              http::status::forbidden);
  }
  EXPECT_EQ(call(http::verb::get, "/api/v1/quality?days=91").result(), http::status::bad_request);
}

// Annotations: notes at a time of a recording, by the officers who may read it; kept as written,
// in time order, shown with the recording, and in the ledger with their text.
TEST_F(RouterTest, AnnotationsAreAnchoredInTimeAndInTheLedger) {
  const std::string rec = recording("FX Desk").first;
  const std::string url = "/api/v1/recordings/" + rec + "/annotations";
  for (const json& bad : {json{{"atSeconds", 1}}, json{{"atSeconds", 1}, {"text", "  "}},
                          json{{"atSeconds", -1}, {"text", "x"}}, json{{"text", "x"}},
                          json{{"atSeconds", "2"}, {"text", "x"}},
                          json{{"atSeconds", 1}, {"text", std::string(1001, 'x')}}}) {
    EXPECT_EQ(call(http::verb::post, url, bad, "jane-token").result(), http::status::bad_request)
        << bad.dump();
  }
  EXPECT_EQ(call(http::verb::post, url, {{"atSeconds", 1}, {"text", "x"}}, "rita-token").result(),
            http::status::forbidden);
  EXPECT_EQ(call(http::verb::post, url, {{"atSeconds", 1}, {"text", "x"}}, "audit-token").result(),
            http::status::forbidden);
  auto made = call(http::verb::post, url, {{"atSeconds", 12.5}, {"text", "asks to move the trade"}},
                   "jane-token");
  ASSERT_EQ(made.result(), http::status::created) << made.body();
  EXPECT_EQ(body(made)["author"], "api:jane");
  ASSERT_EQ(
      call(http::verb::post, url, {{"atSeconds", 3}, {"text", "greets"}}, "omar-token").result(),
      http::status::created);
  auto listed = body(call(http::verb::get, url, nullptr, "jane-token"))["annotations"];
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0]["text"], "greets");  // in time order
  EXPECT_EQ(listed[1]["atSeconds"], 12.5);
  EXPECT_EQ(
      body(call(http::verb::get, "/api/v1/recordings/" + rec, nullptr, "jane-token"))["annotations"]
          .size(),
      2u);
  const auto logged = ledger("access.annotation");
  ASSERT_EQ(logged.size(), 2u);
  EXPECT_EQ(logged[0]["by"], "api:jane");
  EXPECT_EQ(logged[0]["text"], "asks to move the trade");
  EXPECT_EQ(logged[1]["atSeconds"], 3.0);
  // The ledger's entries for auditors: newest first, by type and recording, page by page.
  auto page = call(http::verb::get, "/api/v1/ledger/entries?type=access.annotation&limit=1",
                   nullptr, "audit-token");
  ASSERT_EQ(page.result(), http::status::ok) << page.body();
  ASSERT_EQ(body(page)["entries"].size(), 1u);
  EXPECT_EQ(body(page)["entries"][0]["text"], "greets");
  const auto next = body(page)["next"].get<uint64_t>();
  page = call(http::verb::get,
              "/api/v1/ledger/entries?type=access.annotation&before=" + std::to_string(next),
              nullptr, "audit-token");
  ASSERT_EQ(body(page)["entries"].size(), 1u);
  EXPECT_EQ(body(page)["entries"][0]["text"], "asks to move the trade");
  page = call(http::verb::get, "/api/v1/ledger/entries?recording=" + rec, nullptr, "jane-token");
  EXPECT_GE(body(page)["entries"].size(), 4u);  // created, sealed, completed, the notes
  EXPECT_EQ(call(http::verb::get, "/api/v1/ledger/entries", nullptr, "secret-token").result(),
            http::status::forbidden);
  EXPECT_EQ(
      call(http::verb::get, "/api/v1/ledger/entries?limit=0", nullptr, "audit-token").result(),
      http::status::bad_request);
}

}  // namespace
}  // namespace verbatim::adminapi

namespace verbatim::adminapi {
namespace {

// Meetings over REST: an admin schedules one for a directory user (URI in the user's SIP domain,
// a PIN), lists, reads and cancels it; a PIN in use is a 409; the organiser must be a user; an
// auditor may not schedule one.
TEST_F(RouterTest, MeetingsAreScheduledForDirectoryUsersAndCancelledWithAReason) {
  EXPECT_EQ(call(http::verb::get, "/api/v1/meetings").result(),
            http::status::service_unavailable);  // no data directory
  RouterOptions ro;
  ro.data_dir = (dir / "data").string();
  std::filesystem::create_directories(ro.data_dir);
  router = std::make_unique<Router>(*svc, ro);
  auto r = call(http::verb::post, "/api/v1/script",
                {{"script",
                  "New-VbUser -UserPrincipalName alice@contoso.com -DisplayName Alice "
                  "-SipAddress sip:alice@sip.contoso.com"}});
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  r = call(http::verb::post, "/api/v1/meetings",
           {{"organizer", "alice@contoso.com"},
            {"subject", "Rates review"},
            {"start", "2026-12-09T14:00:00Z"},
            {"pin", "20261209"}});
  ASSERT_EQ(r.result(), http::status::created) << r.body();
  const json m = body(r);
  EXPECT_EQ(m["uri"], "sip:meet-" + m["id"].get<std::string>() + "@sip.contoso.com");
  EXPECT_EQ(m["pin"], "20261209");
  EXPECT_EQ(m["createdBy"], "api:tester");
  const std::string id = m["id"];

  r = call(http::verb::post, "/api/v1/meetings",
           {{"organizer", "alice@contoso.com"}, {"subject", "another"}, {"pin", "20261209"}});
  EXPECT_EQ(r.result(), http::status::conflict) << r.body();
  EXPECT_NE(r.body().find("PinInUse"), std::string::npos) << r.body();
  r = call(http::verb::post, "/api/v1/meetings",
           {{"organizer", "nobody@contoso.com"}, {"subject", "x"}});
  EXPECT_EQ(r.result(), http::status::bad_request);
  EXPECT_NE(r.body().find("no user nobody@contoso.com"), std::string::npos) << r.body();
  EXPECT_EQ(call(http::verb::post, "/api/v1/meetings",
                 {{"organizer", "alice@contoso.com"}, {"subject", "x"}}, "audit-token")
                .result(),
            http::status::forbidden);

  r = call(http::verb::get, "/api/v1/meetings");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  EXPECT_EQ(body(r)["count"], 1);
  EXPECT_EQ(body(call(http::verb::get, "/api/v1/meetings/" + id))["subject"], "Rates review");
  EXPECT_EQ(call(http::verb::get, "/api/v1/meetings/0000000000").result(), http::status::not_found);

  EXPECT_EQ(call(http::verb::delete_, "/api/v1/meetings/" + id, json::object()).result(),
            http::status::bad_request);  // no reason
  r = call(http::verb::delete_, "/api/v1/meetings/" + id, {{"reason", "moved"}});
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  EXPECT_EQ(body(r)["cancelledBy"], "api:tester");
  EXPECT_EQ(body(call(http::verb::get, "/api/v1/meetings"))["count"], 0);
  EXPECT_EQ(body(call(http::verb::get, "/api/v1/meetings?all=true"))["count"], 1);
  EXPECT_EQ(call(http::verb::delete_, "/api/v1/meetings/" + id, {{"reason", "again"}}).result(),
            http::status::not_found);
}

}  // namespace
}  // namespace verbatim::adminapi
