// Reload without restart (docs/agent.md "Reload"): on SIGHUP or a change in
// the files' directories (a mounted Secret's `..data` swap, file_watch.h) the
// agent re-reads its trust bundle and its governor mTLS files (CA bundle,
// node certificate and key), checks all of them, and switches to them all or
// not at all:
//   - the trust bundle: BundleVerifier::Replace (later Redeems verify
//     against the new roots; a Redeem in progress finishes on the old ones);
//   - the governor files: GrpcGovernorClient::SetTls (later Acquires) and
//     GovernorWatch::SetTls (both streams reconnect at once with them).
// Each file that changed gets a RELOADED record in the node ledger (old and
// new SHA-256; serial and notAfter of a certificate); a refusal gets one
// RELOADED record (verdict refused, the file and why), an error log line and
// the metric, and the old material keeps serving.
//
// Thread safety: Reload may be called from any thread; one runs at a time.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "taogate/agent/bundle_verifier.h"
#include "taogate/agent/config.h"
#include "taogate/agent/governor_client.h"
#include "taogate/agent/governor_watch.h"
#include "taogate/ledger/ledger.h"

namespace taogate::agent {

class AgentReloader {
 public:
  // Reads the files as they are now (what the daemon started with). `client`
  // and `watch` are null without a governor. Everything outlives this.
  AgentReloader(const AgentConfig& config, BundleVerifier& verifier, GrpcGovernorClient* client,
                GovernorWatch* watch, ledger::Ledger& ledger);
  // OK when applied or nothing changed; the refusal otherwise. `trigger`
  // ("sighup", "file_change") is recorded as the records' event.
  absl::Status Reload(std::string_view trigger);
  // The files watched for changes.
  std::vector<std::string> Paths() const;
  // taogate_agent_reload_total{result="ok|refused"}.
  std::string MetricsText() const;

 private:
  struct Files {
    std::string trust_bundle, ca, cert, key;
  };
  absl::StatusOr<Files> Read() const;
  absl::Status Refuse(std::string_view trigger, std::string_view scope, const std::string& path,
                      const absl::Status& why);

  const AgentConfig& config_;
  BundleVerifier& verifier_;
  GrpcGovernorClient* client_;
  GovernorWatch* watch_;
  ledger::Ledger& ledger_;
  mutable std::mutex mu_;     // one reload at a time; guards the fields below
  Files current_;
  uint64_t ok_ = 0, refused_ = 0;
};

}  // namespace taogate::agent
