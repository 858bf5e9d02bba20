#include "gateway/gateway.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <set>

#include <spdlog/spdlog.h>

#include "common/cidr.h"
#include "common/clock.h"
#include "common/ids.h"
#include "common/strings.h"
#include "media/audio.h"
#include "policy/model.h"
#include "sip/header_values.h"
#include "sip/sdp.h"
#include "siprec/gateway_context.h"
#include "siprec/metadata.h"

namespace verbatim::gateway {

namespace asio = boost::asio;
using asio::ip::udp;
using nlohmann::json;
using std::chrono::steady_clock;

namespace {

constexpr const char* kRecorderSuite = "AES_CM_128_HMAC_SHA1_80";
// 3xx redirections followed per call (a forwarding loop ends there).
constexpr size_t kMaxRedirects = 5;
// Registrations are saved at most this often (and at a clean stop): phones registered in the
// last seconds before a crash register again on their own.
constexpr std::chrono::seconds kRegistrationsSaveInterval{5};
// Media ports held by other processes are skipped, this many times, before a stream fails.
constexpr int kBindAttempts = 8;
// A queue round in which no agent answered (or none was reachable) starts again after this.
constexpr std::chrono::seconds kQueueRetry{2};
constexpr const char* kNoAgentText = "No agent of the call queue answered";
constexpr const char* kRecordingFailedText =
    "There was a problem setting up the recording required by your organisation";
constexpr const char* kRecordingLostText =
    "The recording required by your organisation stopped, so the call was ended";

int64_t ms_since(steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - t).count();
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c != '\r' && c != '\n') out += c;
  }
  return out + "\"";
}

std::string reason_header(int cause, std::string_view text) {
  return "SIP;cause=" + std::to_string(cause) + ";text=" + quote(text);
}

// A port number (1-65535), nothing else.
std::optional<uint16_t> port_number(std::string_view s) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v == 0 || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

// "host:port" (IPv6 in brackets) -> Peer over UDP.
std::optional<sip::Peer> parse_peer(std::string_view host_port) {
  std::string host(host_port);
  std::optional<uint16_t> port = 5060;
  if (!host.empty() && host[0] == '[') {
    const size_t close = host.find(']');
    if (close == std::string::npos) return std::nullopt;
    if (close + 1 < host.size()) {
      if (host[close + 1] != ':') return std::nullopt;
      port = port_number(std::string_view(host).substr(close + 2));
    }
    host = host.substr(1, close - 1);
  } else if (auto colon = host.rfind(':'); colon != std::string::npos) {
    port = port_number(std::string_view(host).substr(colon + 1));
    host = host.substr(0, colon);
  }
  if (!port) return std::nullopt;
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  if (ec) return std::nullopt;
  return sip::Peer{"UDP", host, *port};
}

bool is_number(std::string_view s) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The application instance (a call queue's resource account) a Request-URI names: by its SIP
// address (the UPN) or its phone number.
const policy::ApplicationInstance* resource_account(const policy::PolicyState& state,
                                                    const sip::Uri& uri,
                                                    const std::string& dialled) {
  if (uri.scheme != sip::Uri::Scheme::kTel && !is_number(dialled)) {
    return state.instance_by_upn(identity_of(uri));
  }
  std::string number;
  if (!policy::normalize_phone(dialled, number)) return nullptr;
  for (const auto& [id, a] : state.instances()) {
    if (!a.phone_number.empty() && a.phone_number == number) return &a;
  }
  return nullptr;
}

std::string new_metadata_id() { return random_hex(16); }

std::optional<udp::endpoint> media_target(const sip::SessionDescription& sdp,
                                          const sip::SdpMedia& m) {
  const sip::SdpConnection* c = sdp.connection_for(m);
  if (!c) return std::nullopt;
  std::string address = c->address.substr(0, c->address.find('/'));
  boost::system::error_code ec;
  auto a = asio::ip::make_address(address, ec);
  if (ec) return std::nullopt;
  return udp::endpoint(a, m.port);
}

// An SDP m-line format as an RTP payload type (0-127).
std::optional<int> payload_type(std::string_view f) {
  int v = -1;
  auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
  if (ec != std::errc() || end != f.data() + f.size() || v < 0 || v > 127) return std::nullopt;
  return v;
}

// The peer said it can show the recording indicator itself (RFC 7866 §6.2).
bool record_aware(const sip::Message& m) {
  auto t = m.tokens(sip::HeaderId::kSupported);
  return t && std::any_of(t.value().begin(), t.value().end(),
                          [](std::string_view v) { return iequals(v, "record-aware"); });
}

// Conference mode: the queue answers the caller before any agent, so each stream is fixed to
// the caller's first codec (and telephone-event), which is all the agents are then offered.
sip::SessionDescription one_codec(sip::SessionDescription sdp) {
  for (auto& m : sdp.media) {
    std::set<std::string> keep;
    for (const auto& f : m.formats) {
      auto pt = payload_type(f);
      auto map = pt ? m.rtpmap(*pt) : std::nullopt;
      const bool dtmf = map && iequals(map->encoding, "telephone-event");
      if (dtmf || keep.empty()) keep.insert(f);
    }
    if (keep.empty()) continue;
    std::erase_if(m.formats, [&](const std::string& f) { return !keep.count(f); });
    std::erase_if(m.attributes, [&](const sip::SdpAttribute& a) {
      if ((a.name != "rtpmap" && a.name != "fmtp") || !a.value) return false;
      return !keep.count(a.value->substr(0, a.value->find(' ')));
    });
  }
  return sdp;
}

sip::Direction mirror(sip::Direction d) {
  switch (d) {
    case sip::Direction::kSendOnly:
      return sip::Direction::kRecvOnly;
    case sip::Direction::kRecvOnly:
      return sip::Direction::kSendOnly;
    default:
      return d;
  }
}

}  // namespace

// --- the call model --------------------------------------------------------------------------

struct Gateway::Party {
  Side side = Side::kA;
  std::string aor;  // what the metadata names: the user's SIP address, a tel: URI, the From URI
  std::string display;
  std::string number;
  std::shared_ptr<const policy::DirectoryUser> user;
  policy::Decision decision;
  bool recorded = false;
  json to_json() const {
    json j{{"aor", aor}, {"side", side == Side::kA ? "caller" : "callee"}};
    if (!display.empty()) j["display"] = display;
    if (!number.empty()) j["number"] = number;
    if (user) j["user"] = user->user_principal_name;
    if (decision.policy) {
      j["policy"] = decision.policy->name;
      j["policySource"] = policy::source_name(decision.source);
    }
    j["recorded"] = recorded;
    return j;
  }
};

struct Gateway::Target {
  Party party;
  std::string identity;  // "user@domain" of a user
  bool via_trunk = false, emergency = false;
  std::shared_ptr<const QueueRoute> queue;  // a call queue's resource account
};

// A call to a call queue: the agents it is offered to, until one answers and is recorded.
struct Gateway::QueueCall {
  explicit QueueCall(asio::io_context& io) : alert(io) {}
  std::shared_ptr<const QueueRoute> route;
  Party queue;             // the resource account the caller dialled
  std::set<size_t> tried;  // agents offered in the current round
  struct Ringing {
    size_t agent = 0;
    size_t offer = 0;  // index into offers
  };
  std::map<uint64_t, Ringing> ringing;  // our INVITEs to agents' registrations
  asio::steady_timer alert;             // the agent alert time, or the pause between rounds
  steady_clock::time_point give_up;     // TimeoutThreshold
  bool caller_answered = false;         // conference mode: the queue answered at once
  int64_t caller_answered_ms = -1;
  std::optional<size_t> joining;  // answered, its required recorders being set up: the offer
  std::vector<json> offers;       // each agent offered the call, and what became of it
};

// A blind transfer in progress (a party's REFER): the transferor's side of the call is given to
// the target once the target's required recorders are in and the target answered.
struct Gateway::Transfer {
  explicit Transfer(asio::io_context& io) : deadline(io) {}
  Side moving = Side::kB;   // the transferor's side, which the target takes
  uint64_t transferor = 0;  // the transferor's session (0 once it hung up)
  std::string by;           // the transferor's address (Referred-By)
  Target target;
  uint64_t session = 0;  // our INVITE to the target
  bool calling = false;
  // Attended transfer (Refer-To with Replaces, RFC 3891): the target is already in a call
  // with the transferor (the consultation); it is re-INVITEd into this call and that one ends.
  uint64_t consultation = 0;  // the consultation call's id
  uint64_t replaced = 0;      // the target's session in it (ours once it answers the re-INVITE)
  asio::steady_timer deadline;
  steady_clock::time_point started = steady_clock::now();
};

struct Gateway::Leg {
  enum class State { kInviting, kUp, kFailed, kEnded };
  uint64_t session = 0;
  size_t group = 0;
  Recording* recording = nullptr;
  std::string application_id, instance, endpoint, uri;
  State state = State::kInviting;
  int status = 0;
  std::string why;
  steady_clock::time_point started = steady_clock::now();
  int64_t answered_ms = -1;
  // Per SIPREC m-line: the relay stream it copies and which side's packets.
  std::vector<std::pair<size_t, Side>> lines;
  std::vector<std::shared_ptr<TapPorts>> taps;
  std::vector<std::pair<size_t, uint64_t>> tap_ids;  // (relay, tap)
  std::vector<std::string> keys;  // per SIPREC m-line: our SRTP key ("inline:..."), if offered
  // The metadata the recorder has: the communication session, and the participant the observed
  // party talks to (who it is, its id, the streams it sends and receives).
  std::string md_session, peer_id, peer_aor;
  std::vector<std::string> peer_send, peer_recv;
  const char* state_name() const {
    switch (state) {
      case State::kInviting:
        return "inviting";
      case State::kUp:
        return "recording";
      case State::kFailed:
        return "failed";
      case State::kEnded:
        return "ended";
    }
    return "";
  }
};

struct Gateway::Recording {
  Party* party = nullptr;
  std::shared_ptr<const policy::CompiledPolicy> policy;
  struct Group {  // one application with its ConcurrentInvitationCount instances and its pair
    std::string application;
    bool required_before = true, required_during = true;
    std::vector<Leg*> legs;
    // What replacements come from: the application (and its pair), in the party's region order.
    std::vector<std::pair<policy::RecorderTarget, std::vector<policy::EndpointTarget>>> sources;
    bool any_up() const {
      return std::any_of(legs.begin(), legs.end(),
                         [](const Leg* l) { return l->state == Leg::State::kUp; });
    }
    // Why each instance is gone ("sip:srs@...: refused: 503 ... (recording storage
    // unavailable: ...)"), for the Warning and the log.
    std::string why_gone() const {
      std::string out;
      for (const Leg* l : legs) {
        if (l->why.empty()) continue;
        out += std::string(out.empty() ? "" : "; ") + l->uri + ": " + l->why;
      }
      return out.empty() ? "no recorder endpoint" : out;
    }
    bool ever_up() const {
      return std::any_of(legs.begin(), legs.end(),
                         [](const Leg* l) { return l->answered_ms >= 0; });
    }
    bool all_gone() const {
      return std::all_of(legs.begin(), legs.end(), [](const Leg* l) {
        return l->state == Leg::State::kFailed || l->state == Leg::State::kEnded;
      });
    }
  };
  std::vector<Group> groups;
  std::vector<std::unique_ptr<Leg>> legs;
  bool left = false;       // its party left the call (went to voicemail, transferred away)
  bool joined = true;      // false while its party is the target of a transfer not yet complete
  bool on_behalf = false;  // RecordReroutedCalls: goes on after its party transferred the call
  bool active() const { return !left && joined; }
};

// SRTP of one relayed stream (SDES): the caller's offer set it; our keys for each side.
struct StreamCrypto {
  bool secure = false;
  int tag = 1;
  std::string suite, proto;
  std::string our_a, our_b;  // "inline:..." we put in the SDP each party gets
};

struct Gateway::Call {
  explicit Call(asio::io_context& io) : deadline(io), unanswered(io) {}
  enum class State { kSetup, kCalling, kConnected, kEnding };
  uint64_t id = 0;
  std::string call_id;  // the caller's Call-ID
  uint64_t a = 0, b = 0;
  Party caller, callee;
  std::string request_uri;
  bool emergency = false, via_trunk = false;
  int max_forwards = 70;        // for the INVITEs placed for this call: the caller's less one
  std::string callee_identity;  // "user@domain" of a callee user
  sip::SessionDescription a_offer, b_answer;
  std::vector<std::shared_ptr<RelayStream>> relays;  // per m-line of the offer (null: refused)
  std::vector<StreamCrypto> crypto;                  // per m-line: SRTP towards each party
  std::vector<std::unique_ptr<Recording>> recordings;
  State state = State::kSetup;
  asio::steady_timer deadline;
  std::chrono::system_clock::time_point started_at = std::chrono::system_clock::now();
  steady_clock::time_point started = steady_clock::now();
  int64_t recorders_ready_ms = -1, callee_called_ms = -1, connected_ms = -1;
  bool a_record_aware = false, b_record_aware = false;
  std::array<bool, 2> notified{};  // by side: the recording-started notice was decided
  bool removing = false;           // RequiredDuringCall lost: the warning plays, then the call ends
  struct Notice {
    Side to = Side::kA;
    Prompt prompt = Prompt::kRecordingStarted;
    std::string language, file, encoding, outcome;
    int64_t at_ms = -1, duration_ms = 0;
    uint64_t packets = 0;
  };
  std::vector<Notice> notices;
  std::unique_ptr<Transfer> transfer;            // one at a time
  std::vector<json> transfers;                   // what became of each
  std::vector<json> forwards;                    // the callee's phone forwarded the call (3xx)
  std::vector<std::unique_ptr<Party>> departed;  // parties that left (their recordings name them)
  std::string outcome;
  int final_status = 0;
  // The o= session id each party's dialog saw first (0: this call's id); a dialog an attended
  // transfer moved here keeps its first call's (RFC 3264 §8).
  std::array<uint64_t, 2> origin{};
  uint64_t origin_of(Side side) const {
    return origin[static_cast<size_t>(side)] ? origin[static_cast<size_t>(side)] : id;
  }
  std::vector<uint64_t> forks;  // our INVITEs to the callee's registrations, until one answers
  size_t rang = 0;
  int best_status = 0;
  std::string best_reason;
  bool to_voicemail = false;  // the callee's required recording failed: voicemail instead
  std::string voicemail_why;
  std::string voicemail_reason = "unavailable";  // RFC 5806: unavailable, unconditional, no-answer
  // The callee's forwarding (Set-CsUserCallingSettings), as the call found it.
  std::optional<policy::CallingSettings> forwarding;
  asio::steady_timer unanswered;  // the callee's phones ring this long, then the call moves on
  // Simultaneous ring (calling settings): the target rung with the callee, and our INVITEs to it.
  std::optional<Target> simultaneous;
  std::set<uint64_t> simultaneous_forks;
  bool joining = false;  // the simultaneous target answered; its required recorders are awaited
  std::unique_ptr<QueueCall> queue;  // a call to a call queue
  bool recorded() const {
    return std::any_of(recordings.begin(), recordings.end(),
                       [](const auto& r) { return !r->left; });
  }
};

// --- set-up ----------------------------------------------------------------------------------

Gateway::Gateway(asio::io_context& io, policy::PolicyService& policy, GatewayOptions options)
    : io_(io),
      policy_(policy),
      options_(std::move(options)),
      prompts_(options_.prompt_dirs),
      ports_(options_.rtp_port_min, options_.rtp_port_max),
      timer_(io),
      health_timer_(io) {}

Gateway::~Gateway() {
  timer_.cancel();
  health_timer_.cancel();
  for (auto& [id, c] : calls_) {
    c->deadline.cancel();
    for (auto& r : c->relays) {
      if (r) r->close();
    }
  }
}

std::optional<std::string> Gateway::ha1(std::string_view username, std::string_view realm,
                                        sip::DigestAlgorithm a) {
  std::lock_guard lock(policy_.mutex());
  const policy::User* u =
      policy_.state().user_by_address("sip:" + std::string(username) + "@" + std::string(realm));
  if (!u || !policy_.state().sip_credential(u->object_id) || !policy_.store()) return std::nullopt;
  auto doc = policy_.store()->object(policy::Kind::kSipCredential, to_lower(u->object_id));
  if (!doc || !doc.value()) return std::nullopt;
  const auto c = doc.value()->get<policy::SipCredential>();
  if (!iequals(c.username, username) || !iequals(c.realm, realm)) return std::nullopt;
  const std::string& h = a == sip::DigestAlgorithm::kMd5 ? c.ha1_md5 : c.ha1_sha256;
  if (h.empty()) return std::nullopt;
  return h;
}

// Whether our offer towards a party may carry SDES keys: always when none of the call's streams
// is SRTP (nothing to carry), else only over TLS — `transport` of the hop, "" for "not known yet"
// (the caller of place_callee filters the bindings) — or where the admin allowed plain SIP.
bool Gateway::keys_allowed(const Call& c, const std::string& transport) const {
  if (options_.allow_sdes_over_plain_sip || transport == "TLS") return true;
  return std::none_of(c.crypto.begin(), c.crypto.end(),
                      [](const StreamCrypto& sc) { return sc.secure; });
}

std::vector<Binding> Gateway::reachable(const Call& c, const std::string& identity) {
  auto bindings = registrar_->bindings(identity);
  if (!keys_allowed(c, "")) {
    std::erase_if(bindings, [](const Binding& b) { return b.source.transport != "TLS"; });
  }
  return bindings;
}

bool Gateway::tenant_domain(const std::string& domain) {
  if (!options_.sip_domains.empty()) {
    return std::any_of(options_.sip_domains.begin(), options_.sip_domains.end(),
                       [&](const std::string& d) { return iequals(d, domain); });
  }
  std::lock_guard lock(policy_.mutex());
  if (domains_generation_ != policy_.generation()) {  // the directory changed: derive them again
    domains_.clear();
    for (const auto& [id, u] : policy_.state().users()) {
      const size_t at = u.sip_address.find('@');
      if (at != std::string::npos) domains_.insert(to_lower(u.sip_address.substr(at + 1)));
    }
    domains_generation_ = policy_.generation();
  }
  return domains_.count(domain) > 0;
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
    const auto now = std::chrono::system_clock::now();
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

Result<std::string> Gateway::start() {
  registrar_ = std::make_unique<Registrar>(
      options_.nonce_secret,
      [this](std::string_view user, std::string_view realm, sip::DigestAlgorithm a) {
        return ha1(user, realm, a);
      },
      [this](const std::string& domain) { return tenant_domain(domain); }, options_.registrar);
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
    std::vector<std::string> uris;
    {
      std::lock_guard lock(policy_.mutex());
      for (const auto& [id, e] : policy_.state().endpoints()) {
        if (e.enabled) uris.push_back(e.uri);
      }
    }
    resolver_->resolve_now(uris);
  }
  sip::EndpointOptions eo;
  eo.listen = options_.sip_listen;
  eo.user = "gateway";
  eo.tls = options_.tls;
  eo.tls_listen = options_.tls_listen;
  eo.t = options_.sip_timers;
  sip::UserAgent::Handlers h;
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
  sip_ = std::make_unique<sip::SipEndpoint>(io_, eo, std::move(h));
  auto bound = sip_->start();
  if (!bound) return bound.error();
  boost::system::error_code ec;
  media_address_ = options_.media_address.empty()
                       ? bound.value().address()
                       : asio::ip::make_address(options_.media_address, ec);
  if (ec) {
    return make_error(ErrorCode::kInvalidArgument,
                      "gateway.media_address: not an IP address: " + options_.media_address);
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
      (void)sip_->ua().bye_saved(
          d.dialog, d.peer, {{"Reason", "SIP;cause=503;text=\"the gateway restarted\""}},
          [call = d.call, role = d.role, peer = d.peer.address + ":" + std::to_string(d.peer.port)](
              int status, const sip::Message*) {
            spdlog::info("call {}: the {} at {} left by the previous run: BYE answered {}", call,
                         role, peer, status);
          });
    }
  }
  for (const auto& problem : prompts_.check()) {
    spdlog::error("prompt {} (it is skipped: the next one in line plays instead)", problem);
  }
  tick();
  if (options_.health_interval.count() > 0) check_health();
  return sip_->local();
}

void Gateway::stop() {
  stopping_ = true;
  std::vector<uint64_t> ids;
  for (const auto& [id, c] : calls_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = calls_.find(id);
    if (it != calls_.end()) end_call(*it->second, "gateway shut down");
  }
  timer_.cancel();
  health_timer_.cancel();
  write_status();
  if (journal_) journal_->flush();
  if (registrar_ && registrar_->changed()) save_registrations();
}

// The registrations, for the next start (written whole, renamed over the old file).
void Gateway::save_registrations() {
  last_registrations_ = steady_clock::now();
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
  if (request.method() != "REGISTER") return false;
  ++metrics_.registers;
  auto r = registrar_->on_register(request, from);
  if (r.status == 401) ++metrics_.auth_challenges;
  if (r.status == 200)
    r.headers.emplace_back("Date", format_iso8601(std::chrono::system_clock::now()));
  (void)sip_->ua().reply(txn, request, r.status, r.reason, r.headers);
  return true;
}

void Gateway::refuse(uint64_t session, int status, const std::string& reason,
                     const std::string& why) {
  sip::HeaderList h{{"Warning", "399 verbatim " + quote(why)}};
  (void)sip_->ua().reject(session, status, reason, h);
}

// --- a new call ------------------------------------------------------------------------------

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
  std::lock_guard lock(policy_.mutex());
  const auto& state = policy_.state();
  const policy::User* user = uri.scheme == sip::Uri::Scheme::kTel || is_number(dialled)
                                 ? state.user_by_address(dialled)
                                 : state.user_by_address("sip:" + identity_of(uri));
  if (user) {
    t.party.aor = user->sip_address;
    t.party.display = user->display_name;
    t.party.number = user->phone_number;
    t.identity = to_lower(user->sip_address.substr(4));
  } else if (const policy::ApplicationInstance* ra = resource_account(state, uri, dialled)) {
    const policy::CallQueue* q = state.queue_of_instance(to_lower(ra->object_id));
    if (!q) return t;
    auto route = std::make_shared<QueueRoute>();
    route->identity = q->identity;
    route->name = q->name;
    route->routing = routing_from_name(q->routing_method);
    route->presence_based = q->presence_based_routing;
    route->conference_mode = q->conference_mode;
    route->alert_time = std::chrono::seconds(q->agent_alert_time);
    route->timeout = std::chrono::seconds(q->timeout_threshold);
    std::set<std::string> seen;
    auto add = [&](const std::string& id) {
      const policy::User* u = state.user_by_id(id);
      if (!u || u->sip_address.size() <= 4 || !seen.insert(to_lower(u->object_id)).second) return;
      route->agents.push_back(QueueAgent{to_lower(u->sip_address.substr(4)), u->sip_address,
                                         u->display_name, u->phone_number});
    };
    for (const auto& id : q->users) add(id);
    for (const auto& g : q->distribution_lists) {
      for (const auto& id : state.members_of(g)) add(id);
    }
    t.party.aor = "sip:" + to_lower(ra->user_principal_name);
    t.party.display = ra->display_name.empty() ? q->name : ra->display_name;
    t.party.number = ra->phone_number;
    t.queue = std::move(route);
  } else if (trunk && is_number(dialled)) {
    t.via_trunk = true;
    t.party.aor = "tel:" + dialled;
    t.party.number = dialled;
  }
  return t;
}

void Gateway::on_invite(uint64_t session, const sip::Message& invite) {
  const sip::Peer* from_peer = sip_->ua().peer(session);
  if (!from_peer) return;
  if (stopping_) {
    refuse(session, 503, "Service Unavailable", "the gateway is shutting down");
    return;
  }
  auto c = std::make_unique<Call>(io_);
  c->id = next_call_++;
  c->a = session;
  c->call_id = std::string(invite.call_id().value());
  c->request_uri = std::string(invite.request_uri());
  c->caller.side = Side::kA;
  c->callee.side = Side::kB;
  const bool trunk = !options_.trunk.empty();
  // Loops: our own request coming back (RFC 3261 §16.3 step 4: our address in its Vias), or
  // one that has been forwarded as often as it may be (Max-Forwards 0: 483).
  if (auto vias = invite.vias()) {
    for (const auto& v : vias.value()) {
      const std::string sent_by =
          std::string(v.host) + (v.port ? ":" + std::to_string(*v.port) : "");
      if (iequals(sent_by, sip_->local())) {
        ++metrics_.loops_refused;
        refuse(session, 482, "Loop Detected", "this request has been through this gateway");
        return;
      }
    }
  }
  int max_forwards = 70;
  if (auto mf = invite.max_forwards()) max_forwards = static_cast<int>(mf.value());
  if (max_forwards <= 0) {
    ++metrics_.loops_refused;
    refuse(session, 483, "Too Many Hops", "Max-Forwards reached 0");
    return;
  }
  c->max_forwards = std::min(max_forwards - 1, 70);
  std::optional<Registrar::Reply> trunk_refusal;
  const bool from_trunk = this->from_trunk(invite, *from_peer, trunk_refusal);
  if (trunk_refusal) {
    if (trunk_refusal->status == 401) ++metrics_.auth_challenges;
    (void)sip_->ua().reject(session, trunk_refusal->status, trunk_refusal->reason,
                            trunk_refusal->headers);
    return;
  }
  auto from = invite.from();
  if (!from) {
    refuse(session, 400, "Bad Request", "bad From");
    return;
  }
  // Who calls: an authenticated user, or the trunk (the caller's number from From).
  if (from_trunk) {
    c->caller.aor = std::string(from.value().uri.text);
    c->caller.number = from.value().uri.user_unescaped();
    c->caller.display = sip::unquote(from.value().display_name);
  } else {
    auto auth = registrar_->authenticate(invite, *from_peer);
    if (!auth.ok()) {
      if (auth.reply.status == 401) ++metrics_.auth_challenges;
      (void)sip_->ua().reject(session, auth.reply.status, auth.reply.reason, auth.reply.headers);
      return;
    }
    c->caller.aor = "sip:" + auth.identity;
    c->caller.display = sip::unquote(from.value().display_name);
    c->a_record_aware = record_aware(invite);
  }
  // Whom: a user by SIP address or number, else a number for the trunk.
  auto ruri = sip::parse_uri(invite.request_uri());
  if (!ruri) {
    refuse(session, 416, "Unsupported URI Scheme", "bad Request-URI");
    return;
  }
  const std::string dialled = ruri.value().user_unescaped();
  ++metrics_.calls;
  const Target t = resolve(ruri.value());
  c->emergency = t.emergency;
  c->via_trunk = t.via_trunk;
  c->callee_identity = t.identity;
  c->callee.aor = t.party.aor;
  c->callee.display = t.party.display;
  c->callee.number = t.party.number;
  if (t.queue) {
    c->queue = std::make_unique<QueueCall>(io_);
    c->queue->route = t.queue;
    c->queue->queue = c->callee;
  }
  if (!c->callee_identity.empty() && !t.emergency) {
    std::lock_guard lock(policy_.mutex());
    const auto& state = policy_.state();
    const policy::User* u = state.user_by_address(c->callee.aor);
    const policy::CallingSettings* cs = u ? state.calling_settings(u->object_id) : nullptr;
    if (cs && (cs->forwarding_enabled || cs->unanswered_enabled)) c->forwarding = *cs;
  }
  if (!from_trunk) {
    std::lock_guard lock(policy_.mutex());
    if (const policy::User* u = policy_.state().user_by_address(c->caller.aor)) {
      c->caller.number = u->phone_number;
      if (c->caller.display.empty()) c->caller.display = u->display_name;
    }
  }
  if (c->emergency) ++metrics_.emergency_calls;
  if (c->emergency && !trunk) {
    spdlog::error("call {}: emergency number {} but no trunk is configured", c->call_id, dialled);
    refuse(session, 503, "Service Unavailable", "no trunk for emergency calls");
    return;
  }
  if (c->callee.aor.empty()) {
    refuse(session, 404, "Not Found", "no user or number " + dialled);
    return;
  }
  if (from_trunk && c->via_trunk && !c->emergency) {
    // A call from the trunk is for our users; sending it back out would make the gateway an
    // open relay for toll fraud, and a loop with a trunk that routes the number back to us.
    ++metrics_.trunk_refused;
    refuse(session, 404, "Not Found",
           "no user " + dialled +
               " here (calls from the trunk are "
               "never routed back out to it)");
    return;
  }
  // The media: the offer must be SDP we can relay.
  auto ct = invite.content_type();
  if (invite.body().empty() || !ct || !iequals(ct.value().type, "application") ||
      !iequals(ct.value().subtype, "sdp")) {
    refuse(session, 488, "Not Acceptable Here", "an INVITE with an SDP offer is needed");
    return;
  }
  auto offer = sip::parse_sdp(invite.body());
  if (!offer) {
    refuse(session, 488, "Not Acceptable Here", "SDP: " + offer.error().message);
    return;
  }
  if (from_peer->transport != "TLS" && !options_.allow_sdes_over_plain_sip) {
    for (const auto& m : offer.value().media) {
      if (m.port != 0 && !m.cryptos().empty()) {
        // The SRTP keys would have crossed the network in the clear: they protect nothing, and
        // answering with ours would expose them too (RFC 4568 §8.3).
        refuse(session, 488, "Not Acceptable Here",
               "SDES-SRTP keys are exchanged only over TLS (sips:); this offer came over " +
                   from_peer->transport);
        return;
      }
    }
  }
  c->a_offer = std::move(offer).value();
  if (auto st = open_media(*c, c->a_offer); !st) {
    for (auto& r : c->relays) {
      if (r) {
        ports_.give(r->port(Side::kA));
        ports_.give(r->port(Side::kB));
        r->close();
      }
    }
    refuse(session, st.error().code == ErrorCode::kIo ? 503 : 488,
           st.error().code == ErrorCode::kIo ? "Service Unavailable" : "Not Acceptable Here",
           st.error().message);
    return;
  }
  Call& call = *c;
  set_signalling(call, Side::kA, session);
  sessions_[session] = {call.id, Role::kCaller, nullptr};
  calls_[call.id] = std::move(c);
  // Who is recorded: each party that is a user whose effective policy records.
  // (A queue is not recorded as such: each agent is, under their own policy, once they answer.)
  if (call.forwarding && call.forwarding->forwarding_enabled &&
      call.forwarding->forwarding_type == "Immediate") {
    forward_immediately(call);
  }
  if (!call.emergency) {
    decide(call, call.caller);
    if (!call.queue && !call.to_voicemail) decide(call, call.callee);
  }
  spdlog::info("call {}: {} -> {}{}{}", call.call_id, call.caller.aor, call.callee.aor,
               call.emergency ? " (emergency: not recorded)" : "",
               call.recorded() ? " (recorded)" : "");
  bool waiting = false;
  for (const auto& r : call.recordings) {
    for (const auto& g : r->groups) waiting |= g.required_before;
  }
  if (!waiting) {
    place_callee(call);
    return;
  }
  await_recorders(call);
}

// A party that is a user gets its effective policy; when it records, its recorders are invited.
void Gateway::decide(Call& c, Party& p) {
  if (p.aor.empty() || !istarts_with(p.aor, "sip:")) return;
  p.decision = policy_.engine().decide(p.aor);
  p.user = p.decision.user;
  if (p.decision.record()) {
    p.recorded = true;
    invite_recorders(c, p);
  }
}

// RequiredBeforeCallEstablishment: the callee is called once the required recorders are in
// (check_setup), or the call fails at the deadline.
void Gateway::await_recorders(Call& c) {
  c.deadline.expires_after(options_.recording_setup_timeout);
  c.deadline.async_wait([this, id = c.id](boost::system::error_code ec) {
    if (ec) return;
    auto it = calls_.find(id);
    if (it == calls_.end() || it->second->state != Call::State::kSetup) return;
    recording_failed(*it->second,
                     "no recorder answered within " +
                         std::to_string(options_.recording_setup_timeout.count()) + " ms",
                     true);
  });
  check_setup(c);
}

Status Gateway::open_media(Call& c, const sip::SessionDescription& offer) {
  bool any = false, plain_refused = false;
  for (const auto& m : offer.media) {
    std::shared_ptr<RelayStream> relay;
    StreamCrypto sc;
    // SRTP with SDES keys (RFC 4568): the first a=crypto line we can use. DTLS-SRTP
    // (UDP/TLS/RTP/SAVP*) and unusable keys: the stream is refused, never relayed in the clear.
    const bool secure = m.proto.find("SAVP") != std::string::npos;
    std::optional<std::pair<sip::SdesCrypto, media::SdesKey>> theirs;
    if (secure && m.proto.rfind("RTP/SAVP", 0) == 0) {
      for (const auto& cr : m.cryptos()) {
        if (auto k = media::parse_sdes_key(cr.suite, cr.key_params)) {
          theirs = std::pair{cr, std::move(k).value()};
          break;
        }
      }
    }
    if (!secure && options_.require_srtp) plain_refused = true;
    const bool transport_ok =
        secure ? theirs.has_value()
               : !options_.require_srtp && m.proto.find("RTP/AVP") != std::string::npos;
    if (m.port != 0 && transport_ok && (m.media == "audio" || m.media == "video")) {
      // A port another process holds is skipped (it goes to the back of the pool).
      Result<std::shared_ptr<RelayStream>> r = make_error(ErrorCode::kIo, "no free media ports");
      for (int attempt = 0; attempt < kBindAttempts && !r; ++attempt) {
        auto pa = ports_.take();
        auto pb = ports_.take();
        if (!pa || !pb) {
          if (pa) ports_.give(*pa);
          if (pb) ports_.give(*pb);
          return make_error(ErrorCode::kIo, "no free media ports");
        }
        r = RelayStream::open(io_, media_address_, *pa, *pb);
        if (!r) {
          ports_.give(*pa);
          ports_.give(*pb);
        }
      }
      if (!r) return r.error();
      relay = std::move(r).value();
      if (auto t = media_target(offer, m)) relay->set_remote(Side::kA, *t);
      if (theirs) {
        // Our keys: one for what we send the caller, one for what we send the callee.
        sc.secure = true;
        sc.tag = theirs->first.tag;
        sc.suite = theirs->first.suite;
        sc.proto = m.proto;
        sc.our_a = media::new_sdes_inline(sc.suite);
        sc.our_b = media::new_sdes_inline(sc.suite);
        auto ka = media::parse_sdes_key(sc.suite, sc.our_a);
        auto kb = media::parse_sdes_key(sc.suite, sc.our_b);
        if (!ka || !kb) return make_error(ErrorCode::kInternal, "SRTP: our own key does not parse");
        VB_TRY(relay->set_srtp(Side::kA, theirs->second, ka.value()));
      }
      any = true;
    }
    c.relays.push_back(std::move(relay));
    c.crypto.push_back(std::move(sc));
  }
  if (!any) {
    return make_error(ErrorCode::kInvalidArgument,
                      plain_refused
                          ? "SRTP is required here (gateway.require_srtp): plain RTP is refused"
                          : "no stream the gateway can relay (RTP or SRTP with SDES keys, audio or "
                            "video)");
  }
  return ok_status();
}

// --- recorders -------------------------------------------------------------------------------

// Endpoints the gateway can reach and the health checks have not found down first (a down one is
// still tried last: the checks may lag, and a required recording must not fail while any
// endpoint might answer); within each kind the region order stays.
std::vector<policy::EndpointTarget> Gateway::usable(std::vector<policy::EndpointTarget> targets) {
  std::stable_partition(targets.begin(), targets.end(), [this](const policy::EndpointTarget& e) {
    auto it = health_.find(e.uri);
    return resolver_->peer(e.uri) && (it == health_.end() || !it->second.down);
  });
  return targets;
}

// A recorder gone during the call is replaced by an endpoint of the same application (or its
// pair) that the group is not using and the health checks have not found down; the recording
// session of the replacement starts after a gap, which both recordings' times show.
void Gateway::replace(Call& c, Recording& r, size_t group) {
  auto& g = r.groups[group];
  for (const auto& [target, endpoints] : g.sources) {
    for (const auto& e : endpoints) {
      const bool used = std::any_of(g.legs.begin(), g.legs.end(), [&](const Leg* l) {
        return l->uri == e.uri && l->state != Leg::State::kFailed;
      });
      auto h = health_.find(e.uri);
      if (used || (h != health_.end() && h->second.down)) continue;
      spdlog::info("call {}: replacing a lost recorder of {} with {}", c.call_id, g.application,
                   e.uri);
      ++metrics_.recording_replacements;
      start_leg(c, r, group, target, e);
      return;
    }
  }
}

// OPTIONS to every enabled recorder endpoint each interval; one unanswered for `failures`
// intervals in a row is down: the sessions the gateway holds with it are taken as gone (a killed
// recorder sends no BYE), and new calls try it last.
void Gateway::check_health() {
  std::map<std::string, sip::Peer> wanted;
  {
    std::lock_guard lock(policy_.mutex());
    for (const auto& [id, e] : policy_.state().endpoints()) {
      if (!e.enabled) continue;
      if (auto p = resolver_->peer(e.uri)) wanted.emplace(e.uri, *p);
    }
  }
  std::erase_if(health_, [&](const auto& kv) { return !wanted.count(kv.first); });
  for (const auto& kv : wanted) {
    const std::string& uri = kv.first;
    EndpointHealth& h = health_[uri];
    if (h.in_flight && ++h.missed >= options_.health_failures && !h.down &&
        resolver_->failed(uri)) {
      // SRV failover: the endpoint's next target is tried before the endpoint counts as down.
      h.missed = 0;
      h.in_flight = false;
    }
    if (h.in_flight && h.missed >= options_.health_failures && !h.down) {
      h.down = true;
      ++metrics_.recorders_down;
      spdlog::error("recorder endpoint {} is down: {} health checks unanswered", uri, h.missed);
      endpoint_down(uri);
    }
    h.in_flight = true;
    const uint64_t probe = ++h.probe;
    (void)sip_->ua().options(kv.second, uri, [this, uri, probe](int status, const sip::Message*) {
      auto it = health_.find(uri);
      if (it == health_.end() || it->second.probe != probe || status == 408) return;
      EndpointHealth& x = it->second;
      x.in_flight = false;
      x.missed = 0;
      x.status = status;
      if (x.down) {
        x.down = false;
        spdlog::info("recorder endpoint {} answers again ({})", uri, status);
      }
    });
  }
  health_timer_.expires_after(options_.health_interval);
  health_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec && !stopping_) check_health();
  });
}

void Gateway::endpoint_down(const std::string& uri) {
  std::vector<std::pair<uint64_t, Leg*>> gone;
  for (auto& [id, c] : calls_) {
    for (auto& r : c->recordings) {
      for (auto& l : r->legs) {
        if (l->uri == uri && (l->state == Leg::State::kUp || l->state == Leg::State::kInviting)) {
          gone.emplace_back(id, l.get());
        }
      }
    }
  }
  for (auto& [id, l] : gone) {
    auto it = calls_.find(id);
    if (it == calls_.end() || it->second->state == Call::State::kEnding) continue;
    leg_gone(*it->second, *l, "recorder endpoint stopped answering health checks");
  }
}

void Gateway::invite_recorders(Call& c, Party& p) {
  auto rec = std::make_unique<Recording>();
  rec->party = &p;
  rec->policy = p.decision.policy;
  const std::string region = p.user ? p.user->data_location : "";
  Recording& r = *rec;
  c.recordings.push_back(std::move(rec));
  for (const auto& inv : r.policy->invitations) {
    Recording::Group g;
    g.application =
        inv.recorder.display_name.empty() ? inv.recorder.instance_upn : inv.recorder.display_name;
    g.required_before = inv.required_before_call_establishment;
    g.required_during = inv.required_during_call;
    r.groups.push_back(std::move(g));
    const size_t group = r.groups.size() - 1;
    auto targets = usable(policy::endpoints_for_region(inv.recorder, region));
    const size_t n =
        std::min<size_t>(std::max<uint32_t>(1, inv.concurrent_invitation_count), targets.size());
    for (size_t i = 0; i < n; ++i) start_leg(c, r, group, inv.recorder, targets[i]);
    r.groups[group].sources.emplace_back(inv.recorder, std::move(targets));
    if (inv.paired) {
      auto paired = usable(policy::endpoints_for_region(*inv.paired, region));
      if (!paired.empty()) start_leg(c, r, group, *inv.paired, paired[0]);
      r.groups[group].sources.emplace_back(*inv.paired, std::move(paired));
    }
    if (r.groups[group].legs.empty()) {
      spdlog::error("call {}: policy {} application {} has no enabled recorder endpoint", c.call_id,
                    r.policy->name, r.groups[group].application);
    }
  }
}

void Gateway::start_leg(Call& c, Recording& r, size_t group, const policy::RecorderTarget& target,
                        const policy::EndpointTarget& endpoint) {
  auto leg = std::make_unique<Leg>();
  Leg& l = *leg;
  l.group = group;
  l.recording = &r;
  l.application_id = target.application_id;
  l.instance = target.instance_upn;
  l.endpoint = endpoint.id;
  l.uri = endpoint.uri;
  r.legs.push_back(std::move(leg));
  r.groups[group].legs.push_back(&l);
  ++metrics_.recording_invites;
  auto fail = [&](std::string why) {
    l.state = Leg::State::kFailed;
    l.why = std::move(why);
    ++metrics_.recording_failed;
    spdlog::warn("call {}: recorder {} ({}): {}", c.call_id, l.instance, l.uri, l.why);
  };
  auto peer = resolver_->peer(endpoint.uri);
  if (!peer) {
    fail(resolver_->why(endpoint.uri));
    return;
  }
  // SDES keys go in the SDP: SRTP copies only when the signalling to this recorder is TLS.
  const bool srtp =
      options_.recorder_srtp && (peer->transport == "TLS" || options_.allow_sdes_over_plain_sip);
  if (options_.recorder_srtp && !srtp) {
    if (options_.require_srtp) {
      fail("SRTP is required (gateway.require_srtp), and its keys go only over TLS: give " +
           endpoint.uri + " a sips: or ;transport=tls URI");
      return;
    }
    if (plain_recorders_.insert(endpoint.uri).second) {
      spdlog::warn(
          "recorder {} is reached without TLS: its copies go as plain RTP (SRTP keys "
          "are sent only over TLS; logged once per endpoint)",
          endpoint.uri);
    }
  }
  const Party& p = *r.party;
  const Party& other = &p == &c.caller ? c.callee : c.caller;
  // The SIPREC offer: per relayed stream, what the recorded party sends and what it receives.
  sip::SessionDescription sdp;
  sdp.origin.username = "verbatim";
  sdp.origin.session_id = std::to_string(c.id);
  sdp.origin.session_version = "1";
  sdp.origin.addr_type = media_address_.is_v6() ? "IP6" : "IP4";
  sdp.origin.address = media_address_.to_string();
  sdp.session_name = "Verbatim SIPREC";
  sdp.connection = sip::SdpConnection{"IN", sdp.origin.addr_type, sdp.origin.address};
  siprec::Metadata md;
  md.groups.push_back({new_metadata_id(), format_iso8601(c.started_at), "", {}});
  const std::string session_id = new_metadata_id();
  md.sessions.push_back({session_id,
                         md.groups[0].id,
                         format_iso8601(c.started_at),
                         "",
                         format_iso8601(std::chrono::system_clock::now()),
                         "",
                         {}});
  siprec::Participant observed, peer_party;
  observed.id = new_metadata_id();
  peer_party.id = new_metadata_id();
  observed.names.push_back({p.aor, p.display});
  peer_party.names.push_back({other.aor, other.display});
  observed.sessions = peer_party.sessions = {session_id};
  observed.streams_given = peer_party.streams_given = true;
  for (size_t i = 0; i < c.relays.size(); ++i) {
    if (!c.relays[i]) continue;
    const auto& offered = c.a_offer.media[i];
    for (Side from : {p.side, other.side}) {
      Result<std::shared_ptr<TapPorts>> tap = make_error(ErrorCode::kIo, "");
      for (int attempt = 0; attempt < kBindAttempts && !tap; ++attempt) {
        auto port = ports_.take();
        if (!port) {
          fail("no free media ports for the recording");
          return;
        }
        tap = TapPorts::open(io_, media_address_, *port);
        if (!tap) ports_.give(*port);
      }
      if (!tap) {
        fail(tap.error().message);
        return;
      }
      l.taps.push_back(std::move(tap).value());
      l.lines.emplace_back(i, from);
      sip::SdpMedia m;
      m.media = offered.media;
      m.port = l.taps.back()->port();
      m.proto = srtp ? "RTP/SAVP" : "RTP/AVP";
      m.formats = offered.formats;
      if (srtp) {
        // Our key for the copies (SDES, RFC 4568): the recorder decrypts with it.
        l.keys.push_back(media::new_sdes_inline(kRecorderSuite));
        m.attributes.push_back(
            {"crypto", "1 " + std::string(kRecorderSuite) + " " + l.keys.back()});
      }
      for (const auto& a : offered.attributes) {
        if (a.name == "rtpmap" || a.name == "fmtp" || a.name == "ptime") m.attributes.push_back(a);
      }
      const std::string label = std::to_string(l.lines.size());
      m.attributes.push_back({"label", label});
      m.attributes.push_back({"sendonly", std::nullopt});
      sdp.media.push_back(std::move(m));
      siprec::Stream st;
      st.id = new_metadata_id();
      st.session_id = session_id;
      st.label = label;
      (from == p.side ? observed.send : observed.recv).push_back(st.id);
      (from == p.side ? peer_party.recv : peer_party.send).push_back(st.id);
      md.streams.push_back(std::move(st));
    }
  }
  md.participants = {observed, peer_party};
  l.md_session = session_id;
  l.peer_id = peer_party.id;
  l.peer_aor = other.aor;
  l.peer_send = peer_party.send;
  l.peer_recv = peer_party.recv;
  // What Verbatim adds: the observed participant, direction, the call, policy and application.
  json ext{{"observed", observed.id},
           {"direction", p.side == Side::kA ? "outbound" : "inbound"},
           {"callId", c.call_id},
           {"policy", r.policy->name},
           {"applicationId", target.application_id},
           {"instance", target.instance_upn}};
  std::string xml_ext = "<extensiondata xmlns:vb=\"urn:verbatim:gateway:1\"><vb:call";
  for (auto& [k, v] : ext.items()) {
    std::string value = v.get<std::string>(), esc;
    for (char ch : value) {
      switch (ch) {
        case '&':
          esc += "&amp;";
          break;
        case '<':
          esc += "&lt;";
          break;
        case '"':
          esc += "&quot;";
          break;
        default:
          esc += ch;
      }
    }
    xml_ext.append(" ").append(k).append("=\"").append(esc).append("\"");
  }
  xml_ext += "/></extensiondata>";
  md.extensions.push_back(xml_ext);
  const std::string boundary = "verbatim-" + random_hex(6);
  std::string body = "--" + boundary + "\r\nContent-Type: application/sdp\r\n\r\n" +
                     sip::serialize_sdp(sdp) + "\r\n--" + boundary +
                     "\r\nContent-Type: application/rs-metadata+xml\r\n"
                     "Content-Disposition: recording-session\r\n\r\n" +
                     siprec::serialize_metadata(md) + "\r\n--" + boundary + "--\r\n";
  sip::OutgoingCall oc;
  oc.next_hop = *peer;
  oc.request_uri = endpoint.uri;
  oc.from = "<sip:gateway@" + sip_->local() + ">";
  oc.to = "<" + endpoint.uri + ">";
  oc.content_type = "multipart/mixed;boundary=" + boundary;
  oc.body = std::move(body);
  oc.contact_params = ";+sip.src";  // RFC 7866 §6.1.1: we are a recording client
  oc.call_id = random_hex(16) + "@verbatim";
  oc.headers = {{"Require", "siprec"}};
  // What the recorder's catalog keeps (retention by application, policy or group), signed so it
  // takes it from us alone (siprec/gateway_context.h).
  siprec::GatewayContext context{target.application_id, r.policy->name, c.call_id, {}};
  if (p.user) {
    std::lock_guard lock(policy_.mutex());
    const auto& state = policy_.state();
    for (const auto& gid : state.groups_of(p.user->object_id)) {
      if (const policy::Group* g = state.group_by_id(gid)) {
        if (!g->display_name.empty()) context.groups.push_back(g->display_name);
        context.groups.push_back(g->object_id);
      }
    }
  }
  if (options_.recorder_key) {
    for (auto& h : siprec::context_headers(context, oc.call_id, *options_.recorder_key,
                                           std::chrono::system_clock::now())) {
      oc.headers.push_back(std::move(h));
    }
  }
  auto sid = sip_->ua().invite(std::move(oc));
  if (!sid) {
    fail(sid.error().message);
    return;
  }
  l.session = sid.value();
  sessions_[l.session] = {c.id, Role::kRecorder, &l};
}

// Whether the RequiredBeforeCallEstablishment recordings (of one party, or of all) are in:
// ready, still waiting, or failed (every instance of an application gone; `why` says which).
Gateway::Readiness Gateway::readiness(const Call& c, const Party* only, std::string& why) const {
  Readiness state = Readiness::kReady;
  for (const auto& r : c.recordings) {
    if (!r->active() || (only && r->party != only)) continue;
    for (const auto& g : r->groups) {
      if (!g.required_before || g.any_up()) continue;
      if (g.all_gone()) {
        why = "every recorder of " + g.application + " refused or failed: " + g.why_gone();
        return Readiness::kFailed;
      }
      state = Readiness::kWaiting;
    }
  }
  return state;
}

void Gateway::check_setup(Call& c) {
  if (c.state != Call::State::kSetup) return;
  std::string why;
  const Readiness ready = readiness(c, nullptr, why);
  if (ready == Readiness::kFailed) {
    recording_failed(c, why, false);
    return;
  }
  if (ready == Readiness::kWaiting) return;
  c.deadline.cancel();
  c.recorders_ready_ms = ms_since(c.started);
  place_callee(c);
}

// The caller gets a final non-2xx (the call was never connected) and the call ends.
void Gateway::reject_caller(Call& c, int status, const std::string& reason,
                            const sip::HeaderList& headers, const std::string& outcome) {
  c.final_status = status;
  if (c.a) {
    const uint64_t a = c.a;
    sessions_.erase(a);
    c.a = 0;
    (void)sip_->ua().reject(a, status, reason, headers);
  }
  end_call(c, outcome);
}

void Gateway::recording_failed(Call& c, const std::string& why, bool timed_out) {
  // Teams: inbound calls to a user whose required recording cannot be set up go to voicemail.
  // Only when the callee's recording is what failed; the caller's failing refuses the call.
  if (!options_.voicemail_uri.empty() && !c.to_voicemail && !c.callee_identity.empty()) {
    bool callee_only = true, any = false;
    for (const auto& r : c.recordings) {
      if (!r->active()) continue;
      for (const auto& g : r->groups) {
        if (!g.required_before || (timed_out ? g.any_up() : !g.all_gone())) continue;
        any = true;
        callee_only &= r->party == &c.callee;
      }
    }
    if (any && callee_only) {
      to_voicemail(c, why);
      return;
    }
  }
  ++metrics_.calls_refused_recording;
  spdlog::warn("call {}: refused: {}", c.call_id, why);
  sip::HeaderList h{
      {"Reason", reason_header(480, kRecordingFailedText)},
      {"Warning", "399 verbatim " + quote(std::string(kRecordingFailedText) + ": " + why)}};
  reject_caller(c, 480, "Recording Unavailable", h, "refused: " + why);
}

// The callee's recordings are given up (their recorders are hung up) and the call goes to the
// voicemail URI instead of the callee, once the caller's own required recorders are ready.
void Gateway::to_voicemail(Call& c, const std::string& why) {
  c.to_voicemail = true;
  c.voicemail_why = why;
  ++metrics_.calls_to_voicemail;
  spdlog::warn("call {}: to voicemail: {}", c.call_id, why);
  for (auto& r : c.recordings) {
    if (r->party == &c.callee) end_recording(c, *r, "the call went to voicemail");
  }
  check_setup(c);
}

// A recording whose party left the call: its recorders are hung up, its copies stop.
void Gateway::end_recording(Call& c, Recording& r, const std::string& why) {
  r.left = true;
  for (auto& l : r.legs) {
    for (const auto& [relay, tap] : l->tap_ids) c.relays[relay]->remove_tap(tap);
    l->tap_ids.clear();
    if (l->state == Leg::State::kInviting || l->state == Leg::State::kUp) {
      l->state = l->state == Leg::State::kUp ? Leg::State::kEnded : Leg::State::kFailed;
      if (l->why.empty()) l->why = why;
    }
    if (!l->session) continue;
    const uint64_t sid = l->session;
    l->session = 0;
    sessions_.erase(sid);
    hang_up(sid);
  }
}

// --- the callee ------------------------------------------------------------------------------

std::string Gateway::sdp_for(const Call& c, const sip::SessionDescription& from_other, Side facing,
                             bool recorded, uint64_t origin) {
  sip::SessionDescription s = from_other;
  // The o= session id stays the one the dialog first saw; versions only ever grow (one counter
  // for the gateway, so a dialog moved between calls never sees one go back).
  s.origin.username = "verbatim";
  s.origin.session_id = std::to_string(origin ? origin : c.origin_of(facing));
  s.origin.session_version = std::to_string(++sdp_version_);
  s.origin.addr_type = media_address_.is_v6() ? "IP6" : "IP4";
  s.origin.address = media_address_.to_string();
  s.connection = sip::SdpConnection{"IN", s.origin.addr_type, s.origin.address};
  static const std::set<std::string> kDropped = {
      "rtcp",   "rtcp-mux",    "candidate", "ice-ufrag", "ice-pwd", "ice-options",
      "crypto", "fingerprint", "setup",     "record",    "ice-lite"};
  std::erase_if(s.attributes, [](const sip::SdpAttribute& a) { return kDropped.count(a.name); });
  if (recorded || c.recorded()) s.attributes.push_back({"record", std::string("on")});
  for (size_t i = 0; i < s.media.size(); ++i) {
    auto& m = s.media[i];
    m.connection.reset();
    std::erase_if(m.attributes, [](const sip::SdpAttribute& a) { return kDropped.count(a.name); });
    const bool relayed = i < c.relays.size() && c.relays[i];
    m.port = relayed && m.port != 0 ? c.relays[i]->port(facing) : 0;
    if (relayed && c.crypto[i].secure) {
      const auto& sc = c.crypto[i];
      m.proto = sc.proto;
      m.attributes.push_back({"crypto", std::to_string(sc.tag) + " " + sc.suite + " " +
                                            (facing == Side::kA ? sc.our_a : sc.our_b)});
    }
  }
  return sip::serialize_sdp(s);
}

// The From of a call we place for `p`: its name and address; towards the trunk its number.
std::string Gateway::from_of(const Party& p, bool to_trunk) const {
  return (p.display.empty() ? "" : quote(p.display) + " ") + "<" +
         (p.number.empty() || !to_trunk ? p.aor : "sip:" + p.number + "@" + sip_->local()) + ">";
}

void Gateway::place_callee(Call& c) {
  if (c.queue) {
    queue_start(c);
    return;
  }
  c.state = Call::State::kCalling;
  c.callee_called_ms = ms_since(c.started);
  sip::OutgoingCall oc;
  oc.max_forwards = c.max_forwards;
  std::vector<Binding> bindings;
  if (c.to_voicemail) {
    oc.next_hop = *peer_of_uri(options_.voicemail_uri);
    oc.request_uri = options_.voicemail_uri;
    // Whose mailbox, and why (RFC 5806 Diversion, RFC 7044 History-Info).
    // RFC 4458 causes: 302 forwarded unconditionally, 408 no answer, 480 unavailable.
    const char* cause = c.voicemail_reason == "unconditional" ? "302"
                        : c.voicemail_reason == "no-answer"   ? "408"
                                                              : "480";
    oc.headers.emplace_back("Diversion", "<" + c.callee.aor + ">;reason=" + c.voicemail_reason);
    oc.headers.emplace_back("History-Info", "<" + c.callee.aor + ">;index=1");
    oc.headers.emplace_back("History-Info",
                            "<" + options_.voicemail_uri + ";cause=" + cause + ">;index=1.1;mp=1");
  } else if (c.via_trunk) {
    oc.next_hop = trunk_peer();
    oc.request_uri = "sip:" + c.callee.number + "@" + options_.trunk;
  } else {
    bindings = registrar_->bindings(c.callee_identity);
    if (bindings.empty() && c.forwarding && c.forwarding->unanswered_enabled &&
        on_unanswered(c, c.callee.aor + " is not registered (calling settings)")) {
      return;
    }
    if (bindings.empty()) {
      reject_caller(c, 480, "Temporarily Unavailable",
                    {{"Warning", "399 verbatim " + quote(c.callee.aor + " is not registered")}},
                    "callee not registered");
      return;
    }
    if (!keys_allowed(c, "")) {
      // The callee is offered SRTP with our keys: only on phones registered over TLS.
      std::erase_if(bindings, [](const Binding& b) { return b.source.transport != "TLS"; });
      if (bindings.empty()) {
        reject_caller(
            c, 480, "Temporarily Unavailable",
            {{"Warning", "399 verbatim " + quote(c.callee.aor +
                                                 " has no phone registered over TLS, and SRTP keys "
                                                 "are sent only over TLS")}},
            "callee not reachable over TLS");
        return;
      }
    }
  }
  oc.from = from_of(c.caller, c.via_trunk);
  oc.to = "<" + (c.via_trunk && !c.to_voicemail ? oc.request_uri : c.callee.aor) + ">";
  if (!c.forwards.empty() && !c.to_voicemail) {
    oc.headers.emplace_back("Diversion",
                            "<" + c.forwards.back()["from"].get<std::string>() +
                                ">;reason=" + c.forwards.back().value("reason", "unconditional"));
  }
  oc.body = sdp_for(c, c.a_offer, Side::kB);
  for (auto& h : indicator_headers(c)) oc.headers.push_back(std::move(h));
  if (c.emergency) oc.session_timer = false;
  // Simultaneous ring: every registration of the callee (newest first); the first to answer
  // takes the call and the others are cancelled.
  if (bindings.empty()) bindings.push_back(Binding{oc.request_uri, oc.next_hop, {}, {}, 0});
  std::string error;
  for (const auto& b : bindings) {
    sip::OutgoingCall fork = oc;
    fork.next_hop = b.source;
    fork.request_uri = b.contact;
    auto sid = sip_->ua().invite(std::move(fork));
    if (!sid) {
      error = sid.error().message;
      continue;
    }
    c.forks.push_back(sid.value());
    sessions_[sid.value()] = {c.id, Role::kCallee, nullptr};
  }
  if (c.forwarding && c.forwarding->forwarding_enabled &&
      c.forwarding->forwarding_type == "Simultaneous" && !c.to_voicemail && !c.via_trunk) {
    ring_simultaneously(c, oc);
  }
  c.rang = c.forks.size();
  if (c.forwarding && c.forwarding->unanswered_enabled && !c.to_voicemail && !c.via_trunk) {
    c.unanswered.expires_after(std::chrono::seconds(c.forwarding->unanswered_delay));
    c.unanswered.async_wait([this, id = c.id](boost::system::error_code ec) {
      auto it = calls_.find(id);
      if (ec || it == calls_.end()) return;
      Call& call = *it->second;
      if (call.state == Call::State::kCalling && !call.b && call.forwarding) {
        (void)on_unanswered(call, "no answer within " +
                                      std::to_string(call.forwarding->unanswered_delay) +
                                      " s (calling settings)");
      }
    });
  }
  if (c.forks.empty()) {
    reject_caller(c, 500, "Server Internal Error", {{"Warning", "399 verbatim " + quote(error)}},
                  "could not call: " + error);
  }
}

// The best final status of the callee's registrations that all failed (RFC 3261 §16.7,
// simplified): a 6xx, else the lowest 4xx, else the lowest 5xx.
static bool better_status(int candidate, int best) {
  if (best == 0) return true;
  if ((candidate >= 600) != (best >= 600)) return candidate >= 600;
  if ((candidate / 100 == 4) != (best / 100 == 4)) return candidate / 100 == 4;
  return candidate < best;
}

// --- responses -------------------------------------------------------------------------------

void Gateway::on_progress(uint64_t session, const sip::Message& response) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  auto c = calls_.find(it->second.call);
  if (c == calls_.end()) return;
  if (it->second.role == Role::kTarget) {
    const auto& t = c->second->transfer;
    if (t && t->transferor && response.status() == 180) {
      (void)sip_->ua().notify_refer(t->transferor, 180, "Ringing");
    }
    return;
  }
  if (it->second.role != Role::kCallee || !c->second->a) return;
  if (c->second->queue && c->second->queue->caller_answered) return;
  if (response.status() == 180 || response.status() == 183) {
    (void)sip_->ua().ring(c->second->a);
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
    (void)sip_->ua().accept(c.a, sdp_for(c, c.b_answer, Side::kA), indicator_headers(c));
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
  const sip::Peer* peer = session ? sip_->ua().peer(session) : nullptr;
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
  (void)sip_->ua().hangup(session, headers);
}

// An established dialog goes into the journal (what a restarted gateway needs to end it).
void Gateway::journal_up(uint64_t session, const Call& c, const char* role) {
  if (!journal_) return;
  const sip::Dialog* d = sip_->ua().dialog(session);
  const sip::Peer* peer = sip_->ua().peer(session);
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

sip::SipResult<std::string> Gateway::on_reoffer(uint64_t session, const sip::Message& request) {
  auto it = sessions_.find(session);
  if (it == sessions_.end() || it->second.role == Role::kRecorder) {
    return sip::SipError{0, 488, "not a call"};
  }
  auto ci = calls_.find(it->second.call);
  if (ci == calls_.end()) return sip::SipError{0, 481, "the call is over"};
  Call& c = *ci->second;
  auto offer = sip::parse_sdp(request.body());
  if (!offer) return sip::SipError{0, 488, offer.error().message};
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

// --- recorders leaving, calls ending ---------------------------------------------------------

void Gateway::leg_gone(Call& c, Leg& l, const std::string& why) {
  const bool was_up = l.state == Leg::State::kUp;
  l.state = was_up ? Leg::State::kEnded : Leg::State::kFailed;
  l.why = why;
  if (!was_up) ++metrics_.recording_failed;
  for (const auto& [relay, tap] : l.tap_ids) c.relays[relay]->remove_tap(tap);
  l.tap_ids.clear();
  if (l.session) {
    sessions_.erase(l.session);
    hang_up(l.session);
    l.session = 0;
  }
  spdlog::warn("call {}: recorder {} ({}): {}", c.call_id, l.instance, l.uri, why);
  if (c.state == Call::State::kSetup) {
    check_setup(c);
    return;
  }
  if (c.state == Call::State::kEnding || c.removing) return;
  if (!l.recording->joined) {
    check_transfer(c);
    return;
  }
  if (((c.queue && c.queue->joining) || c.joining) && l.recording->party == &c.callee) {
    check_agent(c);
    return;
  }
  if (was_up && !stopping_) replace(c, *l.recording, l.group);
  for (const auto& r : c.recordings) {
    if (!r->active()) continue;
    for (const auto& g : r->groups) {
      if (!g.required_during || !g.all_gone()) continue;
      ++metrics_.calls_ended_recording;
      spdlog::warn("call {}: every recorder of {} is gone: the call is ended", c.call_id,
                   g.application);
      if (c.state == Call::State::kConnected && r->policy->warn_user_on_removal && !stopping_) {
        warn_and_end(c, g.application);
      } else {
        end_call(c, "recording lost: " + g.application,
                 {{"Reason", reason_header(480, kRecordingLostText)}});
      }
      return;
    }
  }
}

// The banner the indicator shows: the recorded party's policy's custom text (Set-VbBannerText),
// else gateway.banner_text.
std::string Gateway::banner_for(const Call& c) const {
  for (const auto& r : c.recordings) {
    if (!r->left && !r->policy->banner_text.empty()) return r->policy->banner_text;
  }
  return options_.banner_text;
}

// --- forwarding and transfers ----------------------------------------------------------------

// Whom a 3xx's Contact reaches, if anyone.
std::optional<Gateway::Target> Gateway::redirect_target(const sip::Message& response) {
  const sip::Header* contact = response.find(sip::HeaderId::kContact);
  if (!contact) return std::nullopt;
  auto na = sip::parse_name_addr(contact->value);
  if (!na) return std::nullopt;
  auto uri = sip::parse_uri(na.value().uri.text);
  if (!uri) return std::nullopt;
  Target t = resolve(uri.value());
  if (t.party.aor.empty()) return std::nullopt;
  return t;
}

// The callee's phone forwarded the call (3xx) before it was answered: the other registrations
// are cancelled and the target becomes the callee. The callee's recordings end, unless its
// policy records rerouted calls (then they go on, on its behalf); the target's own policy
// decides whether it is recorded, and its required recorders hold the call as for a new one.
void Gateway::forward(Call& c, Target t, int status, const std::string& reason) {
  c.unanswered.cancel();
  for (uint64_t f : c.forks) {
    sessions_.erase(f);
    hang_up(f);
  }
  c.forks.clear();
  auto gone = std::make_unique<Party>(c.callee);
  for (auto& r : c.recordings) {
    if (r->party != &c.callee) continue;
    r->party = gone.get();
    if (r->policy->record_rerouted_calls && r->active()) {
      r->on_behalf = true;
    } else {
      end_recording(c, *r, "the call was forwarded");
    }
  }
  spdlog::info("call {}: {} forwards the call to {}", c.call_id, gone->aor, t.party.aor);
  c.forwards.push_back({{"from", gone->aor},
                        {"to", t.party.aor},
                        {"status", status},
                        {"reason", reason},
                        {"atMs", ms_since(c.started)}});
  c.departed.push_back(std::move(gone));
  c.callee = std::move(t.party);
  c.callee.side = Side::kB;
  c.callee_identity = t.identity;
  c.via_trunk = t.via_trunk;
  c.state = Call::State::kSetup;
  refresh_metadata(c);
  if (!t.emergency) decide(c, c.callee);
  await_recorders(c);
}

// --- forwarding set by the admin (Set-CsUserCallingSettings) -------------------------------

// A stored forwarding target (a user's SIP address or an E.164 number) as a party to call;
// nullopt when the gateway cannot reach it now (a number without a trunk, a removed user).
std::optional<Gateway::Target> Gateway::forwarding_target(const std::string& target) {
  const std::string text = istarts_with(target, "sip:") ? target : "tel:" + target;
  auto uri = sip::parse_uri(text);  // views into `text`
  if (!uri) return std::nullopt;
  Target t = resolve(uri.value());
  if (t.party.aor.empty() || t.emergency || t.queue) return std::nullopt;
  return t;
}

// With RecordReroutedCalls, a user whose call is forwarded away is recorded on their behalf:
// their own recorders record the party who takes the call for them.
void Gateway::record_rerouted(Call& c, Party& gone) {
  const policy::Decision d = policy_.engine().decide(gone.aor);
  if (!d.record() || !d.policy->record_rerouted_calls) return;
  gone.decision = d;
  gone.user = d.user;
  gone.recorded = true;
  invite_recorders(c, gone);
  c.recordings.back()->on_behalf = true;
}

// Immediate forwarding: the user's phones never ring; the call goes to the target (under the
// target's own policy, with Diversion naming the user) or to voicemail. One hop: the target's
// own forwarding is not followed.
void Gateway::forward_immediately(Call& c) {
  const policy::CallingSettings f = *c.forwarding;
  c.forwarding.reset();
  if (f.forwarding_target_type == "Voicemail") {
    if (options_.voicemail_uri.empty()) {
      spdlog::warn(
          "call {}: {} forwards to voicemail but gateway.voicemail_uri is not set: "
          "ringing the user",
          c.call_id, c.callee.aor);
      return;
    }
    c.to_voicemail = true;
    c.voicemail_reason = "unconditional";
    c.voicemail_why = "forwarded to voicemail (calling settings)";
    ++metrics_.calls_to_voicemail;
    return;
  }
  auto t = forwarding_target(f.forwarding_target);
  if (!t) {
    spdlog::warn("call {}: {} forwards to {}, which cannot be reached: ringing the user", c.call_id,
                 c.callee.aor, f.forwarding_target);
    return;
  }
  auto gone = std::make_unique<Party>(c.callee);
  record_rerouted(c, *gone);
  spdlog::info("call {}: {} forwards every call to {}", c.call_id, gone->aor, t->party.aor);
  c.forwards.push_back({{"from", gone->aor},
                        {"to", t->party.aor},
                        {"status", 0},
                        {"reason", "unconditional"},
                        {"setting", "immediate"},
                        {"atMs", ms_since(c.started)}});
  c.departed.push_back(std::move(gone));
  c.callee = std::move(t->party);
  c.callee.side = Side::kB;
  c.callee_identity = t->identity;
  c.via_trunk = t->via_trunk;
}

// Simultaneous ring: the target rings with the user's phones (Diversion reason=follow-me), its
// phone showing the indicator if its own policy records it. Its recorders are invited only if it
// answers (simultaneous_answered).
void Gateway::ring_simultaneously(Call& c, const sip::OutgoingCall& template_call) {
  auto t = forwarding_target(c.forwarding->forwarding_target);
  if (!t) {
    spdlog::warn("call {}: {} rings {} too, which cannot be reached", c.call_id, c.callee.aor,
                 c.forwarding->forwarding_target);
    return;
  }
  sip::OutgoingCall oc = template_call;
  oc.to = "<" + t->party.aor + ">";
  oc.headers.clear();
  oc.headers.emplace_back("Diversion", "<" + c.callee.aor + ">;reason=follow-me");
  const policy::Decision d =
      t->identity.empty() ? policy::Decision{} : policy_.engine().decide(t->party.aor);
  for (auto& h : indicator_headers(c, d.record() ? d.policy.get() : nullptr)) {
    oc.headers.push_back(std::move(h));
  }
  oc.body = sdp_for(c, c.a_offer, Side::kB, d.record());
  std::vector<Binding> targets;
  if (t->via_trunk) {
    oc.from = from_of(c.caller, true);
    oc.request_uri = "sip:" + t->party.number + "@" + options_.trunk;
    oc.to = "<" + oc.request_uri + ">";
    targets.push_back(Binding{oc.request_uri, trunk_peer(), {}, {}, 0});
  } else {
    targets = reachable(c, t->identity);
  }
  for (const auto& b : targets) {
    sip::OutgoingCall fork = oc;
    fork.next_hop = b.source;
    fork.request_uri = b.contact;
    auto sid = sip_->ua().invite(std::move(fork));
    if (!sid) continue;
    c.forks.push_back(sid.value());
    c.simultaneous_forks.insert(sid.value());
    sessions_[sid.value()] = {c.id, Role::kCallee, nullptr};
  }
  c.simultaneous = std::move(*t);
}

// The simultaneous target answered first: the user's phones are cancelled and the target is the
// callee, recorded under its own policy (the user's recordings end, or go on on the user's
// behalf with RecordReroutedCalls); the caller is connected once its required recorders are in.
void Gateway::simultaneous_answered(Call& c, uint64_t session, const sip::Message& response) {
  c.b = session;
  c.unanswered.cancel();
  for (uint64_t f : c.forks) {
    if (f == session) continue;
    sessions_.erase(f);
    hang_up(f);
  }
  c.forks.clear();
  auto answer = sip::parse_sdp(response.body());
  if (!answer) {
    end_call(c, "the simultaneous ring target answered without usable SDP");
    return;
  }
  c.b_answer = std::move(answer).value();
  c.b_record_aware = !c.simultaneous->via_trunk && record_aware(response);
  auto gone = std::make_unique<Party>(c.callee);
  for (auto& r : c.recordings) {
    if (r->party != &c.callee) continue;
    r->party = gone.get();
    if (r->policy->record_rerouted_calls && r->active()) {
      r->on_behalf = true;
    } else {
      end_recording(c, *r, "the call was answered by the simultaneous ring target");
    }
  }
  Target& t = *c.simultaneous;
  spdlog::info("call {}: {} answered for {} (simultaneous ring)", c.call_id, t.party.aor,
               gone->aor);
  c.forwards.push_back({{"from", gone->aor},
                        {"to", t.party.aor},
                        {"status", 0},
                        {"reason", "follow-me"},
                        {"setting", "simultaneous"},
                        {"atMs", ms_since(c.started)}});
  c.departed.push_back(std::move(gone));
  c.callee = t.party;
  c.callee.side = Side::kB;
  c.callee_identity = t.identity;
  c.via_trunk = t.via_trunk;
  c.joining = true;
  admit(c);
}

// The simultaneous target answered but its required recording could not be set up: it gets a
// BYE with the reason, and the caller the refusal a direct call would get.
void Gateway::joined_not_recorded(Call& c, const std::string& why) {
  c.joining = false;
  c.deadline.cancel();
  const sip::HeaderList h{
      {"Reason", reason_header(480, kRecordingFailedText)},
      {"Warning", "399 verbatim " + quote(std::string(kRecordingFailedText) + ": " + why)}};
  if (c.b) {
    const uint64_t b = c.b;
    c.b = 0;
    sessions_.erase(b);
    hang_up(b, h);
  }
  ++metrics_.calls_refused_recording;
  spdlog::warn("call {}: {} answered but could not be recorded: {}", c.call_id, c.callee.aor, why);
  reject_caller(c, 480, "Recording Unavailable", h, "refused: " + why);
}

// Unanswered forwarding: the user's phones rang for UnansweredDelay (or the user has none
// registered); they are cancelled and the call goes to the target or to voicemail. False when
// there is nowhere to go (the call stays as it is).
bool Gateway::on_unanswered(Call& c, const std::string& why) {
  const policy::CallingSettings f = *c.forwarding;
  c.forwarding.reset();
  if (f.unanswered_target_type == "Voicemail") {
    if (options_.voicemail_uri.empty()) {
      spdlog::warn(
          "call {}: {} forwards unanswered calls to voicemail but "
          "gateway.voicemail_uri is not set",
          c.call_id, c.callee.aor);
      return false;
    }
    for (uint64_t fork : c.forks) {
      sessions_.erase(fork);
      hang_up(fork);
    }
    c.forks.clear();
    c.voicemail_reason = "no-answer";
    c.state = Call::State::kSetup;
    to_voicemail(c, why);
    return true;
  }
  auto t = forwarding_target(f.unanswered_target);
  if (!t) {
    spdlog::warn("call {}: {} forwards unanswered calls to {}, which cannot be reached", c.call_id,
                 c.callee.aor, f.unanswered_target);
    return false;
  }
  forward(c, std::move(*t), 408, "no-answer");
  return true;
}

// --- transfers -------------------------------------------------------------------------------

// A party's REFER (blind transfer, RFC 3515): accepted (202) when the call is connected and the
// target is someone the gateway can reach; the rest happens after the 202 has gone.
bool Gateway::on_refer(uint64_t session, const sip::Message& refer) {
  auto it = sessions_.find(session);
  if (it == sessions_.end() ||
      (it->second.role != Role::kCaller && it->second.role != Role::kCallee)) {
    return false;
  }
  auto ci = calls_.find(it->second.call);
  if (ci == calls_.end()) return false;
  Call& c = *ci->second;
  const Side moving = it->second.role == Role::kCaller ? Side::kA : Side::kB;
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
  auto na = h ? sip::parse_name_addr(h->value) : sip::SipResult<sip::NameAddr>(sip::SipError{});
  if (!na) return decline("Refer-To does not parse");
  auto uri = sip::parse_uri(na.value().uri.text);
  if (!uri) return decline("Refer-To does not parse");
  auto tr = std::make_unique<Transfer>(io_);
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
  asio::post(io_, [this, id = c.id] { start_transfer(id); });
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
      const sip::Dialog* d = session ? sip_->ua().dialog(session) : nullptr;
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
    t.deadline.expires_after(options_.recording_setup_timeout);
    t.deadline.async_wait([this, call_id](boost::system::error_code ec) {
      if (ec) return;
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
    auto sent = sip_->ua().reinvite(
        t.replaced,
        sdp_for(c, stays == Side::kA ? c.a_offer : c.b_answer, t.moving, false,
                ci->second->origin_of(ci->second->a == t.replaced ? Side::kA : Side::kB)),
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
  oc.from = from_of(staying, t.target.via_trunk);
  oc.to = "<" + (t.target.via_trunk ? oc.request_uri : t.target.party.aor) + ">";
  oc.headers.emplace_back("Referred-By", "<" + t.by + ">");
  if (c.recorded()) {
    oc.headers.emplace_back(
        "Call-Info", "<urn:verbatim:recording>;purpose=recording;banner=" + quote(banner_for(c)));
  }
  oc.body = sdp_for(c, stays == Side::kA ? c.a_offer : c.b_answer, t.moving);
  auto sid = sip_->ua().invite(std::move(oc));
  if (!sid) {
    transfer_failed(c, 500, sid.error().message);
    return;
  }
  t.session = sid.value();
  sessions_[t.session] = {c.id, Role::kTarget, nullptr};
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
    (void)sip_->ua().notify_refer(t.transferor, 200, "OK");
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
  sessions_[t.session] = {c.id, moving == Side::kA ? Role::kCaller : Role::kCallee, nullptr};
  journal_up(t.session, c, moving == Side::kA ? "caller" : "callee");
  apply_answer(c, moving, answer.value(), true);
  Party& slot = moving == Side::kA ? c.caller : c.callee;
  auto gone = std::make_unique<Party>(slot);
  for (auto& r : c.recordings) {
    if (r->party != &slot) continue;
    r->party = gone.get();
    if (r->policy->record_rerouted_calls && r->active()) {
      r->on_behalf = true;
    } else {
      end_recording(c, *r, "the party transferred the call");
    }
  }
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
  c.departed.push_back(std::move(gone));
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
  auto gone = std::make_unique<Party>(t.target.party);
  for (auto& r : c.recordings) {
    if (r->party != &t.target.party) continue;
    r->party = gone.get();
    end_recording(c, *r, "the transfer failed");
  }
  c.departed.push_back(std::move(gone));
  c.transfers.push_back({{"by", t.by},
                         {"to", t.target.party.aor},
                         {"status", status},
                         {"outcome", "failed: " + why},
                         {"atMs", ms_since(c.started)}});
  const uint64_t transferor = t.transferor;
  c.transfer.reset();
  if (transferor) {
    (void)sip_->ua().notify_refer(transferor, status,
                                  status == 480 ? "Temporarily Unavailable" : "Transfer Failed");
  } else {
    end_call(c, "transfer failed after the transferor left: " + why);
  }
}

// --- metadata updates ------------------------------------------------------------------------

// RFC 7866 §7.1.2: when the party a recording's observed participant talks to changes (a
// transfer, a forward, a queue's agent answering), each of its recorders gets a partial metadata
// update in an UPDATE: the participant who left is disassociated from the communication session
// (its time), the one who came associated with the same streams from now on. A stream so
// carries each in turn; the times say who was on it when.
void Gateway::refresh_metadata(Call& c) {
  const std::string now = format_iso8601(std::chrono::system_clock::now());
  for (auto& r : c.recordings) {
    if (!r->active()) continue;
    const Party& other = r->party->side == Side::kA ? c.callee : c.caller;
    for (auto& l : r->legs) {
      if (l->state != Leg::State::kUp || !l->session || l->peer_aor == other.aor) continue;
      siprec::Metadata md;
      md.partial = true;
      siprec::Participant gone, came;
      gone.id = l->peer_id;
      gone.sessions = {l->md_session};
      gone.disassociate_time = now;
      came.id = new_metadata_id();
      came.names.push_back({other.aor, other.display});
      came.sessions = {l->md_session};
      came.associate_time = now;
      came.send = l->peer_send;
      came.recv = l->peer_recv;
      came.streams_given = true;
      md.participants = {gone, came};
      spdlog::info("call {}: recording of {} at {}: {} replaces {} in the metadata", c.call_id,
                   r->party->aor, l->uri, other.aor, l->peer_aor);
      auto sent = sip_->ua().update(
          l->session, "application/rs-metadata+xml", siprec::serialize_metadata(md),
          {{"Content-Disposition", "recording-session"}},
          [call = c.call_id, uri = l->uri](int status, const sip::Message*) {
            if (status >= 300) {
              spdlog::warn("call {}: recorder {} refused a metadata update: {}", call, uri, status);
            }
          });
      if (!sent) {
        spdlog::warn("call {}: metadata update to {} not sent: {}", c.call_id, l->uri,
                     sent.error().message);
      }
      l->peer_id = came.id;
      l->peer_aor = other.aor;
      ++metrics_.metadata_updates;
    }
  }
}

// --- call queues -----------------------------------------------------------------------------

// The recording indicator's header for a party's phone (RFC 7866 §6.1 has the SDP side).
sip::HeaderList Gateway::indicator_headers(const Call& c,
                                           const policy::CompiledPolicy* also) const {
  if (!c.recorded() && !also) return {};
  const std::string banner =
      c.recorded() || also->banner_text.empty() ? banner_for(c) : also->banner_text;
  return {{"Call-Info", "<urn:verbatim:recording>;purpose=recording;banner=" + quote(banner)}};
}

// A call to a queue, once the caller's own required recorders are in. Conference mode: the
// queue answers the caller at once and agents join it; transfer mode: the caller hears ringing
// until an agent has answered and that agent's required recorders are in.
void Gateway::queue_start(Call& c) {
  QueueCall& q = *c.queue;
  c.state = Call::State::kCalling;
  c.callee_called_ms = ms_since(c.started);
  q.give_up = steady_clock::now() + q.route->timeout;
  spdlog::info("call {}: call queue {} ({}, {} mode, {} agents)", c.call_id, q.route->name,
               routing_name(q.route->routing), q.route->conference_mode ? "conference" : "transfer",
               q.route->agents.size());
  if (q.route->conference_mode) {
    c.a_offer = one_codec(c.a_offer);
    (void)sip_->ua().accept(c.a, sdp_for(c, c.a_offer, Side::kA), indicator_headers(c));
    journal_up(c.a, c, "caller");
    q.caller_answered = true;
    q.caller_answered_ms = ms_since(c.started);
  } else {
    (void)sip_->ua().ring(c.a);
  }
  queue_attempt(c.id);
}

bool Gateway::agent_busy(const QueueAgent& a, uint64_t except) const {
  return std::any_of(calls_.begin(), calls_.end(), [&](const auto& kv) {
    const Call& o = *kv.second;
    if (kv.first == except || o.state == Call::State::kEnding) return false;
    return (o.b && o.callee_identity == a.identity) || iequals(o.caller.aor, a.aor);
  });
}

// The next agents are offered the call (QueueRouter decides whom); when the round is over the
// queue starts again after a pause, until TimeoutThreshold.
void Gateway::queue_attempt(uint64_t call_id) {
  auto it = calls_.find(call_id);
  if (it == calls_.end()) return;
  Call& c = *it->second;
  if (c.state != Call::State::kCalling || !c.queue || c.b || c.queue->joining || !c.a) return;
  QueueCall& q = *c.queue;
  if (steady_clock::now() >= q.give_up) {
    queue_timeout(c);
    return;
  }
  auto picks = queue_router_.next(*q.route, q.tried, [&](const QueueAgent& a) {
    return QueueRouter::AgentState{!reachable(c, a.identity).empty(), agent_busy(a, c.id)};
  });
  if (picks.empty()) {
    q.tried.clear();
    queue_pause(c, kQueueRetry);
    return;
  }
  bool rang = false;
  for (size_t agent : picks) rang |= queue_ring(c, agent);
  if (!rang) {
    asio::post(io_, [this, id = c.id] { queue_attempt(id); });
    return;
  }
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(q.give_up - steady_clock::now());
  q.alert.expires_after(std::min<std::chrono::milliseconds>(q.route->alert_time, left));
  q.alert.async_wait([this, id = c.id](boost::system::error_code ec) {
    if (!ec) queue_no_answer(id);
  });
}

void Gateway::queue_pause(Call& c, std::chrono::milliseconds pause) {
  QueueCall& q = *c.queue;
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(q.give_up - steady_clock::now());
  q.alert.expires_after(std::clamp(left, std::chrono::milliseconds(0), pause));
  q.alert.async_wait([this, id = c.id](boost::system::error_code ec) {
    if (!ec) queue_attempt(id);
  });
}

// One agent is offered the call at every registration; its phone sees the queue in Diversion.
bool Gateway::queue_ring(Call& c, size_t agent) {
  QueueCall& q = *c.queue;
  const QueueAgent& a = q.route->agents[agent];
  sip::OutgoingCall oc;
  oc.max_forwards = c.max_forwards;
  oc.from = from_of(c.caller, false);
  oc.to = "<" + a.aor + ">";
  oc.headers.emplace_back("Diversion", "<" + q.queue.aor + ">;reason=unconditional");
  // The agent's own policy records them if they answer: their phone shows it from the start.
  const policy::Decision d = c.emergency ? policy::Decision{} : policy_.engine().decide(a.aor);
  for (auto& h : indicator_headers(c, d.record() ? d.policy.get() : nullptr)) {
    oc.headers.push_back(std::move(h));
  }
  oc.body = sdp_for(c, c.a_offer, Side::kB, d.record());
  const size_t offer = q.offers.size();
  q.offers.push_back({{"agent", a.aor}, {"atMs", ms_since(c.started)}, {"outcome", "ringing"}});
  size_t rung = 0;
  for (const auto& b : reachable(c, a.identity)) {
    sip::OutgoingCall fork = oc;
    fork.next_hop = b.source;
    fork.request_uri = b.contact;
    auto sid = sip_->ua().invite(std::move(fork));
    if (!sid) continue;
    sessions_[sid.value()] = {c.id, Role::kCallee, nullptr};
    q.ringing[sid.value()] = {agent, offer};
    ++rung;
  }
  if (!rung) q.offers[offer]["outcome"] = "could not be called";
  c.rang += rung;
  return rung > 0;
}

// AgentAlertTime passed: the agents ringing are cancelled and the next are offered the call.
void Gateway::queue_no_answer(uint64_t call_id) {
  auto it = calls_.find(call_id);
  if (it == calls_.end() || !it->second->queue) return;
  Call& c = *it->second;
  QueueCall& q = *c.queue;
  for (const auto& [s, r] : q.ringing) {
    sessions_.erase(s);
    hang_up(s);  // CANCEL
    q.offers[r.offer]["outcome"] =
        "no answer within " + std::to_string(q.route->alert_time.count()) + " s";
  }
  q.ringing.clear();
  queue_attempt(call_id);
}

// An agent's registration refused (busy, declined, unreachable); when no registration of any
// agent offered is left ringing, the next are offered the call at once.
void Gateway::queue_failed(Call& c, uint64_t session, int status, const sip::Message* response) {
  QueueCall& q = *c.queue;
  auto it = q.ringing.find(session);
  if (it == q.ringing.end()) return;
  const auto r = it->second;
  q.ringing.erase(it);
  const bool others = std::any_of(q.ringing.begin(), q.ringing.end(),
                                  [&](const auto& kv) { return kv.second.offer == r.offer; });
  if (!others) {
    q.offers[r.offer]["outcome"] =
        "declined: " + std::to_string(status) + " " +
        (response ? std::string(response->reason()) : std::string("no response"));
  }
  if (!q.ringing.empty()) return;
  q.alert.cancel();
  asio::post(io_, [this, id = c.id] { queue_attempt(id); });
}

// An agent answered: the others are cancelled, the agent becomes the callee and is recorded
// under their own policy; the caller is connected once the agent's required recorders are in.
void Gateway::queue_answered(Call& c, uint64_t session, const sip::Message& response) {
  QueueCall& q = *c.queue;
  auto it = q.ringing.find(session);
  if (it == q.ringing.end() || c.b || q.joining || !c.a) {
    sessions_.erase(session);
    hang_up(session);
    return;
  }
  const auto r = it->second;
  q.ringing.erase(it);
  const QueueAgent& a = q.route->agents[r.agent];
  for (const auto& [s, other] : q.ringing) {
    sessions_.erase(s);
    hang_up(s);
    if (other.offer != r.offer)
      q.offers[other.offer]["outcome"] = "cancelled: " + a.aor + " answered";
  }
  q.ringing.clear();
  q.alert.cancel();
  auto answer = sip::parse_sdp(response.body());
  if (!answer) {
    q.offers[r.offer]["outcome"] = "answered without usable SDP: " + answer.error().message;
    sessions_.erase(session);
    hang_up(session);
    asio::post(io_, [this, id = c.id] { queue_attempt(id); });
    return;
  }
  q.offers[r.offer]["outcome"] = "answered";
  q.offers[r.offer]["answeredMs"] = ms_since(c.started);
  c.b = session;
  c.b_answer = std::move(answer).value();
  c.b_record_aware = record_aware(response);
  c.callee = Party{};
  c.callee.side = Side::kB;
  c.callee.aor = a.aor;
  c.callee.display = a.display;
  c.callee.number = a.number;
  c.callee_identity = a.identity;
  q.joining = r.offer;
  admit(c);
}

// A callee who answered before its recorders were invited (a queue's agent, a simultaneous
// ring's target): recorded under its own policy, connected once its required recorders are in
// (check_agent), let go if they fail or do not answer in time.
void Gateway::admit(Call& c) {
  if (!c.emergency && !c.callee_identity.empty()) decide(c, c.callee);
  c.deadline.expires_after(options_.recording_setup_timeout);
  c.deadline.async_wait([this, id = c.id](boost::system::error_code ec) {
    auto it = calls_.find(id);
    if (ec || it == calls_.end()) return;
    Call& call = *it->second;
    const std::string why = "no recorder answered within " +
                            std::to_string(options_.recording_setup_timeout.count()) + " ms";
    if (call.queue && call.queue->joining) agent_not_recorded(call, why);
    if (!call.queue && call.joining) joined_not_recorded(call, why);
  });
  check_agent(c);
}

// A party that answered before its recorders were invited (a queue's agent, a simultaneous
// ring's target): connected once its RequiredBeforeCallEstablishment recorders are in.
void Gateway::check_agent(Call& c) {
  const bool agent = c.queue && c.queue->joining;
  if ((!agent && !c.joining) || c.state != Call::State::kCalling) return;
  std::string why;
  const Readiness ready = readiness(c, &c.callee, why);
  if (ready == Readiness::kFailed) agent ? agent_not_recorded(c, why) : joined_not_recorded(c, why);
  if (ready != Readiness::kReady) return;
  if (agent) {
    connect_agent(c);
  } else {
    c.joining = false;
    c.deadline.cancel();
    connect(c);
  }
}

void Gateway::connect_agent(Call& c) {
  QueueCall& q = *c.queue;
  c.deadline.cancel();
  q.joining.reset();
  spdlog::info("call {}: call queue {}: {} took the call", c.call_id, q.route->name, c.callee.aor);
  connect(c);
}

// The agent who answered cannot be recorded as their policy requires: their phone gets a BYE
// with the reason, their recorders are let go, and the queue offers the call to the next agent.
void Gateway::agent_not_recorded(Call& c, const std::string& why) {
  QueueCall& q = *c.queue;
  c.deadline.cancel();
  q.offers[*q.joining]["outcome"] = "recording failed: " + why;
  q.joining.reset();
  ++metrics_.calls_refused_recording;
  spdlog::warn("call {}: call queue {}: {} answered but could not be recorded: {}", c.call_id,
               q.route->name, c.callee.aor, why);
  if (c.b) {
    const uint64_t b = c.b;
    c.b = 0;
    sessions_.erase(b);
    hang_up(b,
            {{"Reason", reason_header(480, kRecordingFailedText)},
             {"Warning", "399 verbatim " + quote(std::string(kRecordingFailedText) + ": " + why)}});
  }
  auto gone = std::make_unique<Party>(c.callee);
  for (auto& r : c.recordings) {
    if (r->party != &c.callee) continue;
    r->party = gone.get();
    end_recording(c, *r, "the agent could not be recorded");
  }
  c.departed.push_back(std::move(gone));
  c.callee = q.queue;
  c.callee_identity.clear();
  c.b_answer = {};
  asio::post(io_, [this, id = c.id] { queue_attempt(id); });
}

// TimeoutThreshold passed with no agent: the caller is let go (Teams' TimeoutAction Disconnect).
void Gateway::queue_timeout(Call& c) {
  QueueCall& q = *c.queue;
  const std::string why =
      std::string(kNoAgentText) + " within " + std::to_string(q.route->timeout.count()) + " s";
  spdlog::warn("call {}: call queue {}: {}", c.call_id, q.route->name, why);
  const sip::HeaderList h{{"Reason", reason_header(480, kNoAgentText)},
                          {"Warning", "399 verbatim " + quote(why)}};
  if (q.caller_answered) {
    end_call(c, "queue: " + why, h);
  } else {
    reject_caller(c, 480, "Temporarily Unavailable", h, "queue: " + why);
  }
}

// --- spoken notices --------------------------------------------------------------------------

// A party's own language when it is a user who set one, else the recorded user's (the PSTN
// caller of a recorded user hears that user's language), else English.
std::string Gateway::language_for(const Call& c, Side side) const {
  const Party& p = side == Side::kA ? c.caller : c.callee;
  if (p.user && !p.user->preferred_language.empty()) return p.user->preferred_language;
  for (const Party* q : {&c.caller, &c.callee}) {
    if (q->recorded && q->user && !q->user->preferred_language.empty()) {
      return q->user->preferred_language;
    }
  }
  return "en";
}

// Plays `prompt` to one side on the call's first audio stream, in the codec that stream
// carries. The prompt's length in ms, or -1 (and `outcome` says why) when it cannot play.
int64_t Gateway::announce(Call& c, Side to, Prompt prompt, const std::string& language,
                          std::string& outcome) {
  for (size_t i = 0; i < c.relays.size() && i < c.b_answer.media.size(); ++i) {
    if (!c.relays[i] || c.a_offer.media[i].media != "audio") continue;
    const auto& bm = c.b_answer.media[i];
    std::optional<sip::RtpMap> chosen;
    for (const auto& f : bm.formats) {
      auto pt = payload_type(f);
      auto rm = pt ? bm.rtpmap(*pt) : std::nullopt;
      if (rm && media::can_decode(rm->encoding) &&
          rm->clock_rate == media::rtp_clock_rate(rm->encoding)) {
        chosen = rm;
        break;
      }
    }
    if (!chosen) continue;
    // The payload type each side expects: the answer's towards the callee, the offer's (for the
    // same codec) towards the caller.
    int pt = chosen->payload_type;
    if (to == Side::kA) {
      const auto& am = c.a_offer.media[i];
      for (const auto& f : am.formats) {
        auto apt = payload_type(f);
        auto rm = apt ? am.rtpmap(*apt) : std::nullopt;
        if (rm && iequals(rm->encoding, chosen->encoding)) {
          pt = *apt;
          break;
        }
      }
    }
    auto p = prompts_.get(prompt, language, chosen->encoding);
    if (!p) {
      outcome = "not played: " + p.error().message;
      return -1;
    }
    const auto& ep = *p.value();
    Call::Notice n{to,
                   prompt,
                   ep.language,
                   ep.file,
                   ep.encoding,
                   "played",
                   ms_since(c.started),
                   ep.duration_ms(),
                   0};
    c.notices.push_back(n);
    c.relays[i]->play(to, Announcement{static_cast<uint8_t>(pt), ep.ticks_per_frame, ep.frames},
                      [this, id = c.id, k = c.notices.size() - 1](uint64_t sent) {
                        auto it = calls_.find(id);
                        if (it != calls_.end()) it->second->notices[k].packets = sent;
                      });
    outcome = "played";
    return ep.duration_ms();
  }
  outcome = "not played: no audio stream in a codec the gateway can speak";
  return -1;
}

// Once the call is connected and a recorder is recording: the spoken notice to each party that
// cannot show the indicator.
void Gateway::notify_recording(Call& c) {
  if (c.state != Call::State::kConnected || c.removing) return;
  bool up = false, disabled = true;
  for (const auto& r : c.recordings) {
    if (!r->active()) continue;
    for (const auto& g : r->groups) up |= g.any_up();
    disabled &= r->policy->disable_audio_notification_for_calls;
  }
  if (!up) return;
  for (Side side : {Side::kA, Side::kB}) {
    if (c.notified[static_cast<size_t>(side)]) continue;
    c.notified[static_cast<size_t>(side)] = true;
    const bool aware = side == Side::kA ? c.a_record_aware : c.b_record_aware;
    Call::Notice n;
    n.to = side;
    if (aware) {
      n.outcome = "not played: the phone shows the indicator (Supported: record-aware)";
    } else if (disabled) {
      n.outcome = "not played: DisableComplianceRecordingAudioNotificationForCalls";
    } else {
      const std::string language = language_for(c, side);
      std::string outcome;
      if (announce(c, side, Prompt::kRecordingStarted, language, outcome) >= 0) {
        ++metrics_.notices_played;
        continue;
      }
      n.language = language;
      n.outcome = outcome;
      spdlog::warn("call {}: recording notice to the {}: {}", c.call_id,
                   side == Side::kA ? "caller" : "callee", outcome);
    }
    c.notices.push_back(std::move(n));
  }
}

// WarnUserOnRemoval: both parties hear why the call ends, then it ends (the BYE's Reason
// says it again for phones that show it).
void Gateway::warn_and_end(Call& c, const std::string& application) {
  c.removing = true;
  int64_t longest = -1;
  for (Side side : {Side::kA, Side::kB}) {
    std::string outcome;
    const int64_t ms = announce(c, side, Prompt::kRecordingStopped, language_for(c, side), outcome);
    if (ms < 0) {
      Call::Notice n;
      n.to = side;
      n.prompt = Prompt::kRecordingStopped;
      n.outcome = outcome;
      c.notices.push_back(std::move(n));
    }
    longest = std::max(longest, ms);
  }
  const std::string outcome = "recording lost: " + application;
  if (longest < 0) {
    end_call(c, outcome, {{"Reason", reason_header(480, kRecordingLostText)}});
    return;
  }
  ++metrics_.removal_warnings;
  c.deadline.expires_after(std::chrono::milliseconds(longest + 200));
  c.deadline.async_wait([this, id = c.id, outcome](boost::system::error_code ec) {
    if (ec) return;
    auto it = calls_.find(id);
    if (it == calls_.end()) return;
    end_call(*it->second, outcome + " (after the spoken warning)",
             {{"Reason", reason_header(480, kRecordingLostText)}});
  });
}

void Gateway::end_call(Call& c, const std::string& outcome, const sip::HeaderList& bye_headers) {
  if (c.state == Call::State::kEnding) return;
  c.state = Call::State::kEnding;
  c.outcome = outcome;
  c.deadline.cancel();
  c.unanswered.cancel();
  if (c.transfer) {
    c.transfer->deadline.cancel();
    if (c.transfer->transferor) sessions_.erase(c.transfer->transferor);
  }
  for (uint64_t* s : {&c.a, &c.b, c.transfer ? &c.transfer->session : nullptr}) {
    if (!s || !*s) continue;
    const uint64_t sid = *s;
    *s = 0;
    sessions_.erase(sid);
    hang_up(sid, bye_headers);
  }
  for (uint64_t f : c.forks) {
    sessions_.erase(f);
    hang_up(f);
  }
  c.forks.clear();
  if (c.queue) {
    c.queue->alert.cancel();
    for (const auto& [f, r] : c.queue->ringing) {
      sessions_.erase(f);
      hang_up(f);
      c.queue->offers[r.offer]["outcome"] = "cancelled: the call ended";
    }
    c.queue->ringing.clear();
  }
  for (auto& r : c.recordings) {
    for (auto& l : r->legs) {
      if (!l->session) continue;
      const uint64_t sid = l->session;
      l->session = 0;
      sessions_.erase(sid);
      if (l->state == Leg::State::kInviting) l->state = Leg::State::kFailed, l->why = "call ended";
      if (l->state == Leg::State::kUp) l->state = Leg::State::kEnded;
      hang_up(sid);
    }
  }
  // Finish after the handlers that got us here have returned.
  asio::post(io_, [this, id = c.id] { finish(id); });
}

void Gateway::finish(uint64_t id) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  Call& c = *it->second;
  // Compliance alert: a connected call a policy wanted recorded by an application that never
  // recorded any of it (T05: the evidence says why).
  for (const auto& r : c.recordings) {
    for (const auto& g : r->groups) {
      if (c.final_status == 200 && !g.ever_up() && !r->left) {
        spdlog::error("call {}: NOT RECORDED: {} under policy {} by {}: {}", c.call_id,
                      r->party->aor, r->policy->name, g.application, g.why_gone());
      }
    }
  }
  if (call_log_) call_log_->append(record_of(c));
  spdlog::info("call {}: {}", c.call_id, c.outcome);
  if (c.queue && c.final_status == 200 && !c.callee_identity.empty()) {
    queue_router_.idle_from(c.callee_identity, steady_clock::now());
  }
  for (auto& r : c.relays) {
    if (!r) continue;
    r->close();
    ports_.give(r->port(Side::kA));
    ports_.give(r->port(Side::kB));
  }
  for (auto& r : c.recordings) {
    for (auto& l : r->legs) {
      for (auto& t : l->taps) {
        t->close();
        ports_.give(t->port());
      }
    }
  }
  calls_.erase(it);
}

json Gateway::record_of(const Call& c) const {
  json j{{"callId", c.call_id},
         {"start", format_iso8601_ms(c.started_at)},
         {"end", format_iso8601_ms(std::chrono::system_clock::now())},
         {"caller", c.caller.to_json()},
         {"callee", c.callee.to_json()},
         {"requestUri", c.request_uri},
         {"emergency", c.emergency},
         {"viaTrunk", c.via_trunk},
         {"registrationsRung", c.rang},
         {"status", c.final_status},
         {"voicemail", c.to_voicemail ? json(c.voicemail_why) : json(nullptr)},
         {"outcome", c.outcome},
         {"timings",
          {{"recordersReadyMs", c.recorders_ready_ms},
           {"calleeCalledMs", c.callee_called_ms},
           {"connectedMs", c.connected_ms}}}};
  json recs = json::array();
  for (const auto& r : c.recordings) {
    json groups = json::array();
    for (const auto& g : r->groups) {
      json legs = json::array();
      for (const Leg* l : g.legs) {
        json lj{{"instance", l->instance},  {"applicationId", l->application_id},
                {"endpoint", l->endpoint},  {"uri", l->uri},
                {"state", l->state_name()}, {"answeredMs", l->answered_ms}};
        if (l->status) lj["status"] = l->status;
        if (!l->why.empty()) lj["why"] = l->why;
        legs.push_back(std::move(lj));
      }
      groups.push_back({{"application", g.application},
                        {"recorded", g.ever_up()},
                        {"requiredBeforeCallEstablishment", g.required_before},
                        {"requiredDuringCall", g.required_during},
                        {"instances", std::move(legs)}});
    }
    recs.push_back({{"party", r->party->aor},
                    {"left", r->left},
                    {"onBehalf", r->on_behalf},
                    {"policy", r->policy->name},
                    {"applications", std::move(groups)}});
  }
  j["recordings"] = std::move(recs);
  json media = json::array();
  for (const auto& r : c.relays) {
    if (!r) continue;
    const auto& k = r->counters();
    media.push_back({{"fromCaller", k.received[0]},
                     {"fromCallee", k.received[1]},
                     {"foreignDropped", k.foreign[0] + k.foreign[1]},
                     {"copiedToRecorders", k.tapped}});
  }
  j["media"] = std::move(media);
  json notices = json::array();
  for (const auto& n : c.notices) {
    json nj{{"to", n.to == Side::kA ? "caller" : "callee"},
            {"prompt", std::string(prompt_name(n.prompt))},
            {"outcome", n.outcome}};
    if (!n.language.empty()) nj["language"] = n.language;
    if (!n.file.empty()) {
      nj["file"] = n.file;
      nj["encoding"] = n.encoding;
      nj["startedMs"] = n.at_ms;
      nj["durationMs"] = n.duration_ms;
      nj["packetsSent"] = n.packets;
    }
    notices.push_back(std::move(nj));
  }
  j["notices"] = std::move(notices);
  j["transfers"] = c.transfers;
  j["forwards"] = c.forwards;
  if (c.queue) {
    const QueueCall& q = *c.queue;
    j["queue"] = {{"name", q.route->name},
                  {"identity", q.route->identity},
                  {"resourceAccount", q.queue.aor},
                  {"routingMethod", routing_name(q.route->routing)},
                  {"conferenceMode", q.route->conference_mode},
                  {"agents", q.route->agents.size()},
                  {"callerAnsweredMs", q.caller_answered_ms},
                  {"offers", q.offers}};
  }
  return j;
}

// --- metrics ---------------------------------------------------------------------------------

json Gateway::status() const {
  const auto& m = metrics_;
  json endpoints = json::object();
  for (const auto& [uri, h] : health_) {
    endpoints[uri] = {{"up", !h.down}, {"missed", h.missed}, {"lastStatus", h.status}};
  }
  return json{{"calls", calls_.size()},
              {"recorderEndpoints", std::move(endpoints)},
              {"registeredUsers", registrar_ ? registrar_->registered_users() : 0},
              {"mediaPortsFree", ports_.available()},
              {"totals",
               {{"calls", m.calls},
                {"connected", m.calls_connected},
                {"refusedForRecording", m.calls_refused_recording},
                {"endedForRecording", m.calls_ended_recording},
                {"emergency", m.emergency_calls},
                {"toVoicemail", m.calls_to_voicemail},
                {"noticesPlayed", m.notices_played},
                {"removalWarnings", m.removal_warnings},
                {"dialogsLeftByPreviousRunEnded", m.dialogs_left_ended},
                {"recordingInvites", m.recording_invites},
                {"recordingAnswered", m.recording_answered},
                {"recordingFailed", m.recording_failed},
                {"recordingReplacements", m.recording_replacements},
                {"metadataUpdates", m.metadata_updates},
                {"recorderEndpointsDown", m.recorders_down},
                {"registers", m.registers},
                {"authChallenges", m.auth_challenges}}}};
}

void Gateway::write_status() const {
  if (options_.status_file.empty()) return;
  const std::string tmp = options_.status_file + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << status().dump(2) << "\n";
  }
  std::error_code ec;
  std::filesystem::rename(tmp, options_.status_file, ec);
}

void Gateway::tick() {
  write_status();
  if (journal_) journal_->flush();
  if (registrar_ && registrar_->changed() &&
      steady_clock::now() - last_registrations_ >= kRegistrationsSaveInterval) {
    save_registrations();
  }
  timer_.expires_after(std::chrono::seconds(1));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec && !stopping_) tick();
  });
}

}  // namespace verbatim::gateway
