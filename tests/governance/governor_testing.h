// Test harness for tests/governance and bench/governor: a dev CA with client
// certificates per identity, a policy bundle with generated approver keys,
// and a real taogate-governor process on 127.0.0.1 with an ephemeral port.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "governor.grpc.pb.h"
#include "taogate/common/crypto.h"
#include "taogate/rpc/client.h"
#include "taogate/governance/x509.h"
#include "taogate/keys/trust_bundle.h"
#include "taogate/ledger/record.h"
#include "testing/http.h"
#include "testing/testing.h"

namespace taogate::governance::testing {

inline constexpr char kAgent[] = "spiffe://test.example/agent";
inline constexpr char kPlugin[] = "spiffe://test.example/plugin";
inline constexpr char kWriter[] = "spiffe://test.example/writer";
inline constexpr char kFlood[] = "spiffe://test.example/flood";
inline constexpr char kAlice[] = "spiffe://test.example/human/alice";  // dba, approver
inline constexpr char kBob[] = "spiffe://test.example/human/bob";      // dba, approver
inline constexpr char kCarol[] = "spiffe://test.example/human/carol";  // oncall, approver key
inline constexpr char kOps[] = "spiffe://test.example/ops";            // writer AND dba
inline constexpr char kAdmin[] = "spiffe://test.example/human/admin";

int64_t NowMs();

// The test bundle. `variant` 2 swaps the agent's db.read allow for a deny
// (explicit) so activation visibly changes decisions.
std::string TestPolicy(const std::map<std::string, std::array<uint8_t, 32>>& approver_keys,
                       int variant = 1);

class GovernorProcess {
 public:
  // Makes certs and keys in a temp dir and writes the policy; does not start.
  GovernorProcess();
  ~GovernorProcess();
  // Starts taogate-governor with --software-keys (or the TPM `tcti`) and
  // waits for its port. Returns false (and fills error()) on failure.
  // /metrics listens on 127.0.0.1:0 unless extra_args name --metrics-listen;
  // extra_args naming --tls-ca, --tls-cert, --tls-key or --policy replace
  // the harness's file.
  bool Start(const std::vector<std::string>& extra_args = {}, const std::string& tcti = "");
  void Stop();  // SIGTERM and reap
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  // The /metrics and /healthz port, from the "governor listening" log line.
  int MetricsPort() const;
  const std::string& error() const { return error_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // A stub authenticated as `identity` (a client cert with that URI SAN).
  std::unique_ptr<v1::Governor::Stub> Client(const std::string& identity);
  std::unique_ptr<v1::Governor::Stub> ClientWith(const rpc::ClientTls& tls);
  rpc::ClientTls TlsFor(const std::string& identity);
  // RequestAuthorization as `identity`, under a 10 s deadline.
  grpc::Status Authorize(const std::string& identity, const v1::AuthorizationRequest& r,
                         v1::Decision* d);

  // The trust bundle of the software root this governor was started with
  // (Start() without a TPM): what an agent of this governor trusts.
  absl::StatusOr<keys::TrustBundle> SoftwareTrustBundle() const;
  // Every record of the governor's ledger, opened read-only (after Stop()).
  absl::StatusOr<std::vector<ledger::Record>> LedgerRecords() const;

  const crypto::Ed25519PrivateKey& ApproverKey(const std::string& identity) const {
    return approver_keys_.at(identity);
  }
  std::map<std::string, std::array<uint8_t, 32>> ApproverPublicKeys() const;
  const CertAndKey& ca() const { return ca_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  std::string policy_path() const { return (dir_.path() / "policy.yaml").string(); }
  std::string ledger_dir() const { return (dir_.path() / "ledger").string(); }
  std::string root_key_path() const { return (dir_.path() / "root.pem").string(); }
  std::string log() const;

 private:
  taogate::testing::TempDir dir_;
  CertAndKey ca_;
  std::map<std::string, crypto::Ed25519PrivateKey> approver_keys_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string error_;
};

// "HTTP/1.1 200 OK ... body" from a GET on 127.0.0.1:port ("" if unreachable).
using ::taogate::testing::HttpGet;

// A read request from kAgent for tcp 127.0.0.1:5432 in cgroup /taogate/test.
v1::AuthorizationRequest ReadRequest();
v1::AuthorizationRequest WriteRequest();

}  // namespace taogate::governance::testing
