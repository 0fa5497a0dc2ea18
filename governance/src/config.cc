// YAML configuration for taogate-governor (docs/governor.md lists the keys).
#include <yaml-cpp/yaml.h>

#include <set>

#include "taogate/common/strings.h"
#include "taogate/governance/server.h"

namespace taogate::governance {

absl::Status LoadServerConfigYaml(const std::string& path, ServerConfig* c) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(StrCat(path, ": ", e.what()));
  }
  if (!root.IsMap()) return absl::InvalidArgumentError(StrCat(path, ": expected a mapping"));
  try {
    for (const auto& kv : root) {
      const std::string k = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      auto str = [&] { return v.as<std::string>(); };
      if (k == "listen") c->listen = str();
      else if (k == "tls_ca") c->tls_ca = str();
      else if (k == "tls_cert") c->tls_cert = str();
      else if (k == "tls_key") c->tls_key = str();
      else if (k == "metrics_listen") c->metrics_listen = str();
      else if (k == "metrics_allow_remote") c->metrics_allow_remote = v.as<bool>();
      else if (k == "policy_file") c->policy_file = str();
      else if (k == "ledger_dir") c->governor.ledger_dir = str();
      else if (k == "instance") c->governor.instance = str();
      else if (k == "admins") c->governor.admins = v.as<std::vector<std::string>>();
      else if (k == "trust_domain") c->governor.trust_domain = str();
      else if (k == "tcti") c->keys.tcti = str();
      else if (k == "software_keys") c->keys.software_keys = v.as<bool>();
      else if (k == "software_root_key") c->keys.software_root_key = str();
      else if (k == "tpm_create_root") c->keys.tpm_create_root = v.as<bool>();
      else if (k == "tpm_probe_interval_ms") c->keys.tpm_probe_interval_ms = v.as<int64_t>();
      else if (k == "tpm_grace_s") c->keys.tpm_grace_ms = v.as<int64_t>() * 1000;
      else if (k == "approval_window_s") c->governor.approval_window_ms = v.as<int64_t>() * 1000;
      else if (k == "approval_max_age_s") c->governor.approval_max_age_ms = v.as<int64_t>() * 1000;
      else if (k == "checkpoint_every_records")
        c->governor.checkpoint_every_records = v.as<uint64_t>();
      else if (k == "ledger_fsync") c->governor.ledger_fsync = v.as<bool>();
      else
        return absl::InvalidArgumentError(StrCat(path, ":", kv.first.Mark().line + 1,
                                                 ": unknown key '", k, "'"));
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(StrCat(path, ":", e.mark.line + 1, ": ", e.msg));
  }
  return absl::OkStatus();
}

}  // namespace taogate::governance
