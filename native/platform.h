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
