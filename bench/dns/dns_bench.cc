// dns_refresh_cpu: CPU-seconds per second this process spends keeping 1,000
// protected names current (re-resolution through c-ares, parsing, the
// NameTable), each with 1-8 addresses and a TTL of 5-300 s, served by a real
// dnsmasq on loopback (another process: its CPU is not counted). The window
// starts once every name has resolved (not the first burst) and lasts
// TAOGATE_BENCH_DNS_WINDOW_S (default 30 s). A window shorter than the
// longest TTL sees fewer resolutions than the steady state, so
// dns_refresh_cpu is the window's CPU per resolution times the steady-state
// rate (sum of 1/TTL); dns_refresh_cpu_window is the window's raw CPU/wall.
#include <sys/resource.h>

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <random>
#include <thread>

#include "dns/dns_testing.h"
#include "report.h"
#include "testing/testing.h"

namespace {

using namespace taogate;

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

class CountingSink : public dns::Sink {
 public:
  void OnChange(const dns::Change&) override { ++changes; }
  std::atomic<uint64_t> changes{0};
};

}  // namespace

int main(int argc, char** argv) {
  const std::string json = bench::JsonPathFromArgs(argc, argv);
  const int kNames = 1000;
  const char* w = std::getenv("TAOGATE_BENCH_DNS_WINDOW_S");
  const double window_s = w ? std::atof(w) : 30;

  taogate::testing::TempDir dir;
  std::mt19937 rng(16);
  std::string conf;
  std::vector<std::string> names;
  double rate = 0;  // steady-state resolutions per second: sum of 1/ttl
  double in_window = 0;  // resolutions expected in the window (no jitter)
  for (int i = 0; i < kNames; ++i) {
    std::string name = "n" + std::to_string(i) + ".tg.test";
    uint32_t ttl = 5 + rng() % 296;
    rate += 1.0 / ttl;
    in_window += std::floor(window_s / ttl);
    for (uint32_t j = 0, k = 1 + rng() % 8; j < k; ++j) {
      conf += "host-record=" + name + ",10." + std::to_string(i / 256) + "." + std::to_string(i % 256) +
              "." + std::to_string(j + 1) + "," + std::to_string(ttl) + "\n";
    }
    names.push_back(name);
  }
  dns::testing::Dnsmasq dnsmasq(dir.path(), "", 1, {}, conf);
  dns::Config config;
  config.servers = {dnsmasq.server()};
  config.table.jitter = 0;  // the expected counts above hold
  CountingSink sink;
  auto resolver = dns::Resolver::Create(config, sink);
  if (!resolver.ok() || !(*resolver)->SetNames(names).ok()) {
    std::cerr << "dns bench: " << resolver.status() << "\n";
    return 1;
  }
  (*resolver)->Start();
  uint64_t t0 = bench::MonotonicNs();
  if (!dns::testing::Eventually([&] { return sink.changes >= uint64_t(kNames); }, std::chrono::seconds(60))) {
    std::cerr << "dns bench: only " << sink.changes << " of " << kNames << " names resolved\n";
    return 1;
  }
  double initial_s = double(bench::MonotonicNs() - t0) / 1e9;

  auto stats0 = (*resolver)->GetStats();
  double cpu0 = CpuSeconds();
  uint64_t wall0 = bench::MonotonicNs();
  std::this_thread::sleep_for(std::chrono::milliseconds(int64_t(window_s * 1000)));
  double cpu = CpuSeconds() - cpu0;
  double wall = double(bench::MonotonicNs() - wall0) / 1e9;
  auto stats1 = (*resolver)->GetStats();
  (*resolver)->Stop();

  uint64_t resolutions = stats1.table.resolutions - stats0.table.resolutions;
  uint64_t failures = 0;
  for (size_t i = 0; i < dns::kFailureKinds; ++i) failures += stats1.table.failures[i];
  nlohmann::json params = {{"names", kNames}, {"addresses", "1-8"}, {"ttl_s", "5-300"},
                           {"window_s", window_s}};
  bench::Report report;
  auto add = [&](std::string name, double value, std::string unit, std::optional<double> baseline) {
    report.Add(bench::Metric{std::move(name), value, std::move(unit), baseline, params});
  };
  add("dns_refresh_cpu", resolutions ? cpu / double(resolutions) * rate : cpu / wall, "cpu_s/s", std::nullopt);
  add("dns_refresh_cpu_window", cpu / wall, "cpu_s/s", std::nullopt);
  add("dns_refresh_resolutions", double(resolutions) / wall, "names/s", in_window / window_s);
  add("dns_initial_resolve", initial_s, "s", std::nullopt);
  add("dns_refresh_failures", double(failures), "count", std::nullopt);
  return report.Emit(json) ? 0 : 1;
}
