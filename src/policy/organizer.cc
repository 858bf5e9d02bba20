#include "policy/organizer.h"

namespace verbatim::policy {

Result<NewMeeting> with_organizer(const PolicyState& state, NewMeeting m) {
  const User* u = m.organizer.empty() ? nullptr : state.user_by_address(m.organizer);
  if (!u) {
    return make_error(ErrorCode::kInvalidArgument,
                      "organiser: no user " + (m.organizer.empty() ? "given" : m.organizer) +
                          " in the directory (New-VbUser makes one)");
  }
  m.organizer = u->user_principal_name;
  const std::string& address = u->sip_address.empty() ? u->user_principal_name : u->sip_address;
  if (const auto at = address.rfind('@'); at != std::string::npos) {
    m.domain = address.substr(at + 1);
  }
  return m;
}

}  // namespace verbatim::policy
