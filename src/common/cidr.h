// Address ranges: whether an IP address lies in one of a list of CIDR blocks ("10.0.0.0/8",
// "2001:db8::/32", or a bare address meaning just it). Used where the network says who a peer
// is (the recorder's allowed recording clients, the gateway's trunk). Pure functions.
// Threads and ownership: pure functions over values; any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace verbatim {

// An error naming the entry when `cidr` is not an address or a CIDR block.
Status check_cidr(std::string_view cidr);
// Whether `address` (an IP address, v4 or v6) is in any of `cidrs`; malformed entries match
// nothing.
bool address_in(std::string_view address, const std::vector<std::string>& cidrs);

}  // namespace verbatim
