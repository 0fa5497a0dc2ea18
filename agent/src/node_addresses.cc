// Node targets: parsing, expansion over the node's addresses, and the
// rtnetlink address watcher (contract in node_addresses.h).
#include "taogate/agent/node_addresses.h"

#include <arpa/inet.h>
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

std::string IpText(int family, const uint8_t* bytes) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (!inet_ntop(family, bytes, buf, sizeof buf)) return "";
  return buf;
}

// "tcp:node:5432" -> {"tcp", "node", "5432"}; nullopt-like empty on no match.
struct SpecParts {
  std::string_view proto, addr, ports;
};
bool Split(std::string_view spec, SpecParts* out) {
  size_t c1 = spec.find(':');
  if (c1 == std::string_view::npos) return false;
  size_t c2 = spec.find(':', c1 + 1);
  out->proto = spec.substr(0, c1);
  out->addr = spec.substr(c1 + 1, c2 == std::string_view::npos ? std::string_view::npos : c2 - c1 - 1);
  out->ports = c2 == std::string_view::npos ? std::string_view() : spec.substr(c2 + 1);
  return true;
}

std::string Canonical(const std::string& text) {
  uint8_t b[16] = {};
  if (inet_pton(AF_INET, text.c_str(), b) == 1) return IpText(AF_INET, b);
  if (inet_pton(AF_INET6, text.c_str(), b) == 1) return IpText(AF_INET6, b);
  return "";
}

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
  if (a) out->insert(IpText(ifa->ifa_family, a));
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

bool IsNodeTargetSpec(std::string_view spec) {
  SpecParts p;
  return Split(spec, &p) && p.proto != "unix" && p.addr == kNodeKeyword;
}

absl::StatusOr<bpf::Target> ParseNodeTarget(std::string_view spec) {
  SpecParts p;
  if (!Split(spec, &p) || p.addr != kNodeKeyword)
    return absl::InvalidArgumentError(StrCat("'", spec, "' is not a node target (PROTO:node:PORTS)"));
  if (p.ports.empty())
    return absl::InvalidArgumentError(StrCat("missing port in '", spec, "' (tcp:node:5432, or :* for every port)"));
  // The address-form parser checks proto and ports; 127.0.0.1 stands in.
  auto t = bpf::ParseTarget(StrCat(p.proto, ":127.0.0.1:", p.ports));
  if (!t.ok()) return absl::InvalidArgumentError(StrCat("bad node target '", spec, "': ", t.status().message()));
  t->cidr.clear();
  return *t;
}

std::vector<std::string> CanonicalAddresses(const std::vector<std::string>& addrs) {
  std::set<std::string> out;
  for (const auto& a : addrs)
    if (std::string c = Canonical(a); !c.empty()) out.insert(c);
  return {out.begin(), out.end()};
}

std::vector<bpf::Target> ExpandNodeTarget(const bpf::Target& node, const std::vector<std::string>& addrs) {
  std::vector<bpf::Target> out;
  auto add = [&](std::string cidr) {
    bpf::Target t = node;
    t.cidr = std::move(cidr);
    out.push_back(std::move(t));
  };
  add("127.0.0.0/8");
  add("::1/128");
  for (const auto& a : CanonicalAddresses(addrs)) {
    uint8_t b[16] = {};
    if (inet_pton(AF_INET, a.c_str(), b) == 1) {
      if (b[0] != 127) add(a + "/32");
    } else if (a != "::1") {
      add(a + "/128");
    }
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
