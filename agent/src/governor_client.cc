#include "taogate/agent/governor_client.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "governor.grpc.pb.h"

namespace taogate::agent {
namespace {

std::chrono::system_clock::time_point At(int64_t unix_ms) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(unix_ms));
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

struct GrpcGovernorClient::Impl {
  std::string address;
  std::mutex mu;
  std::shared_ptr<v1::Governor::Stub> stub;  // guarded by mu
  std::set<grpc::ClientContext*> active;  // guarded by mu
  bool cancelled = false;

  // Registers ctx for CancelAll; false if cancelled already.
  bool Enter(grpc::ClientContext* ctx) {
    std::lock_guard l(mu);
    if (cancelled) return false;
    active.insert(ctx);
    return true;
  }
  std::shared_ptr<v1::Governor::Stub> Stub() {
    std::lock_guard l(mu);
    return stub;
  }
  void Leave(grpc::ClientContext* ctx) {
    std::lock_guard l(mu);
    active.erase(ctx);
  }
};

namespace {
struct Registered {
  GrpcGovernorClient::Impl* impl;
  grpc::ClientContext* ctx;
  bool ok;
  Registered(GrpcGovernorClient::Impl* i, grpc::ClientContext* c) : impl(i), ctx(c), ok(i->Enter(c)) {}
  ~Registered() {
    if (ok) impl->Leave(ctx);
  }
};
}  // namespace

GrpcGovernorClient::GrpcGovernorClient(const std::string& address, const rpc::ClientTls& tls)
    : impl_(std::make_unique<Impl>()) {
  impl_->address = address;
  impl_->stub = v1::Governor::NewStub(rpc::MakeGovernorChannel(address, tls));
}

void GrpcGovernorClient::SetTls(const rpc::ClientTls& tls) {
  std::shared_ptr<v1::Governor::Stub> next = v1::Governor::NewStub(rpc::MakeGovernorChannel(impl_->address, tls));
  std::lock_guard l(impl_->mu);
  impl_->stub = std::move(next);
}

GrpcGovernorClient::~GrpcGovernorClient() = default;

void GrpcGovernorClient::CancelAll() {
  std::lock_guard l(impl_->mu);
  impl_->cancelled = true;
  for (auto* c : impl_->active) c->TryCancel();
}

absl::StatusOr<v1::Decision> GrpcGovernorClient::RequestAuthorization(const v1::AuthorizationRequest& req,
                                                                      int64_t deadline_ms) {
  grpc::ClientContext ctx;
  ctx.set_deadline(At(deadline_ms));
  ctx.set_wait_for_ready(false);
  Registered reg(impl_.get(), &ctx);
  if (!reg.ok) return absl::UnavailableError("agent stopping");
  v1::Decision d;
  grpc::Status s = impl_->Stub()->RequestAuthorization(&ctx, req, &d);
  if (!s.ok()) return rpc::FromGrpc(s);
  return d;
}

absl::StatusOr<v1::Decision> GrpcGovernorClient::WaitDecision(const std::string& id, int64_t deadline_ms) {
  v1::GetDecisionRequest req;
  req.set_decision_id(id);
  absl::Status last_error = absl::UnavailableError("no decision");
  // A stream that ends early (governor restart) is re-opened until the
  // deadline; a pause keeps a governor that is down from being hammered.
  while (NowMs() < deadline_ms) {
    grpc::ClientContext ctx;
    ctx.set_deadline(At(deadline_ms));
    ctx.set_wait_for_ready(false);
    Registered reg(impl_.get(), &ctx);
    if (!reg.ok) return absl::UnavailableError("agent stopping");
    auto stub = impl_->Stub();
    auto reader = stub->WatchDecision(&ctx, req);
    v1::Decision d;
    bool seen = false;
    while (reader->Read(&d)) {
      seen = true;
      if (d.outcome() != v1::OUTCOME_PENDING_APPROVAL) {
        ctx.TryCancel();
        (void)reader->Finish();
        return d;
      }
    }
    grpc::Status s = reader->Finish();
    if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) return seen ? absl::StatusOr<v1::Decision>(d) : rpc::FromGrpc(s);
    if (!s.ok()) {
      last_error = rpc::FromGrpc(s);
      // Not found, invalid, denied: nothing to wait for.
      if (s.error_code() != grpc::StatusCode::UNAVAILABLE && s.error_code() != grpc::StatusCode::CANCELLED &&
          s.error_code() != grpc::StatusCode::ABORTED)
        return last_error;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(500, std::max<int64_t>(0, deadline_ms - NowMs()))));
  }
  return absl::DeadlineExceededError("approval not given in time");
}

}  // namespace taogate::agent
