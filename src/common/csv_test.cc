#include "common/csv.h"

#include <gtest/gtest.h>

namespace verbatim {
namespace {

TEST(Csv, QuotesNewlinesAndLineNumbers) {
  auto rows = parse_csv("a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\n\n\"multi\nline\",z\n");
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows.value().size(), 3u);
  EXPECT_EQ(rows.value()[1].fields[0], "x, y");
  EXPECT_EQ(rows.value()[1].fields[1], "say \"hi\"");
  EXPECT_EQ(rows.value()[2].line, 4u);
  EXPECT_EQ(rows.value()[2].fields[0], "multi\nline");
}

TEST(Csv, EmptyFieldsKept) {
  auto rows = parse_csv("a,,c");
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows.value()[0].fields, (std::vector<std::string>{"a", "", "c"}));
}

TEST(Csv, UnterminatedQuoteNamesLine) {
  auto rows = parse_csv("a\nb,\"oops\n");
  ASSERT_FALSE(rows);
  EXPECT_NE(rows.error().message.find("line 2"), std::string::npos);
}

}  // namespace
}  // namespace verbatim
