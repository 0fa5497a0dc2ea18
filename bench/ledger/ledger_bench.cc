// Ledger throughput: durable appends with group commit (1 and 16 appenders)
// on this disk and on a simulated slow disk (each fdatasync padded to 250 us),
// appends without fsync, offline verify (records/s, MB/s), and proof
// generation at 1M records. Data goes to $TMPDIR (default /tmp), removed at
// exit. One run takes about a minute on a 2-core VM.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <random>
#include <thread>
#include <vector>

#include "report.h"
#include "taogate/ledger/ledger.h"
#include "taogate/ledger/verify.h"

using namespace taogate;
using Clock = std::chrono::steady_clock;

namespace {

ledger::Fields Fields(uint64_t i) {
  return {{"tao_id", "0f1e2d3c4b5a69788796a5b4c3d2e1f" + std::to_string(i % 10)},
          {"cgroup_id", "4242"},
          {"node_id", "node-a"},
          {"actor", "spiffe://example.org/agent/billing"},
          {"target", "tcp/10.0.0.5:5432"},
          {"decision_id", std::to_string(i)}};
}

std::string FreshDir(const std::string& name) {
  const char* base = std::getenv("TMPDIR");
  std::string d = std::string(base ? base : "/tmp") + "/taogate-bench-ledger-" + std::to_string(getpid()) + "-" + name;
  std::filesystem::remove_all(d);
  return d;
}

struct Rate {
  double per_second = 0;
  double per_sync = 0;  // records per fdatasync
};

// Appends from `threads` threads for about `seconds`. A nonzero `sync_floor`
// pads every fdatasync to at least that long (a slower disk).
Rate AppendRate(const std::string& dir, int threads, bool fsync, double seconds,
                std::chrono::microseconds sync_floor = {}) {
  ledger::LedgerOptions o;
  o.dir = dir;
  o.fsync = fsync;
  std::atomic<uint64_t> syncs{0};
  o.datasync = [&](int fd) {
    auto t0 = Clock::now();
    int rc = ::fdatasync(fd);
    std::this_thread::sleep_until(t0 + sync_floor);
    ++syncs;
    return rc;
  };
  auto l = ledger::Ledger::Open(o);
  if (!l.ok()) {
    std::fprintf(stderr, "open: %s\n", std::string(l.status().message()).c_str());
    std::exit(1);
  }
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> done{0};
  std::vector<std::thread> ts;
  auto t0 = Clock::now();
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&] {
      uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        if (!(*l)->Append(ledger::RecordKind::kConsumed, Fields(n)).ok()) std::abort();
        ++n;
      }
      done += n;
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : ts) t.join();
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  return {static_cast<double>(done.load()) / s,
          syncs ? static_cast<double>(done.load()) / static_cast<double>(syncs.load()) : 0};
}

// Fills a ledger with n records quickly (no fsync, 2 appenders).
void Fill(const std::string& dir, uint64_t n) {
  ledger::LedgerOptions o;
  o.dir = dir;
  o.fsync = false;
  auto l = ledger::Ledger::Open(o);
  if (!l.ok()) std::exit(1);
  std::vector<std::thread> ts;
  std::atomic<uint64_t> next{0};
  for (int t = 0; t < 2; ++t)
    ts.emplace_back([&] {
      for (uint64_t i; (i = next++) < n;)
        if (!(*l)->Append(ledger::RecordKind::kConsumed, Fields(i)).ok()) std::abort();
    });
  for (auto& t : ts) t.join();
}

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec / 1e9;
}

// Latency of one small append + fdatasync on the same filesystem: the
// physical floor under durable appends (best of 3 runs of 100).
double FdatasyncSeconds(const std::string& dir) {
  std::filesystem::create_directories(dir);
  std::string path = dir + "/probe";
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) std::exit(1);
  int fd = fileno(f);
  double best = 1e9;
  std::string rec(220, 'x');
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = Clock::now();
    for (int i = 0; i < 100; ++i)
      if (write(fd, rec.data(), rec.size()) < 0 || fdatasync(fd) != 0) std::exit(1);
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count() / 100);
  }
  std::fclose(f);
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--fill") {  // for profiling: --fill DIR N
    Fill(argv[2], std::stoull(argv[3]));
    return 0;
  }
  bench::Report r;
  std::vector<std::string> dirs;
  auto dir = [&](const std::string& name) { return dirs.emplace_back(FreshDir(name)); };

  double sync_s = FdatasyncSeconds(dir("probe"));
  std::fprintf(stderr, "fdatasync of a small append: %.0f us\n", sync_s * 1e6);
  // fsync_delay_us 0: this disk. 250: a ledger on tmpfs (/dev/shm) whose
  // fdatasync is padded to 250 us, i.e. a disk with a 250 us sync whatever
  // this machine's disk is; group commit must put every waiting appender in
  // each sync.
  for (int delay_us : {0, 250}) {
    bool simulated = delay_us > 0 && std::filesystem::is_directory("/dev/shm");
    if (delay_us > 0 && !simulated) continue;
    auto run_dir = [&](const std::string& name) {
      return dirs.emplace_back(simulated ? "/dev/shm/taogate-bench-ledger-" + std::to_string(getpid()) + "-" + name
                                         : FreshDir(name));
    };
    double floor_s = simulated ? delay_us / 1e6 : sync_s;
    for (int appenders : {1, 16}) {
      Rate best;
      for (int rep = 0; rep < 2; ++rep) {
        Rate got = AppendRate(run_dir("durable" + std::to_string(delay_us) + "-" + std::to_string(appenders) + "-" +
                                  std::to_string(rep)),
                              appenders, true, 3.0, std::chrono::microseconds(delay_us));
        if (got.per_second > best.per_second) best = got;
      }
      nlohmann::json params = {{"appenders", appenders}, {"fsync", "fdatasync, group commit"}, {"best_of", 2},
                               {"fdatasync_us", std::round(floor_s * 1e6)},
                               {"appends_per_fsync", std::round(best.per_sync * 10) / 10}};
      if (simulated) params["fsync_delay_us"] = delay_us, params["disk"] = "tmpfs, sync padded";
      // Baseline: the ceiling if every fdatasync carried one record per appender.
      r.Add({"ledger_durable_appends", best.per_second, "records/s", appenders / floor_s, params});
    }
  }
  for (int appenders : {1, 16})
    r.Add({"ledger_appends_nofsync", AppendRate(dir("nofsync" + std::to_string(appenders)), appenders, false, 2.0).per_second,
           "records/s", std::nullopt, {{"appenders", appenders}}});

  constexpr uint64_t kRecords = 1'000'000;
  std::string big = dir("1m");
  auto f0 = Clock::now();
  Fill(big, kRecords);
  double fill_s = std::chrono::duration<double>(Clock::now() - f0).count();
  std::fprintf(stderr, "filled %llu records in %.1f s\n", static_cast<unsigned long long>(kRecords), fill_s);

  double best_verify = 1e9, best_cpu = 1e9;
  uint64_t bytes = 0;
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = Clock::now();
    double c0 = CpuSeconds();
    auto v = ledger::VerifyLedger(big);
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best_cpu = std::min(best_cpu, CpuSeconds() - c0);
    if (!v.ok() || v->records != kRecords) std::abort();
    bytes = v->payload_bytes + kRecords * 8;
    best_verify = std::min(best_verify, s);
  }
  // cpu_s is CPU time over all threads: records/cpu_s is what one
  // uncontended core does, independent of other load on the machine.
  r.Add({"ledger_verify", kRecords / best_verify, "records/s", std::nullopt,
         {{"records", kRecords}, {"best_of", 3}, {"checks", "crc,decode,chain,merkle"},
          {"wall_s", best_verify}, {"cpu_s", best_cpu}, {"records_per_cpu_s", std::round(kRecords / best_cpu)}}});
  r.Add({"ledger_verify", bytes / best_verify / 1e6, "MB/s", std::nullopt,
         {{"records", kRecords}, {"bytes", bytes}, {"best_of", 3}, {"mb_per_cpu_s", bytes / best_cpu / 1e6}}});

  ledger::LedgerOptions o;
  o.dir = big;
  o.read_only = true;
  auto t_open = Clock::now();
  auto l = ledger::Ledger::Open(o);
  double open_s = std::chrono::duration<double>(Clock::now() - t_open).count();
  if (!l.ok()) std::abort();
  r.Add({"ledger_open_1m", open_s * 1e3, "ms", std::nullopt, {{"records", kRecords}}});
  std::mt19937_64 rng(1);
  constexpr int kProofs = 2000;
  auto t0 = Clock::now();
  for (int i = 0; i < kProofs; ++i) {
    uint64_t size = kRecords - rng() % 1000;
    if (!(*l)->ProveInclusion(rng() % size, size).ok()) std::abort();
  }
  double incl_us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / kProofs;
  t0 = Clock::now();
  for (int i = 0; i < kProofs; ++i) {
    uint64_t from = 1 + rng() % (kRecords - 1);
    if (!(*l)->ProveConsistency(from, kRecords).ok()) std::abort();
  }
  double cons_us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / kProofs;
  r.Add({"ledger_proof_1m", incl_us, "us", std::nullopt, {{"proof", "inclusion"}, {"records", kRecords}}});
  r.Add({"ledger_proof_1m", cons_us, "us", std::nullopt, {{"proof", "consistency"}, {"records", kRecords}}});
  l->reset();

  for (const auto& d : dirs) std::filesystem::remove_all(d);
  return r.Emit(bench::JsonPathFromArgs(argc, argv)) ? 0 : 1;
}
