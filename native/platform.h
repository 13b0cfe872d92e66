// Which operating systems the engine builds on. Included first by status.h (so by nearly every
// source, and by the first one compiled) and by io.h, the file that makes the system calls.
//
// Supported: Linux (glibc and musl), the target every test runs on; macOS 11 and later, whose
// differences are handled where they arise (io.cc: getentropy for getrandom, F_FULLFSYNC for
// fdatasync, no sync_file_range) but which no machine here builds or tests: its first build is
// the darwin job of .github/workflows/prebuild.yml. Other POSIX systems (the BSDs) take the
// same paths as macOS minus F_FULLFSYNC and are untested.
//
// Windows (x64, Windows 10 and later): the system calls are in io_win32.cc instead of io.cc,
// behind the same io.h. It has been cross-compiled with mingw-w64 and its engine tests run
// under Wine; MSVC, the compiler node-gyp uses there, has never built it (docs/shipping.md).
#pragma once

#if !defined(_WIN32) && !defined(__unix__) && !defined(__APPLE__)
#error "Ved builds on Linux, macOS (POSIX) and Windows; this platform is not supported. See docs/shipping.md."
#endif

// ---- Atomics on memory shared with other processes ------------------------------------------
//
// The LOCK file's map (format.h SharedState, a seqlock) is plain uint64_t fields that several
// processes read and one writes; std::atomic cannot be placed over it (and std::atomic_ref is
// C++20). GCC and Clang have builtins for exactly this. MSVC has none: there an aligned 8-byte
// access is atomic on x64 and arm64, __iso_volatile_* keeps the compiler from splitting,
// merging or moving it, and a fence gives acquire or release ordering. MSVC has never compiled
// this (docs/shipping.md).
#include <atomic>
#include <cstdint>
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#endif

namespace ved {

inline uint64_t shared_load_relaxed(const uint64_t* p) {
#if defined(_MSC_VER) && !defined(__clang__)
  return static_cast<uint64_t>(__iso_volatile_load64(reinterpret_cast<const volatile __int64*>(p)));
#else
  return __atomic_load_n(p, __ATOMIC_RELAXED);
#endif
}

inline uint64_t shared_load_acquire(const uint64_t* p) {
#if defined(_MSC_VER) && !defined(__clang__)
  uint64_t v = shared_load_relaxed(p);
  std::atomic_thread_fence(std::memory_order_acquire);
  return v;
#else
  return __atomic_load_n(p, __ATOMIC_ACQUIRE);
#endif
}

inline void shared_store_relaxed(uint64_t* p, uint64_t v) {
#if defined(_MSC_VER) && !defined(__clang__)
  __iso_volatile_store64(reinterpret_cast<volatile __int64*>(p), static_cast<__int64>(v));
#else
  __atomic_store_n(p, v, __ATOMIC_RELAXED);
#endif
}

inline void shared_store_release(uint64_t* p, uint64_t v) {
#if defined(_MSC_VER) && !defined(__clang__)
  std::atomic_thread_fence(std::memory_order_release);
  shared_store_relaxed(p, v);
#else
  __atomic_store_n(p, v, __ATOMIC_RELEASE);
#endif
}

}  // namespace ved
