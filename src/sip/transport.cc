#include "sip/transport.h"

#include <boost/asio/ip/address.hpp>

#include <charconv>

#include "common/strings.h"

namespace verbatim::sip {

namespace asio = boost::asio;
using asio::ip::udp;

UdpTransport::UdpTransport(asio::io_context& io, Handler on_message, ParseOptions options)
    : socket_(io), on_message_(std::move(on_message)), options_(options) {
  options_.datagram = true;
}

Result<std::pair<asio::ip::address, uint16_t>> parse_listen_address(const std::string& host_port) {
  const size_t colon = host_port.rfind(':');
  if (colon == std::string::npos) {
    return make_error(ErrorCode::kInvalidArgument, "expected host:port, got '" + host_port + "'");
  }
  std::string host = host_port.substr(0, colon);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return make_error(ErrorCode::kInvalidArgument, "'" + host + "' is not an IP address");
  const std::string port_text = host_port.substr(colon + 1);
  unsigned port = 0;
  auto [p, perr] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || perr != std::errc() || p != port_text.data() + port_text.size() ||
      port > 65535) {
    return make_error(ErrorCode::kInvalidArgument, "invalid port in '" + host_port + "'");
  }
  return std::make_pair(address, static_cast<uint16_t>(port));
}

std::optional<Message> rejection_for(const Message& m, const Error& problem) {
  if (!m.is_request() || m.method() == "ACK" || problem.status == 0) return std::nullopt;
  if (!m.find(HeaderId::kVia) || !m.find(HeaderId::kFrom) || !m.find(HeaderId::kTo) ||
      !m.find(HeaderId::kCallId) || !m.find(HeaderId::kCSeq)) {
    return std::nullopt;
  }
  // Malformed fields are copied as they are: the response goes back to the source address.
  Message r = make_response(m, problem.status,
                            problem.status == 505   ? "Version Not Supported"
                            : problem.status == 513 ? "Message Too Large"
                                                    : "Bad Request");
  r.add_header("Warning", "399 verbatim \"" + problem.describe() + "\"");
  return r;
}

Result<udp::endpoint> UdpTransport::listen(const std::string& host_port) {
  auto parsed = parse_listen_address(host_port);
  if (!parsed) return parsed.error();
  const udp::endpoint ep(parsed.value().first, parsed.value().second);
  boost::system::error_code ec;
  socket_.open(ep.protocol(), ec);
  if (!ec) socket_.bind(ep, ec);
  if (ec)
    return make_error(ErrorCode::kIo, "cannot listen on UDP " + host_port + ": " + ec.message());
  receive();
  return socket_.local_endpoint();
}

void UdpTransport::close() {
  boost::system::error_code ec;
  socket_.close(ec);
}

void UdpTransport::receive() {
  socket_.async_receive_from(asio::buffer(buffer_), from_,
                             [this](boost::system::error_code ec, size_t n) {
                               if (ec == asio::error::operation_aborted || !socket_.is_open())
                                 return;
                               if (!ec) handle(std::string_view(buffer_.data(), n), from_);
                               receive();
                             });
}

void UdpTransport::handle(std::string_view datagram, const udp::endpoint& from) {
  ++stats_.received;
  // Keep-alives (RFC 5626 CRLF pings) are not messages.
  if (datagram.find_first_not_of("\r\n") == std::string_view::npos) return;
  Peer peer{"UDP", from.address().to_string(), from.port()};
  auto m = Message::parse(datagram, options_);
  if (!m) {
    ++stats_.dropped_unparseable;
    return;
  }
  if (!admit(m.value(), peer, stats_, [&](const Message& r) { send(r, peer); })) return;
  on_message_(std::move(m).value(), peer);
}

bool admit(Message& message, const Peer& from, TransportStats& stats,
           const std::function<void(const Message& rejection)>& answer) {
  if (auto v = validate(message); !v) {
    if (auto r = rejection_for(message, v.error())) {
      answer(*r);
      ++stats.rejected_invalid;
    } else {
      ++stats.dropped_unparseable;
    }
    return false;
  }
  if (message.is_request()) stamp_received(message, from);
  return true;
}

void UdpTransport::send(const Message& message, const Peer& to) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(to.address, ec);
  if (ec) return;
  const std::string bytes = message.serialize();
  socket_.send_to(asio::buffer(bytes), udp::endpoint(address, to.port), 0, ec);
  if (!ec) ++stats_.sent;
}

void stamp_received(Message& request, const Peer& from) {
  const Header* via = request.find(HeaderId::kVia);
  if (!via) return;
  auto vias = parse_via_list(via->value);
  if (!vias) return;
  const Via& top = vias.value().front();
  const bool wants_rport = top.param("rport").has_value();
  std::string host(top.host);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  // received= is ours to write: one the sender put in its own Via is never kept (it would let
  // a client claim another source address to anything reading the Via).
  const bool claims_received = top.param("received").has_value();
  if (!wants_rport && !claims_received && iequals(host, from.address)) return;
  // Rebuild the first entry of the field with received/rport; keep any further entries.
  const std::string_view value = via->value;
  const size_t comma = vias.value().size() > 1 ? value.find(',') : std::string_view::npos;
  std::string first(value.substr(0, comma));
  std::string rest = comma == std::string_view::npos ? "" : std::string(value.substr(comma));
  std::string out(top.protocol);
  out += "/" + std::string(top.version) + "/" + std::string(top.transport) + " " +
         std::string(top.host);
  if (top.port) out += ":" + std::to_string(*top.port);
  for (const auto& p : top.params) {
    if (iequals(p.name, "received") || iequals(p.name, "rport")) continue;
    out += ";" + std::string(p.name);
    if (p.value) out += "=" + std::string(*p.value);
  }
  const bool v6 = from.address.find(':') != std::string::npos;
  if (wants_rport || !iequals(host, from.address)) {
    out += ";received=" + (v6 ? "[" + from.address + "]" : from.address);
  }
  if (wants_rport) out += ";rport=" + std::to_string(from.port);
  request.replace_header(via, out + rest);
}

}  // namespace verbatim::sip
