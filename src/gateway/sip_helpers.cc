#include "gateway/sip_helpers.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "common/strings.h"
#include "gateway/registrar.h"
#include "policy/model.h"
#include "sip/header_values.h"

namespace verbatim::gateway::detail {

namespace asio = boost::asio;

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c != '\r' && c != '\n') out += c;
  }
  return out + "\"";
}

std::string reason_header(int cause, std::string_view text) {
  return "SIP;cause=" + std::to_string(cause) + ";text=" + quote(text);
}

std::optional<uint16_t> port_number(std::string_view s) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v == 0 || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

std::optional<sip::Peer> parse_peer(std::string_view host_port) {
  std::string host(host_port);
  std::optional<uint16_t> port = 5060;
  if (!host.empty() && host[0] == '[') {
    const size_t close = host.find(']');
    if (close == std::string::npos) return std::nullopt;
    if (close + 1 < host.size()) {
      if (host[close + 1] != ':') return std::nullopt;
      port = port_number(std::string_view(host).substr(close + 2));
    }
    host = host.substr(1, close - 1);
  } else if (auto colon = host.rfind(':'); colon != std::string::npos) {
    port = port_number(std::string_view(host).substr(colon + 1));
    host = host.substr(0, colon);
  }
  if (!port) return std::nullopt;
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  if (ec) return std::nullopt;
  return sip::Peer{"UDP", host, *port};
}

bool is_number(std::string_view s) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<udp::endpoint> media_target(const sip::SessionDescription& sdp,
                                          const sip::SdpMedia& m) {
  const sip::SdpConnection* c = sdp.connection_for(m);
  if (!c) return std::nullopt;
  std::string address = c->address.substr(0, c->address.find('/'));
  boost::system::error_code ec;
  auto a = asio::ip::make_address(address, ec);
  if (ec) return std::nullopt;
  return udp::endpoint(a, m.port);
}

bool record_aware(const sip::Message& m) {
  auto t = m.tokens(sip::HeaderId::kSupported);
  return t && std::any_of(t.value().begin(), t.value().end(),
                          [](std::string_view v) { return iequals(v, "record-aware"); });
}

sip::SessionDescription one_codec(sip::SessionDescription sdp) {
  for (auto& m : sdp.media) {
    std::set<std::string> keep;
    for (const auto& f : m.formats) {
      auto pt = sip::parse_payload_type(f);
      auto map = pt ? m.rtpmap(*pt) : std::nullopt;
      const bool dtmf = map && iequals(map->encoding, "telephone-event");
      if (dtmf || keep.empty()) keep.insert(f);
    }
    if (keep.empty()) continue;
    std::erase_if(m.formats, [&](const std::string& f) { return !keep.count(f); });
    std::erase_if(m.attributes, [&](const sip::SdpAttribute& a) {
      if ((a.name != "rtpmap" && a.name != "fmtp") || !a.value) return false;
      return !keep.count(a.value->substr(0, a.value->find(' ')));
    });
  }
  return sdp;
}

sip::Direction mirror(sip::Direction d) {
  switch (d) {
    case sip::Direction::kSendOnly:
      return sip::Direction::kRecvOnly;
    case sip::Direction::kRecvOnly:
      return sip::Direction::kSendOnly;
    default:
      return d;
  }
}

std::optional<ChatRefusal> chat_body_refusal(const sip::Message& request) {
  auto type = request.content_type();
  if (!type || !iequals(type.value().type, "text")) {
    return ChatRefusal{
        415, "Unsupported Media Type", "chat is text (text/plain)", {{"Accept", "text/plain"}}};
  }
  if (request.body().size() > kMaxChatBytes) {
    return ChatRefusal{413,
                       "Request Entity Too Large",
                       "a chat message is at most " + std::to_string(kMaxChatBytes) + " bytes",
                       {}};
  }
  return std::nullopt;
}

bool better_status(int candidate, int best) {
  if (best == 0) return true;
  if ((candidate >= 600) != (best >= 600)) return candidate >= 600;
  if ((candidate / 100 == 4) != (best / 100 == 4)) return candidate / 100 == 4;
  return candidate < best;
}

}  // namespace verbatim::gateway::detail
