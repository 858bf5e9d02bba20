#include "common/cidr.h"

#include <gtest/gtest.h>

namespace verbatim {
namespace {

TEST(Cidr, AddressesInBlocksV4AndV6) {
  const std::vector<std::string> nets = {"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"};
  EXPECT_TRUE(address_in("10.1.2.3", nets));
  EXPECT_TRUE(address_in("192.0.2.7", nets));
  EXPECT_FALSE(address_in("192.0.2.8", nets));
  EXPECT_TRUE(address_in("2001:db8::1", nets));
  EXPECT_FALSE(address_in("2001:db9::1", nets));
  EXPECT_TRUE(address_in("::ffff:10.9.9.9", nets)) << "v4-mapped";
  EXPECT_FALSE(address_in("not an address", nets));
  EXPECT_TRUE(check_cidr("127.0.0.0/8"));
  EXPECT_TRUE(check_cidr("::1"));
  EXPECT_FALSE(check_cidr("10.0.0.0/33"));
  EXPECT_FALSE(check_cidr("example.com"));
}

}  // namespace
}  // namespace verbatim
