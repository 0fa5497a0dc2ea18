#include "workload.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <grpcpp/grpcpp.h>

#include "governor.grpc.pb.h"
#include "report.h"
#include "taogate/agent/client.h"
#include "taogate/common/fd.h"
#include "taogate/rpc/client.h"

namespace taogate::bench::acquire {
namespace {

std::string ReadAll(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int64_t CpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// One connect to 127.0.0.1:port; 0 or the errno. Closed with RST (linger 0)
// so tens of thousands of connects leave no TIME_WAIT behind.
int ConnectOnce(int port) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return errno;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return errno;
  linger l{1, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  return 0;
}

// One iteration of a mode: false (and a message for the first few) on failure.
class Iteration {
 public:
  explicit Iteration(const WorkloadArgs& a) : a_(a), agent_(agent::AgentClient::ForSocket(a.agent_socket)) {
    target_ = "tcp:127.0.0.1:" + std::to_string(a.target_port);
    if (a.mode == "two-step") {
      rpc::ClientTls tls{ReadAll(a.ca_file), ReadAll(a.cert_file), ReadAll(a.key_file), ""};
      governor_ = v1::Governor::NewStub(rpc::MakeGovernorChannel(a.governor_address, tls));
    }
  }

  bool Run(std::string* error) {
    if (a_.mode == "acquire") {
      v1::AcquireRequest req;
      req.set_target(target_);
      req.set_action_class("db.read");
      req.set_reason("benchmark");
      auto r = agent_->Acquire(req, /*authorize_only=*/false);
      if (!r.ok()) return Fail(error, r.status().ToString());
      if (r->phase() != v1::AcquireProgress::GRANTED) return Fail(error, r->reason_code() + ": " + r->message());
    } else {
      v1::AuthorizationRequest req;
      req.mutable_binding()->set_node_id(a_.node_id);
      req.mutable_binding()->set_cgroup_id(a_.cgroup_id);
      req.set_cgroup_path(a_.cgroup_path);
      req.set_action_class("db.read");
      req.mutable_target()->set_proto(v1::TARGET_PROTO_TCP);
      req.mutable_target()->set_address("127.0.0.1");
      req.mutable_target()->set_port(a_.target_port);
      req.set_reason("benchmark");
      v1::Decision d;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      grpc::Status s = governor_->RequestAuthorization(&ctx, req, &d);
      if (!s.ok()) return Fail(error, "governor: " + s.error_message());
      if (d.outcome() != v1::OUTCOME_PERMIT) return Fail(error, "governor: not permitted: " + d.reason());
      auto r = agent_->Redeem(d.tao());
      if (!r.ok()) return Fail(error, "redeem: " + r.status().ToString());
    }
    if (int e = ConnectOnce(a_.target_port); e != 0) return Fail(error, std::string("connect: ") + strerror(e));
    return true;
  }

 private:
  static bool Fail(std::string* error, std::string m) {
    *error = std::move(m);
    return false;
  }
  const WorkloadArgs& a_;
  std::string target_;
  std::unique_ptr<agent::AgentClient> agent_;
  std::unique_ptr<v1::Governor::Stub> governor_;
};

}  // namespace

std::vector<std::string> WorkloadArgs::ToArgv(const std::string& self) const {
  return {self, "--workload", mode, agent_socket, std::to_string(target_port), governor_address.empty() ? "-" : governor_address,
          ca_file.empty() ? "-" : ca_file, cert_file.empty() ? "-" : cert_file, key_file.empty() ? "-" : key_file,
          node_id.empty() ? "-" : node_id, cgroup_path.empty() ? "-" : cgroup_path, std::to_string(cgroup_id),
          std::to_string(warmup), std::to_string(duration_ms), out_file.empty() ? "-" : out_file};
}

bool WorkloadArgs::Parse(int argc, char** argv, WorkloadArgs* o) {
  if (argc != 15 || std::string(argv[1]) != "--workload") return false;
  auto s = [&](int i) { return std::string(argv[i]) == "-" ? std::string() : std::string(argv[i]); };
  o->mode = s(2);
  o->agent_socket = s(3);
  o->target_port = std::atoi(argv[4]);
  o->governor_address = s(5);
  o->ca_file = s(6);
  o->cert_file = s(7);
  o->key_file = s(8);
  o->node_id = s(9);
  o->cgroup_path = s(10);
  o->cgroup_id = std::strtoull(argv[11], nullptr, 10);
  o->warmup = std::atoi(argv[12]);
  o->duration_ms = std::atoi(argv[13]);
  o->out_file = s(14);
  return o->mode == "acquire" || o->mode == "two-step" || o->mode == "probe";
}

bool Samples::Write(const std::string& path) const {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  const int64_t head[4] = {start_ns, end_ns, errors, cpu_ns};
  out.write(reinterpret_cast<const char*>(head), sizeof(head));
  out.write(reinterpret_cast<const char*>(latency_ns.data()), latency_ns.size() * sizeof(int64_t));
  return static_cast<bool>(out);
}

bool Samples::Read(const std::string& path, Samples* s) {
  std::string raw = ReadAll(path);
  int64_t head[4];
  if (raw.size() < sizeof(head) || raw.size() % sizeof(int64_t) != 0) return false;
  std::memcpy(head, raw.data(), sizeof(head));
  s->start_ns = head[0];
  s->end_ns = head[1];
  s->errors = head[2];
  s->cpu_ns = head[3];
  s->latency_ns.resize(raw.size() / sizeof(int64_t) - 4);
  std::memcpy(s->latency_ns.data(), raw.data() + sizeof(head), s->latency_ns.size() * sizeof(int64_t));
  return true;
}

int RunWorkload(const WorkloadArgs& a) {
  if (a.mode == "probe") {
    int e = ConnectOnce(a.target_port);
    return e == EPERM ? 0 : e == 0 ? 1 : 2;
  }
  Iteration it(a);
  std::string error;
  // Untimed; on a loaded machine 64 first TLS handshakes may time out, so a
  // failed warm-up iteration is retried (a few times).
  for (int i = 0, failed = 0; i < a.warmup; ++i) {
    if (!it.Run(&error) && ++failed > 10) {
      std::cerr << "workload " << a.cgroup_path << " warm-up: " << error << "\n";
      return 3;
    }
  }
  std::cout << "R" << std::flush;
  char go;
  if (read(0, &go, 1) != 1) return 0;  // the bench gave up
  Samples s;
  s.latency_ns.reserve(1 << 16);
  const int64_t cpu0 = CpuNs();
  s.start_ns = static_cast<int64_t>(MonotonicNs());
  const int64_t end = s.start_ns + int64_t{a.duration_ms} * 1'000'000;
  int64_t now = s.start_ns;
  while (now < end) {
    bool ok = it.Run(&error);
    int64_t t = static_cast<int64_t>(MonotonicNs());
    if (ok) {
      s.latency_ns.push_back(t - now);
    } else if (++s.errors <= 3) {
      std::cerr << "workload " << a.cgroup_path << ": " << error << "\n";
    }
    now = t;
  }
  s.end_ns = now;
  s.cpu_ns = CpuNs() - cpu0;
  if (!s.Write(a.out_file)) return 4;
  return s.errors == 0 ? 0 : 5;
}

}  // namespace taogate::bench::acquire
