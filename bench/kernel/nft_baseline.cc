#include "nft_baseline.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>
#include <string>

#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::bench {

namespace {

const char* NftPath() {
  for (const char* p : {"/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return nullptr;
}

uint32_t Mask(int len) { return len == 0 ? 0 : ~0u << (32 - len); }

// The set's elements: masked prefixes, shortest first per port, without any
// prefix another element of the same port already covers.
std::vector<NftTarget> Elements(std::vector<NftTarget> targets) {
  for (auto& t : targets) t.net &= Mask(t.len);
  std::sort(targets.begin(), targets.end(), [](const NftTarget& a, const NftTarget& b) {
    return a.port != b.port ? a.port < b.port : a.len < b.len;
  });
  std::map<uint16_t, std::vector<NftTarget>> kept;
  std::vector<NftTarget> out;
  for (const auto& t : targets) {
    auto& same = kept[t.port];
    bool covered = std::any_of(same.begin(), same.end(),
                               [&](const NftTarget& k) { return (t.net & Mask(k.len)) == k.net; });
    if (covered) continue;
    same.push_back(t);
    out.push_back(t);
  }
  return out;
}

std::string Ruleset(const std::vector<NftTarget>& elements) {
  std::string s =
      "table ip taogate_bench {\n"
      "  set protected {\n"
      "    type ipv4_addr . inet_service\n"
      "    flags interval\n"
      "    elements = {\n";
  for (size_t i = 0; i < elements.size(); ++i) {
    const NftTarget& e = elements[i];
    char buf[INET_ADDRSTRLEN];
    uint32_t be = htonl(e.net);
    inet_ntop(AF_INET, &be, buf, sizeof(buf));
    s += StrCat("      ", buf, e.len == 32 ? std::string() : StrCat("/", e.len), " . ", e.port,
                i + 1 < elements.size() ? ",\n" : "\n");
  }
  s +=
      "    }\n"
      "  }\n"
      "  chain out {\n"
      "    type filter hook output priority filter; policy accept;\n"
      "    ip daddr . tcp dport @protected reject with tcp reset\n"
      "  }\n"
      "}\n";
  return s;
}

absl::Status LoopbackUp() {
  UniqueFd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq ifr{};
  std::snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
  if (!s || ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0) return ErrnoStatus(errno, "SIOCGIFFLAGS lo");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s.get(), SIOCSIFFLAGS, &ifr) != 0) return ErrnoStatus(errno, "SIOCSIFFLAGS lo");
  return absl::OkStatus();
}

// `nft -f -` in a child that joins `netns` first; the ruleset on its stdin.
absl::Status LoadRuleset(const char* nft, int netns, const std::string& rules) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe");
  UniqueFd rd(p[0]), wr(p[1]);
  pid_t pid = fork();
  if (pid < 0) return ErrnoStatus(errno, "fork nft");
  if (pid == 0) {
    // Never exec nft outside the bench's own namespace.
    if (setns(netns, CLONE_NEWNET) != 0 || dup2(rd.get(), 0) != 0) _exit(126);
    execl(nft, "nft", "-f", "-", static_cast<char*>(nullptr));
    _exit(127);
  }
  rd.Reset();
  size_t off = 0;
  while (off < rules.size()) {
    ssize_t n = write(wr.get(), rules.data() + off, rules.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  wr.Reset();
  int st = 0;
  if (waitpid(pid, &st, 0) != pid) return ErrnoStatus(errno, "waitpid nft");
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || off != rules.size()) {
    return absl::InternalError(StrCat("nft -f failed (status ", st, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<NftBaseline>> NftBaseline::Create(const std::vector<NftTarget>& targets,
                                                                  uint16_t open_port, uint16_t check_port) {
  const char* nft = NftPath();
  if (!nft) return absl::UnavailableError("nft not installed (Debian package nftables)");
  std::unique_ptr<NftBaseline> b(new NftBaseline());
  b->home_ = UniqueFd(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!b->home_) return ErrnoStatus(errno, "open own netns");
  for (bool with_rule : {true, false}) {
    if (unshare(CLONE_NEWNET) != 0) return ErrnoStatus(errno, "unshare(CLONE_NEWNET)");
    UniqueFd ns(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!ns) return ErrnoStatus(errno, "open new netns");
    (with_rule ? b->rule_ : b->none_) = std::move(ns);
    TG_RETURN_IF_ERROR(LoopbackUp());
    LoopbackListener l = ListenLoopback(open_port);
    if (!l.fd) return ErrnoStatus(errno, "listen in netns");
    (with_rule ? b->rule_l_ : b->none_l_) = std::move(l);
    TG_RETURN_IF_ERROR(b->Leave());
  }
  std::vector<NftTarget> elements = Elements(targets);
  b->elements_ = elements.size();
  TG_RETURN_IF_ERROR(LoadRuleset(nft, b->rule_.get(), Ruleset(elements)));

  // The rule is live: a protected destination is refused inside `rule`.
  TG_RETURN_IF_ERROR(b->Enter(true));
  LoopbackListener prot = ListenLoopback(check_port);
  UniqueFd c(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  timeval tv{2, 0};
  setsockopt(c.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  int rc = connect(c.get(), reinterpret_cast<const sockaddr*>(&prot.addr), sizeof(prot.addr));
  int err = errno;
  TG_RETURN_IF_ERROR(b->Leave());
  if (!prot.fd || rc == 0 || err != ECONNREFUSED) {
    return absl::InternalError(StrCat("nftables rule not live: connect to the protected port returned ", rc,
                                      " errno ", err));
  }
  return b;
}

NftBaseline::~NftBaseline() {
  if (home_) (void)Leave();
}

absl::Status NftBaseline::Enter(bool with_rule) {
  if (setns((with_rule ? rule_ : none_).get(), CLONE_NEWNET) != 0) return ErrnoStatus(errno, "setns bench netns");
  return absl::OkStatus();
}

absl::Status NftBaseline::Leave() {
  if (setns(home_.get(), CLONE_NEWNET) != 0) return ErrnoStatus(errno, "setns home netns");
  return absl::OkStatus();
}

}  // namespace taogate::bench
