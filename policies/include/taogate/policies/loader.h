// Reading a policy bundle: YAML bytes -> validated Bundle, or every error found
// with its position. Stateless; safe from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "taogate/policies/bundle.h"

namespace taogate::policies {

// One problem in a bundle. ToString() is the one user-facing form:
//   FILE:LINE:COL: field.path: message
// LINE and COL are 1-based and point at the offending key or value (for a
// missing field: at the mapping that lacks it). field.path uses the YAML keys
// and list indices, e.g. rules[3].approval.count.
struct ValidationError {
  std::string file;
  int line = 0;
  int column = 0;
  std::string path;
  std::string message;
  std::string ToString() const;
};

// Parses and validates `bytes` (named `file_name` in errors). On failure
// returns InvalidArgument whose message is every error's ToString(), one per
// line, and, if `errors` is not null, appends the errors there as well. The
// loader keeps going after an error so one run reports as many as it can.
absl::StatusOr<Bundle> ParseBundle(std::string_view bytes, std::string_view file_name,
                                   std::vector<ValidationError>* errors = nullptr);

// Reads the whole file (refusing more than kMaxBundleBytes) into `bytes`.
absl::Status ReadBundleFile(const std::string& path, std::string* bytes);

}  // namespace taogate::policies
