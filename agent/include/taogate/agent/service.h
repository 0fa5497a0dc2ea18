// The Agent gRPC service. One instance per socket: the workload socket
// instance answers Redeem, Acquire and Authorize (acquire.h), and Why for the
// caller's own workload only; the operator instance answers everything,
// but only to peers whose uid is allowlisted and who are not governed
// workloads. Every refused operator call is recorded in the ledger (its own
// record or counted in a summary: refusal_recorder.h).
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <set>
#include <string>

#include "agent.grpc.pb.h"
#include "taogate/agent/acquire.h"
#include "taogate/agent/denial_log.h"
#include "taogate/agent/redeem.h"
#include "taogate/k8s/pod_cgroup.h"

namespace taogate::agent {

// Operator operations, implemented over the ledger and the kernel gate.
class NodeControl {
 public:
  virtual ~NodeControl() = default;
  virtual void FillStatus(v1::StatusResponse* out) = 0;
  virtual void FillProbe(v1::ProbeResponse* out) = 0;
  virtual absl::StatusOr<v1::KillSwitchResponse> KillSwitch(const v1::KillSwitchRequest& req,
                                                           const PeerIdentity& who) = 0;
  virtual absl::StatusOr<v1::LedgerTailResponse> LedgerTail(uint32_t count) = 0;
  // Records from_seq.. (at most max) and the size; OUT_OF_RANGE past the end.
  virtual absl::StatusOr<v1::LedgerTailResponse> LedgerRead(uint64_t from_seq, uint32_t max) = 0;
  virtual absl::StatusOr<v1::LedgerProofResponse> LedgerProof(uint64_t seq, uint64_t tree_size) = 0;
};

struct ServiceOptions {
  bool operator_socket = false;
  std::set<uid_t> operator_uids = {0};
  std::string governed_root = "/taogate";
  std::string cgroup2_mount;
  // Pods mode: kubelet's kubepods root (then governed_root is its path). A
  // caller's workload is its pod's cgroup, and `pod_governed` (workload
  // cgroup id -> governed in the kernel, absent counting as governed) decides
  // whether it may make operator calls: an ungoverned pod (the agent's own,
  // say, for `kubectl exec ... taogatectl`) may, a governed one may not.
  std::optional<k8s::KubepodsRoot> pods_root;
  std::function<bool(uint64_t)> pod_governed;
  // Called after every Redeem with its outcome and latency (metrics).
  std::function<void(const RedeemOutcome&, int64_t latency_ns)> on_redeem;
  // Acquire/Authorize (workload socket only); null: refused UNAVAILABLE.
  Acquirer* acquirer = nullptr;
  // Why (both sockets); null: refused UNAVAILABLE.
  const DenialLog* denials = nullptr;
};

class AgentServiceImpl final : public v1::Agent::Service {
 public:
  AgentServiceImpl(ServiceOptions opts, Redeemer& redeemer, NodeControl& control);

  grpc::Status Redeem(grpc::ServerContext* ctx, const v1::RedeemRequest* req,
                      v1::RedeemResponse* resp) override;
  grpc::Status Acquire(grpc::ServerContext* ctx, const v1::AcquireRequest* req,
                       grpc::ServerWriter<v1::AcquireProgress>* writer) override;
  grpc::Status Authorize(grpc::ServerContext* ctx, const v1::AcquireRequest* req,
                         grpc::ServerWriter<v1::AcquireProgress>* writer) override;
  grpc::Status Why(grpc::ServerContext* ctx, const v1::WhyRequest* req, v1::WhyResponse* resp) override;
  grpc::Status Status(grpc::ServerContext* ctx, const v1::StatusRequest* req,
                      v1::StatusResponse* resp) override;
  grpc::Status Probe(grpc::ServerContext* ctx, const v1::ProbeRequest* req,
                     v1::ProbeResponse* resp) override;
  grpc::Status KillSwitch(grpc::ServerContext* ctx, const v1::KillSwitchRequest* req,
                          v1::KillSwitchResponse* resp) override;
  grpc::Status LedgerTail(grpc::ServerContext* ctx, const v1::LedgerTailRequest* req,
                          v1::LedgerTailResponse* resp) override;
  grpc::Status LedgerProof(grpc::ServerContext* ctx, const v1::LedgerProofRequest* req,
                           v1::LedgerProofResponse* resp) override;
  grpc::Status LedgerRead(grpc::ServerContext* ctx, const v1::LedgerReadRequest* req,
                          v1::LedgerTailResponse* resp) override;

 private:
  absl::StatusOr<PeerIdentity> Peer(grpc::ServerContext* ctx) const;
  grpc::Status RunAcquire(grpc::ServerContext* ctx, const v1::AcquireRequest& req,
                          grpc::ServerWriter<v1::AcquireProgress>* writer, bool redeem);
  // OK if the caller may use operator calls; otherwise records the refusal.
  grpc::Status AuthorizeOperator(grpc::ServerContext* ctx, std::string_view method, PeerIdentity* who);

  ServiceOptions opts_;
  Redeemer& redeemer_;
  NodeControl& control_;
};

}  // namespace taogate::agent
