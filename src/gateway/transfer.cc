// Transfers: blind (REFER, RFC 3515) and attended (Replaces, RFC 3891), the target's own policy,
// and the transferor told how it went (NOTIFY).
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/strings.h"
#include "gateway/usages.h"
#include "sip/header_values.h"

namespace verbatim::gateway {

// --- transfers -------------------------------------------------------------------------------

// A party's REFER (blind transfer, RFC 3515): accepted (202) when the call is connected and the
// target is someone the gateway can reach; the rest happens after the 202 has gone.
bool Gateway::on_refer(uint64_t session, const sip::Message& refer) {
  if (room_sessions_.contains(session)) return meeting_refer(session, refer);
  auto it = sessions_.find(session);
  if (it == sessions_.end() || !it->second.usage->party()) return false;
  auto ci = calls_.find(it->second.call);
  if (ci == calls_.end()) return false;
  Call& c = *ci->second;
  const Side moving = *it->second.usage->party();
  auto decline = [&](const std::string& why) {
    spdlog::warn("call {}: transfer declined: {}", c.call_id, why);
    c.transfers.push_back({{"by", (moving == Side::kA ? c.caller : c.callee).aor},
                           {"outcome", "declined: " + why},
                           {"atMs", ms_since(c.started)}});
    return false;
  };
  if (c.state != Call::State::kConnected || c.removing) return decline("the call is not connected");
  if (c.transfer) return decline("a transfer is already in progress");
  if (c.emergency) return decline("emergency calls are not transferred");
  const sip::Header* h = refer.find(sip::HeaderId::kReferTo);
  auto na = h ? sip::parse_name_addr(h->value) : Result<sip::NameAddr>(Error{});
  if (!na) return decline("Refer-To does not parse");
  auto uri = sip::parse_uri(na.value().uri.text);
  if (!uri) return decline("Refer-To does not parse");
  // To a meeting's URI: the call escalates to that conference (adhoc_conference.cc).
  if (std::string meeting; meeting_uri(uri.value(), meeting) && uri.value().headers.empty()) {
    return refer_to_meeting(c, session, moving, meeting, std::string(na.value().uri.text));
  }
  auto tr = std::make_unique<Transfer>(*timers_);
  Target t;
  auto replaces = std::find_if(uri.value().headers.begin(), uri.value().headers.end(),
                               [](const auto& p) { return iequals(p.name, "Replaces"); });
  if (replaces != uri.value().headers.end()) {
    // Attended: the target is whoever the transferor's other call (the one Replaces names) is
    // with; the transferor must be a party of that call too.
    auto found = consultation(c, sip::unescape(replaces->value.value_or("")), moving);
    if (!found) return decline(found.error().message);
    Call& other_call = *found.value().first;
    const Side target_side = found.value().second;
    t.party = target_side == Side::kA ? other_call.caller : other_call.callee;
    t.identity = target_side == Side::kA ? "" : other_call.callee_identity;
    if (t.identity.empty() && istarts_with(t.party.aor, "sip:")) {
      t.identity = to_lower(t.party.aor.substr(4));
    }
    t.via_trunk =
        target_side == Side::kB ? other_call.via_trunk : t.party.aor.rfind("tel:", 0) == 0;
    tr->consultation = other_call.id;
    tr->replaced = target_side == Side::kA ? other_call.a : other_call.b;
  } else {
    t = resolve(uri.value());
  }
  if (t.party.aor.empty()) return decline("no user or number " + std::string(na.value().uri.text));
  tr->moving = moving;
  tr->transferor = session;
  tr->by = (moving == Side::kA ? c.caller : c.callee).aor;
  tr->target = std::move(t);
  tr->target.party.side = moving;
  c.transfer = std::move(tr);
  later([this, id = c.id] { start_transfer(id); });
  return true;
}

// The call a Replaces value ("call-id;to-tag=..;from-tag=..", RFC 3891) names: one of the
// transferor's dialogs with the gateway in another connected call. Returns that call and the
// side of it the target is on (the other side from the transferor).
Result<std::pair<Gateway::Call*, Side>> Gateway::consultation(const Call& c,
                                                              const std::string& replaces,
                                                              Side moving) {
  const auto parts = split(replaces, ';');
  if (parts.empty() || trim(parts[0]).empty()) {
    return make_error(ErrorCode::kInvalidArgument, "Replaces without a Call-ID");
  }
  const std::string call_id(trim(parts[0]));
  std::set<std::string> tags;
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string_view part = parts[i];  // views into parts[i], not into a temporary
    const auto eq = part.find('=');
    if (eq == std::string_view::npos) continue;
    const auto name = trim(part.substr(0, eq));
    if (iequals(name, "to-tag") || iequals(name, "from-tag")) {
      tags.insert(std::string(trim(part.substr(eq + 1))));
    }
  }
  const std::string& transferor = (moving == Side::kA ? c.caller : c.callee).aor;
  for (auto& [id, other] : calls_) {
    if (id == c.id) continue;
    for (Side side : {Side::kA, Side::kB}) {
      const uint64_t session = side == Side::kA ? other->a : other->b;
      const sip::Dialog* d = session ? ua_->dialog(session) : nullptr;
      if (!d || d->call_id() != call_id || !tags.count(d->local_tag()) ||
          !tags.count(d->remote_tag())) {
        continue;
      }
      if ((side == Side::kA ? other->caller : other->callee).aor != transferor) {
        return make_error(ErrorCode::kFailedPrecondition,
                          "Replaces names a call the transferor is not in");
      }
      if (other->state != Call::State::kConnected || other->transfer || other->removing) {
        return make_error(ErrorCode::kFailedPrecondition,
                          "the call Replaces names is not connected");
      }
      if (other->emergency) {
        return make_error(ErrorCode::kFailedPrecondition, "emergency calls are not transferred");
      }
      return std::pair{other.get(), ::verbatim::gateway::other(side)};
    }
  }
  return make_error(ErrorCode::kNotFound, "Replaces names no call through the gateway");
}

// The target is a new party: its own policy decides whether it is recorded (and its required
// recorders hold the transfer as they hold a new call).
void Gateway::start_transfer(uint64_t call_id) {
  auto ci = calls_.find(call_id);
  if (ci == calls_.end() || !ci->second->transfer) return;
  Call& c = *ci->second;
  Transfer& t = *c.transfer;
  spdlog::info("call {}: {} transfers the call to {}", c.call_id, t.by, t.target.party.aor);
  const size_t before = c.recordings.size();
  if (!t.target.emergency) decide(c, t.target.party);
  bool waiting = false;
  for (size_t i = before; i < c.recordings.size(); ++i) {
    c.recordings[i]->joined = false;
    for (const auto& g : c.recordings[i]->groups) waiting |= g.required_before;
  }
  if (waiting) {
    t.deadline.start(options_.recording_setup_timeout, [this, call_id] {
      auto it = calls_.find(call_id);
      if (it == calls_.end() || !it->second->transfer || it->second->transfer->calling) return;
      transfer_failed(*it->second, 480,
                      std::string(kRecordingFailedText) + ": no recorder answered within " +
                          std::to_string(options_.recording_setup_timeout.count()) + " ms");
    });
  }
  check_transfer(c);
}

void Gateway::check_transfer(Call& c) {
  if (!c.transfer || c.transfer->calling || c.state != Call::State::kConnected) return;
  for (const auto& r : c.recordings) {
    if (r->joined || r->left) continue;
    for (const auto& g : r->groups) {
      if (!g.required_before || g.any_up()) continue;
      if (g.all_gone()) {
        transfer_failed(c, 480,
                        std::string(kRecordingFailedText) + ": every recorder of " + g.application +
                            " refused or failed");
      }
      return;
    }
  }
  c.transfer->deadline.cancel();
  place_target(c);
}

void Gateway::place_target(Call& c) {
  Transfer& t = *c.transfer;
  t.calling = true;
  const Side stays = other(t.moving);
  const Party& staying = stays == Side::kA ? c.caller : c.callee;
  if (t.consultation) {
    // Attended: the target's phone is re-INVITEd towards this call's ports.
    auto ci = calls_.find(t.consultation);
    if (ci == calls_.end() || ci->second->state != Call::State::kConnected ||
        (ci->second->a != t.replaced && ci->second->b != t.replaced)) {
      transfer_failed(c, 481, "the consultation call ended");
      return;
    }
    const sip::Peer* target = ua_->peer(t.replaced);
    auto sent = ua_->reinvite(
        t.replaced,
        sdp_for(c, stays == Side::kA ? c.a_offer : c.b_answer, t.moving, false,
                ci->second->origin_of(ci->second->a == t.replaced ? Side::kA : Side::kB),
                target && target->websocket()),
        [this, id = c.id, replaced = t.replaced](int status, const sip::Message* response) {
          auto it = calls_.find(id);
          if (it == calls_.end() || !it->second->transfer ||
              it->second->transfer->replaced != replaced) {
            return;
          }
          if (status >= 200 && status < 300 && response) {
            complete_transfer(*it->second, *response);
          } else {
            transfer_failed(*it->second, status >= 300 ? status : 500,
                            "the target answered the re-INVITE " + std::to_string(status));
          }
        });
    if (!sent) transfer_failed(c, 500, sent.error().message);
    return;
  }
  sip::OutgoingCall oc;
  oc.max_forwards = c.max_forwards;
  if (t.target.via_trunk) {
    oc.next_hop = trunk_peer();
    oc.request_uri = "sip:" + t.target.party.number + "@" + options_.trunk;
  } else {
    auto bindings = reachable(c, t.target.identity);
    if (bindings.empty()) {
      transfer_failed(c, 480, t.target.party.aor + " is not registered");
      return;
    }
    oc.next_hop = bindings[0].source;
    oc.request_uri = bindings[0].contact;
  }
  const bool browser = !t.target.via_trunk && oc.next_hop.websocket();
  oc.from = from_of(staying, t.target.via_trunk);
  oc.to = "<" + (t.target.via_trunk ? oc.request_uri : t.target.party.aor) + ">";
  oc.headers.emplace_back("Referred-By", "<" + t.by + ">");
  if (c.recorded()) {
    oc.headers.emplace_back(
        "Call-Info", "<urn:verbatim:recording>;purpose=recording;banner=" + quote(banner_for(c)));
  }
  oc.body = sdp_for(c, stays == Side::kA ? c.a_offer : c.b_answer, t.moving, false, 0, browser);
  auto sid = ua_->invite(std::move(oc));
  if (!sid) {
    transfer_failed(c, 500, sid.error().message);
    return;
  }
  t.session = sid.value();
  sessions_[t.session] = {c.id, usages().transfer_target, nullptr};
}

// The target answered: it takes the transferor's side. The transferor is told (NOTIFY 200) and
// hung up; its recordings end with it, unless its policy records rerouted calls
// (RecordReroutedCalls), which then go on, on its behalf.
void Gateway::complete_transfer(Call& c, const sip::Message& response) {
  if (!c.transfer) return;
  Transfer& t = *c.transfer;
  auto answer = sip::parse_sdp(response.body());
  if (!answer) {
    transfer_failed(c, 488, "the target answered without usable SDP: " + answer.error().message);
    return;
  }
  const Side moving = t.moving;
  if (t.transferor) {
    warn_on_error(ua_->notify_refer(t.transferor, 200, "OK"), "NOTIFY to the transferor");
    sessions_.erase(t.transferor);
    hang_up(t.transferor);
  }
  if (t.consultation) {
    // The target's dialog moves into this call; the consultation call ends without it (its
    // other party, the transferor, gets a BYE; its recordings end complete).
    t.session = t.replaced;
    if (auto ci = calls_.find(t.consultation); ci != calls_.end()) {
      Call& consult = *ci->second;
      c.origin[static_cast<size_t>(moving)] =
          consult.origin_of(consult.a == t.replaced ? Side::kA : Side::kB);
      (consult.a == t.replaced ? consult.a : consult.b) = 0;
      sessions_.erase(t.replaced);
      end_call(consult, "attended transfer: " + t.target.party.aor + " joined call " + c.call_id);
    }
  }
  (moving == Side::kA ? c.a : c.b) = t.session;
  sessions_[t.session] = {c.id, moving == Side::kA ? usages().caller : usages().callee_fork,
                          nullptr};
  journal_up(t.session, c, moving == Side::kA ? "caller" : "callee");
  apply_answer(c, moving, answer.value(), true);
  Party& slot = moving == Side::kA ? c.caller : c.callee;
  departs(c, slot, true, "the party transferred the call");
  slot = t.target.party;
  slot.side = moving;
  for (auto& r : c.recordings) {
    if (r->party != &t.target.party) continue;
    r->party = &slot;
    r->joined = true;
  }
  const bool aware = !t.target.via_trunk && record_aware(response);
  if (moving == Side::kA) {
    c.a_offer = std::move(answer).value();
    c.a_record_aware = aware;
  } else {
    c.b_answer = std::move(answer).value();
    c.b_record_aware = aware;
    c.via_trunk = t.target.via_trunk;
    c.callee_identity = t.target.identity;
  }
  c.transfers.push_back({{"by", t.by},
                         {"to", slot.aor},
                         {"recorded", slot.recorded},
                         {"attended", t.consultation != 0},
                         {"outcome", "completed"},
                         {"atMs", ms_since(c.started)},
                         {"tookMs", ms_since(t.started)}});
  spdlog::info("call {}: transferred to {}", c.call_id, slot.aor);
  c.notified[static_cast<size_t>(moving)] = false;
  c.transfer.reset();
  refresh_metadata(c);
  notify_recording(c);
}

// The transfer did not happen: the transferor is told (NOTIFY with the status) and the call
// goes on as it was; if the transferor has already hung up, the call ends.
void Gateway::transfer_failed(Call& c, int status, const std::string& why) {
  if (!c.transfer) return;
  Transfer& t = *c.transfer;
  spdlog::warn("call {}: transfer to {} failed: {}", c.call_id, t.target.party.aor, why);
  t.deadline.cancel();
  if (t.session) {
    sessions_.erase(t.session);
    hang_up(t.session);
    t.session = 0;
  }
  departs(c, t.target.party, false, "the transfer failed");
  c.transfers.push_back({{"by", t.by},
                         {"to", t.target.party.aor},
                         {"status", status},
                         {"outcome", "failed: " + why},
                         {"atMs", ms_since(c.started)}});
  const uint64_t transferor = t.transferor;
  c.transfer.reset();
  if (transferor) {
    warn_on_error(ua_->notify_refer(transferor, status,
                                    status == 480 ? "Temporarily Unavailable" : "Transfer Failed"),
                  "NOTIFY to the transferor");
  } else {
    end_call(c, "transfer failed after the transferor left: " + why);
  }
}

}  // namespace verbatim::gateway
