// taogate-agent-test-workload: what a governed workload does in the kernel
// tests. The test starts it inside a test-created cgroup (the child moves
// itself before exec), so the agent identifies it from its socket peer and
// the kernel gate sees it in the governed subtree. Prints one result line
// per action on stdout:
//   redeem SOCK FILE                 -> "REDEEM OK <seq>" | "REDEEM ERR <reason>"
//   connect HOST PORT                -> "CONNECT OK" | "CONNECT ERR <errno>"
//   redeem-connect SOCK FILE HOST PORT
//   redeem-many SOCK FILE N          -> "MANY OK=<n> REPLAY=<n> OTHER=<n>" (N threads at once)
//   redeem-loop SOCK DIR HOST PORT   -> per TAO file: redeem (retrying while the agent is down) + connect
//   connect-flood HOST PORT N        -> "FLOOD OK=<n> DENIED=<n>"
//   stream HOST PORT MS              -> connect, then write one byte every 5 ms for MS
//   op-release SOCK WORKLOAD         -> "OP OK" | "OP ERR <code>"
//   redeem-flood SOCK MS             -> malformed redeems for MS: "FLOOD CALLS=<n> RATE_LIMITED=<n>"
//   status-flood SOCK MS             -> operator calls on SOCK for MS: "OPFLOOD CALLS=<n>"
//   append PATH                      -> "WROTE" (opens PATH for append, writes one byte)
//   exec PATH ARG                    -> becomes PATH ARG
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <vector>

#include "taogate/agent/client.h"

namespace {

using taogate::agent::AgentClient;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int Connect(const std::string& host, int port, bool keep = false) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, host.c_str(), &a.sin_addr);
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  int err = errno;
  if (rc != 0) {
    close(fd);
    std::cout << "CONNECT ERR " << strerrorname_np(err) << std::endl;
    return -1;
  }
  std::cout << "CONNECT OK" << std::endl;
  if (!keep) {
    close(fd);
    return 0;
  }
  return fd;
}

bool Redeem(AgentClient& c, const std::string& wire) {
  std::string reason;
  auto r = c.Redeem(wire, &reason);
  if (r.ok()) {
    std::cout << "REDEEM OK " << r->consumed_seq() << std::endl;
    return true;
  }
  std::cout << "REDEEM ERR " << (reason.empty() ? std::string(absl::StatusCodeToString(r.status().code())) : reason)
            << std::endl;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.empty()) return 2;
  const std::string& cmd = a[0];
  if (cmd == "redeem" && a.size() == 3) {
    return Redeem(*AgentClient::ForSocket(a[1]), ReadAll(a[2])) ? 0 : 1;
  }
  // "append PATH": opens PATH for append and writes one byte; "exec PATH ARG":
  // replaces itself with PATH (what file and exec governance must stop).
  if (cmd == "append" && a.size() == 2) {
    int fd = open(a[1].c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) return 3;
    bool wrote = write(fd, "X", 1) == 1;
    close(fd);
    std::cout << (wrote ? "WROTE" : "WRITE FAILED") << std::endl;
    return wrote ? 0 : 4;
  }
  if (cmd == "exec" && a.size() == 3) {
    execl(a[1].c_str(), a[1].c_str(), a[2].c_str(), static_cast<char*>(nullptr));
    return 5;
  }
  if (cmd == "connect" && a.size() == 3) return Connect(a[1], std::stoi(a[2])) == 0 ? 0 : 1;
  if (cmd == "redeem-connect" && a.size() == 5) {
    bool ok = Redeem(*AgentClient::ForSocket(a[1]), ReadAll(a[2]));
    int c = Connect(a[3], std::stoi(a[4]));
    return ok && c == 0 ? 0 : 1;
  }
  if (cmd == "redeem-many" && a.size() == 4) {
    std::string wire = ReadAll(a[2]);
    int n = std::stoi(a[3]);
    std::vector<std::unique_ptr<AgentClient>> clients;
    for (int i = 0; i < n; ++i) clients.push_back(AgentClient::ForSocket(a[1]));
    std::atomic<int> ok{0}, replay{0}, other{0}, go{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < n; ++i)
      ts.emplace_back([&, i] {
        while (go.load() == 0) std::this_thread::yield();
        std::string reason;
        auto r = clients[i]->Redeem(wire, &reason);
        if (r.ok()) ++ok;
        else if (reason == "REPLAY") ++replay;
        else ++other;
      });
    go = 1;
    for (auto& t : ts) t.join();
    std::cout << "MANY OK=" << ok << " REPLAY=" << replay << " OTHER=" << other << std::endl;
    return 0;
  }
  if (cmd == "redeem-loop" && a.size() == 5) {
    std::vector<std::string> files;
    for (const auto& e : std::filesystem::directory_iterator(a[2])) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    auto client = AgentClient::ForSocket(a[1], 3'000);
    for (const auto& f : files) {
      std::string wire = ReadAll(f);
      // An outage (agent killed, restarting) is retried for up to ~5 s.
      for (int attempt = 0; attempt < 100; ++attempt) {
        std::string reason;
        auto r = client->Redeem(wire, &reason);
        if (r.ok()) {
          std::cout << "REDEEM OK " << std::filesystem::path(f).filename().string() << std::endl;
          Connect(a[3], std::stoi(a[4]));
          break;
        }
        std::cout << "REDEEM ERR " << (reason.empty() ? "UNAVAILABLE" : reason) << std::endl;
        if (!reason.empty()) break;  // a decision, not an outage
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      // Connect again anyway: must never succeed without a fresh grant.
      Connect(a[3], std::stoi(a[4]));
    }
    return 0;
  }
  if (cmd == "connect-flood" && a.size() == 4) {
    int ok = 0, denied = 0, n = std::stoi(a[3]);
    for (int i = 0; i < n; ++i) {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in s{};
      s.sin_family = AF_INET;
      s.sin_port = htons(std::stoi(a[2]));
      inet_pton(AF_INET, a[1].c_str(), &s.sin_addr);
      if (connect(fd, reinterpret_cast<sockaddr*>(&s), sizeof(s)) == 0) ++ok;
      else ++denied;
      close(fd);
    }
    std::cout << "FLOOD OK=" << ok << " DENIED=" << denied << std::endl;
    return 0;
  }
  if (cmd == "stream" && a.size() == 4) {
    int fd = Connect(a[1], std::stoi(a[2]), true);
    if (fd < 0) return 1;
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::stoi(a[3]));
    while (std::chrono::steady_clock::now() < end) {
      char b = 'x';
      (void)!send(fd, &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    close(fd);
    return 0;
  }
  if (cmd == "op-release" && a.size() == 3) {
    taogate::v1::KillSwitchRequest req;
    req.set_action(taogate::v1::KILL_SWITCH_RELEASE);
    req.set_workload(a[2]);
    auto r = AgentClient::ForSocket(a[1])->KillSwitch(req);
    if (r.ok()) std::cout << "OP OK" << std::endl;
    else std::cout << "OP ERR " << absl::StatusCodeToString(r.status().code()) << std::endl;
    return r.ok() ? 0 : 1;
  }
  if ((cmd == "redeem-flood" || cmd == "status-flood") && a.size() == 3) {
    auto client = AgentClient::ForSocket(a[1], 3'000);
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::stoi(a[2]));
    uint64_t calls = 0, limited = 0;
    while (std::chrono::steady_clock::now() < end) {
      std::string reason;
      if (cmd == "status-flood") {
        (void)client->Status();  // the flood itself is the point; the agent's counters tell
      } else if (!client->Redeem(std::string("\x0a\x03" "bad", 5), &reason).ok() && reason == "RATE_LIMITED") {
        ++limited;
      }
      ++calls;
    }
    if (cmd == "status-flood") std::cout << "OPFLOOD CALLS=" << calls << std::endl;
    else std::cout << "FLOOD CALLS=" << calls << " RATE_LIMITED=" << limited << std::endl;
    return 0;
  }
  std::cerr << "usage: see workload_main.cc\n";
  return 2;
}
