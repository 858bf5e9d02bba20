#include "policy/state.h"

#include <algorithm>

namespace verbatim::policy {

using nlohmann::json;

namespace {
constexpr std::pair<Kind, const char*> kKindNames[] = {
    {Kind::kTenant, "tenant"},
    {Kind::kUser, "user"},
    {Kind::kGroup, "group"},
    {Kind::kMembership, "membership"},
    {Kind::kAppInstance, "application_instance"},
    {Kind::kEndpoint, "recorder_endpoint"},
    {Kind::kPolicy, "policy"},
    {Kind::kGroupAssignment, "group_assignment"},
    {Kind::kBannerText, "banner_text"},
    {Kind::kSipCredential, "sip_credential"},
    {Kind::kCallQueue, "call_queue"},
    {Kind::kCallingSettings, "calling_settings"},
};
const std::set<std::string> kEmptySet;

template <typename T>
std::optional<json> doc_of(const std::map<std::string, T>& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) return std::nullopt;
  return json(it->second);
}

template <typename T>
const T* find_in(const std::map<std::string, T>& m, std::string_view key) {
  auto it = m.find(std::string(key));
  return it == m.end() ? nullptr : &it->second;
}
}  // namespace

const char* kind_name(Kind kind) {
  for (const auto& [k, name] : kKindNames) {
    if (k == kind) return name;
  }
  return "unknown";
}

std::optional<Kind> kind_from_name(std::string_view name) {
  for (const auto& [k, n] : kKindNames) {
    if (name == n) return k;
  }
  return std::nullopt;
}

PolicyState::PolicyState() {
  Policy global;
  global.name = std::string(kGlobalPolicy);
  policies_[to_lower(global.name)] = global;
}

// --- reads -------------------------------------------------------------------------------

const User* PolicyState::user_by_id(std::string_view object_id) const {
  return find_in(users_, to_lower(object_id));
}

const User* PolicyState::user_by_address(std::string_view address) const {
  if (const User* u = user_by_id(address)) return u;
  std::string key;
  if (!istarts_with(address, "sip:") && normalize_phone(address, key)) {
    if (auto it = user_address_.find(key); it != user_address_.end()) return it->second;
  }
  key = address_key(address);
  if (auto it = user_address_.find(key); it != user_address_.end()) return it->second;
  return nullptr;
}

std::vector<const User*> PolicyState::users_by_display_name(std::string_view name) const {
  std::vector<const User*> out;
  auto [b, e] = user_name_.equal_range(to_lower(name));
  for (auto it = b; it != e; ++it) out.push_back(it->second);
  std::sort(out.begin(), out.end(),
            [](const User* a, const User* b) { return a->object_id < b->object_id; });
  return out;
}

const Group* PolicyState::group_by_id(std::string_view object_id) const {
  return find_in(groups_, to_lower(object_id));
}

std::vector<const Group*> PolicyState::groups_by_display_name(std::string_view name) const {
  std::vector<const Group*> out;
  auto [b, e] = group_name_.equal_range(to_lower(name));
  for (auto it = b; it != e; ++it) out.push_back(it->second);
  std::sort(out.begin(), out.end(),
            [](const Group* a, const Group* b) { return a->object_id < b->object_id; });
  return out;
}

const std::set<std::string>& PolicyState::members_of(std::string_view group_id) const {
  auto it = members_.find(std::string(group_id));
  return it == members_.end() ? kEmptySet : it->second;
}

const std::set<std::string>& PolicyState::groups_of(std::string_view user_id) const {
  auto it = user_groups_.find(std::string(user_id));
  return it == user_groups_.end() ? kEmptySet : it->second;
}

const ApplicationInstance* PolicyState::instance_by_id(std::string_view object_id) const {
  return find_in(instances_, to_lower(object_id));
}

const ApplicationInstance* PolicyState::instance_by_upn(std::string_view upn) const {
  const std::string key = address_key(upn);
  for (const auto& [id, a] : instances_) {
    if (address_key(a.user_principal_name) == key) return &a;
  }
  return nullptr;
}

std::vector<const RecorderEndpoint*> PolicyState::endpoints_of(
    std::string_view application_id) const {
  std::vector<const RecorderEndpoint*> out;
  for (const auto& [id, e] : endpoints_) {
    if (iequals(e.application_id, application_id)) out.push_back(&e);
  }
  return out;
}

const Policy* PolicyState::find_policy(std::string_view name_or_identity) const {
  return find_in(policies_, to_lower(policy_name_from_identity(name_or_identity)));
}

std::vector<const GroupAssignment*> PolicyState::ordered_group_assignments() const {
  std::vector<const GroupAssignment*> out;
  out.reserve(assignments_.size());
  for (const auto& [id, a] : assignments_) out.push_back(&a);
  std::sort(out.begin(), out.end(),
            [](const GroupAssignment* a, const GroupAssignment* b) { return a->rank < b->rank; });
  return out;
}

const BannerText* PolicyState::banner_by_name(std::string_view name) const {
  return find_in(banners_, to_lower(policy_name_from_identity(name)));
}

const BannerText* PolicyState::banner_by_id(std::string_view id) const {
  for (const auto& [name, b] : banners_) {
    if (iequals(b.id, id)) return &b;
  }
  return nullptr;
}

std::vector<const User*> PolicyState::users_assigned(std::string_view policy_name) const {
  std::vector<const User*> out;
  for (const auto& [id, u] : users_) {
    if (!u.compliance_recording_policy.empty() &&
        iequals(u.compliance_recording_policy, policy_name)) {
      out.push_back(&u);
    }
  }
  return out;
}

// --- writes ------------------------------------------------------------------------------

void PolicyState::record(Kind kind, const std::string& key, std::optional<json> before,
                         std::optional<json> after) {
  if (before == after) return;
  apply(kind, key, after);
  journal_.push_back(Change{kind, key, std::move(before), std::move(after), command_});
}

std::optional<json> PolicyState::current(Kind kind, const std::string& key) const {
  switch (kind) {
    case Kind::kTenant:
      return json(tenant_);
    case Kind::kUser:
      return doc_of(users_, key);
    case Kind::kGroup:
      return doc_of(groups_, key);
    case Kind::kMembership: {
      auto slash = key.find('/');
      if (slash == std::string::npos) return std::nullopt;
      Membership m{key.substr(0, slash), key.substr(slash + 1)};
      if (!members_of(m.group_id).count(m.user_id)) return std::nullopt;
      return json(m);
    }
    case Kind::kAppInstance:
      return doc_of(instances_, key);
    case Kind::kEndpoint:
      return doc_of(endpoints_, key);
    case Kind::kPolicy:
      return doc_of(policies_, key);
    case Kind::kGroupAssignment:
      return doc_of(assignments_, key);
    case Kind::kBannerText:
      return doc_of(banners_, key);
    case Kind::kCallQueue:
      return doc_of(queues_, key);
    case Kind::kCallingSettings:
      return doc_of(calling_, key);
    case Kind::kSipCredential: {
      auto it = credentials_.find(key);
      if (it == credentials_.end()) return std::nullopt;
      return redacted(it->second);
    }
  }
  return std::nullopt;
}

void PolicyState::put_tenant(const Tenant& t) {
  record(Kind::kTenant, "tenant", json(tenant_), json(t));
}

void PolicyState::put_user(const User& u) {
  const std::string key = to_lower(u.object_id);
  record(Kind::kUser, key, current(Kind::kUser, key), json(u));
}

void PolicyState::erase_user(const std::string& object_id) {
  const std::string key = to_lower(object_id);
  const std::set<std::string> groups = groups_of(key);
  for (const auto& g : groups) remove_membership(g, key);
  if (credentials_.count(key)) erase_sip_credential(key);
  if (calling_.count(key)) erase_calling_settings(key);
  record(Kind::kUser, key, current(Kind::kUser, key), std::nullopt);
}

void PolicyState::put_group(const Group& g) {
  const std::string key = to_lower(g.object_id);
  record(Kind::kGroup, key, current(Kind::kGroup, key), json(g));
}

void PolicyState::erase_group(const std::string& object_id) {
  const std::string key = to_lower(object_id);
  const std::set<std::string> members = members_of(key);
  for (const auto& u : members) remove_membership(key, u);
  record(Kind::kGroup, key, current(Kind::kGroup, key), std::nullopt);
}

void PolicyState::add_membership(const std::string& group_id, const std::string& user_id) {
  Membership m{to_lower(group_id), to_lower(user_id)};
  record(Kind::kMembership, m.key(), current(Kind::kMembership, m.key()), json(m));
}

void PolicyState::remove_membership(const std::string& group_id, const std::string& user_id) {
  Membership m{to_lower(group_id), to_lower(user_id)};
  record(Kind::kMembership, m.key(), current(Kind::kMembership, m.key()), std::nullopt);
}

void PolicyState::put_instance(const ApplicationInstance& a) {
  const std::string key = to_lower(a.object_id);
  record(Kind::kAppInstance, key, current(Kind::kAppInstance, key), json(a));
}

void PolicyState::erase_instance(const std::string& object_id) {
  const std::string key = to_lower(object_id);
  record(Kind::kAppInstance, key, current(Kind::kAppInstance, key), std::nullopt);
}

void PolicyState::put_endpoint(const RecorderEndpoint& e) {
  record(Kind::kEndpoint, e.id, current(Kind::kEndpoint, e.id), json(e));
}

void PolicyState::erase_endpoint(const std::string& id) {
  record(Kind::kEndpoint, id, current(Kind::kEndpoint, id), std::nullopt);
}

void PolicyState::put_policy(const Policy& p) {
  const std::string key = to_lower(p.name);
  record(Kind::kPolicy, key, current(Kind::kPolicy, key), json(p));
}

void PolicyState::erase_policy(const std::string& name) {
  const std::string key = to_lower(name);
  record(Kind::kPolicy, key, current(Kind::kPolicy, key), std::nullopt);
}

void PolicyState::set_group_assignments(std::vector<GroupAssignment> ordered) {
  std::set<std::string> keep;
  for (size_t i = 0; i < ordered.size(); ++i) {
    ordered[i].rank = static_cast<int>(i + 1);
    ordered[i].group_id = to_lower(ordered[i].group_id);
    keep.insert(ordered[i].group_id);
  }
  std::vector<std::string> gone;
  for (const auto& [id, a] : assignments_) {
    if (!keep.count(id)) gone.push_back(id);
  }
  for (const auto& id : gone) {
    record(Kind::kGroupAssignment, id, current(Kind::kGroupAssignment, id), std::nullopt);
  }
  for (const auto& a : ordered) {
    record(Kind::kGroupAssignment, a.group_id, current(Kind::kGroupAssignment, a.group_id),
           json(a));
  }
}

void PolicyState::put_banner(const BannerText& b) {
  const std::string key = to_lower(b.name);
  record(Kind::kBannerText, key, current(Kind::kBannerText, key), json(b));
}

void PolicyState::erase_banner(const std::string& name) {
  const std::string key = to_lower(name);
  record(Kind::kBannerText, key, current(Kind::kBannerText, key), std::nullopt);
}

const CallQueue* PolicyState::call_queue(std::string_view identity_or_name) const {
  if (const CallQueue* q = find_in(queues_, to_lower(identity_or_name))) return q;
  for (const auto& [key, q] : queues_) {
    if (iequals(q.name, identity_or_name)) return &q;
  }
  return nullptr;
}

const CallQueue* PolicyState::queue_of_instance(std::string_view instance_id) const {
  for (const auto& [key, q] : queues_) {
    for (const auto& id : q.resource_accounts) {
      if (iequals(id, instance_id)) return &q;
    }
  }
  return nullptr;
}

const CallingSettings* PolicyState::calling_settings(std::string_view user_id) const {
  return find_in(calling_, to_lower(user_id));
}

void PolicyState::put_calling_settings(const CallingSettings& s) {
  const std::string key = to_lower(s.user_id);
  record(Kind::kCallingSettings, key, current(Kind::kCallingSettings, key), json(s));
}

void PolicyState::erase_calling_settings(const std::string& user_id) {
  const std::string key = to_lower(user_id);
  record(Kind::kCallingSettings, key, current(Kind::kCallingSettings, key), std::nullopt);
}

void PolicyState::put_call_queue(const CallQueue& q) {
  const std::string key = to_lower(q.identity);
  record(Kind::kCallQueue, key, current(Kind::kCallQueue, key), json(q));
}

void PolicyState::erase_call_queue(const std::string& identity) {
  const std::string key = to_lower(identity);
  record(Kind::kCallQueue, key, current(Kind::kCallQueue, key), std::nullopt);
}

void PolicyState::put_sip_credential(const SipCredential& c) {
  const std::string key = to_lower(c.user_id);
  record(Kind::kSipCredential, key, current(Kind::kSipCredential, key), json(c));
}

void PolicyState::erase_sip_credential(const std::string& user_id) {
  const std::string key = to_lower(user_id);
  record(Kind::kSipCredential, key, current(Kind::kSipCredential, key), std::nullopt);
}

const SipCredential* PolicyState::sip_credential(std::string_view user_id) const {
  auto it = credentials_.find(to_lower(user_id));
  return it == credentials_.end() ? nullptr : &it->second;
}

std::optional<json> audit_document(Kind kind, const std::optional<json>& doc) {
  if (kind != Kind::kSipCredential || !doc) return doc;
  return redacted(doc->get<SipCredential>());
}

std::vector<Change> PolicyState::take_journal() {
  std::vector<Change> out;
  out.swap(journal_);
  return out;
}

void PolicyState::rollback_to(size_t mark) {
  while (journal_.size() > mark) {
    const Change& c = journal_.back();
    apply(c.kind, c.key, c.before);
    journal_.pop_back();
  }
}

// --- the one place that changes the maps and indexes -------------------------------------

void PolicyState::index_user(const User& u) {
  if (!u.user_principal_name.empty()) user_address_[address_key(u.user_principal_name)] = &u;
  if (!u.sip_address.empty()) user_address_[address_key(u.sip_address)] = &u;
  if (!u.phone_number.empty()) user_address_[u.phone_number] = &u;
  if (!u.display_name.empty()) user_name_.emplace(to_lower(u.display_name), &u);
}

void PolicyState::unindex_user(const User& u) {
  for (const std::string& key :
       {address_key(u.user_principal_name), address_key(u.sip_address), u.phone_number}) {
    auto it = user_address_.find(key);
    if (it != user_address_.end() && it->second == &u) user_address_.erase(it);
  }
  auto [b, e] = user_name_.equal_range(to_lower(u.display_name));
  for (auto it = b; it != e; ++it) {
    if (it->second == &u) {
      user_name_.erase(it);
      break;
    }
  }
}

template <typename T>
static void apply_to_map(std::map<std::string, T>& m, const std::string& key,
                         const std::optional<json>& doc) {
  if (doc) {
    m[key] = doc->get<T>();
  } else {
    m.erase(key);
  }
}

void PolicyState::apply(Kind kind, const std::string& key, const std::optional<json>& doc) {
  switch (kind) {
    case Kind::kTenant:
      tenant_ = doc ? doc->get<Tenant>() : Tenant{};
      break;
    case Kind::kUser: {
      auto it = users_.find(key);
      if (it != users_.end()) unindex_user(it->second);
      if (doc) {
        User& u = users_[key];
        u = doc->get<User>();
        index_user(u);
      } else if (it != users_.end()) {
        users_.erase(it);
      }
      break;
    }
    case Kind::kGroup: {
      if (auto it = groups_.find(key); it != groups_.end()) {
        auto [b, e] = group_name_.equal_range(to_lower(it->second.display_name));
        for (auto n = b; n != e; ++n) {
          if (n->second == &it->second) {
            group_name_.erase(n);
            break;
          }
        }
      }
      apply_to_map(groups_, key, doc);
      if (doc) {
        const Group& g = groups_.at(key);
        group_name_.emplace(to_lower(g.display_name), &g);
      }
      break;
    }
    case Kind::kMembership: {
      auto slash = key.find('/');
      if (slash == std::string::npos) break;
      const std::string g = key.substr(0, slash);
      const std::string u = key.substr(slash + 1);
      if (doc) {
        members_[g].insert(u);
        user_groups_[u].insert(g);
      } else {
        if (auto it = members_.find(g); it != members_.end()) {
          it->second.erase(u);
          if (it->second.empty()) members_.erase(it);
        }
        if (auto it = user_groups_.find(u); it != user_groups_.end()) {
          it->second.erase(g);
          if (it->second.empty()) user_groups_.erase(it);
        }
      }
      break;
    }
    case Kind::kAppInstance:
      apply_to_map(instances_, key, doc);
      break;
    case Kind::kEndpoint:
      apply_to_map(endpoints_, key, doc);
      break;
    case Kind::kPolicy:
      apply_to_map(policies_, key, doc);
      break;
    case Kind::kGroupAssignment:
      apply_to_map(assignments_, key, doc);
      break;
    case Kind::kBannerText:
      apply_to_map(banners_, key, doc);
      break;
    case Kind::kCallQueue:
      apply_to_map(queues_, key, doc);
      break;
    case Kind::kCallingSettings:
      apply_to_map(calling_, key, doc);
      break;
    case Kind::kSipCredential:
      if (doc) {
        auto c = doc->get<SipCredential>();
        c.ha1_md5.clear();
        c.ha1_sha256.clear();
        credentials_[key] = std::move(c);
      } else {
        credentials_.erase(key);
      }
      break;
  }
}

}  // namespace verbatim::policy
