// The POSIX I/O layer (Linux, macOS, the BSDs); io_win32.cc is the Windows one.
#include "io.h"

#if !defined(_WIN32)

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>  // getrandom (Linux), getentropy (macOS)
#include <sys/stat.h>
#include <climits>
#include <unistd.h>      // getentropy (the BSDs)

#include <algorithm>
#include <cstring>
#include <mutex>
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

// ---- Power-loss tracking (test builds) --------------------------------------------------
//
// Invariants, all under `mutex`:
// - `writes` holds, in issue order, every write since the last successful fdatasync of its
//   file: where, the file size before it, the bytes it replaced (those below that size) and
//   the bytes it wrote (or just "zeros"). A successful fdatasync of a file drops its writes.
// - Replaying baseline + a chosen subset of those writes, in order, yields a state the file
//   could be in after a power cut: what was synced, plus some of what was not.
// - Once `frozen`, nothing tracked changes a file except fault_crash itself.
// - Tracked bytes are bounded (kTrackedBytesMax); past that, fault_crash refuses (EINVAL)
//   rather than pretend.
namespace {

constexpr uint64_t kTrackedBytesMax = 512ull << 20;
constexpr uint64_t kUnitBytes = 4096;   // keep-or-drop granularity: the page
constexpr uint64_t kSectorBytes = 512;  // tear granularity

struct TrackedWrite {
  std::string path;
  int fd;  // at crash time: a descriptor fault_crash opened (the writer's may be closed or reused by then)
  uint64_t offset;
  uint64_t length;
  uint64_t size_before;
  std::vector<uint8_t> preimage;  // bytes [offset, min(offset + length, size_before)) before the write
  bool zeros;                     // the write wrote only zeros (data left empty)
  std::vector<uint8_t> data;
};

struct Tracker {
  std::mutex mutex;
  bool frozen = false;
  bool overflow = false;
  uint64_t tracked_bytes = 0;
  std::vector<TrackedWrite> writes;
  std::vector<std::string> created;  // files created since their directory was last synced
  std::vector<int> lock_fds;         // fds holding an flock
};

Tracker& tracker() {
  static Tracker t;
  return t;
}

// splitmix64: a small, well-mixed PRNG; the whole crash follows from its seed.
struct Prng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
};

std::string dir_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

bool all_zero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] != 0) return false;
  }
  return true;
}

// Records one write before it happens (the caller holds the mutex).
void track_write(Tracker& t, int fd, const std::string& path, const struct iovec* iov, int iov_count, uint64_t offset) {
  TrackedWrite w;
  w.path = path;
  w.fd = fd;
  w.offset = offset;
  w.length = 0;
  for (int i = 0; i < iov_count; i++) w.length += iov[i].iov_len;
  struct stat st;
  w.size_before = ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  if (w.offset < w.size_before) {
    w.preimage.resize(std::min(w.length, w.size_before - w.offset));
    ssize_t n = ::pread(fd, w.preimage.data(), w.preimage.size(), static_cast<off_t>(offset));
    VED_ASSERT(n == static_cast<ssize_t>(w.preimage.size()));
  }
  w.zeros = true;
  for (int i = 0; i < iov_count && w.zeros; i++) w.zeros = all_zero(static_cast<const uint8_t*>(iov[i].iov_base), iov[i].iov_len);
  if (!w.zeros) {
    w.data.reserve(w.length);
    for (int i = 0; i < iov_count; i++) {
      const uint8_t* b = static_cast<const uint8_t*>(iov[i].iov_base);
      w.data.insert(w.data.end(), b, b + iov[i].iov_len);
    }
  }
  t.tracked_bytes += w.preimage.size() + w.data.size();
  if (t.tracked_bytes > kTrackedBytesMax) {
    t.overflow = true;
    return;
  }
  t.writes.push_back(std::move(w));
}

void untrack_synced(Tracker& t, const std::string& path) {
  std::vector<TrackedWrite> left;
  for (TrackedWrite& w : t.writes) {
    if (w.path == path) {
      t.tracked_bytes -= w.preimage.size() + w.data.size();
    } else {
      left.push_back(std::move(w));
    }
  }
  t.writes.swap(left);
}

}  // namespace
#else
FaultPlan* fault_plan() { return nullptr; }
#endif

// The system calls that change store files, with their test-build fault hooks.
// pwritev: Linux, the BSDs, and macOS from 11 on (hence the macOS deployment target in
// sources.json).
static ssize_t sys_pwritev(int fd, const struct iovec* iov, int count, off_t offset) {
#ifdef VED_FAULT_INJECTION
  VED_FAULT(fault_plan()->out_of_space.load(), ENOSPC);
#endif
  return ::pwritev(fd, iov, count, offset);
}

// Makes what was written to `fd` durable: a file's data (and the size it needs to read it
// back), or a directory's entries. Returns 0, or -1 with errno.
static int os_sync(int fd, bool directory) {
#if defined(__APPLE__)
  // On macOS fsync and fdatasync hand the data to the drive, whose cache may still lose it on
  // power loss; F_FULLFSYNC also flushes that cache, which is what the durability promise
  // needs. Filesystems that cannot (some network and FUSE mounts) refuse with ENOTSUP or
  // EINVAL before doing anything, so fsync is not a retry of a failed sync: it is the most
  // such a filesystem offers.
  if (::fcntl(fd, F_FULLFSYNC) == 0) return 0;
  if (errno != ENOTSUP && errno != EINVAL) return -1;
  return ::fsync(fd);
#else
  // Linux and the BSDs: fdatasync skips metadata a read does not need (times), and is the
  // one sync per commit batch; a directory's entries need fsync.
  return directory ? ::fsync(fd) : ::fdatasync(fd);
#endif
}

static int sys_fdatasync(int fd) {
#ifdef VED_FAULT_INJECTION
  FaultPlan* plan = fault_plan();
  uint32_t n = plan->syncs_to_fail.load();
  while (n > 0 && !plan->syncs_to_fail.compare_exchange_weak(n, n - 1)) {
  }
  VED_FAULT(n > 0, EIO);
#endif
  return os_sync(fd, false);
}

Status open_file(const std::string& path, int flags, int* fd_out) {
#ifdef VED_FAULT_INJECTION
  bool creating = (flags & O_CREAT) && !exists(path);
  if (creating && fault_plan()->tracking.load()) {
    Tracker& t = tracker();
    std::lock_guard<std::mutex> lock(t.mutex);
    if (t.frozen) return Status::FromErrno(EIO, "open (frozen by a simulated crash)", path);
    t.created.push_back(path);
  }
#endif
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
#ifdef VED_FAULT_INJECTION
  if (fault_plan()->tracking.load()) {
    Tracker& t = tracker();
    std::lock_guard<std::mutex> lock(t.mutex);
    if (t.frozen) return Status::FromErrno(EIO, "unlink (frozen by a simulated crash)", path);
  }
#endif
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Status::FromErrno(errno, "unlink", path);
  return Status::Ok();
}

Status file_size(int fd, const std::string& path, uint64_t* size_bytes_out) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno(errno, "fstat", path);
  *size_bytes_out = static_cast<uint64_t>(st.st_size);
  return Status::Ok();
}

bool unlinked(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 && st.st_nlink == 0;
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

static Status write_all_untracked(int fd, const std::string& path, const struct iovec* iov_in, int iov_count,
                                  uint64_t offset);

Status write_all(int fd, const std::string& path, const struct iovec* iov_in, int iov_count, uint64_t offset) {
#ifdef VED_FAULT_INJECTION
  if (fault_plan()->tracking.load()) {
    Tracker& t = tracker();
    std::lock_guard<std::mutex> lock(t.mutex);
    if (t.frozen) return Status::FromErrno(EIO, "pwritev (frozen by a simulated crash)", path);
    track_write(t, fd, path, iov_in, iov_count, offset);
    return write_all_untracked(fd, path, iov_in, iov_count, offset);
  }
#endif
  return write_all_untracked(fd, path, iov_in, iov_count, offset);
}

static Status write_all_untracked(int fd, const std::string& path, const struct iovec* iov_in, int iov_count,
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

static Status sync_data_untracked(int fd, const std::string& path);

Status sync_data(int fd, const std::string& path) {
#ifdef VED_FAULT_INJECTION
  if (fault_plan()->tracking.load()) {
    Tracker& t = tracker();
    // Held across the fdatasync: a crash happens either before it or after it, never during.
    std::lock_guard<std::mutex> lock(t.mutex);
    if (t.frozen) return Status::Error(Code::EIO_, "fdatasync failed on " + path + ": frozen by a simulated crash");
    Status s = sync_data_untracked(fd, path);
    if (s.ok()) untrack_synced(t, path);
    return s;
  }
#endif
  return sync_data_untracked(fd, path);
}

static Status sync_data_untracked(int fd, const std::string& path) {
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
#if defined(__linux__)
  if (::sync_file_range(fd, static_cast<off_t>(offset), static_cast<off_t>(size_bytes), SYNC_FILE_RANGE_WRITE) != 0) {
    return Status::FromErrno(errno, "sync_file_range", path);
  }
#else
  // No POSIX call starts writeback without waiting for it (macOS has none at all), and this
  // is only a head start for the zeros of a fresh chunk: the commit's own sync writes them.
  (void)fd;
  (void)path;
  (void)offset;
  (void)size_bytes;
#endif
  return Status::Ok();
}

Status sync_dir(const std::string& dir) {
#ifdef VED_FAULT_INJECTION
  std::unique_lock<std::mutex> lock(tracker().mutex, std::defer_lock);
  if (fault_plan()->tracking.load()) {
    lock.lock();
    if (tracker().frozen) return Status::FromErrno(EIO, "fsync directory (frozen by a simulated crash)", dir);
  }
#endif
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open directory", dir);
  int rc;
  do {
    rc = os_sync(fd, true);
  } while (rc != 0 && errno == EINTR);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Status::FromErrno(err, "fsync directory", dir);
#ifdef VED_FAULT_INJECTION
  if (lock.owns_lock()) {
    std::vector<std::string>& created = tracker().created;
    created.erase(std::remove_if(created.begin(), created.end(), [&](const std::string& p) { return dir_of(p) == dir; }),
                  created.end());
  }
#endif
  return Status::Ok();
}

void touch_map(const uint8_t* addr, uint64_t size_bytes) {
#ifdef VED_FAULT_INJECTION
  if (fault_plan()->tracking.load()) {
    Tracker& t = tracker();
    std::lock_guard<std::mutex> lock(t.mutex);
    if (!t.frozen) read_each_page(addr, size_bytes);
    return;
  }
#endif
  read_each_page(addr, size_bytes);
}

Status map_read_only(int fd, const std::string& path, uint64_t size_bytes, const uint8_t** out,
                     uint64_t* mapped_bytes_out) {
  VED_ASSERT(size_bytes > 0);
  void* p = ::mmap(nullptr, size_bytes, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return Status::FromErrno(errno, "mmap", path);
  *out = static_cast<const uint8_t*>(p);
  // A map past the file's end is allowed here and grows with the file: the file's size alone
  // bounds what may be read.
  *mapped_bytes_out = size_bytes;
  return Status::Ok();
}

Status set_file_size(int fd, const std::string& path, uint64_t size_bytes) {
  if (::ftruncate(fd, static_cast<off_t>(size_bytes)) != 0) return Status::FromErrno(errno, "ftruncate", path);
  return Status::Ok();
}

Status list_dir(const std::string& dir, std::vector<std::string>* names_out) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Status::FromErrno(errno, "opendir", dir);
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    names_out->push_back(e->d_name);
  }
  ::closedir(d);
  return Status::Ok();
}

Status random_bytes(void* out, size_t size_bytes, const std::string& dir) {
  // Both calls give at most 256 bytes at once (getentropy fails beyond that).
  VED_ASSERT(size_bytes <= 256);
#if defined(__linux__)
  // getrandom(2) (glibc 2.25, musl 1.1.20): up to 256 bytes come whole once the pool is
  // seeded; EINTR only while it waits for that, so it is retried.
  ssize_t n;
  do {
    n = ::getrandom(out, size_bytes, 0);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(size_bytes)) return Status::FromErrno(n < 0 ? errno : EIO, "getrandom", dir);
#else
  // getentropy(3): macOS 10.12 and later, the BSDs; the same kernel source, at most 256 bytes.
  if (::getentropy(out, size_bytes) != 0) return Status::FromErrno(errno, "getentropy", dir);
#endif
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
#ifdef VED_FAULT_INJECTION
  if (fault_plan()->tracking.load()) {
    std::lock_guard<std::mutex> lock(tracker().mutex);
    tracker().lock_fds.push_back(fd);
  }
#endif
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

// ---- Simulated power loss (test builds) ---------------------------------------------------

#ifdef VED_FAULT_INJECTION
namespace {

// One keep-or-drop decision: a piece of a tracked write inside one 4 KiB-aligned unit of its file.
struct Unit {
  size_t write;    // index into Tracker::writes
  uint64_t begin;  // file offsets [begin, end)
  uint64_t end;
};

void pwrite_exact(int fd, const uint8_t* bytes, uint64_t length, uint64_t offset) {
  uint64_t done = 0;
  while (done < length) {
    ssize_t n = ::pwrite(fd, bytes + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    VED_ASSERT(n > 0);  // the test's own files: a failure here is a broken test machine
    done += static_cast<uint64_t>(n);
  }
}

// Writes the new bytes of [begin, end) of write w (all of it, or the sectors in `mask`).
void replay(const TrackedWrite& w, uint64_t begin, uint64_t end, uint32_t mask_sectors, uint64_t prefix_bytes) {
  static const std::vector<uint8_t> zeros(kUnitBytes, 0);
  VED_ASSERT(begin >= w.offset && end <= w.offset + w.length && end - begin <= kUnitBytes);
  uint64_t limit = prefix_bytes >= end - begin ? end : begin + prefix_bytes;
  for (uint64_t at = begin; at < limit;) {
    uint64_t sector_end = std::min(end, (at / kSectorBytes + 1) * kSectorBytes);
    uint64_t piece_end = std::min(sector_end, limit);
    uint32_t sector = static_cast<uint32_t>((at % kUnitBytes) / kSectorBytes);
    if (mask_sectors & (1u << sector)) {
      const uint8_t* bytes = w.zeros ? zeros.data() : w.data.data() + (at - w.offset);
      pwrite_exact(w.fd, bytes, piece_end - at, at);
    }
    at = piece_end;
  }
}

std::vector<Unit> units_of(const std::vector<TrackedWrite>& writes) {
  std::vector<Unit> units;
  for (size_t i = 0; i < writes.size(); i++) {
    const TrackedWrite& w = writes[i];
    for (uint64_t at = w.offset; at < w.offset + w.length;) {
      uint64_t end = std::min(w.offset + w.length, (at / kUnitBytes + 1) * kUnitBytes);
      units.push_back(Unit{i, at, end});
      at = end;
    }
  }
  return units;
}

// Back to what the last successful fdatasync of each file covered: undo every tracked write,
// newest first, then cut each file to its size before its first tracked write.
void revert_to_synced(const std::vector<TrackedWrite>& writes) {
  for (size_t i = writes.size(); i > 0; i--) {
    const TrackedWrite& w = writes[i - 1];
    if (!w.preimage.empty()) pwrite_exact(w.fd, w.preimage.data(), w.preimage.size(), w.offset);
  }
  std::vector<std::string> done;
  for (const TrackedWrite& w : writes) {
    if (std::find(done.begin(), done.end(), w.path) != done.end()) continue;
    done.push_back(w.path);
    int rc = ::ftruncate(w.fd, static_cast<off_t>(w.size_before));
    VED_ASSERT(rc == 0);
  }
}

void flip_bits(const std::vector<TrackedWrite>& writes, const std::vector<Unit>& units,
               const std::vector<uint8_t>& keep, Prng& rng, CrashReport* report) {
  std::vector<size_t> kept;
  for (size_t u = 0; u < units.size(); u++) {
    if (keep[u]) kept.push_back(u);
  }
  if (kept.empty() || rng.below(4) != 0) return;
  uint32_t flips = 1 + static_cast<uint32_t>(rng.below(3));
  for (uint32_t i = 0; i < flips; i++) {
    const Unit& u = units[kept[rng.below(kept.size())]];
    uint64_t at = u.begin + rng.below(u.end - u.begin);
    uint8_t byte = 0;
    int fd = writes[u.write].fd;
    ssize_t n = ::pread(fd, &byte, 1, static_cast<off_t>(at));
    VED_ASSERT(n == 1);
    byte ^= static_cast<uint8_t>(1u << rng.below(8));
    pwrite_exact(fd, &byte, 1, at);
    report->bits_flipped++;
  }
}

}  // namespace
#endif

Status fault_crash(uint64_t seed, CrashReport* report) {
#ifndef VED_FAULT_INJECTION
  (void)seed;
  (void)report;
  return Status::Error(Code::EINVAL_, "fault injection is not compiled into this build");
#else
  if (!fault_plan()->tracking.load()) return Status::Error(Code::EINVAL_, "faultCrash needs write tracking (faultSet({ trackWrites: true }) before opening)");
  Tracker& t = tracker();
  std::lock_guard<std::mutex> lock(t.mutex);
  if (t.frozen) return Status::Error(Code::EINVAL_, "already crashed: close the store and call faultResume first");
  t.frozen = true;
  *report = CrashReport{};
  // The process holding the locks is gone.
  for (int fd : t.lock_fds) ::flock(fd, LOCK_UN);
  t.lock_fds.clear();
  if (t.overflow) return Status::Error(Code::EINVAL_, "more unsynced bytes than the fault layer tracks; nothing was reverted");
  // Files are reopened by name: a store may have closed (and the process reused) the
  // descriptors it wrote through. Writes to files that are gone (a removed store) are moot.
  std::vector<std::pair<std::string, int>> fds;
  std::vector<TrackedWrite> writes;
  for (TrackedWrite& w : t.writes) {
    auto it = std::find_if(fds.begin(), fds.end(), [&](const std::pair<std::string, int>& e) { return e.first == w.path; });
    if (it == fds.end()) {
      fds.emplace_back(w.path, ::open(w.path.c_str(), O_RDWR | O_CLOEXEC));
      it = fds.end() - 1;
    }
    if (it->second < 0) continue;
    w.fd = it->second;
    writes.push_back(std::move(w));
  }
  t.writes.swap(writes);
  Prng rng{seed};
  std::vector<Unit> units = units_of(t.writes);
  report->writes_unsynced = t.writes.size();
  report->pages_unsynced = units.size();
  std::vector<uint8_t> keep(units.size(), 0);
  size_t torn = SIZE_MAX;
  bool prefix = rng.below(2) == 0;
  report->mode = prefix ? "prefix" : "subset";
  if (prefix) {
    size_t kept = rng.below(units.size() + 1);
    for (size_t u = 0; u < kept; u++) keep[u] = 1;
    if (kept < units.size() && rng.below(2) == 0) torn = kept;
  } else {
    uint64_t percent = rng.below(101);
    std::vector<size_t> dropped;
    for (size_t u = 0; u < units.size(); u++) {
      keep[u] = rng.below(100) < percent;
      if (!keep[u]) dropped.push_back(u);
    }
    if (!dropped.empty() && rng.below(2) == 0) torn = dropped[rng.below(dropped.size())];
  }
  revert_to_synced(t.writes);
  for (size_t u = 0; u < units.size(); u++) {
    const Unit& unit = units[u];
    const TrackedWrite& w = t.writes[unit.write];
    if (keep[u]) {
      replay(w, unit.begin, unit.end, UINT32_MAX, UINT64_MAX);
      report->pages_kept++;
    } else if (u == torn) {
      // A torn page: a prefix of its bytes, or a subset of its sectors, got the new bytes.
      uint64_t length = unit.end - unit.begin;
      uint32_t mask = UINT32_MAX;
      uint64_t prefix_bytes = UINT64_MAX;
      if (rng.below(2) == 0) {
        prefix_bytes = length > 1 ? 1 + rng.below(length - 1) : 0;
      } else {
        mask = static_cast<uint32_t>(rng.below(256));
      }
      replay(w, unit.begin, unit.end, mask, prefix_bytes);
      report->torn = true;
      report->torn_path = w.path;
      report->torn_offset = unit.begin;
      report->torn_sectors_mask = prefix_bytes == UINT64_MAX ? mask : static_cast<uint32_t>((1ull << ((prefix_bytes + kSectorBytes - 1) / kSectorBytes)) - 1);
    } else {
      report->pages_dropped++;
    }
  }
  flip_bits(t.writes, units, keep, rng, report);
  for (const std::string& path : t.created) {
    if (rng.below(2) == 0 && ::unlink(path.c_str()) == 0) report->files_removed++;
  }
  for (const auto& entry : fds) {
    if (entry.second >= 0) ::close(entry.second);
  }
  t.writes.clear();
  t.created.clear();
  t.tracked_bytes = 0;
  return Status::Ok();
#endif
}

void fault_resume() {
#ifdef VED_FAULT_INJECTION
  Tracker& t = tracker();
  std::lock_guard<std::mutex> lock(t.mutex);
  t.frozen = false;
  t.overflow = false;
  t.writes.clear();
  t.created.clear();
  t.lock_fds.clear();
  t.tracked_bytes = 0;
#endif
}

}  // namespace io
}  // namespace ved

#endif  // !defined(_WIN32)
