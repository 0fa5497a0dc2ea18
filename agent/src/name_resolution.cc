// NameResolution (contract in name_resolution.h).
#include "taogate/agent/name_resolution.h"

#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/runtime/metrics_text.h"

namespace taogate::agent {

absl::StatusOr<std::unique_ptr<NameResolution>> NameResolution::Create(dns::Config config) {
  std::unique_ptr<NameResolution> n(new NameResolution());
  TG_ASSIGN_OR_RETURN(n->resolver_, dns::Resolver::Create(std::move(config), *n));
  return n;
}

NameResolution::~NameResolution() { Stop(); }

void NameResolution::Start(TargetSync& sync) {
  sync_.store(&sync);
  resolver_->Start();
}

void NameResolution::Stop() {
  if (resolver_) resolver_->Stop();
}

absl::Status NameResolution::Watch(const std::vector<std::string>& names) { return resolver_->SetNames(names); }

void NameResolution::OnChange(const dns::Change& c) {
  TargetSync* sync = sync_.load();
  if (sync == nullptr) return;  // not started: nothing resolves before Start
  // A refused change is logged, counted and recorded by TargetSync; the
  // previous maps stay (fail closed) and the next change retries.
  (void)sync->SetNameAddresses(c.name, c.added, c.removed, c.unwatched, c.ttl_s, c.chain);
}

std::string NameResolution::MetricsText() const {
  dns::ResolverStats s = resolver_->GetStats();
  std::string out = StrCat(
      runtime::Gauge("taogate_agent_dns_names", "Protected DNS names the agent resolves.",
                     static_cast<int64_t>(s.names)),
      runtime::Gauge("taogate_agent_dns_names_stale",
                     "Protected names keeping their last addresses after a failed resolution (alert on > 0).",
                     static_cast<int64_t>(s.stale)),
      runtime::Counter("taogate_agent_dns_queries_total", "DNS queries sent (A and AAAA each count).", s.queries),
      runtime::Counter("taogate_agent_dns_resolutions_total", "Resolutions of protected names completed.",
                       s.table.resolutions),
      runtime::Counter("taogate_agent_dns_changes_total", "Changes of a protected name's address set.",
                       s.table.changes),
      runtime::Counter("taogate_agent_dns_over_cap_total", "Answers with more addresses than kept.",
                       s.table.over_cap));
  out += runtime::Family("taogate_agent_dns_failures_total", "counter",
                         "Failed resolutions of a family, by kind (the name keeps its last addresses).");
  for (size_t i = 0; i < dns::kFailureKinds; ++i)
    out += StrCat("taogate_agent_dns_failures_total{kind=\"", dns::FailureName(static_cast<dns::Failure>(i)),
                  "\"} ", s.table.failures[i], "\n");
  return out;
}

}  // namespace taogate::agent
