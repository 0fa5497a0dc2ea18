#include "taogate/agent/hold.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "taogate/agent/hold_rules.h"
#include "taogate/agent/peer.h"
#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/runtime/metrics_text.h"

namespace taogate::agent {
namespace {

constexpr size_t kMaxReason = 1000;  // under Acquire's 1024
constexpr size_t kMaxAnnotations = 16, kMaxAnnotationBytes = 256;

std::string ReadProc(pid_t pid, const char* what, size_t max) {
  std::ifstream in(StrCat("/proc/", pid, "/", what), std::ios::binary);
  std::string s(max, '\0');
  in.read(s.data(), static_cast<std::streamsize>(max));
  s.resize(static_cast<size_t>(in.gcount()));
  return s;
}

// Control characters (and cmdline's NULs) as spaces: a reason is one line.
std::string Printable(std::string s) {
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

bool Alive(int pidfd) { return syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) == 0; }

// The held process as a workload-socket peer would be resolved (peer.h),
// from /proc instead of SO_PEERCRED; workload fields empty if ungoverned.
absl::StatusOr<PeerIdentity> PeerOfPid(pid_t pid, const HoldServiceOptions& o) {
  PeerIdentity p;
  p.pid = pid;
  std::istringstream status(ReadProc(pid, "status", 8192));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Uid:", 0) == 0) p.uid = static_cast<uid_t>(std::strtoul(line.c_str() + 4, nullptr, 10));
    if (line.rfind("Gid:", 0) == 0) p.gid = static_cast<gid_t>(std::strtoul(line.c_str() + 4, nullptr, 10));
  }
  std::istringstream cg(ReadProc(pid, "cgroup", 8192));
  while (std::getline(cg, line))
    if (line.rfind("0::", 0) == 0) p.cgroup_path = line.substr(3);
  if (p.cgroup_path.empty()) return absl::NotFoundError(StrCat("pid ", pid, ": no cgroup v2 membership"));
  TG_ASSIGN_OR_RETURN(p.cgroup_id, CgroupIdOfPath(o.cgroup2_mount + p.cgroup_path));
  TG_RETURN_IF_ERROR(ResolveWorkload(p, o.cgroup2_mount, o.governed_root, o.pods_root));
  return p;
}

// A workload the gate governs: below the governed root or, in pods mode, a
// pod the bundle governs (an ungoverned pod's connects are not gated).
bool Governed(const PeerIdentity& p, const HoldServiceOptions& o) {
  return p.workload_cgroup_id != 0 && (!o.pods_root || !o.pod_governed || o.pod_governed(p.workload_cgroup_id));
}

}  // namespace

// The node attestation of a held process: the kernel attester's, with the
// pidfd the supervisor took (passed where a socket fd would be) checked
// after the executable was read and again just before the redeem.
struct HoldService::PidAttester final : Attester {
  explicit PidAttester(Attester& inner) : inner(inner) {}
  absl::StatusOr<Attestation> Attest(const PeerIdentity& peer, int pidfd) override {
    TG_ASSIGN_OR_RETURN(Attestation a, inner.Attest(peer, -1));
    if (pidfd < 0 || !Alive(pidfd)) return absl::FailedPreconditionError("held process exited");
    a.still_same = [same = std::move(a.still_same), pidfd]() -> absl::Status {
      TG_RETURN_IF_ERROR(same());
      return Alive(pidfd) ? absl::OkStatus() : absl::FailedPreconditionError("held process exited");
    };
    return a;
  }
  Attester& inner;
};

std::map<std::string, std::string> ParseAnnotations(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string pair;
  while (std::getline(in, pair, ',') && out.size() < kMaxAnnotations) {
    size_t eq = pair.find('=');
    if (eq == 0 || eq == std::string::npos) continue;
    std::string k = pair.substr(0, eq), v = pair.substr(eq + 1);
    if (k.size() > kMaxAnnotationBytes || v.size() > kMaxAnnotationBytes || Printable(k) != k || Printable(v) != v)
      continue;
    out[k] = v;
  }
  return out;
}

absl::StatusOr<std::unique_ptr<HoldService>> HoldService::Start(HoldServiceOptions options, GovernorClient* governor,
                                                                Attester& attester, Redeemer& redeemer) {
  std::unique_ptr<HoldService> h(new HoldService());
  h->options_ = std::move(options);
  h->options_.acquire.max_in_flight = std::max(h->options_.acquire.max_in_flight, h->options_.hold_in_flight);
  h->attester_ = std::make_unique<PidAttester>(attester);
  h->acquirer_ = std::make_unique<Acquirer>(h->options_.acquire, governor, *h->attester_, redeemer);
  HoldService* self = h.get();
  TG_ASSIGN_OR_RETURN(h->supervisor_,
                      hold::Supervisor::Start({.max_hold_ms = h->options_.max_hold_ms},
                                              [self](const hold::Held& held, hold::Supervisor::Answer a) {
                                                self->Decide(held, std::move(a));
                                              }));
  TG_ASSIGN_OR_RETURN(h->server_, hold::HandoffServer::Start(h->options_.socket_path, 0666,
                                                             [self](int conn, hold::Received r) {
                                                               return self->Accept(conn, std::move(r));
                                                             }));
  return h;
}

absl::Status HoldService::Accept(int conn, hold::Received received) {
  TG_ASSIGN_OR_RETURN(PeerIdentity peer, PeerOfSocket(conn, options_.cgroup2_mount));
  TG_RETURN_IF_ERROR(ResolveWorkload(peer, options_.cgroup2_mount, options_.governed_root, options_.pods_root));
  const bool governed = Governed(peer, options_);
  const bool oci_runtime = peer.uid == 0 && !received.payload.empty() && received.payload[0] == '{';
  if (!governed && !oci_runtime)
    return absl::PermissionDeniedError(StrCat("cgroup ", peer.cgroup_path, " is not a governed workload"));
  log::Info("hold listener accepted", {{"pid", std::to_string(peer.pid)}, {"cgroup", peer.cgroup_path},
                                       {"from", oci_runtime && !governed ? "oci-runtime" : "workload"}});
  return supervisor_->Add(std::move(received.listener));
}

void HoldService::Decide(const hold::Held& held, hold::Supervisor::Answer answer) {
  if (!held.dest || !options_.is_protected) return answer(hold::Verdict::Continue());
  auto peer = PeerOfPid(held.tgid, options_);
  if (!peer.ok()) return answer(hold::Verdict::Fail(EACCES));  // gone, or unreadable: fail closed
  if (!Governed(*peer, options_) || !options_.is_protected(*held.dest))
    return answer(hold::Verdict::Continue());
  std::lock_guard l(mu_);
  ++workers_;
  std::thread([this, held, p = *std::move(peer), a = std::move(answer)]() mutable {
    Work(std::move(held), std::move(p), std::move(a));
    std::lock_guard l2(mu_);
    --workers_;
    idle_.notify_all();
  }).detach();
}

void HoldService::Work(hold::Held held, PeerIdentity peer, hold::Supervisor::Answer answer) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string target = target::Format(*held.dest);
  const int pidfd = held.pidfd ? held.pidfd->get() : -1;
  Evidence::Fields record = {{"workload", peer.workload_cgroup_path},
                             {"cgroup_id", std::to_string(peer.workload_cgroup_id)},
                             {"pid", std::to_string(held.tgid)},
                             {"exe", Printable(held.exe).substr(0, 1000)},
                             {"target", target}};
  auto end = [&](hold::Verdict v, const std::string& outcome, const std::string& decision_id) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    const char* verdict = v.error == 0 ? "CONTINUE" : v.error == ETIMEDOUT ? "ETIMEDOUT" : "EACCES";
    record.insert(record.end(), {{"decision_id", decision_id}, {"reason_code", outcome}, {"verdict", verdict},
                                 {"held_ms", std::to_string(ms.count())}});
    log::Info("hold ended", {{"workload", peer.workload_cgroup_path}, {"pid", std::to_string(held.tgid)},
                             {"target", target}, {"decision_id", decision_id}, {"outcome", outcome},
                             {"verdict", verdict}, {"held_ms", std::to_string(ms.count())}});
    answer(v);  // before the record: the workload does not wait for the disk
    if (options_.evidence) (void)options_.evidence->Append(Evidence::Kind::kHold, std::move(record));
  };
  auto attested = attester_->Attest(peer, pidfd);
  if (!attested.ok()) return end(hold::Verdict::Fail(EACCES), "NOT_ATTESTED", "");
  std::optional<HoldChoice> choice =
      ChooseHold(options_.rules ? options_.rules() : std::vector<v1::HoldRule>{},
                 options_.target_ids ? options_.target_ids(*held.dest) : std::set<std::string>{}, attested->facts,
                 options_.max_hold_ms);
  if (!choice) {  // not held: the gate decides, as without hold mode
    ++not_held_;
    return answer(hold::Verdict::Continue());
  }
  record.insert(record.end(), {{"rule", choice->rule}, {"action_class", choice->action_class}});
  uint64_t id;
  {
    std::lock_guard l(mu_);
    id = next_id_++;
    held_[id] = HeldCall{peer.workload_cgroup_path, target, choice->rule, "", held.exe, held.tgid,
                         std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count()};
  }
  v1::AcquireRequest req;
  req.set_target(target);
  req.set_action_class(choice->action_class);
  req.set_timeout_ms(static_cast<uint32_t>(choice->max_hold_ms));
  std::string reason = StrCat("held connect to ", target, " by ", held.exe, ": ",
                              Printable(ReadProc(held.tgid, "cmdline", 512)));
  req.set_reason(reason.substr(0, kMaxReason));
  std::istringstream env(ReadProc(held.tgid, "environ", 64 * 1024));
  for (std::string var; std::getline(env, var, '\0');)
    if (var.rfind("TAOGATE_ANNOTATIONS=", 0) == 0)
      for (const auto& [k, v] : ParseAnnotations(var.substr(20))) (*req.mutable_annotations())[k] = v;
  v1::AcquireProgress last;
  std::string decision_id;  // the first the governor names (a later phase may not repeat it)
  acquirer_->Run(req, peer, pidfd, /*redeem=*/true, [&](const v1::AcquireProgress& p) {
    if (!p.decision_id().empty() && p.decision_id() != decision_id) {
      decision_id = p.decision_id();
      std::lock_guard l(mu_);
      held_[id].decision_id = decision_id;
    }
    if (p.phase() == v1::AcquireProgress::PENDING_APPROVAL)  // what an approver looks for
      log::Info("hold awaiting approval", {{"workload", peer.workload_cgroup_path},
                                           {"target", target}, {"decision_id", p.decision_id()}});
    last = p;
    return true;
  });
  {
    std::lock_guard l(mu_);
    held_.erase(id);
  }
  const bool granted = last.phase() == v1::AcquireProgress::GRANTED;
  end(granted                                  ? hold::Verdict::Continue()
      : last.reason_code() == reason::kTimeout ? hold::Verdict::Fail(ETIMEDOUT)
                                               : hold::Verdict::Fail(EACCES),
      granted ? "GRANTED" : last.reason_code(), decision_id);
}

std::vector<HeldCall> HoldService::Held() const {
  std::lock_guard l(mu_);
  std::vector<HeldCall> out;
  for (const auto& [id, h] : held_) out.push_back(h);
  return out;
}

void HoldService::Stop() {
  if (server_) server_->Stop();
  if (supervisor_) supervisor_->Stop();
  std::unique_lock l(mu_);
  idle_.wait(l, [this] { return workers_ == 0; });
}

HoldService::~HoldService() { Stop(); }

std::string HoldService::MetricsText() const {
  hold::SupervisorStats s = supervisor_->stats();
  std::string out = runtime::Gauge("taogate_agent_holds_held", "Syscalls held now (hold mode).",
                                   static_cast<int64_t>(s.held_now));
  out += runtime::Gauge("taogate_agent_hold_listeners", "Seccomp listeners supervised.",
                        static_cast<int64_t>(s.listeners));
  out += runtime::Family("taogate_agent_holds_total", "counter",
                         "Held syscalls by how they ended (continued, failed, timed_out, gone, joined).");
  for (const auto& [name, n] : {std::pair<const char*, uint64_t>{"continued", s.continued}, {"failed", s.failed},
                                {"timed_out", s.timed_out}, {"gone", s.gone}, {"joined", s.joined}})
    out += StrCat("taogate_agent_holds_total{outcome=\"", name, "\"} ", n, "\n");
  out += runtime::Counter("taogate_agent_holds_not_held_total",
                          "Held syscalls to a protected target that no hold rule of the bundle covers (continued: the gate decides).",
                          not_held_.load());
  out += runtime::Family("taogate_agent_hold_acquires_total", "counter",
                         "Acquires run for held syscalls, by outcome (GRANTED or the reason code).");
  for (const auto& [outcome, n] : acquirer_->outcomes())
    out += StrCat("taogate_agent_hold_acquires_total{outcome=\"", outcome, "\"} ", n, "\n");
  return out;
}

}  // namespace taogate::agent
