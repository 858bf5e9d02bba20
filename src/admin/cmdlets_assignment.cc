// Policy assignment cmdlets: Grant-CsTeamsComplianceRecordingPolicy, Get-CsUserPolicyAssignment,
// the Cs*GroupPolicyAssignment cmdlets and the Cs*TeamsCustomBannerText cmdlets. Precedence
// (direct grant, then group assignments by rank, then Global) follows teams-model.md.
#include <algorithm>

#include "admin/cmdlets.h"
#include "common/ids.h"
#include "common/strings.h"

namespace verbatim::admin {

using policy::GroupAssignment;
using policy::kGlobalPolicy;
using policy::kPolicyType;
using policy::Policy;

namespace {

using Out = PsResult<std::vector<Value>>;

RecordPtr assignment_record(const GroupAssignment& a) {
  auto r = make_record("GroupPolicyAssignment", View::kTable);
  r->add("GroupId", a.group_id)
      .add("PolicyType", std::string(kPolicyType))
      .add("PolicyName", a.policy_name)
      .add("Rank", a.rank)
      .add("CreatedTime", a.created_time)
      .add("CreatedBy", a.created_by);
  return r;
}

RecordPtr banner_record(const policy::BannerText& b) {
  auto r = make_record("TeamsCustomBannerText");
  r->add("Identity", "Tag:" + b.name)
      .add("Id", b.id)
      .add("Text", b.text)
      .add("Description", b.description);
  return r;
}

// --- assignment ------------------------------------------------------------------------------

// The policy name to assign, or nullopt to unassign; validates that it exists.
PsResult<std::optional<std::string>> policy_to_grant(Context& ctx, const Invocation& inv) {
  const auto name = inv.str("PolicyName");
  if (!name || name->empty()) return std::optional<std::string>();
  auto p = resolve_policy(ctx, inv, *name);
  if (!p) return p.error();
  return std::optional<std::string>(p.value()->name);
}

// Inserts, moves or removes the group's assignment; rank 1 is highest, others shift down.
PsResult<std::optional<GroupAssignment>> assign_group(Context& ctx, const Invocation& inv,
                                                      const policy::Group& g,
                                                      const std::optional<std::string>& policy,
                                                      std::optional<int64_t> rank) {
  if (rank && *rank < 1) {
    return invalid(inv,
                   "Cannot validate argument on parameter 'Rank'. The " + std::to_string(*rank) +
                       " argument is less than the minimum "
                       "allowed range of 1.",
                   std::to_string(*rank));
  }
  std::vector<GroupAssignment> ordered;
  std::optional<size_t> previous;
  for (const GroupAssignment* a : ctx.state.ordered_group_assignments()) {
    if (iequals(a->group_id, g.object_id)) {
      previous = ordered.size();
      continue;
    }
    ordered.push_back(*a);
  }
  if (!policy) {
    if (!previous) {
      return invalid(inv,
                     "The group \"" + g.display_name + "\" has no " + std::string(kPolicyType) +
                         " assignment.",
                     g.display_name);
    }
    ctx.state.set_group_assignments(std::move(ordered));
    return std::optional<GroupAssignment>();
  }
  GroupAssignment a;
  a.group_id = to_lower(g.object_id);
  a.policy_name = *policy;
  a.created_time = format_iso8601(ctx.svc.clock().now());
  a.created_by = ctx.actor;
  size_t at = ordered.size();
  if (rank) {
    at = std::min(static_cast<size_t>(*rank - 1), ordered.size());
  } else if (previous) {
    at = *previous;
  }
  ordered.insert(ordered.begin() + static_cast<long>(at), a);
  ctx.state.set_group_assignments(ordered);
  a.rank = static_cast<int>(at + 1);
  return std::optional<GroupAssignment>(a);
}

Out grant(Context& ctx, Invocation& inv) {
  const int targets = inv.has("Identity") + inv.flag("Global") + inv.has("Group");
  if (targets != 1) {
    return invalid(inv,
                   targets == 0 ? "Specify who gets the policy: -Identity <user>, -Group "
                                  "<group> or -Global."
                                : "Parameter set cannot be resolved using the specified "
                                  "named parameters: use only one of -Identity, -Group "
                                  "and -Global.",
                   "");
  }
  if (inv.has("Rank") && !inv.has("Group")) {
    return invalid(inv, "-Rank applies only to -Group assignments.", "");
  }
  auto policy = policy_to_grant(ctx, inv);
  if (!policy) return policy.error();
  if (policy.value() && iequals(*policy.value(), kGlobalPolicy) && !inv.flag("Global")) {
    return invalid(inv,
                   "The Global policy applies to everyone without an assignment; to fall "
                   "back to it, grant -PolicyName $null.",
                   "Global");
  }
  if (inv.flag("Global")) {
    policy::Tenant t = ctx.state.tenant();
    t.global_policy = policy.value().value_or(std::string(kGlobalPolicy));
    ctx.state.put_tenant(t);
    return std::vector<Value>{};
  }
  if (inv.has("Group")) {
    auto g = resolve_group(ctx, inv, inv.req("Group"));
    if (!g) return g.error();
    std::optional<int64_t> rank;
    if (inv.has("Rank")) rank = inv.integer("Rank");
    auto a = assign_group(ctx, inv, *g.value(), policy.value(), rank);
    if (!a) return a.error();
    if (inv.flag("PassThru") && a.value()) return std::vector<Value>{assignment_record(*a.value())};
    return std::vector<Value>{};
  }
  auto u = resolve_user(ctx, inv, inv.req("Identity"));
  if (!u) return u.error();
  policy::User user = *u.value();
  user.compliance_recording_policy = policy.value().value_or("");
  ctx.state.put_user(user);
  if (inv.flag("PassThru")) return std::vector<Value>{user_record(ctx, user)};
  return std::vector<Value>{};
}

PsResult<bool> check_policy_type(const Invocation& inv) {
  const auto type = inv.str("PolicyType");
  if (type && !iequals(*type, kPolicyType)) {
    return invalid(inv,
                   "Verbatim manages only the PolicyType " + std::string(kPolicyType) + "; \"" +
                       *type + "\" is not supported.",
                   *type);
  }
  return true;
}

Out user_policy_assignment(Context& ctx, Invocation& inv) {
  auto ok = check_policy_type(inv);
  if (!ok) return ok.error();
  auto u = resolve_user(ctx, inv, inv.req("Identity"));
  if (!u) return u.error();
  Value::Array sources;
  std::string effective;
  for (const auto& c : policy::candidate_assignments(ctx.state, *u.value())) {
    if (c.source != policy::Source::kDirect && c.source != policy::Source::kGroup) continue;
    if (effective.empty()) effective = c.policy_name;
    auto s = make_record("PolicySource", View::kTable);
    s->add("AssignmentType", policy::source_name(c.source))
        .add("PolicyName", c.policy_name)
        .add("Reference", c.group_id.empty() ? Value() : Value(c.group_id));
    sources.emplace_back(s);
  }
  auto r = make_record("EffectivePolicy", View::kTable);
  r->add("PolicyType", std::string(kPolicyType))
      .add("PolicyName", effective.empty() ? Value() : Value(effective))
      .add("PolicySource", Value(std::move(sources)));
  return std::vector<Value>{r};
}

Out get_group_assignment(Context& ctx, Invocation& inv) {
  auto ok = check_policy_type(inv);
  if (!ok) return ok.error();
  std::optional<std::string> gid;
  if (auto g = inv.str("GroupId")) {
    auto found = resolve_group(ctx, inv, *g);
    if (!found) return found.error();
    gid = to_lower(found.value()->object_id);
  }
  std::vector<Value> out;
  for (const GroupAssignment* a : ctx.state.ordered_group_assignments()) {
    if (!gid || a->group_id == *gid) out.emplace_back(assignment_record(*a));
  }
  return out;
}

Out new_group_assignment(Context& ctx, Invocation& inv) {
  auto ok = check_policy_type(inv);
  if (!ok) return ok.error();
  auto g = resolve_group(ctx, inv, inv.req("GroupId"));
  if (!g) return g.error();
  if (ctx.state.group_assignments().count(to_lower(g.value()->object_id))) {
    return already_exists(inv, std::string(kPolicyType) + " assignment of group",
                          g.value()->display_name);
  }
  auto policy = policy_to_grant(ctx, inv);
  if (!policy) return policy.error();
  if (!policy.value()) return invalid(inv, "-PolicyName is required.", "");
  std::optional<int64_t> rank;
  if (inv.has("Rank")) rank = inv.integer("Rank");
  auto a = assign_group(ctx, inv, *g.value(), policy.value(), rank);
  if (!a) return a.error();
  return std::vector<Value>{};
}

Out set_group_assignment(Context& ctx, Invocation& inv) {
  auto ok = check_policy_type(inv);
  if (!ok) return ok.error();
  auto g = resolve_group(ctx, inv, inv.req("GroupId"));
  if (!g) return g.error();
  auto it = ctx.state.group_assignments().find(to_lower(g.value()->object_id));
  if (it == ctx.state.group_assignments().end()) {
    return not_found(inv, g.value()->display_name);
  }
  std::optional<std::string> policy = it->second.policy_name;
  if (inv.has("PolicyName")) {
    auto p = policy_to_grant(ctx, inv);
    if (!p) return p.error();
    if (!p.value()) return invalid(inv, "Use Remove-CsGroupPolicyAssignment to unassign.", "");
    policy = p.value();
  }
  std::optional<int64_t> rank;
  if (inv.has("Rank")) rank = inv.integer("Rank");
  auto a = assign_group(ctx, inv, *g.value(), policy, rank);
  if (!a) return a.error();
  return std::vector<Value>{};
}

Out remove_group_assignment(Context& ctx, Invocation& inv) {
  auto ok = check_policy_type(inv);
  if (!ok) return ok.error();
  auto g = resolve_group(ctx, inv, inv.req("GroupId"));
  if (!g) return g.error();
  auto a = assign_group(ctx, inv, *g.value(), std::nullopt, std::nullopt);
  if (!a) return a.error();
  return std::vector<Value>{};
}

// --- banner texts ----------------------------------------------------------------------------

Out new_banner(Context& ctx, Invocation& inv) {
  auto name = new_policy_name(inv, inv.req("Identity"));
  if (!name) return name.error();
  if (ctx.state.banner_by_name(name.value())) {
    return already_exists(inv, "banner text", "Tag:" + name.value());
  }
  policy::BannerText b{name.value(), ctx.svc.ids().new_guid(), inv.str("Text").value_or(""),
                       inv.str("Description").value_or("")};
  if (trim(b.text).empty()) return invalid(inv, "-Text cannot be empty.", "");
  ctx.state.put_banner(b);
  return std::vector<Value>{banner_record(b)};
}

PsResult<policy::BannerText> find_banner(Context& ctx, const Invocation& inv) {
  const std::string id = inv.req("Identity");
  const policy::BannerText* b = ctx.state.banner_by_name(id);
  if (!b) b = ctx.state.banner_by_id(id);
  if (!b) return not_found(inv, id);
  return *b;
}

Out set_banner(Context& ctx, Invocation& inv) {
  auto b = find_banner(ctx, inv);
  if (!b) return b.error();
  policy::BannerText banner = b.value();
  if (inv.has("Text")) {
    banner.text = inv.str("Text").value_or("");
    if (trim(banner.text).empty()) return invalid(inv, "-Text cannot be empty.", "");
  }
  if (inv.has("Description")) banner.description = inv.str("Description").value_or("");
  ctx.state.put_banner(banner);
  return std::vector<Value>{};
}

Out get_banner(Context& ctx, Invocation& inv) {
  std::vector<Value> out;
  if (inv.has("Identity")) {
    auto b = find_banner(ctx, inv);
    if (!b) return b.error();
    out.emplace_back(banner_record(b.value()));
    return out;
  }
  for (const auto& [key, b] : ctx.state.banners()) out.emplace_back(banner_record(b));
  return out;
}

Out remove_banner(Context& ctx, Invocation& inv) {
  auto b = find_banner(ctx, inv);
  if (!b) return b.error();
  for (const auto& [key, p] : ctx.state.policies()) {
    if (iequals(p.custom_banner, b.value().id)) {
      return refused(inv, "The banner text is used by the policy \"" + p.identity() + "\".",
                     b.value().name);
    }
  }
  ctx.state.erase_banner(b.value().name);
  return std::vector<Value>{};
}

}  // namespace

std::vector<CmdletSpec> assignment_cmdlets() {
  using T = ParamType;
  std::vector<CmdletSpec> c;
  c.push_back({"Grant-CsTeamsComplianceRecordingPolicy",
               {{"Identity", T::kString, 0},
                {"PolicyName", T::kString, 1},
                {"Global", T::kSwitch},
                {"Group", T::kString},
                {"Rank", T::kInt},
                {"PassThru", T::kSwitch}},
               grant,
               true,
               "Identity",
               {},
               "Assigns a policy to a user, a group (with rank) or the tenant."});
  c.push_back({"Get-CsUserPolicyAssignment",
               {{"Identity", T::kString, 0, true}, {"PolicyType", T::kString}},
               user_policy_assignment,
               false,
               "Identity",
               {},
               "Shows a user's direct and group policy assignments."});
  c.push_back({"Get-CsGroupPolicyAssignment",
               {{"GroupId", T::kString, 0}, {"PolicyType", T::kString}},
               get_group_assignment,
               false,
               "",
               {},
               "Lists group policy assignments by rank."});
  c.push_back({"New-CsGroupPolicyAssignment",
               {{"GroupId", T::kString, -1, true},
                {"PolicyType", T::kString, -1, true},
                {"PolicyName", T::kString, -1, true},
                {"Rank", T::kInt}},
               new_group_assignment,
               true,
               "",
               {},
               "Assigns a policy to a group."});
  c.push_back({"Set-CsGroupPolicyAssignment",
               {{"GroupId", T::kString, -1, true},
                {"PolicyType", T::kString, -1, true},
                {"PolicyName", T::kString},
                {"Rank", T::kInt}},
               set_group_assignment,
               true,
               "",
               {},
               "Changes a group assignment or its rank."});
  c.push_back({"Remove-CsGroupPolicyAssignment",
               {{"GroupId", T::kString, -1, true}, {"PolicyType", T::kString, -1, true}},
               remove_group_assignment,
               true,
               "",
               {},
               "Removes a group assignment."});
  c.push_back({"New-CsTeamsCustomBannerText",
               {{"Identity", T::kString, 0, true},
                {"Text", T::kString, -1, true},
                {"Description", T::kString}},
               new_banner,
               true,
               "",
               {},
               "Creates a custom recording banner text."});
  c.push_back(
      {"Set-CsTeamsCustomBannerText",
       {{"Identity", T::kString, 0, true}, {"Text", T::kString}, {"Description", T::kString}},
       set_banner,
       true,
       "Identity",
       {},
       "Changes a custom banner text."});
  c.push_back({"Get-CsTeamsCustomBannerText",
               {{"Identity", T::kString, 0}},
               get_banner,
               false,
               "",
               {},
               "Lists custom banner texts."});
  c.push_back({"Remove-CsTeamsCustomBannerText",
               {{"Identity", T::kString, 0, true}},
               remove_banner,
               true,
               "Identity",
               {},
               "Removes an unused banner text."});
  return c;
}

}  // namespace verbatim::admin
