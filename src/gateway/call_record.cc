// The call record: what the gateway decided for a call and what became of it, as the JSON the call
// log stores (docs/gateway.md has the fields).
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/strings.h"
#include "gateway/call_model.h"
#include "sip/header_values.h"

namespace verbatim::gateway {

json Gateway::record_of(const Call& c) const {
  json j{{"callId", c.call_id},
         {"start", format_iso8601_ms(c.started_at)},
         {"end", format_iso8601_ms(wall_->now())},
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
    if (!r->on_demand_by.empty()) recs.back()["onDemandBy"] = r->on_demand_by;
  }
  j["recordings"] = std::move(recs);
  json media = json::array();
  for (const auto& r : c.relays) {
    if (!r) continue;
    const auto& k = r->counters();
    media.push_back({{"fromCaller", k.received[0]},
                     {"fromCallee", k.received[1]},
                     {"foreignDropped", k.foreign[0] + k.foreign[1]},
                     {"copiedToRecorders", k.tapped},
                     {"withheldWhilePaused", k.withheld}});
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
  j["controls"] = c.controls;
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

}  // namespace verbatim::gateway
