#include "policy/accounts.h"

#include <sodium.h>

#include <array>
#include <cstdlib>

#include "common/strings.h"

namespace verbatim::policy {

namespace {

constexpr std::array<std::pair<Role, std::string_view>, 5> kRoles = {{
    {Role::kAdmin, "admin"},
    {Role::kRecorderAdmin, "recorder-admin"},
    {Role::kComplianceOfficer, "compliance-officer"},
    {Role::kAuditor, "auditor"},
    {Role::kSupervisor, "supervisor"},
}};

void ready() {
  if (sodium_init() < 0) std::abort();  // no random source: never run without one
}

bool names(const nlohmann::json& metadata, const char* field,
           const std::vector<std::string>& wanted) {
  auto it = metadata.find(field);
  if (it == metadata.end()) return false;
  auto match = [&](const nlohmann::json& v) {
    if (!v.is_string()) return false;
    for (const auto& w : wanted) {
      if (iequals(v.get<std::string>(), w)) return true;
    }
    return false;
  };
  if (it->is_array()) {
    for (const auto& v : *it) {
      if (match(v)) return true;
    }
    return false;
  }
  return match(*it);
}

}  // namespace

std::string_view role_name(Role r) {
  for (const auto& [role, name] : kRoles) {
    if (role == r) return name;
  }
  return "?";
}

std::optional<Role> role_from_name(std::string_view name) {
  for (const auto& [role, n] : kRoles) {
    if (iequals(n, name)) return role;
  }
  return std::nullopt;
}

std::string role_names() {
  std::string out;
  for (const auto& [role, name] : kRoles) out += (out.empty() ? "" : ", ") + std::string(name);
  return out;
}

bool has_right(Role role, Right right) {
  switch (role) {
    case Role::kAdmin:
      return right == Right::kPolicyRead || right == Right::kPolicyWrite ||
             right == Right::kRecordersWrite || right == Right::kCallsRead ||
             right == Right::kAccountsManage || right == Right::kAuditRead;
    case Role::kRecorderAdmin:
      return right == Right::kPolicyRead || right == Right::kRecordersWrite ||
             right == Right::kCallsRead;
    case Role::kComplianceOfficer:
      return right == Right::kRecordingsRead || right == Right::kRecordingsHold ||
             right == Right::kLedgerRead;
    case Role::kAuditor:
      return right == Right::kAuditRead || right == Right::kLedgerRead;
    case Role::kSupervisor:
      return right == Right::kCallsRead;
  }
  return false;
}

nlohmann::json Account::to_json() const {
  return {{"name", name},           {"role", std::string(role_name(role))}, {"groups", groups},
          {"regions", regions},     {"password", !password_hash.empty()},   {"created", created},
          {"createdBy", created_by}};
}

Status check_account_name(std::string_view name) {
  auto ok = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '@' || c == '-';
  };
  if (name.empty() || name.size() > 64 || !ok(name[0]) || name[0] == '.' || name[0] == '_' ||
      name[0] == '@' || name[0] == '-' || !std::all_of(name.begin(), name.end(), ok)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "an account name is 1 to 64 letters, digits and . _ @ -, starting with a "
                      "letter or digit");
  }
  return ok_status();
}

Result<std::string> hash_password(std::string_view password) {
  ready();
  if (password.size() < 12 || password.size() > 1024) {
    return make_error(ErrorCode::kInvalidArgument,
                      "a password has 12 to 1024 characters (a passphrase is best)");
  }
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(),
                            crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return make_error(ErrorCode::kIo, "out of memory hashing the password");
  }
  return std::string(out);
}

bool password_matches(const std::string& hash, std::string_view password) {
  ready();
  if (hash.empty()) return false;
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

bool in_scope(const Account& a, const nlohmann::json& metadata) {
  if (a.groups.empty() && a.regions.empty()) return true;
  if (!metadata.is_object()) return false;
  return (!a.groups.empty() && names(metadata, "groups", a.groups)) ||
         (!a.regions.empty() && names(metadata, "region", a.regions));
}

nlohmann::json Approval::to_json() const {
  nlohmann::json j{{"id", id},
                   {"action", action},
                   {"requestedBy", requested_by},
                   {"requestedAt", requested_at},
                   {"reason", reason},
                   {"status", status}};
  if (!decided_by.empty()) {
    j["decidedBy"] = decided_by;
    j["decidedAt"] = decided_at;
    j["outcome"] = outcome;
  }
  return j;
}

}  // namespace verbatim::policy
