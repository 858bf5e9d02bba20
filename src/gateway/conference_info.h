// The conference event package's document (RFC 4575, application/conference-info+xml): a
// meeting's roster as the members' phones and the web client show it. One <user> per member
// address, one <endpoint> per session of it; each endpoint's audio <media> with its status from
// the member's side (sendrecv; recvonly when muted by the organiser; sendonly or inactive on
// hold), and its camera's and screen share's <media> (type video; the screen share with the
// display text "screen share"); and, as an extension (urn:verbatim:gateway:1), whether the meeting
// and each member are recorded and who presents, so a visual client can show the indicator and the
// presenter. Always a full document (state="full", a version one higher than the last one the
// subscriber got). Pure functions; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace verbatim::gateway {

struct RosterEndpoint {
  std::string aor, display;
  uint64_t session = 0;   // names the endpoint (aor;session=N)
  std::string joined_at;  // ISO 8601
  std::string media_status = "sendrecv";
  // Its camera and screen share, when it has them (empty: none): their status likewise.
  std::string video_status, slides_status;
  bool presenting = false;  // its screen share is the one shown
  bool recorded = false;    // the member's own policy records them
};

struct Roster {
  std::string uri, subject;
  uint64_t version = 1;
  bool recorded = false;  // a recorder is in the meeting
  std::vector<RosterEndpoint> endpoints;
};

std::string conference_info(const Roster& roster);

}  // namespace verbatim::gateway
