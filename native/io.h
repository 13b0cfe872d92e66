// The only file that makes system calls on store files. Every write, sync, allocation and map
// of the log passes through here, so the fault-injection layer of test builds (issue 4) can
// sit behind these functions while production builds call the system directly.
//
// Two implementations: io.cc (POSIX: Linux, macOS, the BSDs) and io_win32.cc (Windows); each
// compiles to nothing on the other's systems. The contract below holds for both; where Windows
// keeps it differently, io_win32.cc's header says how. A file is named by an `int` on both: a
// POSIX descriptor, or on Windows a C runtime descriptor wrapping the HANDLE (_open_osfhandle),
// so the engine above this layer never sees a HANDLE.
#pragma once
#include "platform.h"

#if defined(_WIN32)
#include <fcntl.h>  // O_RDONLY, O_RDWR, O_CREAT, O_TRUNC: open_file's flags on every system
// Windows has no struct iovec: the same two fields, so callers build write_all's pieces the
// same way everywhere.
struct iovec {
  void* iov_base;
  size_t iov_len;
};
#else
#include <sys/uio.h>
#endif

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "status.h"

namespace ved {
namespace io {

// `flags`: O_RDONLY or O_RDWR, optionally O_CREAT and O_TRUNC. Every opener lets the others
// read, write and delete the file (Windows: FILE_SHARE_READ | WRITE | DELETE), so read-only
// stores and the writer coexist and the writer can delete segments readers still map.
// A file that does not exist gives ENOTSTORE.
Status open_file(const std::string& path, int flags, int* fd_out);
void close_file(int fd);
Status file_size(int fd, const std::string& path, uint64_t* size_bytes_out);
// True when the open file has no name left (another process deleted it).
bool unlinked(int fd);
Status read_exact(int fd, const std::string& path, void* buf, size_t size_bytes, uint64_t offset);
// Writes all of `iov` at `offset`, retrying short writes; ENOSPC/EDQUOT map to ENOSPC.
Status write_all(int fd, const std::string& path, const struct iovec* iov, int iov_count,
                 uint64_t offset);
Status sync_data(int fd, const std::string& path);
// Starts writing back [offset, offset + size) of a file without waiting (Linux
// sync_file_range; a no-op elsewhere). It promises nothing about durability.
Status start_writeback(int fd, const std::string& path, uint64_t offset, uint64_t size_bytes);
// Makes a directory's entries (a new file's name) durable.
Status sync_dir(const std::string& dir);
// Maps [0, size_bytes) of a file for reading, once, at an address that stays valid until
// unmap. *mapped_bytes_out is how much of it may be read: all of size_bytes on POSIX (a map
// may extend past the file's end; the caller reads only bytes the file has), and on Windows
// the file's size when it was mapped if that was smaller (Windows cannot map past a file's end).
// Readers must never read at or past min(file size, *mapped_bytes_out).
// ENOTSTORE: an empty file on Windows (nothing can be mapped yet; try again later).
Status map_read_only(int fd, const std::string& path, uint64_t size_bytes, const uint8_t** out,
                     uint64_t* mapped_bytes_out);
void unmap(const uint8_t* base, uint64_t size_bytes);
// Reads one byte of every 4 KiB of [addr, addr + size_bytes), a range of a read map that the
// file holds, so that the process's page tables hold those pages before another thread reads
// them (Log::touch). In fault builds nothing is read once a simulated crash froze I/O: the
// crash may have cut files short under their maps.
void touch_map(const uint8_t* addr, uint64_t size_bytes);
inline void read_each_page(const uint8_t* addr, uint64_t size_bytes) {
  for (uint64_t at = 0; at < size_bytes; at += 4096) (void)*reinterpret_cast<const volatile uint8_t*>(addr + at);
}
// Sets a file's size (ftruncate). On Windows a file already that size is left alone: readers
// may map it, and Windows refuses to resize a mapped file.
Status set_file_size(int fd, const std::string& path, uint64_t size_bytes);
// The names in a directory, "." and ".." excluded, in no particular order.
Status list_dir(const std::string& dir, std::vector<std::string>* names_out);
// Fills `out` with `size_bytes` (at most 256) bytes from the operating system's CSPRNG.
Status random_bytes(void* out, size_t size_bytes, const std::string& dir);
// Non-blocking exclusive flock (Windows: LockFileEx); another holder (any process, or another
// open file description in this process) gives ELOCKED. Closing the file releases it.
Status lock_exclusive(int fd, const std::string& path);
Status map_shared(int fd, const std::string& path, uint64_t size_bytes, bool writable, uint8_t** out);
bool exists(const std::string& path);
// Unlinks a file; a file already gone is not an error. Other processes' open descriptors and
// maps of it stay valid (unlinked() then says true for them). On Windows a file some process
// still maps is renamed instead, and deleted by a later call (io_win32.cc).
Status remove_file(const std::string& path);

// Fault injection, compiled only into test builds (VED_FAULT_INJECTION): the production
// build has no such code and its binding rejects any attempt to enable it. The plan is
// process-wide; fault tests run one store per process (or one at a time).
struct FaultPlan {
  std::atomic<uint32_t> syncs_to_fail{0};   // the next n fdatasync calls fail with EIO
  std::atomic<bool> out_of_space{false};    // while set, every write fails with ENOSPC
  // While set, every write records the bytes it replaces and the bytes it writes until an
  // fdatasync of its file succeeds, and every file created records its name until its
  // directory is synced: what fault_crash needs to simulate a power loss.
  std::atomic<bool> tracking{false};
  std::atomic<uint32_t> flush_delay_ms{0};  // the flusher waits this long before each batch
};
FaultPlan* fault_plan();  // null in production builds

// What fault_crash did, for the test's report (all counts since the last fault_resume).
struct CrashReport {
  const char* mode = "";             // "prefix": a prefix of the unsynced pages survives; "subset": a random subset
  uint64_t writes_unsynced = 0;      // writes not covered by a successful fdatasync
  uint64_t pages_unsynced = 0;       // their 4 KiB units (the granularity of keep or drop)
  uint64_t pages_kept = 0;
  uint64_t pages_dropped = 0;        // torn pages not included
  bool torn = false;                 // one dropped page was torn: some of its sectors or a prefix kept
  std::string torn_path;
  uint64_t torn_offset = 0;          // file offset of the torn page
  uint32_t torn_sectors_mask = 0;    // sectors (512 B) of the torn page that kept the new bytes
  uint32_t bits_flipped = 0;         // in kept unsynced pages
  uint32_t files_removed = 0;        // created, directory never synced: the name is lost
};

// Simulates a power cut now, deterministically from `seed` given the writes so far: freezes
// all further I/O (every later write, sync, file creation and directory sync fails with EIO
// and changes nothing), then leaves each tracked file as the last successful fdatasync left
// it plus some of the later pages (a prefix or a subset; one of the others torn; bits
// flipped in some kept ones), removes created files whose directory was never synced and
// drops every flock (the process holding them "died"). The store that was open is abandoned:
// close it, then call fault_resume before opening the directory again.
// EINVAL in production builds or when tracking was not on.
Status fault_crash(uint64_t seed, CrashReport* report);
// Ends a crash: I/O works again, and the files as they are now count as durable.
void fault_resume();
Status make_dir(const std::string& path);
Status write_new_file_durably(const std::string& dir, const std::string& name, const void* data,
                              size_t size_bytes);

}  // namespace io
}  // namespace ved
