#include "siprec/request.h"

#include "common/strings.h"
#include "sip/header_values.h"
#include "sip/multipart.h"

namespace verbatim::siprec {

PartKind part_kind(std::string_view content_type) {
  auto mt = sip::parse_media_type(content_type);
  if (!mt) return PartKind::kOther;
  const std::string type =
      to_lower(std::string(mt.value().type)) + "/" + to_lower(std::string(mt.value().subtype));
  if (type == "application/sdp") return PartKind::kSdp;
  if (type == "application/rs-metadata+xml" || type == "application/rs-metadata") {
    return PartKind::kMetadata;
  }
  return PartKind::kOther;
}

Result<std::vector<BodyPart>> body_parts(std::string_view content_type, std::string_view body,
                                         bool* unterminated) {
  std::vector<BodyPart> parts;
  auto mt = sip::parse_media_type(content_type);
  if (mt && iequals(mt.value().type, "multipart")) {
    std::string boundary(mt.value().param("boundary").value_or(""));
    if (boundary.size() >= 2 && boundary.front() == '"')
      boundary = boundary.substr(1, boundary.size() - 2);
    auto ps = sip::parse_multipart(body, boundary, unterminated);
    if (!ps) return ps.error();
    for (const auto& p : ps.value()) {
      parts.push_back(BodyPart{std::string(p.content_type()),
                               std::string(p.header("Content-Disposition")), p.body});
    }
  } else if (!body.empty()) {
    parts.push_back(BodyPart{std::string(content_type), "", body});
  }
  return parts;
}

SrcMarker src_marker(const sip::Message& m) {
  auto contacts = m.contacts();
  if (!contacts || contacts.value().empty()) return SrcMarker::kNone;
  const auto& c = contacts.value().front();
  if (c.param("+sip.src")) return SrcMarker::kHeaderParam;
  if (c.uri.has_param("+sip.src")) return SrcMarker::kUriParam;
  if (c.param("src") || c.uri.has_param("src")) return SrcMarker::kDraft;
  return SrcMarker::kNone;
}

bool has_token(const sip::Message& m, sip::HeaderId id, std::string_view token) {
  auto t = m.tokens(id);
  if (!t) return false;
  for (auto v : t.value()) {
    if (iequals(v, token)) return true;
  }
  return false;
}

Result<SiprecBody> siprec_body(const sip::Message& request) {
  SiprecBody out;
  std::string_view content_type;
  if (const auto* ct = request.find(sip::HeaderId::kContentType)) content_type = ct->value;
  if (request.body().empty()) return out;
  if (content_type.empty()) content_type = "application/sdp";
  auto parts = body_parts(content_type, request.body());
  if (!parts) return make_error(ErrorCode::kInvalidArgument, "body: " + parts.error().message);
  for (const auto& p : parts.value()) {
    switch (part_kind(p.content_type)) {
      case PartKind::kSdp:
        if (!out.sdp) out.sdp = std::string(p.body);
        break;
      case PartKind::kMetadata:
        if (!out.metadata) out.metadata = std::string(p.body);
        break;
      case PartKind::kOther:
        break;
    }
  }
  return out;
}

bool is_siprec(const sip::Message& request, const SiprecBody& body) {
  return src_marker(request) != SrcMarker::kNone ||
         has_token(request, sip::HeaderId::kRequire, "siprec") || body.metadata.has_value();
}

}  // namespace verbatim::siprec
