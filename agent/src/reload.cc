#include "taogate/agent/reload.h"

#include "absl/strings/match.h"
#include "taogate/common/crypto.h"
#include "taogate/common/hex.h"
#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/keys/trust_bundle.h"
#include "taogate/rpc/tls_check.h"
#include "taogate/runtime/metrics_text.h"

namespace taogate::agent {
namespace {

std::string Sha(const std::string& s) { return ToHex(crypto::Sha256(s)); }

// Paths and error texts are bounded by nothing; ledger fields are (and hold
// no control characters).
std::string Bounded(std::string_view s) {
  std::string out(s.substr(0, 512));
  for (char& ch : out)
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = ' ';
  return out;
}

}  // namespace

AgentReloader::AgentReloader(const AgentConfig& config, BundleVerifier& verifier,
                             GrpcGovernorClient* client, GovernorWatch* watch, ledger::Ledger& ledger)
    : config_(config), verifier_(verifier), client_(client), watch_(watch), ledger_(ledger) {
  auto f = Read();
  if (f.ok()) current_ = *std::move(f);  // the daemon just started with these
}

std::vector<std::string> AgentReloader::Paths() const {
  std::vector<std::string> p = {config_.trust_bundle};
  if (client_) p.insert(p.end(), {config_.governor_ca, config_.governor_cert, config_.governor_key});
  return p;
}

absl::StatusOr<AgentReloader::Files> AgentReloader::Read() const {
  Files f;
  TG_ASSIGN_OR_RETURN(f.trust_bundle, rpc::ReadPemFile(config_.trust_bundle));
  if (!client_) return f;
  TG_ASSIGN_OR_RETURN(f.ca, rpc::ReadPemFile(config_.governor_ca));
  TG_ASSIGN_OR_RETURN(f.cert, rpc::ReadPemFile(config_.governor_cert));
  TG_ASSIGN_OR_RETURN(f.key, rpc::ReadPemFile(config_.governor_key));
  return f;
}

absl::Status AgentReloader::Refuse(std::string_view trigger, std::string_view scope,
                                   const std::string& path, const absl::Status& why) {
  ++refused_;
  log::Error("reload refused; the old files stay in use",
             {{"file", path}, {"scope", std::string(scope)}, {"error", std::string(why.message())}});
  (void)ledger_.Append(ledger::RecordKind::kReloaded, {{"component", "agent"},
                                                       {"event", std::string(trigger)},
                                                       {"verdict", "refused"},
                                                       {"scope", std::string(scope)},
                                                       {"path", Bounded(path)},
                                                       {"reason_code", "reload_refused"},
                                                       {"error", Bounded(std::string(why.message()))}});
  return why;
}

absl::Status AgentReloader::Reload(std::string_view trigger) {
  std::lock_guard l(mu_);
  const AgentConfig& c = config_;
  auto next = Read();
  if (!next.ok()) {
    // Read() names the file in its message; find which for the record.
    for (const std::string* p : {&c.trust_bundle, &c.governor_ca, &c.governor_cert, &c.governor_key})
      if (!p->empty() && absl::StrContains(next.status().message(), *p))
        return Refuse(trigger, "file", *p, next.status());
    return Refuse(trigger, "file", c.trust_bundle, next.status());
  }
  // 1. Everything checked before anything switches.
  auto bundle = keys::TrustBundle::Parse(next->trust_bundle);
  if (!bundle.ok()) return Refuse(trigger, "trust_bundle", c.trust_bundle, bundle.status());
  if (bundle->roots().empty())
    return Refuse(trigger, "trust_bundle", c.trust_bundle, absl::InvalidArgumentError("no root key"));
  rpc::CertInfo info;
  if (client_) {
    if (auto n = rpc::CheckCaBundle(next->ca); !n.ok()) return Refuse(trigger, "governor_ca", c.governor_ca, n.status());
    auto i = rpc::CheckKeyPair(next->cert, next->key, current_.ca + next->ca);
    if (!i.ok()) {
      const bool key = absl::StartsWith(i.status().message(), "private key");
      return Refuse(trigger, key ? "governor_key" : "governor_cert", key ? c.governor_key : c.governor_cert,
                    i.status());
    }
    info = *i;
  }
  // 2. Switch, and record what changed.
  std::vector<ledger::Fields> records;
  auto changed = [&](std::string scope, const std::string& path, const std::string& before,
                     const std::string& after) {
    records.push_back({{"component", "agent"}, {"event", std::string(trigger)}, {"verdict", "ok"},
                       {"scope", std::move(scope)}, {"path", Bounded(path)},
                       {"previous_sha256", Sha(before)}, {"file_sha256", Sha(after)}});
  };
  if (next->trust_bundle != current_.trust_bundle) {
    const size_t roots = bundle->roots().size();
    verifier_.Replace(*std::move(bundle));
    changed("trust_bundle", c.trust_bundle, current_.trust_bundle, next->trust_bundle);
    records.back().push_back({"count", std::to_string(roots)});  // root keys in the new bundle
  }
  if (client_ && (next->ca != current_.ca || next->cert != current_.cert || next->key != current_.key)) {
    rpc::ClientTls tls{next->ca, next->cert, next->key, c.governor_server_name};
    client_->SetTls(tls);
    if (watch_) watch_->SetTls(tls);
    if (next->ca != current_.ca) changed("governor_ca", c.governor_ca, current_.ca, next->ca);
    if (next->cert != current_.cert) {
      changed("governor_cert", c.governor_cert, current_.cert, next->cert);
      if (auto old = rpc::CheckKeyPair(current_.cert, current_.key, ""); old.ok())
        records.back().push_back({"previous_serial", old->serial_hex});
      records.back().push_back({"serial", info.serial_hex});
      records.back().push_back({"not_after", info.not_after});
    }
    if (next->key != current_.key) changed("governor_key", c.governor_key, current_.key, next->key);
  }
  current_ = *std::move(next);
  if (records.empty()) {
    // A busy directory wakes the watch often: only a signal is worth a line.
    log::Log(trigger == "sighup" ? log::Level::kInfo : log::Level::kDebug, "reload: nothing changed",
             {{"trigger", std::string(trigger)}});
    return absl::OkStatus();
  }
  ++ok_;
  for (auto& f : records) {
    log::Info("reloaded", {{"scope", f[3].second}, {"file", f[4].second}, {"sha256", f[6].second}});
    TG_RETURN_IF_ERROR(ledger_.Append(ledger::RecordKind::kReloaded, std::move(f)).status());
  }
  return absl::OkStatus();
}

std::string AgentReloader::MetricsText() const {
  std::lock_guard l(mu_);
  return StrCat(runtime::Family("taogate_agent_reload_total", "counter",
                                "Reloads of the trust bundle and governor mTLS files: ok (something "
                                "changed), refused (a bad file; the old material kept)."),
                "taogate_agent_reload_total{result=\"ok\"} ", ok_, "\n",
                "taogate_agent_reload_total{result=\"refused\"} ", refused_, "\n");
}

}  // namespace taogate::agent
