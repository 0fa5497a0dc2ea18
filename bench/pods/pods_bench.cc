// taogate-bench-pods: pods mode on the real kernel gate, driven by the real
// PodClassifier and CgroupTreeWatch (inotify), with pod cgroups made the way
// kubelet names them (both drivers, every QoS class). The pods are in the
// classifier's API view before their cgroups exist, as they are in the API
// server before kubelet creates the cgroup.
//
//   pod_classify_latency (us; params driver, qos): mkdir of the pod cgroup ->
//     its entry visible in the kernel's workload map (median of N; p99 in
//     params).
//   pod_start_denials (count; params driver): ungoverned pods whose first
//     process (moved into a fresh container cgroup right after the pod's
//     mkdir, then connecting to a protected target at once) was denied. A
//     kubelet starts the sandbox milliseconds after the pod cgroup; this
//     bench gives the agent far less time than that, so 0 here is a margin.
//   Sanity (the bench fails otherwise): every governed pod's connect is denied.
//
// Needs root; makes its own cgroups under <cgroup2>/taogate-bench-pods-<pid>
// and a private bpffs, removed on every path.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <random>
#include <thread>

#include "report.h"
#include "taogate/agent/cgroup_watch.h"
#include "taogate/agent/pod_classifier.h"
#include "taogate/agent/pods_mode.h"
#include "taogate/bpf/cgroup.h"
#include "taogate/bpf/gate.h"
#include "taogate/common/strings.h"
#include "taogate/target/target.h"

namespace taogate::bench {
namespace {

using agent::WorkloadVerdict;

class NullEvidence final : public agent::Evidence {
 public:
  absl::StatusOr<uint64_t> Append(Kind, Fields) override { return n_++; }

 private:
  uint64_t n_ = 0;
};

std::string Uid(std::mt19937_64& rng) {
  char b[40];
  uint64_t a = rng(), c = rng();
  snprintf(b, sizeof(b), "%08x-%04x-4%03x-8%03x-%012llx", static_cast<unsigned>(a), static_cast<unsigned>(a >> 32) & 0xffff,
           static_cast<unsigned>(a >> 48) & 0xfff, static_cast<unsigned>(c) & 0xfff,
           static_cast<unsigned long long>(c >> 16) & 0xffffffffffffull);
  return b;
}

struct Layout {
  std::string driver;  // "systemd" | "cgroupfs"
  std::string root;    // relative to the mount
  std::string PodDir(const std::string& qos, const std::string& uid) const {
    std::string u = uid;
    if (driver == "systemd") {
      std::replace(u.begin(), u.end(), '-', '_');
      if (qos == "guaranteed") return root + "/kubepods-pod" + u + ".slice";
      return root + "/kubepods-" + qos + ".slice/kubepods-" + qos + "-pod" + u + ".slice";
    }
    if (qos == "guaranteed") return root + "/pod" + uid;
    return root + "/" + qos + "/pod" + uid;
  }
  std::string Container(const std::string& pod, char c) const {
    return pod + "/" + (driver == "systemd" ? "cri-containerd-" + std::string(64, c) + ".scope" : std::string(64, c));
  }
};

k8s::Pod MakePod(const std::string& uid, const std::string& ns) {
  k8s::Pod p;
  p.uid = uid;
  p.namespace_name = ns;
  p.name = "p-" + uid.substr(0, 8);
  p.node_name = "bench";
  return p;
}

// The first process of a pod: joins `ctr_abs`, connects to 127.0.0.1:port.
// Returns true if the connect was allowed.
bool FirstConnect(const std::string& ctr_abs, int port) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open((ctr_abs + "/cgroup.procs").c_str(), O_WRONLY);
    if (fd < 0 || write(fd, "0", 1) != 1) _exit(3);
    close(fd);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    _exit(connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) > 1) {
    fprintf(stderr, "first-connect child failed (status %d)\n", status);
    return false;
  }
  return WEXITSTATUS(status) == 0;
}

struct Env {
  std::string mnt, parent, tmp, bpffs;
  std::unique_ptr<bpf::Gate> gate;
  ~Env() {
    gate.reset();
    if (!bpffs.empty()) {
      (void)bpf::Gate::Detach(bpffs + "/taogate");
      umount2(bpffs.c_str(), MNT_DETACH);
    }
    if (!parent.empty()) (void)bpf::DestroyCgroupTree(mnt + parent);
    std::error_code ec;
    if (!tmp.empty()) std::filesystem::remove_all(tmp, ec);
  }
};

int RunDriver(const std::string& driver, int listener_port, Report& report, std::mt19937_64& rng) {
  Env env;
  auto mnt = bpf::Cgroup2Mount();
  if (!mnt.ok()) return fprintf(stderr, "%s\n", std::string(mnt.status().message()).c_str()), 1;
  env.mnt = *mnt;
  env.parent = StrCat("/taogate-bench-pods-", getpid(), "-", driver);
  Layout L{driver, env.parent + (driver == "systemd" ? "/kubepods.slice" : "/kubepods")};
  std::vector<std::string> dirs = {env.parent, L.root};
  for (const char* q : {"burstable", "besteffort"})
    dirs.push_back(driver == "systemd" ? StrCat(L.root, "/kubepods-", q, ".slice") : StrCat(L.root, "/", q));
  for (const auto& d : dirs)
    if (auto st = bpf::CreateCgroup(env.mnt + d); !st.ok()) return fprintf(stderr, "%s\n", st.ToString().c_str()), 1;
  std::string t = "/tmp/taogate-bench-pods-XXXXXX";
  if (!mkdtemp(t.data())) return perror("mkdtemp"), 1;
  env.tmp = t;
  env.bpffs = t + "/bpffs";
  mkdir(env.bpffs.c_str(), 0700);
  if (mount("bpf", env.bpffs.c_str(), "bpf", 0, "mode=0700") != 0) return perror("mount bpffs"), 1;
  bpf::GateOptions go;
  go.pin_root = env.bpffs + "/taogate";
  go.governed_cgroup = env.mnt + L.root;
  go.pods = true;
  auto gate = bpf::Gate::OpenOrAdopt(go);
  if (!gate.ok()) return fprintf(stderr, "gate: %s\n", gate.status().ToString().c_str()), 1;
  env.gate = std::move(*gate);
  auto target = target::Parse(StrCat("tcp:127.0.0.1:", listener_port), target::Form::kProtected);
  if (!target.ok() || !env.gate->AddTarget(*target).ok()) return fprintf(stderr, "add target failed\n"), 1;

  agent::GateWorkloadMap map(*env.gate);
  NullEvidence evidence;
  auto self = agent::OwnCgroupPath();
  agent::PodClassifier classifier(*k8s::KubepodsRoot::Parse(L.root), self.ok() ? *self : "/", map, evidence);
  auto tree = agent::ScanPodLevels(env.mnt, L.root);
  if (!tree.ok() || !classifier.Start(*tree).ok()) return fprintf(stderr, "classifier start failed\n"), 1;
  k8s::PodSelector agents;
  agents.namespace_selector = *k8s::LabelSelector::Make({{"governed", "true"}}, {});
  agents.pod_selector = k8s::LabelSelector::Everything();
  classifier.SetSelectors({agents});
  classifier.OnNamespaceAdded({.name = "agents", .uid = "1", .labels = {{"governed", "true"}}});
  classifier.OnNamespaceAdded({.name = "web", .uid = "2", .labels = {}});
  classifier.OnSynced(k8s::Resource::kPods);
  classifier.OnSynced(k8s::Resource::kNamespaces);
  auto watch = agent::CgroupTreeWatch::Open(env.mnt, L.root, classifier, 60'000);
  if (!watch.ok()) return fprintf(stderr, "watch: %s\n", watch.status().ToString().c_str()), 1;
  (*watch)->Start();

  constexpr int kPods = 60;
  for (const std::string qos : {"guaranteed", "burstable", "besteffort"}) {
    std::vector<double> us;
    for (int i = 0; i < kPods; ++i) {
      std::string uid = Uid(rng);
      classifier.OnPodAdded(MakePod(uid, "web"));
      std::string pod = env.mnt + L.PodDir(qos, uid);
      uint64_t t0 = MonotonicNs();
      if (mkdir(pod.c_str(), 0755) != 0) return perror("mkdir pod"), 1;
      struct stat st {};
      stat(pod.c_str(), &st);
      uint64_t t1 = 0;
      for (int spin = 0; spin < 2'000'000; ++spin) {
        auto w = env.gate->Workloads();
        if (w.ok()) {
          auto it = w->find(st.st_ino);
          if (it != w->end() && it->second == bpf::WorkloadKind::kUngoverned) {
            t1 = MonotonicNs();
            break;
          }
        }
      }
      if (t1 == 0) return fprintf(stderr, "pod %s never classified\n", pod.c_str()), 1;
      us.push_back((t1 - t0) / 1e3);
      rmdir(pod.c_str());
    }
    std::sort(us.begin(), us.end());
    report.Add({.name = "pod_classify_latency",
                .value = us[us.size() / 2],
                .unit = "us",
                .baseline = std::nullopt,
                .params = {{"driver", driver}, {"qos", qos}, {"pods", kPods},
                           {"p99_us", us[us.size() * 99 / 100]}, {"max_us", us.back()}}});
  }

  // First connects: ungoverned pods must never be denied; governed ones always.
  constexpr int kStarts = 40;
  int denied = 0, governed_allowed = 0;
  for (int i = 0; i < kStarts; ++i) {
    const bool governed = i % 4 == 3;
    std::string uid = Uid(rng);
    classifier.OnPodAdded(MakePod(uid, governed ? "agents" : "web"));
    std::string pod = env.mnt + L.PodDir(i % 2 ? "burstable" : "guaranteed", uid);
    std::string ctr = L.Container(pod, 'a');
    if (mkdir(pod.c_str(), 0755) != 0 || mkdir(ctr.c_str(), 0755) != 0) return perror("mkdir"), 1;
    bool ok = FirstConnect(ctr, listener_port);
    if (governed) governed_allowed += ok;
    else denied += !ok;
    rmdir(ctr.c_str());
    rmdir(pod.c_str());
  }
  (*watch)->Stop();
  if (governed_allowed != 0) return fprintf(stderr, "a governed pod got through without a grant\n"), 1;
  report.Add({.name = "pod_start_denials",
              .value = static_cast<double>(denied),
              .unit = "count",
              .baseline = std::nullopt,
              .params = {{"driver", driver}, {"ungoverned_pods", kStarts - kStarts / 4},
                         {"governed_pods_denied", kStarts / 4}}});
  return 0;
}

}  // namespace
}  // namespace taogate::bench

int main(int argc, char** argv) {
  using namespace taogate::bench;
  if (geteuid() != 0) {
    printf("taogate-bench-pods: skipped (needs root)\n");
    return Report().Emit(JsonPathFromArgs(argc, argv)) ? 0 : 1;
  }
  // The protected target: a loopback listener (accepts are not needed: the
  // kernel's verdict is the connect's result).
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(ls, 1024) != 0 ||
      getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return perror("listener"), 1;
  int port = ntohs(a.sin_port);
  std::mt19937_64 rng(std::random_device{}());
  Report report;
  for (const char* driver : {"systemd", "cgroupfs"})
    if (RunDriver(driver, port, report, rng) != 0) return 1;
  close(ls);
  return report.Emit(JsonPathFromArgs(argc, argv)) ? 0 : 1;
}
