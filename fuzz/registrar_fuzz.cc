// libFuzzer target: the gateway's registrar (gateway/registrar.h) on hostile requests — REGISTERs
// and INVITEs with any headers, Contacts, Expires values and Authorization answers, from a few
// sources so the brute-force limiter is exercised too. Never crashes, never grows without bound,
// and never registers anyone: no input can answer a digest challenge it never saw.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "gateway/registrar.h"
#include "sip/digest.h"
#include "sip/message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace verbatim;
  static gateway::Registrar registrar(
      {},
      [](std::string_view user, std::string_view realm, sip::DigestAlgorithm a) {
        return std::optional<std::string>(sip::digest_ha1(a, user, realm, "unguessable-secret"));
      },
      [](const std::string& domain) { return domain.size() % 3 != 0; });
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  auto m = sip::Message::parse(in);
  if (!m || !m.value().is_request()) return 0;
  const sip::Peer from{"UDP", size % 2 ? "192.0.2.1" : "192.0.2.2", 5060};
  if (m.value().method() == "REGISTER") {
    auto r = registrar.on_register(m.value(), from);
    if (r.status == 200 && !r.headers.empty()) std::abort();  // registered without credentials
  } else {
    auto a = registrar.authenticate(m.value(), from);
    if (a.ok()) std::abort();
  }
  return 0;
}
