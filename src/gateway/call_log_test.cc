#include "gateway/call_log.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "common/test_dir.h"

namespace verbatim::gateway {
namespace {

nlohmann::json record(int i, const std::string& caller, const std::string& start) {
  return {{"callId", "call-" + std::to_string(i)},
          {"start", start},
          {"caller", {{"aor", caller}, {"display", "Caller " + std::to_string(i)}}},
          {"callee", {{"aor", "sip:bob@contoso.com"}, {"number", "+14255550101"}}},
          {"status", 200}};
}

// GET /api/v1/calls read the whole JSONL file on the media thread: now the records are indexed
// in SQLite, queried by Call-ID, time and party without reading the others, expire, and are
// written by a thread of their own (the JSONL copy rotated by size).
TEST(CallLog, CallRecordsIndexedRotatedAndWrittenOffTheLoop) {
  TestDir dir("vb_call_log");
  const std::string jsonl = dir / "gateway-calls.jsonl";
  {  // A data directory from before the database: its records are imported once.
    std::ofstream old(jsonl);
    old << record(0, "sip:legacy@contoso.com", "2026-01-01T00:00:00Z").dump() << "\n{broken\n";
  }
  {
    CallLogWriter::Options o{dir / "calls.db", jsonl, 2000, 30};
    auto writer = CallLogWriter::start(o);
    ASSERT_TRUE(writer) << writer.error().message;
    for (int i = 1; i <= 50; ++i) {
      writer.value()->append(record(
          i, i % 2 ? "sip:alice@contoso.com" : "sip:carol@contoso.com",
          "2099-01-01T00:00:" + std::string(i < 10 ? "0" : "") + std::to_string(i % 60) + "Z"));
    }
    writer.value()->flush();
  }
  auto log = CallLog::open(dir / "calls.db", jsonl);
  ASSERT_TRUE(log);
  auto one = log.value()->find_call("call-7");
  ASSERT_TRUE(one && one.value());
  EXPECT_EQ((*one.value())["caller"]["aor"], "sip:alice@contoso.com");
  EXPECT_FALSE(log.value()->find_call("call-999").value());
  // The legacy record was older than the writer's 30 days: expired at the writer's start.
  EXPECT_FALSE(log.value()->find_call("call-0").value());
  auto carol = log.value()->find_calls({"CAROL", "", 100});
  ASSERT_TRUE(carol);
  EXPECT_EQ(carol.value().size(), 25u);
  EXPECT_EQ(carol.value().front()["callId"], "call-50");  // newest first
  EXPECT_EQ(log.value()->find_calls({"", "", 5}).value().size(), 5u);
  EXPECT_EQ(log.value()->find_calls({"+1425555", "", 1000}).value().size(), 50u);
  EXPECT_EQ(log.value()->find_calls({"%", "", 1000}).value().size(), 0u) << "taken literally";
  EXPECT_FALSE(log.value()->find_calls({"", "yesterday", 10}));
  // Followed in the order stored, a page at a time.
  auto first = log.value()->calls_after(0, 20);
  ASSERT_TRUE(first);
  ASSERT_EQ(first.value().size(), 20u);
  EXPECT_EQ(first.value().front().second["callId"], "call-1");
  auto rest = log.value()->calls_after(first.value().back().first, 100);
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest.value().size(), 30u);
  EXPECT_EQ(rest.value().front().second["callId"], "call-21");
  EXPECT_TRUE(log.value()->calls_after(rest.value().back().first, 100).value().empty());
  // The JSONL copy is rotated by size (2000 bytes here): the newest file is small.
  EXPECT_TRUE(std::filesystem::exists(jsonl + ".1"));
  EXPECT_LE(std::filesystem::file_size(jsonl), 2000u);
  std::string last, line;
  for (std::ifstream newest(jsonl); std::getline(newest, line);) last = line;
  EXPECT_EQ(nlohmann::json::parse(last)["callId"], "call-50");
  for (const char* old : {".1", ".2", ".3"}) {
    EXPECT_LE(std::filesystem::file_size(jsonl + old), 2000u) << old;
  }
  EXPECT_EQ(log.value()->expire("2100-01-01").value(), 50);
}

}  // namespace
}  // namespace verbatim::gateway
