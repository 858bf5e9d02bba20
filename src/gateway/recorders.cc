// The recording legs: SIPREC INVITEs to each recorder endpoint a party's policy names (offers,
// labels, keys, RFC 7865 metadata), replacements for lost recorders, the OPTIONS health checks of
// endpoints, and metadata updates when the other party changes (RFC 7866 §7.1.2).
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
    warn_on_error(
        sip_->ua().options(kv.second, uri,
                           [this, uri, probe](int status, const sip::Message*) {
                             auto it = health_.find(uri);
                             if (it == health_.end() || it->second.probe != probe || status == 408)
                               return;
                             EndpointHealth& x = it->second;
                             x.in_flight = false;
                             x.missed = 0;
                             x.status = status;
                             if (x.down) {
                               x.down = false;
                               spdlog::info("recorder endpoint {} answers again ({})", uri, status);
                             }
                           }),
        "OPTIONS to a recorder");
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

}  // namespace verbatim::gateway
