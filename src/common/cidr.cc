#include "common/cidr.h"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>

namespace verbatim {

namespace ip = boost::asio::ip;

namespace {
bool contains(const ip::address& a, std::string_view cidr, bool* valid) {
  boost::system::error_code ec;
  const std::string text(cidr);
  *valid = false;
  if (text.find(':') != std::string::npos) {
    const auto net = text.find('/') == std::string::npos ? ip::make_network_v6(text + "/128", ec)
                                                         : ip::make_network_v6(text, ec);
    if (ec) return false;
    *valid = true;
    if (!a.is_v6()) return false;
    const auto bytes = a.to_v6().to_bytes();
    const auto base = net.network().to_bytes();
    const unsigned bits = net.prefix_length();
    for (unsigned i = 0; i < 16; ++i) {
      const unsigned take = bits > i * 8 ? std::min(8u, bits - i * 8) : 0u;
      const auto mask = static_cast<uint8_t>(take ? 0xff << (8 - take) : 0);
      if ((bytes[i] & mask) != (base[i] & mask)) return false;
    }
    return true;
  }
  const auto net = text.find('/') == std::string::npos ? ip::make_network_v4(text + "/32", ec)
                                                       : ip::make_network_v4(text, ec);
  if (ec) return false;
  *valid = true;
  if (!a.is_v4()) return false;
  const uint32_t mask = net.netmask().to_uint();
  return (a.to_v4().to_uint() & mask) == (net.network().to_uint() & mask);
}
}  // namespace

Status check_cidr(std::string_view cidr) {
  bool valid = false;
  (void)contains(ip::address_v4::loopback(), cidr, &valid);
  if (valid) return ok_status();
  return make_error(ErrorCode::kInvalidArgument,
                    "\"" + std::string(cidr) + "\" is not an IP address or a CIDR block");
}

bool address_in(std::string_view address, const std::vector<std::string>& cidrs) {
  boost::system::error_code ec;
  auto a = ip::make_address(std::string(address), ec);
  if (ec) return false;
  if (a.is_v6() && a.to_v6().is_v4_mapped()) a = ip::make_address_v4(ip::v4_mapped, a.to_v6());
  bool valid = false;
  for (const auto& c : cidrs) {
    if (contains(a, c, &valid)) return true;
  }
  return false;
}

}  // namespace verbatim
