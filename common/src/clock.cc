#include "taogate/common/clock.h"

#include <time.h>

namespace taogate {
namespace {

int64_t Read(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

class SystemClock final : public Clock {
 public:
  int64_t WallNs() const override { return Read(CLOCK_REALTIME); }
  int64_t MonoNs() const override { return Read(CLOCK_MONOTONIC); }
};

}  // namespace

const Clock& RealClock() {
  static const SystemClock clock;
  return clock;
}

}  // namespace taogate
