// The usages: what each SIP session of a call is for, and how it takes its events (gateway.h
// declares the kinds). A usage is chosen when the session is made (the caller's INVITE, our INVITE
// to a callee's registration, to a simultaneous-ring target, to a queue agent, to a recorder, to a
// transfer target) and may change once (a transfer target that answered becomes the party it
// replaced). Stateless: the state is the call's; one instance per kind, on the SIP thread.
#include <spdlog/spdlog.h>

#include "gateway/usages.h"

namespace verbatim::gateway {

// What every session that is (or may become) the callee shares: it is side B, and its hanging up
// is the callee's.
struct Gateway::CalleeSideUsage : Usage {
  std::optional<Side> party() const override { return Side::kB; }
  void ended(Gateway& g, Call& c, const SessionRef&, uint64_t session,
             std::string_view why) const override {
    party_ended(g, c, Side::kB, session, why);
  }
};

struct Gateway::CallerUsage final : Usage {
  std::optional<Side> party() const override { return Side::kA; }
  void ended(Gateway& g, Call& c, const SessionRef&, uint64_t session,
             std::string_view why) const override {
    party_ended(g, c, Side::kA, session, why);
  }
};

struct Gateway::CalleeForkUsage final : CalleeSideUsage {
  void progress(Gateway& g, Call& c, uint64_t, const sip::Message& response) const override {
    ringing(g, c, response);
  }
  // The first registration to answer is the callee: the other forks are cancelled and the call
  // is connected.
  void answered(Gateway& g, Call& c, const SessionRef&, uint64_t session,
                const sip::Message& response) const override {
    if (too_late(g, c, session)) return;
    auto answer = sip::parse_sdp(response.body());
    c.b = session;
    c.unanswered.cancel();
    for (uint64_t f : c.forks) {
      if (f == session) continue;
      g.sessions_.erase(f);
      g.hang_up(f);  // CANCEL
    }
    c.forks.clear();
    if (!answer) {
      g.end_call(c, "callee answered without usable SDP");
      return;
    }
    c.b_answer = std::move(answer).value();
    c.b_record_aware = !c.via_trunk && record_aware(response);
    g.connect(c);
  }
  // Forwarded by the callee's phone (3xx with a Contact the gateway can reach), or not answered.
  void failed(Gateway& g, Call& c, const SessionRef&, uint64_t session, int status,
              const sip::Message* response) const override {
    // Forwarded by the callee's phone (302 with a Contact the gateway can reach).
    if (status >= 300 && status < 400 && response && !c.b && c.state == Call::State::kCalling &&
        c.forwards.size() < kMaxRedirects && !c.simultaneous_forks.count(session)) {
      if (auto t = g.redirect_target(*response)) {
        g.forward(c, std::move(*t), status, "unconditional");
        return;
      }
    }
    fork_failed(g, c, session, status, response);
  }
};

struct Gateway::SimultaneousUsage final : CalleeSideUsage {
  void progress(Gateway& g, Call& c, uint64_t, const sip::Message& response) const override {
    ringing(g, c, response);
  }
  void answered(Gateway& g, Call& c, const SessionRef&, uint64_t session,
                const sip::Message& response) const override {
    if (!too_late(g, c, session)) g.simultaneous_answered(c, session, response);
  }
  void failed(Gateway& g, Call& c, const SessionRef&, uint64_t session, int status,
              const sip::Message* response) const override {
    fork_failed(g, c, session, status, response);
  }
};

struct Gateway::QueueAgentUsage final : CalleeSideUsage {
  // In conference mode the caller was answered at once: no ringing for it.
  void progress(Gateway& g, Call& c, uint64_t, const sip::Message& response) const override {
    if (!c.queue || !c.queue->caller_answered) ringing(g, c, response);
  }
  void answered(Gateway& g, Call& c, const SessionRef&, uint64_t session,
                const sip::Message& response) const override {
    g.queue_answered(c, session, response);
  }
  void failed(Gateway& g, Call& c, const SessionRef&, uint64_t session, int status,
              const sip::Message* response) const override {
    g.queue_failed(c, session, status, response);
  }
};

struct Gateway::RecorderLegUsage final : Usage {
  // The recorder's answer: each of its m-lines gets the copies of the relay stream and side it
  // was offered for (SRTP when it took our key).
  void answered(Gateway& g, Call& c, const SessionRef& ref, uint64_t session,
                const sip::Message& response) const override {
    Leg& l = *ref.leg;
    auto answer = sip::parse_sdp(response.body());
    if (!answer) {
      g.leg_gone(c, l, "recorder answered without usable SDP: " + answer.error().message);
      return;
    }
    for (size_t j = 0; j < answer.value().media.size() && j < l.lines.size(); ++j) {
      const auto& m = answer.value().media[j];
      auto target = media_target(answer.value(), m);
      if (m.port == 0 || !target) continue;
      const auto [relay, from] = l.lines[j];
      // SRTP when we offered it and the recorder accepted it (RTP/SAVP with a key of its own in
      // the answer); a recorder that answers plain RTP gets plain RTP, and the log says so.
      std::unique_ptr<media::SrtpSender> srtp;
      if (j < l.keys.size() && m.proto.find("SAVP") != std::string::npos && !m.cryptos().empty()) {
        auto key = media::parse_sdes_key(kRecorderSuite, l.keys[j]);
        auto sender = key ? media::SrtpSender::create(key.value())
                          : Result<std::unique_ptr<media::SrtpSender>>(key.error());
        if (!sender) {
          g.leg_gone(c, l, "SRTP towards the recorder: " + sender.error().message);
          return;
        }
        srtp = std::move(sender).value();
      } else if (j < l.keys.size()) {
        if (g.options_.require_srtp) {  // no downgrade: the copies would go in the clear
          g.leg_gone(c, l,
                     "the recorder answered our SRTP offer with plain RTP, and SRTP is required "
                     "(gateway.require_srtp)");
          return;
        }
        if (g.plain_recorders_.insert(l.uri).second) {
          spdlog::warn(
              "recorder {} answers SRTP offers with plain RTP: it gets plain RTP (logged "
              "once per endpoint)",
              l.uri);
        }
      }
      l.tap_ids.emplace_back(relay,
                             c.relays[relay]->add_tap(from, l.taps[j], *target, std::move(srtp)));
    }
    l.state = Leg::State::kUp;
    l.answered_ms = g.ms_since(l.started);
    if (c.pause) {  // it came during a pause: it starts paused too
      for (const auto& [relay, tap] : l.tap_ids) c.relays[relay]->pause_tap(tap, true);
      l.paused = true;
      g.tell_paused(c, l);
    }
    ++g.metrics_.recording_answered;
    spdlog::info("call {}: recorder {} ({}) recording after {} ms", c.call_id, l.instance, l.uri,
                 l.answered_ms);
    g.journal_up(session, c, "recorder");
    g.refresh_metadata(c);
    g.check_setup(c);
    g.check_transfer(c);
    g.check_agent(c);
    g.notify_recording(c);
  }
  void failed(Gateway& g, Call& c, const SessionRef& ref, uint64_t, int status,
              const sip::Message* response) const override {
    ref.leg->status = status;
    std::string why = "refused: " + std::to_string(status) + " " +
                      (response ? std::string(response->reason()) : std::string("no response"));
    // The recorder's own words (a Warning's text: "recording storage unavailable: ...").
    if (const sip::Header* w = response ? response->find(sip::HeaderId::kWarning) : nullptr) {
      const auto open = w->value.find('"'), close = w->value.rfind('"');
      if (open != std::string_view::npos && close > open) {
        why += " (" + std::string(w->value.substr(open + 1, close - open - 1)) + ")";
      }
    }
    // SRV failover: an endpoint named by host name whose target failed (no answer, or 5xx)
    // gets the next target of its SRV answer, for this recording session too.
    Leg& failed = *ref.leg;
    if ((status == 408 || status >= 500) && failed.state == Leg::State::kInviting &&
        g.resolver_->failed(failed.uri)) {
      Recording& r = *failed.recording;
      const size_t group = failed.group;
      for (const auto& [target, endpoints] : r.groups[group].sources) {
        for (const auto& e : endpoints) {
          if (e.uri != failed.uri) continue;
          const auto t = target;
          const auto endpoint = e;
          // The next target's session first, so the group is never seen with none in progress.
          g.start_leg(c, r, group, t, endpoint);
          g.leg_gone(c, failed, why + "; the next SRV target is tried");
          return;
        }
      }
    }
    g.leg_gone(c, failed, why);
  }
  void ended(Gateway& g, Call& c, const SessionRef& ref, uint64_t,
             std::string_view why) const override {
    g.leg_gone(c, *ref.leg, "recorder ended the session (" + std::string(why) + ")");
  }
};

struct Gateway::TransferTargetUsage final : Usage {
  void progress(Gateway& g, Call& c, uint64_t, const sip::Message& response) const override {
    if (c.transfer && c.transfer->transferor && response.status() == 180) {
      warn_on_error(g.ua_->notify_refer(c.transfer->transferor, 180, "Ringing"),
                    "NOTIFY to the transferor");
    }
  }
  void answered(Gateway& g, Call& c, const SessionRef&, uint64_t,
                const sip::Message& response) const override {
    g.complete_transfer(c, response);
  }
  void failed(Gateway& g, Call& c, const SessionRef&, uint64_t, int status,
              const sip::Message* response) const override {
    if (c.transfer) c.transfer->session = 0;
    g.transfer_failed(c, status >= 300 ? status : 500,
                      "the target answered " + std::to_string(status) + " " +
                          (response ? std::string(response->reason()) : std::string("nothing")));
  }
  void ended(Gateway& g, Call& c, const SessionRef&, uint64_t,
             std::string_view why) const override {
    g.end_call(c, "callee ended (" + std::string(why) + ")");
  }
};

const Gateway::Usages& Gateway::usages() {
  static const CallerUsage kCaller;
  static const CalleeForkUsage kCalleeFork;
  static const SimultaneousUsage kSimultaneous;
  static const QueueAgentUsage kQueueAgent;
  static const RecorderLegUsage kRecorderLeg;
  static const TransferTargetUsage kTransferTarget;
  static const Usages kUsages{&kCaller,     &kCalleeFork,  &kSimultaneous,
                              &kQueueAgent, &kRecorderLeg, &kTransferTarget};
  return kUsages;
}

}  // namespace verbatim::gateway
