#include "taogate/agent/preflight.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/enforce/enforcer.h"

namespace taogate::agent {
namespace {

class Checker {
 public:
  explicit Checker(const AgentConfig& c) : c_(c) {}

  absl::Status Bad(std::string_view key, std::string_view path, std::string_view why) const {
    auto at = c_.key_where.find(std::string(key));
    return absl::FailedPreconditionError(StrCat(at == c_.key_where.end() ? "" : StrCat(at->second, ": "),
                                                "config ", key, ": ", path, ": ", why));
  }

  absl::Status Readable(std::string_view key, const std::string& path) const {
    if (path.empty()) return absl::OkStatus();
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) return Bad(key, path, std::strerror(errno));
    if (S_ISDIR(st.st_mode)) return Bad(key, path, "is a directory, not a file");
    if (access(path.c_str(), R_OK) != 0) return Bad(key, path, std::strerror(errno));
    return absl::OkStatus();
  }

  absl::Status ReadableIfPresent(std::string_view key, const std::string& path) const {
    if (path.empty() || access(path.c_str(), F_OK) != 0) return Creatable(key, path);
    return Readable(key, path);
  }

  absl::Status Exists(std::string_view key, const std::string& path) const {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) return Bad(key, path, std::strerror(errno));
    return absl::OkStatus();
  }

  // The nearest existing ancestor of `path` is a directory (create_directories works).
  absl::Status Creatable(std::string_view key, const std::string& path) const {
    if (path.empty()) return absl::OkStatus();
    std::filesystem::path p = std::filesystem::path(path).parent_path();
    while (!p.empty() && p != p.root_path()) {
      struct stat st {};
      if (stat(p.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return Bad(key, path, StrCat(p.string(), " is not a directory"));
        return absl::OkStatus();
      }
      if (errno != ENOENT) return Bad(key, path, StrCat(p.string(), ": ", std::strerror(errno)));
      p = p.parent_path();
    }
    return absl::OkStatus();
  }

  // `path` is absent (and creatable) or has the type `is_type` checks.
  absl::Status AbsentOr(std::string_view key, const std::string& path, bool (*is_type)(mode_t),
                        std::string_view type) const {
    if (path.empty()) return absl::OkStatus();
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) return Creatable(key, path);
    if (!is_type(st.st_mode)) return Bad(key, path, StrCat("exists and is not a ", type));
    return absl::OkStatus();
  }

 private:
  const AgentConfig& c_;
};

bool IsDir(mode_t m) { return S_ISDIR(m); }
bool IsSock(mode_t m) { return S_ISSOCK(m); }

}  // namespace

absl::Status Preflight(const AgentConfig& c) {
  const Checker k(c);
  TG_RETURN_IF_ERROR(k.Readable("trust_bundle", c.trust_bundle));
  if (!c.governor_address.empty()) {
    TG_RETURN_IF_ERROR(k.Readable("governor_ca", c.governor_ca));
    TG_RETURN_IF_ERROR(k.Readable("governor_cert", c.governor_cert));
    TG_RETURN_IF_ERROR(k.Readable("governor_key", c.governor_key));
    TG_RETURN_IF_ERROR(k.ReadableIfPresent("targets_cache", c.targets_cache));
  }
  if (c.workloads == "pods") TG_RETURN_IF_ERROR(k.Readable("kubeconfig", c.kubeconfig));
  for (const auto& spec : c.protected_files) {
    TG_ASSIGN_OR_RETURN(enforce::PathRule r, enforce::ParseFileRule(spec));
    TG_RETURN_IF_ERROR(k.Exists("protected_files", r.path));
  }
  for (const auto& spec : c.protected_binaries) {
    TG_ASSIGN_OR_RETURN(enforce::PathRule r, enforce::ParseExecRule(spec));
    TG_RETURN_IF_ERROR(k.Exists("protected_binaries", r.path));
  }
  TG_RETURN_IF_ERROR(k.AbsentOr("ledger_dir", c.ledger_dir, &IsDir, "directory"));
  TG_RETURN_IF_ERROR(k.ReadableIfPresent("ledger_key", c.ledger_key));
  TG_RETURN_IF_ERROR(k.AbsentOr("workload_socket", c.workload_socket, &IsSock, "socket"));
  TG_RETURN_IF_ERROR(k.AbsentOr("operator_socket", c.operator_socket, &IsSock, "socket"));
  TG_RETURN_IF_ERROR(k.AbsentOr("hold_socket", c.hold_socket, &IsSock, "socket"));
  return absl::OkStatus();
}

}  // namespace taogate::agent
