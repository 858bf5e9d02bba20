#include "sip/cpim.h"

#include <gtest/gtest.h>

namespace verbatim::sip {
namespace {

TEST(Cpim, AMessageBuiltParsesBackWithItsSenderTimeAndContent) {
  CpimMessage m;
  m.from = "Alice <sip:alice@contoso.com>";
  m.to = "<sip:meet-4711@contoso.com>";
  m.date_time = "2026-12-07T10:00:00Z";
  m.content_type = "text/plain;charset=utf-8";
  m.body = "Buy 100 at 4.20\r\nand\n\nnot a header: line";
  const std::string text = build_cpim(m);
  auto back = parse_cpim(text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back.value().from, m.from);
  EXPECT_EQ(back.value().to, m.to);
  EXPECT_EQ(back.value().date_time, m.date_time);
  EXPECT_EQ(back.value().content_type, m.content_type);
  EXPECT_EQ(back.value().body, m.body);  // blank lines and colons in the content are content
  EXPECT_EQ(cpim_address(back.value().from), "sip:alice@contoso.com");
  EXPECT_EQ(cpim_address(" sip:bob@contoso.com "), "sip:bob@contoso.com");
  // A value cannot smuggle a header in.
  m.from = "Mallory\r\nTo: <sip:victim@contoso.com>";
  EXPECT_EQ(parse_cpim(build_cpim(m)).value().to, m.to);
}

TEST(Cpim, TextThatIsNotCpimIsRefused) {
  EXPECT_FALSE(parse_cpim("just a chat line"));
  EXPECT_FALSE(parse_cpim("From: a\r\nno colon here\r\n\r\nContent-Type: text/plain\r\n\r\nx"));
  EXPECT_FALSE(parse_cpim("From: a\r\n\r\nContent-Type: text/plain\r\n"));  // no second blank
  auto lf = parse_cpim("From: <sip:a@b>\n\nContent-Type: text/plain\n\nhi");
  ASSERT_TRUE(lf);
  EXPECT_EQ(lf.value().body, "hi");
}

}  // namespace
}  // namespace verbatim::sip
