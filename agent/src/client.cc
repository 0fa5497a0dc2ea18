#include "taogate/agent/client.h"

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "taogate/rpc/client.h"

namespace taogate::agent {

using rpc::FromGrpc;

std::unique_ptr<AgentClient> AgentClient::ForSocket(const std::string& path, int timeout_ms) {
  std::unique_ptr<AgentClient> c(new AgentClient());
  grpc::ChannelArguments args;
  // One connection per client object (tests use one client per workload).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  c->channel_ = grpc::CreateCustomChannel("unix:" + path, grpc::InsecureChannelCredentials(), args);
  c->stub_ = v1::Agent::NewStub(c->channel_);
  c->timeout_ms_ = timeout_ms;
  return c;
}

#define TG_CALL(Method, Req, Resp)                                                      \
  grpc::ClientContext ctx;                                                              \
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms_)); \
  /* fail fast: a refused connect (e.g. kill switch engaged) is an answer */              \
  ctx.set_wait_for_ready(false);                                                        \
  grpc::Status s = stub_->Method(&ctx, Req, &Resp)

absl::StatusOr<v1::RedeemResponse> AgentClient::Redeem(const std::string& tao_wire, std::string* reason) {
  v1::RedeemRequest req;
  req.set_tao(tao_wire);
  v1::RedeemResponse resp;
  TG_CALL(Redeem, req, resp);
  if (!s.ok()) {
    if (reason != nullptr) {
      auto md = ctx.GetServerTrailingMetadata();
      auto it = md.find("taogate-reason");
      *reason = it == md.end() ? "" : std::string(it->second.data(), it->second.size());
    }
    return FromGrpc(s);
  }
  return resp;
}

absl::StatusOr<v1::AcquireProgress> AgentClient::Acquire(
    const v1::AcquireRequest& req, bool authorize_only,
    const std::function<void(const v1::AcquireProgress&)>& on_progress) {
  grpc::ClientContext ctx;
  // The agent bounds the wait itself (timeout_ms, capped); allow for it.
  int64_t wait_ms = req.timeout_ms() == 0 ? 3'600'000 : static_cast<int64_t>(req.timeout_ms());
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(wait_ms + timeout_ms_));
  ctx.set_wait_for_ready(false);
  auto reader = authorize_only ? stub_->Authorize(&ctx, req) : stub_->Acquire(&ctx, req);
  v1::AcquireProgress p, last;
  bool any = false;
  while (reader->Read(&p)) {
    if (on_progress) on_progress(p);
    last = p;
    any = true;
  }
  grpc::Status s = reader->Finish();
  if (!s.ok()) return FromGrpc(s);
  if (!any) return absl::UnavailableError("agent closed the stream without an answer");
  return last;
}

absl::StatusOr<v1::WhyResponse> AgentClient::Why(const v1::WhyRequest& req) {
  v1::WhyResponse resp;
  TG_CALL(Why, req, resp);
  if (!s.ok()) return FromGrpc(s);
  return resp;
}

absl::StatusOr<v1::StatusResponse> AgentClient::Status() {
  v1::StatusResponse resp;
  TG_CALL(Status, v1::StatusRequest(), resp);
  if (!s.ok()) return FromGrpc(s);
  return resp;
}

absl::StatusOr<v1::ProbeResponse> AgentClient::Probe() {
  v1::ProbeResponse resp;
  TG_CALL(Probe, v1::ProbeRequest(), resp);
  if (!s.ok()) return FromGrpc(s);
  return resp;
}

absl::StatusOr<v1::KillSwitchResponse> AgentClient::KillSwitch(const v1::KillSwitchRequest& req) {
  v1::KillSwitchResponse resp;
  TG_CALL(KillSwitch, req, resp);
  if (!s.ok()) return FromGrpc(s);
  return resp;
}

absl::StatusOr<v1::LedgerTailResponse> AgentClient::LedgerTail(uint32_t count) {
  v1::LedgerTailRequest req;
  req.set_count(count);
  v1::LedgerTailResponse resp;
  TG_CALL(LedgerTail, req, resp);
  if (!s.ok()) return FromGrpc(s);
  return resp;
}

absl::StatusOr<v1::LedgerTailResponse> AgentClient::LedgerRead(uint64_t from_seq, uint32_t max_records) {
  v1::LedgerReadRequest req;
  req.set_from_seq(from_seq);
  req.set_max_records(max_records);
  v1::LedgerTailResponse resp;
  TG_CALL(LedgerRead, req, resp);
  if (!s.ok()) return FromGrpc(s);
  return resp;
}

absl::StatusOr<v1::LedgerProofResponse> AgentClient::LedgerProof(uint64_t seq, uint64_t tree_size) {
  v1::LedgerProofRequest req;
  req.set_seq(seq);
  req.set_tree_size(tree_size);
  v1::LedgerProofResponse resp;
  TG_CALL(LedgerProof, req, resp);
  if (!s.ok()) return FromGrpc(s);
  return resp;
}

}  // namespace taogate::agent
