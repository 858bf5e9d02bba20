// libFuzzer target: what the WebRTC media path parses before any key is agreed. The ICE-lite
// STUN checks (media/stun.h): any datagram is checked without crashing; one that passes carries
// a USERNAME that lies inside it, and what we answer to it reads back as the address we put in,
// under the same password. The peer's a=fingerprint (media/dtls_srtp.h): any text is taken or
// refused without crashing.
#include <cstdint>
#include <span>

#include "media/dtls_srtp.h"
#include "media/stun.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace verbatim::media;
  const std::span<const uint8_t> in(data, size);
  constexpr std::string_view kPassword = "VOkJxbRl1RmTxUk/WvJxBt";
  auto r = check_binding_request(in, kPassword);
  if (r) {
    if (r.value().username.size() > size) __builtin_trap();
    const boost::asio::ip::udp::endpoint from(boost::asio::ip::make_address("192.0.2.1"),
                                              static_cast<uint16_t>(size));
    if (mapped_address(binding_success(r.value().transaction, from, kPassword), kPassword) != from)
      __builtin_trap();
  } else {
    (void)stun_error_for(r.error());
  }
  (void)mapped_address(in, kPassword);
  static const auto identity = DtlsIdentity::generate().value();
  (void)DtlsSrtp::create(identity, DtlsSrtp::Role::kServer,
                         std::string(reinterpret_cast<const char*>(data), size));
  return 0;
}
