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

TEST(Strings, TrimSplitJoin) {
  EXPECT_EQ(trim("  a b \t\r\n"), "a b");
  EXPECT_EQ(split("a;b;;c", ';'), (std::vector<std::string>{"a", "b", "", "c"}));
  EXPECT_EQ(join({"x", "y"}, ", "), "x, y");
}

}  // namespace
}  // namespace verbatim
