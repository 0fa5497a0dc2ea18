// Where the API server is and how to authenticate to it: in-cluster (the
// ServiceAccount's projected token and CA, KUBERNETES_SERVICE_HOST/PORT) or a
// kubeconfig file (for running outside a cluster).
//
// TLS is always verified against the configured CA; a kubeconfig asking for
// `insecure-skip-tls-verify` is refused. Pure data: no I/O after loading,
// except that the token file is re-read by TokenSource (token.h).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace taogate::k8s {

struct ClusterConfig {
  std::string server;  // "https://host:port", no trailing slash
  // The CA that signs the API server's certificate: a file or PEM text.
  std::string ca_file;
  std::string ca_pem;
  // Bearer token: a file (re-read on rotation) or a fixed value.
  std::string token_file;
  std::string token;
  // Client certificate authentication (kubeconfig only): files or PEM text.
  std::string client_cert_file;
  std::string client_cert_pem;
  std::string client_key_file;
  std::string client_key_pem;
};

// The in-cluster locations, injectable for tests. Unset host/port are read
// from KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT.
struct InClusterPaths {
  std::string token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  std::optional<std::string> host;
  std::optional<std::string> port;
};

// kFailedPrecondition when not in a cluster (no host/port, no token or CA file).
absl::StatusOr<ClusterConfig> InClusterConfig(const InClusterPaths& paths = {});

// The cluster and user of `context` (empty: current-context) of the kubeconfig
// at `path`. Relative file references resolve against the kubeconfig's folder.
// kUnimplemented for exec/auth-provider users; kInvalidArgument for a
// malformed file or an insecure cluster.
absl::StatusOr<ClusterConfig> KubeconfigConfig(const std::string& path,
                                               std::string_view context = "");

}  // namespace taogate::k8s
