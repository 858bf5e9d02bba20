// Recorder health: OPTIONS to every enabled recorder endpoint each interval, an endpoint that
// stops answering marked down (its sessions taken as gone, new calls try it last), and the
// endpoints a recording tries in order.
#include <spdlog/spdlog.h>

#include "common/log.h"
#include "common/strings.h"
#include "gateway/usages.h"

namespace verbatim::gateway {

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

// OPTIONS to every enabled recorder endpoint each interval; one unanswered for `failures`
// intervals in a row is down: the sessions the gateway holds with it are taken as gone (a killed
// recorder sends no BYE), and new calls try it last.
void Gateway::check_health() {
  std::map<std::string, sip::Peer> wanted;
  for (const auto& uri : policy_->recorder_endpoints()) {
    if (auto p = resolver_->peer(uri)) wanted.emplace(uri, *p);
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
        ua_->options(kv.second, uri,
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
  health_timer_.start(options_.health_interval, [this] {
    if (!stopping_) check_health();
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
  // Meetings' recorders on it too.
  std::vector<uint64_t> meeting_gone;
  for (const auto& [id, room] : rooms_) {
    for (const auto& [app, rec] : room->recordings) {
      for (const auto& l : rec.legs) {
        if (l->uri == uri && l->live() && l->session) meeting_gone.push_back(l->session);
      }
    }
  }
  for (uint64_t session : meeting_gone) {
    meeting_leg_gone(session, "recorder endpoint stopped answering health checks");
  }
}

}  // namespace verbatim::gateway
