#include "taogate/common/fd.h"

#include <unistd.h>

namespace taogate {

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) ::close(fd_);  // close() errors on a valid fd are not actionable here.
  fd_ = fd;
}

}  // namespace taogate
