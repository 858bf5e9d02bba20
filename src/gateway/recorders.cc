// The recording legs: SIPREC INVITEs to each recorder endpoint a party's policy names (offers,
// labels, keys, RFC 7865 metadata), replacements for lost recorders, the OPTIONS health checks of
// endpoints, and metadata updates when the other party changes (RFC 7866 §7.1.2).
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/strings.h"
#include "gateway/usages.h"
#include "sip/header_values.h"
#include "siprec/gateway_context.h"
#include "siprec/recording_offer.h"

namespace verbatim::gateway {

// --- recorders -------------------------------------------------------------------------------

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

void Gateway::invite_recorders(Call& c, Party& p,
                               std::shared_ptr<const policy::CompiledPolicy> policy,
                               const std::string& on_demand_by) {
  auto rec = std::make_unique<Recording>();
  rec->party = &p;
  rec->policy = policy ? std::move(policy) : p.decision.policy;
  rec->on_demand_by = on_demand_by;
  const std::string region = p.user ? p.user->data_location : "";
  Recording& r = *rec;
  c.recordings.push_back(std::move(rec));
  for (const auto& inv : r.policy->invitations) {
    Recording::Group g;
    g.application =
        inv.recorder.display_name.empty() ? inv.recorder.instance_upn : inv.recorder.display_name;
    // A recording on demand never holds or ends the call.
    g.required_before = on_demand_by.empty() && inv.required_before_call_establishment;
    g.required_during = on_demand_by.empty() && inv.required_during_call;
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
  leg->started = timers_->now();
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
      options_.recorder_srtp && (peer->secure() || options_.allow_sdes_over_plain_sip);
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
  // The SIPREC offer (siprec/recording_offer.h): per relayed stream, what the recorded party
  // sends and what it receives, each copied from a tap of its own.
  siprec::RecordingOfferSpec spec;
  spec.origin_id = c.id;
  spec.address = media_->address().to_string();
  spec.started_at = format_iso8601(c.started_at);
  spec.now = format_iso8601(wall_->now());
  spec.observed = {p.aor, p.display};
  spec.peer = {other.aor, other.display};
  spec.observed_is_caller = p.side == Side::kA;
  spec.internal = p.user && other.user;
  spec.call_id = c.call_id;
  spec.sip_session_ids = {c.session_id, c.callee_session_id};
  spec.policy = r.policy->name;
  spec.application_id = target.application_id;
  spec.instance = target.instance_upn;
  for (size_t i = 0; i < c.relays.size(); ++i) {
    if (!c.relays[i]) continue;
    for (Side from : {p.side, other.side}) {
      auto tap = media_->open_tap();
      if (!tap) {
        fail(tap.error().message);
        return;
      }
      l.taps.push_back(std::move(tap).value());
      l.lines.emplace_back(i, from);
      siprec::OfferStream st;
      st.offered = c.a_offer.media[i];
      for (int pt : c.crypto[i].added) {  // the callee may send G.711 the caller did not offer
        st.offered.formats.push_back(std::to_string(pt));
        st.offered.attributes.push_back(
            {"rtpmap", std::to_string(pt) + (pt == 0 ? " PCMU/8000" : " PCMA/8000")});
      }
      st.from_observed = from == p.side;
      st.port = l.taps.back()->port();
      if (srtp) {
        // Our key for the copies (SDES, RFC 4568): the recorder decrypts with it.
        l.keys.push_back(media::new_sdes_inline(kRecorderSuite));
        st.srtp_suite = kRecorderSuite;
        st.key = l.keys.back();
      }
      spec.streams.push_back(std::move(st));
    }
  }
  siprec::RecordingOffer offer = siprec::build_recording_offer(spec);
  l.md_session = offer.session_id;
  l.offer_sdp = std::move(offer.sdp);
  l.peer_id = offer.peer_id;
  l.peer_aor = other.aor;
  l.callee_session_id = c.callee_session_id;
  l.peer_send = offer.peer_send;
  l.peer_recv = offer.peer_recv;
  // What the recorder's catalog keeps (retention by application, policy or group), signed so it
  // takes it from us alone (siprec/gateway_context.h).
  siprec::GatewayContext context{target.application_id, r.policy->name, c.call_id, {}};
  if (p.user) {
    context.groups = policy_->groups_of(p.user->object_id);
  }
  auto sid = invite_recorder(endpoint.uri, *peer, std::move(offer.content_type),
                             std::move(offer.body), context, c.business_headers);
  if (!sid) {
    fail(sid.error().message);
    return;
  }
  l.session = sid.value();
  sessions_[l.session] = {c.id, usages().recorder_leg, &l};
}

// Our SIPREC INVITE to a recorder endpoint (RFC 7866 §6.1.1: Require: siprec, +sip.src), with
// `extra` headers (the caller's business headers) and the signed gateway context when a
// recorder key is configured: the session.
Result<uint64_t> Gateway::invite_recorder(
    const std::string& uri, const sip::Peer& peer, std::string content_type, std::string body,
    const siprec::GatewayContext& context,
    const std::vector<std::pair<std::string, std::string>>& extra) {
  sip::OutgoingCall oc;
  oc.next_hop = peer;
  oc.request_uri = uri;
  oc.from = "<sip:gateway@" + local_ + ">";
  oc.to = "<" + uri + ">";
  oc.content_type = std::move(content_type);
  oc.body = std::move(body);
  oc.contact_params = ";+sip.src";  // RFC 7866 §6.1.1: we are a recording client
  oc.call_id = random_hex(16) + "@verbatim";
  oc.headers = {{"Require", "siprec"}};
  for (const auto& [name, value] : extra) oc.headers.push_back({name, value});
  if (options_.recorder_key) {
    for (auto& h :
         siprec::context_headers(context, oc.call_id, *options_.recorder_key, wall_->now())) {
      oc.headers.push_back(std::move(h));
    }
  }
  return ua_->invite(std::move(oc));
}

// --- metadata updates ------------------------------------------------------------------------

// RFC 7866 §7.1.2: when the party a recording's observed participant talks to changes (a
// transfer, a forward, a queue's agent answering), each of its recorders gets a partial metadata
// update in an UPDATE: the participant who left is disassociated from the communication session
// (its time), the one who came associated with the same streams from now on. A stream so
// carries each in turn; the times say who was on it when. The same update gives the callee's
// RFC 7989 Session-ID once it answered with one, so the recording relates to its other legs.
void Gateway::refresh_metadata(Call& c) {
  const std::string now = format_iso8601(wall_->now());
  for (auto& r : c.recordings) {
    if (!r->active()) continue;
    const Party& other = r->party->side == Side::kA ? c.callee : c.caller;
    for (auto& l : r->legs) {
      const bool peer_changed = l->peer_aor != other.aor;
      const bool new_session_id =
          !c.callee_session_id.empty() && l->callee_session_id != c.callee_session_id;
      if (l->state != Leg::State::kUp || !l->session || (!peer_changed && !new_session_id)) {
        continue;
      }
      std::string came_id = l->peer_id;
      const siprec::PeerChange change{
          l->peer_id, {other.aor, other.display}, l->peer_send, l->peer_recv, now};
      std::string md =
          siprec::metadata_update(l->md_session,
                                  new_session_id ? std::vector<std::string>{c.callee_session_id}
                                                 : std::vector<std::string>{},
                                  peer_changed ? &change : nullptr, came_id);
      if (peer_changed) {
        spdlog::info("call {}: recording of {} at {}: {} replaces {} in the metadata", c.call_id,
                     r->party->aor, l->uri, other.aor, l->peer_aor);
      }
      l->callee_session_id = c.callee_session_id;
      auto sent = ua_->update(l->session, "application/rs-metadata+xml", std::move(md),
                              {{"Content-Disposition", "recording-session"}},
                              [call = c.call_id, uri = l->uri](int status, const sip::Message*) {
                                if (status >= 300) {
                                  spdlog::warn("call {}: recorder {} refused a metadata update: {}",
                                               call, uri, status);
                                }
                              });
      if (!sent) {
        spdlog::warn("call {}: metadata update to {} not sent: {}", c.call_id, l->uri,
                     sent.error().message);
      }
      l->peer_id = came_id;
      l->peer_aor = other.aor;
      ++metrics_.metadata_updates;
    }
  }
}

}  // namespace verbatim::gateway
