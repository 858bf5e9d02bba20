#include <algorithm>

#include "admin/cmdlets.h"
#include "common/strings.h"

namespace verbatim::admin {

using policy::User;

PsError not_found(const Invocation& inv, const std::string& identity) {
  return inv.error("Management object not found for identity \"" + identity + "\".",
                   "ObjectNotFound", "ManagementObjectNotFoundException", identity);
}

PsError already_exists(const Invocation& inv, const std::string& what, const std::string& id) {
  return inv.error("The " + what + " \"" + id + "\" already exists.", "ResourceExists",
                   "DuplicateIdentity", id);
}

PsError invalid(const Invocation& inv, const std::string& message, const std::string& target) {
  return inv.error(message, "InvalidArgument", "InvalidParameterValue", target);
}

PsError refused(const Invocation& inv, const std::string& message, const std::string& target) {
  return inv.error(message, "InvalidOperation", "OperationRefused", target);
}

PsResult<const User*> resolve_user(Context& ctx, const Invocation& inv,
                                   const std::string& identity) {
  if (const User* u = ctx.state.user_by_address(identity)) return u;
  auto named = ctx.state.users_by_display_name(identity);
  if (named.size() == 1) return named.front();
  if (named.size() > 1) {
    std::string ids;
    for (const User* u : named) ids += (ids.empty() ? "" : ", ") + u->user_principal_name;
    return inv.error("The identity \"" + identity + "\" matches more than one user (" + ids +
                         "); use the UserPrincipalName or ObjectId.",
                     "InvalidArgument", "AmbiguousIdentity", identity);
  }
  return not_found(inv, identity);
}

PsResult<const policy::Group*> resolve_group(Context& ctx, const Invocation& inv,
                                             const std::string& identity) {
  if (const auto* g = ctx.state.group_by_id(identity)) return g;
  auto named = ctx.state.groups_by_display_name(identity);
  if (named.size() == 1) return named.front();
  if (named.size() > 1) {
    return inv.error(
        "The identity \"" + identity + "\" matches more than one group; use the ObjectId.",
        "InvalidArgument", "AmbiguousIdentity", identity);
  }
  return not_found(inv, identity);
}

PsResult<const policy::ApplicationInstance*> resolve_instance(Context& ctx, const Invocation& inv,
                                                              const std::string& identity) {
  if (const auto* a = ctx.state.instance_by_id(identity)) return a;
  if (const auto* a = ctx.state.instance_by_upn(identity)) return a;
  // A common mistake: the ApplicationId given where the instance's ObjectId belongs.
  for (const auto& [id, a] : ctx.state.instances()) {
    if (iequals(a.application_id, identity)) {
      return inv.error("\"" + identity + "\" is the ApplicationId of application instance " +
                           a.user_principal_name + "; use its ObjectId " + a.object_id + ".",
                       "InvalidArgument", "ApplicationIdGivenForObjectId", identity);
    }
  }
  return not_found(inv, identity);
}

PsResult<const policy::Policy*> resolve_policy(Context& ctx, const Invocation& inv,
                                               const std::string& identity) {
  if (const auto* p = ctx.state.find_policy(identity)) return p;
  const std::string shown =
      istarts_with(identity, "Tag:") || iequals(identity, "Global") ? identity : "Tag:" + identity;
  return not_found(inv, shown);
}

RecordPtr user_record(const Context& ctx, const User& u) {
  auto r = make_record("OnlineUser");
  r->add("Identity", u.object_id)
      .add("ObjectId", u.object_id)
      .add("UserPrincipalName", u.user_principal_name)
      .add("SipAddress", u.sip_address)
      .add("DisplayName", u.display_name)
      .add("LineUri", u.phone_number.empty() ? Value() : Value("tel:" + u.phone_number))
      .add("PreferredLanguage", u.preferred_language)
      .add("DataLocation", u.data_location)
      .add("TenantId", ctx.state.tenant().tenant_id)
      .add("TeamsComplianceRecordingPolicy",
           u.compliance_recording_policy.empty() ? Value() : Value(u.compliance_recording_policy));
  return r;
}

RecordPtr instance_record(const Context& ctx, const policy::ApplicationInstance& a) {
  auto r = make_record("OnlineApplicationInstance");
  r->add("RunspaceId", ctx.runspace_id)
      .add("ObjectId", a.object_id)
      .add("TenantId", ctx.state.tenant().tenant_id)
      .add("UserPrincipalName", a.user_principal_name)
      .add("ApplicationId", a.application_id)
      .add("DisplayName", a.display_name)
      .add("PhoneNumber", a.phone_number.empty() ? Value() : Value("tel:" + a.phone_number));
  return r;
}

bool wildcard_match(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  auto lower = [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  };
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || lower(pattern[p]) == lower(text[t]))) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace verbatim::admin
