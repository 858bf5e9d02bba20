#include "common/ids.h"

#include <gtest/gtest.h>

namespace verbatim {
namespace {

TEST(Ids, RandomGuidsAreV4AndDistinct) {
  RandomIdGenerator g;
  const std::string a = g.new_guid();
  EXPECT_TRUE(is_guid(a));
  EXPECT_EQ(a[14], '4');
  EXPECT_NE(a, g.new_guid());
}

TEST(Ids, SequentialIsDeterministic) {
  SequentialIdGenerator g(7);
  EXPECT_EQ(g.new_guid(), "00000007-0000-4000-8000-000000000001");
  EXPECT_EQ(g.new_guid(), "00000007-0000-4000-8000-000000000002");
  EXPECT_FALSE(is_guid("not-a-guid"));
}

}  // namespace
}  // namespace verbatim
