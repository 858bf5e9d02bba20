// One-to-one chat between users: a page-mode SIP MESSAGE (RFC 3428) from an authenticated user to
// another user of the gateway, kept under both parties' policies before it is relayed.
//
//   - Who: the sender authenticates with digest, as for a call; the receiver is a user of the
//     directory (404 otherwise: chat goes between users), with at least one registration (480).
//     Only text is taken (415 otherwise), at most 16 KiB (413).
//   - Kept first: every recording application that the sender's or the receiver's policy names
//     keeps a conversation (the two users, one application) in a SIPREC session of its own, one
//     per ConcurrentInvitationCount instance and the pair, opened at the conversation's first
//     message (an offer with no m-line and metadata naming both users) and closed after
//     kChatIdle without a message. Each message goes there as message/cpim (sender, receiver,
//     time, text) in the session's dialog, and is relayed only once each application has kept
//     it (a recorder's 2xx), or has failed to.
//   - The policy's flags, as for a call: when an application whose invitation has
//     RequiredBeforeCallEstablishment cannot keep it (every endpoint refused or failed, or none
//     answered within recording_setup_timeout), the message is not relayed: the sender gets 480
//     with the Teams text in a Reason header and a Warning naming the application. A
//     non-required application never blocks: the message is relayed and counted unrecorded.
//   - Relayed to every registration of the receiver at once (each a MESSAGE from the sender's
//     address); the sender gets 200 once one phone takes it, the best failure when all refuse,
//     or 202 Accepted when none has answered within kRelayWait (delivery goes on).
#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/strings.h"
#include "gateway/call_model.h"
#include "sip/cpim.h"
#include "siprec/gateway_context.h"
#include "siprec/recording_offer.h"

namespace verbatim::gateway {

namespace {

// Conversations recorded at once (each holds a SIPREC session until it has been quiet for
// kChatIdle): a bound on what one gateway asks of its recorders.
constexpr size_t kMaxConversations = 10000;
// A conversation's recording sessions end after this long without a message.
constexpr auto kChatIdle = std::chrono::minutes(10);
// The sender gets 202 Accepted when no phone of the receiver has answered by then.
constexpr auto kRelayWait = std::chrono::seconds(8);

// The application, then the two addresses in order: the same conversation whoever writes.
std::string conversation_key(const std::string& application_id, const std::string& a,
                             const std::string& b) {
  std::string x = to_lower(a), y = to_lower(b);
  if (y < x) std::swap(x, y);
  return application_id + "\n" + x + "\n" + y;
}

std::string name_addr(const std::string& display, const std::string& aor) {
  return (display.empty() ? "" : quote(display) + " ") + "<" + aor + ">";
}

}  // namespace

void Gateway::direct_message(uint64_t txn, const sip::Message& request,
                             const std::string& identity) {
  auto refuse_chat = [&](int status, std::string_view reason, const std::string& why,
                         sip::HeaderList extra = {}) {
    ++metrics_.chat_refused;
    spdlog::info("chat: a MESSAGE to {} not relayed: {}", request.request_uri(), why);
    extra.push_back({"Warning", "399 verbatim " + quote(why)});
    warn_on_error(ua_->reply(txn, request, status, reason, extra), "answering a MESSAGE");
  };
  int max_forwards = 70;
  if (auto mf = request.max_forwards()) max_forwards = static_cast<int>(mf.value());
  if (max_forwards <= 0) {
    ++metrics_.loops_refused;
    refuse_chat(483, "Too Many Hops", "Max-Forwards reached 0");
    return;
  }
  auto ruri = sip::parse_uri(request.request_uri());
  if (!ruri) {
    refuse_chat(416, "Unsupported URI Scheme", "bad Request-URI");
    return;
  }
  const Target t = resolve(ruri.value());
  if (t.identity.empty() || t.queue || t.emergency) {
    refuse_chat(404, "Not Found",
                "chat is relayed between users of this gateway, and " +
                    std::string(request.request_uri()) + " is not one");
    return;
  }
  if (auto bad = chat_body_refusal(request)) {
    refuse_chat(bad->status, bad->reason, bad->why, bad->headers);
    return;
  }
  if (registrar_->bindings(t.identity).empty()) {
    refuse_chat(480, "Temporarily Unavailable", t.party.aor + " is not registered");
    return;
  }
  const uint64_t id = next_delivery_++;
  auto owned = std::make_unique<ChatDelivery>(*timers_);
  ChatDelivery& d = *owned;
  deliveries_[id] = std::move(owned);
  d.id = id;
  d.txn = txn;
  d.request = std::make_unique<sip::Message>(request.clone());
  d.identity = t.identity;
  d.max_forwards = std::min(max_forwards - 1, 70);
  d.from.aor = "sip:" + identity;
  if (auto f = request.from()) d.from.display = sip::unquote(f.value().display_name);
  if (auto u = policy_->user(d.from.aor); u && d.from.display.empty()) d.from.display = u->display;
  d.from.decision = policy_->decide(d.from.aor);
  d.from.user = d.from.decision.user;
  d.to = t.party;
  d.to.decision = policy_->decide(d.to.aor);
  d.to.user = d.to.decision.user;
  const sip::Header* ct = request.find(sip::HeaderId::kContentType);
  sip::CpimMessage cpim;
  cpim.from = name_addr(d.from.display, d.from.aor);
  cpim.to = name_addr(d.to.display, d.to.aor);
  cpim.date_time = format_iso8601_ms(wall_->now());
  cpim.content_type = ct ? std::string(ct->value) : "text/plain";
  cpim.body = std::string(request.body());
  d.text = sip::build_cpim(cpim);
  // Each application of either party's policy keeps the conversation. A new conversation waits
  // while kMaxConversations are open (each holds a session at a recorder).
  for (const Party* p : {&d.from, &d.to}) {
    if (!p->decision.record()) continue;
    for (const auto& inv : p->decision.policy->invitations) {
      const Party& other = p == &d.from ? d.to : d.from;
      if (chats_.size() >= kMaxConversations &&
          !chats_.contains(conversation_key(inv.recorder.application_id, p->aor, other.aor))) {
        deliveries_.erase(id);
        refuse_chat(503, "Service Unavailable",
                    std::to_string(kMaxConversations) + " chat conversations are being recorded",
                    {{"Retry-After", "30"}});
        return;
      }
    }
  }
  for (const Party* p : {&d.from, &d.to}) {
    if (!p->decision.record()) continue;
    const Party& other = p == &d.from ? d.to : d.from;
    for (const auto& inv : p->decision.policy->invitations) {
      ChatRecording& rec = chat_recording(*p, other, p == &d.from, inv);
      auto& k = d.keeping[rec.key];
      k.required = k.required || inv.required_before_call_establishment;
    }
  }
  for (auto& [key, k] : d.keeping) {
    ChatRecording& rec = *chats_.at(key);
    rec.last_used = timers_->now();
    rec.waiting.push_back(id);
    for (auto& l : rec.legs) {
      if (l->state == ChatLeg::State::kUp) keep_chat(d, rec, *l);
    }
    if (!rec.any_live()) {
      k.failed = true;
      k.why = rec.why_gone();
    }
  }
  if (!d.keeping.empty()) {
    d.deadline.start(options_.recording_setup_timeout, [this, id] {
      auto it = deliveries_.find(id);
      if (it == deliveries_.end()) return;
      for (auto& [key, k] : it->second->keeping) {
        if (k.kept || k.failed) continue;
        k.failed = true;
        k.why = "no recorder kept it within " +
                std::to_string(options_.recording_setup_timeout.count()) + " ms";
      }
      check_delivery(id);
    });
  }
  check_delivery(id);
}

// The conversation's recording by the application of `invitation`, with sessions being opened
// when it has none up or coming (its first message, or its recorders were lost since).
Gateway::ChatRecording& Gateway::chat_recording(const Party& recorded, const Party& other,
                                                bool recorded_sends,
                                                const policy::Invitation& invitation) {
  const std::string key =
      conversation_key(invitation.recorder.application_id, recorded.aor, other.aor);
  auto& slot = chats_[key];
  if (!slot) {
    slot = std::make_unique<ChatRecording>();
    slot->key = key;
    slot->conversation = "chat-" + random_hex(12);
    slot->last_used = timers_->now();
  }
  ChatRecording& rec = *slot;
  if (rec.any_live()) return rec;
  rec.application = invitation.recorder.display_name.empty() ? invitation.recorder.instance_upn
                                                             : invitation.recorder.display_name;
  rec.application_id = invitation.recorder.application_id;
  rec.policy = recorded.decision.policy;
  rec.recorded = recorded;
  rec.other = other;
  rec.recorded_sent_first = recorded_sends;
  rec.legs.clear();
  rec.spare.clear();
  const std::string region = recorded.user ? recorded.user->data_location : "";
  auto targets = usable(policy::endpoints_for_region(invitation.recorder, region));
  const size_t n = std::min<size_t>(std::max<uint32_t>(1, invitation.concurrent_invitation_count),
                                    targets.size());
  for (size_t i = 0; i < n; ++i) start_chat_leg(rec, invitation.recorder, targets[i]);
  rec.spare.emplace_back(invitation.recorder,
                         std::vector<policy::EndpointTarget>(
                             targets.begin() + static_cast<std::ptrdiff_t>(n), targets.end()));
  if (invitation.paired) {
    auto paired = usable(policy::endpoints_for_region(*invitation.paired, region));
    if (!paired.empty()) start_chat_leg(rec, *invitation.paired, paired[0]);
    if (!paired.empty()) paired.erase(paired.begin());
    rec.spare.emplace_back(*invitation.paired, std::move(paired));
  }
  spdlog::info("chat {}: {} and {} kept by {} (policy {} of {})", rec.conversation, recorded.aor,
               other.aor, rec.application, rec.policy->name, recorded.aor);
  return rec;
}

void Gateway::start_chat_leg(ChatRecording& rec, const policy::RecorderTarget& target,
                             const policy::EndpointTarget& endpoint) {
  auto leg = std::make_unique<ChatLeg>();
  ChatLeg& l = *leg;
  rec.legs.push_back(std::move(leg));
  l.instance = target.instance_upn;
  l.uri = endpoint.uri;
  ++metrics_.recording_invites;
  auto fail = [&](std::string why) {
    l.state = ChatLeg::State::kFailed;
    l.why = std::move(why);
    ++metrics_.recording_failed;
    spdlog::warn("chat {}: recorder {} ({}): {}", rec.conversation, l.instance, l.uri, l.why);
  };
  auto peer = resolver_->peer(endpoint.uri);
  if (!peer) {
    fail(resolver_->why(endpoint.uri));
    return;
  }
  siprec::RecordingOfferSpec spec;
  spec.origin_id = std::stoull(random_hex(7), nullptr, 16);
  spec.address = media_->address().to_string();
  spec.started_at = spec.now = format_iso8601(wall_->now());
  spec.observed = {rec.recorded.aor, rec.recorded.display};
  spec.peer = {rec.other.aor, rec.other.display};
  spec.observed_is_caller = rec.recorded_sent_first;
  spec.internal = true;
  spec.call_id = rec.conversation;
  spec.policy = rec.policy->name;
  spec.application_id = target.application_id;
  spec.instance = target.instance_upn;
  auto offer = siprec::build_recording_offer(spec);
  siprec::GatewayContext context{target.application_id, rec.policy->name, rec.conversation, {}};
  if (rec.recorded.user) context.groups = policy_->groups_of(rec.recorded.user->object_id);
  auto sid = invite_recorder(endpoint.uri, *peer, std::move(offer.content_type),
                             std::move(offer.body), context, {});
  if (!sid) {
    fail(sid.error().message);
    return;
  }
  l.session = sid.value();
  chat_legs_[l.session] = rec.key;
  ++metrics_.chat_recordings;
}

// Sends the message to one recorder of the conversation; its answer says whether it is kept.
void Gateway::keep_chat(ChatDelivery& d, ChatRecording& rec, ChatLeg& leg) {
  auto& k = d.keeping[rec.key];
  if (!k.sent_to.insert(leg.session).second) return;
  ++k.out;
  auto done = [this, id = d.id, key = rec.key, session = leg.session, uri = leg.uri](
                  int status, const sip::Message* response) {
    if (status == 481 || status == 408) {
      // The recorder has lost the session (or cannot be reached): the next message opens another.
      later([this, session, status] {
        chat_leg_gone(session, "a chat message was answered " + std::to_string(status), true);
      });
    }
    auto it = deliveries_.find(id);
    if (it == deliveries_.end()) return;
    auto& kk = it->second->keeping[key];
    --kk.out;
    if (status >= 200 && status < 300) {
      kk.kept = true;
    } else {
      kk.why = uri + " answered " + std::to_string(status) +
               (response ? " " + std::string(response->reason()) : std::string());
      auto rec_it = chats_.find(key);
      const bool more =
          rec_it != chats_.end() &&
          std::any_of(rec_it->second->legs.begin(), rec_it->second->legs.end(), [&](const auto& l) {
            return l->state == ChatLeg::State::kInviting ||
                   (l->state == ChatLeg::State::kUp && !kk.sent_to.contains(l->session));
          });
      if (!kk.kept && kk.out == 0 && !more) kk.failed = true;
    }
    check_delivery(id);
  };
  if (auto st = ua_->message(leg.session, "message/cpim", d.text, std::move(done)); !st) {
    --k.out;
    k.why = leg.uri + ": " + st.error().message;
  }
}

void Gateway::chat_leg_answered(uint64_t session) {
  auto where = chat_legs_.find(session);
  if (where == chat_legs_.end()) return;
  ChatRecording& rec = *chats_.at(where->second);
  for (auto& l : rec.legs) {
    if (l->session != session || l->state != ChatLeg::State::kInviting) continue;
    l->state = ChatLeg::State::kUp;
    ++metrics_.recording_answered;
    spdlog::info("chat {}: recorder {} ({}) answered", rec.conversation, l->instance, l->uri);
    const std::vector<uint64_t> waiting = rec.waiting;
    for (uint64_t id : waiting) {
      if (auto it = deliveries_.find(id); it != deliveries_.end()) keep_chat(*it->second, rec, *l);
    }
  }
}

void Gateway::chat_leg_gone(uint64_t session, const std::string& why, bool hang) {
  auto where = chat_legs_.find(session);
  if (where == chat_legs_.end()) return;
  const std::string key = where->second;
  chat_legs_.erase(where);
  if (hang) warn_on_error(ua_->hangup(session), "BYE to a chat's recorder");
  ChatRecording& rec = *chats_.at(key);
  for (size_t i = 0; i < rec.legs.size(); ++i) {
    ChatLeg& l = *rec.legs[i];
    if (l.session != session) continue;
    const bool before_answer = l.state == ChatLeg::State::kInviting;
    l.state = before_answer ? ChatLeg::State::kFailed : ChatLeg::State::kEnded;
    l.why = why;
    l.session = 0;
    spdlog::warn("chat {}: recorder {} ({}): {}", rec.conversation, l.instance, l.uri, why);
    if (!before_answer) break;
    ++metrics_.recording_failed;
    // Failover: the instance's next endpoint not yet tried.
    for (auto& [target, endpoints] : rec.spare) {
      if (target.instance_upn != l.instance || endpoints.empty()) continue;
      const policy::EndpointTarget next = endpoints.front();
      endpoints.erase(endpoints.begin());
      start_chat_leg(rec, target, next);  // may grow rec.legs: `l` is not used after this
      break;
    }
    break;
  }
  // Messages that were waiting on it fail when nothing else of the application can keep them.
  const std::vector<uint64_t> waiting = rec.waiting;
  for (uint64_t id : waiting) {
    auto it = deliveries_.find(id);
    if (it == deliveries_.end()) continue;
    auto& k = it->second->keeping[key];
    const bool more = std::any_of(rec.legs.begin(), rec.legs.end(), [&](const auto& l) {
      return l->state == ChatLeg::State::kInviting ||
             (l->state == ChatLeg::State::kUp && !k.sent_to.contains(l->session));
    });
    if (!k.kept && !more && k.out == 0) {
      k.failed = true;
      k.why = rec.why_gone();
    }
    // Those sent to a leg that came up since get there now.
    for (auto& l : rec.legs) {
      if (l->state == ChatLeg::State::kUp) keep_chat(*it->second, rec, *l);
    }
    check_delivery(id);
  }
}

// Once each application has kept the message or failed to: refused (a required one failed) or
// relayed.
void Gateway::check_delivery(uint64_t id) {
  auto it = deliveries_.find(id);
  if (it == deliveries_.end()) return;
  ChatDelivery& d = *it->second;
  if (d.relaying) return;
  for (const auto& [key, k] : d.keeping) {
    if (!k.kept && !k.failed) return;
  }
  d.deadline.cancel();
  std::string refused_by, why;
  for (const auto& [key, k] : d.keeping) {
    auto rec = chats_.find(key);
    if (rec == chats_.end()) continue;
    std::erase(rec->second->waiting, id);
    if (k.kept) continue;
    if (k.required) {
      refused_by = rec->second->application;
      why = k.why;
      continue;
    }
    ++metrics_.chat_unrecorded;
    spdlog::error("chat {}: NOT RECORDED: a message from {} to {} under policy {} by {}: {}",
                  rec->second->conversation, d.from.aor, d.to.aor, rec->second->policy->name,
                  rec->second->application, k.why);
  }
  if (!refused_by.empty()) {
    ++metrics_.chat_refused;
    spdlog::warn("chat: a message from {} to {} refused: {} could not keep it: {}", d.from.aor,
                 d.to.aor, refused_by, why);
    answer_chat(d, 480, "Temporarily Unavailable",
                {{"Reason", reason_header(480, kRecordingFailedText)},
                 {"Warning", "399 verbatim " + quote("the message was not sent: " + refused_by +
                                                     " could not keep it: " + why)}});
    deliveries_.erase(id);
    return;
  }
  relay_chat(d);
}

// To every registration of the receiver at once.
void Gateway::relay_chat(ChatDelivery& d) {
  d.relaying = true;
  const uint64_t id = d.id;
  auto bindings = registrar_->bindings(d.identity);
  if (bindings.empty()) {
    ++metrics_.chat_refused;
    answer_chat(d, 480, "Temporarily Unavailable",
                {{"Warning", "399 verbatim " + quote(d.to.aor + " is not registered")}});
    deliveries_.erase(id);
    return;
  }
  const sip::Header* ct = d.request->find(sip::HeaderId::kContentType);
  for (const auto& b : bindings) {
    sip::OutgoingMessage m;
    m.next_hop = b.source;
    m.request_uri = b.contact;
    m.from = name_addr(d.from.display, d.from.aor);
    m.to = "<" + d.to.aor + ">";
    m.content_type = ct ? std::string(ct->value) : "text/plain";
    m.body = std::string(d.request->body());
    m.max_forwards = d.max_forwards;
    auto done = [this, id](int status, const sip::Message* response) {
      auto it = deliveries_.find(id);
      if (it == deliveries_.end()) return;
      ChatDelivery& dd = *it->second;
      --dd.relays_out;
      if (status >= 200 && status < 300) {
        // 200 delivered, or 202 taken for later delivery: as the phone said.
        if (!dd.answered)
          answer_chat(dd, status == 202 ? 202 : 200, status == 202 ? "Accepted" : "OK");
      } else {
        // A phone's challenge or redirect is for us, not for the sender (whose credentials
        // are for this gateway): to the sender, the receiver is not reachable.
        const int s = status < 400 || status == 401 || status == 407 ? 480 : status;
        if (better_status(s, dd.best)) dd.best = s;
        if (response && dd.best == status) dd.best_reason = std::string(response->reason());
      }
      if (dd.relays_out > 0) return;
      if (!dd.answered) {
        // A phone that never answered: to the sender, the receiver is not reachable now.
        if (dd.best == 408 || dd.best == 480) {
          answer_chat(dd, 480, "Temporarily Unavailable",
                      {{"Warning",
                        "399 verbatim " +
                            quote(dd.to.aor + (dd.best == 408 ? "'s phones did not answer"
                                                              : "'s phones could not take it"))}});
        } else {
          answer_chat(dd, dd.best, dd.best_reason.empty() ? "Not Delivered" : dd.best_reason);
        }
      }
      deliveries_.erase(id);
    };
    if (auto st = ua_->send_message(std::move(m), std::move(done)); !st) {
      spdlog::warn("chat: a message to {} ({}) not sent: {}", d.to.aor, b.contact,
                   st.error().message);
      continue;
    }
    ++d.relays_out;
  }
  if (d.relays_out == 0) {
    answer_chat(d, 500, "Server Internal Error");
    deliveries_.erase(id);
    return;
  }
  ++metrics_.chat_messages;
  spdlog::info("chat: {} to {} ({} bytes) relayed to {} registrations, kept by {} applications",
               d.from.aor, d.to.aor, d.request->body().size(), d.relays_out, d.keeping.size());
  d.deadline.start(kRelayWait, [this, id] {
    auto it = deliveries_.find(id);
    if (it != deliveries_.end() && !it->second->answered) {
      answer_chat(*it->second, 202, "Accepted");
    }
  });
}

void Gateway::answer_chat(ChatDelivery& d, int status, std::string_view reason,
                          const sip::HeaderList& headers) {
  if (d.answered) return;
  d.answered = true;
  warn_on_error(ua_->reply(d.txn, *d.request, status, reason, headers), "answering a MESSAGE");
}

// Conversations quiet for kChatIdle end their recording sessions.
void Gateway::chat_tick() {
  const auto now = timers_->now();
  for (auto it = chats_.begin(); it != chats_.end();) {
    ChatRecording& rec = *it->second;
    if (!rec.waiting.empty() || now - rec.last_used < kChatIdle) {
      ++it;
      continue;
    }
    for (auto& l : rec.legs) {
      if (!l->session) continue;
      chat_legs_.erase(l->session);
      warn_on_error(ua_->hangup(l->session), "BYE to a chat's recorder");
      l->session = 0;
      l->state = ChatLeg::State::kEnded;
    }
    spdlog::info("chat {}: quiet for {} min, its recording sessions end", rec.conversation,
                 std::chrono::duration_cast<std::chrono::minutes>(kChatIdle).count());
    it = chats_.erase(it);
  }
}

void Gateway::end_chats() {
  for (auto& [id, d] : deliveries_) {
    answer_chat(*d, 503, "Service Unavailable", {{"Retry-After", "5"}});
  }
  deliveries_.clear();
  for (auto& [key, rec] : chats_) {
    for (auto& l : rec->legs) {
      if (l->session) warn_on_error(ua_->hangup(l->session), "BYE to a chat's recorder");
    }
  }
  chat_legs_.clear();
  chats_.clear();
}

}  // namespace verbatim::gateway
