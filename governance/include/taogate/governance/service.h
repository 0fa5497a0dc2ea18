// The Governor gRPC service: authenticates the caller from its verified
// client certificate and delegates to Governor. The actor is the single URI
// SAN of the peer certificate (the TLS auth context's "peer_uri" values, or,
// if absent, x509_pem_cert parsed with OpenSSL); a peer without exactly one
// URI SAN is UNAUTHENTICATED.
// Thread safety: gRPC calls methods concurrently; Governor is thread-safe.
#pragma once

#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "governor.grpc.pb.h"
#include "taogate/governance/governor.h"

namespace taogate::governance {

// The verified actor identity of the caller.
absl::StatusOr<std::string> PeerActor(const grpc::ServerContext& ctx);

class GovernorService final : public v1::Governor::Service {
 public:
  explicit GovernorService(Governor* governor) : g_(governor) {}

  grpc::Status RequestAuthorization(grpc::ServerContext*, const v1::AuthorizationRequest*,
                                    v1::Decision*) override;
  grpc::Status GetDecision(grpc::ServerContext*, const v1::GetDecisionRequest*,
                           v1::Decision*) override;
  grpc::Status WatchDecision(grpc::ServerContext*, const v1::GetDecisionRequest*,
                             grpc::ServerWriter<v1::Decision>*) override;
  grpc::Status Approve(grpc::ServerContext*, const v1::ApprovalRequest*, v1::Decision*) override;
  grpc::Status Reject(grpc::ServerContext*, const v1::ApprovalRequest*, v1::Decision*) override;
  grpc::Status BreakGlass(grpc::ServerContext*, const v1::BreakGlassRequest*,
                          v1::Decision*) override;
  grpc::Status Review(grpc::ServerContext*, const v1::ReviewRequest*,
                      v1::ReviewResponse*) override;
  grpc::Status ActivatePolicy(grpc::ServerContext*, const v1::ActivatePolicyRequest*,
                              v1::ActivatePolicyResponse*) override;
  grpc::Status GetPolicy(grpc::ServerContext*, const v1::GetPolicyRequest*,
                         v1::GetPolicyResponse*) override;
  grpc::Status WatchProtectedTargets(grpc::ServerContext*, const v1::WatchProtectedTargetsRequest*,
                                     grpc::ServerWriter<v1::ProtectedTargets>*) override;
  grpc::Status LedgerCheckpoint(grpc::ServerContext*, const v1::LedgerCheckpointRequest*,
                                v1::LedgerCheckpointResponse*) override;
  grpc::Status LedgerProof(grpc::ServerContext*, const v1::GovernorLedgerProofRequest*,
                           v1::GovernorLedgerProofResponse*) override;
  grpc::Status KillSwitch(grpc::ServerContext*, const v1::GovernorKillSwitchRequest*,
                          v1::GovernorKillSwitchResponse*) override;
  grpc::Status WatchKillSwitch(grpc::ServerContext*, const v1::WatchKillSwitchRequest*,
                               grpc::ServerWriter<v1::GovernorKillSwitchRequest>*) override;

 private:
  Governor* g_;
};

}  // namespace taogate::governance
