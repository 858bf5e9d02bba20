// Decision benchmark: "is this call party recorded, and by whom?" with 1 M users and 10 k
// groups (issue target: >= 1 M decisions/s on one core, p99 <= 5 us, state memory reported).
//
// Peer: the naive path that answers the same question straight from PolicyState (address
// lookup, walk the user's groups, compile the effective policy) — what `policy explain`
// does. Both run in the same invocation; the ratio is printed. Run pinned to one core:
//   make bench   (taskset -c 1 build-bench/bench_policy_decision)
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>

#include "policy/decision.h"
#include "policy/resolve.h"

namespace verbatim::policy {
namespace {

constexpr int kUsers = 1'000'000;
constexpr int kGroups = 10'000;
constexpr int kPolicies = 50;
constexpr int kGroupsPerUser = 3;
constexpr int kParties = 1 << 16;

double rss_mib() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / (1 << 20);
}

struct World {
  PolicyState state;
  DecisionEngine engine;
  std::vector<std::string> parties;
  double state_mib = 0;
  double engine_mib = 0;
  double engine_build_s = 0;

  World() {
    std::mt19937_64 rng(7);
    const double base = rss_mib();
    for (int i = 0; i < 4; ++i) {
      char app[40];
      std::snprintf(app, sizeof app, "00000000-0000-4000-8000-0000000a%04d", i);
      ApplicationInstance inst{"inst" + std::to_string(i),
                               "rec" + std::to_string(i) + "@contoso.com", app, "Recorder", ""};
      state.apply(Kind::kAppInstance, inst.object_id, nlohmann::json(inst));
      for (const char* region : {"USA", "EUR"}) {
        RecorderEndpoint e{std::string(app) + region,
                           app,
                           "sip:rec" + std::to_string(i) + "-" + region + ".contoso.com",
                           region,
                           "",
                           true};
        state.apply(Kind::kEndpoint, e.id, nlohmann::json(e));
      }
    }
    for (int p = 0; p < kPolicies; ++p) {
      Policy pol;
      pol.name = "Policy" + std::to_string(p);
      pol.enabled = p % 5 != 0;
      RecordingApplication a;
      a.id = "inst" + std::to_string(p % 4);
      a.parent = pol.name;
      a.concurrent_invitation_count = 1 + p % 2;
      pol.applications.push_back(a);
      state.apply(Kind::kPolicy, to_lower(pol.name), nlohmann::json(pol));
    }
    for (int g = 0; g < kGroups; ++g) {
      const std::string gid = "group-" + std::to_string(g);
      state.apply(Kind::kGroup, gid, nlohmann::json(Group{gid, "Group " + std::to_string(g), ""}));
      if (g % 2 == 0) {  // half the groups carry an assignment, ranked
        GroupAssignment a{gid, "Policy" + std::to_string(g % kPolicies), g / 2 + 1, "", ""};
        state.apply(Kind::kGroupAssignment, gid, nlohmann::json(a));
      }
    }
    char id[40];
    for (int u = 0; u < kUsers; ++u) {
      std::snprintf(id, sizeof id, "%08x-0000-4000-8000-%012x", u, u);
      User user;
      user.object_id = id;
      user.user_principal_name = "user" + std::to_string(u) + "@contoso.com";
      user.sip_address = "sip:" + user.user_principal_name;
      user.phone_number = "+1425" + std::to_string(1000000 + u);
      user.data_location = u % 2 ? "EUR" : "USA";
      if (u % 10 == 0) user.compliance_recording_policy = "Policy" + std::to_string(u % kPolicies);
      state.apply(Kind::kUser, id, nlohmann::json(user));
      for (int k = 0; k < kGroupsPerUser; ++k) {
        const std::string gid = "group-" + std::to_string(rng() % kGroups);
        state.apply(Kind::kMembership, gid + "/" + id, nlohmann::json(Membership{gid, id}));
      }
    }
    state_mib = rss_mib() - base;
    const double before = rss_mib();
    const auto t0 = std::chrono::steady_clock::now();
    engine.rebuild(state);
    engine_build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    engine_mib = rss_mib() - before;
    for (int i = 0; i < kParties; ++i) {
      const int u = static_cast<int>(rng() % kUsers);
      switch (i % 4) {
        case 0:
          parties.push_back("sip:user" + std::to_string(u) + "@contoso.com");
          break;
        case 1:
          parties.push_back("\"User\" <sip:user" + std::to_string(u) + "@contoso.com>;tag=1");
          break;
        case 2:
          parties.push_back("sip:+1425" + std::to_string(1000000 + u) +
                            "@gw.contoso.com;user=phone");
          break;
        default:
          parties.push_back("sip:external" + std::to_string(u) + "@example.net");
          break;
      }
    }
  }
};

World& world() {
  static World w;
  return w;
}

// The naive peer: resolve from the model on every call.
bool naive_decide(const PolicyState& s, const std::string& party) {
  const User* u = s.user_by_address(party);
  if (!u) return false;
  const auto candidates = candidate_assignments(s, *u);
  const Policy* p = s.find_policy(candidates.front().policy_name);
  return p && compile_policy(s, *p).records();
}

void BM_DecisionEngine(benchmark::State& st) {
  World& w = world();
  size_t i = 0, recorded = 0;
  for (auto _ : st) {
    const Decision d = w.engine.decide(w.parties[i++ & (kParties - 1)]);
    recorded += d.record();
    benchmark::DoNotOptimize(d);
  }
  st.SetItemsProcessed(st.iterations());
  st.counters["recorded_share"] =
      static_cast<double>(recorded) / static_cast<double>(st.iterations());
  st.counters["users"] = static_cast<double>(w.engine.user_count());
  st.counters["state_MiB"] = w.state_mib;
  st.counters["engine_MiB"] = w.engine_mib;
  st.counters["engine_build_s"] = w.engine_build_s;
}
BENCHMARK(BM_DecisionEngine)->MinTime(2.0);

void BM_NaiveFromState(benchmark::State& st) {
  World& w = world();
  size_t i = 0;
  for (auto _ : st)
    benchmark::DoNotOptimize(naive_decide(w.state, w.parties[i++ & (kParties - 1)]));
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_NaiveFromState)->MinTime(2.0);

// Per-decision latency distribution (clock overhead included, so an upper bound).
void BM_DecisionLatency(benchmark::State& st) {
  World& w = world();
  std::vector<double> ns;
  ns.reserve(1 << 20);
  size_t i = 0;
  for (auto _ : st) {
    for (int k = 0; k < 1 << 20; ++k) {
      const auto t0 = std::chrono::steady_clock::now();
      const Decision d = w.engine.decide(w.parties[i++ & (kParties - 1)]);
      const auto t1 = std::chrono::steady_clock::now();
      benchmark::DoNotOptimize(d);
      ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
    }
  }
  std::sort(ns.begin(), ns.end());
  auto pct = [&](double p) {
    return ns[static_cast<size_t>(p * static_cast<double>(ns.size() - 1))];
  };
  st.counters["p50_ns"] = pct(0.50);
  st.counters["p99_ns"] = pct(0.99);
  st.counters["p999_ns"] = pct(0.999);
  st.counters["max_ns"] = ns.back();
}
BENCHMARK(BM_DecisionLatency)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace verbatim::policy

BENCHMARK_MAIN();
