// NameResolution: the agent's DNS resolver (taogate::dns::Resolver,
// docs/dns.md) joined to TargetSync (docs/names.md).
//
// TargetSync hands it the DNS names of the protected set in force (Watch:
// NameWatcher); the resolver resolves them through the configured servers
// only, over sockets of this process, and each change of a name's address
// set comes back to TargetSync::SetNameAddresses on the resolver's thread,
// which moves the gate's maps and writes the ledger record. A name that
// stops resolving keeps its last addresses (the resolver's fail-closed
// rule) and counts as stale in the metrics and in `agent status`.
//
// Lifecycle: Create (validates the config, reads the servers), then the
// TargetSync is made with this as its NameWatcher and started (it may call
// Watch before anything resolves), then Start(sync) begins resolving; Stop()
// before the TargetSync goes. Thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "taogate/agent/target_sync.h"
#include "taogate/dns/resolver.h"

namespace taogate::agent {

class NameResolution final : public NameWatcher, public dns::Sink {
 public:
  static absl::StatusOr<std::unique_ptr<NameResolution>> Create(dns::Config config);
  ~NameResolution() override;

  // `sync` must outlive this object's Stop().
  void Start(TargetSync& sync);
  void Stop();

  absl::Status Watch(const std::vector<std::string>& names) override;
  void OnChange(const dns::Change& change) override;

  std::vector<dns::NameStatus> Snapshot() const { return resolver_->Snapshot(); }
  // Prometheus text: names, stale names, queries, failures by kind, changes.
  std::string MetricsText() const;

 private:
  NameResolution() = default;
  std::unique_ptr<dns::Resolver> resolver_;
  std::atomic<TargetSync*> sync_{nullptr};
};

}  // namespace taogate::agent
