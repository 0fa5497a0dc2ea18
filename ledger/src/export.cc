// ExportSegments (log.h): any Log as a directory of segment files.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "fileio.h"
#include "taogate/common/fd.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/ledger/log.h"
#include "taogate/ledger/segment.h"

namespace taogate::ledger {

absl::StatusOr<uint64_t> ExportSegments(const Log& log, const std::string& dir, uint64_t segment_max_bytes) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec) && !std::filesystem::is_empty(dir, ec))
    return absl::FailedPreconditionError(StrCat(dir, ": not empty (export writes a new ledger directory)"));
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::UnavailableError(StrCat("create ", dir, ": ", ec.message()));

  UniqueFd fd;
  std::string path, buf;
  uint64_t written = 0, count = 0;
  absl::Status st;
  // Each segment is written whole, then synced; the next starts at the record
  // that would take the current one past segment_max_bytes.
  auto finish = [&]() -> absl::Status {
    if (!fd) return absl::OkStatus();
    TG_RETURN_IF_ERROR(fileio::PWriteAll(fd.get(), buf, written, path));
    if (::fsync(fd.get()) != 0) return ErrnoStatus(errno, StrCat("fsync ", path));
    fd.Reset();
    buf.clear();
    return absl::OkStatus();
  };
  // The note first: it then covers no record the scan below misses, even
  // with other writers appending meanwhile.
  const std::optional<std::string> note = log.LatestCheckpoint();
  absl::Status scan = log.Scan(0, [&](const Record& r) {
    std::string payload = EncodePayload(r.seq, r.time_ns, r.kind, r.prev_hash, r.fields);
    if (LeafHash(payload) != r.hash) {
      st = absl::DataLossError(StrCat("seq ", r.seq, ": re-encoded record does not hash to its stored leaf"));
      return false;
    }
    std::string frame = EncodeFrame(payload);
    if (!fd || written + buf.size() + frame.size() > segment_max_bytes) {
      if (st = finish(); !st.ok()) return false;
      path = StrCat(dir, "/", SegmentFileName(r.seq));
      fd.Reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
      if (!fd) {
        st = ErrnoStatus(errno, StrCat("create ", path));
        return false;
      }
      buf = EncodeSegmentHeader(r.seq);
      written = 0;
    }
    buf += frame;
    if (buf.size() >= (1u << 20)) {  // write in ~1 MiB pieces
      if (st = fileio::PWriteAll(fd.get(), buf, written, path); !st.ok()) return false;
      written += buf.size();
      buf.clear();
    }
    ++count;
    return true;
  });
  TG_RETURN_IF_ERROR(scan);
  TG_RETURN_IF_ERROR(st);
  TG_RETURN_IF_ERROR(finish());
  if (note) TG_RETURN_IF_ERROR(fileio::WriteFileAtomic(dir, "checkpoint", *note));
  TG_RETURN_IF_ERROR(fileio::FsyncDir(dir));
  return count;
}

}  // namespace taogate::ledger
