// Helpers of the in-VM test binary (taogate-vm-lsm-test): run a function in a
// forked child placed in a given cgroup, make connections, report results as
// machine-readable lines on the serial console. Single-threaded.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

#include "taogate/bpflsm/lsm_loader.h"

namespace taogate::vmtest {

// Everything a scenario needs; owned by main().
struct Env {
  bpflsm::LsmGate* gate = nullptr;  // null after the pinning scenario drops it
  std::string cg_mount;             // cgroup2 mount
  std::string gov_a, gov_a_child, gov_b, ungov;  // cgroup dirs
  bpflsm::CgroupRef ref_a, ref_b;
  pid_t agent = -1;                 // protected "agent" process
  std::string tmp;                  // scratch dir (tmpfs)
  std::string bpffs;                // private bpffs mount
};

constexpr uint16_t kTcpPort = 7001;  // a loopback listener of main()

// Runs fn in a child that first joins cgroup dir `cg`; returns fn's value
// (by convention 0 = success, else an errno), or 1000 + signal / 2000 on
// abnormal termination.
int RunIn(const std::string& cg, const std::function<int()>& fn);

// Blocking connect; returns 0 or errno. type is SOCK_STREAM or SOCK_DGRAM.
// Fills `ss` with an AF_INET/AF_INET6 address; returns its length.
socklen_t InetAddr(int family, const char* addr, uint16_t port, sockaddr_storage* ss);
int ConnectInet(int family, int type, const char* addr, uint16_t port);
// open(path, flags): 0 or errno.
int OpenErr(const std::string& path, int flags);
// execve(path) as busybox "true"; returns errno (only on failure).
int ExecTrue(const std::string& path);

// Prints "TAOGATE-VM-RESULT name=<name> status=pass|fail detail=<detail>".
void Report(const std::string& name, bool pass, const std::string& detail);
int Passed();
int Failed();
// Prints "TAOGATE-VM-DONE passed=<p> failed=<f>"; returns the exit code.
int Done();
// Prints "TAOGATE-VM-INFO <text>".
void Info(const std::string& text);
// "EPERM", "0", "ECONNREFUSED", ...
std::string ErrName(int err);

// Scenario groups; each prints one result line per scenario.
void RunFileScenarios(Env& env);
void RunSelfProtectionScenarios(Env& env);
void RunPriorDenyScenario(Env& env);
void RunCostInfo(Env& env);  // TAOGATE-VM-INFO only
void RunEnforcerScenarios(Env& env);  // enforce::Enforcer picks BPF LSM
void RunPinScenario(Env& env, std::unique_ptr<bpflsm::LsmGate> gate);

}  // namespace taogate::vmtest
