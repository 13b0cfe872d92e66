// Which operating systems the engine builds on. Included first by status.h (so by nearly every
// source, and by the first one compiled) and by io.h, the file that makes the system calls.
//
// Supported: Linux (glibc and musl), the target every test runs on; macOS 11 and later, whose
// differences are handled where they arise (store.cc: getentropy for getrandom; io.cc:
// F_FULLFSYNC for fdatasync, no sync_file_range) but which no machine here builds or tests:
// its first build is the darwin job of .github/workflows/prebuild.yml. Other POSIX systems
// (the BSDs) take the same paths as macOS minus F_FULLFSYNC and are untested.
//
// Windows is refused here, at the first file compiled, rather than by a pile of errors from
// <sys/mman.h> onwards or, worse, a build that half works: io.cc is POSIX (mmap, flock,
// pwritev, fdatasync, fsync of a directory) and has no Windows counterpart yet.
#pragma once

#if defined(_WIN32)
#error "Ved does not build on Windows yet: its I/O layer (native/io.cc) is POSIX only (mmap, flock, pwritev, fdatasync). Use Linux or macOS, or WSL 2 on Windows. See docs/shipping.md."
#endif

#if !defined(__unix__) && !defined(__APPLE__)
#error "Ved builds on Linux and macOS (POSIX); this platform is not supported. See docs/shipping.md."
#endif
