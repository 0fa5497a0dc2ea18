#include "taogate/agent/service.h"

#include <chrono>

#include "taogate/common/hex.h"
#include "taogate/common/path.h"
#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/rpc/status.h"

namespace taogate::agent {

using rpc::ToGrpc;

AgentServiceImpl::AgentServiceImpl(ServiceOptions opts, Redeemer& redeemer, NodeControl& control)
    : opts_(std::move(opts)), redeemer_(redeemer), control_(control) {}

absl::StatusOr<PeerIdentity> AgentServiceImpl::Peer(grpc::ServerContext* ctx) const {
  int fd = FdFromGrpcPeer(ctx->peer());
  if (fd < 0) return absl::PermissionDeniedError(StrCat("unidentifiable peer ", ctx->peer()));
  TG_ASSIGN_OR_RETURN(PeerIdentity p, PeerOfSocket(fd, opts_.cgroup2_mount));
  TG_RETURN_IF_ERROR(ResolveWorkload(p, opts_.cgroup2_mount, opts_.governed_root, opts_.pods_root));
  return p;
}

grpc::Status AgentServiceImpl::AuthorizeOperator(grpc::ServerContext* ctx, std::string_view method,
                                                 PeerIdentity* who) {
  auto peer = Peer(ctx);
  std::string why;
  if (!opts_.operator_socket) {
    why = "operator calls are not served on the workload socket";
  } else if (!peer.ok()) {
    why = std::string(peer.status().message());
  } else if (opts_.operator_uids.count(peer->uid) == 0) {
    why = StrCat("uid ", peer->uid, " is not an operator");
  } else if (PathUnder(peer->cgroup_path, opts_.governed_root) &&
             (!opts_.pods_root || !opts_.pod_governed || opts_.pod_governed(peer->workload_cgroup_id))) {
    why = "governed workloads may not make operator calls";
  }
  if (why.empty()) {
    *who = *peer;
    return grpc::Status::OK;
  }
  // Bounded like refused redeems: the first per (caller, reason) is its own
  // record (and one log line), repeats are summarized (refusal_recorder.h).
  const PeerIdentity* p = peer.ok() ? &*peer : nullptr;
  auto recorded = redeemer_.refusals().Record(Evidence::Kind::kOperatorRefused, RefusalPeer::Of(p),
                                              "OPERATOR_ONLY", [&] {
    Evidence::Fields f = {{"reason_code", "OPERATOR_ONLY"}, {"event", std::string(method)}, {"reason", why}};
    if (p != nullptr) {
      f.emplace_back("cgroup_id", std::to_string(p->cgroup_id));
      f.emplace_back("pid", std::to_string(p->pid));
      f.emplace_back("uid", std::to_string(p->uid));
    }
    return f;
  });
  if (!recorded.ok() || *recorded)
    log::Warn("operator call refused", {{"method", std::string(method)}, {"reason", why}});
  if (!recorded.ok()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "refused; ledger unavailable");
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, StrCat("OPERATOR_ONLY: ", why));
}

grpc::Status AgentServiceImpl::Redeem(grpc::ServerContext* ctx, const v1::RedeemRequest* req,
                                      v1::RedeemResponse* resp) {
  auto start = std::chrono::steady_clock::now();
  auto peer = Peer(ctx);
  RedeemOutcome out = peer.ok() ? redeemer_.Redeem(req->tao(), *peer)
                                : redeemer_.RejectUnknownPeer(req->tao(), peer.status());
  if (opts_.on_redeem)
    opts_.on_redeem(out, std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::steady_clock::now() - start).count());
  if (!out.status.ok()) {
    ctx->AddTrailingMetadata("taogate-reason", out.reason_code);
    return ToGrpc(out.status);
  }
  resp->set_tao_id(out.tao_id.data(), out.tao_id.size());
  resp->set_consumed_seq(out.consumed_seq);
  resp->set_grant_expires_at_ms(out.grant_expires_at_ms);
  return grpc::Status::OK;
}

grpc::Status AgentServiceImpl::Acquire(grpc::ServerContext* ctx, const v1::AcquireRequest* req,
                                       grpc::ServerWriter<v1::AcquireProgress>* writer) {
  return RunAcquire(ctx, *req, writer, true);
}

grpc::Status AgentServiceImpl::Authorize(grpc::ServerContext* ctx, const v1::AcquireRequest* req,
                                         grpc::ServerWriter<v1::AcquireProgress>* writer) {
  return RunAcquire(ctx, *req, writer, false);
}

grpc::Status AgentServiceImpl::RunAcquire(grpc::ServerContext* ctx, const v1::AcquireRequest& req,
                                          grpc::ServerWriter<v1::AcquireProgress>* writer, bool redeem) {
  // Operators do not acquire for themselves; a workload never reaches the
  // operator socket anyway.
  if (opts_.operator_socket)
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "Acquire/Authorize are served on the workload socket only");
  auto refuse = [&](const char* code, std::string_view why) {
    v1::AcquireProgress p;
    p.set_phase(v1::AcquireProgress::REFUSED);
    p.set_reason_code(code);
    p.set_message(std::string(why));
    writer->Write(p);
    return grpc::Status::OK;
  };
  if (opts_.acquirer == nullptr) return refuse(reason::kUnavailable, "acquire is not available on this agent");
  auto peer = Peer(ctx);
  if (!peer.ok()) return refuse(reason::kPeerUnknown, std::string(peer.status().message()));
  opts_.acquirer->Run(req, *peer, FdFromGrpcPeer(ctx->peer()), redeem,
                      [writer](const v1::AcquireProgress& p) { return writer->Write(p); });
  return grpc::Status::OK;
}

grpc::Status AgentServiceImpl::Why(grpc::ServerContext* ctx, const v1::WhyRequest* req, v1::WhyResponse* resp) {
  if (opts_.denials == nullptr) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "no denial log on this agent");
  uint32_t pid = req->pid();
  uint64_t cgroup_id = req->cgroup_id();
  if (opts_.operator_socket) {
    PeerIdentity who;
    if (auto st = AuthorizeOperator(ctx, "Why", &who); !st.ok()) return st;
  } else {
    // A workload sees its own workload's denials, whatever it names.
    auto peer = Peer(ctx);
    if (!peer.ok()) return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, std::string(peer.status().message()));
    const uint64_t own = peer->workload_cgroup_id;
    if (own == 0)
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "NOT_GOVERNED: caller is not a governed workload");
    if ((cgroup_id != 0 && cgroup_id != own) || (pid != 0 && opts_.denials->PidDeniedElsewhere(pid, own)))
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "NOT_YOURS: another workload's denials");
    cgroup_id = own;
  }
  size_t limit = req->limit() == 0 ? 16 : std::min<uint32_t>(req->limit(), 256);
  for (const Denial& d : opts_.denials->Query(pid, cgroup_id, limit)) {
    v1::Denial* out = resp->add_denials();
    out->set_time_ms(d.time_ms);
    out->set_reason(d.reason);
    out->set_target(d.target);
    out->set_pid(d.pid);
    out->set_cgroup_id(d.cgroup_id);
    out->set_hook(d.hook);
    if (d.has_tao) out->set_tao_id(d.tao_id.data(), d.tao_id.size());
    out->set_consumed_at_ms(d.consumed_at_ms);
    out->set_count(d.count);
  }
  return grpc::Status::OK;
}

grpc::Status AgentServiceImpl::Status(grpc::ServerContext* ctx, const v1::StatusRequest*,
                                      v1::StatusResponse* resp) {
  PeerIdentity who;
  if (auto st = AuthorizeOperator(ctx, "Status", &who); !st.ok()) return st;
  control_.FillStatus(resp);
  return grpc::Status::OK;
}

grpc::Status AgentServiceImpl::Probe(grpc::ServerContext* ctx, const v1::ProbeRequest*,
                                     v1::ProbeResponse* resp) {
  PeerIdentity who;
  if (auto st = AuthorizeOperator(ctx, "Probe", &who); !st.ok()) return st;
  control_.FillProbe(resp);
  return grpc::Status::OK;
}

grpc::Status AgentServiceImpl::KillSwitch(grpc::ServerContext* ctx, const v1::KillSwitchRequest* req,
                                          v1::KillSwitchResponse* resp) {
  PeerIdentity who;
  if (auto st = AuthorizeOperator(ctx, "KillSwitch", &who); !st.ok()) return st;
  auto r = control_.KillSwitch(*req, who);
  if (!r.ok()) return ToGrpc(r.status());
  *resp = *r;
  return grpc::Status::OK;
}

grpc::Status AgentServiceImpl::LedgerTail(grpc::ServerContext* ctx, const v1::LedgerTailRequest* req,
                                          v1::LedgerTailResponse* resp) {
  PeerIdentity who;
  if (auto st = AuthorizeOperator(ctx, "LedgerTail", &who); !st.ok()) return st;
  uint32_t n = req->count() == 0 ? 20 : std::min<uint32_t>(req->count(), 1000);
  auto r = control_.LedgerTail(n);
  if (!r.ok()) return ToGrpc(r.status());
  *resp = *r;
  return grpc::Status::OK;
}

grpc::Status AgentServiceImpl::LedgerRead(grpc::ServerContext* ctx, const v1::LedgerReadRequest* req,
                                          v1::LedgerTailResponse* resp) {
  PeerIdentity who;
  if (auto st = AuthorizeOperator(ctx, "LedgerRead", &who); !st.ok()) return st;
  uint32_t n = req->max_records() == 0 ? 1000 : std::min<uint32_t>(req->max_records(), 1000);
  auto r = control_.LedgerRead(req->from_seq(), n);
  if (!r.ok()) return ToGrpc(r.status());
  *resp = *std::move(r);
  return grpc::Status::OK;
}

grpc::Status AgentServiceImpl::LedgerProof(grpc::ServerContext* ctx, const v1::LedgerProofRequest* req,
                                           v1::LedgerProofResponse* resp) {
  PeerIdentity who;
  if (auto st = AuthorizeOperator(ctx, "LedgerProof", &who); !st.ok()) return st;
  auto r = control_.LedgerProof(req->seq(), req->tree_size());
  if (!r.ok()) return ToGrpc(r.status());
  *resp = *r;
  return grpc::Status::OK;
}

}  // namespace taogate::agent
