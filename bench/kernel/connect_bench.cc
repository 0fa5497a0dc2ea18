// taogate-bench-connect: cost of the kernel gate on a loopback connection.
//
// One process alternates between two cgroups created for the run: W, a
// workload under a governed root with the gate attached, and B, a sibling
// outside it with no programs. Each round times N cycles of
// socket+connect+accept+close (SO_LINGER 0, so no TIME_WAIT) in each, order
// alternating per round; the figure per side is the best round mean
// (best-of-R), measured interleaved so drift on a shared machine hits both.
//
// Metrics:
//   connect_overhead   {grants, prefixes}: unprotected destination whose port
//                      is protected on other prefixes; the gate runs
//                      sock_create and connect4 (port prefilter hit + two LPM
//                      lookups). No quarantine is engaged, so the on-demand
//                      skb and syscall hooks are not attached.
//   connect_grant_overhead {grants, prefixes}: protected destination, every
//                      connect consumes a fresh grant (installed untimed).
//   connect4_prog_ns   mean run time of the connect4 program (BPF_ENABLE_STATS).
//   connect_overhead   {names: 1000, grants: 1, prefixes}: the same loop with
//                      1,000 protected DNS names' entries added as the agent
//                      writes them (docs/names.md): 1-8 addresses per name,
//                      one exact /32 entry per address and port, some on the
//                      loop's port. Compare with the {grants: 1} record of
//                      the same run (IP-only).
//   connect_overhead   {grants: 1, prefixes: 100 | 1000}: the same, with
//                      fewer prefixes (the sweep over prefixes).
//   connect_overhead   {baseline: nftables, grants, prefixes, set_elements}:
//                      the same loop with no gate, against the same protected
//                      targets held as an nftables set with an output rule
//                      that rejects them (nft_baseline.h), in a network
//                      namespace of the run; baseline: a sibling namespace
//                      without a ruleset. Measured right after the gate's
//                      record with the same {grants, prefixes}, so the two
//                      pair; nftables holds no grants. Skipped (with a
//                      message) if `nft` is missing or fails.
//
// Needs root; without it, prints why and emits an empty report.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <random>

#include "gate_env.h"
#include "nft_baseline.h"
#include "report.h"
#include "taogate/bpf/cgroup.h"
#include "taogate/bpf/gate.h"
#include "taogate/common/fd.h"
#include "taogate/common/strings.h"

namespace {

using namespace taogate;
using namespace taogate::bpf;

using bench::GateEnv;
using bench::MonotonicNs;

using Listener = bench::LoopbackListener;
constexpr auto Listen = bench::ListenLoopback;
constexpr auto Cycle = bench::ConnectCycle;

// The nftables side: interleaved rounds in the namespace with the rule and
// the one without, from the cgroup without programs.
absl::StatusOr<bench::BestOf> MeasureNft(GateEnv& env, bench::NftBaseline& nft, int rounds, int iters) {
  TG_RETURN_IF_ERROR(bench::MoveSelf(env, env.baseline.path()));
  auto best = bench::Interleave(rounds, [&](bool with_rule) -> absl::StatusOr<double> {
    TG_RETURN_IF_ERROR(nft.Enter(with_rule));
    uint64_t total = 0;
    for (int i = 0; i < iters; ++i) {
      uint64_t ns = Cycle(nft.listener(with_rule));
      if (ns == 0) return ErrnoStatus(errno, with_rule ? "connect (nftables)" : "connect (no ruleset)");
      total += ns;
    }
    return static_cast<double>(total) / iters;
  });
  absl::Status home = nft.Leave();
  TG_RETURN_IF_ERROR(best.status());
  TG_RETURN_IF_ERROR(home);
  TG_RETURN_IF_ERROR(bench::MoveSelf(env, env.home_cg));
  return best;
}

// Runs `rounds` interleaved rounds; `before(hooked)` runs untimed before
// every cycle. Fails if any cycle's connect fails.
absl::StatusOr<bench::BestOf> Measure(GateEnv& env, const Listener& l, int rounds, int iters,
                                      const std::function<absl::Status(bool)>& before) {
  auto best = bench::Interleave(rounds, [&](bool in_gate) -> absl::StatusOr<double> {
    TG_RETURN_IF_ERROR(bench::MoveSelf(env, in_gate ? env.workload.path() : env.baseline.path()));
    uint64_t total = 0;
    for (int i = 0; i < iters; ++i) {
      if (before) TG_RETURN_IF_ERROR(before(in_gate));
      uint64_t ns = Cycle(l);
      if (ns == 0) return ErrnoStatus(errno, in_gate ? "connect (gated)" : "connect (baseline)");
      total += ns;
    }
    return static_cast<double>(total) / iters;
  });
  TG_RETURN_IF_ERROR(best.status());
  TG_RETURN_IF_ERROR(bench::MoveSelf(env, env.home_cg));
  return best;
}

// n random prefixes in 10/8, each protecting one port from `ports`; also
// appended to `out` for the nftables set.
absl::Status AddPrefixes(Gate& gate, int n, const std::vector<uint16_t>& ports, std::mt19937& rng,
                         std::vector<bench::NftTarget>& out) {
  for (int i = 0; i < n; ++i) {
    uint32_t ip = (10u << 24) | (rng() & 0xffffff);
    int len = 16 + static_cast<int>(rng() % 17);
    uint16_t port = ports[rng() % ports.size()];
    out.push_back({ip, len, port});
    char buf[INET_ADDRSTRLEN];
    uint32_t be = htonl(ip);
    inet_ntop(AF_INET, &be, buf, sizeof(buf));
    TG_ASSIGN_OR_RETURN(target::Target t,
                        target::Parse(StrCat("tcp:", buf, "/", len, ":", port), target::Form::kProtected));
    TG_RETURN_IF_ERROR(gate.AddTarget(t));
  }
  return absl::OkStatus();
}

// The entries 1,000 names with 1-8 addresses each become (TargetSync: one
// exact entry per address and port); a quarter of the names use one of
// `ports` (the loop's port among them), so the prefilter keeps hitting.
absl::StatusOr<std::vector<target::Target>> AddNameEntries(Gate& gate, int names, const std::vector<uint16_t>& ports,
                                                           std::mt19937& rng) {
  std::vector<target::Target> added;
  for (int i = 0; i < names; ++i) {
    int addrs = 1 + static_cast<int>(rng() % 8);
    uint16_t port = rng() % 4 == 0 ? ports[rng() % ports.size()] : static_cast<uint16_t>(1024 + rng() % 60000);
    for (int a = 0; a < addrs; ++a) {
      uint32_t be = htonl((172u << 24) | (16u << 16) | (rng() & 0xfffff));
      char buf[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &be, buf, sizeof(buf));
      TG_ASSIGN_OR_RETURN(target::Target t, target::Parse(StrCat("tcp:", buf, ":", port), target::Form::kProtected));
      TG_RETURN_IF_ERROR(gate.AddTarget(t));
      added.push_back(std::move(t));
    }
  }
  return added;
}

// Tops the grant map up to `n` live grants that never match the loop.
absl::Status FillGrants(Gate& gate, size_t& have, size_t n, std::mt19937& rng) {
  uint64_t expiry = MonotonicNs() + 3600ull * 1000000000ull;
  TaoId tao{};
  while (have < n) {
    uint32_t ip = (10u << 24) | (rng() & 0xffffff);
    char buf[INET_ADDRSTRLEN];
    uint32_t be = htonl(ip);
    inet_ntop(AF_INET, &be, buf, sizeof(buf));
    TG_ASSIGN_OR_RETURN(target::Target g, target::Parse(StrCat("tcp:", buf, ":", 1 + rng() % 65535),
                                                        target::Form::kDestination));
    absl::Status s = gate.InstallGrant(1'000'000 + rng() % 1'000'000, g, tao, expiry);
    if (s.code() == absl::StatusCode::kAlreadyExists) continue;
    TG_RETURN_IF_ERROR(s);
    ++have;
  }
  return absl::OkStatus();
}

// Mean ns per run of the attached connect4 program, from the kernel's own
// BPF run-time statistics (enabled only while `stats` is held open).
double ProgMeanNs(const std::string& pin_root) {
  UniqueFd link(bpf_obj_get((pin_root + "/links/connect4").c_str()));
  bpf_link_info li{};
  uint32_t len = sizeof(li);
  if (!link || bpf_obj_get_info_by_fd(link.get(), &li, &len) != 0) return 0;
  UniqueFd prog(bpf_prog_get_fd_by_id(li.prog_id));
  bpf_prog_info pi{};
  len = sizeof(pi);
  if (!prog || bpf_obj_get_info_by_fd(prog.get(), &pi, &len) != 0 || pi.run_cnt == 0) return 0;
  return static_cast<double>(pi.run_time_ns) / pi.run_cnt;
}

absl::Status Run(bench::Report& report, bool quick, bool aa) {
  GateEnv env;
  GateOptions o;
  o.max_grants = 1'100'000;
  TG_RETURN_IF_ERROR(bench::SetUpGateEnv(env, "taogate-bench", /*with_baseline=*/true, o));
  Gate& gate = *env.gate;
  std::mt19937 rng(42);
  const int kPrefixes = 10'000;
  // Many short rounds: a quiet window on a shared machine is short.
  const int rounds = quick ? 5 : 80, iters = quick ? 100 : 250;
  Listener open = Listen(0), prot = Listen(0);
  // The prefixes protect the loop's own port (on other addresses), so every
  // gated connect takes the slow path: port prefilter hit, then both LPM
  // lookups miss. The conservative case for an unprotected destination.
  std::vector<uint16_t> ports{ntohs(open.addr.sin_port)};
  while (ports.size() < 64) ports.push_back(static_cast<uint16_t>(1024 + rng() % 60000));
  TG_ASSIGN_OR_RETURN(target::Target pt,
                      target::Parse(StrCat("tcp:127.0.0.1:", ntohs(prot.addr.sin_port)), target::Form::kProtected));
  TG_RETURN_IF_ERROR(gate.AddTarget(pt));
  std::vector<bench::NftTarget> nft_targets{{INADDR_LOOPBACK, 32, ntohs(prot.addr.sin_port)}};
  std::unique_ptr<bench::NftBaseline> nft;
  bool nft_ok = !aa;
  // The gate's record for {grants, prefixes}, then the nftables one with the
  // same targets right after it.
  auto pair = [&](size_t n, int prefixes) -> absl::Status {
    TG_ASSIGN_OR_RETURN(bench::BestOf best, Measure(env, open, rounds, iters, nullptr));
    report.Add({"connect_overhead", best.hooked, "ns", best.base, {{"grants", n}, {"prefixes", prefixes}}});
    if (!nft) return absl::OkStatus();
    TG_ASSIGN_OR_RETURN(bench::BestOf nb, MeasureNft(env, *nft, rounds, iters));
    nlohmann::json np = {{"baseline", "nftables"}, {"grants", n}, {"prefixes", prefixes},
                         {"set_elements", nft->elements()}};
    report.Add({"connect_overhead", nb.hooked, "ns", nb.base, np});
    return absl::OkStatus();
  };
  size_t have = 0;
  // Untimed warm-up (caches, the mover, the CPU's clock) before the first record.
  if (!quick && !aa) TG_RETURN_IF_ERROR(Measure(env, open, 5, iters, nullptr).status());
  // Prefixes added in steps, measured at 1 grant below kPrefixes; the
  // nftables set is rebuilt (fresh namespaces) at each step.
  int added = 0;
  for (int step : quick || aa ? std::vector<int>{kPrefixes} : std::vector<int>{100, 1000, kPrefixes}) {
    TG_RETURN_IF_ERROR(AddPrefixes(gate, step - added, ports, rng, nft_targets));
    added = step;
    nft.reset();
    if (nft_ok) {
      auto made = bench::NftBaseline::Create(nft_targets, ntohs(open.addr.sin_port), ntohs(prot.addr.sin_port));
      if (made.ok()) {
        nft = std::move(*made);
      } else {
        nft_ok = false;
        std::cerr << "taogate-bench-connect: nftables baseline skipped: " << made.status().message() << "\n";
      }
    }
    if (step == kPrefixes) break;
    TG_RETURN_IF_ERROR(FillGrants(gate, have, 1, rng));
    TG_RETURN_IF_ERROR(pair(1, step));
  }
  uint64_t w_id = 0;
  TG_ASSIGN_OR_RETURN(w_id, CgroupId(env.workload.path()));

  if (aa) {  // A/A check of the method: same loop, gate detached on both sides
    env.gate.reset();
    TG_RETURN_IF_ERROR(Gate::Detach(env.pin_root));
    TG_ASSIGN_OR_RETURN(bench::BestOf aa_best, Measure(env, open, rounds, iters, nullptr));
    report.Add({"connect_aa_check", aa_best.hooked, "ns", aa_best.base, nlohmann::json::object()});
    return absl::OkStatus();
  }
  std::vector<size_t> grant_counts = quick ? std::vector<size_t>{1, 10'000}
                                           : std::vector<size_t>{1, 10'000, 1'000'000};
  for (size_t n : grant_counts) {
    TG_RETURN_IF_ERROR(FillGrants(gate, have, n, rng));
    UniqueFd stats;
    if (n == 10'000) stats = UniqueFd(bpf_enable_stats(BPF_STATS_RUN_TIME));
    TG_RETURN_IF_ERROR(pair(n, kPrefixes));
    nlohmann::json params = {{"grants", n}, {"prefixes", kPrefixes}};
    if (stats) {
      report.Add({"connect4_prog_ns", ProgMeanNs(env.pin_root), "ns", std::nullopt, params});
    }
    if (n == 1) {
      // The same loop with 1,000 names' entries present, then removed again.
      TG_ASSIGN_OR_RETURN(std::vector<target::Target> entries, AddNameEntries(gate, 1000, ports, rng));
      TG_ASSIGN_OR_RETURN(bench::BestOf named, Measure(env, open, rounds, iters, nullptr));
      nlohmann::json nparams = {{"names", 1000}, {"entries", entries.size()}, {"grants", n}, {"prefixes", kPrefixes}};
      report.Add({"connect_overhead", named.hooked, "ns", named.base, nparams});
      for (const auto& t : entries) TG_RETURN_IF_ERROR(gate.RemoveTarget(t));
    }
    if (n == 10'000) {
      target::Target g = *target::Parse(StrCat("tcp:127.0.0.1:", ntohs(prot.addr.sin_port)), target::Form::kDestination);
      TaoId tao{};
      // Gated: a fresh grant before each connect, consumed by it. Baseline:
      // the same untimed map work, then the grant is revoked.
      auto install = [&](bool in_gate) -> absl::Status {
        TG_RETURN_IF_ERROR(gate.PollEvents(0, [](const DecisionEvent&) {}).status());
        TG_RETURN_IF_ERROR(gate.InstallGrant(w_id, g, tao, MonotonicNs() + 10'000'000'000ull));
        return in_gate ? absl::OkStatus() : gate.RevokeGrant(w_id, g);
      };
      TG_ASSIGN_OR_RETURN(bench::BestOf grant, Measure(env, prot, rounds, iters / 2, install));
      report.Add({"connect_grant_overhead", grant.hooked, "ns", grant.base, params});
    }
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, aa = false;
  for (int i = 1; i < argc; ++i) {
    quick |= std::strcmp(argv[i], "--quick") == 0;
    aa |= std::strcmp(argv[i], "--aa") == 0;  // method check, not part of the report
  }
  taogate::bench::Report report;
  std::string json = taogate::bench::JsonPathFromArgs(argc, argv);
  if (geteuid() != 0) {
    std::cout << "taogate-bench-connect: skipped (needs root for BPF and cgroups)\n";
    return report.Emit(json) ? 0 : 1;
  }
  absl::Status s = Run(report, quick, aa);
  if (!s.ok()) {
    std::cerr << "taogate-bench-connect: " << s.message() << "\n";
    return 1;
  }
  return report.Emit(json) ? 0 : 1;
}
