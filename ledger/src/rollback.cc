#include "rollback.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fileio.h"
#include "ledger_impl.h"
#include "taogate/common/clock.h"
#include "taogate/common/fd.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"
#include "taogate/ledger/base64.h"
#include "taogate/ledger/note.h"

namespace taogate::ledger::rollback {
namespace {

std::string WayOut(const std::string& dir) {
  return StrCat("; refusing to open. Restore the ledger directory from a backup, or accept the loss explicitly "
                "with `taogatectl ledger recover --dir ",
                dir, " --accept-loss` (docs/ledger.md, \"Rollback guard\")");
}

absl::Status CopyDurably(const std::string& from, const std::string& to) {
  std::error_code ec;
  if (!std::filesystem::copy_file(from, to, ec))
    return absl::UnavailableError(StrCat("copy ", from, " to ", to, ": ", ec.message()));
  UniqueFd fd(::open(to.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd || ::fsync(fd.get()) != 0) return ErrnoStatus(errno, StrCat("fsync ", to));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::optional<Mark>> ReadMark(const std::string& dir) {
  Mark m;
  m.path = StrCat(dir, "/checkpoint");
  std::error_code ec;
  if (!std::filesystem::exists(m.path, ec) && !ec) return std::nullopt;
  std::ifstream in(m.path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in) return absl::DataLossError(StrCat(m.path, ": cannot read the last signed checkpoint", WayOut(dir)));
  auto note = ParseSignedNote(ss.str());
  absl::StatusOr<CheckpointBody> body = note.ok() ? ParseCheckpointBody(note->body) : note.status();
  if (!body.ok())
    return absl::DataLossError(
        StrCat(m.path, ": not a checkpoint note (", body.status().message(), ")", WayOut(dir)));
  m.size = body->tree_size;
  m.root = body->root;
  return m;
}

absl::Status Check(const Mark& mark, const MerkleTree& tree, const std::string& dir, const ScanOutcome& scan) {
  const uint64_t have = tree.Size();
  if (mark.size > have) {
    std::string file = dir, how = "no segment files";
    uint64_t off = 0;
    if (scan.torn_tail) {
      const TornTail& t = *scan.torn_tail;
      file = scan.segments[t.segment].path;
      off = t.offset;
      how = StrCat("the last segment ends in ", t.bytes, " bad bytes: ", t.why);
    } else if (!scan.segments.empty()) {
      file = scan.segments.back().path;
      off = scan.segments.back().valid_bytes;
      how = "the last segment ends there";
    }
    return CorruptionError(have, file, off,
                           StrCat("the last signed checkpoint (", mark.path, ") covers ", mark.size,
                                  " records but only ", have, " were recovered (", how, "): signed records ", have,
                                  "..", mark.size - 1, " were lost (truncated, or a write was lost)", WayOut(dir)));
  }
  auto root = tree.RootAt(mark.size);
  if (!root.ok() || *root != mark.root)
    return CorruptionError(mark.size == 0 ? 0 : mark.size - 1, mark.path, 0,
                           StrCat("the last signed checkpoint (", mark.path, ") covers ", mark.size,
                                  " records with root ", Base64Encode(mark.root), " but records 0..",
                                  mark.size == 0 ? 0 : mark.size - 1, " of the ", have, " recovered have root ",
                                  root.ok() ? Base64Encode(*root) : std::string("?"),
                                  ": signed records were rewritten", WayOut(dir)));
  return absl::OkStatus();
}

absl::StatusOr<std::string> MoveAside(const std::string& dir, const ScanOutcome& scan, uint64_t from_seq) {
  std::string aside = StrCat(dir, "/damaged-", RealClock().WallNs());
  if (::mkdir(aside.c_str(), 0700) != 0) return ErrnoStatus(errno, StrCat("mkdir ", aside));
  for (size_t i = 0; i < scan.segments.size(); ++i) {
    const SegmentInfo& s = scan.segments[i];
    if (i + 1 < scan.segments.size() && scan.segments[i + 1].first_seq <= from_seq) continue;
    std::string to = StrCat(aside, "/", std::filesystem::path(s.path).filename().string());
    bool changes = (scan.torn_tail && scan.torn_tail->segment == i) || i + 1 == scan.segments.size();
    if (changes) {  // truncated or appended to in place next: keep the bytes as they are now
      TG_RETURN_IF_ERROR(CopyDurably(s.path, to));
    } else if (::link(s.path.c_str(), to.c_str()) != 0) {
      return ErrnoStatus(errno, StrCat("link ", s.path, " to ", to));
    }
  }
  std::string cp = StrCat(dir, "/checkpoint");
  if (::rename(cp.c_str(), StrCat(aside, "/checkpoint").c_str()) != 0 && errno != ENOENT)
    return ErrnoStatus(errno, StrCat("move ", cp, " to ", aside));
  TG_RETURN_IF_ERROR(fileio::FsyncDir(aside));
  TG_RETURN_IF_ERROR(fileio::FsyncDir(dir));
  return aside;
}

}  // namespace taogate::ledger::rollback
