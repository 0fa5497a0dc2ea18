// Internals shared by the taogate::bpfgate sources.
#pragma once

#include <cstddef>
#include <string>

#include "taogate/common/status.h"

namespace taogate::bpf {
class Gate;
}

namespace taogate::bpf::internal {

// ring_buffer sample callback; ctx is the Gate being polled.
int OnRingRecord(void* ctx, void* data, size_t size);

// The pinned tg_config at path (gate_adopt.cc): false if absent or of the
// current layout (reused), true if format 2 (not reused: migrated by
// Gate::InstallConfig), FailedPrecondition for anything else.
absl::StatusOr<bool> PinnedConfigIsFormat2(const std::string& path);

// Marks every process already inside the governed subtree in the task
// storage map `map_fd` (tg_governed_tasks) with its workload id, so the
// escape hooks (gate_escape.bpf.h) know it was governed (gate_escape.cc).
absl::Status MarkGovernedTasks(const Gate& gate, int map_fd, const std::string& governed_root);

}  // namespace taogate::bpf::internal
