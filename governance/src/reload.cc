#include "reload.h"

#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <tuple>

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "absl/strings/match.h"
#include "convert.h"
#include "taogate/common/crypto.h"
#include "taogate/common/hex.h"
#include "taogate/common/log.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/policies/loader.h"
#include "taogate/rpc/tls_check.h"

namespace taogate::governance::internal {
namespace fs = std::filesystem;
namespace {

constexpr unsigned kRefreshSeconds = 1;  // gRPC's minimum

absl::Status Write(const fs::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
  out.close();
  if (!out) return absl::InternalError(StrCat("cannot write ", p.string()));
  return absl::OkStatus();
}

std::string Sha(const std::string& s) { return ToHex(crypto::Sha256(s)); }

}  // namespace

absl::StatusOr<std::unique_ptr<ServedTls>> ServedTls::Create(const TlsPem& pem) {
  std::unique_ptr<ServedTls> t(new ServedTls());
  std::string tmpl = (fs::temp_directory_path() / "taogate-governor-tls-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return ErrnoStatus(errno, "mkdtemp");  // mode 0700
  t->dir_ = tmpl;
  TG_RETURN_IF_ERROR(t->Install(pem));
  return t;
}

ServedTls::~ServedTls() {
  std::error_code ec;
  if (!dir_.empty()) fs::remove_all(dir_, ec);
}

absl::Status ServedTls::Install(const TlsPem& pem) {
  const fs::path gen = dir_ / StrCat("gen-", ++generation_);
  std::error_code ec;
  fs::create_directory(gen, ec);
  if (ec) return absl::InternalError(StrCat("mkdir ", gen.string(), ": ", ec.message()));
  TG_RETURN_IF_ERROR(Write(gen / "ca.pem", pem.ca));
  TG_RETURN_IF_ERROR(Write(gen / "cert.pem", pem.cert));
  TG_RETURN_IF_ERROR(Write(gen / "key.pem", pem.key));
  const fs::path link = dir_ / "current", tmp = dir_ / "current.tmp";
  fs::remove(tmp, ec);
  fs::create_directory_symlink(gen.filename(), tmp, ec);
  if (ec) return absl::InternalError(StrCat("symlink ", tmp.string(), ": ", ec.message()));
  fs::rename(tmp, link, ec);  // atomic: readers see the old generation or this one
  if (ec) return absl::InternalError(StrCat("rename ", link.string(), ": ", ec.message()));
  // The previous generation: a read already open keeps its file.
  if (generation_ > 1) fs::remove_all(dir_ / StrCat("gen-", generation_ - 1), ec);
  return absl::OkStatus();
}

std::shared_ptr<grpc::ServerCredentials> ServedTls::Credentials() const {
  const fs::path cur = dir_ / "current";
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      (cur / "key.pem").string(), (cur / "cert.pem").string(), (cur / "ca.pem").string(),
      kRefreshSeconds);
  grpc::experimental::TlsServerCredentialsOptions o(provider);
  o.watch_root_certs();
  o.watch_identity_key_cert_pairs();
  o.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  return grpc::experimental::TlsServerCredentials(o);
}

Reloader::Reloader(const ServerConfig& config, Governor& governor, ServedTls& tls, TlsPem start,
                   std::string start_policy)
    : config_(config), governor_(governor), tls_(tls), current_(std::move(start)),
      policy_(std::move(start_policy)) {}

absl::Status Reloader::Refuse(std::string_view trigger, std::string_view scope,
                              const std::string& path, const absl::Status& why) {
  log::Error("reload refused; the old files stay in use",
             {{"file", path}, {"scope", std::string(scope)}, {"error", std::string(why.message())}});
  (void)governor_.RecordReload(false, {{{"component", "governor"},
                                        {"event", std::string(trigger)},
                                        {"verdict", "refused"},
                                        {"scope", std::string(scope)},
                                        {"path", LedgerSafe(path)},
                                        {"reason_code", "reload_refused"},
                                        {"error", LedgerSafe(std::string(why.message()))}}});
  return why;
}

absl::Status Reloader::Reload(std::string_view trigger) {
  std::lock_guard l(mu_);
  const ServerConfig& c = config_;
  // 1. Read and check everything; nothing switches before all of it passed.
  TlsPem next;
  for (auto [scope, path, out] : {std::tuple{"tls_ca", &c.tls_ca, &next.ca},
                                  std::tuple{"tls_cert", &c.tls_cert, &next.cert},
                                  std::tuple{"tls_key", &c.tls_key, &next.key}}) {
    auto r = rpc::ReadPemFile(*path);
    if (!r.ok()) return Refuse(trigger, scope, *path, r.status());
    *out = *std::move(r);
  }
  std::string policy;
  if (auto s = policies::ReadBundleFile(c.policy_file, &policy); !s.ok())
    return Refuse(trigger, "policy", c.policy_file, s);
  if (auto n = rpc::CheckCaBundle(next.ca); !n.ok()) return Refuse(trigger, "tls_ca", c.tls_ca, n.status());
  auto info = rpc::CheckKeyPair(next.cert, next.key, current_.ca + next.ca);
  if (!info.ok()) {
    const bool key = absl::StartsWith(info.status().message(), "private key");
    return Refuse(trigger, key ? "tls_key" : "tls_cert", key ? c.tls_key : c.tls_cert, info.status());
  }
  // 2. The policy, through the activation path (it validates, records and
  // tells the agents); a refusal leaves the TLS material untouched too.
  std::vector<ledger::Fields> records;
  auto ok_fields = [&](std::string scope, const std::string& path, const std::string& before,
                       const std::string& after) {
    return ledger::Fields{{"component", "governor"}, {"event", std::string(trigger)},
                          {"verdict", "ok"}, {"scope", std::move(scope)}, {"path", LedgerSafe(path)},
                          {"previous_sha256", Sha(before)}, {"file_sha256", Sha(after)}};
  };
  if (policy != policy_) {
    std::vector<std::string> errors;
    if (auto s = governor_.ActivateFile(c.policy_file, policy, &errors); !s.ok())
      return Refuse(trigger, "policy", c.policy_file,
                    errors.empty() ? s : absl::InvalidArgumentError(errors.front()));
    records.push_back(ok_fields("policy", c.policy_file, policy_, policy));
    policy_ = policy;
  }
  // 3. The TLS material: one symlink swap.
  if (next.ca != current_.ca || next.cert != current_.cert || next.key != current_.key) {
    if (auto s = tls_.Install(next); !s.ok()) return Refuse(trigger, "tls_cert", c.tls_cert, s);
    if (next.ca != current_.ca) records.push_back(ok_fields("tls_ca", c.tls_ca, current_.ca, next.ca));
    if (next.cert != current_.cert) {
      auto f = ok_fields("tls_cert", c.tls_cert, current_.cert, next.cert);
      if (auto old = rpc::CheckKeyPair(current_.cert, current_.key, ""); old.ok())
        f.push_back({"previous_serial", old->serial_hex});
      f.push_back({"serial", info->serial_hex});
      f.push_back({"not_after", info->not_after});
      records.push_back(std::move(f));
    }
    if (next.key != current_.key) records.push_back(ok_fields("tls_key", c.tls_key, current_.key, next.key));
    current_ = std::move(next);
  }
  if (records.empty()) {
    // A busy directory wakes the watch often: only a signal is worth a line.
    log::Log(trigger == "sighup" ? log::Level::kInfo : log::Level::kDebug, "reload: nothing changed",
             {{"trigger", std::string(trigger)}});
    return absl::OkStatus();
  }
  for (const auto& f : records)
    log::Info("reloaded", {{"scope", f[3].second}, {"file", f[4].second}, {"sha256", f[6].second}});
  return governor_.RecordReload(true, std::move(records));
}

}  // namespace taogate::governance::internal
