#include "taogate/dns/resolver.h"

#include <ares.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "taogate/common/strings.h"
#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/dns/message.h"

namespace taogate::dns {

struct Resolver::Channel {
  ares_channel ch = nullptr;
  ~Channel() {
    if (ch) ares_destroy(ch);  // runs the callbacks of unfinished queries (ARES_EDESTRUCTION)
  }
};

// One name's resolution: the A and the AAAA query.
struct Resolver::Query {
  struct Part {
    Query* query;
    int family;  // 0 = A, 1 = AAAA
  };
  Query(Resolver* r, std::string n) : self(r), name(std::move(n)) {}
  Resolver* self;
  std::string name;
  FamilyResult result[2];
  Part parts[2] = {{this, 0}, {this, 1}};
  int pending = 2;
};

namespace {

FamilyResult FromAresError(int status) {
  switch (status) {
    case ARES_ETIMEOUT: return FailedResult(Failure::kTimeout, "timeout");
    case ARES_ESERVFAIL: return FailedResult(Failure::kServFail, "SERVFAIL");
    case ARES_ENOTFOUND: return FailedResult(Failure::kNxDomain, "NXDOMAIN");
    case ARES_EBADRESP: return FailedResult(Failure::kGarbage, "garbage answer: bad response");
    default: return FailedResult(Failure::kOther, ares_strerror(status));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Resolver>> Resolver::Create(Config config, Sink& sink,
                                                           const Clock& clock) {
  TG_ASSIGN_OR_RETURN(std::vector<Server> servers, EffectiveServers(config));
  TG_RETURN_IF_ERROR(Validate(config, servers));
  static const int lib = ares_library_init(ARES_LIB_INIT_ALL);
  if (lib != ARES_SUCCESS) return absl::InternalError(StrCat("c-ares: ", ares_strerror(lib)));

  auto channel = std::make_unique<Channel>();
  ares_options opts{};
  opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
  opts.timeout = int(config.query_timeout_ms);
  opts.tries = int(config.tries);
  int rc = ares_init_options(&channel->ch, &opts, ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
  if (rc != ARES_SUCCESS) return absl::InternalError(StrCat("c-ares init: ", ares_strerror(rc)));
  // Exactly the configured servers, whatever c-ares read at init.
  std::vector<ares_addr_port_node> nodes(servers.size());
  for (size_t i = 0; i < servers.size(); ++i) {
    ares_addr_port_node& n = nodes[i];
    n.next = i + 1 < nodes.size() ? &nodes[i + 1] : nullptr;
    n.family = servers[i].ip.family == 4 ? AF_INET : AF_INET6;
    if (n.family == AF_INET) {
      std::memcpy(&n.addr.addr4, servers[i].ip.bytes.data(), 4);
    } else {
      std::memcpy(&n.addr.addr6, servers[i].ip.bytes.data(), 16);
    }
    n.udp_port = n.tcp_port = servers[i].port;
  }
  rc = ares_set_servers_ports(channel->ch, nodes.data());
  if (rc != ARES_SUCCESS) return absl::InternalError(StrCat("c-ares servers: ", ares_strerror(rc)));

  UniqueFd wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return ErrnoStatus(errno, "eventfd");
  std::unique_ptr<Resolver> r(new Resolver(std::move(config), std::move(servers), sink, clock));
  r->channel_ = std::move(channel);
  r->wake_ = std::move(wake);
  return r;
}

Resolver::Resolver(Config config, std::vector<Server> servers, Sink& sink, const Clock& clock)
    : config_(std::move(config)),
      servers_(std::move(servers)),
      sink_(sink),
      clock_(clock),
      table_(config_.table) {}

Resolver::~Resolver() {
  Stop();
  channel_.reset();  // after the thread: the unfinished queries' callbacks free them
}

void Resolver::Start() {
  if (thread_.joinable() || stop_) return;
  thread_ = std::thread([this] { Run(); });
}

void Resolver::Stop() {
  stop_ = true;
  Wake();
  if (thread_.joinable()) thread_.join();
}

void Resolver::Wake() {
  uint64_t one = 1;
  if (wake_ && write(wake_.get(), &one, sizeof one) < 0) {
    // EAGAIN: the counter is already non-zero, the thread will wake anyway.
  }
}

absl::Status Resolver::SetNames(const std::vector<std::string>& names) {
  if (names.size() > config_.max_names) {
    return absl::InvalidArgumentError(
        StrCat("dns: ", names.size(), " names, more than max_names ", config_.max_names));
  }
  std::vector<std::string> canonical;
  canonical.reserve(names.size());
  for (const auto& n : names) {
    TG_ASSIGN_OR_RETURN(std::string c, target::ParseHostName(n));  // the one name grammar
    canonical.push_back(std::move(c));
  }
  {
    std::lock_guard lock(mu_);
    for (auto& c : table_.SetNames(canonical, clock_.MonoNs())) pending_.push_back(std::move(c));
  }
  Wake();
  return absl::OkStatus();
}

std::vector<NameStatus> Resolver::Snapshot() const {
  std::lock_guard lock(mu_);
  return table_.Snapshot();
}

ResolverStats Resolver::GetStats() const {
  std::lock_guard lock(mu_);
  return ResolverStats{.table = table_.stats(), .queries = queries_, .names = table_.size(),
                       .stale = table_.StaleCount(), .servers = servers_};
}

void Resolver::Send(const std::string& name) {
  auto* q = new Query(this, name);
  ++inflight_;
  for (int f = 0; f < 2; ++f) {
    std::vector<uint8_t> msg = BuildQuery(name, f == 0 ? kTypeA : kTypeAaaa);
    ares_send(channel_->ch, msg.data(), int(msg.size()), OnAnswer, &q->parts[f]);
  }
}

void Resolver::OnAnswer(void* arg, int status, int, unsigned char* buf, int len) {
  auto* part = static_cast<Query::Part*>(arg);
  part->query->self->Finish(part->query, part->family, status, buf, len);
}

void Resolver::Finish(Query* q, int family, int status, const unsigned char* buf, int len) {
  uint16_t qtype = family == 0 ? kTypeA : kTypeAaaa;
  if (status == ARES_SUCCESS && buf != nullptr) {
    std::span<const uint8_t> msg(buf, len > 0 ? size_t(len) : 0);
    q->result[family] = Classify(ParseResponse(msg, q->name, qtype), config_.require_ad);
  } else {
    q->result[family] = FromAresError(status);
  }
  if (--q->pending > 0) return;
  std::unique_ptr<Query> done(q);
  --inflight_;
  if (status == ARES_EDESTRUCTION || stop_) return;
  std::lock_guard lock(mu_);
  queries_ += 2;
  auto change = table_.Apply(q->name, q->result[0], q->result[1], clock_.MonoNs());
  if (change) pending_.push_back(*std::move(change));
}

void Resolver::Run() {
  ares_channel ch = channel_->ch;
  while (!stop_) {
    std::vector<std::string> due;
    std::vector<Change> deliver;
    int64_t next_due;
    {
      std::lock_guard lock(mu_);
      int64_t now = clock_.MonoNs();
      if (inflight_ < config_.max_inflight) due = table_.TakeDue(now, config_.max_inflight - inflight_);
      deliver.swap(pending_);
      next_due = inflight_ < config_.max_inflight ? table_.NextDueNs() : INT64_MAX;
    }
    for (const auto& name : due) Send(name);
    for (const auto& c : deliver) sink_.OnChange(c);
    if (!deliver.empty()) continue;  // the sink took time: look at the table again

    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    int bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
    pollfd fds[ARES_GETSOCK_MAXNUM + 1];
    int n = 0;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short ev = short((ARES_GETSOCK_READABLE(bits, i) ? POLLIN : 0) |
                       (ARES_GETSOCK_WRITABLE(bits, i) ? POLLOUT : 0));
      if (ev) fds[n++] = pollfd{.fd = socks[i], .events = ev, .revents = 0};
    }
    fds[n++] = pollfd{.fd = wake_.get(), .events = POLLIN, .revents = 0};
    int64_t wait_ms = 1000;
    timeval max_tv{.tv_sec = 1, .tv_usec = 0}, tv;
    if (timeval* t = ares_timeout(ch, &max_tv, &tv)) {
      wait_ms = std::min<int64_t>(wait_ms, t->tv_sec * 1000 + (t->tv_usec + 999) / 1000);
    }
    if (next_due != INT64_MAX) {
      wait_ms = std::min<int64_t>(wait_ms, (next_due - clock_.MonoNs() + 999'999) / 1'000'000);
    }
    int ready = poll(fds, nfds_t(n), int(std::max<int64_t>(wait_ms, 0)));
    if (ready < 0 && errno != EINTR) {
      log::Error("dns: poll failed", {{"error", std::strerror(errno)}});
      continue;
    }
    for (int i = 0; i < n && ready > 0; ++i) {
      if (!fds[i].revents) continue;
      if (fds[i].fd == wake_.get()) {
        uint64_t v;
        if (read(wake_.get(), &v, sizeof v) < 0) {
          // EAGAIN: nothing to drain.
        }
        continue;
      }
      bool r = fds[i].revents & (POLLIN | POLLERR | POLLHUP);
      bool w = fds[i].revents & POLLOUT;
      ares_process_fd(ch, r ? fds[i].fd : ARES_SOCKET_BAD, w ? fds[i].fd : ARES_SOCKET_BAD);
    }
    ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
  }
}

}  // namespace taogate::dns
