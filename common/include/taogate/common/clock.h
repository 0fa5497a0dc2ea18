// The one source of time for code that decides on it: TAO and certificate
// expiry, grant expiry, approvals, rate limits, the TPM health grace, ledger
// timestamps. Injected (a `const Clock&` or a `const Clock*` defaulting to
// RealClock()), so that tests move time by hand (tests/testing/manual_clock.h)
// instead of sleeping or back-dating.
//
// Two clocks, never mixed: the wall clock (CLOCK_REALTIME, what TAOs and
// certificates carry) and the monotonic clock (CLOCK_MONOTONIC, what the BPF
// programs' bpf_ktime_get_ns and all durations use). Thread safety: every
// implementation is safe to call from any thread.
#pragma once

#include <cstdint>

namespace taogate {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall clock: ns since the Unix epoch.
  virtual int64_t WallNs() const = 0;
  // Monotonic clock: ns since an arbitrary origin (boot), never set back.
  virtual int64_t MonoNs() const = 0;
  int64_t WallMs() const { return WallNs() / 1'000'000; }
  int64_t MonoMs() const { return MonoNs() / 1'000'000; }
};

// The system's clocks (clock_gettime). Lives for the whole process.
const Clock& RealClock();

}  // namespace taogate
