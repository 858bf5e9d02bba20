// The SIP transaction layer (RFC 3261 §17, with RFC 6026's Accepted states): client and
// server transactions for INVITE and non-INVITE requests, every timer (A-K, L, M),
// retransmission over unreliable transports, 100 Trying, the ACK for non-2xx final responses,
// CANCEL matching, and merged-request detection (§8.2.2.2, answered with 482).
//
// It is a pure state machine: messages come in through on_message(), go out through the
// `send` callback, and time passes through a TimerService. Transports (UDP/TCP/TLS) sit below
// and the transaction user (a UA core, the recorder, the gateway) above; this class knows
// neither sockets nor clocks, so its tests run every timer path in virtual time.
// Not thread-safe: one io_context thread drives it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "sip/message.h"
#include "sip/peer.h"
#include "sip/timers.h"

namespace verbatim::sip {

struct TimerConfig {
  Millis t1{500};   // RTT estimate
  Millis t2{4000};  // maximum retransmit interval for non-INVITE requests and INVITE responses
  Millis t4{5000};  // maximum time a message stays in the network
};

enum class ClientOutcome {
  kProvisional,  // 1xx
  kFinal,        // 2xx-6xx (for INVITE, also every retransmitted 2xx: the dialog ACKs it)
  kTimeout,      // timer B or F: no final response (the TU treats it as 408)
};

using ClientHandler = std::function<void(ClientOutcome, const Message* response)>;

class TransactionLayer {
 public:
  struct Callbacks {
    // Hand a message to the transport.
    std::function<void(const Message&, const Peer&)> send;
    // A new request (never a retransmission, never the ACK of a non-2xx response). The TU
    // answers with respond(id, ...). CANCEL requests arrive here too, with `cancels` naming
    // the INVITE server transaction they match (0: none, answer 481).
    std::function<void(uint64_t id, const Message& request, const Peer& from, uint64_t cancels)>
        on_request;
    // An ACK for a 2xx, or a 2xx retransmission with no transaction left: end-to-end
    // traffic for the dialog layer.
    std::function<void(const Message&, const Peer& from)> on_stray;
    // A server transaction ended without its final response being acknowledged (timer H) or
    // without the TU answering: the TU can release what it holds for it.
    std::function<void(uint64_t id, std::string_view why)> on_server_failed;
  };

  TransactionLayer(TimerService& timers, Callbacks callbacks, TimerConfig config = {});
  ~TransactionLayer();

  // Starts a client transaction. The request's top Via must carry a branch starting with
  // z9hG4bK (new_branch()); its CSeq method must be the request's. ACK is not a transaction:
  // send it with send_stateless().
  Result<uint64_t> send_request(Message request, const Peer& to, ClientHandler handler);
  // Sends a request (an ACK for a 2xx) or response outside any transaction.
  void send_stateless(const Message& message, const Peer& to);

  // Sends a response in a server transaction (1xx any number of times, then one final).
  Status respond(uint64_t server_id, Message response);

  // Everything the transport received.
  void on_message(Message message, const Peer& from);

  size_t client_count() const { return clients_.size(); }
  size_t server_count() const { return servers_.size(); }

  // A fresh RFC 3261 branch ("z9hG4bK" + 24 random hex digits).
  static std::string new_branch();

 private:
  struct Client;
  struct Server;
  void on_response(Message response, const Peer& from);
  void on_request_received(Message request, const Peer& from);
  void client_retransmit(uint64_t id);
  void server_retransmit(uint64_t id);
  void finish_client(uint64_t id);
  void finish_server(uint64_t id);
  void timer(uint64_t& slot, Millis after, std::function<void()> fn);
  void cancel(uint64_t& slot);

  TimerService& timers_;
  Callbacks cb_;
  TimerConfig cfg_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Client>> clients_;
  std::unordered_map<uint64_t, std::unique_ptr<Server>> servers_;
  std::unordered_map<std::string, uint64_t> client_keys_;  // branch|method -> id
  std::unordered_map<std::string, uint64_t> server_keys_;  // branch|sent-by|method -> id
  std::unordered_map<std::string, uint64_t> merge_keys_;   // from-tag|call-id|cseq -> id
};

}  // namespace verbatim::sip
