// The user agent's events: provisional and final responses to our INVITEs (callee forks, recorders,
// transfer targets, agents), re-offers, sessions ending; each is routed to what the session is in
// the call.
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "common/cidr.h"
#include "common/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/strings.h"
#include "gateway/call_model.h"
#include "media/audio.h"
#include "sip/header_values.h"
#include "siprec/gateway_context.h"
#include "siprec/metadata.h"

namespace verbatim::gateway {

// --- responses -------------------------------------------------------------------------------

void Gateway::on_progress(uint64_t session, const sip::Message& response) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  auto c = calls_.find(it->second.call);
  if (c == calls_.end()) return;
  if (it->second.role == Role::kTarget) {
    const auto& t = c->second->transfer;
    if (t && t->transferor && response.status() == 180) {
      warn_on_error(ua_->notify_refer(t->transferor, 180, "Ringing"), "NOTIFY to the transferor");
    }
    return;
  }
  if (it->second.role != Role::kCallee || !c->second->a) return;
  if (c->second->queue && c->second->queue->caller_answered) return;
  if (response.status() == 180 || response.status() == 183) {
    warn_on_error(ua_->ring(c->second->a), "180 Ringing");
  }
}

void Gateway::on_answered(uint64_t session, const sip::Message& response) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  auto ci = calls_.find(it->second.call);
  if (ci == calls_.end()) return;
  Call& c = *ci->second;
  auto answer = sip::parse_sdp(response.body());
  if (it->second.role == Role::kRecorder) {
    Leg& l = *it->second.leg;
    if (!answer) {
      leg_gone(c, l, "recorder answered without usable SDP: " + answer.error().message);
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
          leg_gone(c, l, "SRTP towards the recorder: " + sender.error().message);
          return;
        }
        srtp = std::move(sender).value();
      } else if (j < l.keys.size()) {
        if (options_.require_srtp) {  // no downgrade: the copies would go in the clear
          leg_gone(c, l,
                   "the recorder answered our SRTP offer with plain RTP, and SRTP is required "
                   "(gateway.require_srtp)");
          return;
        }
        if (plain_recorders_.insert(l.uri).second) {
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
    l.answered_ms = ms_since(l.started);
    ++metrics_.recording_answered;
    spdlog::info("call {}: recorder {} ({}) recording after {} ms", c.call_id, l.instance, l.uri,
                 l.answered_ms);
    journal_up(session, c, "recorder");
    refresh_metadata(c);
    check_setup(c);
    check_transfer(c);
    check_agent(c);
    notify_recording(c);
    return;
  }
  if (it->second.role == Role::kTarget) {
    complete_transfer(c, response);
    return;
  }
  if (it->second.role != Role::kCallee) return;
  if (c.queue) {
    queue_answered(c, session, response);
    return;
  }
  if (c.b || !c.a) {  // another registration answered first (or the caller is gone)
    sessions_.erase(session);
    hang_up(session);
    return;
  }
  if (c.simultaneous_forks.count(session)) {
    simultaneous_answered(c, session, response);
    return;
  }
  c.b = session;
  c.unanswered.cancel();
  for (uint64_t f : c.forks) {
    if (f == session) continue;
    sessions_.erase(f);
    hang_up(f);  // CANCEL
  }
  c.forks.clear();
  if (!answer) {
    end_call(c, "callee answered without usable SDP");
    return;
  }
  c.b_answer = std::move(answer).value();
  c.b_record_aware = !c.via_trunk && record_aware(response);
  connect(c);
}

// The callee (c.b, c.b_answer) answered and every recording it needs is in: the caller gets
// the answer and the call is connected.
void Gateway::connect(Call& c) {
  apply_answer(c, Side::kB, c.b_answer, false);
  if (!c.queue || !c.queue->caller_answered) {
    warn_on_error(ua_->accept(c.a, sdp_for(c, c.b_answer, Side::kA), indicator_headers(c)),
                  "200 OK");
    journal_up(c.a, c, "caller");
  }
  journal_up(c.b, c, "callee");
  c.state = Call::State::kConnected;
  c.connected_ms = ms_since(c.started);
  c.final_status = 200;
  ++metrics_.calls_connected;
  refresh_metadata(c);
  notify_recording(c);
}

// The media of an answer to our offer towards `side` (the callee, or a transfer's target):
// where that side is, and its SRTP key when the stream is SRTP (an answer without a key leaves
// that side plain RTP). `relatch`: a new party on that side, so the old one's port is forgotten.
void Gateway::apply_answer(Call& c, Side side, const sip::SessionDescription& answer,
                           bool relatch) {
  set_signalling(c, side, side == Side::kA ? c.a : c.b);
  for (size_t i = 0; i < answer.media.size() && i < c.relays.size(); ++i) {
    if (!c.relays[i]) continue;
    const auto& m = answer.media[i];
    if (auto t = media_target(answer, m)) c.relays[i]->set_remote(side, *t, relatch);
    if (!c.crypto[i].secure) continue;
    const auto ours = media::parse_sdes_key(
        c.crypto[i].suite, side == Side::kA ? c.crypto[i].our_a : c.crypto[i].our_b);
    for (const auto& cr : m.cryptos()) {
      auto k = media::parse_sdes_key(cr.suite, cr.key_params);
      if (k && ours && c.relays[i]->set_srtp(side, k.value(), ours.value())) break;
    }
  }
}

// Media from a party is also taken from where its SIP comes from (a NAT, a second interface).
void Gateway::set_signalling(Call& c, Side side, uint64_t session) {
  const sip::Peer* peer = session ? ua_->peer(session) : nullptr;
  if (!peer) return;
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(peer->address, ec);
  if (ec) return;
  for (auto& r : c.relays) {
    if (r) r->set_signalling(side, address);
  }
}

// Hangs up (BYE, or CANCEL before an answer) and crosses the dialog off the journal.
void Gateway::hang_up(uint64_t session, const sip::HeaderList& headers) {
  if (journal_) journal_->down(session);
  warn_on_error(ua_->hangup(session, headers), "hanging up");
}

// An established dialog goes into the journal (what a restarted gateway needs to end it).
void Gateway::journal_up(uint64_t session, const Call& c, const char* role) {
  if (!journal_) return;
  const sip::Dialog* d = ua_->dialog(session);
  const sip::Peer* peer = ua_->peer(session);
  if (!d || !peer) return;
  journal_->up(JournaledDialog{session, c.call_id, role, d->save(), *peer});
}

// A UA session that is over: its call (null when the call is already gone) and what it was;
// the session is forgotten.
Gateway::Call* Gateway::take_session(uint64_t session, SessionRef& ref) {
  if (journal_) journal_->down(session);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return nullptr;
  ref = it->second;
  sessions_.erase(it);
  auto ci = calls_.find(ref.call);
  return ci == calls_.end() ? nullptr : ci->second.get();
}

void Gateway::on_failed(uint64_t session, int status, const sip::Message* response) {
  SessionRef ref;
  Call* call = take_session(session, ref);
  if (!call) return;
  Call& c = *call;
  if (ref.role == Role::kRecorder) {
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
        resolver_->failed(failed.uri)) {
      Recording& r = *failed.recording;
      const size_t group = failed.group;
      for (const auto& [target, endpoints] : r.groups[group].sources) {
        for (const auto& e : endpoints) {
          if (e.uri != failed.uri) continue;
          const auto t = target;
          const auto endpoint = e;
          // The next target's session first, so the group is never seen with none in progress.
          start_leg(c, r, group, t, endpoint);
          leg_gone(c, failed, why + "; the next SRV target is tried");
          return;
        }
      }
    }
    leg_gone(c, failed, why);
    return;
  }
  if (ref.role == Role::kTarget) {
    if (c.transfer) c.transfer->session = 0;
    transfer_failed(c, status >= 300 ? status : 500,
                    "the target answered " + std::to_string(status) + " " +
                        (response ? std::string(response->reason()) : std::string("nothing")));
    return;
  }
  if (c.queue) {
    queue_failed(c, session, status, response);
    return;
  }
  // Forwarded by the callee's phone (302 with a Contact the gateway can reach).
  if (status >= 300 && status < 400 && response && !c.b && c.state == Call::State::kCalling &&
      c.forwards.size() < kMaxRedirects && !c.simultaneous_forks.count(session)) {
    if (auto t = redirect_target(*response)) {
      forward(c, std::move(*t), status, "unconditional");
      return;
    }
  }
  // The callee did not answer at any registration: the caller gets the best status.
  std::erase(c.forks, session);
  const int final = status >= 300 ? status : 500;
  if (better_status(final, c.best_status)) {
    c.best_status = final;
    c.best_reason = response ? std::string(response->reason()) : "Request Timeout";
  }
  if (!c.forks.empty() || c.b) return;
  reject_caller(c, c.best_status, c.best_reason, {}, "callee: " + std::to_string(c.best_status));
}

void Gateway::on_ended(uint64_t session, std::string_view why) {
  SessionRef ref;
  Call* call = take_session(session, ref);
  if (!call) return;
  Call& c = *call;
  if (ref.role == Role::kRecorder) {
    leg_gone(c, *ref.leg, "recorder ended the session (" + std::string(why) + ")");
    return;
  }
  if (ref.role == Role::kCaller) c.a = 0;
  if (ref.role == Role::kCallee) c.b = 0;
  // A transferor usually hangs up once its REFER is accepted: the transfer goes on.
  if (c.transfer && session == c.transfer->transferor) {
    c.transfer->transferor = 0;
    return;
  }
  end_call(c, std::string(ref.role == Role::kCaller ? "caller" : "callee") + " ended (" +
                  std::string(why) + ")");
}

Result<std::string> Gateway::on_reoffer(uint64_t session, const sip::Message& request) {
  auto it = sessions_.find(session);
  if (it == sessions_.end() || it->second.role == Role::kRecorder) {
    return sip::protocol_error(488, "not a call");
  }
  auto ci = calls_.find(it->second.call);
  if (ci == calls_.end()) return sip::protocol_error(481, "the call is over");
  Call& c = *ci->second;
  auto offer = sip::parse_sdp(request.body());
  if (!offer) return sip::protocol_error(488, offer.error().message);
  // Held, resumed or moved: the new address takes effect for this side; the answer mirrors
  // the direction (the other side is not asked: a hold means no packets to relay anyway).
  const Side side = it->second.role == Role::kCaller ? Side::kA : Side::kB;
  const auto& last = side == Side::kA && !c.b_answer.media.empty() ? c.b_answer : c.a_offer;
  sip::SessionDescription answer = last;
  for (size_t i = 0; i < offer.value().media.size() && i < c.relays.size(); ++i) {
    if (!c.relays[i]) continue;
    if (auto t = media_target(offer.value(), offer.value().media[i])) {
      c.relays[i]->set_remote(side, *t);
    }
    if (i < answer.media.size()) {
      answer.media[i].set_direction(
          mirror(offer.value().media[i].direction(offer.value().direction())));
    }
  }
  return sdp_for(c, answer, side);
}

}  // namespace verbatim::gateway
