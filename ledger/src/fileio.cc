#include "fileio.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "taogate/common/fd.h"
#include "taogate/common/status.h"
#include "taogate/common/strings.h"

namespace taogate::ledger::fileio {

absl::Status PWriteAll(int fd, std::string_view data, uint64_t offset, std::string_view what) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, StrCat("write ", what));
    }
    data.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> PReadExact(int fd, uint64_t offset, size_t len, std::string_view what) {
  std::string buf(len, '\0');
  size_t got = 0;
  while (got < len) {
    ssize_t n = ::pread(fd, buf.data() + got, len - got, static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, StrCat("read ", what));
    }
    if (n == 0) return absl::DataLossError(StrCat("read ", what, ": unexpected end of file"));
    got += static_cast<size_t>(n);
  }
  return buf;
}

absl::StatusOr<uint64_t> FileSize(int fd, std::string_view what) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, StrCat("stat ", what));
  return static_cast<uint64_t>(st.st_size);
}

absl::Status FsyncDir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, StrCat("open ", dir));
  if (::fsync(fd.get()) != 0) return ErrnoStatus(errno, StrCat("fsync ", dir));
  return absl::OkStatus();
}

absl::Status WriteFileAtomic(const std::string& dir, const std::string& name, std::string_view data) {
  std::string tmp = StrCat(dir, "/.", name, ".tmp");
  std::string dst = StrCat(dir, "/", name);
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return ErrnoStatus(errno, StrCat("create ", tmp));
  absl::Status s = PWriteAll(fd.get(), data, 0, tmp);
  if (s.ok() && ::fsync(fd.get()) != 0) s = ErrnoStatus(errno, StrCat("fsync ", tmp));
  if (s.ok() && ::rename(tmp.c_str(), dst.c_str()) != 0) s = ErrnoStatus(errno, StrCat("rename ", tmp));
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return FsyncDir(dir);
}

}  // namespace taogate::ledger::fileio
