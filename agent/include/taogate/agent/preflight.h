// What the agent checks before it creates anything (ledger directory and
// key, governed cgroup, pins, sockets, targets cache): every file the
// config names that must already exist is there and readable, and every
// path it will create can be created. A config that fails here leaves no
// new file behind. Read-only; thread-compatible.
#pragma once

#include "absl/status/status.h"
#include "taogate/agent/config.h"

namespace taogate::agent {

// `c` has passed FinalizeConfig. FailedPrecondition naming the config key
// and the path (after the key's FILE:LINE:COL when it came from a file):
//  - trust_bundle, governor_ca/cert/key, kubeconfig: readable files;
//  - ledger_key, targets_cache: readable if present;
//  - protected_files, protected_binaries: the paths exist;
//  - ledger_dir, the sockets, hold_socket, ledger_key, targets_cache: the
//    nearest existing ancestor is a directory, and an existing path has the
//    right type (a directory; a socket, not a file the agent would remove).
absl::Status Preflight(const AgentConfig& c);

}  // namespace taogate::agent
