#include "taogate/agent/acquire.h"

#include <algorithm>

#include "taogate/common/strings.h"
#include "taogate/runtime/metrics_text.h"
#include "taogate/tao/codec.h"
#include "taogate/target/target.h"
#include "taogate/target/target_proto.h"

namespace taogate::agent {
namespace {

constexpr size_t kMaxReasonBytes = 1024;  // the governor's bound (policies/reason.h)

bool Clean(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c < 0x20 || c == 0x7f;
  });
}

// The bundle's id syntax: [A-Za-z0-9][A-Za-z0-9._:-]*, as long as a TAO holds.
bool IsActionClass(std::string_view s) {
  if (s.empty() || s.size() > tao::kMaxActionClassBytes) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  return alnum(s[0]) && std::all_of(s.begin(), s.end(), [&](char c) {
           return alnum(c) || c == '.' || c == '_' || c == '-' || c == ':';
         });
}

v1::AcquireProgress Refused(std::string_view code, absl::string_view message) {
  v1::AcquireProgress p;
  p.set_phase(v1::AcquireProgress::REFUSED);
  p.set_reason_code(std::string(code));
  p.set_message(std::string(message.substr(0, 512)));
  return p;
}

}  // namespace

const char* GovernorErrorCode(const absl::Status& st) {
  switch (st.code()) {
    case absl::StatusCode::kDeadlineExceeded: return reason::kTimeout;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition: return reason::kInvalid;
    case absl::StatusCode::kResourceExhausted: return reason::kRateLimited;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated: return reason::kDenied;
    default: return reason::kUnavailable;
  }
}

Acquirer::Acquirer(AcquireOptions options, GovernorClient* governor, Attester& attester, Redeemer& redeemer,
                   const Clock& clock)
    : options_(options), governor_(governor), attester_(attester), redeemer_(redeemer), clock_(clock) {}

absl::Status Acquirer::Validate(const v1::AcquireRequest& req, v1::Target* target) const {
  auto t = target::Parse(req.target(), target::Form::kDestination);
  if (!t.ok()) return absl::InvalidArgumentError(StrCat("target: ", t.status().message()));
  if (t->network() && !t->one_destination())
    return absl::InvalidArgumentError("target: one destination (one address, one port)");
  *target = target::ToProto(*t);
  if (!IsActionClass(req.action_class()))
    return absl::InvalidArgumentError(
        StrCat("action_class: an id of at most ", tao::kMaxActionClassBytes, " bytes ([A-Za-z0-9][A-Za-z0-9._:-]*)"));
  if (req.reason().empty()) return absl::InvalidArgumentError("reason: required");
  if (req.reason().size() > kMaxReasonBytes)
    return absl::InvalidArgumentError(StrCat("reason: at most ", kMaxReasonBytes, " bytes"));
  if (!Clean(req.reason())) return absl::InvalidArgumentError("reason: contains control characters");
  if (req.annotations_size() > static_cast<int>(options_.max_annotations))
    return absl::InvalidArgumentError(StrCat("annotations: at most ", options_.max_annotations));
  for (const auto& [k, v] : req.annotations()) {
    if (k.empty() || k.size() > options_.max_annotation_bytes || v.size() > options_.max_annotation_bytes ||
        !Clean(k) || !Clean(v))
      return absl::InvalidArgumentError(StrCat("annotations: keys 1..", options_.max_annotation_bytes,
                                               " bytes, values at most as long, no control characters"));
  }
  return absl::OkStatus();
}

bool Acquirer::Admit(uint64_t workload) {
  const int64_t now = clock_.MonoMs();
  std::lock_guard l(mu_);
  auto it = buckets_.find(workload);
  if (it == buckets_.end()) {
    if (buckets_.size() >= options_.max_workloads) {
      // Forget idle workloads whose bucket refilled: they start full anyway.
      for (auto i = buckets_.begin(); i != buckets_.end();) {
        bool full = i->second.tokens + (now - i->second.last_ms) * options_.rate_per_s / 1000.0 >= options_.burst;
        i = i->second.in_flight == 0 && full ? buckets_.erase(i) : std::next(i);
      }
      if (buckets_.size() >= options_.max_workloads) return false;
    }
    it = buckets_.emplace(workload, Bucket{static_cast<double>(options_.burst), now, 0}).first;
  }
  Bucket& b = it->second;
  b.tokens = std::min<double>(options_.burst, b.tokens + (now - b.last_ms) * options_.rate_per_s / 1000.0);
  b.last_ms = now;
  if (b.in_flight >= options_.max_in_flight || b.tokens < 1) return false;
  b.tokens -= 1;
  ++b.in_flight;
  return true;
}

void Acquirer::Done(uint64_t workload) {
  std::lock_guard l(mu_);
  auto it = buckets_.find(workload);
  if (it != buckets_.end() && it->second.in_flight > 0) --it->second.in_flight;
}

std::map<std::string, uint64_t> Acquirer::outcomes() const {
  std::lock_guard l(mu_);
  return outcomes_;
}

std::string Acquirer::LatencyText() const {
  return StrCat(runtime::Family("taogate_agent_acquire_seconds", "histogram",
                                "Acquire/Authorize latency, arrival to last message (approval waits included)."),
                latency_[0].Samples("taogate_agent_acquire_seconds", "outcome=\"granted\""),
                latency_[1].Samples("taogate_agent_acquire_seconds", "outcome=\"authorized\""),
                latency_[2].Samples("taogate_agent_acquire_seconds", "outcome=\"refused\""));
}

void Acquirer::Run(const v1::AcquireRequest& req, const PeerIdentity& peer, int socket_fd, bool redeem,
                   const Emit& caller_emit) {
  // Counts each call's last message by outcome (a bounded set of codes) and its latency.
  const int64_t start_ns = clock_.MonoNs();
  auto emit = [&](const v1::AcquireProgress& p) {
    const bool refused = p.phase() == v1::AcquireProgress::REFUSED;
    if (refused || p.phase() == v1::AcquireProgress::GRANTED || p.phase() == v1::AcquireProgress::AUTHORIZED) {
      latency_[refused ? 2 : p.phase() == v1::AcquireProgress::GRANTED ? 0 : 1].Observe(clock_.MonoNs() - start_ns);
      std::lock_guard l(mu_);
      ++outcomes_[refused ? p.reason_code() : v1::AcquireProgress::Phase_Name(p.phase())];
    }
    return caller_emit(p);
  };
  const uint64_t workload = peer.workload_cgroup_id != 0 ? peer.workload_cgroup_id : peer.cgroup_id;
  if (!Admit(workload)) {
    emit(Refused(reason::kRateLimited, "too many acquires from this workload; retry later"));
    return;
  }
  struct Release {
    Acquirer* a;
    uint64_t w;
    ~Release() { a->Done(w); }
  } release{this, workload};

  auto att = attester_.Attest(peer, socket_fd);
  if (!att.ok()) {
    emit(Refused(reason::kNotAttested, att.status().message()));
    return;
  }
  v1::Target target;
  if (absl::Status st = Validate(req, &target); !st.ok()) {
    emit(Refused(reason::kInvalid, st.message()));
    return;
  }
  v1::AcquireProgress p;
  p.set_phase(v1::AcquireProgress::ATTESTED);
  p.set_workload(att->workload);
  p.set_message(StrCat("exe ", att->facts.exe_path(), " sha256 ", att->facts.exe_sha256(), " uid ", att->facts.uid()));
  if (!emit(p)) return;
  if (governor_ == nullptr) {
    emit(Refused(reason::kUnavailable, "no governor is configured on this node"));
    return;
  }
  const int64_t wait = req.timeout_ms() == 0 ? options_.max_wait_ms
                                             : std::min<int64_t>(req.timeout_ms(), options_.max_wait_ms);
  const int64_t deadline = clock_.WallMs() + wait;

  v1::AuthorizationRequest ar;
  // The binding the governor takes from `attested`; set too for a governor
  // that validates it anyway (same values, never the caller's).
  ar.mutable_binding()->set_node_id(att->facts.node_id());
  ar.mutable_binding()->set_cgroup_id(att->facts.cgroup_id());
  ar.mutable_binding()->set_pod_uid(att->facts.pod_uid());
  ar.set_action_class(req.action_class());
  *ar.mutable_target() = target;
  ar.set_reason(req.reason());
  // Checked above, and again by the governor, which records them: context
  // for an auditor, never a selector, never trusted.
  *ar.mutable_annotations() = req.annotations();
  *ar.mutable_attested() = att->facts;
  auto d = governor_->RequestAuthorization(ar, deadline);
  if (d.ok() && d->outcome() == v1::OUTCOME_PENDING_APPROVAL) {
    v1::AcquireProgress pend;
    pend.set_phase(v1::AcquireProgress::PENDING_APPROVAL);
    pend.set_decision_id(d->decision_id());
    pend.set_message(StrCat("waiting for approval (", d->approvals_given(), " of ", d->approvals_needed(), ")"));
    if (!emit(pend)) return;
    auto w = governor_->WaitDecision(d->decision_id(), deadline);
    if (!w.ok() && clock_.WallMs() >= deadline) w = absl::DeadlineExceededError("approval not given in time");
    d = std::move(w);
  }
  v1::AcquireProgress last = Final(d, *att, redeem);
  if (d.ok()) last.set_decision_id(d->decision_id());
  emit(last);
}

v1::AcquireProgress Acquirer::Final(const absl::StatusOr<v1::Decision>& d, const Attestation& a, bool redeem) {
  if (!d.ok()) return Refused(GovernorErrorCode(d.status()), StrCat("governor: ", d.status().message()));
  switch (d->outcome()) {
    case v1::OUTCOME_PERMIT: break;
    case v1::OUTCOME_DENY: return Refused(reason::kDenied, StrCat("denied by rule ", d->rule(), ": ", d->reason()));
    case v1::OUTCOME_REJECTED: return Refused(reason::kRejected, "an approver rejected the request");
    case v1::OUTCOME_EXPIRED: return Refused(reason::kExpired, "the approval window passed");
    case v1::OUTCOME_PENDING_APPROVAL: return Refused(reason::kTimeout, "still pending at the deadline");
    default: return Refused(reason::kUnavailable, "governor answered no outcome");
  }
  auto tao = tao::DecodeTao(d->tao());
  auto body = tao.ok() ? tao::DecodeBody(tao->body()) : absl::StatusOr<v1::TaoBody>(tao.status());
  if (!body.ok()) return Refused(reason::kMalformed, StrCat("governor's TAO: ", body.status().message()));
  v1::AcquireProgress p;
  p.set_tao_id(body->id());
  auto t = target::FromProto(body->target());
  p.set_target(t.ok() ? target::Format(*t) : "");
  if (!redeem) {
    p.set_phase(v1::AcquireProgress::AUTHORIZED);
    p.set_tao(d->tao());
    p.set_expires_at_ms(body->expires_at_ms());
    return p;
  }
  // The TAO goes to the attested process only: not to whoever holds its pid
  // now, nor to what it exec'd since.
  if (absl::Status st = a.still_same(); !st.ok()) return Refused(reason::kPeerChanged, st.message());
  RedeemOutcome out = redeemer_.Redeem(d->tao(), a.peer);
  if (!out.status.ok()) return Refused(out.reason_code, out.status.message());
  p.set_phase(v1::AcquireProgress::GRANTED);
  p.set_expires_at_ms(out.grant_expires_at_ms);
  p.set_consumed_seq(out.consumed_seq);
  return p;
}

}  // namespace taogate::agent
