#include "sip/sdp.h"

#include <charconv>

#include "common/strings.h"

namespace verbatim::sip {

namespace {

Error bad(size_t line, const std::string& why) {
  return make_error(ErrorCode::kInvalidArgument, "SDP line " + std::to_string(line) + ": " + why);
}

std::vector<std::string_view> fields(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    const size_t start = i;
    while (i < s.size() && s[i] != ' ') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

bool to_int(std::string_view s, int& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

Result<SdpConnection> connection(size_t line, std::string_view v) {
  const auto f = fields(v);
  if (f.size() != 3) return bad(line, "c= needs 'IN IP4|IP6 address'");
  SdpConnection c{std::string(f[0]), std::string(f[1]), std::string(f[2])};
  if (c.addr_type != "IP4" && c.addr_type != "IP6") {
    return bad(line, "unknown address type " + c.addr_type);
  }
  return c;
}

SdpAttribute attribute(std::string_view v) {
  const size_t colon = v.find(':');
  if (colon == std::string_view::npos) return {std::string(v), std::nullopt};
  return {std::string(v.substr(0, colon)), std::string(v.substr(colon + 1))};
}

std::optional<std::string> find_attr(const std::vector<SdpAttribute>& attrs,
                                     std::string_view name) {
  for (const auto& a : attrs) {
    if (a.name == name) return a.value.value_or("");
  }
  return std::nullopt;
}

std::optional<Direction> direction_of(const std::vector<SdpAttribute>& attrs) {
  for (const auto& a : attrs) {
    if (a.name == "sendrecv") return Direction::kSendRecv;
    if (a.name == "sendonly") return Direction::kSendOnly;
    if (a.name == "recvonly") return Direction::kRecvOnly;
    if (a.name == "inactive") return Direction::kInactive;
  }
  return std::nullopt;
}

struct StaticType {
  int pt;
  const char* name;
  int rate;
};
constexpr StaticType kStatic[] = {{0, "PCMU", 8000},  {3, "GSM", 8000},   {4, "G723", 8000},
                                  {8, "PCMA", 8000},  {9, "G722", 8000},  {13, "CN", 8000},
                                  {18, "G729", 8000}, {34, "H263", 90000}};

void put_attrs(std::string& out, const std::vector<SdpAttribute>& attrs) {
  for (const auto& a : attrs) {
    out += "a=" + a.name;
    if (a.value) out += ":" + *a.value;
    out += "\r\n";
  }
}

std::string conn_text(const SdpConnection& c) {
  return c.net_type + " " + c.addr_type + " " + c.address;
}

}  // namespace

std::string_view direction_name(Direction d) {
  switch (d) {
    case Direction::kSendRecv:
      return "sendrecv";
    case Direction::kSendOnly:
      return "sendonly";
    case Direction::kRecvOnly:
      return "recvonly";
    case Direction::kInactive:
      return "inactive";
  }
  return "sendrecv";
}

std::optional<std::string> SdpMedia::attribute(std::string_view name) const {
  return find_attr(attributes, name);
}
bool SdpMedia::has_attribute(std::string_view name) const { return attribute(name).has_value(); }

Direction SdpMedia::direction(Direction session_default) const {
  return direction_of(attributes).value_or(session_default);
}

void SdpMedia::set_direction(Direction d) {
  std::erase_if(attributes, [](const SdpAttribute& a) {
    return a.name == "sendrecv" || a.name == "sendonly" || a.name == "recvonly" ||
           a.name == "inactive";
  });
  attributes.push_back({std::string(direction_name(d)), std::nullopt});
}

std::vector<RtpMap> SdpMedia::rtpmaps() const {
  std::vector<RtpMap> out;
  for (const auto& a : attributes) {
    if (a.name != "rtpmap" || !a.value) continue;
    // "<pt> <encoding>/<clock>[/<channels>]"
    const std::string_view v = *a.value;
    const size_t sp = v.find(' ');
    if (sp == std::string_view::npos) continue;
    RtpMap m;
    if (!to_int(v.substr(0, sp), m.payload_type)) continue;
    const auto parts = split(std::string(v.substr(sp + 1)), '/');
    if (parts.size() < 2 || !to_int(parts[1], m.clock_rate)) continue;
    m.encoding = parts[0];
    if (parts.size() > 2 && !to_int(parts[2], m.channels)) continue;
    out.push_back(m);
  }
  return out;
}

std::optional<RtpMap> static_rtpmap(int payload_type) {
  for (const auto& s : kStatic) {
    if (s.pt == payload_type) return RtpMap{s.pt, s.name, s.rate, 1};
  }
  return std::nullopt;
}

std::optional<RtpMap> SdpMedia::rtpmap(int payload_type) const {
  for (const auto& m : rtpmaps()) {
    if (m.payload_type == payload_type) return m;
  }
  return static_rtpmap(payload_type);
}

std::optional<std::string> SdpMedia::fmtp(int payload_type) const {
  const std::string prefix = std::to_string(payload_type) + " ";
  for (const auto& a : attributes) {
    if (a.name == "fmtp" && a.value && a.value->rfind(prefix, 0) == 0) {
      return a.value->substr(prefix.size());
    }
  }
  return std::nullopt;
}

std::vector<SdesCrypto> SdpMedia::cryptos() const {
  std::vector<SdesCrypto> out;
  for (const auto& a : attributes) {
    if (a.name != "crypto" || !a.value) continue;
    const auto f = fields(*a.value);
    if (f.size() < 3 || f[2].rfind("inline:", 0) != 0) continue;
    SdesCrypto c;
    if (!to_int(f[0], c.tag)) continue;
    c.suite = std::string(f[1]);
    c.key_params = std::string(f[2].substr(7));
    for (size_t i = 3; i < f.size(); ++i) {
      if (!c.session_params.empty()) c.session_params += ' ';
      c.session_params += std::string(f[i]);
    }
    out.push_back(c);
  }
  return out;
}

Direction SessionDescription::direction() const {
  return direction_of(attributes).value_or(Direction::kSendRecv);
}

const SdpConnection* SessionDescription::connection_for(const SdpMedia& m) const {
  if (m.connection) return &*m.connection;
  return connection ? &*connection : nullptr;
}

bool SessionDescription::is_hold(const SdpMedia& m) const {
  const Direction d = m.direction(direction());
  if (d == Direction::kSendOnly || d == Direction::kInactive) return true;
  const SdpConnection* c = connection_for(m);
  return c && (c->address == "0.0.0.0" || c->address == "::");
}

Result<SessionDescription> parse_sdp(std::string_view text) {
  SessionDescription sdp;
  sdp.times.clear();
  size_t pos = 0;
  size_t line_no = 0;
  bool seen_v = false, seen_o = false, seen_s = false;
  SdpMedia* media = nullptr;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;  // tolerated (trailing blank lines)
    if (line.size() < 2 || line[1] != '=') return bad(line_no, "expected '<type>=<value>'");
    const char type = line[0];
    const std::string_view v = line.substr(2);
    if (!seen_v && type != 'v') return bad(line_no, "an SDP must start with v=0");
    switch (type) {
      case 'v':
        if (seen_v || v != "0") return bad(line_no, "v= must be 0 and appear once");
        seen_v = true;
        break;
      case 'o': {
        const auto f = fields(v);
        if (f.size() != 6) return bad(line_no, "o= needs 6 fields");
        sdp.origin = {std::string(f[0]), std::string(f[1]), std::string(f[2]),
                      std::string(f[3]), std::string(f[4]), std::string(f[5])};
        seen_o = true;
        break;
      }
      case 's':
        sdp.session_name = std::string(v);
        seen_s = true;
        break;
      case 'i':
        if (media) {
          media->title = std::string(v);
        } else {
          sdp.info = std::string(v);
        }
        break;
      case 'u':
        sdp.uri = std::string(v);
        break;
      case 'e':
        sdp.emails.emplace_back(v);
        break;
      case 'p':
        sdp.phones.emplace_back(v);
        break;
      case 'c': {
        auto c = connection(line_no, v);
        if (!c) return c.error();
        if (media) {
          media->connection = c.value();
        } else {
          sdp.connection = c.value();
        }
        break;
      }
      case 'b':
        if (media) {
          media->bandwidths.emplace_back(v);
        } else {
          sdp.bandwidths.emplace_back(v);
        }
        break;
      case 't':
        if (media) return bad(line_no, "t= after the first m=");
        sdp.times.emplace_back(v);
        break;
      case 'r':
        if (sdp.times.empty()) return bad(line_no, "r= without t=");
        sdp.times.back() += "\nr=" + std::string(v);
        break;
      case 'z':
        sdp.zone = std::string(v);
        break;
      case 'k':
        if (media) {
          media->key = std::string(v);
        } else {
          sdp.key = std::string(v);
        }
        break;
      case 'a':
        if (v.empty()) return bad(line_no, "empty attribute");
        if (media) {
          media->attributes.push_back(attribute(v));
        } else {
          sdp.attributes.push_back(attribute(v));
        }
        break;
      case 'm': {
        const auto f = fields(v);
        if (f.size() < 3) return bad(line_no, "m= needs '<media> <port> <proto> <fmt>...'");
        SdpMedia m;
        m.media = std::string(f[0]);
        std::string_view port = f[1];
        if (const size_t slash = port.find('/'); slash != std::string_view::npos) {
          int count = 0;
          if (!to_int(port.substr(slash + 1), count) || count < 1 || count > 65535) {
            return bad(line_no, "bad port count");
          }
          m.port_count = static_cast<uint16_t>(count);
          port = port.substr(0, slash);
        }
        int p = 0;
        if (!to_int(port, p) || p < 0 || p > 65535) {
          return bad(line_no, "bad port '" + std::string(port) + "'");
        }
        m.port = static_cast<uint16_t>(p);
        m.proto = std::string(f[2]);
        for (size_t i = 3; i < f.size(); ++i) m.formats.emplace_back(f[i]);
        if (m.formats.empty() && m.port != 0) return bad(line_no, "m= without formats");
        sdp.media.push_back(std::move(m));
        media = &sdp.media.back();
        break;
      }
      default:
        // RFC 8866 §5: unknown types are ignored (they could be extensions).
        break;
    }
  }
  if (!seen_v) return bad(line_no, "empty SDP");
  if (!seen_o) return bad(line_no, "no o= line");
  if (!seen_s) return bad(line_no, "no s= line");
  if (sdp.times.empty()) sdp.times.emplace_back("0 0");
  return sdp;
}

std::string serialize_sdp(const SessionDescription& sdp) {
  std::string out = "v=0\r\n";
  const auto& o = sdp.origin;
  out += "o=" + o.username + " " + o.session_id + " " + o.session_version + " " + o.net_type + " " +
         o.addr_type + " " + o.address + "\r\n";
  out += "s=" + sdp.session_name + "\r\n";
  if (sdp.info) out += "i=" + *sdp.info + "\r\n";
  if (sdp.uri) out += "u=" + *sdp.uri + "\r\n";
  for (const auto& e : sdp.emails) out += "e=" + e + "\r\n";
  for (const auto& p : sdp.phones) out += "p=" + p + "\r\n";
  if (sdp.connection) out += "c=" + conn_text(*sdp.connection) + "\r\n";
  for (const auto& b : sdp.bandwidths) out += "b=" + b + "\r\n";
  for (const auto& t : sdp.times) {
    std::string x = t;
    size_t nl = 0;
    while ((nl = x.find('\n', nl)) != std::string::npos) x.replace(nl, 1, "\r\n"), nl += 2;
    out += "t=" + x + "\r\n";
  }
  if (sdp.zone) out += "z=" + *sdp.zone + "\r\n";
  if (sdp.key) out += "k=" + *sdp.key + "\r\n";
  put_attrs(out, sdp.attributes);
  for (const auto& m : sdp.media) {
    out += "m=" + m.media + " " + std::to_string(m.port);
    if (m.port_count > 1) out += "/" + std::to_string(m.port_count);
    out += " " + m.proto;
    for (const auto& f : m.formats) out += " " + f;
    out += "\r\n";
    if (m.title) out += "i=" + *m.title + "\r\n";
    if (m.connection) out += "c=" + conn_text(*m.connection) + "\r\n";
    for (const auto& b : m.bandwidths) out += "b=" + b + "\r\n";
    if (m.key) out += "k=" + *m.key + "\r\n";
    put_attrs(out, m.attributes);
  }
  return out;
}

Result<SessionDescription> answer_recvonly(const SessionDescription& offer,
                                           const AnswerOptions& options) {
  if (options.address.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "the answer needs our media address");
  }
  SessionDescription a;
  const bool v6 = options.address.find(':') != std::string::npos;
  a.origin = {options.origin_user,
              std::to_string(options.session_id),
              std::to_string(options.session_id),
              "IN",
              v6 ? "IP6" : "IP4",
              options.address};
  a.session_name = "-";
  a.connection = SdpConnection{"IN", v6 ? "IP6" : "IP4", options.address};
  a.times = {"0 0"};
  for (size_t i = 0; i < offer.media.size(); ++i) {
    const SdpMedia& om = offer.media[i];
    SdpMedia am;
    am.media = om.media;
    am.proto = om.proto;
    if (auto label = om.label()) am.attributes.push_back({"label", *label});
    std::vector<std::string> chosen;
    std::vector<std::string> events;
    for (const auto& codec : options.codecs) {
      for (const auto& f : om.formats) {
        int pt = 0;
        if (!to_int(f, pt)) continue;
        auto map = om.rtpmap(pt);
        if (map && iequals(map->encoding, codec) &&
            std::find(chosen.begin(), chosen.end(), f) == chosen.end()) {
          chosen.push_back(f);
        }
      }
    }
    // Keep the offer's order among what we accept (RFC 3264 §6.1 lets the answerer choose
    // any subset; the offerer's preference stays visible).
    std::vector<std::string> ordered;
    for (const auto& f : om.formats) {
      if (std::find(chosen.begin(), chosen.end(), f) != chosen.end()) ordered.push_back(f);
      int pt = 0;
      if (to_int(f, pt)) {
        if (auto map = om.rtpmap(pt); map && iequals(map->encoding, "telephone-event")) {
          events.push_back(f);
        }
      }
    }
    const bool usable = om.port != 0 && !ordered.empty() && i < options.ports.size();
    if (!usable) {
      am.port = 0;
      am.formats = om.formats.empty() ? std::vector<std::string>{"0"} : om.formats;
      a.media.push_back(std::move(am));
      continue;
    }
    am.port = options.ports[i];
    am.formats = ordered;
    am.formats.insert(am.formats.end(), events.begin(), events.end());
    for (const auto& f : am.formats) {
      int pt = 0;
      (void)to_int(f, pt);
      if (auto map = om.rtpmap(pt)) {
        std::string v =
            std::to_string(pt) + " " + map->encoding + "/" + std::to_string(map->clock_rate);
        if (map->channels > 1) v += "/" + std::to_string(map->channels);
        am.attributes.push_back({"rtpmap", v});
      }
      if (auto fmtp = om.fmtp(pt))
        am.attributes.push_back({"fmtp", std::to_string(pt) + " " + *fmtp});
    }
    const Direction od = om.direction(offer.direction());
    am.set_direction(od == Direction::kSendRecv || od == Direction::kSendOnly
                         ? Direction::kRecvOnly
                         : Direction::kInactive);
    a.media.push_back(std::move(am));
  }
  return a;
}

std::optional<int> parse_payload_type(std::string_view f) {
  int v = -1;
  auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
  if (ec != std::errc() || end != f.data() + f.size() || v < 0 || v > 127) return std::nullopt;
  return v;
}

}  // namespace verbatim::sip
