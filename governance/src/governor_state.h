// Governor internals shared by governor*.cc: one remembered decision.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "governor.pb.h"
#include "taogate/governance/governor.h"
#include "taogate/policies/policy.h"

namespace taogate::governance {

// Guarded by Governor::mu_ once inserted into decisions_.
struct Governor::Entry {
  std::string id;
  std::string requester;  // the actor: TAO actor, policy subject, ledger `actor`
  // The verified caller, the only one shown the TAO: the requester itself,
  // or the node agent that attested it.
  std::string caller;
  v1::WorkloadBinding binding;
  std::string workload;
  std::string action;
  v1::Target target;
  std::string target_text;
  std::string policy_hex;
  std::string reason;  // the sanitized summary (policies::ReasonRecord), for the console
  std::string annotations;  // the checked ledger value (internal::AnnotationsField), "" if none
  v1::Decision decision;  // what callers see (TAO included, shown to the requester only)
  policies::ApprovalSpec approval;
  std::chrono::seconds ttl{0};
  std::vector<std::string> approvers;  // distinct, verified, requester excluded
  int64_t pending_until_ms = 0;
  uint64_t version = 1;   // bumped on every change (WatchDecision)
  bool issuing = false;   // final approval is being turned into a TAO
  bool break_glass = false;
  bool attested = false;  // a node attested the requester (ledger: event=attested)
  bool reviewed = false;

  bool pending() const { return decision.outcome() == v1::OUTCOME_PENDING_APPROVAL; }
};

}  // namespace taogate::governance
