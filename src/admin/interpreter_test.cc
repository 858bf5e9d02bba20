#include "admin/interpreter.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "common/test_dir.h"
#include "policy/explain.h"
#include "policy/sqlite_store.h"
#include "sip/digest.h"

namespace verbatim::admin {
namespace {

constexpr const char* kSetup = R"(
New-VbUser -UserPrincipalName alice@contoso.com -DisplayName "Alice Trader" -PhoneNumber +14255550100
New-VbUser -UserPrincipalName bob@contoso.com -DisplayName "Bob Broker"
New-CsOnlineApplicationInstance -UserPrincipalName rec@contoso.com -DisplayName Recorder -ApplicationId 11111111-2222-4333-8444-555555555555
New-CsOnlineApplicationInstance -UserPrincipalName rec2@contoso.com -DisplayName Recorder2 -ApplicationId 11111111-2222-4333-8444-666666666666
New-VbRecorderEndpoint -ApplicationId 11111111-2222-4333-8444-555555555555 -Uri sip:rec1.contoso.com -Region EUR
New-CsTeamsComplianceRecordingPolicy -Identity Traders -Enabled $true
New-CsTeamsComplianceRecordingApplication -Parent Traders -Id rec@contoso.com
New-VbGroup -DisplayName Desk
)";

class InterpreterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(svc.open());
    auto r = interp.run_script(kSetup);
    ASSERT_TRUE(r.ok()) << r.error_text;
    rec_id = svc.state().instance_by_upn("rec@contoso.com")->object_id;
  }
  std::string err(const std::string& script) {
    const auto before =
        nlohmann::json(svc.state().policies()).dump() + nlohmann::json(svc.state().users()).dump();
    auto r = interp.run_script(script);
    EXPECT_FALSE(r.ok()) << "expected an error from: " << script;
    const auto after =
        nlohmann::json(svc.state().policies()).dump() + nlohmann::json(svc.state().users()).dump();
    EXPECT_EQ(before, after) << "a failed script changed the state: " << script;
    return r.error ? r.error->error_id + ": " + r.error->message : "";
  }
  bool records(const std::string& who) { return svc.engine().decide(who).record(); }

  SequentialIdGenerator ids;
  ManualClock clock{TimePoint{std::chrono::seconds(1800000000)}};
  policy::PolicyService svc{nullptr, ids, clock};
  Interpreter interp{svc, "test"};
  std::string rec_id;
};

// Set-VbUser -SipPassword keeps the digest hashes for the SIP address's user and domain, in the
// store only: neither the audit log nor memory holds the password or a hash.
// A tenant in a SQLite store (where the credentials and the audit log are kept).
class SipPasswordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = policy::SqliteStore::open(dir / "policy.db");
    ASSERT_TRUE(store);
    svc = std::make_unique<policy::PolicyService>(std::move(store).value(), ids, clock);
    ASSERT_TRUE(svc->open());
    interp = std::make_unique<Interpreter>(*svc, "test");
  }
  TestDir dir{"vb_sip_password"};
  SequentialIdGenerator ids;
  ManualClock clock{TimePoint{std::chrono::seconds(1800000000)}};
  std::unique_ptr<policy::PolicyService> svc;
  std::unique_ptr<Interpreter> interp;
};

TEST_F(SipPasswordTest, StoredAsDigestHashesAndNeverAudited) {
  auto& svc = *this->svc;
  auto& interp = *this->interp;
  auto r = interp.run_script(
      "New-VbUser alice@contoso.com -SipPassword 'Secret-One1'\n"
      "Set-VbUser -Identity alice@contoso.com -DisplayName Alice -SipPassword:\"Correct horse\"");
  ASSERT_TRUE(r.ok()) << r.error_text;
  const auto* found = svc.state().user_by_address("alice@contoso.com");
  ASSERT_NE(found, nullptr);
  const std::string alice_id = found->object_id;  // the user object changes below
  const auto* cred = svc.state().sip_credential(alice_id);
  ASSERT_NE(cred, nullptr);
  EXPECT_EQ(cred->username, "alice");
  EXPECT_EQ(cred->realm, "contoso.com");
  EXPECT_TRUE(cred->ha1_md5.empty());  // memory keeps no hash
  auto doc = svc.store()->object(policy::Kind::kSipCredential, alice_id);
  ASSERT_TRUE(doc && doc.value());
  const auto stored = doc.value()->get<policy::SipCredential>();
  EXPECT_EQ(stored.ha1_md5,
            sip::digest_ha1(sip::DigestAlgorithm::kMd5, "alice", "contoso.com", "Correct horse"));
  EXPECT_EQ(stored.ha1_sha256, sip::digest_ha1(sip::DigestAlgorithm::kSha256, "alice",
                                               "contoso.com", "Correct horse"));
  auto audit = svc.store()->audit_since(0, 1000);
  ASSERT_TRUE(audit);
  bool saw_credential = false;
  for (const auto& e : audit.value()) {
    const std::string row = e.command + (e.after ? e.after->dump() : "");
    EXPECT_EQ(row.find("Secret-One1"), std::string::npos) << row;
    EXPECT_EQ(row.find("Correct horse"), std::string::npos) << row;
    EXPECT_EQ(row.find(stored.ha1_md5), std::string::npos) << row;
    EXPECT_EQ(row.find("Ha1"), std::string::npos) << row;
    saw_credential |= e.kind == policy::Kind::kSipCredential;
  }
  EXPECT_TRUE(saw_credential);
  // Too short: refused, nothing changed.
  r = interp.run_script("Set-VbUser alice@contoso.com -SipPassword short");
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error_text.find("8 to 128"), std::string::npos) << r.error_text;
  // A new SIP address invalidates the hashes: removed, with a warning.
  r = interp.run_script("Set-VbUser alice@contoso.com -SipAddress alice@fabrikam.com");
  ASSERT_TRUE(r.ok()) << r.error_text;
  EXPECT_NE(r.output.find("SIP password of alice@contoso.com was removed"), std::string::npos)
      << r.output;
  EXPECT_EQ(svc.state().sip_credential(alice_id), nullptr);
  doc = svc.store()->object(policy::Kind::kSipCredential, alice_id);
  ASSERT_TRUE(doc);
  EXPECT_FALSE(doc.value());
  // $null removes them; removing the user removes them too.
  ASSERT_TRUE(interp.run_script("Set-VbUser alice@contoso.com -SipPassword 'another-one'").ok());
  ASSERT_TRUE(interp.run_script("Remove-VbUser alice@contoso.com").ok());
  doc = svc.store()->object(policy::Kind::kSipCredential, alice_id);
  ASSERT_TRUE(doc);
  EXPECT_FALSE(doc.value());
}

// PowerShell binds a unique prefix of a parameter name: -SipPass is -SipPassword. The audit log
// masks what binds to the secret, however it was written.
TEST_F(SipPasswordTest, AuditMaskingUsesParameterBindingSoPrefixesAreMasked) {
  auto& svc = *this->svc;
  auto& interp = *this->interp;
  auto r = interp.run_script(
      "New-VbUser alice@contoso.com -SipPass 'Secret-Prefix1'\n"
      "Set-VbUser alice@contoso.com -sipp:hunter2222 -DisplayName Alice\n"
      "Set-VbUser alice@contoso.com `\n  -SipPa \"multi line one\"");
  ASSERT_TRUE(r.ok()) << r.error_text;
  auto audit = svc.store()->audit_since(0, 1000);
  ASSERT_TRUE(audit);
  int masked = 0;
  for (const auto& e : audit.value()) {
    for (const char* secret : {"Secret-Prefix1", "hunter2222", "multi line one"}) {
      EXPECT_EQ(e.command.find(secret), std::string::npos) << e.command;
    }
    masked += e.command.find("********") != std::string::npos;
  }
  EXPECT_GE(masked, 3);
}

TEST_F(SipPasswordTest, RedactsEveryFormOfTheValue) {
  EXPECT_EQ(redact_secrets("Set-VbUser a -SipPassword hunter22 -DisplayName X"),
            "Set-VbUser a -SipPassword ******** -DisplayName X");
  EXPECT_EQ(redact_secrets("Set-VbUser a -sippassword:'it''s secret'"),
            "Set-VbUser a -sippassword:********");
  EXPECT_EQ(redact_secrets("New-VbUser a -SIPPASSWORD \"p w\"; Get-VbUser"),
            "New-VbUser a -SIPPASSWORD ********; Get-VbUser");
  EXPECT_EQ(redact_secrets("Get-VbUser"), "Get-VbUser");
}

TEST_F(InterpreterTest, GrantTakesEffectForTheNextDecisionAtOnce) {
  EXPECT_FALSE(records("alice@contoso.com"));
  auto r = interp.run_script(
      "Grant-CsTeamsComplianceRecordingPolicy -Identity alice@contoso.com "
      "-PolicyName Traders");
  ASSERT_TRUE(r.ok()) << r.error_text;
  EXPECT_TRUE(records("sip:alice@contoso.com"));
  EXPECT_TRUE(records("tel:+14255550100"));
  EXPECT_FALSE(records("bob@contoso.com"));
  r = interp.run_script("Grant-CsTeamsComplianceRecordingPolicy alice@contoso.com $null");
  ASSERT_TRUE(r.ok()) << r.error_text;
  EXPECT_FALSE(records("alice@contoso.com"));
}

TEST_F(InterpreterTest, APreviewSaysWhomAScriptWouldRecordAndChangesNothing) {
  auto snapshot = [&] {
    return nlohmann::json(svc.state().policies()).dump() +
           nlohmann::json(svc.state().users()).dump();
  };
  const auto before = snapshot();
  auto p = interp.preview_script(
      "Add-VbGroupMember -Group Desk -Member bob@contoso.com\n"
      "Grant-CsTeamsComplianceRecordingPolicy -Group Desk -PolicyName Traders -Rank 1\n"
      "Grant-CsTeamsComplianceRecordingPolicy -Identity alice@contoso.com -PolicyName Traders");
  ASSERT_TRUE(p.outcome.ok()) << p.outcome.error_text;
  EXPECT_EQ(p.users, 2u);
  ASSERT_EQ(p.changes.size(), 2u);
  EXPECT_EQ(p.changes[0].user, "alice@contoso.com");
  EXPECT_FALSE(p.changes[0].recorded_before);
  EXPECT_TRUE(p.changes[0].recorded_after);
  EXPECT_EQ(p.changes[0].policy_after, "Tag:Traders");
  EXPECT_EQ(p.changes[1].user, "bob@contoso.com");
  // Nothing happened: no decision changed, the state is as it was.
  EXPECT_FALSE(records("alice@contoso.com"));
  EXPECT_FALSE(records("bob@contoso.com"));
  EXPECT_EQ(snapshot(), before);
  // A script with an error previews as the error, with no changes.
  p = interp.preview_script(
      "Grant-CsTeamsComplianceRecordingPolicy -Identity nobody@contoso.com "
      "-PolicyName Traders");
  EXPECT_FALSE(p.outcome.ok());
  EXPECT_TRUE(p.changes.empty());
}

TEST_F(InterpreterTest, ErrorsNameTheProblemAndChangeNothing) {
  const std::string pre = "New-CsTeamsComplianceRecordingPolicy -Identity Sneaky -Enabled $true\n";
  EXPECT_NE(err(pre + "Get-Nonsense").find("CommandNotFoundException"), std::string::npos);
  EXPECT_NE(err(pre + "New-CsTeamsComplianceRecordingPolicy -Identity X -Enabld $true")
                .find("NamedParameterNotFound: A parameter cannot be found that matches "
                      "parameter name 'Enabld'."),
            std::string::npos);
  EXPECT_NE(err(pre + "New-CsTeamsComplianceRecordingApplication -Parent Traders -Id " + rec_id +
                " -Re $true")
                .find("AmbiguousParameter"),
            std::string::npos);
  EXPECT_NE(err(pre + "New-CsTeamsComplianceRecordingPolicy -Identity X -Enabled yes")
                .find("Boolean parameters accept only Boolean values"),
            std::string::npos);
  EXPECT_NE(err(pre + "New-CsTeamsComplianceRecordingPolicy -Enabled $true")
                .find("missing mandatory parameters: Identity"),
            std::string::npos);
  EXPECT_NE(err(pre + "Grant-CsTeamsComplianceRecordingPolicy -Identity nobody@contoso.com "
                      "-PolicyName Traders")
                .find("Management object not found for identity \"nobody@contoso.com\""),
            std::string::npos);
  EXPECT_NE(
      err(pre + "New-CsTeamsComplianceRecordingPolicy -Identity Traders").find("DuplicateIdentity"),
      std::string::npos);
  EXPECT_NE(err(pre + "Set-CsTeamsComplianceRecordingApplication -Identity Tag:Traders/" + rec_id +
                " -ConcurrentInvitationCount 3")
                .find("greater than the maximum allowed range of 2"),
            std::string::npos);
  EXPECT_NE(err(pre + "Set-CsTeamsComplianceRecordingApplication -Identity Tag:Traders/" + rec_id +
                " -ConcurrentInvitationCount 2 -ComplianceRecordingPairedApplications "
                "@(New-CsTeamsComplianceRecordingPairedApplication -Id rec2@contoso.com)")
                .find("not both"),
            std::string::npos);
  EXPECT_NE(err(pre + "New-CsTeamsComplianceRecordingApplication -Parent Traders -Id "
                      "11111111-2222-4333-8444-555555555555")
                .find("is the ApplicationId of application instance rec@contoso.com"),
            std::string::npos);
  EXPECT_NE(err(pre + "New-VbUser -UserPrincipalName carol@contoso.com -PhoneNumber 555-1234")
                .find("not an E.164 number"),
            std::string::npos);
  EXPECT_NE(err(pre + "New-VbUser -UserPrincipalName dup@contoso.com -PhoneNumber +14255550100")
                .find("already used by user alice@contoso.com"),
            std::string::npos);
  EXPECT_NE(err(pre + "Write-Output $undefined").find("VariableIsUndefined"), std::string::npos);
  EXPECT_EQ(svc.state().find_policy("Sneaky"), nullptr);
}

TEST_F(InterpreterTest, RemovingAnAssignedPolicyIsRefused) {
  ASSERT_TRUE(interp
                  .run_script("Grant-CsTeamsComplianceRecordingPolicy -Group Desk -PolicyName "
                              "Traders")
                  .ok());
  EXPECT_NE(err("Remove-CsTeamsComplianceRecordingPolicy -Identity Traders").find("1 group"),
            std::string::npos);
  EXPECT_NE(err("Remove-VbGroup Desk").find("OperationRefused"), std::string::npos);
  EXPECT_NE(err("Remove-CsOnlineApplicationInstance rec@contoso.com").find("Tag:Traders"),
            std::string::npos);
  ASSERT_TRUE(interp
                  .run_script("Grant-CsTeamsComplianceRecordingPolicy -Group Desk -PolicyName "
                              "$null\nRemove-CsTeamsComplianceRecordingPolicy Traders")
                  .ok());
  EXPECT_EQ(svc.state().find_policy("Traders"), nullptr);
}

TEST_F(InterpreterTest, ErrorTextLooksLikePowerShell) {
  auto r = interp.run_script(
      "Get-CsOnlineUser\nSet-CsTeamsComplianceRecordingPolicy -Identity "
      "Traders -Enabled maybe");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error_text,
            "Set-CsTeamsComplianceRecordingPolicy : Cannot process argument transformation on "
            "parameter 'Enabled'. Cannot convert value \"System.String\" to type "
            "\"System.Boolean\". Boolean parameters accept only Boolean values and numbers, such "
            "as $True, $False, 1 or 0.\n"
            "At line:2 char:56\n"
            "+ Set-CsTeamsComplianceRecordingPolicy -Identity Traders -Enabled maybe\n"
            "+                                                        ~~~~~~~~\n"
            "    + CategoryInfo          : InvalidData: (maybe:String) "
            "[Set-CsTeamsComplianceRecordingPolicy]\n"
            "    + FullyQualifiedErrorId : "
            "ParameterArgumentTransformationError,Set-CsTeamsComplianceRecordingPolicy\n");
  EXPECT_TRUE(r.output.empty() || r.output.find("alice") != std::string::npos);
}

TEST_F(InterpreterTest, InteractiveModeKeepsEarlierLines) {
  auto r = interp.run_interactive(
      "New-CsTeamsComplianceRecordingPolicy -Identity Kept\nGet-Nonsense\n"
      "New-CsTeamsComplianceRecordingPolicy -Identity AlsoKept");
  EXPECT_FALSE(r.ok());
  EXPECT_NE(svc.state().find_policy("Kept"), nullptr);
  EXPECT_NE(svc.state().find_policy("AlsoKept"), nullptr);
}

TEST_F(InterpreterTest, WhatIfAndSilentlyContinue) {
  auto r = interp.run_script("New-CsTeamsComplianceRecordingPolicy -Identity Maybe -WhatIf");
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r.output.find("What if: Performing the operation"), std::string::npos);
  EXPECT_EQ(svc.state().find_policy("Maybe"), nullptr);
  r = interp.run_script(
      "New-CsTeamsComplianceRecordingPolicy -Identity Traders -ErrorAction "
      "SilentlyContinue\nNew-CsTeamsComplianceRecordingPolicy -Identity After");
  ASSERT_TRUE(r.ok()) << r.error_text;
  EXPECT_NE(svc.state().find_policy("After"), nullptr);
}

TEST_F(InterpreterTest, KillSwitchPipelineDisablesEveryPolicy) {
  auto r = interp.run_script(
      "Set-CsTeamsComplianceRecordingPolicy Global -Enabled $true\n"
      "Get-CsTeamsComplianceRecordingPolicy | "
      "Set-CsTeamsComplianceRecordingPolicy -Enabled $false");
  ASSERT_TRUE(r.ok()) << r.error_text;
  for (const auto& [k, p] : svc.state().policies()) EXPECT_FALSE(p.enabled) << p.name;
}

TEST_F(InterpreterTest, VariablesMembersAndInMemoryObjects) {
  auto r = interp.run_script(
      "$inst = Get-CsOnlineApplicationInstance -Identity rec2@contoso.com\n"
      "$app = New-CsTeamsComplianceRecordingApplication -Parent Traders -Id $inst.ObjectId "
      "-InMemory -RequiredDuringCall $false\n"
      "New-CsTeamsComplianceRecordingPolicy -Identity Backoffice -Enabled $true "
      "-ComplianceRecordingApplications @($app)\n"
      "Write-Output \"made $($inst.DisplayName)\"");
  ASSERT_TRUE(r.ok()) << r.error_text;
  const auto* p = svc.state().find_policy("Backoffice");
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p->applications.size(), 1u);
  EXPECT_EQ(p->applications[0].parent, "Backoffice");
  EXPECT_FALSE(p->applications[0].required_during_call);
  EXPECT_EQ(svc.state().find_policy("Traders")->applications.size(), 1u);  // -InMemory
}

TEST_F(InterpreterTest, GroupRanksRenumber) {
  auto r = interp.run_script(
      "New-VbGroup G2\nNew-VbGroup G3\n"
      "New-CsTeamsComplianceRecordingPolicy -Identity P2\n"
      "Grant-CsTeamsComplianceRecordingPolicy -Group Desk -PolicyName Traders -Rank 1\n"
      "Grant-CsTeamsComplianceRecordingPolicy -Group G2 -PolicyName P2 -Rank 1\n"
      "Grant-CsTeamsComplianceRecordingPolicy -Group G3 -PolicyName P2 -Rank 99\n"
      "Add-VbGroupMember -Group Desk -Member alice@contoso.com\n"
      "Add-VbGroupMember -Group G2 -Member alice@contoso.com, bob@contoso.com");
  ASSERT_TRUE(r.ok()) << r.error_text;
  auto order = svc.state().ordered_group_assignments();
  ASSERT_EQ(order.size(), 3u);
  EXPECT_EQ(svc.state().group_by_id(order[0]->group_id)->display_name, "G2");
  EXPECT_EQ(order[1]->rank, 2);
  EXPECT_EQ(svc.state().group_by_id(order[2]->group_id)->display_name, "G3");
  EXPECT_EQ(order[2]->rank, 3);
  // alice is in Desk (rank 2, Traders) and G2 (rank 1, P2): P2 wins, and P2 is disabled.
  auto d = svc.engine().decide("alice@contoso.com");
  EXPECT_EQ(d.policy->name, "P2");
  EXPECT_EQ(d.rank, 1);
  EXPECT_FALSE(d.record());
  ASSERT_TRUE(interp
                  .run_script("Set-CsGroupPolicyAssignment -GroupId Desk -PolicyType "
                              "TeamsComplianceRecordingPolicy -Rank 1")
                  .ok());
  EXPECT_TRUE(records("alice@contoso.com"));
  EXPECT_FALSE(records("bob@contoso.com"));
}

TEST_F(InterpreterTest, ImportDirectory) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("vb_import_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "users.csv")
      << "\xEF\xBB\xBFUserPrincipalName,DisplayName,PhoneNumber,DataLocation,Groups\r\n"
         "carol@contoso.com,\"Carol, Sales\",+442071234567,GBR,Desk;London\r\n"
         "alice@contoso.com,Alice Renamed,,EUR,Desk\r\n";
  std::ofstream(dir / "bad.csv") << "UserPrincipalName,PhoneNumber\nok@contoso.com,+15551234567\n"
                                    "bad@contoso.com,12ab\n";
  interp.set_base_dir(dir.string());
  auto r = interp.run_script("Import-VbDirectory users.csv");
  ASSERT_TRUE(r.ok()) << r.error_text;
  EXPECT_NE(r.output.find("UsersCreated     : 1"), std::string::npos) << r.output;
  const auto* carol = svc.state().user_by_address("+442071234567");
  ASSERT_NE(carol, nullptr);
  EXPECT_EQ(carol->display_name, "Carol, Sales");
  EXPECT_EQ(svc.state().groups_of(carol->object_id).size(), 2u);
  EXPECT_EQ(svc.state().user_by_address("alice@contoso.com")->display_name, "Alice Renamed");
  const std::string e = err("Import-VbDirectory bad.csv");
  EXPECT_NE(e.find("bad.csv line 3"), std::string::npos) << e;
  EXPECT_EQ(svc.state().user_by_address("ok@contoso.com"), nullptr);  // all or nothing
  EXPECT_NE(err("Import-VbDirectory missing.csv").find("PathNotFound"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_F(InterpreterTest, RestStyleInvoke) {
  std::map<std::string, Value> params{{"Identity", Value("Api")}, {"Enabled", Value(true)}};
  auto r = interp.invoke("New-CsTeamsComplianceRecordingPolicy", params);
  ASSERT_TRUE(r.ok()) << r.error_text;
  ASSERT_EQ(r.objects.size(), 1u);
  EXPECT_EQ(to_json(r.objects[0])["Identity"], "Tag:Api");
  r = interp.invoke("New-CsTeamsComplianceRecordingPolicy", {{"Identity", Value("Api")}});
  EXPECT_FALSE(r.ok());
  r = interp.invoke("New-CsTeamsComplianceRecordingPolicy", {{"Nope", Value(1)}});
  EXPECT_EQ(r.error->error_id, "NamedParameterNotFound");
}

}  // namespace
}  // namespace verbatim::admin
