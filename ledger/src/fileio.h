// Small POSIX file helpers for the ledger; errno becomes a Status only via
// taogate::ErrnoStatus. Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace taogate::ledger::fileio {

// pwrite all of `data` at `offset`, retrying short writes and EINTR.
absl::Status PWriteAll(int fd, std::string_view data, uint64_t offset, std::string_view what);
// pread exactly `len` bytes at `offset`; DataLoss on a short read.
absl::StatusOr<std::string> PReadExact(int fd, uint64_t offset, size_t len, std::string_view what);
absl::StatusOr<uint64_t> FileSize(int fd, std::string_view what);
absl::Status FsyncDir(const std::string& dir);
// Writes `data` to dir/name via a temp file, fsync, rename, fsync(dir).
absl::Status WriteFileAtomic(const std::string& dir, const std::string& name, std::string_view data);

}  // namespace taogate::ledger::fileio
