// Internals shared by the taogate::bpfgate sources.
#pragma once

#include <cstddef>

namespace taogate::bpf::internal {

// ring_buffer sample callback; ctx is the Gate being polled.
int OnRingRecord(void* ctx, void* data, size_t size);

}  // namespace taogate::bpf::internal
