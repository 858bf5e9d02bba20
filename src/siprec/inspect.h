// `verbatim siprec inspect`: what a captured SIPREC request (INVITE, re-INVITE or UPDATE from a
// recording client), or just its multipart body, asks a recording server to record — the
// recording session as JSON: whether it is a SIPREC request at all (RFC 7866 §6.2: +sip.src,
// Require: siprec, a metadata part), the body parts, every m-line (label, media, codecs,
// direction, SRTP, hold), the metadata (participants with AOR and name, streams, who sends
// and receives what, times, extension data), and the two joined: which participant is heard
// on which m-line.
//
// Findings come in two kinds. `problems` make the request unusable as it is (the SIP message
// or its SDP does not parse, it is not a SIPREC request, the metadata is not XML): exit 1.
// `warnings` are what a tolerant recorder works around and an operator should know (a
// metadata stream with no m-line, a participant referring to an undefined stream, vendor
// dialects): exit 0. Each names where it is (line, part, m-line, element).
// Threads and ownership: pure functions; any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace verbatim::siprec {

// NOLINTNEXTLINE(bugprone-exception-escape): nlohmann::json members move without throwing
struct InspectReport {
  std::vector<std::string> problems;
  std::vector<std::string> warnings;
  std::vector<std::string> notes;
  nlohmann::json session;  // the recording session as parsed
  bool valid() const { return problems.empty(); }
  nlohmann::json to_json() const;
};

InspectReport inspect(std::string_view bytes);

}  // namespace verbatim::siprec
