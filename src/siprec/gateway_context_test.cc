#include "siprec/gateway_context.h"

#include <gtest/gtest.h>

#include "common/test_dir.h"

namespace verbatim::siprec {
namespace {

using std::chrono::seconds;

sip::Message invite_with(const sip::HeaderList& headers, const std::string& call_id = "abc@gw") {
  std::string text =
      "INVITE sip:srs@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n"
      "From: <sip:gateway@127.0.0.1>;tag=1\r\nTo: <sip:srs@127.0.0.1>\r\nCall-ID: " +
      call_id + "\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n";
  for (const auto& [n, v] : headers) text += n + ": " + v + "\r\n";
  return sip::Message::parse(text + "Content-Length: 0\r\n\r\n").value();
}

const GatewayContext kContext{
    "app-1", "Traders", "call-9@phone", {"FX Desk", "Rates, London", "g-1"}};

// The typed contract both roles share: what the gateway writes, the recorder reads back whole
// (the groups included, commas in names and all).
TEST(GatewayContext, WhatTheGatewayWritesTheRecorderReadsBack) {
  GatewayKey key{1, 2, 3};
  const auto now = std::chrono::system_clock::time_point(seconds(1800000000));
  const auto m = invite_with(context_headers(kContext, "abc@gw", key, now));
  auto r = read_context(m, key, now + seconds(2));
  ASSERT_TRUE(r.context) << r.ignored;
  EXPECT_EQ(*r.context, kContext);
}

// The signature is HMAC-SHA-256 over a fixed text (so a gateway and a recorder of different
// builds agree); the value here was computed independently (Python's hmac module).
TEST(GatewayContext, SignatureIsHmacSha256OfTheDocumentedText) {
  GatewayKey key{1, 2, 3};
  const auto now = std::chrono::system_clock::time_point(seconds(1800000000));
  const auto headers =
      context_headers({"app-1", "Traders", "call-9@phone", {}}, "abc@gw", key, now);
  ASSERT_EQ(headers.back().first, kSignatureHeader);
  EXPECT_EQ(headers.back().second,
            "t=1800000000;mac=5d239670be43a46d7f363f56742e3a1845807f8a79463d3afe69110e58ce5495");
}

// X-Verbatim-* from anyone but a gateway holding the key is ignored: unsigned, signed with
// another key, altered, moved to another Call-ID, or replayed late.
TEST(GatewayContext, RecorderTrustsVerbatimHeadersFromAnyClient) {
  GatewayKey key{1, 2, 3}, other{9};
  const auto now = std::chrono::system_clock::time_point(seconds(1800000000));
  sip::HeaderList forged = {{kApplicationIdHeader, "app-1"}, {kGroupsHeader, "Short-Retention"}};
  auto r = read_context(invite_with(forged), key, now);
  EXPECT_FALSE(r.context);
  EXPECT_NE(r.ignored.find("without X-Verbatim-Signature"), std::string::npos);
  r = read_context(invite_with(context_headers(kContext, "abc@gw", other, now)), key, now);
  EXPECT_FALSE(r.context);
  EXPECT_NE(r.ignored.find("does not verify"), std::string::npos);
  auto altered = context_headers(kContext, "abc@gw", key, now);
  for (auto& [n, v] : altered) {
    if (n == kGroupsHeader) v = "Short-Retention";
  }
  EXPECT_FALSE(read_context(invite_with(altered), key, now).context);
  EXPECT_FALSE(
      read_context(invite_with(context_headers(kContext, "abc@gw", key, now), "x@gw"), key, now)
          .context);
  r = read_context(invite_with(context_headers(kContext, "abc@gw", key, now)), key,
                   now + seconds(301));
  EXPECT_FALSE(r.context);
  EXPECT_NE(r.ignored.find("old"), std::string::npos);
  EXPECT_FALSE(
      read_context(invite_with(context_headers(kContext, "abc@gw", key, now)), std::nullopt, now)
          .context);
  r = read_context(invite_with({}), key, now);
  EXPECT_FALSE(r.context);
  EXPECT_TRUE(r.ignored.empty()) << "nothing claimed, nothing to report";
}

TEST(GatewayContext, KeyFileIsCreatedOwnerOnlyAndReadBack) {
  TestDir dir("vb_gwkey");
  const std::string path = dir / "gateway-recorder.key";
  EXPECT_FALSE(load_gateway_key(path, false));
  auto made = load_gateway_key(path, true);
  ASSERT_TRUE(made);
  auto again = load_gateway_key(path, true);
  ASSERT_TRUE(again);
  EXPECT_EQ(made.value(), again.value());
  std::filesystem::permissions(path, std::filesystem::perms::group_read,
                               std::filesystem::perm_options::add);
  EXPECT_FALSE(load_gateway_key(path, false));
}

}  // namespace
}  // namespace verbatim::siprec
