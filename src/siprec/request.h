// What makes a request a SIPREC request and where its parts are (RFC 7866 §6.1, §9.1): the
// +sip.src feature tag (and the forms vendors put it in), Require/Supported: siprec, and the
// SDP and application/rs-metadata+xml parts of a multipart/mixed body. Shared by the recorder
// and by `verbatim siprec inspect`.
// Threads and ownership: pure functions; results view into the request they came from.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "sip/message.h"

namespace verbatim::siprec {

enum class PartKind { kSdp, kMetadata, kOther };
PartKind part_kind(std::string_view content_type);

struct BodyPart {
  std::string content_type;
  std::string disposition;
  std::string_view body;  // a view into the body given to body_parts()
};

// The parts of a body: those of a multipart body (boundary from `content_type`), or the body as
// one part. `unterminated` (when given) says a multipart body ended without its close delimiter.
Result<std::vector<BodyPart>> body_parts(std::string_view content_type, std::string_view body,
                                         bool* unterminated = nullptr);

enum class SrcMarker {
  kNone,
  kHeaderParam,  // Contact: <sip:src@host>;+sip.src (RFC 7866)
  kUriParam,     // Contact: <sip:src@host;+sip.src> (Avaya)
  kDraft,        // Contact: ...;src (draft era)
};
SrcMarker src_marker(const sip::Message& m);

bool has_token(const sip::Message& m, sip::HeaderId id, std::string_view token);

// A request's SDP and metadata, for a recorder.
struct SiprecBody {
  std::optional<std::string> sdp;
  std::optional<std::string> metadata;  // XML
};
Result<SiprecBody> siprec_body(const sip::Message& request);

// RFC 7866 §6.2: a recording client marks its INVITE with +sip.src or Require: siprec, and sends
// metadata.
bool is_siprec(const sip::Message& request, const SiprecBody& body);

}  // namespace verbatim::siprec
