// PolicyService: the control plane of one process: PolicyState + Store + DecisionEngine.
//
// Admin front ends (cmdlet interpreter, REST API) change state() under mutex(), then call
// commit(), which persists the journal with audit rows and applies it to the engine, or
// rollback(), which undoes it. refresh() picks up changes other processes committed (read
// from the audit log), so a running server sees an admin CLI's change at once.
// Without a Store (tests, fuzzing) commits only update the engine.
// Thread-safety: writers hold mutex(); engine() is safe to use from any thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "common/ids.h"
#include "policy/decision.h"
#include "policy/store.h"

namespace verbatim::policy {

class PolicyService {
 public:
  PolicyService(std::unique_ptr<Store> store, IdGenerator& ids, const Clock& clock);

  // Loads the store and, on first use, creates the tenant (its TenantId).
  Status open();

  std::mutex& mutex() { return mu_; }
  PolicyState& state() { return state_; }
  const PolicyState& state() const { return state_; }
  const DecisionEngine& engine() const { return engine_; }
  Store* store() { return store_.get(); }
  IdGenerator& ids() { return ids_; }
  const Clock& clock() const { return clock_; }

  // Persists everything journaled since the last commit. On failure (conflict, I/O) the
  // changes are rolled back and the error returned: nothing is half-applied.
  Status commit(const std::string& actor);
  void rollback();
  // Applies changes committed by other processes since our last commit or refresh.
  Status refresh();
  // Counts the commits and refreshes that changed state(): what a cache derived from the state
  // compares to know it is stale (read under mutex()).
  uint64_t generation() const { return generation_; }

  // Caches of what the state (and the store) hold, kept current as changes come in: `listener`
  // gets the changes of every commit and refresh that changed state(), after the engine took
  // them, with mutex() held, on the thread that committed or refreshed. A commit's changes carry
  // whole documents (credentials with their hashes); a refresh's come from the audit log
  // (credentials without them). Returns an id for remove_listener() (called under mutex()).
  using Listener = std::function<void(const std::vector<Change>& changes)>;
  uint64_t add_listener(Listener listener);
  void remove_listener(uint64_t id);

 private:
  std::unique_ptr<Store> store_;
  IdGenerator& ids_;
  const Clock& clock_;
  std::mutex mu_;
  PolicyState state_;
  DecisionEngine engine_;
  int64_t seq_ = 0;
  uint64_t generation_ = 0;
  std::map<uint64_t, Listener> listeners_;
  uint64_t next_listener_ = 1;
};

}  // namespace verbatim::policy
