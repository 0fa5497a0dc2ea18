#include "bpf/pods_testing.h"

#include <random>

#include "taogate/common/strings.h"

namespace taogate::bpf::testing {
namespace {

constexpr uint64_t kTenSeconds = 10'000'000'000ull;

std::string RandomHex(std::mt19937_64& rng, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(kHex[rng() % 16]);
  return s;
}

std::mt19937_64& Rng() {
  static std::mt19937_64 rng{std::random_device{}()};
  return rng;
}

const char* QosName(Qos q) {
  switch (q) {
    case Qos::kGuaranteed: return "guaranteed";
    case Qos::kBurstable: return "burstable";
    case Qos::kBestEffort: return "besteffort";
  }
  return "?";
}

std::string MakeCgroup(const std::string& path) {
  absl::Status s = CreateCgroup(path);
  EXPECT_TRUE(s.ok()) << s;
  return path;
}

}  // namespace

std::string ShapeName(const Shape& s) {
  return StrCat(s.driver == Driver::kSystemd ? "systemd_" : "cgroupfs_", QosName(s.qos));
}

void PodsTest::SetUp() {
  GateTest::SetUp();
  if (IsSkipped() || HasFatalFailure()) return;
  prot_ = ListenTcp();
  open_ = ListenTcp();
  if (!open_in_setup_) return;
  gate_ = OpenPodsGate();
  ASSERT_NE(gate_, nullptr);
  Protect(StrCat("tcp:127.0.0.1:", prot_.port));
}

GateOptions PodsTest::Options(bool pods) const {
  GateOptions o;
  o.pin_root = pin_root_;
  o.governed_cgroup = root_.path();
  o.pods = pods;
  return o;
}

std::unique_ptr<Gate> PodsTest::OpenPodsGate(bool pods) {
  auto g = Gate::OpenOrAdopt(Options(pods));
  EXPECT_TRUE(g.ok()) << g.status();
  return g.ok() ? std::move(*g) : nullptr;
}

std::string PodsTest::QosCgroup(const Shape& s, bool nested) {
  if (s.qos == Qos::kGuaranteed) return "";
  std::string name = s.driver == Driver::kSystemd ? StrCat("kubepods-", QosName(s.qos), ".slice")
                                                  : QosName(s.qos);
  std::string path = MakeCgroup(root_.path() + "/" + name);
  if (nested) Mark(path, WorkloadKind::kNested);
  return path;
}

std::string PodsTest::PodCgroupName(const Shape& s, const std::string& uid) {
  if (s.driver == Driver::kCgroupfs) return "pod" + uid;
  std::string u = uid;
  for (char& c : u) {
    if (c == '-') c = '_';
  }
  if (s.qos == Qos::kGuaranteed) return StrCat("kubepods-pod", u, ".slice");
  return StrCat("kubepods-", QosName(s.qos), "-pod", u, ".slice");
}

Pod PodsTest::MakePod(const Shape& s, int containers) {
  std::mt19937_64& rng = Rng();
  Pod p;
  p.uid = StrCat(RandomHex(rng, 8), "-", RandomHex(rng, 4), "-4", RandomHex(rng, 3), "-a",
                 RandomHex(rng, 3), "-", RandomHex(rng, 12));
  std::string qos = QosCgroup(s);
  p.cgroup = MakeCgroup(StrCat(qos.empty() ? root_.path() : qos, "/", PodCgroupName(s, p.uid)));
  for (int i = 0; i < containers; ++i) {
    std::string id = RandomHex(rng, 64);
    std::string name = s.driver == Driver::kSystemd ? StrCat("cri-containerd-", id, ".scope") : id;
    p.containers.push_back(MakeCgroup(p.cgroup + "/" + name));
  }
  return p;
}

void PodsTest::Mark(const std::string& cgroup, WorkloadKind kind) {
  absl::Status s = gate_->SetWorkload(IdOf(cgroup), kind);
  ASSERT_TRUE(s.ok()) << s;
}

void PodsTest::Grant(const std::string& cgroup, uint8_t seed) {
  absl::Status s = gate_->InstallGrant(IdOf(cgroup), Dest(StrCat("tcp:127.0.0.1:", prot_.port)),
                                       Tao(seed), MonoNowNs() + kTenSeconds);
  ASSERT_TRUE(s.ok()) << s;
}

int PodsTest::Connect(const std::string& cgroup) {
  return RunIn(cgroup, [&] { return TryConnect("127.0.0.1", prot_.port); });
}

int PodsTest::ConnectOpen(const std::string& cgroup) {
  return RunIn(cgroup, [&] { return TryConnect("127.0.0.1", open_.port); });
}

uint64_t PodsTest::Counter(const std::string& name) {
  auto c = gate_->Counters();
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? (*c)[name] : 0;
}

}  // namespace taogate::bpf::testing
