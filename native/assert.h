// VED_ASSERT: an invariant of Ved itself, checked in every build (release too). It is for bugs
// in Ved, never for bad input or an operating error (those return a Status). A failed
// assertion prints the condition and location and aborts: continuing would risk writing a
// corrupt store. VED_ASSERT_DEBUG is for checks too expensive for the hot path (test builds).
#pragma once
#include <cstdio>
#include <cstdlib>

// MSVC has no __builtin_expect; the hint only orders the failure path out of the way.
#if defined(__GNUC__) || defined(__clang__)
#define VED_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define VED_UNLIKELY(x) (x)
#endif

#define VED_ASSERT(cond)                                                              \
  do {                                                                                \
    if (VED_UNLIKELY(!(cond))) {                                                      \
      std::fprintf(stderr, "ved: assertion failed: %s (%s:%d)\n", #cond, __FILE__,     \
                   __LINE__);                                                         \
      std::abort();                                                                   \
    }                                                                                 \
  } while (0)

#ifdef VED_DEBUG
#define VED_ASSERT_DEBUG(cond) VED_ASSERT(cond)
#else
#define VED_ASSERT_DEBUG(cond) \
  do {                         \
  } while (0)
#endif
