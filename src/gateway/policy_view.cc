// The production PolicyView: the policy service's state and engine, and the SIP credentials'
// hashes kept in memory (policy_view.h).
#include "gateway/policy_view.h"

#include <spdlog/spdlog.h>

#include "common/strings.h"
#include "gateway/registrar.h"
#include "gateway/sip_helpers.h"

namespace verbatim::gateway {

namespace {

DirectoryEntry entry_of(const policy::User& u) {
  return DirectoryEntry{u.sip_address,
                        u.sip_address.size() > 4 ? to_lower(u.sip_address.substr(4)) : "",
                        u.display_name, u.phone_number, u.object_id};
}

// The application instance (a call queue's resource account) a Request-URI names: by its SIP
// address (the UPN) or its phone number.
const policy::ApplicationInstance* resource_account(const policy::PolicyState& state,
                                                    const sip::Uri& uri,
                                                    const std::string& dialled) {
  if (uri.scheme != sip::Uri::Scheme::kTel && !detail::is_number(dialled)) {
    return state.instance_by_upn(identity_of(uri));
  }
  std::string number;
  if (!policy::normalize_phone(dialled, number)) return nullptr;
  for (const auto& [id, a] : state.instances()) {
    if (!a.phone_number.empty() && a.phone_number == number) return &a;
  }
  return nullptr;
}

}  // namespace

ServicePolicyView::ServicePolicyView(policy::PolicyService& service) : service_(service) {
  std::lock_guard lock(service_.mutex());
  for (const auto& [id, u] : service_.state().users()) {
    if (service_.state().sip_credential(u.object_id)) load_credential(u.object_id);
  }
  listener_ = service_.add_listener(
      [this](const std::vector<policy::Change>& changes) { on_changes(changes); });
}

ServicePolicyView::~ServicePolicyView() {
  std::lock_guard lock(service_.mutex());
  service_.remove_listener(listener_);
}

// The credential's hashes from the store (a refresh's audit rows do not carry them).
void ServicePolicyView::load_credential(const std::string& user_id) {
  const std::string key = to_lower(user_id);
  if (!service_.store()) return;
  auto doc = service_.store()->object(policy::Kind::kSipCredential, key);
  if (!doc) {
    spdlog::error("SIP credential of {}: {} (its logins fail until it is read)", user_id,
                  doc.error().message);
    credentials_.erase(key);
    return;
  }
  if (!doc.value()) {
    credentials_.erase(key);
    return;
  }
  credentials_[key] = doc.value()->get<policy::SipCredential>();
}

void ServicePolicyView::on_changes(const std::vector<policy::Change>& changes) {
  for (const auto& c : changes) {
    if (c.kind != policy::Kind::kSipCredential) continue;
    if (!c.after) {
      credentials_.erase(c.key);
      continue;
    }
    auto cred = c.after->get<policy::SipCredential>();
    if (!cred.ha1_md5.empty() || !cred.ha1_sha256.empty()) {
      credentials_[c.key] = std::move(cred);  // this process's commit: the whole document
    } else {
      load_credential(c.key);  // another process's, from the audit log: read the store
    }
  }
}

policy::Decision ServicePolicyView::decide(const std::string& aor) const {
  return service_.engine().decide(aor);
}

std::optional<DirectoryEntry> ServicePolicyView::user(const std::string& address) const {
  std::lock_guard lock(service_.mutex());
  const policy::User* u = service_.state().user_by_address(address);
  if (!u) return std::nullopt;
  return entry_of(*u);
}

std::optional<QueueEntry> ServicePolicyView::queue(const sip::Uri& uri,
                                                   const std::string& dialled) const {
  std::lock_guard lock(service_.mutex());
  const auto& state = service_.state();
  const policy::ApplicationInstance* ra = resource_account(state, uri, dialled);
  if (!ra) return std::nullopt;
  const policy::CallQueue* q = state.queue_of_instance(to_lower(ra->object_id));
  if (!q) return std::nullopt;
  auto route = std::make_shared<QueueRoute>();
  route->identity = q->identity;
  route->name = q->name;
  route->routing = routing_from_name(q->routing_method);
  route->presence_based = q->presence_based_routing;
  route->conference_mode = q->conference_mode;
  route->alert_time = std::chrono::seconds(q->agent_alert_time);
  route->timeout = std::chrono::seconds(q->timeout_threshold);
  std::set<std::string> seen;
  auto add = [&](const std::string& id) {
    const policy::User* u = state.user_by_id(id);
    if (!u || u->sip_address.size() <= 4 || !seen.insert(to_lower(u->object_id)).second) return;
    route->agents.push_back(QueueAgent{to_lower(u->sip_address.substr(4)), u->sip_address,
                                       u->display_name, u->phone_number});
  };
  for (const auto& id : q->users) add(id);
  for (const auto& g : q->distribution_lists) {
    for (const auto& id : state.members_of(g)) add(id);
  }
  QueueEntry e;
  e.account.aor = "sip:" + to_lower(ra->user_principal_name);
  e.account.identity = to_lower(ra->user_principal_name);
  e.account.display = ra->display_name.empty() ? q->name : ra->display_name;
  e.account.number = ra->phone_number;
  e.account.object_id = ra->object_id;
  e.route = std::move(route);
  return e;
}

std::optional<policy::CallingSettings> ServicePolicyView::forwarding(const std::string& aor) const {
  std::lock_guard lock(service_.mutex());
  const auto& state = service_.state();
  const policy::User* u = state.user_by_address(aor);
  const policy::CallingSettings* cs = u ? state.calling_settings(u->object_id) : nullptr;
  if (cs && (cs->forwarding_enabled || cs->unanswered_enabled)) return *cs;
  return std::nullopt;
}

std::shared_ptr<const policy::CompiledPolicy> ServicePolicyView::policy_named(
    const std::string& name) const {
  std::lock_guard lock(service_.mutex());
  const policy::Policy* p = service_.state().find_policy(name);
  if (!p) return nullptr;
  return std::make_shared<const policy::CompiledPolicy>(
      policy::compile_policy(service_.state(), *p));
}

std::vector<std::string> ServicePolicyView::groups_of(const std::string& object_id) const {
  std::lock_guard lock(service_.mutex());
  const auto& state = service_.state();
  std::vector<std::string> out;
  for (const auto& gid : state.groups_of(object_id)) {
    if (const policy::Group* g = state.group_by_id(gid)) {
      if (!g->display_name.empty()) out.push_back(g->display_name);
      out.push_back(g->object_id);
    }
  }
  return out;
}

std::vector<std::string> ServicePolicyView::recorder_endpoints() const {
  std::lock_guard lock(service_.mutex());
  std::vector<std::string> out;
  for (const auto& [id, e] : service_.state().endpoints()) {
    if (e.enabled) out.push_back(e.uri);
  }
  return out;
}

std::optional<std::string> ServicePolicyView::ha1(std::string_view username, std::string_view realm,
                                                  sip::DigestAlgorithm a) const {
  std::lock_guard lock(service_.mutex());
  const policy::User* u =
      service_.state().user_by_address("sip:" + std::string(username) + "@" + std::string(realm));
  if (!u) return std::nullopt;
  auto it = credentials_.find(to_lower(u->object_id));
  if (it == credentials_.end()) return std::nullopt;
  const policy::SipCredential& c = it->second;
  if (!iequals(c.username, username) || !iequals(c.realm, realm)) return std::nullopt;
  const std::string& h = a == sip::DigestAlgorithm::kMd5 ? c.ha1_md5 : c.ha1_sha256;
  if (h.empty()) return std::nullopt;
  return h;
}

bool ServicePolicyView::user_domain(const std::string& domain) const {
  std::lock_guard lock(service_.mutex());
  if (domains_generation_ != service_.generation()) {  // the directory changed: derive them again
    domains_.clear();
    for (const auto& [id, u] : service_.state().users()) {
      const size_t at = u.sip_address.find('@');
      if (at != std::string::npos) domains_.insert(to_lower(u.sip_address.substr(at + 1)));
    }
    domains_generation_ = service_.generation();
  }
  return domains_.count(to_lower(domain)) > 0;
}

}  // namespace verbatim::gateway
