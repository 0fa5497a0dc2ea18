// A Clock (taogate/common/clock.h) that moves only when a test says so.
// Wall and monotonic time advance together with Advance; SetWallMs moves
// the wall clock alone (a clock set back or forward). Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>

#include "taogate/common/clock.h"

namespace taogate::testing {

class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t wall_ms = 1'700'000'000'000, int64_t mono_ns = 1'000'000'000)
      : wall_ns_(wall_ms * 1'000'000), mono_ns_(mono_ns) {}
  int64_t WallNs() const override { return wall_ns_.load(); }
  int64_t MonoNs() const override { return mono_ns_.load(); }
  void Advance(int64_t ms) {
    wall_ns_ += ms * 1'000'000;
    mono_ns_ += ms * 1'000'000;
  }
  void SetWallMs(int64_t ms) { wall_ns_ = ms * 1'000'000; }

 private:
  std::atomic<int64_t> wall_ns_, mono_ns_;
};

}  // namespace taogate::testing
