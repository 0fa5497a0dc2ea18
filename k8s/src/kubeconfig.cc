// A kubeconfig file (clientcmd v1): clusters, users, contexts, current-context.
#include <filesystem>

#include <yaml-cpp/yaml.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "taogate/common/status.h"
#include "taogate/k8s/config.h"

namespace taogate::k8s {
namespace {

namespace fs = std::filesystem;

// The `key` map of the entry of `list` whose name is `name`.
absl::StatusOr<YAML::Node> Named(const YAML::Node& root, const char* list, const char* key,
                                 const std::string& name) {
  const YAML::Node entries = root[list];
  if (entries && !entries.IsSequence()) {
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig: ", list, " is not a list"));
  }
  for (const YAML::Node& e : entries) {
    if (e.IsMap() && e["name"] && e["name"].IsScalar() && e["name"].as<std::string>() == name) {
      YAML::Node v = e[key];
      if (!v || !v.IsMap()) {
        return absl::InvalidArgumentError(
            absl::StrCat("kubeconfig: ", list, " entry ", name, " has no ", key, " map"));
      }
      return v;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("kubeconfig: no ", key, " named '", name, "'"));
}

absl::StatusOr<std::string> Str(const YAML::Node& m, const char* key) {
  const YAML::Node v = m[key];
  if (!v) return std::string();
  if (!v.IsScalar()) return absl::InvalidArgumentError(absl::StrCat("kubeconfig: ", key, " is not a string"));
  return v.as<std::string>();
}

absl::StatusOr<std::string> Base64(const std::string& text, const char* key) {
  std::string out;
  if (!absl::Base64Unescape(text, &out)) {
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig: ", key, " is not base64"));
  }
  return out;
}

std::string Resolve(const fs::path& dir, const std::string& file) {
  if (file.empty() || fs::path(file).is_absolute()) return file;
  return (dir / file).string();
}

absl::StatusOr<ClusterConfig> FromRoot(const YAML::Node& root, const fs::path& dir,
                                       std::string context) {
  if (!root.IsMap()) return absl::InvalidArgumentError("kubeconfig: not a YAML map");
  if (context.empty()) {
    TG_ASSIGN_OR_RETURN(context, Str(root, "current-context"));
    if (context.empty()) return absl::InvalidArgumentError("kubeconfig: no current-context");
  }
  TG_ASSIGN_OR_RETURN(YAML::Node ctx, Named(root, "contexts", "context", context));
  TG_ASSIGN_OR_RETURN(std::string cluster_name, Str(ctx, "cluster"));
  TG_ASSIGN_OR_RETURN(std::string user_name, Str(ctx, "user"));
  TG_ASSIGN_OR_RETURN(YAML::Node cluster, Named(root, "clusters", "cluster", cluster_name));

  ClusterConfig c;
  TG_ASSIGN_OR_RETURN(c.server, Str(cluster, "server"));
  while (!c.server.empty() && c.server.back() == '/') c.server.pop_back();
  if (!absl::StartsWith(c.server, "https://")) {
    return absl::InvalidArgumentError("kubeconfig: the cluster server must be an https:// URL");
  }
  if (cluster["insecure-skip-tls-verify"] && cluster["insecure-skip-tls-verify"].IsScalar() &&
      cluster["insecure-skip-tls-verify"].as<std::string>() == "true") {
    return absl::InvalidArgumentError("kubeconfig: insecure-skip-tls-verify is refused");
  }
  TG_ASSIGN_OR_RETURN(std::string ca_data, Str(cluster, "certificate-authority-data"));
  TG_ASSIGN_OR_RETURN(std::string ca_file, Str(cluster, "certificate-authority"));
  if (!ca_data.empty()) {
    TG_ASSIGN_OR_RETURN(c.ca_pem, Base64(ca_data, "certificate-authority-data"));
  } else if (!ca_file.empty()) {
    c.ca_file = Resolve(dir, ca_file);
  } else {
    return absl::InvalidArgumentError("kubeconfig: the cluster has no certificate-authority");
  }

  if (user_name.empty()) return c;
  TG_ASSIGN_OR_RETURN(YAML::Node user, Named(root, "users", "user", user_name));
  if (user["exec"] || user["auth-provider"]) {
    return absl::UnimplementedError("kubeconfig: exec and auth-provider users are not supported");
  }
  TG_ASSIGN_OR_RETURN(c.token, Str(user, "token"));
  TG_ASSIGN_OR_RETURN(std::string token_file, Str(user, "tokenFile"));
  c.token_file = Resolve(dir, token_file);
  TG_ASSIGN_OR_RETURN(std::string cert_data, Str(user, "client-certificate-data"));
  TG_ASSIGN_OR_RETURN(std::string key_data, Str(user, "client-key-data"));
  TG_ASSIGN_OR_RETURN(std::string cert_file, Str(user, "client-certificate"));
  TG_ASSIGN_OR_RETURN(std::string key_file, Str(user, "client-key"));
  if (!cert_data.empty()) { TG_ASSIGN_OR_RETURN(c.client_cert_pem, Base64(cert_data, "client-certificate-data")); }
  if (!key_data.empty()) { TG_ASSIGN_OR_RETURN(c.client_key_pem, Base64(key_data, "client-key-data")); }
  c.client_cert_file = Resolve(dir, cert_file);
  c.client_key_file = Resolve(dir, key_file);
  bool has_cert = !c.client_cert_pem.empty() || !c.client_cert_file.empty();
  bool has_key = !c.client_key_pem.empty() || !c.client_key_file.empty();
  if (has_cert != has_key) {
    return absl::InvalidArgumentError("kubeconfig: a client certificate needs its key");
  }
  return c;
}

}  // namespace

absl::StatusOr<ClusterConfig> KubeconfigConfig(const std::string& path, std::string_view context) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig ", path, ": ", e.what()));
  }
  try {
    return FromRoot(root, fs::path(path).parent_path(), std::string(context));
  } catch (const YAML::Exception& e) {  // a value of the wrong shape
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig ", path, ": ", e.what()));
  }
}

}  // namespace taogate::k8s
