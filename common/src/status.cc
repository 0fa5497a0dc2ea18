#include "taogate/common/status.h"

#include "taogate/common/strings.h"

namespace taogate {

absl::Status ErrnoStatus(int err, std::string_view what) {
  return absl::ErrnoToStatus(err, std::string(what));
}

}  // namespace taogate
