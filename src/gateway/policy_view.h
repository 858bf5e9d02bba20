// PolicyView: what the gateway asks of the policy model, the seam between its call logic and the
// policy service. Everything it answers comes from memory (the service's state and decision
// engine, and the SIP credentials' hashes held here): the SIP thread never reads the store.
//
// ServicePolicyView is the production implementation over a policy::PolicyService; the gateway's
// unit tests use it too, over a service without a store, filled through its state (a fake would
// only repeat the decision engine, which is what the tests must exercise). It keeps the digest
// hashes of every SIP credential in memory: loaded from the store once when it is made, then
// updated by the service's change listener as commits and refreshes (another process's admin CLI)
// come in, on the thread that runs them, never on a lookup.
// Thread: one, the gateway's io_context thread, which also runs the service's refresh(); each
// call takes the service's mutex itself.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/queue_router.h"
#include "policy/service.h"
#include "sip/digest.h"
#include "sip/uri.h"

namespace verbatim::gateway {

// Who a directory entry is, as a call names it.
struct DirectoryEntry {
  std::string aor;       // "sip:alice@contoso.com"
  std::string identity;  // "alice@contoso.com", lower case
  std::string display, number, object_id;
};

// A call queue's resource account, with the queue as this call finds it.
struct QueueEntry {
  DirectoryEntry account;
  std::shared_ptr<const QueueRoute> route;
};

class PolicyView {
 public:
  virtual ~PolicyView() = default;
  // The effective policy of a party named by its SIP address.
  virtual policy::Decision decide(const std::string& aor) const = 0;
  // A user by SIP address ("sip:...") or phone number.
  virtual std::optional<DirectoryEntry> user(const std::string& address) const = 0;
  // The resource account a Request-URI names (its SIP address or number), with its queue.
  virtual std::optional<QueueEntry> queue(const sip::Uri& uri,
                                          const std::string& dialled) const = 0;
  // The user's Set-CsUserCallingSettings when any forwarding is on.
  virtual std::optional<policy::CallingSettings> forwarding(const std::string& aor) const = 0;
  // The groups a user is in: each one's display name (when it has one) and object id.
  virtual std::vector<std::string> groups_of(const std::string& object_id) const = 0;
  // The URIs of the enabled recorder endpoints.
  virtual std::vector<std::string> recorder_endpoints() const = 0;
  // A compliance recording policy by name or identity ("Tag:Name"), compiled; null: none.
  virtual std::shared_ptr<const policy::CompiledPolicy> policy_named(
      const std::string& name) const = 0;
  // The digest HA1 of a user's SIP credential (username@realm is the user's SIP address).
  virtual std::optional<std::string> ha1(std::string_view username, std::string_view realm,
                                         sip::DigestAlgorithm a) const = 0;
  // Whether a domain is one of the directory users' SIP domains.
  virtual bool user_domain(const std::string& domain) const = 0;
};

class ServicePolicyView final : public PolicyView {
 public:
  // Loads the credentials' hashes (the store's, or none without one) and listens for changes.
  // The service must outlive this view.
  explicit ServicePolicyView(policy::PolicyService& service);
  ~ServicePolicyView() override;
  ServicePolicyView(const ServicePolicyView&) = delete;
  ServicePolicyView& operator=(const ServicePolicyView&) = delete;

  policy::Decision decide(const std::string& aor) const override;
  std::optional<DirectoryEntry> user(const std::string& address) const override;
  std::optional<QueueEntry> queue(const sip::Uri& uri, const std::string& dialled) const override;
  std::optional<policy::CallingSettings> forwarding(const std::string& aor) const override;
  std::vector<std::string> groups_of(const std::string& object_id) const override;
  std::vector<std::string> recorder_endpoints() const override;
  std::shared_ptr<const policy::CompiledPolicy> policy_named(
      const std::string& name) const override;
  std::optional<std::string> ha1(std::string_view username, std::string_view realm,
                                 sip::DigestAlgorithm a) const override;
  bool user_domain(const std::string& domain) const override;

 private:
  // The service's mutex is held.
  void on_changes(const std::vector<policy::Change>& changes);
  void load_credential(const std::string& user_id);

  policy::PolicyService& service_;
  uint64_t listener_ = 0;
  std::map<std::string, policy::SipCredential> credentials_;  // by user id, with their hashes
  mutable std::set<std::string> domains_;
  mutable uint64_t domains_generation_ = UINT64_MAX;
};

}  // namespace verbatim::gateway
