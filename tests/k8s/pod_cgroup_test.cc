// Pod cgroup paths as kubelet makes them (both drivers, every QoS class,
// every runtime), and names a workload could mkdir to be taken for another pod.
#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "taogate/k8s/pod_cgroup.h"

namespace taogate::k8s {
namespace {

constexpr char kUid[] = "0f3a9c2e-5b1d-4e7a-9c11-2b3c4d5e6f70";
constexpr char kOther[] = "11111111-2222-4333-8444-555555555555";
const std::string kId(64, 'a');
const std::string kId2 = std::string(32, '0') + std::string(32, 'f');

std::string Us(const std::string& uid) { return absl::StrReplaceAll(uid, {{"-", "_"}}); }

KubepodsRoot Root(const std::string& path) { return *KubepodsRoot::Parse(path); }

// Parses `path`, which must be a pod cgroup.
PodCgroup Pod(const std::string& root, const std::string& path) {
  auto r = ParsePodCgroup(Root(root), path);
  EXPECT_TRUE(r.ok()) << path << ": " << r.status();
  EXPECT_TRUE(r.ok() && r->has_value()) << path << " is not a pod";
  return r.ok() && r->has_value() ? **r : PodCgroup{};
}

bool NotPod(const std::string& root, const std::string& path) {
  auto r = ParsePodCgroup(Root(root), path);
  return r.ok() && !r->has_value();
}

bool Refused(const std::string& root, const std::string& path) {
  return !ParsePodCgroup(Root(root), path).ok();
}

struct Case {
  std::string root, path;
  QosClass qos;
  std::string pod_path;
  int pod_level, depth;
  std::string runtime, id;
  bool conmon;
};

TEST(PodCgroupTest, RealShapedPathsOfBothDriversEveryQosAndRuntime) {
  const std::string S = "/kubepods.slice", u = Us(kUid);
  const std::string sg = S + "/kubepods-pod" + u + ".slice";
  const std::string sb = S + "/kubepods-burstable.slice/kubepods-burstable-pod" + u + ".slice";
  const std::string se = S + "/kubepods-besteffort.slice/kubepods-besteffort-pod" + u + ".slice";
  const std::string C = "/kubepods";
  const std::string cg = C + "/pod" + kUid, cb = C + "/burstable/pod" + kUid,
                    ce = C + "/besteffort/pod" + kUid;
  using Q = QosClass;
  const Case cases[] = {
      {S, sg, Q::kGuaranteed, sg, 1, 0, "", "", false},
      {S, sg + "/cri-containerd-" + kId + ".scope", Q::kGuaranteed, sg, 1, 1, "cri-containerd", kId, false},
      {S, sb + "/cri-containerd-" + kId + ".scope", Q::kBurstable, sb, 2, 1, "cri-containerd", kId, false},
      {S, se + "/cri-containerd-" + kId + ".scope", Q::kBestEffort, se, 2, 1, "cri-containerd", kId, false},
      {S, sg + "/crio-" + kId2 + ".scope", Q::kGuaranteed, sg, 1, 1, "crio", kId2, false},
      {S, sb + "/crio-conmon-" + kId + ".scope", Q::kBurstable, sb, 2, 1, "crio", kId, true},
      {S, se + "/crio-" + kId + ".scope", Q::kBestEffort, se, 2, 1, "crio", kId, false},
      {S, sg + "/docker-" + kId + ".scope", Q::kGuaranteed, sg, 1, 1, "docker", kId, false},
      {S, sb + "/docker-" + kId + ".scope", Q::kBurstable, sb, 2, 1, "docker", kId, false},
      {S, se + "/docker-" + kId + ".scope/init.scope", Q::kBestEffort, se, 2, 2, "docker", kId, false},
      {S, sb, Q::kBurstable, sb, 2, 0, "", "", false},
      {C, cg + "/" + kId, Q::kGuaranteed, cg, 1, 1, "", kId, false},
      {C, cb + "/" + kId, Q::kBurstable, cb, 2, 1, "", kId, false},
      {C, ce + "/" + kId, Q::kBestEffort, ce, 2, 1, "", kId, false},
      {C, cb + "/crio-" + kId, Q::kBurstable, cb, 2, 1, "crio", kId, false},
      {C, ce + "/crio-conmon-" + kId, Q::kBestEffort, ce, 2, 1, "crio", kId, true},
      {C, ce, Q::kBestEffort, ce, 2, 0, "", "", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path);
    PodCgroup p = Pod(c.root, c.path);
    EXPECT_EQ(p.qos, c.qos);
    EXPECT_EQ(p.pod_uid, kUid);
    EXPECT_EQ(p.pod_path, c.pod_path);
    EXPECT_EQ(p.pod_level, c.pod_level);
    EXPECT_EQ(p.depth, c.depth);
    EXPECT_EQ(p.runtime, c.runtime);
    EXPECT_EQ(p.container_id, c.id);
    EXPECT_EQ(p.conmon, c.conmon);
  }
}

TEST(PodCgroupTest, CgroupRootNestsTheSlicesUnderItsPrefix) {
  const std::string R = "/kubelet.slice/kubelet-kubepods.slice";
  const std::string pod = R + "/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod" +
                          Us(kUid) + ".slice";
  PodCgroup p = Pod(R, pod + "/cri-containerd-" + kId + ".scope");
  EXPECT_EQ(p.pod_path, pod);
  EXPECT_EQ(p.pod_uid, kUid);
  EXPECT_EQ(Pod(R, R + "/kubelet-kubepods-pod" + Us(kUid) + ".slice").qos, QosClass::kGuaranteed);
  // The default names are not this kubelet's.
  EXPECT_TRUE(Refused(R, R + "/kubepods-pod" + Us(kUid) + ".slice"));
  EXPECT_EQ(Pod("/custom/kubepods", "/custom/kubepods/pod" + std::string(kUid)).pod_level, 1);
}

TEST(PodCgroupTest, RootAndQosCgroupsAreNotPods) {
  EXPECT_TRUE(NotPod("/kubepods.slice", "/kubepods.slice"));
  EXPECT_TRUE(NotPod("/kubepods.slice", "/kubepods.slice/kubepods-burstable.slice"));
  EXPECT_TRUE(NotPod("/kubepods.slice", "/kubepods.slice/kubepods-besteffort.slice"));
  EXPECT_TRUE(NotPod("/kubepods", "/kubepods"));
  EXPECT_TRUE(NotPod("/kubepods", "/kubepods/burstable"));
  EXPECT_TRUE(NotPod("/kubepods", "/kubepods/besteffort"));
}

TEST(PodCgroupTest, RootMustBeNormalisedAndNotTheMount) {
  EXPECT_FALSE(KubepodsRoot::Parse("/").ok());
  EXPECT_FALSE(KubepodsRoot::Parse("kubepods.slice").ok());
  EXPECT_FALSE(KubepodsRoot::Parse("/kubepods.slice/").ok());
  EXPECT_FALSE(KubepodsRoot::Parse("/a/../kubepods").ok());
  EXPECT_FALSE(KubepodsRoot::Parse("/.slice").ok());
  EXPECT_EQ(Root("/kubepods.slice").driver(), CgroupDriver::kSystemd);
  EXPECT_EQ(Root("/kubepods").driver(), CgroupDriver::kCgroupfs);
}

// --- Attacks: names a workload or a confused caller could present. ---

TEST(PodCgroupTest, FakePodDirsBelowAContainerStayInTheRealPod) {
  const std::string ctr = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                          Us(kUid) + ".slice/cri-containerd-" + kId + ".scope";
  const std::string fake = "kubepods-pod" + Us(kOther) + ".slice";
  PodCgroup p = Pod("/kubepods.slice", ctr + "/" + fake + "/kubepods-burstable-pod" + Us(kOther) +
                                           ".slice/x");
  EXPECT_EQ(p.pod_uid, kUid);
  EXPECT_EQ(p.depth, 4);
  PodCgroup q = Pod("/kubepods", "/kubepods/pod" + std::string(kUid) + "/" + kId + "/pod" + kOther);
  EXPECT_EQ(q.pod_uid, kUid);
}

TEST(PodCgroupTest, UnknownNameBelowThePodIsStillThatPod) {
  PodCgroup p = Pod("/kubepods", "/kubepods/pod" + std::string(kUid) + "/pod" + kOther);
  EXPECT_EQ(p.pod_uid, kUid);
  EXPECT_EQ(p.container_id, "");
}

TEST(PodCgroupTest, NonCanonicalUidIsRefused) {
  const std::string S = "/kubepods.slice/kubepods-pod";
  EXPECT_TRUE(Refused("/kubepods.slice", S + "ABC.slice"));
  EXPECT_TRUE(Refused("/kubepods.slice", S + absl::AsciiStrToUpper(Us(kUid)) + ".slice"));
  EXPECT_TRUE(Refused("/kubepods.slice", S + Us(kUid) + "0.slice"));        // 37 chars
  EXPECT_TRUE(Refused("/kubepods.slice", S + Us(kUid).substr(1) + ".slice"));  // 35 chars
  EXPECT_TRUE(Refused("/kubepods.slice", S + kUid + ".slice"));             // dashes, not _
  EXPECT_TRUE(Refused("/kubepods.slice", S + std::string(32, 'a') + ".slice"));  // static pod hash
  EXPECT_TRUE(Refused("/kubepods", "/kubepods/pod" + Us(kUid)));             // _ under cgroupfs
  EXPECT_TRUE(Refused("/kubepods", "/kubepods/pod" + std::string(kUid).replace(0, 1, "g")));
  EXPECT_TRUE(Refused("/kubepods", "/kubepods/POD" + std::string(kUid)));
}

TEST(PodCgroupTest, ExtraPrefixesAndSuffixesAreRefused) {
  const std::string u = Us(kUid);
  EXPECT_TRUE(Refused("/kubepods.slice", "/kubepods.slice/kubepods-pod" + u + ".slice.slice"));
  EXPECT_TRUE(Refused("/kubepods.slice", "/kubepods.slice/kubepods-pod" + u + "_x.slice"));
  EXPECT_TRUE(Refused("/kubepods.slice", "/kubepods.slice/xkubepods-pod" + u + ".slice"));
  EXPECT_TRUE(Refused("/kubepods.slice", "/kubepods.slice/kubepods-pod" + u));
  EXPECT_TRUE(Refused("/kubepods.slice", "/kubepods.slice/kubepods-burstable.slice.bak"));
  EXPECT_TRUE(Refused("/kubepods", "/kubepods/pod" + std::string(kUid) + ".slice"));
  EXPECT_TRUE(Refused("/kubepods", "/kubepods/guaranteed/pod" + std::string(kUid)));
}

TEST(PodCgroupTest, PodOfTheWrongQosOrLevelIsRefused) {
  const std::string u = Us(kUid);
  // A Burstable pod name directly under the root, a Guaranteed one under a QoS slice.
  EXPECT_TRUE(Refused("/kubepods.slice", "/kubepods.slice/kubepods-burstable-pod" + u + ".slice"));
  EXPECT_TRUE(Refused("/kubepods.slice", "/kubepods.slice/kubepods-burstable.slice/kubepods-pod" +
                                             u + ".slice"));
  EXPECT_TRUE(Refused("/kubepods.slice", "/kubepods.slice/kubepods-besteffort.slice/"
                                         "kubepods-burstable-pod" + u + ".slice"));
  // Two pod components: the first one at its QoS level is the pod, the
  // second is only a sub-cgroup of it.
  EXPECT_EQ(Pod("/kubepods", "/kubepods/pod" + std::string(kOther) + "/burstable/pod" + kUid)
                .pod_uid, kOther);
}

TEST(PodCgroupTest, PathsOutsideTheRootOrNotNormalisedAreRefused) {
  const std::string pod = "/kubepods/pod" + std::string(kUid);
  EXPECT_TRUE(Refused("/kubepods", "/system.slice/pod" + std::string(kUid)));
  EXPECT_TRUE(Refused("/kubepods", "/kubepodsX/pod" + std::string(kUid)));
  EXPECT_TRUE(Refused("/kubepods", "/"));
  EXPECT_TRUE(Refused("/kubepods", "kubepods/pod" + std::string(kUid)));
  EXPECT_TRUE(Refused("/kubepods", "/kubepods/burstable/../pod" + std::string(kUid)));
  EXPECT_TRUE(Refused("/kubepods", pod + "/../pod" + kOther));
  EXPECT_TRUE(Refused("/kubepods", "/kubepods//pod" + std::string(kUid)));
  EXPECT_TRUE(Refused("/kubepods", pod + "/"));
  EXPECT_TRUE(Refused("/kubepods", pod + "/./x"));
}

TEST(PodCgroupTest, MalformedContainerIdIsRefused) {
  const std::string pod = "/kubepods.slice/kubepods-pod" + Us(kUid) + ".slice";
  EXPECT_TRUE(Refused("/kubepods.slice", pod + "/cri-containerd-" + kId + "0.scope"));
  EXPECT_TRUE(Refused("/kubepods.slice", pod + "/crio-" + std::string(64, 'A') + ".scope"));
  EXPECT_TRUE(Refused("/kubepods.slice", pod + "/docker-.scope"));
  EXPECT_TRUE(Refused("/kubepods", "/kubepods/pod" + std::string(kUid) + "/crio-xyz"));
}

TEST(PodCgroupTest, ValidatePodUid) {
  EXPECT_TRUE(ValidatePodUid(kUid).ok());
  EXPECT_FALSE(ValidatePodUid(Us(kUid)).ok());
  EXPECT_FALSE(ValidatePodUid("").ok());
  EXPECT_FALSE(ValidatePodUid(absl::AsciiStrToUpper(kUid)).ok());
}

}  // namespace
}  // namespace taogate::k8s
