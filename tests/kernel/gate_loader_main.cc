// taogate-test-gate-loader: opens (or adopts) a gate, applies the targets and
// grants given on the command line, prints "ready" and waits to be killed.
// Used by adopt_test.cc to kill a real loader process with SIGKILL.
//   taogate-test-gate-loader PIN_ROOT GOVERNED_CGROUP [target SPEC]...
//       [grant CGROUP_ID ADDR PORT TTL_MS]...
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "taogate/bpf/gate.h"

int main(int argc, char** argv) {
  using namespace taogate::bpf;
  if (argc < 3) return 2;
  GateOptions o;
  o.pin_root = argv[1];
  o.governed_cgroup = argv[2];
  auto gate = Gate::OpenOrAdopt(o);
  if (!gate.ok()) {
    std::fprintf(stderr, "open: %s\n", std::string(gate.status().message()).c_str());
    return 1;
  }
  for (int i = 3; i < argc; ++i) {
    std::string verb = argv[i];
    if (verb == "target" && i + 1 < argc) {
      auto t = taogate::target::Parse(argv[++i], taogate::target::Form::kProtected);
      if (!t.ok() || !(*gate)->AddTarget(*t).ok()) return 3;
    } else if (verb == "grant" && i + 4 < argc) {
      uint64_t cg = std::strtoull(argv[i + 1], nullptr, 10);
      auto g = taogate::target::Parse(std::string("tcp:") + argv[i + 2] + ":" + argv[i + 3],
                                      taogate::target::Form::kDestination);
      if (!g.ok()) return 4;
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      uint64_t now = ts.tv_sec * 1000000000ull + ts.tv_nsec;
      TaoId id{};
      id.fill(0x5a);
      if (!(*gate)->InstallGrant(cg, *g, id, now + std::strtoull(argv[i + 4], nullptr, 10) * 1000000ull).ok()) return 4;
      i += 4;
    } else {
      return 2;
    }
  }
  std::printf("ready\n");
  std::fflush(stdout);
  for (;;) pause();
}
