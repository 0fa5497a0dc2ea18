// Policy test cases ("taogatectl policy test"): YAML files of requests and the
// decisions a bundle must give them, run with exactly the evaluation the
// governor uses (Policy::Evaluate, Policy::CheckBreakGlass,
// Policy::CheckApprovals). Format: policies/SCHEMA.md, "Policy tests".
// Stateless functions; safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "taogate/policies/loader.h"
#include "taogate/policies/policy.h"

namespace taogate::policies {

// What a case expects; an absent field is not checked.
struct CaseExpectation {
  std::optional<Effect> decision;
  std::optional<std::string> rule;  // rule id, or for break_glass the scope id; "-" = none
  std::optional<std::string> reason_contains;
  std::optional<uint32_t> ttl_seconds;
  std::optional<uint32_t> approval_count;
  std::optional<std::vector<std::string>> approval_roles;  // sorted
  std::optional<std::vector<std::string>> approvers;       // sorted identities
  bool check_rate_limit = false;
  std::optional<RateLimit> rate_limit;  // nullopt with check_rate_limit: unlimited
};

struct TestCase {
  std::string name;
  int line = 0, column = 0;  // of the case's mapping in its file
  Request request;
  // `workload: NAME`: a workload declared in the bundle, resolved when run
  // (WorkloadAttributesFor); its position for the error if it is unknown.
  std::string workload_id;
  int workload_line = 0, workload_column = 0;
  // Set: the case asks CheckBreakGlass for this TTL (0 = the scope's max).
  std::optional<uint32_t> break_glass_ttl;
  CaseExpectation expect;
};

struct TestFile {
  std::string path;         // as given
  std::string bundle_path;  // resolved against the test file's directory
  int bundle_line = 0, bundle_column = 0;
  std::vector<TestCase> cases;
};

// Parses a test file's bytes (named `file_name` in errors; `bundle:` is
// resolved against its directory). On failure returns InvalidArgument and
// appends every error found, as FILE:LINE:COL: field.path: message.
absl::StatusOr<TestFile> ParseTestFile(std::string_view bytes, std::string_view file_name,
                                       std::vector<ValidationError>* errors = nullptr);
absl::StatusOr<TestFile> LoadTestFile(const std::string& path,
                                      std::vector<ValidationError>* errors = nullptr);

// The request attributes a declared workload matches: the first value of each
// of its selectors (attested facts too, with `attested` set when it has
// attested-only selectors). NotFound for an unknown id.
absl::StatusOr<WorkloadAttributes> WorkloadAttributesFor(const Bundle& b, std::string_view id);

// One field that differs between expectation and result, in the test file's
// vocabulary (e.g. {"decision", "permit", "deny"}).
struct FieldDiff {
  std::string field;
  std::string expected;
  std::string got;
};

struct CaseResult {
  std::string name;
  int line = 0, column = 0;
  std::vector<FieldDiff> diffs;  // empty: the case passed
  bool passed() const { return diffs.empty(); }
};

// Runs every case of `file` against `policy`. A case naming a workload the
// bundle does not declare is an error (appended to `errors`, InvalidArgument),
// not a failure.
absl::StatusOr<std::vector<CaseResult>> RunTestCases(
    const Policy& policy, const TestFile& file, std::vector<ValidationError>* errors = nullptr);

// The identities that could give one of the approvals `spec` asks for of
// `requester` (Policy::CheckApprovals asked about each actor alone), sorted.
std::vector<std::string> EligibleApprovers(const Policy& p, const ApprovalSpec& spec,
                                           const std::string& requester);

// "permit", "deny", "require_approval": the test file's spelling.
std::string_view DecisionName(Effect e);
// "600/m"-style text of a limit (the largest unit with a whole count), or
// "none" for unlimited; "N/s|m|h" parsed back (nullopt if malformed).
std::string RateText(const std::optional<RateLimit>& l);
std::optional<double> ParseRate(std::string_view text);

}  // namespace taogate::policies
