// Call routing cmdlets. Call queues: Teams' New-/Set-/Get-/Remove-CsCallQueue and the
// resource-account association (New-/Get-/Remove-CsOnlineApplicationInstanceAssociation); a
// queue is reached through the application instances associated with it (their SIP address or
// phone number), and the gateway rings its agents and records each under their own policy.
// Forwarding: Set-/Get-CsUserCallingSettings (immediate, simultaneous and unanswered
// forwarding to a user, a number or voicemail). docs/gateway.md has what the gateway does.
// Parameter names, defaults and ranges follow Microsoft's cmdlets; docs/cmdlets.md is the
// reference.
#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <optional>

#include "admin/cmdlets.h"
#include "common/ids.h"
#include "common/strings.h"

namespace verbatim::admin {

using policy::CallQueue;

namespace {

using Out = PsResult<std::vector<Value>>;

constexpr std::array<const char*, 4> kRoutingMethods = {"Attendant", "Serial", "RoundRobin",
                                                        "LongestIdle"};
constexpr const char* kConfigurationType = "CallQueue";

// "hh:mm:ss" of 0 to 60 seconds (Teams offers 10-second steps; any second is taken).
std::optional<int> parse_delay(std::string_view text) {
  const auto parts = split(text, ':');
  if (parts.size() != 3) return std::nullopt;
  int v[3] = {0, 0, 0};
  for (size_t i = 0; i < 3; ++i) {
    if (parts[i].size() != 2 || !std::isdigit(static_cast<unsigned char>(parts[i][0])) ||
        !std::isdigit(static_cast<unsigned char>(parts[i][1]))) {
      return std::nullopt;
    }
    v[i] = (parts[i][0] - '0') * 10 + (parts[i][1] - '0');
  }
  const int seconds = v[0] * 3600 + v[1] * 60 + v[2];
  if (v[2] > 59 || seconds > 60) return std::nullopt;
  return seconds;
}

std::string fmt_delay(int seconds) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d", seconds / 3600, seconds / 60 % 60, seconds % 60);
  return buf;
}

RecordPtr queue_record(const Context& ctx, const CallQueue& q) {
  Value::Array agents, lists, accounts;
  for (const auto& id : q.users) {
    const policy::User* u = ctx.state.user_by_id(id);
    agents.emplace_back(u ? u->user_principal_name : id);
  }
  for (const auto& id : q.distribution_lists) lists.emplace_back(id);
  for (const auto& id : q.resource_accounts) accounts.emplace_back(id);
  auto r = make_record("CallQueue");
  r->add("Identity", q.identity)
      .add("Name", q.name)
      .add("RoutingMethod", q.routing_method)
      .add("PresenceBasedRouting", q.presence_based_routing)
      .add("ConferenceMode", q.conference_mode)
      .add("AgentAlertTime", q.agent_alert_time)
      .add("TimeoutThreshold", q.timeout_threshold)
      .add("Users", Value(std::move(agents)))
      .add("DistributionLists", Value(std::move(lists)))
      .add("ApplicationInstances", Value(std::move(accounts)));
  return r;
}

PsResult<CallQueue> find_queue(Context& ctx, const Invocation& inv, const std::string& id) {
  const CallQueue* q = ctx.state.call_queue(id);
  if (!q) return not_found(inv, id);
  return *q;
}

// Applies the parameters given to `q`, validating all of them first.
PsResult<bool> apply_queue_params(Context& ctx, Invocation& inv, CallQueue& q) {
  CallQueue next = q;
  if (inv.has("Name")) {
    next.name = std::string(trim(inv.str("Name").value_or("")));
    if (next.name.empty()) return invalid(inv, "-Name cannot be empty.", "");
    const CallQueue* same = ctx.state.call_queue(next.name);
    if (same && !iequals(same->identity, next.identity)) {
      return already_exists(inv, "call queue", next.name);
    }
  }
  if (inv.has("Users")) {
    next.users.clear();
    for (const auto& given : inv.strings("Users")) {
      auto u = resolve_user(ctx, inv, given);
      if (!u) return u.error();
      const std::string id = to_lower(u.value()->object_id);
      if (std::find(next.users.begin(), next.users.end(), id) == next.users.end()) {
        next.users.push_back(id);
      }
    }
  }
  if (inv.has("DistributionLists")) {
    next.distribution_lists.clear();
    for (const auto& given : inv.strings("DistributionLists")) {
      auto g = resolve_group(ctx, inv, given);
      if (!g) return g.error();
      next.distribution_lists.push_back(to_lower(g.value()->object_id));
    }
  }
  if (inv.has("RoutingMethod")) {
    const std::string m = inv.req("RoutingMethod");
    auto it = std::find_if(kRoutingMethods.begin(), kRoutingMethods.end(),
                           [&](const char* k) { return iequals(k, m); });
    if (it == kRoutingMethods.end()) {
      return invalid(inv,
                     "Cannot validate argument on parameter 'RoutingMethod'. \"" + m +
                         "\" is not one of Attendant, Serial, RoundRobin, LongestIdle.",
                     m);
    }
    next.routing_method = *it;
  }
  if (inv.has("PresenceBasedRouting"))
    next.presence_based_routing = inv.flag("PresenceBasedRouting");
  if (inv.has("ConferenceMode")) next.conference_mode = inv.flag("ConferenceMode");
  if (inv.has("AgentAlertTime")) {
    const int64_t t = inv.integer("AgentAlertTime");
    if (t < 15 || t > 180) {
      return invalid(inv,
                     "Cannot validate argument on parameter 'AgentAlertTime'. " +
                         std::to_string(t) + " is not between 15 and 180 (seconds).",
                     std::to_string(t));
    }
    next.agent_alert_time = static_cast<int>(t);
  }
  if (inv.has("TimeoutThreshold")) {
    const int64_t t = inv.integer("TimeoutThreshold");
    if (t < 0 || t > 2700) {
      return invalid(inv,
                     "Cannot validate argument on parameter 'TimeoutThreshold'. " +
                         std::to_string(t) + " is not between 0 and 2700 (seconds).",
                     std::to_string(t));
    }
    next.timeout_threshold = static_cast<int>(t);
  }
  q = std::move(next);
  return true;
}

Out new_queue(Context& ctx, Invocation& inv) {
  CallQueue q;
  q.identity = ctx.svc.ids().new_guid();
  auto ok = apply_queue_params(ctx, inv, q);
  if (!ok) return ok.error();
  ctx.state.put_call_queue(q);
  return std::vector<Value>{queue_record(ctx, q)};
}

Out set_queue(Context& ctx, Invocation& inv) {
  auto q = find_queue(ctx, inv, inv.req("Identity"));
  if (!q) return q.error();
  CallQueue queue = q.value();
  auto ok = apply_queue_params(ctx, inv, queue);
  if (!ok) return ok.error();
  ctx.state.put_call_queue(queue);
  return std::vector<Value>{};
}

Out get_queue(Context& ctx, Invocation& inv) {
  std::vector<Value> out;
  if (inv.has("Identity")) {
    auto q = find_queue(ctx, inv, inv.req("Identity"));
    if (!q) return q.error();
    out.emplace_back(queue_record(ctx, q.value()));
    return out;
  }
  const auto filter = inv.str("NameFilter");
  for (const auto& [key, q] : ctx.state.call_queues()) {
    if (!filter || wildcard_match("*" + *filter + "*", q.name)) {
      out.emplace_back(queue_record(ctx, q));
    }
  }
  return out;
}

Out remove_queue(Context& ctx, Invocation& inv) {
  auto q = find_queue(ctx, inv, inv.req("Identity"));
  if (!q) return q.error();
  ctx.state.erase_call_queue(q.value().identity);
  return std::vector<Value>{};
}

RecordPtr association_record(const std::string& instance, const CallQueue& q) {
  auto r = make_record("ApplicationInstanceAssociation", View::kTable);
  r->add("Id", instance)
      .add("ConfigurationId", q.identity)
      .add("ConfigurationType", kConfigurationType);
  return r;
}

Out new_association(Context& ctx, Invocation& inv) {
  const std::string type = inv.str("ConfigurationType").value_or(kConfigurationType);
  if (!iequals(type, kConfigurationType)) {
    return invalid(inv,
                   "Cannot validate argument on parameter 'ConfigurationType'. \"" + type +
                       "\": Verbatim routes call queues only (CallQueue).",
                   type);
  }
  auto q = find_queue(ctx, inv, inv.req("ConfigurationId"));
  if (!q) return q.error();
  CallQueue queue = q.value();
  std::vector<Value> out;
  for (const auto& given : inv.strings("Identities")) {
    auto a = resolve_instance(ctx, inv, given);
    if (!a) return a.error();
    const std::string id = to_lower(a.value()->object_id);
    const CallQueue* other = ctx.state.queue_of_instance(id);
    if (other && !iequals(other->identity, queue.identity)) {
      return refused(inv,
                     "The application instance " + a.value()->user_principal_name +
                         " is already associated with the call queue \"" + other->name +
                         "\"; remove that association first.",
                     id);
    }
    for (const auto& [key, p] : ctx.state.policies()) {
      for (const auto& app : p.applications) {
        if (iequals(app.id, id)) {
          return refused(inv,
                         "The application instance " + a.value()->user_principal_name +
                             " is a recorder of the policy \"" + p.identity() +
                             "\"; a call queue needs a resource account of its own.",
                         id);
        }
      }
    }
    if (std::find(queue.resource_accounts.begin(), queue.resource_accounts.end(), id) ==
        queue.resource_accounts.end()) {
      queue.resource_accounts.push_back(id);
    }
    out.emplace_back(association_record(id, queue));
  }
  ctx.state.put_call_queue(queue);
  return out;
}

Out get_association(Context& ctx, Invocation& inv) {
  auto a = resolve_instance(ctx, inv, inv.req("Identity"));
  if (!a) return a.error();
  const CallQueue* q = ctx.state.queue_of_instance(to_lower(a.value()->object_id));
  if (!q) return not_found(inv, inv.req("Identity"));
  return std::vector<Value>{association_record(to_lower(a.value()->object_id), *q)};
}

Out remove_association(Context& ctx, Invocation& inv) {
  for (const auto& given : inv.strings("Identities")) {
    auto a = resolve_instance(ctx, inv, given);
    if (!a) return a.error();
    const std::string id = to_lower(a.value()->object_id);
    const CallQueue* q = ctx.state.queue_of_instance(id);
    if (!q) return not_found(inv, given);
    CallQueue queue = *q;
    std::erase_if(queue.resource_accounts, [&](const std::string& x) { return iequals(x, id); });
    ctx.state.put_call_queue(queue);
  }
  return std::vector<Value>{};
}

// --- user calling settings (forwarding) ---------------------------------------------------

RecordPtr calling_record(const policy::User& u, const policy::CallingSettings& c) {
  auto r = make_record("UserCallingSettings");
  r->add("SipUri", u.sip_address)
      .add("IsForwardingEnabled", c.forwarding_enabled)
      .add("ForwardingType", c.forwarding_enabled ? Value(c.forwarding_type) : Value())
      .add("ForwardingTarget", c.forwarding_target.empty() ? Value() : Value(c.forwarding_target))
      .add("ForwardingTargetType", c.forwarding_enabled ? Value(c.forwarding_target_type) : Value())
      .add("IsUnansweredEnabled", c.unanswered_enabled)
      .add("UnansweredTarget", c.unanswered_target.empty() ? Value() : Value(c.unanswered_target))
      .add("UnansweredTargetType", c.unanswered_enabled ? Value(c.unanswered_target_type) : Value())
      .add("UnansweredDelay",
           c.unanswered_enabled ? Value(fmt_delay(c.unanswered_delay)) : Value());
  return r;
}

// A forwarding target as stored: a user's SIP address, or an E.164 number.
PsResult<std::string> forwarding_target(Context& ctx, const Invocation& inv,
                                        const std::string& param, const policy::User& self) {
  const std::string given = inv.req(param);
  if (given.empty()) return invalid(inv, "-" + param + " is needed with SingleTarget.", "");
  if (const policy::User* u = ctx.state.user_by_address(given)) {
    if (iequals(u->object_id, self.object_id)) {
      return invalid(inv, "-" + param + " cannot be the user themselves.", given);
    }
    return u->sip_address;
  }
  std::string phone;
  const std::string_view number =
      istarts_with(given, "tel:") ? std::string_view(given).substr(4) : std::string_view(given);
  if (number.find('+') != std::string_view::npos && policy::normalize_phone(number, phone) &&
      policy::is_e164(phone)) {
    return phone;
  }
  return invalid(inv,
                 "Cannot validate argument on parameter '" + param + "'. \"" + given +
                     "\" is neither a user nor an E.164 number.",
                 given);
}

PsResult<std::string> target_type(const Invocation& inv, const std::string& param,
                                  const std::string& current) {
  if (!inv.has(param)) return current;
  const std::string t = inv.req(param);
  if (iequals(t, "SingleTarget")) return std::string("SingleTarget");
  if (iequals(t, "Voicemail")) return std::string("Voicemail");
  if (iequals(t, "MyDelegates") || iequals(t, "Group")) {
    return invalid(inv,
                   "-" + param + " " + t +
                       ": Verbatim has no delegates or call groups; use SingleTarget or "
                       "Voicemail.",
                   t);
  }
  return invalid(inv,
                 "Cannot validate argument on parameter '" + param + "'. \"" + t +
                     "\" is not one of SingleTarget, Voicemail, MyDelegates, Group.",
                 t);
}

Out set_calling(Context& ctx, Invocation& inv) {
  auto u = resolve_user(ctx, inv, inv.req("Identity"));
  if (!u) return u.error();
  const policy::User& user = *u.value();
  policy::CallingSettings c;
  if (const auto* now = ctx.state.calling_settings(user.object_id)) c = *now;
  c.user_id = to_lower(user.object_id);
  if (inv.has("IsForwardingEnabled")) c.forwarding_enabled = inv.flag("IsForwardingEnabled");
  if (inv.has("ForwardingType")) {
    const std::string t = inv.req("ForwardingType");
    if (!iequals(t, "Immediate") && !iequals(t, "Simultaneous")) {
      return invalid(inv,
                     "Cannot validate argument on parameter 'ForwardingType'. \"" + t +
                         "\" is not one of Immediate, Simultaneous.",
                     t);
    }
    c.forwarding_type = iequals(t, "Immediate") ? "Immediate" : "Simultaneous";
  }
  auto ft = target_type(inv, "ForwardingTargetType", c.forwarding_target_type);
  if (!ft) return ft.error();
  c.forwarding_target_type = ft.value();
  if (inv.has("ForwardingTarget")) {
    auto t = forwarding_target(ctx, inv, "ForwardingTarget", user);
    if (!t) return t.error();
    c.forwarding_target = t.value();
  }
  if (inv.has("IsUnansweredEnabled")) c.unanswered_enabled = inv.flag("IsUnansweredEnabled");
  auto ut = target_type(inv, "UnansweredTargetType", c.unanswered_target_type);
  if (!ut) return ut.error();
  c.unanswered_target_type = ut.value();
  if (inv.has("UnansweredTarget")) {
    auto t = forwarding_target(ctx, inv, "UnansweredTarget", user);
    if (!t) return t.error();
    c.unanswered_target = t.value();
  }
  if (inv.has("UnansweredDelay")) {
    auto d = parse_delay(inv.req("UnansweredDelay"));
    if (!d) {
      return invalid(inv,
                     "Cannot validate argument on parameter 'UnansweredDelay'. \"" +
                         inv.req("UnansweredDelay") +
                         "\" is not a time from 00:00:00 to 00:01:00 (hh:mm:ss).",
                     inv.req("UnansweredDelay"));
    }
    c.unanswered_delay = *d;
  }
  // What the combination must be (Teams refuses the same).
  if (c.forwarding_enabled) {
    if (c.forwarding_target_type == "SingleTarget" && c.forwarding_target.empty()) {
      return invalid(inv, "Forwarding to SingleTarget needs -ForwardingTarget.", "");
    }
    if (c.forwarding_type == "Simultaneous" && c.forwarding_target_type == "Voicemail") {
      return invalid(inv, "Simultaneous ringing cannot ring voicemail.", "");
    }
  }
  if (c.unanswered_enabled && c.unanswered_target_type == "SingleTarget" &&
      c.unanswered_target.empty()) {
    return invalid(inv, "Unanswered forwarding to SingleTarget needs -UnansweredTarget.", "");
  }
  if (c.forwarding_enabled && c.forwarding_type == "Immediate" && c.unanswered_enabled) {
    return invalid(inv,
                   "Immediate forwarding and unanswered forwarding cannot both be on: the "
                   "user's phones never ring.",
                   "");
  }
  ctx.state.put_calling_settings(c);
  return std::vector<Value>{};
}

Out get_calling(Context& ctx, Invocation& inv) {
  auto u = resolve_user(ctx, inv, inv.req("Identity"));
  if (!u) return u.error();
  policy::CallingSettings c;
  if (const auto* now = ctx.state.calling_settings(u.value()->object_id)) c = *now;
  return std::vector<Value>{calling_record(*u.value(), c)};
}

}  // namespace

std::vector<CmdletSpec> routing_cmdlets() {
  using T = ParamType;
  const std::vector<ParamSpec> queue_params = {
      {"Users", T::kStringArray},    {"DistributionLists", T::kStringArray},
      {"RoutingMethod", T::kString}, {"PresenceBasedRouting", T::kBool},
      {"ConferenceMode", T::kBool},  {"AgentAlertTime", T::kInt},
      {"TimeoutThreshold", T::kInt},
  };
  auto with = [](std::vector<ParamSpec> a, const std::vector<ParamSpec>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  std::vector<CmdletSpec> c;
  c.push_back({"New-CsCallQueue",
               with({{"Name", T::kString, -1, true}}, queue_params),
               new_queue,
               true,
               "",
               {},
               "Creates a call queue: its agents and how calls reach them."});
  c.push_back({"Set-CsCallQueue",
               with({{"Identity", T::kString, 0, true}, {"Name", T::kString}}, queue_params),
               set_queue,
               true,
               "Identity",
               {},
               "Changes a call queue."});
  c.push_back({"Get-CsCallQueue",
               {{"Identity", T::kString, 0}, {"NameFilter", T::kString}},
               get_queue,
               false,
               "",
               {},
               "Lists call queues."});
  c.push_back({"Remove-CsCallQueue",
               {{"Identity", T::kString, 0, true}},
               remove_queue,
               true,
               "Identity",
               {},
               "Removes a call queue (its resource accounts stop routing to it)."});
  c.push_back({"New-CsOnlineApplicationInstanceAssociation",
               {{"Identities", T::kStringArray, -1, true},
                {"ConfigurationId", T::kString, -1, true},
                {"ConfigurationType", T::kString}},
               new_association,
               true,
               "",
               {},
               "Associates resource accounts with a call queue: calls to them reach the queue."});
  c.push_back({"Get-CsOnlineApplicationInstanceAssociation",
               {{"Identity", T::kString, 0, true}},
               get_association,
               false,
               "",
               {},
               "Shows which call queue a resource account routes to."});
  c.push_back({"Set-CsUserCallingSettings",
               {{"Identity", T::kString, 0, true},
                {"IsForwardingEnabled", T::kBool},
                {"ForwardingType", T::kString},
                {"ForwardingTargetType", T::kString},
                {"ForwardingTarget", T::kString},
                {"IsUnansweredEnabled", T::kBool},
                {"UnansweredTargetType", T::kString},
                {"UnansweredTarget", T::kString},
                {"UnansweredDelay", T::kString}},
               set_calling,
               true,
               "Identity",
               {},
               "Sets a user's call forwarding: immediate, simultaneous, when unanswered."});
  c.push_back({"Get-CsUserCallingSettings",
               {{"Identity", T::kString, 0, true}},
               get_calling,
               false,
               "",
               {},
               "Shows a user's call forwarding."});
  c.push_back({"Remove-CsOnlineApplicationInstanceAssociation",
               {{"Identities", T::kStringArray, -1, true}},
               remove_association,
               true,
               "",
               {},
               "Ends resource accounts' association with their call queue."});
  return c;
}

}  // namespace verbatim::admin
