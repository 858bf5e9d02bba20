#include "common/call_records.h"

#include <gtest/gtest.h>

namespace verbatim {
namespace {

TEST(CallRecords, DescribeCallShowsDecisionsRecordersAndNotices) {
  const auto record = nlohmann::json::parse(R"json({
    "callId": "c1@pstn", "start": "2026-12-05T10:00:00.000Z", "end": "2026-12-05T10:01:00.000Z",
    "caller": {"aor": "tel:+14255550199", "recorded": false},
    "callee": {"aor": "sip:bob@contoso.com", "user": "bob@contoso.com", "policy": "Traders",
               "policySource": "direct", "recorded": true},
    "status": 200, "outcome": "caller ended (bye)",
    "timings": {"recordersReadyMs": 12, "calleeCalledMs": 13, "connectedMs": 900},
    "transfers": [{"by": "sip:bob@contoso.com", "to": "sip:carol@contoso.com", "outcome": "completed"}],
    "recordings": [{"party": "sip:bob@contoso.com", "policy": "Traders", "applications": [
      {"application": "Recorder", "requiredBeforeCallEstablishment": true, "requiredDuringCall": false,
       "instances": [{"uri": "sip:srs@192.0.2.50", "state": "ended", "answeredMs": 11}]}]}],
    "notices": [{"prompt": "recording-started", "to": "caller", "outcome": "played"}]
  })json");
  const std::string text = describe_call(record);
  EXPECT_NE(text.find("Call c1@pstn\n"), std::string::npos) << text;
  EXPECT_NE(text.find("callee   sip:bob@contoso.com (user bob@contoso.com), policy Traders "
                      "(direct), recorded"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("connected 900 ms"), std::string::npos) << text;
  EXPECT_NE(text.find("transfer by sip:bob@contoso.com to sip:carol@contoso.com: completed"),
            std::string::npos);
  EXPECT_NE(text.find("Recorder (required before call: yes, during call: no)"), std::string::npos);
  EXPECT_NE(text.find("sip:srs@192.0.2.50: ended (answered in 11 ms)"), std::string::npos);
  EXPECT_NE(text.find("notice   recording-started to the caller: played"), std::string::npos);
}

TEST(CallRecords, DescribeCallToleratesARecordWithoutItsSections) {
  // An older gateway's record, or one cut short: what is missing is left out, never a crash.
  const std::string text = describe_call(nlohmann::json::parse(R"({"callId": "c2"})"));
  EXPECT_NE(text.find("Call c2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("recorders ready -1 ms"), std::string::npos) << text;
}

}  // namespace
}  // namespace verbatim
