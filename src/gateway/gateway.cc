// The gateway's wiring: construction, start and stop (transports, registrar, the UA and its
// callbacks, health checks, the journal of dialogs left by a previous run), the registrations file,
// and the status and metrics it reports each second.
#include "gateway/gateway.h"

#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/strings.h"
#include "gateway/call_model.h"
#include "sip/header_values.h"

namespace verbatim::gateway {

// --- set-up ----------------------------------------------------------------------------------

Gateway::Gateway(asio::io_context& io, policy::PolicyService& policy, GatewayOptions options)
    : Gateway(io, GatewaySeams{}, std::move(options)) {
  own_policy_ = std::make_unique<ServicePolicyView>(policy);
  policy_ = own_policy_.get();
}

Gateway::Gateway(asio::io_context& io, GatewaySeams seams, GatewayOptions options)
    : io_(io),
      options_(std::move(options)),
      own_timers_(seams.timers ? nullptr : std::make_unique<sip::AsioTimers>(io)),
      policy_(seams.policy),
      timers_(seams.timers ? seams.timers : own_timers_.get()),
      wall_(seams.wall ? seams.wall : &system_clock_),
      media_(seams.media),
      ua_(seams.signalling),
      prompts_(options_.prompt_dirs),
      tick_timer_(*timers_),
      control_timer_(*timers_),
      health_timer_(*timers_) {}

Gateway::~Gateway() {
  // A destructor never throws: Asio reports a failed cancel or close by exception, and there is
  // nothing left to do about it here.
  try {
    tick_timer_.cancel();
    control_timer_.cancel();
    health_timer_.cancel();
    for (auto& [id, c] : calls_) {
      c->deadline.cancel();
      for (auto& r : c->relays) {
        if (r) r->close();
      }
    }
  } catch (...) {
  }
}

int64_t Gateway::ms_since(steady_clock::time_point t) const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(timers_->now() - t).count();
}

void Gateway::later(std::function<void()> fn) { timers_->post(std::move(fn)); }

Result<std::string> Gateway::start() {
  registrar_ = std::make_unique<Registrar>(
      options_.nonce_secret,
      [this](std::string_view user, std::string_view realm, sip::DigestAlgorithm a) {
        return policy_->ha1(user, realm, a);
      },
      [this](const std::string& domain) { return tenant_domain(domain); }, options_.registrar,
      RegistrarClocks{timers_, wall_});
  if (!options_.trunk_username.empty()) {
    // The trunk's own login: its realm is the first tenant domain (or "trunk"), its HA1 from the
    // configured password; the same stateless nonces and replay table as the users'.
    const std::string realm = options_.sip_domains.empty() ? "trunk" : options_.sip_domains[0];
    trunk_auth_ = std::make_unique<sip::DigestServer>(
        realm, options_.nonce_secret,
        [this, realm](std::string_view user, sip::DigestAlgorithm a) -> std::optional<std::string> {
          if (user != options_.trunk_username) return std::nullopt;
          return sip::digest_ha1(a, options_.trunk_username, realm, options_.trunk_password);
        });
    trunk_auth_->set_algorithms(options_.registrar.algorithms);
  }
  resolver_ = std::make_unique<EndpointResolver>(options_.dns);
  {  // Host-name endpoints resolved before the first call (then refreshed in the background).
    resolver_->resolve_now(policy_->recorder_endpoints());
  }
  if (!ua_) {
    sip::EndpointOptions eo;
    eo.listen = options_.sip_listen;
    eo.user = "gateway";
    eo.tls = options_.tls;
    eo.tls_listen = options_.tls_listen;
    eo.wss_listen = options_.wss_listen;
    eo.ws_listen = options_.ws_listen;
    eo.ws_allowed_origins = options_.ws_allowed_origins;
    eo.wss_tls = options_.wss_tls;
    eo.t = options_.sip_timers;
    sip_ = std::make_unique<sip::SipEndpoint>(io_, eo, handlers());
    auto bound = sip_->start();
    if (!bound) return bound.error();
    ua_ = &sip_->ua();
    local_ = sip_->local();
  } else {
    local_ = options_.sip_listen;
  }
  auto local = parse_peer(local_);
  if (!local) return make_error(ErrorCode::kInvalidArgument, "gateway.sip_listen: " + local_);
  boost::system::error_code ec;
  const auto media_address = options_.media_address.empty()
                                 ? asio::ip::make_address(local->address, ec)
                                 : asio::ip::make_address(options_.media_address, ec);
  if (ec) {
    return make_error(ErrorCode::kInvalidArgument,
                      "gateway.media_address: not an IP address: " + options_.media_address);
  }
  if (!media_) {
    own_media_ = std::make_unique<RelayAnchor>(io_, media_address, options_.rtp_port_min,
                                               options_.rtp_port_max);
    media_ = own_media_.get();
  }
  if (!options_.trunk.empty() && !parse_peer(options_.trunk)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "gateway.trunk: expected ip:port, got " + options_.trunk);
  }
  if (!options_.voicemail_uri.empty() && !peer_of_uri(options_.voicemail_uri)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "gateway.voicemail_uri: expected a sip: URI with a numeric host, got " +
                          options_.voicemail_uri);
  }
  if (!options_.calls_db.empty()) {
    auto writer = CallLogWriter::start(
        {options_.calls_db, options_.calls_file, 64ull << 20, options_.call_records_days});
    if (!writer) return make_error(ErrorCode::kIo, "call records: " + writer.error().message);
    call_log_ = std::move(writer).value();
  }
  if (!options_.registrations_file.empty()) {
    std::ifstream in(options_.registrations_file);
    if (in) {
      auto saved = json::parse(in, nullptr, false);
      const size_t skipped = saved.is_discarded() ? 0 : registrar_->restore(saved);
      spdlog::info(
          "registrations of {} users taken from {} ({} expired or unreadable)",
          registrar_->registered_users(), options_.registrations_file,
          saved.is_discarded() ? std::string("the file did not parse") : std::to_string(skipped));
    }
  }
  if (!options_.dialogs_file.empty()) {
    journal_ = std::make_unique<DialogJournal>(options_.dialogs_file);
    size_t bad = 0;
    auto left = journal_->recover(&bad);
    if (!left) return left.error();
    if (bad) spdlog::warn("dialog journal: {} lines did not read (a crash mid-write)", bad);
    if (!left.value().empty()) {
      spdlog::warn("ending {} dialogs a previous run of the gateway left up", left.value().size());
    }
    for (const auto& d : left.value()) {
      ++metrics_.dialogs_left_ended;
      warn_on_error(
          ua_->bye_saved(
              d.dialog, d.peer, {{"Reason", "SIP;cause=503;text=\"the gateway restarted\""}},
              [call = d.call, role = d.role,
               peer = d.peer.address + ":" + std::to_string(d.peer.port)](int status,
                                                                          const sip::Message*) {
                spdlog::info("call {}: the {} at {} left by the previous run: BYE answered {}",
                             call, role, peer, status);
              }),
          "BYE to a dialog left by the previous run");
    }
  }
  for (const auto& problem : prompts_.check()) {
    spdlog::error("prompt {} (it is skipped: the next one in line plays instead)", problem);
  }
  // A dial-in number's language menu needs its entry in each of its languages.
  for (const auto& d : options_.dial_in) {
    if (d.secondary_languages.empty()) continue;
    if (d.secondary_languages.size() + 1 > kLanguageChoices) {
      return make_error(ErrorCode::kInvalidArgument, "dial-in number " + d.number + ": at most " +
                                                         std::to_string(kLanguageChoices - 1) +
                                                         " secondary languages");
    }
    std::vector<std::pair<Prompt, std::string>> parts{{language_choice(1), d.language}};
    for (size_t i = 0; i < d.secondary_languages.size(); ++i) {
      parts.emplace_back(language_choice(i + 2), d.secondary_languages[i]);
    }
    if (auto menu = prompts_.sequence(parts, "PCMU"); !menu) {
      return make_error(
          ErrorCode::kInvalidArgument,
          "dial-in number " + d.number + ": its language menu: " + menu.error().message +
              " (add it to the prompts directory, " + "docs/gateway.md \"Spoken notices\")");
    }
  }
  if (!options_.control_db.empty()) {
    auto control = CallControl::open(options_.control_db);
    if (!control) return make_error(ErrorCode::kIo, "call control: " + control.error().message);
    control_ = std::move(control).value();
  }
  if (!options_.meetings_db.empty()) {
    auto store = MeetingStore::open(options_.meetings_db);
    if (!store) return make_error(ErrorCode::kIo, "meetings: " + store.error().message);
    meeting_store_ = std::move(store).value();
  }
  tick();
  if (control_) poll_control();
  if (options_.health_interval.count() > 0) check_health();
  return local_;
}

sip::Signalling::Handlers Gateway::handlers() {
  sip::Signalling::Handlers h;
  h.on_invite = [this](uint64_t s, const sip::Message& m) { on_invite(s, m); };
  h.on_request = [this](uint64_t t, const sip::Message& m, const sip::Peer& p) {
    return on_request(t, m, p);
  };
  h.on_progress = [this](uint64_t s, const sip::Message& m) { on_progress(s, m); };
  h.on_answered = [this](uint64_t s, const sip::Message& m) { on_answered(s, m); };
  h.on_failed = [this](uint64_t s, int st, const sip::Message* m) { on_failed(s, st, m); };
  h.on_ended = [this](uint64_t s, std::string_view why) { on_ended(s, why); };
  h.on_reoffer = [this](uint64_t s, const sip::Message& m) { return on_reoffer(s, m); };
  h.on_refer = [this](uint64_t s, const sip::Message& m) { return on_refer(s, m); };
  h.on_refer_progress = [this](uint64_t s, int status) { on_refer_progress(s, status); };
  h.on_info = [this](uint64_t s, uint64_t t, const sip::Message& m) { return on_info(s, t, m); };
  h.on_message = [this](uint64_t s, uint64_t t, const sip::Message& m) {
    return on_member_message(s, t, m);
  };
  h.on_subscribe = [this](uint64_t s, uint64_t t, const sip::Message& m) {
    return on_member_subscribe(s, t, m);
  };
  h.on_flow_closed = [this](const sip::Peer& flow) {
    const std::string user = registrar_ ? registrar_->flow_user(flow) : "";
    const size_t removed = registrar_ ? registrar_->flow_closed(flow) : 0;
    spdlog::info("{} connection from {}:{}{} closed{}", flow.transport, flow.address, flow.port,
                 user.empty() ? "" : " (" + user + ")",
                 removed ? ": " + std::to_string(removed) + " registration(s) removed" : "");
  };
  return h;
}

bool Gateway::on_info(uint64_t session, uint64_t txn, const sip::Message& info) {
  if (room_sessions_.contains(session)) {
    // A meeting member's key (application/dtmf-relay: "Signal=5"), answered 200 here.
    const std::string body(info.body());
    if (auto at = body.find("Signal="); at != std::string::npos && at + 7 < body.size()) {
      const char key = body[at + 7];
      if ((key >= '0' && key <= '9') || key == '*' || key == '#') key_pressed(session, key);
    }
    return false;
  }
  auto ref = sessions_.find(session);
  if (ref == sessions_.end() || ref->second.leg) return false;  // a recorder's: nothing to relay
  auto it = calls_.find(ref->second.call);
  if (it == calls_.end()) return false;
  Call& c = *it->second;
  const uint64_t other = session == c.a ? c.b : session == c.b ? c.a : 0;
  if (c.state != Call::State::kConnected || other == 0) return false;
  const auto* type = info.find(sip::HeaderId::kContentType);
  auto answer = [this, txn, request = std::make_shared<sip::Message>(info.clone())](
                    int status, const sip::Message* response) {
    const int code = status >= 200 ? status : 500;
    warn_on_error(ua_->reply(txn, *request, code,
                             response ? std::string(response->reason()) : std::string("Timeout")),
                  "answering an INFO");
  };
  auto sent = ua_->info(other, type ? std::string(type->value) : std::string(),
                        std::string(info.body()), answer);
  if (!sent) {
    warn_on_error(ua_->reply(txn, info, 500, "Server Internal Error"), "answering an INFO");
  }
  return true;
}

void Gateway::stop() {
  stopping_ = true;
  end_meetings();
  end_chats();
  end_dial_outs();
  std::vector<uint64_t> ids;
  for (const auto& [id, c] : calls_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = calls_.find(id);
    if (it != calls_.end()) end_call(*it->second, "gateway shut down");
  }
  tick_timer_.cancel();
  control_timer_.cancel();
  health_timer_.cancel();
  write_status();
  if (journal_) journal_->flush();
  if (registrar_ && registrar_->changed()) save_registrations();
}

// The registrations, for the next start (written whole, renamed over the old file).
void Gateway::save_registrations() {
  last_registrations_ = timers_->now();
  if (options_.registrations_file.empty()) return;
  const std::string tmp = options_.registrations_file + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << registrar_->snapshot().dump() << "\n";
    if (!out) {
      spdlog::error("cannot write {}", tmp);
      return;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, options_.registrations_file, ec);
  if (ec) spdlog::error("cannot replace {}: {}", options_.registrations_file, ec.message());
}

bool Gateway::on_request(uint64_t txn, const sip::Message& request, const sip::Peer& from) {
  if (request.method() == "MESSAGE") return on_message_request(txn, request, from);
  if (request.method() != "REGISTER") return false;
  ++metrics_.registers;
  auto r = registrar_->on_register(request, from);
  if (r.status == 401) ++metrics_.auth_challenges;
  if (r.status == 200) r.headers.emplace_back("Date", format_iso8601(wall_->now()));
  warn_on_error(ua_->reply(txn, request, r.status, r.reason, r.headers), "answering a request");
  return true;
}

void Gateway::refuse(uint64_t session, int status, const std::string& reason,
                     const std::string& why) {
  sip::HeaderList h{{"Warning", "399 verbatim " + quote(why)}};
  warn_on_error(ua_->reject(session, status, reason, h), "rejecting a request");
}

// --- metrics ---------------------------------------------------------------------------------

}  // namespace verbatim::gateway
