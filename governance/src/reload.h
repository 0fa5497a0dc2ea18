// Reload without restart (docs/governor.md "Reload"): on SIGHUP or a change
// in the directories of the files, the governor re-reads its CA bundle,
// server certificate and key and its policy file, and switches to them all or
// not at all.
//
// ServedTls: the server's TLS material as gRPC serves it. Validated copies
// live in a private directory (0700, removed on destruction) that gRPC's
// FileWatcherCertificateProvider re-reads every second; Install writes a new
// generation directory and renames one symlink onto it, so a handshake reads
// the old set or the new one, never a mix, and established connections and
// their calls are untouched. (A provider we could feed directly is not public
// API in Debian's gRPC 1.51; this one is.)
//
// Reloader: one reload at a time (a mutex), from the signal thread or the
// file watch.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <grpcpp/security/server_credentials.h>

#include "absl/status/statusor.h"
#include "taogate/governance/governor.h"
#include "taogate/governance/server.h"

namespace taogate::governance::internal {

struct TlsPem {
  std::string ca, cert, key;
};

class ServedTls {
 public:
  static absl::StatusOr<std::unique_ptr<ServedTls>> Create(const TlsPem& pem);
  ~ServedTls();
  // Makes `pem` what new handshakes use (within the provider's 1 s refresh).
  absl::Status Install(const TlsPem& pem);
  std::shared_ptr<grpc::ServerCredentials> Credentials() const;

 private:
  ServedTls() = default;
  std::filesystem::path dir_;
  int generation_ = 0;
};

class Reloader {
 public:
  // `start` is what the server started with (the policy file's bytes as
  // loaded then: a reload activates the file only when its bytes change, so
  // a bundle activated over gRPC since is not reverted by an unrelated
  // certificate rotation).
  Reloader(const ServerConfig& config, Governor& governor, ServedTls& tls, TlsPem start,
           std::string start_policy);
  // Re-reads every file. OK when applied or when nothing changed; the
  // refusal otherwise (already logged and recorded). `trigger`: "sighup" or
  // "file_change", recorded as the records' event.
  absl::Status Reload(std::string_view trigger);

 private:
  absl::Status Refuse(std::string_view trigger, std::string_view scope, const std::string& path,
                      const absl::Status& why);

  const ServerConfig& config_;
  Governor& governor_;
  ServedTls& tls_;
  std::mutex mu_;  // one reload at a time; guards the fields below
  TlsPem current_;
  std::string policy_;
};

}  // namespace taogate::governance::internal
