#include "taogate/governance/service.h"

#include <grpc/grpc_security_constants.h>

#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/governance/x509.h"
#include "taogate/rpc/status.h"

namespace taogate::governance {
namespace {

using rpc::ToGrpc;

// Runs `fn(actor)` for an authenticated caller; UNAUTHENTICATED otherwise.
template <typename Fn>
grpc::Status WithActor(grpc::ServerContext* ctx, Fn fn) {
  auto actor = PeerActor(*ctx);
  if (!actor.ok()) {
    log::Warn("unauthenticated call", {{"peer", ctx->peer()},
                                       {"error", std::string(actor.status().message())}});
    return ToGrpc(actor.status());
  }
  return ToGrpc(fn(*actor));
}

template <typename T>
absl::Status Assign(absl::StatusOr<T> r, T* out) {
  if (!r.ok()) return r.status();
  *out = *std::move(r);
  return absl::OkStatus();
}

auto Soon(int ms) { return std::chrono::steady_clock::now() + std::chrono::milliseconds(ms); }

}  // namespace

absl::StatusOr<std::string> PeerActor(const grpc::ServerContext& ctx) {
  auto auth = ctx.auth_context();
  if (!auth || !auth->IsPeerAuthenticated())
    return absl::UnauthenticatedError("no verified client certificate");
  // gRPC already parsed the verified certificate's URI SANs ("peer_uri");
  // use them rather than re-decoding the PEM on every call (OpenSSL 3's PEM
  // decoder costs more than the rest of RequestAuthorization).
  auto uri_props = auth->FindPropertyValues(GRPC_PEER_URI_PROPERTY_NAME);
  if (!uri_props.empty()) {
    if (uri_props.size() != 1)
      return absl::UnauthenticatedError("client certificate must carry exactly one URI SAN");
    return std::string(uri_props[0].data(), uri_props[0].size());
  }
  // Fallback (no peer_uri property): parse the peer certificate ourselves.
  auto pems = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pems.size() != 1) return absl::UnauthenticatedError("no verified client certificate");
  auto uris = UriSansFromPem(std::string_view(pems[0].data(), pems[0].size()));
  if (!uris.ok()) return absl::UnauthenticatedError(uris.status().message());
  if (uris->size() != 1)
    return absl::UnauthenticatedError("client certificate must carry exactly one URI SAN");
  return (*uris)[0];
}

template <typename Req, typename Resp, typename Fn>
grpc::Status GovernorService::AdminOnly(grpc::ServerContext* ctx,
                                        grpc::ServerUnaryStreamer<Req, Resp>* stream,
                                        const char* what, Fn fn) {
  auto actor = PeerActor(*ctx);
  if (!actor.ok()) return ToGrpc(actor.status());
  if (admins_.count(*actor) == 0) {
    // Refused before the request is read: gRPC never buffers its body.
    log::Warn("admin-only call refused before reading it",
              {{"actor", *actor}, {"method", what}});
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        StrCat("only governor admins ", what));
  }
  Req req;
  if (!stream->Read(&req))
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        StrCat("request not received (larger than ", kMaxRequestBytes,
                               " bytes, or the client went away)"));
  auto r = fn(*actor, req);
  if (!r.ok()) return ToGrpc(r.status());
  if (!stream->Write(*r)) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
  return grpc::Status::OK;
}

grpc::Status GovernorService::RequestAuthorization(grpc::ServerContext* ctx,
                                                   const v1::AuthorizationRequest* req,
                                                   v1::Decision* out) {
  return WithActor(ctx, [&](const std::string& a) {
    return Assign(g_->RequestAuthorization(a, *req), out);
  });
}

grpc::Status GovernorService::GetDecision(grpc::ServerContext* ctx,
                                          const v1::GetDecisionRequest* req, v1::Decision* out) {
  return WithActor(ctx, [&](const std::string& a) {
    return Assign(g_->GetDecision(a, req->decision_id()), out);
  });
}

grpc::Status GovernorService::WatchDecision(grpc::ServerContext* ctx,
                                            const v1::GetDecisionRequest* req,
                                            grpc::ServerWriter<v1::Decision>* w) {
  return WithActor(ctx, [&](const std::string& a) -> absl::Status {
    uint64_t seen = 0;
    while (!ctx->IsCancelled() && !g_->shutting_down()) {
      auto r = g_->WaitDecision(a, req->decision_id(), seen, Soon(1000));
      if (!r.ok()) return r.status();
      if (r->second == seen) continue;
      seen = r->second;
      if (!w->Write(r->first)) return absl::CancelledError("client went away");
      if (r->first.outcome() != v1::OUTCOME_PENDING_APPROVAL) return absl::OkStatus();
    }
    return absl::UnavailableError("governor shutting down");
  });
}

grpc::Status GovernorService::Approve(grpc::ServerContext* ctx, const v1::ApprovalRequest* req,
                                      v1::Decision* out) {
  return WithActor(ctx, [&](const std::string& a) {
    return Assign(g_->Approve(a, *req, true), out);
  });
}

grpc::Status GovernorService::Reject(grpc::ServerContext* ctx, const v1::ApprovalRequest* req,
                                     v1::Decision* out) {
  return WithActor(ctx, [&](const std::string& a) {
    return Assign(g_->Approve(a, *req, false), out);
  });
}

grpc::Status GovernorService::BreakGlass(grpc::ServerContext* ctx,
                                         const v1::BreakGlassRequest* req, v1::Decision* out) {
  return WithActor(ctx, [&](const std::string& a) { return Assign(g_->BreakGlass(a, *req), out); });
}

grpc::Status GovernorService::StreamedReview(
    grpc::ServerContext* ctx, grpc::ServerUnaryStreamer<v1::ReviewRequest, v1::ReviewResponse>* s) {
  return AdminOnly(ctx, s, "review break-glass", [&](const std::string& a, const v1::ReviewRequest& r) {
    return g_->Review(a, r);
  });
}

grpc::Status GovernorService::StreamedActivatePolicy(
    grpc::ServerContext* ctx,
    grpc::ServerUnaryStreamer<v1::ActivatePolicyRequest, v1::ActivatePolicyResponse>* s) {
  return AdminOnly(ctx, s, "activate policy",
                   [&](const std::string& a, const v1::ActivatePolicyRequest& r) {
                     return g_->ActivatePolicy(a, r);
                   });
}

grpc::Status GovernorService::GetPolicy(grpc::ServerContext* ctx, const v1::GetPolicyRequest*,
                                        v1::GetPolicyResponse* out) {
  return WithActor(ctx, [&](const std::string&) {
    *out = g_->GetPolicy();
    return absl::OkStatus();
  });
}

grpc::Status GovernorService::WatchProtectedTargets(grpc::ServerContext* ctx,
                                                    const v1::WatchProtectedTargetsRequest*,
                                                    grpc::ServerWriter<v1::ProtectedTargets>* w) {
  return WithActor(ctx, [&](const std::string&) -> absl::Status {
    auto [targets, version] = g_->ProtectedTargets();
    if (!w->Write(targets)) return absl::CancelledError("client went away");
    while (!ctx->IsCancelled() && !g_->shutting_down()) {
      if (!g_->WaitPolicyChange(version, Soon(1000))) continue;
      std::tie(targets, version) = g_->ProtectedTargets();
      if (!w->Write(targets)) return absl::CancelledError("client went away");
    }
    return absl::UnavailableError("governor shutting down");
  });
}

grpc::Status GovernorService::LedgerCheckpoint(grpc::ServerContext* ctx,
                                               const v1::LedgerCheckpointRequest*,
                                               v1::LedgerCheckpointResponse* out) {
  return WithActor(ctx, [&](const std::string&) { return Assign(g_->Checkpoint(), out); });
}

grpc::Status GovernorService::LedgerProof(grpc::ServerContext* ctx,
                                          const v1::GovernorLedgerProofRequest* req,
                                          v1::GovernorLedgerProofResponse* out) {
  return WithActor(ctx, [&](const std::string&) {
    return Assign(g_->Proof(req->seq(), req->tree_size()), out);
  });
}

grpc::Status GovernorService::LedgerRead(grpc::ServerContext* ctx,
                                         const v1::GovernorLedgerReadRequest* req,
                                         v1::GovernorLedgerReadResponse* out) {
  return WithActor(ctx, [&](const std::string& a) { return Assign(g_->LedgerRead(a, *req), out); });
}

grpc::Status GovernorService::StreamedKillSwitch(
    grpc::ServerContext* ctx,
    grpc::ServerUnaryStreamer<v1::GovernorKillSwitchRequest, v1::GovernorKillSwitchResponse>* s) {
  return AdminOnly(ctx, s, "use the kill switch",
                   [&](const std::string& a, const v1::GovernorKillSwitchRequest& r) {
                     return g_->KillSwitch(a, r);
                   });
}

grpc::Status GovernorService::EnrollApprover(grpc::ServerContext* ctx, const v1::EnrollApproverRequest* req,
                                             v1::EnrollApproverResponse* out) {
  return WithActor(ctx, [&](const std::string& a) -> absl::Status {
    if (!g_->IsAdmin(a)) return absl::PermissionDeniedError("only governor admins enroll approvers");
    if (console_ == nullptr)
      return absl::FailedPreconditionError("this governor serves no console (set console_listen)");
    bool known = false;
    for (const auto& actor : g_->policy()->bundle().actors) known = known || actor.identity == req->identity();
    if (!known)
      return absl::NotFoundError(StrCat("\"", req->identity(), "\" is not an actor of the active policy bundle"));
    int64_t until = 0;
    TG_ASSIGN_OR_RETURN(std::string link, console_->MintEnrollmentLink(req->identity(), &until));
    log::Info("console: enrollment link issued", {{"actor", a}, {"identity", req->identity()}});
    out->set_link(link);
    out->set_expires_at_ms(until);
    return absl::OkStatus();
  });
}

grpc::Status GovernorService::WatchKillSwitch(
    grpc::ServerContext* ctx, const v1::WatchKillSwitchRequest* req,
    grpc::ServerWriter<v1::GovernorKillSwitchRequest>* w) {
  return WithActor(ctx, [&](const std::string&) -> absl::Status {
    uint64_t after = 0;
    // The whole history first (an agent that reconnects converges to the
    // latest state), then every new broadcast.
    auto msgs = g_->WaitKillSwitch(req->node_id(), 0, Soon(0), &after);
    while (true) {
      for (const auto& m : msgs)
        if (!w->Write(m)) return absl::CancelledError("client went away");
      if (ctx->IsCancelled() || g_->shutting_down()) break;
      msgs = g_->WaitKillSwitch(req->node_id(), after, Soon(1000), &after);
    }
    return absl::UnavailableError("governor shutting down");
  });
}

}  // namespace taogate::governance
