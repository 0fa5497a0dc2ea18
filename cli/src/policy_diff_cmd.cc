// taogatectl policy diff OLD NEW [--json]: the authority a bundle change adds
// ("+ grants") and removes ("- revokes"), computed by policies::DiffPolicies.
// Exit: 0 nothing added (removals allowed), 3 authority added, 1 error (an
// invalid bundle: its errors on stderr). CI gates a change on exit 3.
#include <iostream>

#include <nlohmann/json.hpp>

#include "command.h"
#include "policy_cmds.h"
#include "taogate/common/strings.h"
#include "taogate/policies/policy_diff.h"

namespace taogate::cli {
namespace {

int Diff(const std::string& old_file, const std::string& new_file, bool json) {
  auto before = LoadOrReport(old_file);
  if (!before) return 1;
  auto after = LoadOrReport(new_file);
  if (!after) return 1;
  auto d = policies::DiffPolicies(*before, *after);
  if (!d.ok()) return Fail(std::string(d.status().message()));
  if (json) {
    nlohmann::json j;
    j["before"] = {{"file", old_file}, {"bundle_sha256", before->HashHex()}};
    j["after"] = {{"file", new_file}, {"bundle_sha256", after->HashHex()}};
    j["adds_authority"] = d->AddsAuthority();
    j["grants"] = nlohmann::json::array();
    j["revokes"] = nlohmann::json::array();
    for (const auto& c : d->changes) {
      j[c.adds ? "grants" : "revokes"].push_back(
          {{"kind", c.kind}, {"subject", c.subject}, {"detail", c.detail}});
    }
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << "policy diff " << old_file << " (" << before->HashHex().substr(0, 12) << ") -> "
              << new_file << " (" << after->HashHex().substr(0, 12) << ")\n";
    for (bool adds : {true, false}) {
      size_t n = 0;
      for (const auto& c : d->changes) n += c.adds == adds;
      if (n == 0) continue;
      std::cout << (adds ? "+ grants (authority added): " : "- revokes (authority removed): ") << n
                << "\n";
      for (const auto& c : d->changes) {
        if (c.adds != adds) continue;
        std::cout << "  " << (adds ? '+' : '-') << " [" << c.kind << "] " << c.subject << ": "
                  << c.detail << "\n";
      }
    }
    if (d->changes.empty()) std::cout << "no change in authority\n";
  }
  return d->AddsAuthority() ? 3 : 0;
}

}  // namespace

void RegisterPolicyDiff(CLI::App& policy) {
  static std::string old_file, new_file;
  static bool json = false;
  auto* d = policy.add_subcommand(
      "diff", "Authority a bundle change adds and removes; exit 0 none added, 3 added, 1 error");
  d->add_option("OLD", old_file, "the active (or base) bundle")->required();
  d->add_option("NEW", new_file, "the proposed bundle")->required();
  d->add_flag("--json", json, "machine-readable: {adds_authority, grants[], revokes[]}");
  d->callback([] { ExitCode() = Diff(old_file, new_file, json); });
}

}  // namespace taogate::cli
