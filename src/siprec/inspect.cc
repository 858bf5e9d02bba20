#include "siprec/inspect.h"

#include <optional>

#include "common/strings.h"
#include "sip/lint.h"
#include "sip/message.h"
#include "sip/multipart.h"
#include "sip/sdp.h"
#include "siprec/call_facts.h"
#include "siprec/metadata.h"
#include "siprec/request.h"

namespace verbatim::siprec {

using nlohmann::json;
namespace sip = verbatim::sip;

namespace {

// Text for JSON: control characters and invalid bytes would make the output unreadable.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u >= 0x7f ? '?' : c);
  }
  return out;
}

// A body without SIP headers (as some captures store it): the boundary is its first
// delimiter line.
std::optional<std::string> body_only_boundary(std::string_view bytes) {
  size_t i = bytes.find_first_not_of(" \t\r\n");
  if (i == std::string_view::npos || bytes.substr(i, 2) != "--") return std::nullopt;
  std::string_view line = bytes.substr(i + 2);
  line = line.substr(0, line.find('\n'));
  line = trim(line);
  if (line.empty()) return std::nullopt;
  return std::string(line);
}

json stream_json(const sip::SessionDescription& sdp, const sip::SdpMedia& m, size_t index) {
  json j = {
      {"index", index},         {"media", m.media},
      {"port", m.port},         {"proto", m.proto},
      {"label", nullptr},       {"direction", sip::direction_name(m.direction(sdp.direction()))},
      {"hold", sdp.is_hold(m)}, {"codecs", json::array()}};
  if (auto l = m.label()) j["label"] = *l;
  if (const auto* c = sdp.connection_for(m)) j["address"] = c->address;
  for (const auto& f : m.formats) {
    json c = {{"payloadType", f}};
    try {
      if (auto rm = m.rtpmap(std::stoi(f))) {
        c["name"] = rm->encoding;
        c["clockRate"] = rm->clock_rate;
        c["channels"] = rm->channels;
      }
    } catch (const std::exception&) {
      // a non-numeric format (not RTP): listed as it is
    }
    j["codecs"].push_back(c);
  }
  j["srtp"] = m.proto.find("SAVP") != std::string::npos || !m.cryptos().empty();
  return j;
}

}  // namespace

json InspectReport::to_json() const {
  json j = {{"valid", valid()}, {"problems", problems}, {"warnings", warnings}, {"notes", notes}};
  j["recordingSession"] = session;
  return j;
}

InspectReport inspect(std::string_view bytes) {
  InspectReport r;
  json& out = r.session;
  out = json::object();
  std::string data;
  std::string_view body;
  std::string content_type;
  std::optional<sip::Message> message;
  bool src_marker_found = false, require_siprec = false;

  if (auto boundary = body_only_boundary(bytes)) {
    body = bytes;
    content_type = "multipart/mixed;boundary=\"" + *boundary + "\"";
    r.notes.push_back("read as a multipart body without SIP headers (boundary " + *boundary + ")");
  } else {
    data = sip::read_capture(bytes, &r.notes);
    auto m = sip::Message::parse(data);
    if (!m) {
      r.problems.push_back("SIP message: " + m.error().describe());
      return r;
    }
    message = std::move(m).value();
    const sip::Message& msg = *message;
    if (!msg.is_request()) {
      r.problems.emplace_back("a response, not a request from a recording client");
      return r;
    }
    for (const auto& e : sip::problems(msg)) r.warnings.push_back("SIP message: " + e.describe());
    json req = {{"method", printable(msg.method())}, {"requestUri", printable(msg.request_uri())}};
    if (auto c = msg.call_id()) req["callId"] = printable(c.value());
    if (const auto* f = msg.find(sip::HeaderId::kFrom)) req["from"] = printable(f->value);
    if (const auto* t = msg.find(sip::HeaderId::kTo)) req["to"] = printable(t->value);
    require_siprec = has_token(msg, sip::HeaderId::kRequire, "siprec");
    const bool supported_siprec = has_token(msg, sip::HeaderId::kSupported, "siprec");
    switch (src_marker(msg)) {
      case SrcMarker::kHeaderParam:
        src_marker_found = true;
        break;
      case SrcMarker::kUriParam:
        src_marker_found = true;
        r.notes.emplace_back(
            "+sip.src is inside the Contact URI, not a header parameter (Avaya style)");
        break;
      case SrcMarker::kDraft:
        src_marker_found = true;
        r.notes.emplace_back(
            "Contact carries the draft-era ';src' feature tag instead of +sip.src");
        break;
      case SrcMarker::kNone:
        break;
    }
    req["siprec"] = {{"srcFeatureTag", src_marker_found},
                     {"requireSiprec", require_siprec},
                     {"supportedSiprec", supported_siprec}};
    out["request"] = req;
    body = msg.body();
    if (const auto* ct = msg.find(sip::HeaderId::kContentType)) content_type = ct->value;
  }

  // The parts.
  bool unterminated = false;
  auto split = body_parts(content_type, body, &unterminated);
  if (!split) {
    r.problems.push_back("multipart body: " + split.error().message);
    return r;
  }
  if (unterminated)
    r.warnings.emplace_back("multipart body: no close delimiter (the capture ends early)");
  const std::vector<BodyPart>& parts = split.value();
  out["parts"] = json::array();

  std::optional<sip::SessionDescription> sdp;
  std::optional<Metadata> metadata;
  for (size_t i = 0; i < parts.size(); ++i) {
    const BodyPart& p = parts[i];
    const std::string where =
        "part " + std::to_string(i + 1) + " (" + printable(p.content_type) + ")";
    json pj = {{"contentType", printable(p.content_type)}, {"bytes", p.body.size()}};
    if (!p.disposition.empty()) pj["disposition"] = printable(p.disposition);
    out["parts"].push_back(pj);
    switch (part_kind(p.content_type)) {
      case PartKind::kSdp: {
        auto s = sip::parse_sdp(p.body);
        if (!s) {
          r.problems.push_back(where + ": " + s.error().message);
        } else if (sdp) {
          r.warnings.push_back(where + ": a second SDP part is ignored");
        } else {
          sdp = std::move(s).value();
        }
        break;
      }
      case PartKind::kMetadata: {
        std::vector<MetadataProblem> found;
        auto md = parse_metadata(p.body, &found);
        if (!md) {
          r.warnings.push_back(where + ": " + md.error().message +
                               "; a recorder records the streams without knowing whose they are");
          break;
        }
        for (const auto& f : found) {
          r.warnings.push_back(where + (f.line ? " line " + std::to_string(f.line) : "") + ": " +
                               f.message);
        }
        if (md.value().dialect == Metadata::Dialect::kDraft) {
          r.notes.push_back(where + ": pre-RFC draft metadata (urn:ietf:params:xml:ns:siprec)");
        } else if (md.value().namespace_uri == "urn:ietf:params:xml:ns:recording") {
          r.notes.push_back(where + ": namespace without ':1' (read as RFC 7865)");
        }
        metadata = std::move(md).value();
        break;
      }
      case PartKind::kOther:
        r.notes.push_back(where + ": neither SDP nor recording metadata; kept as it is");
        break;
    }
  }

  if (message) {
    const bool invite = message->method() == "INVITE";
    if (invite && !src_marker_found && !require_siprec && !metadata) {
      r.problems.emplace_back(
          "not a SIPREC request: no +sip.src in Contact, no Require: siprec, no recording metadata "
          "(RFC 7866 §6.2); a recorder refuses it unless configured to take plain calls");
    } else if (invite && !src_marker_found) {
      r.warnings.emplace_back("no +sip.src feature tag in Contact (RFC 7866 §6.1.1)");
    }
    if (invite && !sdp && r.problems.empty()) {
      r.problems.emplace_back("an INVITE to a recorder needs an SDP offer; this one has none");
    }
  }

  // The streams, joined with the metadata by label.
  out["streams"] = json::array();
  if (sdp) {
    for (size_t i = 0; i < sdp->media.size(); ++i) {
      const auto& m = sdp->media[i];
      json sj = stream_json(*sdp, m, i + 1);
      if (!m.label()) {
        r.warnings.push_back("m-line " + std::to_string(i + 1) + " (" + m.media +
                             ") has no a=label: the metadata cannot say whose stream it is");
      } else if (metadata) {
        if (const Stream* st = metadata->stream_by_label(*m.label())) {
          sj["streamId"] = st->id;
          json senders = json::array(), receivers = json::array();
          for (const auto& p : metadata->participants) {
            for (const auto& id : p.send) {
              if (id == st->id) senders.push_back(p.id);
            }
            for (const auto& id : p.recv) {
              if (id == st->id) receivers.push_back(p.id);
            }
          }
          sj["sentBy"] = senders;
          sj["receivedBy"] = receivers;
        } else if (!metadata->partial) {
          r.warnings.push_back("m-line " + std::to_string(i + 1) + " (label " + *m.label() +
                               ") is not described in the metadata");
        }
      }
      out["streams"].push_back(sj);
    }
  }
  if (metadata) {
    if (sdp) {
      for (const auto& st : metadata->streams) {
        bool offered = false;
        for (const auto& m : sdp->media) offered |= m.label() && *m.label() == st.label;
        if (!offered && !st.label.empty()) {
          r.warnings.push_back("metadata stream " + st.id + " has label " + st.label +
                               ", which no m-line carries: it cannot be recorded");
        }
      }
    }
    out["metadata"] = to_json(*metadata);
    out["participants"] = participants_json(*metadata);
    // Our gateway's meeting sessions (siprec/meeting_offer.h) say which meeting they record.
    std::string meeting, subject;
    for (const auto& [key, value] : call_facts(*metadata).data) {
      if (key == "meetingId") meeting = value;
      if (key == "subject") subject = value;
    }
    if (!meeting.empty()) {
      out["meeting"] = {{"id", meeting}, {"subject", subject}};
      r.notes.push_back("a meeting's recording session (Verbatim gateway): meeting " + meeting +
                        "; each member's own audio on an m-line of its own, no mix");
    }
  }
  return r;
}

}  // namespace verbatim::siprec
