#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <climits>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "assert.h"

namespace ved {
namespace io {

#ifdef VED_FAULT_INJECTION
FaultPlan* fault_plan() {
  static FaultPlan plan;
  return &plan;
}
#define VED_FAULT(plan_field_check, err) \
  do {                                   \
    if (plan_field_check) {              \
      errno = (err);                     \
      return -1;                         \
    }                                    \
  } while (0)
#else
FaultPlan* fault_plan() { return nullptr; }
#endif

// The system calls that change store files, with their test-build fault hooks.
static ssize_t sys_pwritev(int fd, const struct iovec* iov, int count, off_t offset) {
#ifdef VED_FAULT_INJECTION
  VED_FAULT(fault_plan()->out_of_space.load(), ENOSPC);
#endif
  return ::pwritev(fd, iov, count, offset);
}

static int sys_fdatasync(int fd) {
#ifdef VED_FAULT_INJECTION
  FaultPlan* plan = fault_plan();
  uint32_t n = plan->syncs_to_fail.load();
  while (n > 0 && !plan->syncs_to_fail.compare_exchange_weak(n, n - 1)) {
  }
  VED_FAULT(n > 0, EIO);
#endif
#ifdef __APPLE__
  return ::fcntl(fd, F_FULLFSYNC);
#else
  return ::fdatasync(fd);
#endif
}

Status open_file(const std::string& path, int flags, int* fd_out) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return Status::Error(Code::ENOTSTORE, "no such file: " + path);
    return Status::FromErrno(err, "open", path);
  }
  *fd_out = fd;
  return Status::Ok();
}

void close_file(int fd) {
  if (fd >= 0) ::close(fd);
}

Status remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Status::FromErrno(errno, "unlink", path);
  return Status::Ok();
}

Status file_size(int fd, const std::string& path, uint64_t* size_bytes_out) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno(errno, "fstat", path);
  *size_bytes_out = static_cast<uint64_t>(st.st_size);
  return Status::Ok();
}

Status read_exact(int fd, const std::string& path, void* buf, size_t size_bytes, uint64_t offset) {
  uint8_t* p = static_cast<uint8_t*>(buf);
  size_t done = 0;
  while (done < size_bytes) {
    ssize_t n = ::pread(fd, p + done, size_bytes - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, "pread", path);
    if (n == 0) return Status::Error(Code::ECORRUPT, "unexpected end of file: " + path);
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status write_all(int fd, const std::string& path, const struct iovec* iov_in, int iov_count,
                 uint64_t offset) {
  std::vector<struct iovec> iov(iov_in, iov_in + iov_count);
  size_t index = 0;
  while (index < iov.size()) {
    int batch = static_cast<int>(std::min<size_t>(iov.size() - index, IOV_MAX));
    ssize_t n = sys_pwritev(fd, iov.data() + index, batch, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, "pwritev", path);
    if (n == 0) return Status::FromErrno(EIO, "pwritev (no progress)", path);
    offset += static_cast<uint64_t>(n);
    size_t left = static_cast<size_t>(n);
    while (left > 0 && index < iov.size()) {
      if (left >= iov[index].iov_len) {
        left -= iov[index].iov_len;
        index++;
      } else {
        iov[index].iov_base = static_cast<uint8_t*>(iov[index].iov_base) + left;
        iov[index].iov_len -= left;
        left = 0;
      }
    }
  }
  return Status::Ok();
}

Status sync_data(int fd, const std::string& path) {
  int rc;
  do {
    rc = sys_fdatasync(fd);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int err = errno;
    // A failed sync is never retried: the kernel may already have dropped the dirty pages.
    return Status::Error(err == ENOSPC ? Code::ENOSPC_ : Code::EIO_,
                         std::string("fdatasync failed on ") + path + ": " + std::strerror(err));
  }
  return Status::Ok();
}

Status start_writeback(int fd, const std::string& path, uint64_t offset, uint64_t size_bytes) {
#ifdef __linux__
  if (::sync_file_range(fd, static_cast<off_t>(offset), static_cast<off_t>(size_bytes), SYNC_FILE_RANGE_WRITE) != 0) {
    return Status::FromErrno(errno, "sync_file_range", path);
  }
#endif
  return Status::Ok();
}

Status sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open directory", dir);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Status::FromErrno(err, "fsync directory", dir);
  return Status::Ok();
}

Status map_read_only(int fd, const std::string& path, uint64_t size_bytes, const uint8_t** out) {
  VED_ASSERT(size_bytes > 0);
  void* p = ::mmap(nullptr, size_bytes, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return Status::FromErrno(errno, "mmap", path);
  *out = static_cast<const uint8_t*>(p);
  return Status::Ok();
}

void unmap(const uint8_t* base, uint64_t size_bytes) {
  if (base != nullptr) ::munmap(const_cast<uint8_t*>(base), size_bytes);
}

Status lock_exclusive(int fd, const std::string& path) {
  int rc;
  do {
    rc = ::flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    if (errno == EWOULDBLOCK) {
      return Status::Error(Code::ELOCKED, "the store is locked by another writer: " + path);
    }
    return Status::FromErrno(errno, "flock", path);
  }
  return Status::Ok();
}

Status map_shared(int fd, const std::string& path, uint64_t size_bytes, bool writable, uint8_t** out) {
  int prot = writable ? (PROT_READ | PROT_WRITE) : PROT_READ;
  void* p = ::mmap(nullptr, size_bytes, prot, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return Status::FromErrno(errno, "mmap", path);
  *out = static_cast<uint8_t*>(p);
  return Status::Ok();
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

Status make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return Status::FromErrno(errno, "mkdir", path);
  return Status::Ok();
}

Status write_new_file_durably(const std::string& dir, const std::string& name, const void* data,
                              size_t size_bytes) {
  std::string tmp = dir + "/" + name + ".tmp";
  std::string final_path = dir + "/" + name;
  int fd = -1;
  VED_TRY(open_file(tmp, O_RDWR | O_CREAT | O_TRUNC, &fd));
  struct iovec iov = {const_cast<void*>(data), size_bytes};
  Status s = write_all(fd, tmp, &iov, 1, 0);
  if (s.ok()) s = sync_data(fd, tmp);
  close_file(fd);
  VED_TRY(s);
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) return Status::FromErrno(errno, "rename", tmp);
  return sync_dir(dir);
}

}  // namespace io
}  // namespace ved
