// Compliance recording policy cmdlets: policies, their recording applications and paired
// applications (assignment and banner texts are cmdlets_assignment.cc). Names, parameters, defaults
// and output fields follow Microsoft's MicrosoftTeams module (teams-model.md); limits Teams has and
// we do not (24 h propagation, 64 groups per policy type) are deliberately absent.
#include <algorithm>

#include "admin/cmdlets.h"
#include "common/ids.h"
#include "common/strings.h"

namespace verbatim::admin {

using policy::GroupAssignment;
using policy::kGlobalPolicy;
using policy::kPolicyType;
using policy::Policy;
using policy::RecordingApplication;

namespace {

using Out = PsResult<std::vector<Value>>;

// --- records ---------------------------------------------------------------------------------

RecordPtr paired_record(const std::string& id) {
  auto r = make_record("ComplianceRecordingPairedApplication");
  r->add("Id", id);
  return r;
}

RecordPtr app_record(const RecordingApplication& a) {
  Value::Array paired;
  for (const auto& id : a.paired_applications) paired.emplace_back(paired_record(id));
  auto r = make_record("TeamsComplianceRecordingApplication");
  r->add("Identity", a.identity())
      .add("Priority", a.priority ? Value(*a.priority) : Value())
      .add("Id", a.id)
      .add("ComplianceRecordingPairedApplications", Value(std::move(paired)))
      .add("ConcurrentInvitationCount", static_cast<int64_t>(a.concurrent_invitation_count))
      .add("RequiredDuringCall", a.required_during_call)
      .add("RequiredBeforeMeetingJoin", a.required_before_meeting_join)
      .add("RequiredBeforeCallEstablishment", a.required_before_call_establishment)
      .add("RequiredDuringMeeting", a.required_during_meeting);
  return r;
}

RecordPtr policy_record(const Policy& p) {
  Value::Array apps;
  for (const auto& a : p.applications) apps.emplace_back(app_record(a));
  auto r = make_record("TeamsComplianceRecordingPolicy");
  r->add("Identity", p.identity())
      .add("ComplianceRecordingApplications", Value(std::move(apps)))
      .add("Enabled", p.enabled)
      .add("WarnUserOnRemoval", p.warn_user_on_removal)
      .add("DisableComplianceRecordingAudioNotificationForCalls",
           p.disable_audio_notification_for_calls)
      .add("RecordReroutedCalls", p.record_rerouted_calls)
      .add("CustomPromptsEnabled", p.custom_prompts_enabled)
      .add("CustomPromptsPackageId",
           p.custom_prompts_package_id.empty() ? Value() : Value(p.custom_prompts_package_id))
      .add("Description", p.description.empty() ? Value() : Value(p.description))
      .add("CustomBanner", p.custom_banner.empty() ? Value() : Value(p.custom_banner));
  return r;
}

// --- validation ------------------------------------------------------------------------------

PsResult<uint32_t> check_cic(const Invocation& inv, int64_t n) {
  if (n < 1) {
    return invalid(inv,
                   "Cannot validate argument on parameter 'ConcurrentInvitationCount'. The " +
                       std::to_string(n) +
                       " argument is less than the minimum allowed "
                       "range of 1. Supply an argument that is greater than or equal to 1 "
                       "and then try the command again.",
                   std::to_string(n));
  }
  if (n > 2) {
    return invalid(inv,
                   "Cannot validate argument on parameter 'ConcurrentInvitationCount'. The " +
                       std::to_string(n) +
                       " argument is greater than the maximum allowed "
                       "range of 2. Supply an argument that is less than or equal to 2 "
                       "and then try the command again.",
                   std::to_string(n));
  }
  return static_cast<uint32_t>(n);
}

// The paired-application list from values (paired-application records or ObjectIds).
PsResult<std::vector<std::string>> paired_ids(Context& ctx, const Invocation& inv,
                                              const Value::Array& items) {
  std::vector<std::string> out;
  for (const Value& v : items) {
    std::string id;
    if (v.is_record()) {
      const Value* p = v.as_record()->get("Id");
      if (!p || !p->is_string()) {
        return invalid(inv, "A paired application must have an Id.", display(v));
      }
      id = p->as_string();
    } else {
      id = display(v);
    }
    auto inst = resolve_instance(ctx, inv, id);
    if (!inst) return inst.error();
    out.push_back(inst.value()->object_id);
  }
  if (out.size() > 1) {
    return invalid(inv,
                   "ComplianceRecordingPairedApplications can hold at most one paired "
                   "application.",
                   "");
  }
  return out;
}

// Validates an application as it will be stored in `parent`.
PsResult<RecordingApplication> check_app(Context& ctx, const Invocation& inv,
                                         RecordingApplication a, const std::string& parent) {
  auto inst = resolve_instance(ctx, inv, a.id);
  if (!inst) return inst.error();
  a.id = inst.value()->object_id;
  a.parent = parent;
  if (a.concurrent_invitation_count < 1 || a.concurrent_invitation_count > 2) {
    auto c = check_cic(inv, a.concurrent_invitation_count);
    if (!c) return c.error();
  }
  for (const auto& pid : a.paired_applications) {
    if (iequals(pid, a.id)) {
      return invalid(inv, "An application cannot be paired with itself (" + a.id + ").", a.id);
    }
  }
  if (a.concurrent_invitation_count == 2 && !a.paired_applications.empty()) {
    return invalid(inv,
                   "Use either ConcurrentInvitationCount 2 or a paired application for "
                   "resiliency, not both (application " +
                       a.id + ").",
                   a.id);
  }
  return a;
}

// Reads application flags given as cmdlet parameters onto `a`.
PsResult<bool> apply_app_params(Context& ctx, const Invocation& inv, RecordingApplication& a) {
  if (inv.has("RequiredBeforeMeetingJoin")) {
    a.required_before_meeting_join = inv.flag("RequiredBeforeMeetingJoin");
  }
  if (inv.has("RequiredBeforeCallEstablishment")) {
    a.required_before_call_establishment = inv.flag("RequiredBeforeCallEstablishment");
  }
  if (inv.has("RequiredDuringMeeting"))
    a.required_during_meeting = inv.flag("RequiredDuringMeeting");
  if (inv.has("RequiredDuringCall")) a.required_during_call = inv.flag("RequiredDuringCall");
  if (inv.has("ConcurrentInvitationCount")) {
    auto c = check_cic(inv, inv.integer("ConcurrentInvitationCount"));
    if (!c) return c.error();
    a.concurrent_invitation_count = c.value();
  }
  if (inv.has("ComplianceRecordingPairedApplications")) {
    auto p = paired_ids(ctx, inv, inv.objects("ComplianceRecordingPairedApplications"));
    if (!p) return p.error();
    a.paired_applications = p.value();
  }
  if (inv.has("Priority")) {
    const Value* v = inv.get("Priority");
    if (v->is_null()) {
      a.priority.reset();
    } else {
      a.priority = static_cast<int>(v->as_int());
    }
  }
  return true;
}

// An application from a value in -ComplianceRecordingApplications: a record (from
// New-CsTeamsComplianceRecordingApplication, or JSON over REST) or an instance ObjectId.
PsResult<RecordingApplication> app_from_value(Context& ctx, const Invocation& inv, const Value& v) {
  RecordingApplication a;
  if (!v.is_record()) {
    a.id = display(v);
    return a;
  }
  const Record& r = *v.as_record();
  const Value* id = r.get("Id");
  if (!id || id->is_null()) {
    return invalid(inv,
                   "Each ComplianceRecordingApplications entry needs an Id (the "
                   "application instance's ObjectId).",
                   display(v));
  }
  a.id = display(*id);
  auto flag = [&](const char* name, bool& out) -> PsResult<bool> {
    if (const Value* f = r.get(name); f && !f->is_null()) {
      if (!f->is_bool()) {
        return invalid(inv, std::string(name) + " must be $true or $false.", display(*f));
      }
      out = f->as_bool();
    }
    return true;
  };
  for (auto [name, field] :
       {std::pair<const char*, bool*>{"RequiredBeforeMeetingJoin", &a.required_before_meeting_join},
        {"RequiredBeforeCallEstablishment", &a.required_before_call_establishment},
        {"RequiredDuringMeeting", &a.required_during_meeting},
        {"RequiredDuringCall", &a.required_during_call}}) {
    auto ok = flag(name, *field);
    if (!ok) return ok.error();
  }
  if (const Value* c = r.get("ConcurrentInvitationCount"); c && !c->is_null()) {
    if (!c->is_int()) return invalid(inv, "ConcurrentInvitationCount must be 1 or 2.", display(*c));
    auto n = check_cic(inv, c->as_int());
    if (!n) return n.error();
    a.concurrent_invitation_count = n.value();
  }
  if (const Value* p = r.get("ComplianceRecordingPairedApplications"); p && !p->is_null()) {
    Value::Array items;
    if (p->is_array()) {
      items = p->as_array();
    } else {
      items.push_back(*p);
    }
    auto ids = paired_ids(ctx, inv, items);
    if (!ids) return ids.error();
    a.paired_applications = ids.value();
  }
  if (const Value* p = r.get("Priority"); p && p->is_int())
    a.priority = static_cast<int>(p->as_int());
  return a;
}

}  // namespace

PsResult<std::string> new_policy_name(const Invocation& inv, const std::string& identity) {
  const std::string name = policy::policy_name_from_identity(identity);
  if (trim(name).empty() || name.size() > 256 || name.find('/') != std::string::npos ||
      name.find('*') != std::string::npos) {
    return invalid(inv,
                   "\"" + identity +
                       "\" is not a valid policy identity: use a name of up "
                       "to 256 characters without '/' or '*'.",
                   identity);
  }
  return name;
}

namespace {

// Applies the policy parameters given to `p`.
PsResult<bool> apply_policy_params(Context& ctx, const Invocation& inv, Policy& p) {
  if (inv.has("Enabled")) p.enabled = inv.flag("Enabled");
  if (inv.has("WarnUserOnRemoval")) p.warn_user_on_removal = inv.flag("WarnUserOnRemoval");
  if (inv.has("DisableComplianceRecordingAudioNotificationForCalls")) {
    p.disable_audio_notification_for_calls =
        inv.flag("DisableComplianceRecordingAudioNotificationForCalls");
  }
  if (inv.has("RecordReroutedCalls")) p.record_rerouted_calls = inv.flag("RecordReroutedCalls");
  if (inv.has("Description")) p.description = inv.str("Description").value_or("");
  if (inv.has("CustomPromptsEnabled")) p.custom_prompts_enabled = inv.flag("CustomPromptsEnabled");
  if (inv.has("CustomPromptsPackageId")) {
    p.custom_prompts_package_id = inv.str("CustomPromptsPackageId").value_or("");
  }
  if (inv.has("CustomBanner")) {
    const auto b = inv.str("CustomBanner");
    if (!b || b->empty()) {
      p.custom_banner.clear();
    } else {
      const policy::BannerText* banner = ctx.state.banner_by_id(*b);
      if (!banner) banner = ctx.state.banner_by_name(*b);
      if (!banner) {
        return invalid(inv,
                       "CustomBanner \"" + *b +
                           "\" names no banner text; create it with "
                           "New-CsTeamsCustomBannerText.",
                       *b);
      }
      p.custom_banner = banner->id;
    }
  }
  if (inv.has("ComplianceRecordingApplications")) {
    std::vector<RecordingApplication> apps;
    for (const Value& v : inv.objects("ComplianceRecordingApplications")) {
      auto a = app_from_value(ctx, inv, v);
      if (!a) return a.error();
      auto checked = check_app(ctx, inv, a.value(), p.name);
      if (!checked) return checked.error();
      for (const auto& existing : apps) {
        if (iequals(existing.id, checked.value().id)) {
          return invalid(inv,
                         "The application " + existing.id +
                             " is listed twice in ComplianceRecordingApplications.",
                         existing.id);
        }
      }
      apps.push_back(checked.value());
    }
    p.applications = std::move(apps);
  }
  return true;
}

std::vector<const Policy*> sorted_policies(const Context& ctx) {
  std::vector<const Policy*> out;
  for (const auto& [key, p] : ctx.state.policies()) out.push_back(&p);
  std::stable_sort(out.begin(), out.end(), [](const Policy* a, const Policy* b) {
    const bool ga = a->name == kGlobalPolicy;
    const bool gb = b->name == kGlobalPolicy;
    if (ga != gb) return ga;
    return to_lower(a->name) < to_lower(b->name);
  });
  return out;
}

// --- policies --------------------------------------------------------------------------------

Out new_policy(Context& ctx, Invocation& inv) {
  auto name = new_policy_name(inv, inv.req("Identity"));
  if (!name) return name.error();
  if (ctx.state.find_policy(name.value())) {
    const std::string id = iequals(name.value(), kGlobalPolicy) ? "Global" : "Tag:" + name.value();
    return already_exists(inv, "policy", id);
  }
  Policy p;
  p.name = name.value();
  auto ok = apply_policy_params(ctx, inv, p);
  if (!ok) return ok.error();
  if (!inv.flag("InMemory")) ctx.state.put_policy(p);
  return std::vector<Value>{policy_record(p)};
}

Out set_policy(Context& ctx, Invocation& inv) {
  auto found = resolve_policy(ctx, inv, inv.req("Identity"));
  if (!found) return found.error();
  Policy p = *found.value();
  auto ok = apply_policy_params(ctx, inv, p);
  if (!ok) return ok.error();
  ctx.state.put_policy(p);
  return std::vector<Value>{};
}

Out get_policy(Context& ctx, Invocation& inv) {
  std::vector<Value> out;
  if (auto id = inv.str("Identity")) {
    auto found = resolve_policy(ctx, inv, *id);
    if (!found) return found.error();
    out.emplace_back(policy_record(*found.value()));
    return out;
  }
  const auto filter = inv.str("Filter");
  for (const Policy* p : sorted_policies(ctx)) {
    if (!filter || wildcard_match(*filter, p->identity())) out.emplace_back(policy_record(*p));
  }
  return out;
}

Out remove_policy(Context& ctx, Invocation& inv) {
  auto found = resolve_policy(ctx, inv, inv.req("Identity"));
  if (!found) return found.error();
  const Policy& p = *found.value();
  if (p.name == kGlobalPolicy) {
    // As in Teams: removing Global resets it to the defaults.
    Policy reset;
    reset.name = p.name;
    ctx.state.put_policy(reset);
    return std::vector<Value>{};
  }
  const auto users = ctx.state.users_assigned(p.name);
  size_t groups = 0;
  for (const auto& [gid, a] : ctx.state.group_assignments())
    groups += iequals(a.policy_name, p.name);
  const bool tenant = iequals(ctx.state.tenant().global_policy, p.name);
  if (!users.empty() || groups || tenant) {
    std::string where;
    if (!users.empty()) {
      where += std::to_string(users.size()) + (users.size() == 1 ? " user" : " users") + " (" +
               users.front()->user_principal_name + (users.size() > 1 ? ", ..." : "") + ")";
    }
    if (groups) {
      where += std::string(where.empty() ? "" : ", ") + std::to_string(groups) +
               (groups == 1 ? " group" : " groups");
    }
    if (tenant) where += std::string(where.empty() ? "" : ", ") + "the whole tenant (-Global)";
    return refused(inv,
                   "The policy \"" + p.identity() +
                       "\" cannot be removed because it is "
                       "assigned to " +
                       where +
                       ". Unassign it first with "
                       "Grant-CsTeamsComplianceRecordingPolicy -PolicyName $null.",
                   p.identity());
  }
  ctx.state.erase_policy(p.name);
  return std::vector<Value>{};
}

// --- applications ----------------------------------------------------------------------------

struct AppRef {
  std::string policy;
  std::string id;
};

PsResult<AppRef> parse_app_identity(const Invocation& inv, const std::string& identity) {
  std::string s = policy::policy_name_from_identity(identity);
  const size_t slash = s.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= s.size()) {
    return invalid(inv,
                   "\"" + identity +
                       "\" is not an application identity; expected "
                       "Tag:<PolicyName>/<application instance ObjectId>.",
                   identity);
  }
  return AppRef{s.substr(0, slash), s.substr(slash + 1)};
}

PsResult<AppRef> app_ref(const Invocation& inv) {
  if (auto identity = inv.str("Identity")) return parse_app_identity(inv, *identity);
  const auto parent = inv.str("Parent");
  const auto id = inv.str("Id");
  if (!parent || !id) {
    return invalid(inv, "Specify -Identity Tag:<Policy>/<ObjectId>, or both -Parent and -Id.", "");
  }
  return AppRef{policy::policy_name_from_identity(*parent), *id};
}

Out new_app(Context& ctx, Invocation& inv) {
  auto ref = app_ref(inv);
  if (!ref) return ref.error();
  const Policy* parent = ctx.state.find_policy(ref.value().policy);
  Policy p;
  if (parent) {
    p = *parent;
  } else {
    // Teams allows making the application for a policy that the enclosing
    // New-CsTeamsComplianceRecordingPolicy is about to create; it is then in-memory only.
    auto name = new_policy_name(inv, ref.value().policy);
    if (!name) return name.error();
    p.name = name.value();
  }
  RecordingApplication a;
  a.id = ref.value().id;
  auto ok = apply_app_params(ctx, inv, a);
  if (!ok) return ok.error();
  auto checked = check_app(ctx, inv, a, p.name);
  if (!checked) return checked.error();
  if (!parent) {
    if (!inv.flag("InMemory")) ctx.unsaved_apps.emplace_back(p.name, checked.value().id);
    return std::vector<Value>{app_record(checked.value())};
  }
  for (const auto& existing : p.applications) {
    if (iequals(existing.id, checked.value().id)) {
      return already_exists(inv, "application", existing.identity());
    }
  }
  if (!inv.flag("InMemory")) {
    p.applications.push_back(checked.value());
    ctx.state.put_policy(p);
  }
  return std::vector<Value>{app_record(checked.value())};
}

// Finds the application `ref` in its policy; returns the policy copy and the index.
PsResult<std::pair<Policy, size_t>> find_app(Context& ctx, const Invocation& inv,
                                             const AppRef& ref) {
  auto pol = resolve_policy(ctx, inv, ref.policy);
  if (!pol) return pol.error();
  const Policy& p = *pol.value();
  for (size_t i = 0; i < p.applications.size(); ++i) {
    if (iequals(p.applications[i].id, ref.id)) return std::make_pair(p, i);
  }
  return not_found(inv, "Tag:" + p.name + "/" + ref.id);
}

Out set_app(Context& ctx, Invocation& inv) {
  auto ref = app_ref(inv);
  if (!ref) return ref.error();
  auto found = find_app(ctx, inv, ref.value());
  if (!found) return found.error();
  auto [p, i] = found.value();
  RecordingApplication a = p.applications[i];
  auto ok = apply_app_params(ctx, inv, a);
  if (!ok) return ok.error();
  auto checked = check_app(ctx, inv, a, p.name);
  if (!checked) return checked.error();
  p.applications[i] = checked.value();
  ctx.state.put_policy(p);
  return std::vector<Value>{};
}

Out remove_app(Context& ctx, Invocation& inv) {
  auto ref = app_ref(inv);
  if (!ref) return ref.error();
  auto found = find_app(ctx, inv, ref.value());
  if (!found) return found.error();
  auto [p, i] = found.value();
  p.applications.erase(p.applications.begin() + static_cast<long>(i));
  ctx.state.put_policy(p);
  return std::vector<Value>{};
}

Out get_app(Context& ctx, Invocation& inv) {
  std::vector<Value> out;
  if (inv.has("Identity")) {
    auto ref = app_ref(inv);
    if (!ref) return ref.error();
    auto found = find_app(ctx, inv, ref.value());
    if (!found) return found.error();
    out.emplace_back(app_record(found.value().first.applications[found.value().second]));
    return out;
  }
  const auto filter = inv.str("Filter");
  for (const Policy* p : sorted_policies(ctx)) {
    for (const auto& a : p->applications) {
      if (!filter || wildcard_match(*filter, a.identity())) out.emplace_back(app_record(a));
    }
  }
  return out;
}

Out new_paired(Context& ctx, Invocation& inv) {
  auto inst = resolve_instance(ctx, inv, inv.req("Id"));
  if (!inst) return inst.error();
  return std::vector<Value>{paired_record(inst.value()->object_id)};
}

}  // namespace

std::vector<CmdletSpec> policy_cmdlets() {
  using T = ParamType;
  const std::vector<ParamSpec> policy_params = {
      {"Enabled", T::kBool},
      {"WarnUserOnRemoval", T::kBool},
      {"DisableComplianceRecordingAudioNotificationForCalls", T::kBool},
      {"RecordReroutedCalls", T::kBool},
      {"Description", T::kString},
      {"ComplianceRecordingApplications", T::kObjects},
      {"CustomBanner", T::kString},
      {"CustomPromptsEnabled", T::kBool},
      {"CustomPromptsPackageId", T::kString},
  };
  const std::vector<ParamSpec> app_params = {
      {"RequiredBeforeMeetingJoin", T::kBool},
      {"RequiredBeforeCallEstablishment", T::kBool},
      {"RequiredDuringMeeting", T::kBool},
      {"RequiredDuringCall", T::kBool},
      {"ConcurrentInvitationCount", T::kInt},
      {"ComplianceRecordingPairedApplications", T::kObjects},
      {"Priority", T::kInt},
  };
  auto with = [](std::vector<ParamSpec> a, const std::vector<ParamSpec>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  std::vector<CmdletSpec> c;
  c.push_back({"New-CsTeamsComplianceRecordingPolicy",
               with({{"Identity", T::kString, 0, true}, {"InMemory", T::kSwitch}}, policy_params),
               new_policy,
               true,
               "",
               {},
               "Creates a compliance recording policy."});
  c.push_back({"Set-CsTeamsComplianceRecordingPolicy",
               with({{"Identity", T::kString, 0, true}, {"Instance", T::kAny}}, policy_params),
               set_policy,
               true,
               "Identity",
               {},
               "Changes a compliance recording policy."});
  c.push_back({"Get-CsTeamsComplianceRecordingPolicy",
               {{"Identity", T::kString, 0}, {"Filter", T::kString}},
               get_policy,
               false,
               "",
               {},
               "Lists compliance recording policies."});
  c.push_back({"Remove-CsTeamsComplianceRecordingPolicy",
               {{"Identity", T::kString, 0, true}},
               remove_policy,
               true,
               "Identity",
               {},
               "Removes an unassigned policy (Global: resets it)."});
  c.push_back({"New-CsTeamsComplianceRecordingApplication",
               with({{"Identity", T::kString},
                     {"Parent", T::kString},
                     {"Id", T::kString},
                     {"InMemory", T::kSwitch}},
                    app_params),
               new_app,
               true,
               "",
               {},
               "Adds a recording application to a policy."});
  c.push_back({"Set-CsTeamsComplianceRecordingApplication",
               with({{"Identity", T::kString, 0}, {"Instance", T::kAny}}, app_params),
               set_app,
               true,
               "Identity",
               {},
               "Changes a recording application of a policy."});
  c.push_back({"Get-CsTeamsComplianceRecordingApplication",
               {{"Identity", T::kString, 0}, {"Filter", T::kString}},
               get_app,
               false,
               "",
               {},
               "Lists recording applications."});
  c.push_back({"Remove-CsTeamsComplianceRecordingApplication",
               {{"Identity", T::kString, 0, true}},
               remove_app,
               true,
               "Identity",
               {},
               "Removes a recording application from its policy."});
  c.push_back({"New-CsTeamsComplianceRecordingPairedApplication",
               {{"Id", T::kString, 0, true}, {"InMemory", T::kSwitch}},
               new_paired,
               false,
               "",
               {},
               "Makes a paired-application object for resiliency."});
  return c;
}

}  // namespace verbatim::admin
