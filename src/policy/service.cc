#include "policy/service.h"

#include <algorithm>

namespace verbatim::policy {

PolicyService::PolicyService(std::unique_ptr<Store> store, IdGenerator& ids, const Clock& clock)
    : store_(std::move(store)), ids_(ids), clock_(clock) {}

Status PolicyService::open() {
  std::lock_guard lock(mu_);
  if (store_) {
    auto seq = store_->load(state_);
    if (!seq) return seq.error();
    seq_ = seq.value();
  }
  if (state_.tenant().tenant_id.empty()) {
    Tenant t = state_.tenant();
    t.tenant_id = ids_.new_guid();
    state_.set_command("(initialise tenant)");
    state_.put_tenant(t);
  }
  // The built-in Global policy exists in every tenant; persist it on first use so the audit
  // log shows where it came from.
  if (store_ && seq_ == 0) {
    const Policy global = *state_.find_policy(kGlobalPolicy);
    state_.apply(Kind::kPolicy, to_lower(global.name), std::nullopt);
    state_.put_policy(global);
  }
  engine_.rebuild(state_);
  return commit("system");
}

// The caller holds mu_ (open() does).
Status PolicyService::commit(const std::string& actor) {
  std::vector<Change> changes = state_.take_journal();
  if (changes.empty()) return ok_status();
  if (store_) {
    auto seq = store_->commit(changes, CommitInfo{actor, format_iso8601(clock_.now())}, seq_);
    if (!seq) {
      std::for_each(changes.rbegin(), changes.rend(),
                    [&](const Change& c) { state_.apply(c.kind, c.key, c.before); });
      return seq.error();
    }
    seq_ = seq.value();
  }
  engine_.apply(state_, changes);
  ++generation_;
  for (auto& [id, l] : listeners_) l(changes);
  return ok_status();
}

uint64_t PolicyService::add_listener(Listener listener) {
  const uint64_t id = next_listener_++;
  listeners_.emplace(id, std::move(listener));
  return id;
}

void PolicyService::remove_listener(uint64_t id) { listeners_.erase(id); }

void PolicyService::rollback() { state_.rollback_to(0); }

Status PolicyService::refresh() {
  if (!store_) return ok_status();
  for (;;) {
    auto entries = store_->audit_since(seq_, 10000);
    if (!entries) return entries.error();
    if (entries.value().empty()) return ok_status();
    std::vector<Change> changes;
    for (auto& e : entries.value()) {
      state_.apply(e.kind, e.key, e.after);
      changes.push_back(Change{e.kind, e.key, std::move(e.before), std::move(e.after), ""});
      seq_ = e.seq;
    }
    engine_.apply(state_, changes);
    ++generation_;
    for (auto& [id, l] : listeners_) l(changes);
  }
}

}  // namespace verbatim::policy
