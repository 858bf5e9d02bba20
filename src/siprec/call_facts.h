// What a recording's SIPREC metadata says about the call, for the catalog and search: who
// called whom, the direction, and the business data recording clients put in <extensiondata>.
// Recording clients say it in their own words, and each is read as it says it:
//   - ours (urn:verbatim:gateway:1, <vb:call observed=.. direction=..>): the observed participant
//     and the direction;
//   - Oracle/Acme and Avaya SBCs (apkt:callingParty true/false on each participant);
//   - BroadWorks and Webex (<callType><origCall>|<termCall>, callingPartyNumber,
//     calledPartyNumber);
//   - ours for a meeting (<vb:meeting>): no caller or callee, only members (its participants);
//   - anyone else: the first participant called the second (RFC 7865 gives no roles).
// Business data: every leaf element of an extension by its local name (<extTrackingID>,
// <apkt:ucid>), a header an SBC copied (<apkt:header label="X-Trade-Id"><value>) by its header
// name, and the attributes of an element without text (ours: applicationId, callId, ...).
// The call's RFC 7989 Session-ID (<sipSessionID>) is kept as given, and each of its UUIDs as
// "session-uuid": both ends keep theirs across transfers and forwards, so a shared UUID relates
// the legs of one call (search::related).
// Threads and ownership: pure functions over values; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "siprec/metadata.h"

namespace verbatim::siprec {

struct PartyFacts {
  std::string aor;   // as the metadata gives it
  std::string name;  // display name, may be empty
};

struct CallFacts {
  std::string direction;  // inbound | outbound (seen from the recorded party) | "" (not said)
  bool internal = false;  // between two users of one organisation (our gateway says so)
  std::optional<PartyFacts> origin;                       // who called
  std::optional<PartyFacts> dialed;                       // whom they called
  std::vector<std::pair<std::string, std::string>> data;  // (key, value), at most kMaxData
};
inline constexpr size_t kMaxData = 64;

CallFacts call_facts(const Metadata& m);
// The UUIDs of an RFC 7989 Session-ID ("ab30..86;remote=f81d..a1"), lower case, without the null
// UUID (the remote end not known yet); none when it is not of that form.
std::vector<std::string> session_uuids(std::string_view session_id);
// {"direction", "internal" (when true), "origin": {"aor", "name"}, "dialed": {...}}; empty members
// left out.
nlohmann::json call_json(const CallFacts& facts);

}  // namespace verbatim::siprec
