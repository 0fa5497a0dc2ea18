#include "taogate/agent/redeem.h"

#include <algorithm>
#include <cstring>

#include "taogate/common/crypto.h"
#include "taogate/common/hex.h"
#include "taogate/common/path.h"
#include "taogate/common/strings.h"
#include "taogate/tao/codec.h"
#include "taogate/target/target_proto.h"

namespace taogate::agent {
namespace {

std::string TargetString(const v1::Target& t) {
  switch (t.proto()) {
    case v1::TARGET_PROTO_TCP: return StrCat("tcp:", t.address(), ":", t.port());
    case v1::TARGET_PROTO_UDP: return StrCat("udp:", t.address(), ":", t.port());
    case v1::TARGET_PROTO_UNIX: return StrCat("unix:", t.path());
    case v1::TARGET_PROTO_FILE: return StrCat("file:", t.path());
    case v1::TARGET_PROTO_EXEC: return StrCat("exec:", t.path());
    default: return "unknown";
  }
}

// True if a whole component of `path` is the pod-level cgroup kubelet
// creates for pod `uid` (canonical, tao::IsCanonicalPodUid):
//   cgroupfs driver: "pod<uid>"
//   systemd driver:  "kubepods-pod<uid_>.slice" (guaranteed QoS) or
//                    "kubepods-{burstable,besteffort}-pod<uid_>.slice"
// where uid_ has '_' for '-'. Nothing else: a component that merely contains
// the uid is another cgroup.
bool PathHasPod(std::string_view path, const std::string& uid) {
  std::string systemd_uid = uid;
  std::replace(systemd_uid.begin(), systemd_uid.end(), '-', '_');
  const std::string cgroupfs = "pod" + uid;
  const std::string suffix = "pod" + systemd_uid + ".slice";
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view comp = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    if (comp == cgroupfs) return true;
    for (std::string_view qos : {"kubepods-", "kubepods-burstable-", "kubepods-besteffort-"})
      if (comp.size() == qos.size() + suffix.size() && comp.substr(0, qos.size()) == qos &&
          comp.substr(qos.size()) == suffix)
        return true;
  }
  return false;
}

}  // namespace

size_t Redeemer::IdHash::operator()(const TaoId& id) const {
  size_t h;
  std::memcpy(&h, id.data(), sizeof(h));  // ids are uniformly random
  return h;
}

Redeemer::Redeemer(RedeemConfig config, TaoVerifier& verifier, Evidence& evidence,
                   GrantTable& grants, const Clock& clock)
    : config_(std::move(config)),
      verifier_(verifier),
      evidence_(evidence),
      grants_(grants),
      clock_(clock),
      refusals_(evidence_, config_.refusals, clock_) {}

void Redeemer::RestoreConsumed(const TaoId& id, int64_t expires_at_ms) {
  std::lock_guard<std::mutex> l(mu_);
  consumed_.emplace(id, expires_at_ms);
}

size_t Redeemer::PruneLocked(int64_t now_ms) {
  const int64_t cutoff = now_ms - config_.max_clock_skew_ms - kPruneMarginMs;
  size_t n = 0;
  for (auto it = consumed_.begin(); it != consumed_.end();) {
    if (it->second < cutoff) {
      horizon_ms_ = std::max(horizon_ms_, it->second);
      it = consumed_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  next_prune_ms_ = now_ms + kPruneEveryMs;
  return n;
}

size_t Redeemer::PruneConsumed() {
  int64_t now = clock_.WallMs();
  std::lock_guard<std::mutex> l(mu_);
  return PruneLocked(now);
}

int64_t Redeemer::horizon_ms() const {
  std::lock_guard<std::mutex> l(mu_);
  return horizon_ms_;
}

size_t Redeemer::ConsumedCount() const {
  std::lock_guard<std::mutex> l(mu_);
  return consumed_.size();
}

bool Redeemer::Claim(const TaoId& id, int64_t expires_at_ms) {
  int64_t now = clock_.WallMs();
  std::lock_guard<std::mutex> l(mu_);
  // Below the horizon the id may have been pruned: never claimable.
  if (expires_at_ms <= horizon_ms_) return false;
  if (now >= next_prune_ms_) PruneLocked(now);
  return consumed_.emplace(id, expires_at_ms).second;
}

RedeemOutcome Redeemer::Reject(absl::Status status, std::string reason_code, std::string_view wire,
                               const v1::TaoBody* body, const PeerIdentity* peer) {
  // The fields (and the hash of up to 64 KiB of wire) are built only if the
  // refusal gets its own record; repeats are counted.
  auto recorded = refusals_.Record(Evidence::Kind::kRejected, RefusalPeer::Of(peer), reason_code, [&] {
    Evidence::Fields f;
    f.emplace_back("reason_code", reason_code);
    f.emplace_back("reason", std::string(status.message()).substr(0, 200));
    f.emplace_back("tao_sha256", ToHex(crypto::Sha256(wire)));
    if (body != nullptr) {
      f.emplace_back("tao_id", ToHex(body->id()));
      f.emplace_back("actor", body->actor());
      f.emplace_back("target", TargetString(body->target()));
    }
    if (peer != nullptr) {
      f.emplace_back("cgroup_id", std::to_string(peer->cgroup_id));
      f.emplace_back("pid", std::to_string(peer->pid));
      f.emplace_back("uid", std::to_string(peer->uid));
    }
    return f;
  });
  RedeemOutcome out;
  if (!recorded.ok() && status.code() != absl::StatusCode::kUnavailable) {
    // The refusal stands; the missing record is itself an error worth surfacing.
    out.status = absl::UnavailableError(
        StrCat(reason_code, ": ", status.message(), " (and the ledger refused the record: ",
               recorded.status().message(), ")"));
  } else {
    out.status = absl::Status(status.code(), StrCat(reason_code, ": ", status.message()));
  }
  out.reason_code = std::move(reason_code);
  if (body != nullptr) std::memcpy(out.tao_id.data(), body->id().data(), out.tao_id.size());
  return out;
}

RedeemOutcome Redeemer::RejectUnknownPeer(std::string_view wire, const absl::Status& why) {
  return Reject(absl::PermissionDeniedError(std::string(why.message())), reason::kPeerUnknown, wire,
                nullptr, nullptr);
}

absl::Status Redeemer::CheckBinding(const v1::TaoBody& body, const PeerIdentity& peer,
                                    std::string* code) const {
  // Workloads live strictly below the governed root (the kernel keys grants
  // on the root's children).
  if (peer.cgroup_path == config_.governed_root ||
      !PathUnder(peer.cgroup_path, config_.governed_root)) {
    *code = reason::kNotGoverned;
    return absl::PermissionDeniedError(
        StrCat("caller cgroup ", peer.cgroup_path, " is not below the governed root"));
  }
  const auto& b = body.binding();
  *code = reason::kWrongCgroup;
  // The workload path is what the governor's policy matched; the caller's
  // real cgroup must be that path or below it (by component, as the policy's
  // cgroup_paths selectors match). Without it the TAO would bind only what
  // the requester declared (the id), so it is refused.
  const std::string& bound = b.workload_path();
  if (bound.empty())
    return absl::PermissionDeniedError(
        "TAO carries no workload path binding (issued by an older governor); request a new one");
  if (!PathUnder(peer.cgroup_path, bound))
    return absl::PermissionDeniedError(
        StrCat("TAO is bound to workload path ", bound, ", caller is in ", peer.cgroup_path));
  if (!b.pod_uid().empty() && !PathHasPod(peer.cgroup_path, b.pod_uid()))
    return absl::PermissionDeniedError("TAO is bound to another pod");
  if (b.cgroup_id() == 0) return absl::OkStatus();
  // The id may name the caller's cgroup or an ancestor, as long as that
  // ancestor is inside the bound path and strictly below the governed root
  // (a pod-level cgroup serves its containers; the root would serve all).
  std::string path = peer.cgroup_path;
  uint64_t id = peer.cgroup_id;
  while (path != config_.governed_root && PathUnder(path, bound)) {
    if (id == b.cgroup_id()) return absl::OkStatus();
    auto slash = path.rfind('/');
    if (slash == std::string::npos || slash == 0) break;
    path.resize(slash);
    if (!PathUnder(path, config_.governed_root)) break;
    auto parent = CgroupIdOfPath(config_.cgroup2_mount + path);
    if (!parent.ok()) break;
    id = *parent;
  }
  return absl::PermissionDeniedError(StrCat("TAO is bound to cgroup ", b.cgroup_id(), " in ", bound,
                                            ", caller is in cgroup ", peer.cgroup_id));
}

RedeemOutcome Redeemer::Redeem(std::string_view wire, const PeerIdentity& peer) {
  // A caller that keeps presenting bad TAOs is refused before any decoding
  // or signature verification: a flood costs a map lookup per call.
  if (!refusals_.Admit(RefusalPeer::Of(&peer)))
    return Reject(absl::ResourceExhaustedError("too many refused redeems from this caller; retry later"),
                  reason::kRateLimited, wire, nullptr, &peer);
  auto tao = tao::DecodeTao(wire);
  if (!tao.ok()) return Reject(tao.status(), reason::kMalformed, wire, nullptr, &peer);
  auto body = tao::DecodeBody(tao->body());
  if (!body.ok()) return Reject(body.status(), reason::kMalformed, wire, nullptr, &peer);

  const int64_t now = clock_.WallMs();
  if (absl::Status st = verifier_.VerifyChain(*tao, *body, now); !st.ok())
    return Reject(absl::UnauthenticatedError(std::string(st.message())), reason::kBadSignature, wire,
                  &*body, &peer);
  if (now + config_.max_clock_skew_ms < body->not_before_ms())
    return Reject(absl::FailedPreconditionError(tao::CheckTimeWindow(*body, now, config_.max_clock_skew_ms).message()),
                  reason::kNotYetValid, wire, &*body, &peer);
  if (now - config_.max_clock_skew_ms >= body->expires_at_ms())
    return Reject(absl::FailedPreconditionError(tao::CheckTimeWindow(*body, now, config_.max_clock_skew_ms).message()),
                  reason::kExpired, wire, &*body, &peer);
  if (body->binding().node_id() != config_.node_id)
    return Reject(absl::PermissionDeniedError(StrCat("TAO is bound to node ", body->binding().node_id(),
                                                     ", this is ", config_.node_id)),
                  reason::kWrongNode, wire, &*body, &peer);
  std::string code;
  if (absl::Status st = CheckBinding(*body, peer, &code); !st.ok())
    return Reject(st, code, wire, &*body, &peer);
  if (!grants_.IsProtected(body->target())) {
    // A DNS name (docs/names.md) without a current protected address set:
    // refused before the claim, so the TAO is not spent.
    auto t = target::FromProto(body->target());
    if (t.ok() && t->host == target::Host::kName)
      return Reject(absl::FailedPreconditionError(
                        StrCat("target ", target::Format(*t), ": the name has no current address set "
                               "protected on this node (not in the protected set, not resolved yet, or more "
                               "addresses than one grant covers)")),
                    reason::kNameUnresolved, wire, &*body, &peer);
    return Reject(absl::FailedPreconditionError(
                      StrCat("target ", TargetString(body->target()), " is not protected on this node")),
                  reason::kUnprotectedTarget, wire, &*body, &peer);
  }

  // No room for the CONSUMED record: refuse before the claim, so the TAO
  // is not spent (the append below checks again and fails closed).
  if (absl::Status st = evidence_.CheckRoom(Evidence::Kind::kConsumed); !st.ok())
    return Reject(absl::UnavailableError(st.message()), reason::kLedgerUnavailable, wire, &*body, &peer);

  TaoId id{};
  std::memcpy(id.data(), body->id().data(), id.size());
  if (!Claim(id, body->expires_at_ms()))
    return Reject(absl::AlreadyExistsError(body->expires_at_ms() <= horizon_ms()
                                               ? "TAO expired before the agent's consumed-index horizon "
                                                 "(was the clock set back?)"
                                               : "TAO was already consumed"),
                  reason::kReplay, wire, &*body, &peer);

  // From here on the TAO is spent whatever happens (fail closed).
  Evidence::Fields f = {
      {"tao_id", ToHex(body->id())},
      {"tao_sha256", ToHex(crypto::Sha256(wire))},
      {"actor", body->actor()},
      {"action_class", body->action_class()},
      {"target", TargetString(body->target())},
      {"node_id", body->binding().node_id()},
      {"cgroup_id", std::to_string(peer.cgroup_id)},
      {"workload", peer.cgroup_path},
      {"pid", std::to_string(peer.pid)},
      {"key_id", ToHex(body->issuer_key_id())},
      {"policy_sha256", ToHex(body->policy_bundle_sha256())},
      {"issued_seq", std::to_string(body->decision_ledger_index())},  // governor ledger seq of ISSUED
      {"expires_at", std::to_string(body->expires_at_ms())},
  };
  auto seq = evidence_.Append(Evidence::Kind::kConsumed, std::move(f));
  if (!seq.ok())
    return Reject(absl::UnavailableError(StrCat("cannot record consumption: ", seq.status().message())),
                  reason::kLedgerUnavailable, wire, &*body, &peer);

  int64_t expires = std::min(body->expires_at_ms(), now + config_.max_grant_ms);
  // The kernel keys grants on the workload-level cgroup (the child of the
  // governed root that contains the caller); fall back to the binding.
  uint64_t grant_cgroup = peer.workload_cgroup_id != 0   ? peer.workload_cgroup_id
                          : body->binding().cgroup_id() != 0 ? body->binding().cgroup_id()
                                                             : peer.cgroup_id;
  if (absl::Status st = grants_.InstallGrant(grant_cgroup, body->target(), id, expires); !st.ok())
    return Reject(absl::InternalError(StrCat("TAO consumed at seq ", *seq,
                                             " but the kernel grant failed: ", st.message())),
                  reason::kGrantFailed, wire, &*body, &peer);

  RedeemOutcome out;
  out.tao_id = id;
  out.consumed_seq = *seq;
  out.grant_expires_at_ms = expires;
  return out;
}

}  // namespace taogate::agent
