#include "common/strings.h"

#include <gtest/gtest.h>

namespace verbatim {
namespace {

TEST(Strings, CaseInsensitive) {
  EXPECT_TRUE(iequals("Get-CsOnlineUser", "get-csonlineuser"));
  EXPECT_FALSE(iequals("abc", "abcd"));
  EXPECT_TRUE(istarts_with("Tag:Foo", "tag:"));
  EXPECT_EQ(CaseInsensitiveHash{}("ABC"), CaseInsensitiveHash{}("abc"));
}

TEST(Strings, UrlEncodeLeavesOnlyUnreservedBytes) {
  EXPECT_EQ(url_encode("sip:alice@example.com"), "sip%3Aalice%40example.com");
  EXPECT_EQ(url_encode("A-z_0.9~"), "A-z_0.9~");
  EXPECT_EQ(url_encode("a b/c"), "a%20b%2Fc");
  EXPECT_EQ(url_encode("\xC3\xA9"), "%C3%A9");
}

TEST(Strings, TrimSplitJoin) {
  EXPECT_EQ(trim("  a b \t\r\n"), "a b");
  EXPECT_EQ(split("a;b;;c", ';'), (std::vector<std::string>{"a", "b", "", "c"}));
  EXPECT_EQ(join({"x", "y"}, ", "), "x, y");
}

}  // namespace
}  // namespace verbatim
