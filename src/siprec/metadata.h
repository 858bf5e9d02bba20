// SIPREC recording metadata (RFC 7865, application/rs-metadata+xml): the recording session, its
// communication sessions, participants (AOR and name), streams (with the SDP label they are
// carried on), and who sends and receives which stream, with their times — parsed from what
// real recording clients send, not only from the RFC's examples:
//   - the RFC namespace (urn:ietf:params:xml:ns:recording:1), the same without ":1" (Metaswitch,
//     Oracle, Acme, Sonus), namespace prefixes (Sonus "tns:"), and the pre-RFC draft dialect
//     (urn:ietf:params:xml:ns:siprec, <recording_metadata> root, id=/session= attributes and
//     <send><id>..</id></send> inside <participant>: BroadWorks, Webex);
//   - element names in any case (<dataMode>, <datamode>), participant_id/stream_id/session_id
//     or id attributes, <nameID aor=..> or <aor>;
//   - anything else (vendor elements, <extensiondata>) is kept as XML text, never dropped.
// Damaged input (truncated or tag-stripped XML) gives an error naming the line; questionable
// but usable input gives problems alongside the result.
//
// Snapshots and updates (RFC 7865 §6): a "complete" document replaces what was known, a
// "partial" one adds or changes only the elements it names; merge() applies either.
// Threads and ownership: Metadata is a value that owns its strings; pure functions; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace verbatim::siprec {

struct MetadataProblem {
  uint32_t line = 0;  // in the XML text, 1-based (0: not tied to a line)
  std::string message;
};

struct NameId {
  std::string aor;   // as sent (often without a scheme: "7602922411")
  std::string name;  // display name, may be empty
};

struct Participant {
  std::string id;
  std::vector<NameId> names;
  std::vector<std::string> sessions;  // communication session ids it takes part in
  std::vector<std::string> send;      // stream ids it sends
  std::vector<std::string> recv;      // stream ids it receives
  std::string associate_time, disassociate_time;
  std::vector<std::string> extensions;  // other child elements, as XML
  bool streams_given = false;           // the document said which streams it sends/receives
};

struct Stream {
  std::string id;
  std::string session_id;
  std::string label;  // the SDP a=label of the m-line carrying it
  std::string mode;   // "separate" / "mixed" (draft dialect), empty if not given
  std::vector<std::string> extensions;
};

struct CommunicationSession {
  std::string id;
  std::string group_id;
  std::string start_time, stop_time;
  std::string associate_time, disassociate_time;  // of its recording (sessionrecordingassoc)
  std::vector<std::string> extensions;
  // RFC 7865 <sipSessionID>: the recorded call's RFC 7989 Session-ID ("local;remote=remote"), as
  // given (some clients give a Call-ID instead).
  std::vector<std::string> sip_session_ids;
};

struct Group {
  std::string id;
  std::string associate_time, disassociate_time;
  std::vector<std::string> extensions;
};

struct Metadata {
  enum class Dialect { kRfc7865, kDraft };
  Dialect dialect = Dialect::kRfc7865;
  std::string namespace_uri;
  std::string recording_id;  // draft <recording id>, or <recording id=> (Metaswitch)
  bool partial = false;      // dataMode "partial": an update, not a snapshot
  std::vector<Group> groups;
  std::vector<CommunicationSession> sessions;
  std::vector<Participant> participants;
  std::vector<Stream> streams;
  std::vector<std::string> extensions;  // <extensiondata> and unknown top-level elements, as XML
  // An element a recording client adds (ours: urn:verbatim:gateway:1), written by
  // serialize_metadata() inside an <extensiondata> after `extensions`, in the same document (no
  // fragment to build and parse back). parse_metadata() gives it back among `extensions`.
  struct ExtensionElement {
    std::string prefix, namespace_uri, name;                      // "vb", "urn:...", "call"
    std::vector<std::pair<std::string, std::string>> attributes;  // written in this order
  };
  std::vector<ExtensionElement> client_extensions;

  const Participant* participant(std::string_view id) const;
  const Stream* stream(std::string_view id) const;
  const Stream* stream_by_label(std::string_view label) const;
};

// Parses one metadata document. `problems` (when given) gets what is wrong but survivable:
// unknown namespace, references to streams or participants a complete snapshot does not
// define, empty ids, unknown dataMode values.
Result<Metadata> parse_metadata(std::string_view xml,
                                std::vector<MetadataProblem>* problems = nullptr);

// Applies `update` to what is known: a complete snapshot replaces it; a partial update adds
// new elements and changes the fields it carries on existing ones (by id).
void merge(Metadata& known, const Metadata& update);

// The RFC 7865 document for `m` (what a recording client sends: our gateway), in the RFC's
// namespace whatever dialect `m` was read in: group, sessions, participants with their names,
// streams with their labels, then the associations (session-recording, participant-session with
// times, participant-stream with send/recv); extensions are written back as they were kept
// (well-formed XML fragments; one that is not is left out rather than corrupting the document).
// parse_metadata() of the result gives `m` back.
std::string serialize_metadata(const Metadata& m);

nlohmann::json to_json(const Metadata& m);

// The participants as a user sees them: id, AOR and name (the first nameID), and the SDP labels
// of the streams they send and receive.
nlohmann::json participants_json(const Metadata& m);

}  // namespace verbatim::siprec
