// Who may organise a meeting: a user of the directory. Their UPN names them in the meeting, and
// the domain of their SIP address (else of the UPN) is the meeting URI's (sip:meet-ID@domain),
// so the URI is one the tenant's gateway answers for. Used by `verbatim meeting create` and
// POST /api/v1/meetings alike.
#pragma once

#include <string>

#include "common/meetings.h"
#include "common/result.h"
#include "policy/state.h"

namespace verbatim::policy {

// `m` with its organiser as the directory names them (the UPN) and the URI's domain; an error
// naming the organiser when the directory has no such user.
Result<NewMeeting> with_organizer(const PolicyState& state, NewMeeting m);

}  // namespace verbatim::policy
