// Target resolution: whom a Request-URI (or a Refer-To) reaches (a user by SIP address or number,
// a call queue's resource account, an emergency number, the trunk), which of a user's
// registrations an offer may go to, the tenant's domains, and whether a request is the trunk's.
#include <spdlog/spdlog.h>

#include "common/cidr.h"
#include "common/log.h"
#include "common/strings.h"
#include "gateway/usages.h"

namespace verbatim::gateway {

// Whom a Request-URI (or a Refer-To) reaches: an emergency number (the trunk, never a user), a
// user by SIP address or number, or another number through the trunk. Nobody: party.aor empty.
Gateway::Target Gateway::resolve(const sip::Uri& uri) {
  Target t;
  const std::string dialled = uri.user_unescaped();
  const bool trunk = !options_.trunk.empty();
  t.emergency = std::find(options_.emergency_numbers.begin(), options_.emergency_numbers.end(),
                          dialled) != options_.emergency_numbers.end();
  if (t.emergency) {
    t.via_trunk = true;
    t.party.aor = "tel:" + dialled;
    t.party.number = dialled;
    return t;
  }
  const auto user = uri.scheme == sip::Uri::Scheme::kTel || is_number(dialled)
                        ? policy_->user(dialled)
                        : policy_->user("sip:" + identity_of(uri));
  if (user) {
    t.party.aor = user->aor;
    t.party.display = user->display;
    t.party.number = user->number;
    t.identity = user->identity;
  } else if (auto q = policy_->queue(uri, dialled)) {
    t.party.aor = q->account.aor;
    t.party.display = q->account.display;
    t.party.number = q->account.number;
    t.queue = std::move(q->route);
  } else if (trunk && is_number(dialled)) {
    t.via_trunk = true;
    t.party.aor = "tel:" + dialled;
    t.party.number = dialled;
  }
  return t;
}

// Whether our offer towards a party may carry SDES keys: always when none of the call's streams
// is SRTP (nothing to carry), else only over TLS — `transport` of the hop, "" for "not known yet"
// (the caller of place_callee filters the bindings) — or where the admin allowed plain SIP.
bool Gateway::keys_allowed(const Call& c, const std::string& transport) const {
  if (options_.allow_sdes_over_plain_sip || transport == "TLS" || transport == "WSS") return true;
  return std::none_of(c.crypto.begin(), c.crypto.end(),
                      [](const StreamCrypto& sc) { return sc.secure; });
}

std::vector<Binding> Gateway::reachable(const Call& c, const std::string& identity) {
  auto bindings = registrar_->bindings(identity);
  if (!keys_allowed(c, "")) {
    std::erase_if(bindings, [](const Binding& b) { return !b.source.secure(); });
  }
  return bindings;
}

bool Gateway::tenant_domain(const std::string& domain) {
  if (!options_.sip_domains.empty()) {
    return std::any_of(options_.sip_domains.begin(), options_.sip_domains.end(),
                       [&](const std::string& d) { return iequals(d, domain); });
  }
  return policy_->user_domain(domain);
}

sip::Peer Gateway::trunk_peer() const {
  sip::Peer p = *parse_peer(options_.trunk);
  p.transport = options_.trunk_transport;
  if (p.transport == "TLS" && options_.trunk.rfind(':') == std::string::npos) p.port = 5061;
  return p;
}

bool Gateway::from_trunk(const sip::Message& request, const sip::Peer& from,
                         std::optional<Registrar::Reply>& refusal) {
  if (options_.trunk.empty() || !iequals(from.transport, options_.trunk_transport)) return false;
  const sip::Peer trunk = trunk_peer();
  bool source = false;
  if (options_.trunk_sources.empty()) {
    // Its own address; over UDP also its port (a trunk sends from the port it listens on).
    source = from.address == trunk.address && (from.transport != "UDP" || from.port == trunk.port);
  } else {
    source = address_in(from.address, options_.trunk_sources);
  }
  if (!source) return false;
  if (!options_.trunk_tls_name.empty() && !iequals(from.tls_name, options_.trunk_tls_name)) {
    refusal =
        Registrar::Reply{403,
                         "Forbidden",
                         {{"Warning", "399 verbatim \"the trunk's TLS certificate does not name " +
                                          options_.trunk_tls_name + "\""}}};
    return false;
  }
  if (trunk_auth_) {
    const sip::Header* h = request.find("Authorization");
    const auto now = wall_->now();
    const auto verdict =
        h ? trunk_auth_->verify(h->value, request.method(), request.request_uri(), now)
          : sip::DigestVerdict::kMalformed;
    if (verdict != sip::DigestVerdict::kOk) {
      Registrar::Reply r{401, "Unauthorized", {}};
      for (auto& c : trunk_auth_->challenges(now, verdict == sip::DigestVerdict::kStale)) {
        r.headers.emplace_back("WWW-Authenticate", std::move(c));
      }
      refusal = std::move(r);
      return false;
    }
  }
  return true;
}

}  // namespace verbatim::gateway
