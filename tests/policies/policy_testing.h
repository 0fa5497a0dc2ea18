// Shared fixtures for the policy tests: a bundle with three approvers whose
// private keys the tests hold, and helpers to load YAML text.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "taogate/common/crypto.h"
#include "taogate/policies/policy.h"

namespace taogate::policies::testing {

inline constexpr char kReporter[] = "spiffe://t.example/sa/reporter";
inline constexpr char kWriter[] = "spiffe://t.example/sa/writer";
inline constexpr char kPlugin[] = "spiffe://t.example/sa/plugin";
inline constexpr char kAlice[] = "spiffe://t.example/human/alice";  // dba
inline constexpr char kBob[] = "spiffe://t.example/human/bob";      // dba, oncall
inline constexpr char kCarol[] = "spiffe://t.example/human/carol";  // oncall, no key

// Deterministic approver key n (1 = alice, 2 = bob, 3 = unlisted).
crypto::Ed25519PrivateKey ApproverKey(int n);

// The evaluation fixture (see policy_testing.cc for its text).
std::string TestBundleYaml();
std::shared_ptr<const Policy> TestPolicy();

// Loads `yaml` and returns the errors (empty if it is valid).
std::vector<ValidationError> Errors(const std::string& yaml);

Request Req(std::string actor, std::string action, std::string target,
            WorkloadAttributes w = {});
WorkloadAttributes ReporterPod();  // node-a, /taogate/reporter/pod1, app=reporter
WorkloadAttributes WriterCg();     // cgroup /taogate/writer

}  // namespace taogate::policies::testing
