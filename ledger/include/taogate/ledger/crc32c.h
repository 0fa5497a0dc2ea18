// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as used by iSCSI,
// ext4 and LevelDB. Uses the SSE4.2 crc32 instruction when the CPU has it and
// a slicing table otherwise; both give identical results.
// Check value: Crc32c("123456789") == 0xE3069283. Thread-safe, no state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace taogate::ledger {

// Extends `crc` (the CRC of earlier bytes, 0 for none) over data[0..n).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n);
inline uint32_t Crc32c(const void* data, size_t n) { return Crc32cExtend(0, data, n); }
inline uint32_t Crc32c(std::string_view s) { return Crc32cExtend(0, s.data(), s.size()); }

// Portable table implementation (exposed so tests compare both paths).
uint32_t Crc32cExtendPortable(uint32_t crc, const void* data, size_t n);

}  // namespace taogate::ledger
