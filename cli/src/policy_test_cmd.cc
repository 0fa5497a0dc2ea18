// taogatectl policy test PATH...: runs policy test cases (policies/SCHEMA.md,
// "Policy tests") against their bundles with the governor's evaluation.
// A directory is searched recursively for *_test.yaml / *_test.yml.
// Output: "PASS  FILE:LINE  NAME" / "FAIL  FILE:LINE  NAME" and, per differing
// field, "    field: expected X, got Y"; then a summary line.
// Exit: 0 all passed, 1 some case failed, 2 a test file or bundle is malformed
// (every error as FILE:LINE:COL: field.path: message on stderr) or no test
// file was found.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include "command.h"
#include "policy_cmds.h"
#include "taogate/common/strings.h"
#include "taogate/policies/policy_test.h"

namespace taogate::cli {
namespace {

namespace fs = std::filesystem;
using policies::ValidationError;

bool IsTestFile(const fs::path& p) {
  std::string n = p.filename().string();
  auto ends = [&](std::string_view s) {
    return n.size() > s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0;
  };
  return ends("_test.yaml") || ends("_test.yml");
}

// The test files `paths` name; sets *bad (and says why) for a directory
// without any.
std::vector<std::string> Collect(const std::vector<std::string>& paths, bool* bad) {
  std::vector<std::string> out;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::end(it);
           it.increment(ec)) {
        if (it->is_regular_file(ec) && IsTestFile(it->path())) found.push_back(it->path().string());
      }
      std::sort(found.begin(), found.end());
      if (ec) {
        std::cerr << p << ": " << ec.message() << "\n";
        *bad = true;
      } else if (found.empty()) {
        std::cerr << p << ": no *_test.yaml files under this directory\n";
        *bad = true;
      }
      out.insert(out.end(), found.begin(), found.end());
    } else {
      out.push_back(p);  // a missing file is reported when loaded
    }
  }
  return out;
}

void Report(const std::vector<ValidationError>& errors, const absl::Status& s) {
  for (const auto& e : errors) std::cerr << e.ToString() << "\n";
  if (errors.empty()) std::cerr << s.message() << "\n";
}

int Test(const std::vector<std::string>& paths) {
  bool bad = false;
  size_t passed = 0, failed = 0;
  std::vector<std::string> files = Collect(paths, &bad);
  for (const std::string& f : files) {
    std::vector<ValidationError> errors;
    auto tf = policies::LoadTestFile(f, &errors);
    if (!tf.ok()) {
      Report(errors, tf.status());
      bad = true;
      continue;
    }
    auto policy = policies::Policy::LoadFile(tf->bundle_path, &errors);
    if (!policy.ok()) {
      Report(errors, policy.status());
      std::cerr << StrCat(f, ":", tf->bundle_line, ":", tf->bundle_column,
                          ": bundle: cannot load policy bundle ", tf->bundle_path, "\n");
      bad = true;
      continue;
    }
    auto results = policies::RunTestCases(**policy, *tf, &errors);
    if (!results.ok()) {
      Report(errors, results.status());
      bad = true;
      continue;
    }
    for (const auto& r : *results) {
      std::cout << (r.passed() ? "PASS  " : "FAIL  ") << f << ":" << r.line << "  " << r.name
                << "\n";
      for (const auto& d : r.diffs) {
        std::cout << "    " << d.field << ": expected " << d.expected << ", got " << d.got << "\n";
      }
      ++(r.passed() ? passed : failed);
    }
  }
  std::cout << passed << " passed, " << failed << " failed in " << files.size() << " file"
            << (files.size() == 1 ? "" : "s") << (bad ? "; errors above (exit 2)" : "") << "\n";
  return bad ? 2 : failed ? 1 : 0;
}

}  // namespace

void RegisterPolicyTest(CLI::App& policy) {
  static std::vector<std::string> paths;
  auto* t = policy.add_subcommand(
      "test", "Run policy test cases (*_test.yaml); exit 0 all pass, 1 a case failed, 2 malformed");
  t->add_option("PATH", paths, "test files, or directories searched for *_test.yaml")->required();
  t->callback([] { ExitCode() = Test(paths); });
}

}  // namespace taogate::cli
