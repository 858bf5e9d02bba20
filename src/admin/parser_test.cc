#include "admin/parser.h"

#include <gtest/gtest.h>

namespace verbatim::admin {
namespace {

TEST(Parser, PromptsContinuationsAndComments) {
  const Script s = parse_script(
      "PS C:\\> New-Thing -A 1 `\n"
      "   -B 'x' # trailing comment\n"
      "<# block\ncomment #>\n"
      ">> Get-Thing | select A, B | fl\n");
  ASSERT_TRUE(s.errors.empty()) << s.errors[0].message;
  ASSERT_EQ(s.statements.size(), 2u);
  EXPECT_EQ(s.statements[0].text, "New-Thing -A 1 -B 'x' # trailing comment");
  const auto& cmd = s.statements[0].pipeline.commands[0];
  EXPECT_EQ(cmd.name, "New-Thing");
  ASSERT_EQ(cmd.args.size(), 4u);
  EXPECT_TRUE(cmd.args[0].is_param);
  EXPECT_EQ(cmd.args[1].value->kind, Expr::Kind::kNumber);
  EXPECT_EQ(cmd.args[3].value->text, "x");
  EXPECT_EQ(s.statements[1].pipeline.commands.size(), 3u);
  EXPECT_EQ(s.statements[1].pipeline.commands[1].args[0].value->kind, Expr::Kind::kList);
}

TEST(Parser, NestedArraysParensMembersAndAssignments) {
  const Script s = parse_script(
      "$app = New-A -Id (Get-B x).ObjectId; Set-C -Apps @(New-D -P 1\n New-E), $app -Flag:$false");
  ASSERT_TRUE(s.errors.empty()) << s.errors[0].message;
  ASSERT_EQ(s.statements.size(), 2u);
  EXPECT_EQ(s.statements[0].assign, "app");
  const auto& id = s.statements[0].pipeline.commands[0].args[1].value;
  EXPECT_EQ(id->kind, Expr::Kind::kMember);
  EXPECT_EQ(id->text, "ObjectId");
  const auto& apps = s.statements[1].pipeline.commands[0].args[1].value;
  ASSERT_EQ(apps->kind, Expr::Kind::kList);
  EXPECT_EQ(apps->items[0]->kind, Expr::Kind::kArraySub);
  EXPECT_EQ(apps->items[0]->statements.size(), 2u);
  const auto& flag = s.statements[1].pipeline.commands[0].args[2];
  EXPECT_TRUE(flag.has_inline_value);
}

TEST(Parser, TypographicQuotesAndDashesFromWebPages) {
  const Script s = parse_script(
      "Grant-X \xE2\x80\x93Identity \xE2\x80\x9C"
      "A B\xE2\x80\x9D "
      "-Name \xE2\x80\x98"
      "it''s\xE2\x80\x99");
  ASSERT_TRUE(s.errors.empty()) << s.errors[0].message;
  const auto& args = s.statements[0].pipeline.commands[0].args;
  ASSERT_EQ(args.size(), 4u);
  EXPECT_TRUE(args[0].is_param);
  EXPECT_EQ(args[0].param, "Identity");
  EXPECT_EQ(args[1].value->text, "A B");
  EXPECT_EQ(args[3].value->text, "it's");
}

TEST(Parser, ErrorsCarryLineAndColumn) {
  Script s = parse_script("Get-A\nSet-B -X 'unterminated\n");
  ASSERT_EQ(s.errors.size(), 1u);
  EXPECT_EQ(s.errors[0].pos.line, 2u);
  EXPECT_EQ(s.errors[0].pos.column, 10u);
  s = parse_script("Set-B -X (Get-C\n");
  ASSERT_EQ(s.errors.size(), 1u);
  EXPECT_NE(s.errors[0].message.find("Missing closing ')'"), std::string::npos);
  s = parse_script("Get-A | ");
  ASSERT_EQ(s.errors.size(), 1u);
  s = parse_script("Get-A | ? { $_.X }");
  ASSERT_EQ(s.errors.size(), 1u);
  EXPECT_NE(s.errors[0].message.find("Script blocks"), std::string::npos);
}

TEST(Parser, DeepNestingIsRefusedNotOverflowed) {
  std::string deep = "Get-A ";
  for (int i = 0; i < 10000; ++i) deep += "(";
  const Script s = parse_script(deep);
  ASSERT_EQ(s.errors.size(), 1u);
  EXPECT_NE(s.errors[0].message.find("nested too deeply"), std::string::npos);
}

// Found by cmdlet_fuzz: a token no value can start with must fail, not loop forever.
TEST(Parser, StrayClosingBraceFailsInsteadOfLooping) {
  for (const char* text : {"Get-A }", "Get-A -X }", "}", "Get-A | }", "$x = }", "Get-A @(})"}) {
    SCOPED_TRACE(text);
    const Script s = parse_script(text);
    ASSERT_EQ(s.errors.size(), 1u);
  }
}

TEST(Parser, NumbersAndBarewords) {
  const Script s = parse_script("X -A 2 -B -3 -C 5069aae5-c451-4983-9e57-9455ced220b7 -D a@b.c");
  ASSERT_TRUE(s.errors.empty());
  const auto& a = s.statements[0].pipeline.commands[0].args;
  EXPECT_EQ(a[1].value->number, 2);
  EXPECT_EQ(a[3].value->number, -3);
  EXPECT_EQ(a[5].value->kind, Expr::Kind::kString);
  EXPECT_EQ(a[7].value->text, "a@b.c");
}

// The interactive shell asks for another line only when a statement is really open: a quote in
// a '#' comment is not one (`Get-CsOnlineUser # Bob's phone` used to wait forever).
TEST(Parser, InteractiveShellCommentWithAQuoteIsComplete) {
  EXPECT_FALSE(needs_more_input("Get-CsOnlineUser # Bob's phone\n"));
  EXPECT_FALSE(needs_more_input("Get-CsOnlineUser <# it's a block #>\n"));
  EXPECT_FALSE(needs_more_input("Get-CsOnlineUser # ends with a pipe |\n"));
  EXPECT_TRUE(needs_more_input("New-VbUser 'alice\n"));
  EXPECT_TRUE(needs_more_input("Get-CsOnlineUser `\n"));
  EXPECT_TRUE(needs_more_input("Get-CsOnlineUser |\n"));
  EXPECT_TRUE(needs_more_input("Get-VbGroup -Identity (Get-VbGroup\n"));
  EXPECT_TRUE(needs_more_input("Get-CsOnlineUser <# a block\n"));
  EXPECT_FALSE(needs_more_input("Get-CsOnlineUser\n"));
  EXPECT_FALSE(needs_more_input("Get-Bogus ')'\n"));
  EXPECT_FALSE(needs_more_input("\n"));
}

}  // namespace
}  // namespace verbatim::admin
