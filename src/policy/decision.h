// DecisionEngine: the in-process answer to "is this call party recorded, and by whom?".
//
// The gateway asks it once per party at every call set-up (and on transfer), so it is the
// control plane's hot path: one hash lookup of the normalised address, a scan of the user's
// few group memberships against a rank array, and a shared pointer to a policy that was
// compiled (recorders, endpoints, flags) when it last changed. It never allocates on the
// lookup path for addresses up to kMaxAddress bytes.
//
// Memory layout is what makes it fast at a million users: addresses live inline in an
// open-addressing table (tsl::robin_map, one cache line per probe, no pointer chasing to a
// heap string), and each user's first group indexes live inline in its slot.
//
// It is derived from PolicyState: rebuild() from scratch, apply() incrementally from the
// journal of a committed change, so changes take effect for the next call at once.
// Thread-safe: decide() takes a shared lock; rebuild()/apply() take it exclusively.
#pragma once

#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <tsl/robin_map.h>

#include "common/strings.h"
#include "policy/resolve.h"
#include "policy/state.h"

namespace verbatim::policy {

struct DirectoryUser {
  std::string object_id;
  std::string user_principal_name;
  std::string sip_address;
  std::string display_name;
  std::string phone_number;
  std::string preferred_language;
  std::string data_location;
};

struct Decision {
  std::shared_ptr<const DirectoryUser> user;  // null: the party is not a known user
  Source source = Source::kGlobal;
  int rank = 0;  // group rank when source is kGroup
  std::shared_ptr<const CompiledPolicy> policy;

  bool known() const { return user != nullptr; }
  bool record() const { return policy && policy->records(); }
};

class DecisionEngine {
 public:
  static constexpr size_t kMaxAddress = 256;

  void rebuild(const PolicyState& state);
  void apply(const PolicyState& state, const std::vector<Change>& changes);

  // `party` is a SIP URI or name-addr, a tel: URI, an E.164 number, a UPN or an ObjectId.
  Decision decide(std::string_view party) const;

  size_t user_count() const;

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  static constexpr size_t kInlineGroups = 6;

  struct UserSlot {
    std::shared_ptr<const DirectoryUser> info;
    uint32_t direct = kNone;
    uint32_t group_count = 0;
    uint32_t groups[kInlineGroups] = {};
    std::vector<uint32_t> more_groups;  // beyond kInlineGroups
  };

  // A normalised address stored inline; longer ones go to long_addresses_.
  struct AddressKey {
    static constexpr size_t kMax = 47;
    uint8_t size = 0;
    char bytes[kMax] = {};
    std::string_view view() const { return {bytes, size}; }
  };
  struct AddressHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
    size_t operator()(const AddressKey& k) const noexcept { return (*this)(k.view()); }
  };
  struct AddressEqual {
    using is_transparent = void;
    static std::string_view v(std::string_view s) { return s; }
    static std::string_view v(const AddressKey& k) { return k.view(); }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const noexcept {
      return v(a) == v(b);
    }
  };
  using AddressMap = tsl::robin_map<AddressKey, uint32_t, AddressHash, AddressEqual,
                                    std::allocator<std::pair<AddressKey, uint32_t>>, true>;

  uint32_t find_address(std::string_view key) const;
  void set_address(std::string_view key, uint32_t slot);
  void erase_address(std::string_view key, uint32_t slot);

  void compile_policies(const PolicyState& state);
  void refresh_ranks(const PolicyState& state);
  void refresh_user(const PolicyState& state, const std::string& user_id);
  void drop_user_keys(uint32_t slot);
  uint32_t policy_index(std::string_view name) const;
  uint32_t group_index(const std::string& group_id);

  mutable std::shared_mutex mu_;
  AddressMap by_address_;
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> long_addresses_;
  std::vector<UserSlot> users_;
  std::vector<uint32_t> free_slots_;
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> group_index_;
  std::vector<uint32_t> group_rank_;    // 0: no assignment
  std::vector<uint32_t> group_policy_;  // policy index of the group's assignment
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> policy_index_;
  std::vector<std::shared_ptr<const CompiledPolicy>> policies_;
  uint32_t tenant_global_ = kNone;
  uint32_t builtin_global_ = kNone;
};

}  // namespace verbatim::policy
