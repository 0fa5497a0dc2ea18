#include "dns/dns_testing.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <grp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <stdexcept>

#include "taogate/dns/message.h"
#include "testing/testing.h"

namespace taogate::dns::testing {
namespace {

constexpr const char* kDnsmasq = "/usr/sbin/dnsmasq";

void Put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(uint8_t(v >> 8));
  out.push_back(uint8_t(v));
}

// A loopback port free for UDP and TCP at the moment of asking.
int FreePort() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    UniqueFd u(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(u.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        getsockname(u.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      continue;
    }
    UniqueFd t(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (bind(t.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return ntohs(a.sin_port);
  }
  throw std::runtime_error("no free loopback port");
}

bool TcpAccepts(int port) {
  UniqueFd t(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return connect(t.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
}

}  // namespace

std::vector<uint8_t> EncodeName(const std::string& name) {
  std::vector<uint8_t> out;
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    out.push_back(uint8_t(dot - start));
    out.insert(out.end(), name.begin() + long(start), name.begin() + long(dot));
    start = dot + 1;
  }
  out.push_back(0);
  return out;
}

target::Ip Ip(const std::string& text) {
  auto ip = target::ParseIp(text);
  if (!ip.ok()) throw std::runtime_error("bad test IP " + text);
  return *ip;
}

std::vector<target::Ip> Ips(const std::vector<std::string>& texts) {
  std::vector<target::Ip> out;
  for (const auto& t : texts) out.push_back(Ip(t));
  return out;
}

ResponseBuilder& ResponseBuilder::Record(const std::string& owner, uint16_t type,
                                         const std::vector<uint8_t>& rdata, uint32_t ttl) {
  auto name = EncodeName(owner);
  answers_.insert(answers_.end(), name.begin(), name.end());
  Put16(answers_, type);
  Put16(answers_, kClassIn);
  Put16(answers_, uint16_t(ttl >> 16));
  Put16(answers_, uint16_t(ttl));
  Put16(answers_, uint16_t(rdata.size()));
  answers_.insert(answers_.end(), rdata.begin(), rdata.end());
  ++count_;
  return *this;
}

ResponseBuilder& ResponseBuilder::A(const std::string& owner, const std::string& ip, uint32_t ttl) {
  target::Ip a = Ip(ip);
  return Record(owner, kTypeA, {a.bytes.begin(), a.bytes.begin() + 4}, ttl);
}

ResponseBuilder& ResponseBuilder::Aaaa(const std::string& owner, const std::string& ip, uint32_t ttl) {
  in6_addr a{};
  if (inet_pton(AF_INET6, ip.c_str(), &a) != 1) throw std::runtime_error("bad test IPv6 " + ip);
  return Record(owner, kTypeAaaa, {a.s6_addr, a.s6_addr + 16}, ttl);
}

ResponseBuilder& ResponseBuilder::Cname(const std::string& owner, const std::string& target,
                                        uint32_t ttl) {
  return Record(owner, kTypeCname, EncodeName(target), ttl);
}

std::vector<uint8_t> ResponseBuilder::Bytes() const {
  std::vector<uint8_t> out = {0, 0, uint8_t(0x81), uint8_t(0x80 | (ad_ ? 0x20 : 0) | rcode_), 0, 1};
  Put16(out, count_);
  Put16(out, 0);
  Put16(out, 0);
  auto q = EncodeName(qname_);
  out.insert(out.end(), q.begin(), q.end());
  Put16(out, qtype_);
  Put16(out, kClassIn);
  out.insert(out.end(), answers_.begin(), answers_.end());
  return out;
}

void RecordingSink::OnChange(const Change& change) {
  std::lock_guard lock(mu_);
  changes_.push_back(change);
  cv_.notify_all();
}

bool RecordingSink::Wait(const std::function<bool(const std::vector<Change>&)>& pred,
                         std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return pred(changes_); });
}

std::vector<Change> RecordingSink::changes() const {
  std::lock_guard lock(mu_);
  return changes_;
}

bool Eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

Dnsmasq::Dnsmasq(const std::filesystem::path& dir, const std::string& hosts, uint32_t ttl_s,
                 const std::vector<std::string>& cnames, const std::string& conf)
    : hosts_file_(dir / "hosts") {
  if (access(kDnsmasq, X_OK) != 0) {
    throw std::runtime_error(std::string(kDnsmasq) +
                             " not found: the dns tests need a real DNS server; install "
                             "dnsmasq-base (scripts/deps does)");
  }
  taogate::testing::WriteFile(hosts_file_, hosts);
  taogate::testing::WriteFile(dir / "dnsmasq.conf", conf);
  port_ = FreePort();
  passwd* pw = getpwuid(getuid());
  group* gr = getgrgid(getgid());
  std::vector<std::string> args = {
      kDnsmasq, "--keep-in-foreground", "--conf-file=" + (dir / "dnsmasq.conf").string(),
      "--port=" + std::to_string(port_), "--listen-address=127.0.0.1", "--bind-interfaces",
      "--no-resolv", "--no-hosts", "--addn-hosts=" + hosts_file_.string(), "--local=/tg.test/",
      "--local-ttl=" + std::to_string(ttl_s), "--pid-file=", "--cache-size=0",
      std::string("--user=") + (pw ? pw->pw_name : "root"),
      std::string("--group=") + (gr ? gr->gr_name : "root")};
  for (const auto& c : cnames) args.push_back("--cname=" + c);
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(kDnsmasq, argv.data());
    _exit(127);
  }
  if (!Eventually([&] { return TcpAccepts(port_); }, std::chrono::seconds(10))) {
    throw std::runtime_error("dnsmasq did not start listening on port " + std::to_string(port_));
  }
}

Dnsmasq::~Dnsmasq() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
}

void Dnsmasq::SetHosts(const std::string& hosts) {
  taogate::testing::WriteFile(hosts_file_, hosts);
  kill(pid_, SIGHUP);
}

FakeResolver::FakeResolver(Mode mode) : mode_(mode) {
  fd_ = UniqueFd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (!fd_ || bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    throw std::runtime_error("fake resolver: cannot bind a loopback UDP socket");
  }
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { Run(); });
}

FakeResolver::~FakeResolver() {
  stop_ = true;
  thread_.join();
}

void FakeResolver::SetAnswer(std::vector<std::string> v4, bool ad) {
  std::lock_guard lock(mu_);
  v4_ = std::move(v4);
  ad_ = ad;
}

std::vector<uint8_t> FakeResolver::Respond(const uint8_t* q, size_t len) {
  if (len < 17) return {};
  Mode mode = mode_;
  if (mode == Mode::kSilent) return {};
  if (mode == Mode::kJunk) {
    static std::mt19937 rng(7);
    std::vector<uint8_t> junk(1 + rng() % 200);
    for (auto& b : junk) b = uint8_t(rng());
    return junk;
  }
  // The question as asked: its name (uncompressed, as BuildQuery writes it) and type.
  std::string qname;
  size_t p = 12;
  while (p < len && q[p] != 0) {
    if (!qname.empty()) qname += '.';
    qname.append(reinterpret_cast<const char*>(q + p + 1), q[p]);
    p += 1 + q[p];
  }
  if (p + 5 > len) return {};
  uint16_t qtype = uint16_t(q[p + 1] << 8 | q[p + 2]);
  ResponseBuilder b(qname, qtype);
  std::vector<uint8_t> out;
  if (mode == Mode::kGarbage) {
    out = b.Bytes();
    out[7] = 1;  // one answer record...
    out.insert(out.end(), {0xc0, 0x0c, 0, 1});  // ...cut short after its type
  } else {
    std::lock_guard lock(mu_);
    if (ad_) b.Ad();
    if (qtype == kTypeA) {
      for (const auto& ip : v4_) b.A(qname, ip, 1);
    }
    out = b.Bytes();
  }
  out[0] = q[0];  // the query's id
  out[1] = q[1];
  return out;
}

void FakeResolver::Run() {
  while (!stop_) {
    pollfd pfd{.fd = fd_.get(), .events = POLLIN, .revents = 0};
    if (poll(&pfd, 1, 50) <= 0) continue;
    uint8_t buf[1500];
    sockaddr_storage from{};
    socklen_t from_len = sizeof from;
    ssize_t n = recvfrom(fd_.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n <= 0) continue;
    ++queries_;
    auto out = Respond(buf, size_t(n));
    if (!out.empty()) {
      sendto(fd_.get(), out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from), from_len);
    }
  }
}

Config TestConfig(std::vector<std::string> servers, uint32_t ceiling_s) {
  Config c;
  c.servers = std::move(servers);
  c.table.ttl_floor_s = 1;
  c.table.ttl_ceiling_s = ceiling_s;
  c.table.retry_max_s = 1;
  c.table.jitter = 0;
  c.query_timeout_ms = 300;
  c.tries = 1;
  return c;
}

}  // namespace taogate::dns::testing
