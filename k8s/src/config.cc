#include "taogate/k8s/config.h"

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace taogate::k8s {
namespace {

std::optional<std::string> Env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

}  // namespace

absl::StatusOr<ClusterConfig> InClusterConfig(const InClusterPaths& paths) {
  std::optional<std::string> host = paths.host ? paths.host : Env("KUBERNETES_SERVICE_HOST");
  std::optional<std::string> port = paths.port ? paths.port : Env("KUBERNETES_SERVICE_PORT");
  if (!host || !port) {
    return absl::FailedPreconditionError(
        "not in a cluster: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT unset");
  }
  std::error_code ec;
  for (const std::string* f : {&paths.token_file, &paths.ca_file}) {
    if (!std::filesystem::is_regular_file(*f, ec)) {
      return absl::FailedPreconditionError(absl::StrCat("not in a cluster: no ", *f));
    }
  }
  ClusterConfig c;
  // An IPv6 service address needs brackets in a URL.
  bool v6 = host->find(':') != std::string::npos && host->front() != '[';
  c.server = absl::StrCat("https://", v6 ? "[" : "", *host, v6 ? "]" : "", ":", *port);
  c.ca_file = paths.ca_file;
  c.token_file = paths.token_file;
  return c;
}

}  // namespace taogate::k8s
