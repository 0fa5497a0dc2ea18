// A real agent in pods mode (AgentTest): the real kernel gate attached at a
// test-made kubepods root (systemd layout), pod cgroups made the way kubelet
// names them, and a real TLS API server process (tests/k8s/test_apiserver.py)
// serving the pods and namespaces the agent lists and watches through a
// kubeconfig. Governed: pods labelled role=ai-agent in namespaces labelled
// governed=true. Used by pods_kernel_test.cc and tests/hold.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include "agent/agent_harness.h"
#include "k8s/apiserver_harness.h"
#include "taogate/bpf/cgroup.h"

namespace taogate::agent::testing {

using nlohmann::json;
namespace kt = taogate::k8s::testing;

constexpr char kGovernedPods[] = R"(governed_pods:
  - namespaceSelector: {matchLabels: {governed: "true"}}
    podSelector: {matchLabels: {role: ai-agent}}
)";

inline std::string Uid(int n) {
  char buf[40];
  snprintf(buf, sizeof(buf), "0c5d%04x-7e1a-4b2c-9d3e-%012x", n, n);
  return buf;
}
inline std::string Underscored(std::string uid) {
  for (char& c : uid) c = c == '-' ? '_' : c;
  return uid;
}

class PodsKernelTest : public AgentTest {
 protected:
  void SetUp() override {
    AgentTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    parent_abs_ = governed_abs_;
    governed_rel_ += "/kubepods.slice";
    governed_abs_ += "/kubepods.slice";
    ASSERT_TRUE(bpf::CreateCgroup(governed_abs_).ok());
    for (const char* qos : {"/kubepods-burstable.slice", "/kubepods-besteffort.slice"})
      ASSERT_TRUE(bpf::CreateCgroup(governed_abs_ + qos).ok());
    std::string d = dir_->path().string();
    std::filesystem::create_directories(d + "/pki");
    std::filesystem::create_directories(d + "/api");
    pki_ = std::make_unique<kt::TestPki>(d + "/pki");
    api_ = std::make_unique<kt::TestApiServer>(*pki_, d + "/api");
    k8s::ClusterConfig c = api_->Config();
    kubeconfig_ = d + "/kubeconfig";
    std::ofstream(kubeconfig_) << "apiVersion: v1\nkind: Config\n"
                               << "clusters: [{name: c, cluster: {server: \"" << c.server
                               << "\", certificate-authority: " << c.ca_file << "}}]\n"
                               << "users: [{name: u, user: {tokenFile: " << c.token_file << "}}]\n"
                               << "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                               << "current-context: x\n";
    AddNamespace("agents", {{"governed", "true"}});
    AddNamespace("web", {});
  }
  void TearDown() override {
    AgentTest::TearDown();
    api_.reset();
    if (!parent_abs_.empty()) (void)bpf::DestroyCgroupTree(parent_abs_);
  }

  void Start(const std::string& extra_yaml = "") {
    StartAgent(extra_yaml + "workloads: pods\nkubeconfig: " + kubeconfig_ + "\nkubernetes_node_name: " + node_id_ +
               "\ncgroup_rescan_ms: 1000\n" + governed_pods_);
  }
  void AddNamespace(const std::string& name, const json& labels) {
    json ns = kt::Fixture("namespace.json");
    ns["metadata"]["name"] = name;
    ns["metadata"]["uid"] = "ns-" + name;
    ns["metadata"]["labels"] = labels;
    api_->Upsert(ns, false, "namespaces");
  }
  // The pod object in the API (burstable fixture, this node).
  void AddPod(const std::string& uid, const std::string& ns, const json& labels) {
    json pod = kt::FixturePod("pod_burstable.json", uid, "pod-" + uid.substr(4, 4), node_id_);
    pod["metadata"]["namespace"] = ns;
    pod["metadata"]["labels"] = labels;
    api_->Upsert(pod);
  }
  // The pod's cgroup and one container cgroup, as kubelet + containerd make
  // them. Returns the container's name for RunIn; the pod id is pod_ids_[uid].
  std::string MakePodCgroup(const std::string& uid, char ctr = 'a') {
    std::string pod = "kubepods-burstable.slice/kubepods-burstable-pod" + Underscored(uid) + ".slice";
    if (!workloads_.count(pod)) pod_ids_[uid] = MakeWorkload(pod);
    std::string c = pod + "/cri-containerd-" + std::string(64, ctr) + ".scope";
    MakeWorkload(c);
    return c;
  }
  std::string Connect(const std::string& ctr) {
    return RunIn(ctr, {"connect", "127.0.0.1", std::to_string(protected_->port())}).out;
  }
  // Polls until a connect from `ctr` gives `want` ("CONNECT OK" / "CONNECT ERR EPERM").
  bool EventuallyConnect(const std::string& ctr, const std::string& want) {
    return kt::Eventually([&] { return Connect(ctr).find(want) != std::string::npos; },
                          std::chrono::seconds(10));
  }
  std::string Redeem(const std::string& ctr, const std::string& uid) {
    return RunIn(ctr, {"redeem-connect", workload_sock_, WriteTao(Mint(pod_ids_[uid], protected_->port())),
                       "127.0.0.1", std::to_string(protected_->port())})
        .out;
  }

  std::string parent_abs_, kubeconfig_;
  std::string governed_pods_ = kGovernedPods;  // static selectors; "" with a governor (the bundle's then)
  std::unique_ptr<kt::TestPki> pki_;
  std::unique_ptr<kt::TestApiServer> api_;
  std::map<std::string, uint64_t> pod_ids_;
};

}  // namespace taogate::agent::testing
