// A container started by a real OCI runtime (runc or crun from Debian) with
// hold mode's notify profile (docs/hold.md): busybox `sh -c SCRIPT` in the
// host's network namespace, in the cgroup CGROUPS_PATH, its connects
// notifying the listener the runtime sends to LISTENER_PATH (the agent's
// hold socket).
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "taogate/common/strings.h"
#include "testing/testing.h"

namespace taogate::hold::testing {

// runc on a hybrid host also creates the path in each cgroup v1 hierarchy
// and removes only the leaf: every component goes, deepest first, on every
// path (the caller's unique test path owns all of them).
struct V1CgroupCleanup {
  std::string rel;  // e.g. /taogate-test-123/c1
  ~V1CgroupCleanup() {
    std::error_code ec;
    for (const auto& h : std::filesystem::directory_iterator("/sys/fs/cgroup", ec)) {
      if (h.path().filename() == "unified") continue;
      for (std::string p = rel; p.size() > 1; p.resize(p.rfind('/'))) rmdir((h.path().string() + p).c_str());
    }
  }
};

inline taogate::testing::CommandResult RunHeldContainer(const std::string& runtime, const std::string& dir,
                                                        const std::string& cgroups_path,
                                                        const std::string& listener_path, const std::string& script) {
  V1CgroupCleanup cleanup{cgroups_path};
  const std::string bundle = dir + "/bundle";
  std::filesystem::create_directories(bundle + "/rootfs/bin");
  std::filesystem::create_directories(bundle + "/rootfs/proc");
  std::error_code ec;
  std::filesystem::copy_file("/bin/busybox", bundle + "/rootfs/bin/busybox",
                             std::filesystem::copy_options::skip_existing, ec);
  nlohmann::json cfg = {
      {"ociVersion", "1.0.2"},
      {"process",
       {{"terminal", false}, {"user", {{"uid", 0}, {"gid", 0}}}, {"args", {"/bin/busybox", "sh", "-c", script}},
        {"env", {"PATH=/bin"}}, {"cwd", "/"}, {"noNewPrivileges", true}}},
      {"root", {{"path", "rootfs"}, {"readonly", true}}},
      {"mounts", {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}}}},
      {"linux",
       {{"namespaces", {{{"type", "pid"}}, {{"type", "mount"}}}},  // the host's network: its loopback listeners
        {"cgroupsPath", cgroups_path},
        {"seccomp",
         {{"defaultAction", "SCMP_ACT_ALLOW"},
          {"listenerPath", listener_path},
          {"syscalls", {{{"names", {"connect"}}, {"action", "SCMP_ACT_NOTIFY"}}}}}}}}};
  taogate::testing::WriteFile(bundle + "/config.json", cfg.dump());
  return taogate::testing::RunCommand(
      {runtime, "--root", dir + "/oci-state", "run", "--bundle", bundle, StrCat("tg-hold-", getpid())});
}

}  // namespace taogate::hold::testing
