// YAML configuration for taogate-governor (docs/governor.md lists the keys).
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>

#include "taogate/common/strings.h"
#include "taogate/governance/server.h"

namespace taogate::governance {
namespace {

// A secret or URL kept in its own file (a mounted Secret): the first line.
std::string FirstLine(const std::string& file, const std::string& what, const YAML::Mark& mark) {
  std::ifstream in(file);
  std::string line;
  if (!in || !std::getline(in, line))
    throw YAML::Exception(mark, StrCat(what, ": cannot read ", file));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  if (line.empty()) throw YAML::Exception(mark, StrCat(what, ": ", file, " is empty"));
  return line;
}

// webhooks: [{name, url | url_file, format, secret_file, ca_file}]
std::vector<WebhookConfig> ReadWebhooks(const YAML::Node& list) {
  if (!list.IsSequence()) throw YAML::Exception(list.Mark(), "webhooks: expected a list");
  std::vector<WebhookConfig> out;
  for (const auto& item : list) {
    if (!item.IsMap()) throw YAML::Exception(item.Mark(), "webhooks: each entry is a mapping");
    WebhookConfig w;
    for (const auto& kv : item) {
      const std::string k = kv.first.as<std::string>();
      const std::string v = kv.second.as<std::string>();
      if (k == "name") w.name = v;
      else if (k == "url") w.url = v;
      else if (k == "url_file") w.url = FirstLine(v, "webhook url_file", kv.second.Mark());
      else if (k == "format") w.format = v;
      else if (k == "secret_file") w.secret = FirstLine(v, "webhook secret_file", kv.second.Mark());
      else if (k == "ca_file") w.ca_file = v;
      else throw YAML::Exception(kv.first.Mark(), StrCat("webhooks: unknown key '", k, "'"));
    }
    if (absl::Status st = ValidateWebhook(w); !st.ok()) throw YAML::Exception(item.Mark(), std::string(st.message()));
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace

absl::Status ResolveLedgerPostgres(ServerConfig* c) {
  if (c->ledger_postgres_file.empty() || !c->governor.ledger_postgres.empty()) return absl::OkStatus();
  std::ifstream in(c->ledger_postgres_file);
  std::string line;
  if (!in || !std::getline(in, line))
    return absl::NotFoundError(StrCat("ledger_postgres_file: cannot read ", c->ledger_postgres_file));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  if (line.empty()) return absl::InvalidArgumentError(StrCat("ledger_postgres_file: ", c->ledger_postgres_file, " is empty"));
  c->governor.ledger_postgres = line;
  return absl::OkStatus();
}

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
      // A libpq connection string, or a file holding it (a mounted Secret).
      else if (k == "ledger_postgres") c->governor.ledger_postgres = str();
      else if (k == "ledger_postgres_file") c->ledger_postgres_file = str();
      else if (k == "ledger_origin") c->governor.ledger_origin = str();
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
      else if (k == "webhooks") c->webhooks = ReadWebhooks(v);
      // The approvals console (docs/approvals.md).
      else if (k == "console_listen") c->console.listen = str();
      else if (k == "console_origin") c->console.origin = str();
      else if (k == "console_tls_cert") c->console.tls_cert = str();
      else if (k == "console_tls_key") c->console.tls_key = str();
      else if (k == "console_require_user_verification") c->console.require_user_verification = v.as<bool>();
      else if (k == "webhook_max_attempts") {
        c->webhook_options.max_attempts = v.as<int>();
        if (c->webhook_options.max_attempts < 1 || c->webhook_options.max_attempts > 20)
          throw YAML::Exception(v.Mark(), "webhook_max_attempts: 1 to 20");
      } else if (k == "webhook_first_backoff_ms") {
        c->webhook_options.first_backoff_ms = v.as<int64_t>();
        if (c->webhook_options.first_backoff_ms < 10 || c->webhook_options.first_backoff_ms > 600'000)
          throw YAML::Exception(v.Mark(), "webhook_first_backoff_ms: 10 to 600000");
      }
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
