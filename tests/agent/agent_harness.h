// A real taogate-agent for kernel tests: its own bpffs instance (private
// mount in a temp dir), its own governed cgroup subtree (unique name), its
// own sockets and ledger, a software root + issuing key that mint genuine
// TAOs, and loopback listeners (one protected port, one not). Workloads are
// the test-workload binary started inside test-created cgroups.
//
// Teardown on every path: agent killed, gate detached, cgroups destroyed
// (their processes killed), bpffs unmounted.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "taogate/agent/client.h"
#include "taogate/keys/issuing_key.h"
#include "taogate/keys/root_signer.h"
#include "taogate/ledger/record.h"
#include "tao.pb.h"
#include "testing/testing.h"

namespace taogate::agent::testing {

// Accepts connections on 127.0.0.1:<port>, counts them and the bytes read.
class Listener {
 public:
  Listener();
  ~Listener();
  int port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  uint64_t bytes() const { return bytes_.load(); }

 private:
  void Loop();
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::atomic<uint64_t> bytes_{0};
  std::thread thread_;
};

struct WorkloadResult {
  int exit_code = -1;
  std::string out;
  bool Has(const std::string& s) const { return out.find(s) != std::string::npos; }
};

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Writes the config and starts the agent; waits for READY (fails the test otherwise).
  void StartAgent(const std::string& extra_yaml = "");
  void StopAgent();   // SIGTERM, wait
  void KillAgent();   // SIGKILL, wait
  bool agent_running() const { return agent_pid_ > 0; }

  // A workload cgroup below the governed root ("w1"); returns its cgroup id.
  uint64_t MakeWorkload(const std::string& name);
  std::string WorkloadPath(const std::string& name) const { return governed_abs_ + "/" + name; }
  // Runs the test-workload binary inside workload `name`.
  WorkloadResult RunIn(const std::string& name, std::vector<std::string> args, int timeout_ms = 60'000);

  // A valid TAO body for workload cgroup `cgroup_id` and `port` on this node,
  // bound to that workload's path (the governed root for an unknown id).
  v1::TaoBody Body(uint64_t cgroup_id, int port) const;
  std::string Sign(const v1::TaoBody& body) const;
  std::string Mint(uint64_t cgroup_id, int port) const { return Sign(Body(cgroup_id, port)); }
  std::string WriteTao(const std::string& wire);  // -> path of a fresh file

  std::unique_ptr<AgentClient> Operator() const { return AgentClient::ForSocket(operator_sock_, 5'000); }
  // Every record of the ledger, read with a read-only opener.
  std::vector<ledger::Record> LedgerRecords() const;
  // Records of `kind` whose field `name` equals `value` (or all of `kind`).
  std::vector<ledger::Record> Find(ledger::RecordKind kind, const std::string& name = "",
                                   const std::string& value = "") const;
  // Refusals with `reason_code` the ledger accounts for: 1 per own REJECTED
  // record, `count` per summary (repeats are summarized every
  // refusal_flush_ms); polls until at least `want` or the timeout.
  uint64_t Refusals(const std::string& reason_code, uint64_t want = 0, int timeout_ms = 3'000) const;
  // Polls until Find(...) is non-empty or timeout.
  bool WaitFor(ledger::RecordKind kind, const std::string& name, const std::string& value,
               int timeout_ms = 3'000) const;

  std::unique_ptr<taogate::testing::TempDir> dir_;
  std::string bpffs_, pin_root_, governed_rel_, governed_abs_, cgroup2_;
  std::string workload_sock_, operator_sock_, ledger_dir_, config_path_, agent_log_;
  std::string node_id_ = "node-test";
  bool strict_keys_ = false;
  std::vector<std::string> extra_targets_;  // appended to the config's protected_targets
  int metrics_port_ = -1;
  std::unique_ptr<keys::SoftwareRootSigner> root_;
  std::unique_ptr<keys::IssuingKeyManager> issuer_;
  std::unique_ptr<Listener> protected_, open_;
  std::map<std::string, uint64_t> workloads_;
  pid_t agent_pid_ = -1;
  int tao_files_ = 0;
  bool ready_ = false;
};

// The fixture most agent kernel tests share: the harness, workloads "w1" and
// "w2" (cgroup ids in w1_, w2_), then the agent started -- unless the
// derived fixture's constructor clears start_agent_.
class TwoWorkloadTest : public AgentTest {
 protected:
  void SetUp() override;
  bool start_agent_ = true;
  uint64_t w1_ = 0, w2_ = 0;
};

std::string WorkloadBin();
int FreePort();

}  // namespace taogate::agent::testing
