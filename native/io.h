// The only file that makes system calls on store files. Every write, sync, allocation and map
// of the log passes through here, so the fault-injection layer of test builds (issue 4) can
// sit behind these functions while production builds call the system directly.
#pragma once
#include <sys/uio.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "status.h"

namespace ved {
namespace io {

Status open_file(const std::string& path, int flags, int* fd_out);
void close_file(int fd);
Status file_size(int fd, const std::string& path, uint64_t* size_bytes_out);
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
Status map_read_only(int fd, const std::string& path, uint64_t size_bytes, const uint8_t** out);
void unmap(const uint8_t* base, uint64_t size_bytes);
// Non-blocking exclusive flock; another holder (any process, or another open file description
// in this process) gives ELOCKED.
Status lock_exclusive(int fd, const std::string& path);
Status map_shared(int fd, const std::string& path, uint64_t size_bytes, bool writable, uint8_t** out);
bool exists(const std::string& path);
// Unlinks a file; a file already gone is not an error.
Status remove_file(const std::string& path);

// Fault injection, compiled only into test builds (VED_FAULT_INJECTION): the production
// build has no such code and its binding rejects any attempt to enable it. The plan is
// process-wide; fault tests run one store per process.
struct FaultPlan {
  std::atomic<uint32_t> syncs_to_fail{0};   // the next n fdatasync calls fail with EIO
  std::atomic<bool> out_of_space{false};    // while set, every write fails with ENOSPC
};
FaultPlan* fault_plan();  // null in production builds
Status make_dir(const std::string& path);
Status write_new_file_durably(const std::string& dir, const std::string& name, const void* data,
                              size_t size_bytes);

}  // namespace io
}  // namespace ved
