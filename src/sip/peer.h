// Where a SIP message goes to or came from: transport, address, port and, over TLS, the name the
// peer's certificate was verified for. A plain value shared by the transports (below) and the
// transaction layer (above), so neither includes the other.
// Threads and ownership: a value; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace verbatim::sip {

// Where a message goes to or came from.
struct Peer {
  Peer() = default;
  Peer(std::string transport_, std::string address_, uint16_t port_, std::string tls_name_ = {})
      : transport(std::move(transport_)),
        address(std::move(address_)),
        port(port_),
        tls_name(std::move(tls_name_)) {}
  std::string transport = "UDP";  // UDP | TCP | TLS | WS | WSS
  std::string address;            // IP address
  uint16_t port = 5060;
  // TLS: the name the peer's certificate was verified for. Connections we open: the server
  // name we checked (set it here to have it checked; empty: the address). Connections we accept:
  // the client certificate's first DNS name or common name, when it presented one that verified
  // against our CA (mutual TLS); empty otherwise.
  std::string tls_name;
  bool reliable() const { return transport != "UDP"; }
  // Whether the signalling is encrypted (SIP over TLS, or WebSocket over TLS).
  bool secure() const { return transport == "TLS" || transport == "WSS"; }
  // A browser's connection (RFC 7118): reached only on it, never re-targeted.
  bool websocket() const { return transport == "WS" || transport == "WSS"; }
};

}  // namespace verbatim::sip
