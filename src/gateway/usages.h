// The usages' common part: what the gateway's event handlers (responses.cc) and the places that
// make sessions need of them. Private to src/gateway/; the kinds and their handling are in
// usages.cc (gateway.h says what a usage is).
// Threads and ownership: usages are stateless singletons; they act on calls the Gateway owns, on
// its io_context thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/log.h"
#include "gateway/call_model.h"

namespace verbatim::gateway {

// A kind of session. Defaults: a session that does not care about an event ignores it.
struct Gateway::Usage {
  virtual ~Usage() = default;
  // The call's party this session is (A: the caller, B: the callee), once it is one; none for a
  // recorder leg or a transfer target still being called. Re-offers and REFERs come only from
  // parties.
  virtual std::optional<Side> party() const { return std::nullopt; }
  virtual void progress(Gateway&, Call&, uint64_t /*session*/, const sip::Message&) const {}
  virtual void answered(Gateway&, Call&, const SessionRef&, uint64_t /*session*/,
                        const sip::Message&) const {}
  virtual void failed(Gateway&, Call&, const SessionRef&, uint64_t /*session*/, int /*status*/,
                      const sip::Message*) const {}
  virtual void ended(Gateway&, Call&, const SessionRef&, uint64_t /*session*/,
                     std::string_view /*why*/) const {}

 protected:
  // A party hung up: the call ends with it, unless it is a transferor leaving its transfer to
  // go on.
  static void party_ended(Gateway& g, Call& c, Side side, uint64_t session, std::string_view why) {
    (side == Side::kA ? c.a : c.b) = 0;
    if (c.transfer && session == c.transfer->transferor) {
      c.transfer->transferor = 0;
      return;
    }
    g.end_call(c, std::string(side == Side::kA ? "caller" : "callee") + " ended (" +
                      std::string(why) + ")");
  }
  // One of our INVITEs towards the callee answered after another did (or with the caller gone):
  // it is hung up. True when that was the case.
  static bool too_late(Gateway& g, Call& c, uint64_t session) {
    if (!c.b && c.a) return false;
    g.sessions_.erase(session);
    g.hang_up(session);
    return true;
  }
  // 180/183 from the callee's side: the caller hears ringing.
  static void ringing(Gateway& g, Call& c, const sip::Message& response) {
    if (c.a && (response.status() == 180 || response.status() == 183)) {
      warn_on_error(g.ua_->ring(c.a), "180 Ringing");
    }
  }
  // A fork of the callee failed: when none is left and nobody answered, the caller gets the
  // best status any of them gave.
  static void fork_failed(Gateway& g, Call& c, uint64_t session, int status,
                          const sip::Message* response) {
    std::erase(c.forks, session);
    const int final = status >= 300 ? status : 500;
    if (better_status(final, c.best_status)) {
      c.best_status = final;
      c.best_reason = response ? std::string(response->reason()) : "Request Timeout";
    }
    if (!c.forks.empty() || c.b) return;
    g.reject_caller(c, c.best_status, c.best_reason, {},
                    "callee: " + std::to_string(c.best_status));
  }
};

// One instance of each kind (usages.cc).
struct Gateway::Usages {
  const Usage* caller;
  const Usage* callee_fork;
  const Usage* simultaneous;
  const Usage* queue_agent;
  const Usage* recorder_leg;
  const Usage* transfer_target;
};

}  // namespace verbatim::gateway
