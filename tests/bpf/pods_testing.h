// Fixture for the gate's pods mode: the test's governed root plays kubelet's
// kubepods root, and pods are real cgroup trees shaped as kubelet makes them
// for both cgroup drivers and every QoS class:
//   systemd   <root>/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/
//                 cri-containerd-<64 hex>.scope
//             <root>/kubepods-pod<uid_>.slice/cri-containerd-<64 hex>.scope
//   cgroupfs  <root>/burstable/pod<uid>/<64 hex>
//             <root>/pod<uid>/<64 hex>
// (BestEffort like Burstable.) Processes are forked into the container
// cgroups; everything dies with the root (GateTest::TearDown).
#pragma once

#include <string>
#include <vector>

#include "kernel/kernel_testing.h"

namespace taogate::bpf::testing {

enum class Driver { kSystemd, kCgroupfs };
enum class Qos { kGuaranteed, kBurstable, kBestEffort };

struct Shape {
  Driver driver;
  Qos qos;
};
std::string ShapeName(const Shape& s);  // "systemd_burstable", ...
inline const Shape kAllShapes[] = {
    {Driver::kSystemd, Qos::kGuaranteed},  {Driver::kSystemd, Qos::kBurstable},
    {Driver::kSystemd, Qos::kBestEffort},  {Driver::kCgroupfs, Qos::kGuaranteed},
    {Driver::kCgroupfs, Qos::kBurstable},  {Driver::kCgroupfs, Qos::kBestEffort},
};

struct Pod {
  std::string uid;                      // the API's metadata.uid
  std::string cgroup;                   // the pod cgroup (the workload)
  std::vector<std::string> containers;  // container cgroups below it
};

class PodsTest : public GateTest {
 protected:
  void SetUp() override;
  // false: SetUp leaves gate_ closed (adoption tests pin state first).
  bool open_in_setup_ = true;

  // Options for a gate on root_ with GateOptions::pods = pods, and opening
  // (or adopting) it, expecting success.
  GateOptions Options(bool pods = true) const;
  std::unique_ptr<Gate> OpenPodsGate(bool pods = true);

  // The QoS cgroup of `s` (created on first use; "" for Guaranteed), and
  // registered as kNested if `nested`.
  std::string QosCgroup(const Shape& s, bool nested = true);
  // A new pod of shape s with `containers` container cgroups; its QoS
  // cgroup is created and marked nested first.
  Pod MakePod(const Shape& s, int containers = 1);
  // The cgroup name kubelet would give a pod with this uid.
  static std::string PodCgroupName(const Shape& s, const std::string& uid);

  // Verbs.
  void Mark(const std::string& cgroup, WorkloadKind kind);
  void Grant(const std::string& cgroup, uint8_t seed);
  int Connect(const std::string& cgroup);      // to the protected listener
  int ConnectOpen(const std::string& cgroup);  // to an unprotected listener
  uint64_t Counter(const std::string& name);

  Listener prot_;  // protected: "tcp:127.0.0.1:<port>"
  Listener open_;  // not protected
};

}  // namespace taogate::bpf::testing
