// The operations cmdlets: recorder endpoints (New-/Set-/Get-/Remove-VbRecorderEndpoint),
// Import-VbDirectory (users or groups from CSV) and Get-VbAuditLog.
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

using policy::Group;
using policy::RecorderEndpoint;
using policy::User;

namespace {

using Out = PsResult<std::vector<Value>>;

// --- recorder endpoints ----------------------------------------------------------------------

RecordPtr endpoint_record(const RecorderEndpoint& e) {
  auto r = make_record("VbRecorderEndpoint", View::kTable);
  r->add("Identity", e.id)
      .add("ApplicationId", e.application_id)
      .add("Uri", e.uri)
      .add("Region", e.region)
      .add("Enabled", e.enabled)
      .add("Description", e.description);
  return r;
}

PsResult<bool> check_endpoint(Context& ctx, const Invocation& inv, const RecorderEndpoint& e) {
  if (!is_guid(e.application_id)) {
    return invalid(inv,
                   "Cannot validate argument on parameter 'ApplicationId'. \"" + e.application_id +
                       "\" is not a GUID.",
                   e.application_id);
  }
  if (!valid_sip_uri(e.uri)) {
    return invalid(inv,
                   "Cannot validate argument on parameter 'Uri'. \"" + e.uri +
                       "\" is not a SIP URI (expected sip:host[:port][;params] or "
                       "sips:...).",
                   e.uri);
  }
  if (!e.region.empty() && !valid_region(e.region)) {
    return invalid(inv,
                   "Cannot validate argument on parameter 'Region'. \"" + e.region +
                       "\" is not a region code.",
                   e.region);
  }
  for (const auto& [id, other] : ctx.state.endpoints()) {
    if (id != e.id && iequals(other.application_id, e.application_id) &&
        iequals(other.uri, e.uri)) {
      return already_exists(inv, "recorder endpoint", e.uri);
    }
  }
  return true;
}

Out new_endpoint(Context& ctx, Invocation& inv) {
  RecorderEndpoint e;
  e.id = ctx.svc.ids().new_guid();
  e.application_id = to_lower(inv.req("ApplicationId"));
  e.uri = inv.req("Uri");
  e.region = inv.str("Region").value_or("");
  e.description = inv.str("Description").value_or("");
  e.enabled = inv.flag("Enabled", true);
  auto ok = check_endpoint(ctx, inv, e);
  if (!ok) return ok.error();
  ctx.state.put_endpoint(e);
  return std::vector<Value>{endpoint_record(e)};
}

PsResult<RecorderEndpoint> find_endpoint(Context& ctx, const Invocation& inv) {
  const std::string id = to_lower(inv.req("Identity"));
  auto it = ctx.state.endpoints().find(id);
  if (it == ctx.state.endpoints().end()) return not_found(inv, id);
  return it->second;
}

Out set_endpoint(Context& ctx, Invocation& inv) {
  auto found = find_endpoint(ctx, inv);
  if (!found) return found.error();
  RecorderEndpoint e = found.value();
  if (inv.has("Uri")) e.uri = inv.str("Uri").value_or("");
  if (inv.has("Region")) e.region = inv.str("Region").value_or("");
  if (inv.has("Description")) e.description = inv.str("Description").value_or("");
  if (inv.has("Enabled")) e.enabled = inv.flag("Enabled", true);
  auto ok = check_endpoint(ctx, inv, e);
  if (!ok) return ok.error();
  ctx.state.put_endpoint(e);
  return std::vector<Value>{};
}

Out remove_endpoint(Context& ctx, Invocation& inv) {
  auto found = find_endpoint(ctx, inv);
  if (!found) return found.error();
  ctx.state.erase_endpoint(found.value().id);
  return std::vector<Value>{};
}

Out get_endpoint(Context& ctx, Invocation& inv) {
  std::vector<Value> out;
  if (inv.has("Identity")) {
    auto found = find_endpoint(ctx, inv);
    if (!found) return found.error();
    out.emplace_back(endpoint_record(found.value()));
    return out;
  }
  const auto app = inv.str("ApplicationId");
  for (const auto& [id, e] : ctx.state.endpoints()) {
    if (!app || iequals(*app, e.application_id)) out.emplace_back(endpoint_record(e));
  }
  return out;
}

// --- Import-VbDirectory ---------------------------------------------------------------------

Out import_directory(Context& ctx, Invocation& inv) {
  const std::string given = inv.req("Path");
  std::filesystem::path path = given;
  std::error_code ec;
  if (ctx.confine_paths) {
    // Over the REST API only files in the import folder (or uploaded into it) are read: a path
    // that leaves it, however written (absolute, "..", a symbolic link), is refused.
    const auto root = std::filesystem::weakly_canonical(ctx.base_dir, ec);
    const auto full = std::filesystem::weakly_canonical(root / path, ec);
    const auto rel = full.lexically_relative(root);
    if (path.is_absolute() || ec || rel.empty() || *rel.begin() == "..") {
      return inv.error("'" + given + "' is not a file in the import folder " + root.string() +
                           " (over the REST API only files there, or uploaded with -Content, are "
                           "read).",
                       "PermissionDenied", "PathOutsideImportFolder", given);
    }
    path = full;
  } else if (path.is_relative()) {
    path = std::filesystem::path(ctx.base_dir) / path;
  }
  constexpr uintmax_t kMaxImportBytes = uintmax_t{1} << 30;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec)) {
    return invalid(inv, "'" + given + "' is not a regular file.", given);
  }
  if (auto size = std::filesystem::file_size(path, ec); !ec && size > kMaxImportBytes) {
    return invalid(inv, "'" + given + "' is larger than the 1 GiB import limit; split it.", given);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return inv.error("Cannot find path '" + given + "' because it does not exist.",
                     "ObjectNotFound", "PathNotFound", given);
  }
  std::stringstream buf;
  buf << in.rdbuf();
  std::string text = buf.str();
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // UTF-8 BOM from Excel
  auto rows = parse_csv(text);
  if (!rows) return invalid(inv, path.filename().string() + ": " + rows.error().message, path);
  if (rows.value().empty()) return invalid(inv, path.string() + " is empty.", path.string());
  const auto& header = rows.value().front().fields;
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < header.size(); ++i) col[to_lower(std::string(trim(header[i])))] = i;
  const bool users_file = col.count("userprincipalname") > 0;
  const bool groups_file = !users_file && col.count("displayname") > 0;
  if (!users_file && !groups_file) {
    return invalid(inv,
                   path.filename().string() +
                       ": the header must have a UserPrincipalName column (users) or a "
                       "DisplayName column (groups).",
                   path.string());
  }
  int64_t users_created = 0, users_updated = 0, groups_created = 0, memberships = 0;
  auto cell = [&](const CsvRow& row, const char* name) -> std::optional<std::string> {
    auto it = col.find(name);
    if (it == col.end() || it->second >= row.fields.size()) return std::nullopt;
    return std::string(trim(row.fields[it->second]));
  };
  auto at_line = [&](const CsvRow& row, const PsError& e) {
    PsError out = e;
    out.message = path.filename().string() + " line " + std::to_string(row.line) + ": " + e.message;
    return out;
  };
  auto ensure_group = [&](const std::string& name) -> std::string {
    if (const Group* g = ctx.state.group_by_id(name)) return g->object_id;
    auto named = ctx.state.groups_by_display_name(name);
    if (!named.empty()) return named.front()->object_id;
    Group g{ctx.svc.ids().new_guid(), name, ""};
    ctx.state.put_group(g);
    ++groups_created;
    return g.object_id;
  };
  for (size_t r = 1; r < rows.value().size(); ++r) {
    const CsvRow& row = rows.value()[r];
    if (users_file) {
      const std::string upn = cell(row, "userprincipalname").value_or("");
      const User* existing = ctx.state.user_by_address(upn);
      User u = existing ? *existing : User{};
      if (!existing) u.object_id = ctx.svc.ids().new_guid();
      std::map<std::string, std::optional<std::string>> given{{"UserPrincipalName", upn}};
      for (const char* name :
           {"SipAddress", "DisplayName", "PhoneNumber", "PreferredLanguage", "DataLocation"}) {
        if (auto v = cell(row, to_lower(name).c_str())) given[name] = *v;
      }
      auto ok = apply_user_fields(ctx, inv, u, given);
      if (!ok) return at_line(row, ok.error());
      ctx.state.put_user(u);
      ++(existing ? users_updated : users_created);
      if (auto groups = cell(row, "groups"); groups && !groups->empty()) {
        for (const auto& name : split(*groups, ';')) {
          const std::string n(trim(name));
          if (n.empty()) continue;
          const std::string gid = ensure_group(n);
          if (!ctx.state.members_of(to_lower(gid)).count(to_lower(u.object_id))) {
            ctx.state.add_membership(gid, u.object_id);
            ++memberships;
          }
        }
      }
    } else {
      const std::string name = cell(row, "displayname").value_or("");
      if (name.empty()) {
        return at_line(row, invalid(inv, "DisplayName is empty.", ""));
      }
      const std::string gid = ensure_group(name);
      if (auto d = cell(row, "description")) {
        Group g = *ctx.state.group_by_id(gid);
        g.description = *d;
        ctx.state.put_group(g);
      }
      if (auto members = cell(row, "members"); members && !members->empty()) {
        for (const auto& m : split(*members, ';')) {
          const std::string id(trim(m));
          if (id.empty()) continue;
          auto user = resolve_user(ctx, inv, id);
          if (!user) return at_line(row, user.error());
          if (!ctx.state.members_of(to_lower(gid)).count(to_lower(user.value()->object_id))) {
            ctx.state.add_membership(gid, user.value()->object_id);
            ++memberships;
          }
        }
      }
    }
  }
  auto r = make_record("VbDirectoryImport");
  r->add("Path", given)
      .add("UsersCreated", users_created)
      .add("UsersUpdated", users_updated)
      .add("GroupsCreated", groups_created)
      .add("MembershipsAdded", memberships);
  return std::vector<Value>{r};
}

// --- audit log ------------------------------------------------------------------------------

Out get_audit(Context& ctx, Invocation& inv) {
  policy::Store* store = ctx.svc.store();
  if (!store) return refused(inv, "This session has no configuration store.", "");
  auto last = store->last_seq();
  if (!last) return refused(inv, last.error().message, "");
  const int64_t count = std::max<int64_t>(1, inv.integer("Last", 20));
  const int64_t after =
      inv.has("After") ? inv.integer("After") : std::max<int64_t>(0, last.value() - count);
  auto entries = store->audit_since(after, static_cast<size_t>(count));
  if (!entries) return refused(inv, entries.error().message, "");
  const bool detailed = inv.flag("Detailed");
  std::vector<Value> out;
  for (const auto& e : entries.value()) {
    auto r = make_record("VbAuditEntry", detailed ? View::kList : View::kTable);
    r->add("Sequence", e.seq)
        .add("Time", e.at)
        .add("Actor", e.actor)
        .add("Action", !e.before  ? "Created"
                       : !e.after ? "Removed"
                                  : "Changed")
        .add("Object", std::string(policy::kind_name(e.kind)) + "/" + e.key)
        .add("Command", e.command);
    if (detailed) {
      r->add("Before", e.before ? Value(e.before->dump()) : Value());
      r->add("After", e.after ? Value(e.after->dump()) : Value());
    }
    out.emplace_back(r);
  }
  return out;
}

}  // namespace

std::vector<CmdletSpec> operations_cmdlets() {
  using T = ParamType;
  std::vector<CmdletSpec> c;
  c.push_back({"New-VbRecorderEndpoint",
               {{"ApplicationId", T::kString, -1, true},
                {"Uri", T::kString, -1, true},
                {"Region", T::kString},
                {"Description", T::kString},
                {"Enabled", T::kBool}},
               new_endpoint,
               true,
               "",
               {},
               "Declares a SIPREC recorder endpoint serving an ApplicationId."});
  c.push_back({"Set-VbRecorderEndpoint",
               {{"Identity", T::kString, 0, true},
                {"Uri", T::kString},
                {"Region", T::kString},
                {"Description", T::kString},
                {"Enabled", T::kBool}},
               set_endpoint,
               true,
               "Identity",
               {},
               "Changes a recorder endpoint."});
  c.push_back({"Get-VbRecorderEndpoint",
               {{"Identity", T::kString, 0}, {"ApplicationId", T::kString}},
               get_endpoint,
               false,
               "",
               {},
               "Lists recorder endpoints."});
  c.push_back({"Remove-VbRecorderEndpoint",
               {{"Identity", T::kString, 0, true}},
               remove_endpoint,
               true,
               "Identity",
               {},
               "Removes a recorder endpoint."});
  c.push_back({"Import-VbDirectory",
               {{"Path", T::kString, 0, true}},
               import_directory,
               true,
               "",
               {},
               "Imports users or groups from a CSV file (create or update)."});
  c.push_back({"Get-VbAuditLog",
               {{"Last", T::kInt}, {"After", T::kInt}, {"Detailed", T::kSwitch}},
               get_audit,
               false,
               "",
               {},
               "Shows the audit log of configuration changes."});
  return c;
}

}  // namespace verbatim::admin
