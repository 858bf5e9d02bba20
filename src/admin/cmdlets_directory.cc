// Directory cmdlets: Verbatim's own (Vb*) users, groups and memberships, plus Teams'
// application-instance cmdlets and Get-CsOnlineUser (recorder endpoints, the directory import
// and the audit log are cmdlets_operations.cc). Teams reads these objects from Entra ID and bot
// registrations; Verbatim keeps them itself.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "admin/cmdlets.h"
#include "common/csv.h"
#include "common/ids.h"
#include "common/strings.h"
#include "sip/digest.h"

namespace verbatim::admin {

using policy::ApplicationInstance;
using policy::Group;
using policy::RecorderEndpoint;
using policy::User;

namespace {

using Out = PsResult<std::vector<Value>>;

bool valid_address(std::string_view s) {
  const size_t at = s.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= s.size()) return false;
  if (s.find('@', at + 1) != std::string_view::npos) return false;
  for (char c : s) {
    if (c <= ' ' || c == '<' || c == '>' || c == '"' || c == ',' || c == ';') return false;
  }
  return s.size() <= 256;
}

bool valid_language(std::string_view s) {
  // BCP 47 shape: 2-3 letters, then -subtags of 2-8 letters or digits.
  auto parts = split(s, '-');
  if (parts[0].size() < 2 || parts[0].size() > 3) return false;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].empty() || parts[i].size() > 8) return false;
    for (char c : parts[i]) {
      if (!std::isalnum(static_cast<unsigned char>(c)) ||
          (i == 0 && !std::isalpha(static_cast<unsigned char>(c))))
        return false;
    }
  }
  return true;
}

}  // namespace

bool valid_region(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

bool valid_sip_uri(std::string_view s) {
  if (istarts_with(s, "sips:")) {
    s.remove_prefix(5);
  } else if (istarts_with(s, "sip:")) {
    s.remove_prefix(4);
  } else {
    return false;
  }
  if (s.empty() || s.size() > 512) return false;
  for (char c : s) {
    if (c <= ' ' || c == '<' || c == '>' || c == '"') return false;
  }
  const std::string_view host =
      s.substr(s.find('@') == std::string_view::npos ? 0 : s.find('@') + 1);
  return !host.empty() && host[0] != ';' && host[0] != ':';
}

// Applies the user fields given to `u`, validating each; `fields` are the parameter names.
PsResult<bool> apply_user_fields(Context& ctx, const Invocation& inv, User& u,
                                 const std::map<std::string, std::optional<std::string>>& given) {
  auto field = [&](const char* name) -> const std::optional<std::string>* {
    for (const auto& [k, v] : given) {
      if (iequals(k, name)) return &v;
    }
    return nullptr;
  };
  if (auto* v = field("UserPrincipalName")) {
    if (!*v || !valid_address(**v)) {
      return invalid(inv,
                     "Cannot validate argument on parameter 'UserPrincipalName'. \"" +
                         v->value_or("") +
                         "\" is not a valid user principal name "
                         "(expected name@domain).",
                     v->value_or(""));
    }
    u.user_principal_name = **v;
  }
  if (auto* v = field("SipAddress")) {
    if (!*v || v->value().empty()) {
      u.sip_address = "sip:" + u.user_principal_name;
    } else {
      std::string sip = **v;
      if (!istarts_with(sip, "sip:")) sip = "sip:" + sip;
      if (!valid_address(sip.substr(4))) {
        return invalid(inv,
                       "Cannot validate argument on parameter 'SipAddress'. \"" + **v +
                           "\" is not a valid SIP address (expected sip:user@domain).",
                       **v);
      }
      u.sip_address = "sip:" + sip.substr(4);
    }
  } else if (u.sip_address.empty()) {
    u.sip_address = "sip:" + u.user_principal_name;
  }
  if (auto* v = field("DisplayName")) u.display_name = v->value_or("");
  if (auto* v = field("PhoneNumber")) {
    if (!*v || v->value().empty()) {
      u.phone_number.clear();
    } else {
      // E.164 means an explicit '+': "555-1234" must not silently become "+5551234".
      std::string_view raw = trim(**v);
      if (istarts_with(raw, "tel:")) raw.remove_prefix(4);
      std::string phone;
      if (raw.empty() || raw[0] != '+' || !policy::normalize_phone(raw, phone) ||
          !policy::is_e164(phone)) {
        return invalid(inv,
                       "Cannot validate argument on parameter 'PhoneNumber'. \"" + **v +
                           "\" is not an E.164 number (expected + country code and "
                           "number, e.g. +14255550100).",
                       **v);
      }
      u.phone_number = phone;
    }
  }
  if (auto* v = field("PreferredLanguage")) {
    if (*v && !v->value().empty() && !valid_language(**v)) {
      return invalid(inv,
                     "Cannot validate argument on parameter 'PreferredLanguage'. \"" + **v +
                         "\" is not a language tag such as en-US or de-DE.",
                     **v);
    }
    u.preferred_language = v->value_or("");
  }
  if (auto* v = field("DataLocation")) {
    if (*v && !v->value().empty() && !valid_region(**v)) {
      return invalid(inv,
                     "Cannot validate argument on parameter 'DataLocation'. \"" + **v +
                         "\" is not a region code (letters, digits, '-', '_').",
                     **v);
    }
    u.data_location = v->value_or("");
  }
  // Addresses are unique across users and application instances.
  auto clash = [&](const std::string& address, const char* what) -> std::optional<PsError> {
    if (address.empty()) return std::nullopt;
    const User* other = ctx.state.user_by_address(address);
    if (other && !iequals(other->object_id, u.object_id)) {
      return inv.error(std::string("The ") + what + " \"" + address +
                           "\" is already used by user " + other->user_principal_name + ".",
                       "ResourceExists", "DuplicateAddress", address);
    }
    if (ctx.state.instance_by_upn(address)) {
      return inv.error(std::string("The ") + what + " \"" + address +
                           "\" is already used by an application instance.",
                       "ResourceExists", "DuplicateAddress", address);
    }
    return std::nullopt;
  };
  if (auto e = clash(u.user_principal_name, "UserPrincipalName")) return *e;
  if (auto e = clash(u.sip_address, "SipAddress")) return *e;
  if (auto e = clash(u.phone_number, "PhoneNumber")) return *e;
  return true;
}

namespace {

std::map<std::string, std::optional<std::string>> user_fields(const Invocation& inv) {
  std::map<std::string, std::optional<std::string>> given;
  for (const char* name : {"UserPrincipalName", "SipAddress", "DisplayName", "PhoneNumber",
                           "PreferredLanguage", "DataLocation"}) {
    if (inv.has(name)) given[name] = inv.str(name);
  }
  return given;
}

PsResult<std::string> new_object_id(Context& ctx, const Invocation& inv) {
  if (auto id = inv.str("ObjectId")) {
    if (!is_guid(*id)) {
      return invalid(
          inv, "Cannot validate argument on parameter 'ObjectId'. \"" + *id + "\" is not a GUID.",
          *id);
    }
    return to_lower(*id);
  }
  return ctx.svc.ids().new_guid();
}

// --- users -----------------------------------------------------------------------------------

// The digest username and realm of a SIP address: its user part and its domain (lower case).
std::pair<std::string, std::string> digest_identity(std::string_view sip_address) {
  if (istarts_with(sip_address, "sips:")) sip_address.remove_prefix(5);
  if (istarts_with(sip_address, "sip:")) sip_address.remove_prefix(4);
  const size_t at = sip_address.find('@');
  std::string_view user = at == std::string_view::npos ? "" : sip_address.substr(0, at);
  std::string_view host = sip_address.substr(at == std::string_view::npos ? 0 : at + 1);
  host = host.substr(0, host.find_first_of(";:>"));
  return {std::string(user), to_lower(host)};
}

// -SipPassword: the digest hashes (HA1 per algorithm, RFC 8760) for the user's SIP address, never
// the password itself (the audited command text has it masked, see interpreter.cc). $null or ""
// removes the credentials. Credentials are bound to the address's user part and domain, so a
// changed SIP address without a new password clears them, with a warning.
PsResult<bool> apply_sip_password(Context& ctx, const Invocation& inv, const User& u) {
  const policy::SipCredential* existing = ctx.state.sip_credential(u.object_id);
  const auto [username, realm] = digest_identity(u.sip_address);
  if (inv.has("SipPassword")) {
    const std::string password = inv.str("SipPassword").value_or("");
    if (password.empty()) {
      if (existing) ctx.state.erase_sip_credential(u.object_id);
      return true;
    }
    const bool printable = std::all_of(password.begin(), password.end(), [](char c) {
      return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
    });
    if (password.size() < 8 || password.size() > 128 || !printable) {
      return invalid(inv,
                     "Cannot validate argument on parameter 'SipPassword'. A SIP password has "
                     "8 to 128 printable characters.",
                     "");
    }
    if (username.empty()) {
      return invalid(inv,
                     "Cannot set a SIP password for " + u.user_principal_name +
                         ": its SIP address " + u.sip_address +
                         " has no user part to authenticate as.",
                     "");
    }
    policy::SipCredential c;
    c.user_id = u.object_id;
    c.username = username;
    c.realm = realm;
    c.ha1_md5 = sip::digest_ha1(sip::DigestAlgorithm::kMd5, username, realm, password);
    c.ha1_sha256 = sip::digest_ha1(sip::DigestAlgorithm::kSha256, username, realm, password);
    c.set_at = format_iso8601(ctx.svc.clock().now());
    ctx.state.put_sip_credential(c);
    return true;
  }
  if (existing && (existing->username != username || existing->realm != realm)) {
    // The message first: erasing the credential frees what `existing` points to.
    ctx.warnings.push_back("The SIP password of " + u.user_principal_name +
                           " was removed: digest credentials are bound to the SIP address (" +
                           existing->username + "@" + existing->realm +
                           "), which changed. Set a new one with Set-VbUser -Identity " +
                           u.user_principal_name + " -SipPassword <password>.");
    ctx.state.erase_sip_credential(u.object_id);
  }
  return true;
}

Out new_user(Context& ctx, Invocation& inv) {
  User u;
  auto id = new_object_id(ctx, inv);
  if (!id) return id.error();
  u.object_id = id.value();
  if (ctx.state.user_by_id(u.object_id)) return already_exists(inv, "user", u.object_id);
  auto ok = apply_user_fields(ctx, inv, u, user_fields(inv));
  if (!ok) return ok.error();
  ctx.state.put_user(u);
  if (auto pw = apply_sip_password(ctx, inv, u); !pw) return pw.error();
  return std::vector<Value>{user_record(ctx, u)};
}

Out set_user(Context& ctx, Invocation& inv) {
  auto found = resolve_user(ctx, inv, inv.req("Identity"));
  if (!found) return found.error();
  User u = *found.value();
  auto ok = apply_user_fields(ctx, inv, u, user_fields(inv));
  if (!ok) return ok.error();
  ctx.state.put_user(u);
  if (auto pw = apply_sip_password(ctx, inv, u); !pw) return pw.error();
  return std::vector<Value>{};
}

Out remove_user(Context& ctx, Invocation& inv) {
  auto found = resolve_user(ctx, inv, inv.req("Identity"));
  if (!found) return found.error();
  ctx.state.erase_user(found.value()->object_id);
  return std::vector<Value>{};
}

Out get_online_user(Context& ctx, Invocation& inv) {
  std::vector<Value> out;
  if (auto id = inv.str("Identity")) {
    auto found = resolve_user(ctx, inv, *id);
    if (!found) return found.error();
    out.emplace_back(user_record(ctx, *found.value()));
    return out;
  }
  // Sorted by UserPrincipalName, so listings are stable and readable.
  std::vector<const User*> users;
  users.reserve(ctx.state.users().size());
  for (const auto& [key, u] : ctx.state.users()) users.push_back(&u);
  std::sort(users.begin(), users.end(), [](const User* a, const User* b) {
    return to_lower(a->user_principal_name) < to_lower(b->user_principal_name);
  });
  const auto limit =
      static_cast<size_t>(std::max<int64_t>(0, inv.integer("ResultSize", INT64_MAX)));
  for (const User* u : users) {
    if (out.size() >= limit) break;
    out.emplace_back(user_record(ctx, *u));
  }
  return out;
}

// --- groups ----------------------------------------------------------------------------------

RecordPtr group_record(const Context& ctx, const Group& g) {
  auto r = make_record("VbGroup");
  r->add("ObjectId", g.object_id)
      .add("DisplayName", g.display_name)
      .add("Description", g.description)
      .add("MemberCount", static_cast<int64_t>(ctx.state.members_of(to_lower(g.object_id)).size()));
  return r;
}

Out new_group(Context& ctx, Invocation& inv) {
  Group g;
  auto id = new_object_id(ctx, inv);
  if (!id) return id.error();
  g.object_id = id.value();
  g.display_name = inv.str("DisplayName").value_or("");
  g.description = inv.str("Description").value_or("");
  if (trim(g.display_name).empty()) {
    return invalid(inv,
                   "Cannot validate argument on parameter 'DisplayName'. The argument is "
                   "null or empty.",
                   "");
  }
  if (ctx.state.group_by_id(g.object_id)) return already_exists(inv, "group", g.object_id);
  if (!ctx.state.groups_by_display_name(g.display_name).empty()) {
    return already_exists(inv, "group", g.display_name);
  }
  ctx.state.put_group(g);
  return std::vector<Value>{group_record(ctx, g)};
}

Out set_group(Context& ctx, Invocation& inv) {
  auto found = resolve_group(ctx, inv, inv.req("Identity"));
  if (!found) return found.error();
  Group g = *found.value();
  if (inv.has("DisplayName")) {
    const std::string name = inv.str("DisplayName").value_or("");
    if (trim(name).empty()) return invalid(inv, "DisplayName cannot be empty.", "");
    for (const Group* other : ctx.state.groups_by_display_name(name)) {
      if (other->object_id != g.object_id) return already_exists(inv, "group", name);
    }
    g.display_name = name;
  }
  if (inv.has("Description")) g.description = inv.str("Description").value_or("");
  ctx.state.put_group(g);
  return std::vector<Value>{};
}

Out remove_group(Context& ctx, Invocation& inv) {
  auto found = resolve_group(ctx, inv, inv.req("Identity"));
  if (!found) return found.error();
  const Group& g = *found.value();
  if (auto it = ctx.state.group_assignments().find(to_lower(g.object_id));
      it != ctx.state.group_assignments().end()) {
    return refused(inv,
                   "The group \"" + g.display_name + "\" has the " +
                       std::string(policy::kPolicyType) + " \"" + it->second.policy_name +
                       "\" assigned (rank " + std::to_string(it->second.rank) +
                       "); remove the assignment first with "
                       "Grant-CsTeamsComplianceRecordingPolicy -Group \"" +
                       g.display_name + "\" -PolicyName $null.",
                   g.display_name);
  }
  ctx.state.erase_group(g.object_id);
  return std::vector<Value>{};
}

Out get_group(Context& ctx, Invocation& inv) {
  std::vector<Value> out;
  if (auto id = inv.str("Identity")) {
    auto found = resolve_group(ctx, inv, *id);
    if (!found) return found.error();
    out.emplace_back(group_record(ctx, *found.value()));
    return out;
  }
  for (const auto& [id, g] : ctx.state.groups()) out.emplace_back(group_record(ctx, g));
  return out;
}

Out add_member(Context& ctx, Invocation& inv) {
  auto group = resolve_group(ctx, inv, inv.req("Group"));
  if (!group) return group.error();
  std::vector<std::string> ids;
  for (const auto& m : inv.strings("Member")) {
    auto user = resolve_user(ctx, inv, m);
    if (!user) return user.error();
    ids.push_back(user.value()->object_id);
  }
  for (const auto& id : ids) ctx.state.add_membership(group.value()->object_id, id);
  return std::vector<Value>{};
}

Out remove_member(Context& ctx, Invocation& inv) {
  auto group = resolve_group(ctx, inv, inv.req("Group"));
  if (!group) return group.error();
  std::vector<std::string> ids;
  const auto& members = ctx.state.members_of(to_lower(group.value()->object_id));
  for (const auto& m : inv.strings("Member")) {
    auto user = resolve_user(ctx, inv, m);
    if (!user) return user.error();
    if (!members.count(to_lower(user.value()->object_id))) {
      return invalid(inv,
                     "The user \"" + user.value()->user_principal_name +
                         "\" is not a member of the group \"" + group.value()->display_name + "\".",
                     m);
    }
    ids.push_back(user.value()->object_id);
  }
  for (const auto& id : ids) ctx.state.remove_membership(group.value()->object_id, id);
  return std::vector<Value>{};
}

Out get_members(Context& ctx, Invocation& inv) {
  auto group = resolve_group(ctx, inv, inv.req("Group"));
  if (!group) return group.error();
  std::vector<Value> out;
  for (const auto& uid : ctx.state.members_of(to_lower(group.value()->object_id))) {
    const User* u = ctx.state.user_by_id(uid);
    if (!u) continue;
    auto r = make_record("VbGroupMember", View::kTable);
    r->add("ObjectId", u->object_id)
        .add("UserPrincipalName", u->user_principal_name)
        .add("DisplayName", u->display_name);
    out.emplace_back(r);
  }
  return out;
}

// --- application instances -----------------------------------------------------------------

Out new_instance(Context& ctx, Invocation& inv) {
  ApplicationInstance a;
  a.object_id = ctx.svc.ids().new_guid();
  a.user_principal_name = inv.req("UserPrincipalName");
  a.display_name = inv.str("DisplayName").value_or("");
  a.application_id = to_lower(inv.str("ApplicationId").value_or(""));
  if (!valid_address(a.user_principal_name)) {
    return invalid(inv,
                   "Cannot validate argument on parameter 'UserPrincipalName'. \"" +
                       a.user_principal_name + "\" is not a valid user principal name.",
                   a.user_principal_name);
  }
  if (!a.application_id.empty() && !is_guid(a.application_id)) {
    return invalid(inv,
                   "Cannot validate argument on parameter 'ApplicationId'. \"" + a.application_id +
                       "\" is not a GUID.",
                   a.application_id);
  }
  if (ctx.state.instance_by_upn(a.user_principal_name) ||
      ctx.state.user_by_address(a.user_principal_name)) {
    return already_exists(inv, "UserPrincipalName", a.user_principal_name);
  }
  ctx.state.put_instance(a);
  return std::vector<Value>{instance_record(ctx, a)};
}

Out set_instance(Context& ctx, Invocation& inv) {
  auto found = resolve_instance(ctx, inv, inv.req("Identity"));
  if (!found) return found.error();
  ApplicationInstance a = *found.value();
  if (inv.has("DisplayName")) a.display_name = inv.str("DisplayName").value_or("");
  if (inv.has("ApplicationId")) {
    const std::string app = to_lower(inv.str("ApplicationId").value_or(""));
    if (!is_guid(app)) {
      return invalid(
          inv,
          "Cannot validate argument on parameter 'ApplicationId'. \"" + app + "\" is not a GUID.",
          app);
    }
    a.application_id = app;
  }
  if (inv.has("OnpremPhoneNumber")) {
    const auto given = inv.str("OnpremPhoneNumber");
    std::string phone;
    if (given && !given->empty() &&
        (trim(*given).find('+') == std::string_view::npos ||
         !policy::normalize_phone(*given, phone) || !policy::is_e164(phone))) {
      return invalid(inv, "\"" + *given + "\" is not an E.164 number.", *given);
    }
    a.phone_number = phone.size() > 1 ? phone : "";
  }
  ctx.state.put_instance(a);
  return std::vector<Value>{instance_record(ctx, a)};
}

Out get_instance(Context& ctx, Invocation& inv) {
  std::vector<Value> out;
  if (auto id = inv.str("Identity")) {
    auto found = resolve_instance(ctx, inv, *id);
    if (!found) return found.error();
    out.emplace_back(instance_record(ctx, *found.value()));
    return out;
  }
  for (const auto& [id, a] : ctx.state.instances()) out.emplace_back(instance_record(ctx, a));
  return out;
}

Out remove_instance(Context& ctx, Invocation& inv) {
  auto found = resolve_instance(ctx, inv, inv.req("Identity"));
  if (!found) return found.error();
  const ApplicationInstance& a = *found.value();
  for (const auto& [key, p] : ctx.state.policies()) {
    for (const auto& app : p.applications) {
      bool paired = false;
      for (const auto& pid : app.paired_applications) paired |= iequals(pid, a.object_id);
      if (iequals(app.id, a.object_id) || paired) {
        return refused(inv,
                       "The application instance " + a.user_principal_name +
                           " is used by the compliance recording policy \"" + p.identity() +
                           "\"; remove it from the policy first.",
                       a.object_id);
      }
    }
  }
  if (const policy::CallQueue* q = ctx.state.queue_of_instance(to_lower(a.object_id))) {
    return refused(inv,
                   "The application instance " + a.user_principal_name +
                       " is associated with the call queue \"" + q->name +
                       "\"; remove the association first "
                       "(Remove-CsOnlineApplicationInstanceAssociation).",
                   a.object_id);
  }
  ctx.state.erase_instance(a.object_id);
  return std::vector<Value>{};
}

Out sync_instance(Context& ctx, Invocation& inv) {
  auto found = resolve_instance(ctx, inv, inv.req("ObjectId"));
  if (!found) return found.error();
  ApplicationInstance a = *found.value();
  if (auto app = inv.str("ApplicationId")) {
    if (!is_guid(*app)) {
      return invalid(
          inv,
          "Cannot validate argument on parameter 'ApplicationId'. \"" + *app + "\" is not a GUID.",
          *app);
    }
    a.application_id = to_lower(*app);
  } else if (a.application_id.empty()) {
    return invalid(inv,
                   "The application instance " + a.user_principal_name +
                       " has no ApplicationId; give one with -ApplicationId.",
                   a.object_id);
  }
  ctx.state.put_instance(a);
  return std::vector<Value>{};
}

}  // namespace

std::vector<CmdletSpec> directory_cmdlets() {
  using T = ParamType;
  const std::vector<ParamSpec> user_params = {
      {"SipAddress", T::kString},        {"DisplayName", T::kString},  {"PhoneNumber", T::kString},
      {"PreferredLanguage", T::kString}, {"DataLocation", T::kString}, {"SipPassword", T::kString},
  };
  auto with = [](std::vector<ParamSpec> a, const std::vector<ParamSpec>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  std::vector<CmdletSpec> c;
  c.push_back(
      {"New-VbUser",
       with({{"UserPrincipalName", T::kString, 0, true}, {"ObjectId", T::kString}}, user_params),
       new_user,
       true,
       "",
       {},
       "Creates a user in Verbatim's directory."});
  c.push_back(
      {"Set-VbUser",
       with({{"Identity", T::kString, 0, true}, {"UserPrincipalName", T::kString}}, user_params),
       set_user,
       true,
       "Identity",
       {},
       "Changes a user's directory attributes."});
  c.push_back({"Remove-VbUser",
               {{"Identity", T::kString, 0, true}},
               remove_user,
               true,
               "Identity",
               {},
               "Removes a user and their group memberships."});
  c.push_back({"Get-CsOnlineUser",
               {{"Identity", T::kString, 0}, {"ResultSize", T::kInt}},
               get_online_user,
               false,
               "",
               {"Get-VbUser"},
               "Lists users."});
  c.push_back({"New-VbGroup",
               {{"DisplayName", T::kString, 0, true},
                {"Description", T::kString},
                {"ObjectId", T::kString}},
               new_group,
               true,
               "",
               {},
               "Creates a group."});
  c.push_back({"Set-VbGroup",
               {{"Identity", T::kString, 0, true},
                {"DisplayName", T::kString},
                {"Description", T::kString}},
               set_group,
               true,
               "Identity",
               {},
               "Renames or describes a group."});
  c.push_back({"Remove-VbGroup",
               {{"Identity", T::kString, 0, true}},
               remove_group,
               true,
               "Identity",
               {},
               "Removes a group that has no policy assignment."});
  c.push_back(
      {"Get-VbGroup", {{"Identity", T::kString, 0}}, get_group, false, "", {}, "Lists groups."});
  c.push_back({"Add-VbGroupMember",
               {{"Group", T::kString, 0, true}, {"Member", T::kStringArray, 1, true}},
               add_member,
               true,
               "",
               {},
               "Adds users to a group."});
  c.push_back({"Remove-VbGroupMember",
               {{"Group", T::kString, 0, true}, {"Member", T::kStringArray, 1, true}},
               remove_member,
               true,
               "",
               {},
               "Removes users from a group."});
  c.push_back({"Get-VbGroupMember",
               {{"Group", T::kString, 0, true}},
               get_members,
               false,
               "",
               {},
               "Lists a group's direct members."});
  c.push_back({"New-CsOnlineApplicationInstance",
               {{"UserPrincipalName", T::kString, -1, true},
                {"DisplayName", T::kString},
                {"ApplicationId", T::kString},
                {"ResourceAccountType", T::kString}},
               new_instance,
               true,
               "",
               {},
               "Creates an application instance (a recorder's resource account)."});
  c.push_back({"Set-CsOnlineApplicationInstance",
               {{"Identity", T::kString, 0, true},
                {"DisplayName", T::kString},
                {"ApplicationId", T::kString},
                {"OnpremPhoneNumber", T::kString},
                {"AcsResourceId", T::kString}},
               set_instance,
               true,
               "Identity",
               {},
               "Changes an application instance."});
  c.push_back({"Get-CsOnlineApplicationInstance",
               {{"Identity", T::kString, 0}, {"Identities", T::kStringArray}},
               get_instance,
               false,
               "",
               {},
               "Lists application instances."});
  c.push_back({"Remove-CsOnlineApplicationInstance",
               {{"Identity", T::kString, 0, true}},
               remove_instance,
               true,
               "Identity",
               {},
               "Removes an application instance that no policy uses."});
  c.push_back({"Sync-CsOnlineApplicationInstance",
               {{"ObjectId", T::kString, -1, true},
                {"ApplicationId", T::kString},
                {"AcsResourceId", T::kString}},
               sync_instance,
               true,
               "ObjectId",
               {},
               "Binds an application instance to its ApplicationId."});
  return c;
}

}  // namespace verbatim::admin
