// The Governor gRPC service: authenticates the caller from its verified
// client certificate and delegates to Governor. The actor is the single URI
// SAN of the peer certificate (the TLS auth context's "peer_uri" values, or,
// if absent, x509_pem_cert parsed with OpenSSL); a peer without exactly one
// URI SAN is UNAUTHENTICATED.
//
// Message sizes (docs/governor.md, "Message size limits"): gRPC 1.51 reads a
// unary request whole into memory before the handler runs, whoever sent it.
// The admin-only methods (ActivatePolicy, Review, KillSwitch) are therefore
// served as "streamed unary": the handler checks that the verified peer is an
// admin BEFORE it reads the request, so a non-admin's body is never
// buffered (PERMISSION_DENIED; at most the HTTP/2 window is received).
// Every request is further bounded by kMaxRequestBytes (the server's
// receive limit: RESOURCE_EXHAUSTED above it).
// Thread safety: gRPC calls methods concurrently; Governor is thread-safe.
#pragma once

#include <set>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "governor.grpc.pb.h"
#include "taogate/governance/console.h"
#include "taogate/governance/governor.h"

namespace taogate::governance {

// The verified actor identity of the caller.
absl::StatusOr<std::string> PeerActor(const grpc::ServerContext& ctx);

// The largest request the server accepts on any method: a policy bundle of
// policies::kMaxBundleBytes plus its name and framing.
inline constexpr int kMaxRequestBytes = (16 << 20) + (64 << 10);

using GovernorServiceBase = v1::Governor::WithStreamedUnaryMethod_ActivatePolicy<
    v1::Governor::WithStreamedUnaryMethod_Review<
        v1::Governor::WithStreamedUnaryMethod_KillSwitch<v1::Governor::Service>>>;

class GovernorService final : public GovernorServiceBase {
 public:
  // `admins`: the actors allowed to send admin-only requests (the same list
  // as GovernorOptions::admins; the Governor checks again after reading).
  // `console` (may be null) mints enrollment links.
  GovernorService(Governor* governor, const std::vector<std::string>& admins, Console* console = nullptr)
      : g_(governor), admins_(admins.begin(), admins.end()), console_(console) {}

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
  grpc::Status StreamedReview(
      grpc::ServerContext*,
      grpc::ServerUnaryStreamer<v1::ReviewRequest, v1::ReviewResponse>*) override;
  grpc::Status StreamedActivatePolicy(
      grpc::ServerContext*,
      grpc::ServerUnaryStreamer<v1::ActivatePolicyRequest, v1::ActivatePolicyResponse>*) override;
  grpc::Status GetPolicy(grpc::ServerContext*, const v1::GetPolicyRequest*,
                         v1::GetPolicyResponse*) override;
  grpc::Status WatchProtectedTargets(grpc::ServerContext*, const v1::WatchProtectedTargetsRequest*,
                                     grpc::ServerWriter<v1::ProtectedTargets>*) override;
  grpc::Status LedgerCheckpoint(grpc::ServerContext*, const v1::LedgerCheckpointRequest*,
                                v1::LedgerCheckpointResponse*) override;
  grpc::Status LedgerProof(grpc::ServerContext*, const v1::GovernorLedgerProofRequest*,
                           v1::GovernorLedgerProofResponse*) override;
  grpc::Status LedgerRead(grpc::ServerContext*, const v1::GovernorLedgerReadRequest*,
                          v1::GovernorLedgerReadResponse*) override;
  grpc::Status StreamedKillSwitch(
      grpc::ServerContext*,
      grpc::ServerUnaryStreamer<v1::GovernorKillSwitchRequest, v1::GovernorKillSwitchResponse>*)
      override;
  grpc::Status WatchKillSwitch(grpc::ServerContext*, const v1::WatchKillSwitchRequest*,
                               grpc::ServerWriter<v1::GovernorKillSwitchRequest>*) override;
  grpc::Status EnrollApprover(grpc::ServerContext*, const v1::EnrollApproverRequest*,
                              v1::EnrollApproverResponse*) override;

 private:
  // Identity first, then the request: refuses non-admins before reading.
  template <typename Req, typename Resp, typename Fn>
  grpc::Status AdminOnly(grpc::ServerContext* ctx, grpc::ServerUnaryStreamer<Req, Resp>* stream,
                         const char* what, Fn fn);

  Governor* g_;
  const std::set<std::string> admins_;
  Console* console_;
};

}  // namespace taogate::governance
