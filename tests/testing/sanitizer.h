// Whether the test was built with AddressSanitizer (GCC or clang), for the
// few tests whose bounds depend on it: a quarantine that keeps freed memory,
// a -O0 build's CPU time.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define TG_TESTING_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TG_TESTING_UNDER_ASAN 1
#endif
#endif

namespace taogate::testing {

#ifdef TG_TESTING_UNDER_ASAN
inline constexpr bool kUnderAsan = true;
#else
inline constexpr bool kUnderAsan = false;
#endif

}  // namespace taogate::testing
