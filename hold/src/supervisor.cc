#include "taogate/hold/supervisor.h"

#include <linux/seccomp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::hold {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool IdValid(int listener, uint64_t id) { return ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0; }

pid_t TgidOf(pid_t tid) {
  std::ifstream in(StrCat("/proc/", tid, "/status"));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Tgid:", 0) == 0) return static_cast<pid_t>(std::atoi(line.c_str() + 5));
  return 0;
}

std::string ExeOf(pid_t tid) {
  char buf[4096];
  ssize_t n = readlink(StrCat("/proc/", tid, "/exe").c_str(), buf, sizeof(buf));
  return n > 0 && n < static_cast<ssize_t>(sizeof(buf)) ? std::string(buf, static_cast<size_t>(n)) : "";
}

// SO_TYPE of the caller's socket `fd`, through a copy of it (pidfd_getfd);
// -1 if it cannot be had.
int SocketTypeOf(int pidfd, int fd) {
  UniqueFd copy(static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, fd, 0)));
  int type = -1;
  socklen_t len = sizeof(type);
  if (!copy || getsockopt(copy.get(), SOL_SOCKET, SO_TYPE, &type, &len) != 0) return -1;
  return type;
}

struct Hold {
  std::shared_ptr<UniqueFd> listener;
  uint64_t id = 0;  // the current notification (a restarted call rebinds it)
  pid_t tid = 0;
  int nr = 0;
  std::string dest;  // formatted, to join a restarted call
  int64_t deadline_ms = 0;
};

}  // namespace

struct Supervisor::State {
  SupervisorOptions options;
  Decide decide;
  UniqueFd wake;
  std::thread thread;
  mutable std::mutex mu;
  bool stopping = false;                             // guarded by mu
  std::vector<std::shared_ptr<UniqueFd>> listeners;  // guarded by mu
  std::map<uint64_t, Hold> holds;                    // by serial; guarded by mu
  uint64_t next_serial = 1;                          // guarded by mu
  SupervisorStats stats;                             // guarded by mu

  void Wake() {
    uint64_t one = 1;
    (void)!write(wake.get(), &one, sizeof(one));
  }

  // Ends hold `serial` with `v` (no-op if it already ended).
  void Respond(uint64_t serial, Verdict v, uint64_t SupervisorStats::*outcome) {
    Hold h;
    {
      std::lock_guard l(mu);
      auto it = holds.find(serial);
      if (it == holds.end()) return;
      h = std::move(it->second);
      holds.erase(it);
    }
    bool sent = false;
    if (IdValid(h.listener->get(), h.id)) {
      seccomp_notif_resp resp{};
      resp.id = h.id;
      if (v.error == 0) resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
      else resp.error = -v.error;
      sent = ioctl(h.listener->get(), SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0;
    }
    std::lock_guard l(mu);
    ++(stats.*(sent ? outcome : &SupervisorStats::gone));
  }

  void Receive(const std::shared_ptr<UniqueFd>& listener, std::shared_ptr<State> self);
  void Loop(std::shared_ptr<State> self);
};

void Supervisor::State::Receive(const std::shared_ptr<UniqueFd>& listener, std::shared_ptr<State> self) {
  seccomp_notif n{};
  if (ioctl(listener->get(), SECCOMP_IOCTL_NOTIF_RECV, &n) != 0) return;  // ENOENT: gone already
  const int lfd = listener->get();
  Held held;
  held.tid = static_cast<pid_t>(n.pid);
  held.syscall_nr = n.data.nr;
  uint64_t addr = 0, len = 0;
  if (n.data.nr == SYS_connect) addr = n.data.args[1], len = n.data.args[2];
  else if (n.data.nr == SYS_sendto) addr = n.data.args[4], len = n.data.args[5];
  if (held.tid > 0) {
    held.tgid = TgidOf(held.tid);
    auto pidfd = std::make_shared<UniqueFd>(held.tgid > 0 ? static_cast<int>(syscall(SYS_pidfd_open, held.tgid, 0)) : -1);
    sockaddr_storage ss{};
    size_t want = std::min<uint64_t>(len, sizeof(ss));
    iovec local{&ss, want}, remote{reinterpret_cast<void*>(addr), want};
    ssize_t got = addr != 0 && want > 0 ? process_vm_readv(held.tid, &local, 1, &remote, 1, 0) : -1;
    int type = pidfd->valid() ? SocketTypeOf(pidfd->get(), static_cast<int>(n.data.args[0])) : -1;
    if (got > 0) held.dest = DestinationOf(&ss, static_cast<size_t>(got), type);
    held.exe = ExeOf(held.tid);
    held.pidfd = std::move(pidfd);
  }
  // Everything above read the task that sent `n` only if it is still held.
  if (!IdValid(lfd, n.id)) {
    std::lock_guard l(mu);
    ++stats.gone;
    return;
  }
  const std::string dest = held.dest ? target::Format(*held.dest) : "";
  uint64_t serial = 0;
  {
    std::lock_guard l(mu);
    // A restarted call (signal + SA_RESTART): the same thread, syscall and
    // destination whose earlier notification is no longer valid.
    for (auto& [s, h] : holds) {
      if (h.tid == held.tid && h.nr == held.syscall_nr && h.dest == dest && h.listener == listener &&
          !IdValid(lfd, h.id)) {
        h.id = n.id;
        ++stats.joined;
        return;
      }
    }
    if (stopping || holds.size() >= options.max_held || held.tid <= 0) {
      serial = 0;
    } else {
      serial = next_serial++;
      holds[serial] = Hold{listener, n.id, held.tid, held.syscall_nr, dest, NowMs() + options.max_hold_ms};
      ++stats.held_total;
    }
  }
  if (serial == 0) {  // not held: fail at once (no pid: another pid namespace)
    seccomp_notif_resp resp{};
    resp.id = n.id;
    resp.error = held.tid <= 0 ? -EACCES : -EAGAIN;
    (void)ioctl(lfd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    std::lock_guard l(mu);
    ++stats.failed;
    return;
  }
  std::weak_ptr<State> weak = self;
  decide(held, [weak, serial](Verdict v) {
    if (auto s = weak.lock())
      s->Respond(serial, v, v.error == 0 ? &SupervisorStats::continued : &SupervisorStats::failed);
  });
}

void Supervisor::State::Loop(std::shared_ptr<State> self) {
  while (true) {
    std::vector<std::shared_ptr<UniqueFd>> ls;
    std::vector<uint64_t> expired;
    int64_t next = -1;
    {
      std::lock_guard l(mu);
      if (stopping) return;
      ls = listeners;
      const int64_t now = NowMs();
      for (const auto& [serial, h] : holds) {
        if (h.deadline_ms <= now) expired.push_back(serial);
        else next = next < 0 ? h.deadline_ms - now : std::min(next, h.deadline_ms - now);
      }
    }
    for (uint64_t serial : expired) Respond(serial, Verdict::Fail(ETIMEDOUT), &SupervisorStats::timed_out);
    if (!expired.empty()) continue;
    std::vector<pollfd> fds{{wake.get(), POLLIN, 0}};
    for (const auto& l : ls) fds.push_back({l->get(), POLLIN, 0});
    if (poll(fds.data(), fds.size(), static_cast<int>(next)) < 0) continue;  // EINTR
    if (fds[0].revents != 0) {
      uint64_t v;
      (void)!read(wake.get(), &v, sizeof(v));
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if ((fds[i].revents & POLLIN) != 0) {
        Receive(ls[i - 1], self);
      } else if ((fds[i].revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) {
        // No task uses this filter any more: nothing can be held on it.
        std::lock_guard l(mu);
        std::erase(listeners, ls[i - 1]);
      }
    }
  }
}

absl::StatusOr<std::unique_ptr<Supervisor>> Supervisor::Start(SupervisorOptions options, Decide decide) {
  std::unique_ptr<Supervisor> sup(new Supervisor());
  auto s = std::make_shared<State>();
  s->options = options;
  s->decide = std::move(decide);
  s->wake.Reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!s->wake) return ErrnoStatus(errno, "eventfd");
  s->thread = std::thread([s] { s->Loop(s); });
  sup->s_ = std::move(s);
  return sup;
}

absl::Status Supervisor::Add(UniqueFd listener) {
  if (!listener) return absl::InvalidArgumentError("no listener fd");
  {
    std::lock_guard l(s_->mu);
    if (s_->stopping) return absl::FailedPreconditionError("supervisor stopped");
    s_->listeners.push_back(std::make_shared<UniqueFd>(std::move(listener)));
  }
  s_->Wake();
  return absl::OkStatus();
}

void Supervisor::Stop() {
  {
    std::lock_guard l(s_->mu);
    if (s_->stopping) return;
    s_->stopping = true;
  }
  s_->Wake();
  if (s_->thread.joinable()) s_->thread.join();
  std::vector<uint64_t> serials;
  {
    std::lock_guard l(s_->mu);
    for (const auto& [serial, h] : s_->holds) serials.push_back(serial);
  }
  for (uint64_t serial : serials) s_->Respond(serial, Verdict::Fail(EACCES), &SupervisorStats::failed);
  std::lock_guard l(s_->mu);
  s_->listeners.clear();
}

Supervisor::~Supervisor() { Stop(); }

SupervisorStats Supervisor::stats() const {
  std::lock_guard l(s_->mu);
  SupervisorStats st = s_->stats;
  st.held_now = s_->holds.size();
  st.listeners = s_->listeners.size();
  return st;
}

}  // namespace taogate::hold
