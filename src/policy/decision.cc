#include "policy/decision.h"

#include <array>
#include <mutex>
#include <set>

namespace verbatim::policy {

namespace {
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Normalises a call party into `buf` without allocating; returns the key to look up.
// Mirrors address_key()/normalize_phone() in model.cc (tested to agree in decision_test.cc).
std::string_view party_key(std::string_view s, std::array<char, DecisionEngine::kMaxAddress>& buf) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  if (auto lt = s.find('<'); lt != std::string_view::npos) {
    auto gt = s.find('>', lt);
    s = s.substr(lt + 1, gt == std::string_view::npos ? std::string_view::npos : gt - lt - 1);
  }
  bool tel = false;
  if (istarts_with(s, "sips:")) {
    s.remove_prefix(5);
  } else if (istarts_with(s, "sip:")) {
    s.remove_prefix(4);
  } else if (istarts_with(s, "tel:")) {
    s.remove_prefix(4);
    tel = true;
  }
  if (auto cut = s.find_first_of(";?"); cut != std::string_view::npos) s = s.substr(0, cut);
  if (s.size() >= buf.size()) return {};
  // A phone number: sip:+1425...@host;user=phone, tel:+1-425-..., or +1425...
  std::string_view user = s.substr(0, s.find('@'));
  const bool phone_like = tel || (!user.empty() && user.front() == '+');
  if (phone_like) {
    size_t n = 0;
    buf[n++] = '+';
    for (char c : user) {
      if (c >= '0' && c <= '9') {
        buf[n++] = c;
      } else if (c != '+' && c != '-' && c != '.' && c != ' ' && c != '(' && c != ')') {
        return {};
      }
    }
    return {buf.data(), n};
  }
  for (size_t i = 0; i < s.size(); ++i) buf[i] = lower(s[i]);
  return {buf.data(), s.size()};
}
}  // namespace

size_t DecisionEngine::user_count() const {
  std::shared_lock lock(mu_);
  return users_.size() - free_slots_.size();
}

uint32_t DecisionEngine::find_address(std::string_view key) const {
  if (key.size() > AddressKey::kMax) {
    auto it = long_addresses_.find(key);
    return it == long_addresses_.end() ? kNone : it->second;
  }
  auto it = by_address_.find(key);
  return it == by_address_.end() ? kNone : it->second;
}

void DecisionEngine::set_address(std::string_view key, uint32_t slot) {
  if (key.empty()) return;
  if (key.size() > AddressKey::kMax) {
    long_addresses_[std::string(key)] = slot;
    return;
  }
  AddressKey k;
  k.size = static_cast<uint8_t>(key.size());
  std::copy(key.begin(), key.end(), k.bytes);
  by_address_[k] = slot;
}

void DecisionEngine::erase_address(std::string_view key, uint32_t slot) {
  if (find_address(key) != slot) return;
  if (key.size() > AddressKey::kMax) {
    long_addresses_.erase(long_addresses_.find(key));
  } else {
    by_address_.erase(by_address_.find(key));
  }
}

uint32_t DecisionEngine::policy_index(std::string_view name) const {
  auto it = policy_index_.find(to_lower(name));
  return it == policy_index_.end() ? kNone : it->second;
}

uint32_t DecisionEngine::group_index(const std::string& group_id) {
  auto [it, inserted] =
      group_index_.try_emplace(group_id, static_cast<uint32_t>(group_rank_.size()));
  if (inserted) {
    group_rank_.push_back(0);
    group_policy_.push_back(kNone);
  }
  return it->second;
}

void DecisionEngine::compile_policies(const PolicyState& state) {
  // Indexes are never reused, so a slot held by a user always names the same policy.
  for (auto& p : policies_) p.reset();
  for (const auto& [key, p] : state.policies()) {
    auto [it, inserted] = policy_index_.try_emplace(key, static_cast<uint32_t>(policies_.size()));
    if (inserted) policies_.emplace_back();
    policies_[it->second] = std::make_shared<const CompiledPolicy>(compile_policy(state, p));
  }
  builtin_global_ = policy_index(kGlobalPolicy);
  tenant_global_ = iequals(state.tenant().global_policy, kGlobalPolicy)
                       ? kNone
                       : policy_index(state.tenant().global_policy);
}

void DecisionEngine::refresh_ranks(const PolicyState& state) {
  std::fill(group_rank_.begin(), group_rank_.end(), 0);
  std::fill(group_policy_.begin(), group_policy_.end(), kNone);
  for (const auto& [gid, a] : state.group_assignments()) {
    const uint32_t g = group_index(gid);
    group_rank_[g] = static_cast<uint32_t>(a.rank);
    group_policy_[g] = policy_index(a.policy_name);
  }
}

void DecisionEngine::drop_user_keys(uint32_t slot) {
  const DirectoryUser& u = *users_[slot].info;
  for (const std::string& key : {to_lower(u.object_id), address_key(u.user_principal_name),
                                 address_key(u.sip_address), u.phone_number}) {
    erase_address(key, slot);
  }
}

void DecisionEngine::refresh_user(const PolicyState& state, const std::string& user_id) {
  uint32_t slot = find_address(user_id);
  if (slot != kNone) drop_user_keys(slot);
  const User* u = state.user_by_id(user_id);
  if (!u) {
    if (slot != kNone) {
      users_[slot] = UserSlot{};
      free_slots_.push_back(slot);
    }
    return;
  }
  if (slot == kNone) {
    if (free_slots_.empty()) {
      slot = static_cast<uint32_t>(users_.size());
      users_.emplace_back();
    } else {
      slot = free_slots_.back();
      free_slots_.pop_back();
    }
  }
  UserSlot& s = users_[slot];
  s.info = std::make_shared<const DirectoryUser>(
      DirectoryUser{u->object_id, u->user_principal_name, u->sip_address, u->display_name,
                    u->phone_number, u->preferred_language, u->data_location});
  s.direct =
      u->compliance_recording_policy.empty() ? kNone : policy_index(u->compliance_recording_policy);
  s.group_count = 0;
  s.more_groups.clear();
  for (const std::string& gid : state.groups_of(user_id)) {
    const uint32_t g = group_index(gid);
    if (s.group_count < kInlineGroups) {
      s.groups[s.group_count++] = g;
    } else {
      s.more_groups.push_back(g);
    }
  }
  set_address(to_lower(u->object_id), slot);
  set_address(address_key(u->user_principal_name), slot);
  set_address(address_key(u->sip_address), slot);
  set_address(u->phone_number, slot);
}

void DecisionEngine::rebuild(const PolicyState& state) {
  std::unique_lock lock(mu_);
  by_address_.clear();
  long_addresses_.clear();
  users_.clear();
  free_slots_.clear();
  group_index_.clear();
  group_rank_.clear();
  group_policy_.clear();
  // Three keys per user (ObjectId, UPN/SIP, phone); 0.8 load keeps probes short and halves
  // the table against the default 0.5.
  by_address_.max_load_factor(0.8f);
  by_address_.reserve(state.users().size() * 3);
  users_.reserve(state.users().size());
  compile_policies(state);
  for (const auto& [gid, g] : state.groups()) group_index(gid);
  refresh_ranks(state);
  for (const auto& [id, u] : state.users()) refresh_user(state, id);
}

void DecisionEngine::apply(const PolicyState& state, const std::vector<Change>& changes) {
  bool policies = false;
  bool ranks = false;
  std::set<std::string> users;
  for (const Change& c : changes) {
    switch (c.kind) {
      case Kind::kUser:
        users.insert(c.key);
        break;
      case Kind::kMembership:
        users.insert(c.key.substr(c.key.find('/') + 1));
        break;
      case Kind::kGroup:
      case Kind::kGroupAssignment:
        ranks = true;
        break;
      case Kind::kTenant:
      case Kind::kPolicy:
        // Compiled first below, so users and groups of this batch find new policy names.
        policies = ranks = true;
        break;
      case Kind::kAppInstance:
      case Kind::kEndpoint:
      case Kind::kBannerText:
        policies = true;
        break;
      case Kind::kSipCredential:
      case Kind::kCallQueue:
      case Kind::kCallingSettings:
        break;
    }
  }
  std::unique_lock lock(mu_);
  if (policies) compile_policies(state);
  if (ranks) refresh_ranks(state);
  for (const std::string& id : users) refresh_user(state, id);
}

Decision DecisionEngine::decide(std::string_view party) const {
  std::array<char, kMaxAddress> buf;
  const std::string_view key = party_key(party, buf);
  Decision d;
  if (key.empty()) return d;
  std::shared_lock lock(mu_);
  const uint32_t slot = find_address(key);
  if (slot == kNone) return d;
  const UserSlot& s = users_[slot];
  d.user = s.info;
  uint32_t chosen = kNone;
  if (s.direct != kNone) {
    d.source = Source::kDirect;
    chosen = s.direct;
  } else {
    uint32_t best_rank = UINT32_MAX;
    auto consider = [&](uint32_t g) {
      const uint32_t r = group_rank_[g];
      if (r != 0 && r < best_rank && group_policy_[g] != kNone) {
        best_rank = r;
        chosen = group_policy_[g];
      }
    };
    for (uint32_t k = 0; k < s.group_count; ++k) consider(s.groups[k]);
    for (uint32_t g : s.more_groups) consider(g);
    if (chosen != kNone) {
      d.source = Source::kGroup;
      d.rank = static_cast<int>(best_rank);
    } else if (tenant_global_ != kNone) {
      d.source = Source::kTenantGlobal;
      chosen = tenant_global_;
    } else {
      d.source = Source::kGlobal;
      chosen = builtin_global_;
    }
  }
  if (chosen != kNone) d.policy = policies_[chosen];
  return d;
}

}  // namespace verbatim::policy
