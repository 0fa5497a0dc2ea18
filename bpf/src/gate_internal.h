// Internals shared by the taogate::bpfgate sources.
#pragma once

#include <cstddef>
#include <string>

#include "taogate/common/status.h"

namespace taogate::bpf::internal {

// ring_buffer sample callback; ctx is the Gate being polled.
int OnRingRecord(void* ctx, void* data, size_t size);

// The pinned tg_config at path (gate_adopt.cc): false if absent or of the
// current layout (reused), true if format 2 (not reused: migrated by
// Gate::InstallConfig), FailedPrecondition for anything else.
absl::StatusOr<bool> PinnedConfigIsFormat2(const std::string& path);

}  // namespace taogate::bpf::internal
