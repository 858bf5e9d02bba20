#include "gateway/registrar.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "common/strings.h"
#include "sip/header_values.h"

namespace verbatim::gateway {

using std::chrono::steady_clock;

namespace {
constexpr size_t kMaxRealms = 1000;  // a bound only: realms are the tenant's configured domains

// A connection only the peer can open (a browser's WebSocket): its key.
std::string flow_key(const sip::Peer& p) {
  return p.transport + "|" + p.address + "|" + std::to_string(p.port);
}
}  // namespace

std::string identity_of(const sip::Uri& uri) {
  if (!uri.is_sip() || uri.user.empty()) return "";
  return to_lower(uri.user_unescaped() + "@" + std::string(uri.host));
}

Registrar::Registrar(std::array<uint8_t, 32> secret, Ha1Lookup lookup, DomainCheck domains,
                     RegistrarOptions options, RegistrarClocks clocks)
    : clocks_(clocks),
      secret_(secret),
      lookup_(std::move(lookup)),
      domains_(std::move(domains)),
      options_(std::move(options)),
      limiter_(options_.max_failures, std::chrono::seconds(60), std::chrono::seconds(600), 100000,
               options_.max_failures * 5) {}

sip::DigestServer& Registrar::server(const std::string& realm) {
  auto it = servers_.find(realm);
  if (it != servers_.end()) return *it->second;
  if (servers_.size() >= kMaxRealms) servers_.erase(servers_.begin());
  auto s = std::make_unique<sip::DigestServer>(
      realm, secret_, [this, realm](std::string_view user, sip::DigestAlgorithm a) {
        return lookup_(user, realm, a);
      });
  s->set_algorithms(options_.algorithms);
  return *servers_.emplace(realm, std::move(s)).first->second;
}

Registrar::Reply Registrar::challenge(const std::string& realm, bool stale, bool md5_first) {
  Reply r{401, "Unauthorized", {}};
  for (auto& c : server(realm).challenges(wall_now(), stale)) {
    r.headers.emplace_back("WWW-Authenticate", std::move(c));
  }
  if (md5_first) {
    // Browser SIP stacks (JsSIP, SIP.js) answer only the first challenge and know only MD5:
    // over their WebSocket, MD5 (when the admin allows it at all) comes first. Its weakness is
    // covered there by TLS; a client that can still picks SHA-256 from the rest (RFC 8760).
    std::stable_partition(r.headers.begin(), r.headers.end(), [](const auto& h) {
      return h.second.find("algorithm=MD5") != std::string::npos;
    });
  }
  return r;
}

Registrar::Auth Registrar::authenticate(const sip::Message& request, const sip::Peer& from) {
  Auth out;
  const auto now = steady_now();
  auto who = request.method() == "REGISTER" ? request.to() : request.from();
  if (!who) return {"", {400, "Bad Request", {}}};
  const std::string claimed = identity_of(who.value().uri);
  if (claimed.empty()) {
    return {"", {403, "Forbidden", {{"Warning", "399 verbatim \"not a SIP user address\""}}}};
  }
  // The realm is one of ours, never a value the request chooses.
  const std::string realm = claimed.substr(claimed.find('@') + 1);
  if (!domains_ || !domains_(realm)) {
    return {"",
            {403, "Forbidden", {{"Warning", "399 verbatim \"not a SIP domain of this server\""}}}};
  }
  const bool browser = from.websocket();
  const auto bound = browser ? flow_users_.find(flow_key(from)) : flow_users_.end();
  if (bound != flow_users_.end() && bound->second != claimed) {
    return {
        "",
        {403,
         "Forbidden",
         {{"Warning", "399 verbatim \"this connection is signed in as " + bound->second + "\""}}}};
  }
  const std::string source = from.transport + ":" + from.address;
  if (limiter_.blocked(source, claimed, now)) {
    return {"", {403, "Forbidden", {{"Warning", "399 verbatim \"too many failed attempts\""}}}};
  }
  const sip::Header* h = request.find("Authorization");
  if (!h) return {"", challenge(realm, false, browser)};
  auto params = sip::parse_digest(h->value);
  if (!params || to_lower(params.value().get("realm")) != realm) {
    return {"", challenge(realm, false, browser)};
  }
  const auto verdict =
      server(realm).verify(h->value, request.method(), request.request_uri(), wall_now());
  switch (verdict) {
    case sip::DigestVerdict::kOk:
      break;
    case sip::DigestVerdict::kStale:
      return {"", challenge(realm, true, browser)};
    case sip::DigestVerdict::kMalformed:
      return {"", challenge(realm, false, browser)};
    case sip::DigestVerdict::kReplay:
    case sip::DigestVerdict::kWrongUri:
    case sip::DigestVerdict::kBadCredentials: {
      const bool blocked = limiter_.failure(source, claimed, now);
      if (failure_log_.allow(now)) {
        const uint64_t held = failure_log_.suppressed();
        const char* what = verdict == sip::DigestVerdict::kReplay     ? "a replayed answer"
                           : verdict == sip::DigestVerdict::kWrongUri ? "an answer for another URI"
                                                                      : "wrong credentials";
        spdlog::warn("authentication failed: {} for {} from {}:{}{}{}", what, claimed, from.address,
                     from.port, blocked ? " (now blocked for 10 minutes)" : "",
                     held ? " (and " + std::to_string(held) + " more failures not logged)" : "");
      }
      return {"", challenge(realm, false, browser)};
    }
  }
  limiter_.success(source, claimed);
  const std::string identity = to_lower(params.value().get("username")) + "@" + realm;
  if (identity != claimed) {
    // Authenticated, but as someone else than the address it claims (From / To).
    return {"",
            {403,
             "Forbidden",
             {{"Warning", "399 verbatim \"" + claimed + " is not the authenticated user\""}}}};
  }
  out.identity = identity;
  if (browser) flow_users_.emplace(flow_key(from), identity);
  return out;
}

size_t Registrar::flow_closed(const sip::Peer& flow) {
  flow_users_.erase(flow_key(flow));
  size_t removed = 0;
  for (auto it = bindings_.begin(); it != bindings_.end();) {
    removed += std::erase_if(it->second, [&](const Binding& b) {
      return b.source.transport == flow.transport && b.source.address == flow.address &&
             b.source.port == flow.port;
    });
    it = it->second.empty() ? bindings_.erase(it) : std::next(it);
  }
  if (removed) changed_ = true;
  return removed;
}

std::string Registrar::flow_user(const sip::Peer& flow) const {
  auto it = flow_users_.find(flow_key(flow));
  return it == flow_users_.end() ? "" : it->second;
}

void Registrar::expire(std::vector<Binding>& list, steady_clock::time_point now) const {
  std::erase_if(list, [now](const Binding& b) { return b.expires <= now; });
}

std::vector<Binding> Registrar::bindings(const std::string& identity) {
  auto it = bindings_.find(identity);
  if (it == bindings_.end()) return {};
  expire(it->second, steady_now());
  if (it->second.empty()) {
    bindings_.erase(it);
    return {};
  }
  return it->second;
}

Registrar::Reply Registrar::on_register(const sip::Message& request, const sip::Peer& from) {
  Auth auth = authenticate(request, from);
  if (!auth.ok()) return auth.reply;
  const auto now = steady_now();
  auto call_id = request.call_id();
  auto cseq = request.cseq();
  if (!call_id || !cseq) return {400, "Bad Request", {}};
  std::optional<uint64_t> expires_header;
  if (const sip::Header* e = request.find("Expires")) {
    auto n = sip::parse_number(e->value, UINT32_MAX);
    if (!n) return {400, "Bad Request", {{"Warning", "399 verbatim \"bad Expires\""}}};
    expires_header = n.value();
  }
  auto& list = bindings_[auth.identity];
  expire(list, now);
  std::vector<const sip::Header*> contact_headers = request.all(sip::HeaderId::kContact);
  const bool star = contact_headers.size() == 1 && sip::is_star_contact(contact_headers[0]->value);
  if (star) {
    if (expires_header != uint64_t{0}) {
      return {400, "Bad Request", {{"Warning", "399 verbatim \"Contact: * needs Expires: 0\""}}};
    }
    list.clear();
  } else if (!contact_headers.empty()) {
    auto contacts = request.contacts();
    if (!contacts) return {400, "Bad Request", {{"Warning", "399 verbatim \"bad Contact\""}}};
    for (const auto& c : contacts.value()) {
      uint64_t expires = expires_header.value_or(options_.default_expires.count());
      if (auto p = c.param("expires")) {
        auto n = sip::parse_number(*p, UINT32_MAX);
        if (!n) return {400, "Bad Request", {{"Warning", "399 verbatim \"bad expires\""}}};
        expires = n.value();
      }
      const std::string uri(c.uri.text);
      auto same = std::find_if(list.begin(), list.end(),
                               [&](const Binding& b) { return b.contact == uri; });
      if (same != list.end() && same->call_id == call_id.value() &&
          cseq.value().number <= same->cseq) {
        return {
            500, "Server Internal Error", {{"Warning", "399 verbatim \"out-of-order REGISTER\""}}};
      }
      if (expires == 0) {
        if (same != list.end()) list.erase(same);
        continue;
      }
      if (expires < static_cast<uint64_t>(options_.min_expires.count())) {
        return {423,
                "Interval Too Brief",
                {{"Min-Expires", std::to_string(options_.min_expires.count())}}};
      }
      expires = std::min<uint64_t>(expires, options_.max_expires.count());
      Binding b{uri, from, now + std::chrono::seconds(expires), std::string(call_id.value()),
                cseq.value().number};
      if (same != list.end()) list.erase(same);
      list.insert(list.begin(), std::move(b));
      if (list.size() > options_.max_bindings) list.resize(options_.max_bindings);
    }
  }
  Reply r;
  for (const Binding& b : list) {
    const auto left = std::chrono::duration_cast<std::chrono::seconds>(b.expires - now).count();
    r.headers.emplace_back("Contact", "<" + b.contact + ">;expires=" + std::to_string(left));
  }
  if (list.empty()) bindings_.erase(auth.identity);
  changed_ = true;
  return r;
}

nlohmann::json Registrar::snapshot() {
  const auto now = steady_now();
  const auto wall = wall_now();
  nlohmann::json out = nlohmann::json::array();
  for (auto& [identity, list] : bindings_) {
    expire(list, now);
    for (const Binding& b : list) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(b.expires - now);
      out.push_back({{"identity", identity},
                     {"contact", b.contact},
                     {"transport", b.source.transport},
                     {"address", b.source.address},
                     {"port", b.source.port},
                     {"expiresUnixMs", std::chrono::duration_cast<std::chrono::milliseconds>(
                                           (wall + left).time_since_epoch())
                                           .count()},
                     {"callId", b.call_id},
                     {"cseq", b.cseq}});
    }
  }
  changed_ = false;
  return out;
}

size_t Registrar::restore(const nlohmann::json& saved) {
  size_t skipped = 0;
  if (!saved.is_array()) return 0;
  const auto now = steady_now();
  const auto wall_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(wall_now().time_since_epoch()).count();
  // The snapshot lists each user's bindings newest first: appended in that order.
  for (const auto& e : saved) {
    try {
      const int64_t left_ms = e.at("expiresUnixMs").get<int64_t>() - wall_ms;
      const auto identity = e.at("identity").get<std::string>();
      // A browser's connection did not survive the restart: its registration is gone with it.
      if (sip::Peer{e.at("transport").get<std::string>(), "", 0}.websocket()) {
        ++skipped;
        continue;
      }
      auto& list = bindings_[identity];
      if (left_ms <= 0 || left_ms > int64_t{1000} * options_.max_expires.count() ||
          list.size() >= options_.max_bindings) {
        if (list.empty()) bindings_.erase(identity);
        ++skipped;
        continue;
      }
      list.push_back(
          Binding{e.at("contact").get<std::string>(),
                  sip::Peer{e.at("transport").get<std::string>(),
                            e.at("address").get<std::string>(), e.at("port").get<uint16_t>()},
                  now + std::chrono::milliseconds(left_ms), e.at("callId").get<std::string>(),
                  e.at("cseq").get<uint32_t>()});
    } catch (const nlohmann::json::exception&) {
      ++skipped;
    }
  }
  return skipped;
}

}  // namespace verbatim::gateway
