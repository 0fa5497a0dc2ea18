// Node targets: parsing, expansion over the node's addresses, and the
// rtnetlink address watcher (contract in node_addresses.h).
#include "taogate/agent/node_addresses.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <set>

#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::agent {
namespace {

absl::Status Errno(const char* what) { return absl::UnavailableError(StrCat("netlink ", what, ": ", strerror(errno))); }

// Sends one RTM_GETADDR dump request for every family.
absl::Status RequestDump(int fd, uint32_t seq) {
  struct {
    nlmsghdr nh;
    ifaddrmsg ifa;
  } req{};
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(ifaddrmsg));
  req.nh.nlmsg_type = RTM_GETADDR;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = seq;
  req.ifa.ifa_family = AF_UNSPEC;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd, &req, req.nh.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    return Errno("sendto");
  return absl::OkStatus();
}

// Addresses carried by one RTM_NEWADDR message (IFA_LOCAL, else IFA_ADDRESS:
// on a point-to-point link IFA_ADDRESS is the peer).
void CollectAddr(const nlmsghdr* nh, std::set<std::string>* out) {
  const auto* ifa = static_cast<const ifaddrmsg*>(NLMSG_DATA(nh));
  if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) return;
  int len = static_cast<int>(IFA_PAYLOAD(nh));
  const uint8_t *local = nullptr, *address = nullptr;
  for (const rtattr* rta = IFA_RTA(ifa); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
    size_t want = ifa->ifa_family == AF_INET ? 4 : 16;
    if (RTA_PAYLOAD(rta) < want) continue;
    if (rta->rta_type == IFA_LOCAL) local = static_cast<const uint8_t*>(RTA_DATA(rta));
    if (rta->rta_type == IFA_ADDRESS) address = static_cast<const uint8_t*>(RTA_DATA(rta));
  }
  const uint8_t* a = local ? local : address;
  if (!a) return;
  target::Ip ip;
  ip.family = ifa->ifa_family == AF_INET ? 4 : 6;
  std::memcpy(ip.bytes.data(), a, ifa->ifa_family == AF_INET ? 4 : 16);
  out->insert(target::FormatIp(ip));
}

// NLMSG_OK without its signed/unsigned comparison (clang -Wsign-compare).
bool NlmsgOk(const nlmsghdr* nh, int left) {
  return left >= static_cast<int>(sizeof(nlmsghdr)) && nh->nlmsg_len >= sizeof(nlmsghdr) &&
         static_cast<int64_t>(nh->nlmsg_len) <= left;
}

// Reads the dump answering `seq` until NLMSG_DONE. Notifications that arrive
// meanwhile are ignored: the dump is the newer truth.
absl::StatusOr<std::vector<std::string>> ReadDump(int fd, uint32_t seq) {
  std::set<std::string> addrs;
  std::vector<char> buf(64 * 1024);
  for (;;) {
    ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == ENOBUFS) return absl::UnavailableError("netlink dump overrun");
    if (n < 0) return Errno("recv");
    int left = static_cast<int>(n);
    for (auto* nh = reinterpret_cast<nlmsghdr*>(buf.data()); NlmsgOk(nh, left); nh = NLMSG_NEXT(nh, left)) {
      if (nh->nlmsg_seq != seq) continue;
      if (nh->nlmsg_type == NLMSG_DONE) {
        if (addrs.size() > kMaxNodeAddresses)
          return absl::ResourceExhaustedError(StrCat(addrs.size(), " node addresses (max ", kMaxNodeAddresses, ")"));
        return std::vector<std::string>(addrs.begin(), addrs.end());
      }
      if (nh->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(nh));
        return absl::UnavailableError(StrCat("netlink dump: ", strerror(-e->error)));
      }
      if (nh->nlmsg_type == RTM_NEWADDR) CollectAddr(nh, &addrs);
    }
  }
}

UniqueFd OpenRoute(uint32_t groups) {
  UniqueFd fd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd.valid()) return fd;
  int rcv = 1 << 20;
  (void)setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  sockaddr_nl me{};
  me.nl_family = AF_NETLINK;
  me.nl_groups = groups;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&me), sizeof me) != 0) fd.Reset();
  return fd;
}

absl::StatusOr<std::vector<std::string>> Dump(int fd) {
  static std::atomic<uint32_t> seq{1};
  uint32_t s = seq.fetch_add(1);
  TG_RETURN_IF_ERROR(RequestDump(fd, s));
  return ReadDump(fd, s);
}

}  // namespace

std::vector<std::string> CanonicalAddresses(const std::vector<std::string>& addrs) {
  std::set<std::string> out;
  for (const auto& a : addrs)
    if (auto ip = target::ParseIp(a); ip.ok()) out.insert(target::FormatIp(*ip));
  return {out.begin(), out.end()};
}

target::Target AtAddress(const target::Target& named, const target::Ip& ip) {
  target::Target x = named;
  x.host = target::Host::kPrefix;
  x.name.clear();
  x.prefix = target::HostPrefix(ip);
  return x;
}

std::vector<target::Target> ExpandNodeTarget(const target::Target& node, const std::vector<std::string>& addrs) {
  std::vector<target::Target> out;
  auto add = [&](const target::Prefix& p) {
    target::Target t = node;
    t.host = target::Host::kPrefix;
    t.prefix = p;
    out.push_back(std::move(t));
  };
  add(*target::ParseCidr("127.0.0.0/8", target::CidrForm::kExact));
  add(*target::ParseCidr("::1/128", target::CidrForm::kExact));
  for (const auto& a : CanonicalAddresses(addrs)) {
    target::Ip ip = *target::ParseIp(a);
    if (ip.family == 4 ? ip.bytes[0] != 127 : a != "::1") add(target::HostPrefix(ip));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> DumpNodeAddresses() {
  UniqueFd fd = OpenRoute(0);
  if (!fd.valid()) return Errno("socket");
  return Dump(fd.get());
}

absl::StatusOr<std::unique_ptr<NodeAddressWatcher>> NodeAddressWatcher::Open(int resync_ms) {
  std::unique_ptr<NodeAddressWatcher> w(new NodeAddressWatcher());
  w->resync_ms_ = resync_ms;
  w->sock_ = OpenRoute(RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR);
  if (!w->sock_.valid()) return Errno("subscribe");
  // The dump goes over a second socket so the subscription's queue holds
  // only notifications; any that arrive during it cause one more dump.
  TG_ASSIGN_OR_RETURN(w->initial_, DumpNodeAddresses());
  return w;
}

NodeAddressWatcher::~NodeAddressWatcher() { Stop(); }

void NodeAddressWatcher::Start(Callback on_change) {
  on_change_ = std::move(on_change);
  thread_ = std::thread([this] { Loop(); });
}

void NodeAddressWatcher::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void NodeAddressWatcher::Loop() {
  using Clock = std::chrono::steady_clock;
  std::vector<std::string> last = initial_;
  auto next_resync = Clock::now() + std::chrono::milliseconds(resync_ms_);
  std::vector<char> buf(64 * 1024);
  while (!stop_) {
    pollfd p{sock_.get(), POLLIN, 0};
    int r = poll(&p, 1, 200);
    bool dirty = Clock::now() >= next_resync;
    if (r > 0) {
      // Drain the burst: one dump answers every notification in it.
      for (;;) {
        ssize_t n = recv(sock_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
        if (n > 0 || (n < 0 && errno == ENOBUFS)) {
          dirty = true;  // ENOBUFS: events were lost, the dump recovers them
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        break;
      }
    }
    if (!dirty) continue;
    next_resync = Clock::now() + std::chrono::milliseconds(resync_ms_);
    auto now = DumpNodeAddresses();
    if (!now.ok()) {
      log::Error("node addresses: dump failed; protected set unchanged",
                 {{"error", std::string(now.status().message())}});
      next_resync = Clock::now() + std::chrono::milliseconds(1000);  // retry soon
      continue;
    }
    if (*now == last) continue;
    if (absl::Status st = on_change_(*now); !st.ok()) {
      // The old set stays in force (fail closed); try again soon.
      next_resync = Clock::now() + std::chrono::milliseconds(1000);
      continue;
    }
    last = *now;
  }
}

}  // namespace taogate::agent
