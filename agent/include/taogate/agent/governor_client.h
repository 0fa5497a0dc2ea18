// GovernorClient (acquire.h) over the agent's node mTLS identity: the same
// client certificate and CA as the governor streams (governor_watch.h), one
// long-lived channel, rebuilt by SetTls (a certificate reload: calls in
// flight finish on the old one). Calls fail fast (no wait-for-ready), so an unreachable
// governor is an UNAVAILABLE answer, not a hang. Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "taogate/agent/acquire.h"
#include "taogate/rpc/client.h"

namespace taogate::agent {

class GrpcGovernorClient final : public GovernorClient {
 public:
  GrpcGovernorClient(const std::string& address, const rpc::ClientTls& tls);
  ~GrpcGovernorClient() override;
  absl::StatusOr<v1::Decision> RequestAuthorization(const v1::AuthorizationRequest& req,
                                                    int64_t deadline_ms) override;
  absl::StatusOr<v1::Decision> WaitDecision(const std::string& id, int64_t deadline_ms) override;
  // Cancels every call in progress and every later one (agent stop: no
  // handler may stay blocked on an approval).
  void CancelAll();
  // Later calls use `tls` (a new channel).
  void SetTls(const rpc::ClientTls& tls);

  struct Impl;  // governor_client.cc only

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace taogate::agent
