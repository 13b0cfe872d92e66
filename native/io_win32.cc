// The Windows I/O layer: io.h's contract kept with Win32 calls (io.cc is the POSIX one, and
// this file compiles to nothing elsewhere). Paths arrive as UTF-8 with '/' separators, which
// the wide (W) calls accept as they are.
//
// How each promise of io.h is kept here, and where Windows differs:
// - Durable means FlushFileBuffers completed. It writes the file's dirty cache pages and its
//   metadata (size, allocation) and asks the drive to empty its write cache. A failed flush is
//   never retried: it returns EIO (ENOSPC for a full disk or quota), and the flusher poisons
//   the store exactly as for a failed fdatasync.
// - There is no directory sync (sync_dir does nothing). NTFS and ReFS record a new name or a
//   rename in the volume's metadata log, which is written in order: FlushFileBuffers on a file
//   commits that log up to the file's latest change, so a segment's first commit flush also
//   makes its name durable before any commit in it is acknowledged, and the checkpoint's first
//   slot write does the same for CHECKPOINT. Renames use MOVEFILE_WRITE_THROUGH. FAT and exFAT
//   keep no such log: on them a crash may lose a new file's name (not supported).
// - Every opener shares read, write and delete (FILE_SHARE_*), so read-only stores and the
//   writer coexist, and the writer can delete a segment that readers still have open and mapped.
// - Writes are positional (WriteFile with the offset in an OVERLAPPED on a synchronous
//   handle), one piece of the iovec at a time: WriteFileGather takes only unbuffered, page
//   aligned I/O. ENOSPC: ERROR_DISK_FULL, ERROR_HANDLE_DISK_FULL, ERROR_DISK_QUOTA_EXCEEDED.
// - Maps: Windows cannot map past a file's end, and a view cannot grow in place; JS holds
//   buffers into the views, so a segment is mapped once, at its full size, and never moved.
//   The writer's map does that by sizing the file: a section as large as the segment, created
//   through a handle that may write, sets the file to that size, and NTFS reads bytes never
//   written as zeros (the form preallocation takes here; log.cc still writes zeros ahead of
//   commits, so a small commit never pays for NTFS zeroing the gap to its valid data length).
//   A read-only opener cannot size a file: it maps what the file holds (all of it for any
//   segment a Windows writer has mapped) and reports that as *mapped_bytes_out, which bounds
//   what log.cc reads. So no byte is ever read past a file's end. A file still empty (the
//   writer between creating and mapping it) gives ENOTSTORE: the reader maps it on its next
//   look. A short segment (written by a writer on another system, and only read here since)
//   stays as short as when it was mapped until the reader reopens.
// - Deleting: Windows deletes a file that others have open when every opener shares delete,
//   but not one that any process has mapped (STATUS_CANNOT_DELETE, seen as ERROR_ACCESS_DENIED),
//   and it never truncates a mapped file (ERROR_USER_MAPPED_FILE). Read-only stores keep
//   segments mapped until they notice the segment is gone (unlinked()), so the writer's delete
//   of a segment a reader maps would fail, and the reader, seeing no delete, would never let
//   go. A mapped file can be renamed, though. So remove_file first renames the file to
//   "<name>.deleted" (the store's name for it is gone at once, as after unlink: nothing opens
//   or lists it as a segment any more), then deletes it. unlinked() is true for a handle whose
//   file has that suffix (or is delete-pending), so readers release it; a file still mapped
//   stays behind under its new name, and every later remove_file in that directory tries it
//   again (those left by a process that stopped are retried by the next writer's first
//   delete). The writer unmaps and closes its own segment before deleting it (log.cc destroy).
//   Another program holding the file without FILE_SHARE_DELETE (a virus scanner, an indexer,
//   a backup tool) makes the rename fail for a moment, so it is retried a few times; past that
//   the cleaner reports the error and leaves the file, which holds nothing reachable.
//   set_file_size only changes the LOCK file, and not when it already has that size, so the
//   readers' maps of it never stop a writer from opening.
// - The writer lock is LockFileEx on one byte far past the LOCK file's end: Windows locks are
//   mandatory, and locking the bytes readers map would be asking for trouble. Like flock, it
//   belongs to the open file (a second open in this process does not get it) and goes away
//   when the handle closes or the process dies.
// - Fault injection (VED_FAULT_INJECTION) is POSIX only; fault_plan() is null here.
#include "io.h"

#if defined(_WIN32)

#if defined(VED_FAULT_INJECTION)
#error "The fault-injection I/O layer (VED_FAULT_INJECTION) is POSIX only (native/io.cc)."
#endif

#ifndef NOMINMAX
#define NOMINMAX
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <bcrypt.h>
// The C runtime's <io.h> (_open_osfhandle, _get_osfhandle, _close), not native/io.h: angle
// brackets never search the including file's directory.
#include <io.h>

#include <algorithm>
#include <cstring>
#include <cwchar>

#include "assert.h"

namespace ved {
namespace io {

namespace {

constexpr DWORD kShareAll = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;
// ReadFile and WriteFile count in DWORDs: larger requests go in pieces of this size.
constexpr uint64_t kIoChunkBytes = 1ull << 30;
// The writer's lock byte: far past anything the LOCK file holds (its 4 KiB shared map), where
// a mandatory lock cannot get in any reader's way. Windows allows locks past a file's end.
constexpr uint64_t kLockOffset = 1ull << 40;
// A rename refused because another program has the file open without sharing delete: tried
// again after 10, 20, 40 and 80 ms (at most 150 ms on the cleaner's thread, or at close).
constexpr int kRemoveAttempts = 5;
constexpr DWORD kRemoveRetryFirstMs = 10;
// What remove_file renames a file to before deleting it (see the header). No store file's
// name ends this way, and log.cc lists only "<16 hex digits>.seg" as segments.
constexpr char kDoomedSuffix[] = ".deleted";
constexpr wchar_t kDoomedSuffixWide[] = L".deleted";

// Declared by SDK headers only when _WIN32_WINNT says Windows 10 1607 or later (mingw asks for
// even more), which a build need not target: the values, from the SDK. Older systems refuse
// the call, and remove_file falls back to the classic delete.
constexpr FILE_INFO_BY_HANDLE_CLASS kFileDispositionInfoEx = static_cast<FILE_INFO_BY_HANDLE_CLASS>(21);
constexpr DWORD kDispositionDelete = 0x1;          // FILE_DISPOSITION_FLAG_DELETE
constexpr DWORD kDispositionPosixSemantics = 0x2;  // FILE_DISPOSITION_FLAG_POSIX_SEMANTICS
struct DispositionInfoEx {                         // FILE_DISPOSITION_INFO_EX
  DWORD Flags;
};
constexpr DWORD kErrorDiskQuotaExceeded = 1295;    // ERROR_DISK_QUOTA_EXCEEDED (not in mingw)

HANDLE handle_of(int fd) { return reinterpret_cast<HANDLE>(_get_osfhandle(fd)); }

DWORD low32(uint64_t v) { return static_cast<DWORD>(v & 0xffffffffu); }
DWORD high32(uint64_t v) { return static_cast<DWORD>(v >> 32); }

OVERLAPPED at_offset(uint64_t offset) {
  OVERLAPPED ov;
  std::memset(&ov, 0, sizeof(ov));
  ov.Offset = low32(offset);
  ov.OffsetHigh = high32(offset);
  return ov;
}

std::wstring wide(const std::string& utf8) {
  if (utf8.empty()) return std::wstring();
  int n = MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), nullptr, 0);
  std::wstring w(static_cast<size_t>(n), L'\0');
  if (n > 0) MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), &w[0], n);
  return w;
}

std::string narrow(const wchar_t* w) {
  int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, nullptr, 0, nullptr, nullptr);
  if (n <= 1) return std::string();
  std::string s(static_cast<size_t>(n), '\0');
  WideCharToMultiByte(CP_UTF8, 0, w, -1, &s[0], n, nullptr, nullptr);
  s.resize(static_cast<size_t>(n - 1));  // the terminating NUL
  return s;
}

std::string describe(DWORD err) {
  char buf[256];
  DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr, err, 0, buf,
                           sizeof(buf), nullptr);
  while (n > 0 && (buf[n - 1] == '\r' || buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '.')) n--;
  return std::string(buf, n) + " (Windows error " + std::to_string(err) + ")";
}

bool out_of_space(DWORD err) {
  return err == ERROR_DISK_FULL || err == ERROR_HANDLE_DISK_FULL || err == kErrorDiskQuotaExceeded;
}

// Status::FromErrno's counterpart: a failed call becomes EIO, or ENOSPC for a full disk.
Status win_error(DWORD err, const char* what, const std::string& path) {
  return Status::Error(out_of_space(err) ? Code::ENOSPC_ : Code::EIO_,
                       std::string(what) + " failed on " + path + ": " + describe(err));
}

bool not_found(DWORD err) { return err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND; }

// One delete attempt. POSIX semantics first: the name goes now, where the system has them.
DWORD delete_once(const std::wstring& path) {
  HANDLE h = CreateFileW(path.c_str(), DELETE, kShareAll, nullptr, OPEN_EXISTING, FILE_FLAG_OPEN_REPARSE_POINT, nullptr);
  if (h == INVALID_HANDLE_VALUE) return GetLastError();
  DispositionInfoEx posix;
  posix.Flags = kDispositionDelete | kDispositionPosixSemantics;
  DWORD err = ERROR_SUCCESS;
  if (!SetFileInformationByHandle(h, kFileDispositionInfoEx, &posix, sizeof(posix))) {
    // Before Windows 10 1709, a filesystem without them (FAT), or a file still mapped (then
    // this fails the same way and the file waits for the next sweep).
    FILE_DISPOSITION_INFO classic;
    classic.DeleteFile = TRUE;
    if (!SetFileInformationByHandle(h, FileDispositionInfo, &classic, sizeof(classic))) err = GetLastError();
  }
  CloseHandle(h);
  return err;
}

bool ends_with(const std::string& s, const char* suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

std::string dir_of(const std::string& path) {
  size_t slash = path.find_last_of("/\\");
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

}  // namespace

Status list_dir(const std::string& dir, std::vector<std::string>* names_out);

namespace {

// Deletes what earlier remove_file calls in `dir` had to leave behind (a reader still had it
// mapped then). Failures are expected (still mapped) and wait for the next sweep.
void sweep_doomed(const std::string& dir) {
  std::vector<std::string> names;
  if (!list_dir(dir, &names).ok()) return;
  for (const std::string& name : names) {
    if (ends_with(name, kDoomedSuffix)) (void)delete_once(wide(dir + "/" + name));
  }
}

}  // namespace

FaultPlan* fault_plan() { return nullptr; }

Status fault_crash(uint64_t seed, CrashReport* report) {
  (void)seed;
  (void)report;
  return Status::Error(Code::EINVAL_, "fault injection is not compiled into this build (it is POSIX only)");
}

void fault_resume() {}

Status open_file(const std::string& path, int flags, int* fd_out) {
  bool writable = (flags & (O_RDWR | O_WRONLY)) != 0;
  DWORD access = GENERIC_READ | (writable ? GENERIC_WRITE : 0);
  DWORD disposition;
  if (flags & O_CREAT) {
    disposition = (flags & O_TRUNC) ? CREATE_ALWAYS : OPEN_ALWAYS;
  } else {
    disposition = (flags & O_TRUNC) ? TRUNCATE_EXISTING : OPEN_EXISTING;
  }
  // Not inherited by child processes (a null SECURITY_ATTRIBUTES): O_CLOEXEC's counterpart.
  HANDLE h = CreateFileW(wide(path).c_str(), access, kShareAll, nullptr, disposition, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (h == INVALID_HANDLE_VALUE) {
    DWORD err = GetLastError();
    if (not_found(err)) return Status::Error(Code::ENOTSTORE, "no such file: " + path);
    return win_error(err, "CreateFileW", path);
  }
  int fd = _open_osfhandle(reinterpret_cast<intptr_t>(h), writable ? 0 : _O_RDONLY);
  if (fd < 0) {
    CloseHandle(h);
    return Status::Error(Code::EIO_, "open failed on " + path + ": the C runtime's descriptor table is full");
  }
  *fd_out = fd;
  return Status::Ok();
}

void close_file(int fd) {
  if (fd >= 0) _close(fd);  // closes the HANDLE too, which releases a LockFileEx lock
}

Status remove_file(const std::string& path) {
  sweep_doomed(dir_of(path));
  std::wstring from = wide(path);
  std::wstring doomed = wide(path + kDoomedSuffix);
  DWORD wait_ms = kRemoveRetryFirstMs;
  DWORD err = ERROR_SUCCESS;
  for (int attempt = 0; attempt < kRemoveAttempts; attempt++) {
    if (attempt > 0) {
      Sleep(wait_ms);
      wait_ms *= 2;
    }
    err = MoveFileExW(from.c_str(), doomed.c_str(), MOVEFILE_REPLACE_EXISTING) ? ERROR_SUCCESS : GetLastError();
    if (not_found(err)) return Status::Ok();
    if (err == ERROR_SUCCESS) break;
    if (err != ERROR_SHARING_VIOLATION && err != ERROR_ACCESS_DENIED) break;
  }
  if (err != ERROR_SUCCESS) return win_error(err, "rename before delete", path);
  // The store's name is gone. Still mapped somewhere: a later sweep deletes it.
  (void)delete_once(doomed);
  return Status::Ok();
}

Status file_size(int fd, const std::string& path, uint64_t* size_bytes_out) {
  LARGE_INTEGER size;
  if (!GetFileSizeEx(handle_of(fd), &size)) return win_error(GetLastError(), "GetFileSizeEx", path);
  VED_ASSERT(size.QuadPart >= 0);
  *size_bytes_out = static_cast<uint64_t>(size.QuadPart);
  return Status::Ok();
}

bool unlinked(int fd) {
  HANDLE h = handle_of(fd);
  FILE_STANDARD_INFO info;
  if (GetFileInformationByHandleEx(h, FileStandardInfo, &info, sizeof(info)) &&
      (info.DeletePending || info.NumberOfLinks == 0)) {
    return true;
  }
  // Renamed by remove_file, waiting for this process to unmap it.
  alignas(FILE_NAME_INFO) uint8_t buf[sizeof(FILE_NAME_INFO) + 2048 * sizeof(wchar_t)];
  FILE_NAME_INFO* name = reinterpret_cast<FILE_NAME_INFO*>(buf);
  if (!GetFileInformationByHandleEx(h, FileNameInfo, name, sizeof(buf))) return false;
  size_t length = name->FileNameLength / sizeof(wchar_t);
  size_t suffix = std::wcslen(kDoomedSuffixWide);
  return length >= suffix && std::wcsncmp(name->FileName + length - suffix, kDoomedSuffixWide, suffix) == 0;
}

Status read_exact(int fd, const std::string& path, void* buf, size_t size_bytes, uint64_t offset) {
  HANDLE h = handle_of(fd);
  uint8_t* p = static_cast<uint8_t*>(buf);
  size_t done = 0;
  while (done < size_bytes) {
    OVERLAPPED ov = at_offset(offset + done);
    DWORD want = static_cast<DWORD>(std::min<uint64_t>(size_bytes - done, kIoChunkBytes));
    DWORD n = 0;
    if (!ReadFile(h, p + done, want, &n, &ov)) {
      DWORD err = GetLastError();
      if (err != ERROR_HANDLE_EOF) return win_error(err, "ReadFile", path);
      n = 0;
    }
    if (n == 0) return Status::Error(Code::ECORRUPT, "unexpected end of file: " + path);
    done += n;
  }
  return Status::Ok();
}

Status write_all(int fd, const std::string& path, const struct iovec* iov, int iov_count, uint64_t offset) {
  HANDLE h = handle_of(fd);
  for (int i = 0; i < iov_count; i++) {
    const uint8_t* p = static_cast<const uint8_t*>(iov[i].iov_base);
    size_t left = iov[i].iov_len;
    while (left > 0) {
      OVERLAPPED ov = at_offset(offset);
      DWORD want = static_cast<DWORD>(std::min<uint64_t>(left, kIoChunkBytes));
      DWORD n = 0;
      if (!WriteFile(h, p, want, &n, &ov)) return win_error(GetLastError(), "WriteFile", path);
      if (n == 0) return Status::Error(Code::EIO_, "WriteFile failed on " + path + ": no progress");
      p += n;
      left -= n;
      offset += n;
    }
  }
  return Status::Ok();
}

Status sync_data(int fd, const std::string& path) {
  if (!FlushFileBuffers(handle_of(fd))) {
    DWORD err = GetLastError();
    // Never retried: like a failed fdatasync, the dirty pages may already be gone.
    return Status::Error(out_of_space(err) ? Code::ENOSPC_ : Code::EIO_,
                         "FlushFileBuffers failed on " + path + ": " + describe(err));
  }
  return Status::Ok();
}

Status start_writeback(int fd, const std::string& path, uint64_t offset, uint64_t size_bytes) {
  // Windows has no call that starts writing a range back without waiting for it; its lazy
  // writer starts on dirty pages within about a second anyway. Only a head start is lost: the
  // commit's own flush writes what it relies on.
  (void)fd;
  (void)path;
  (void)offset;
  (void)size_bytes;
  return Status::Ok();
}

Status sync_dir(const std::string& dir) {
  // Nothing to do on NTFS and ReFS: see the file's header (the metadata log is flushed in
  // order with the file's own data).
  (void)dir;
  return Status::Ok();
}

Status map_read_only(int fd, const std::string& path, uint64_t size_bytes, const uint8_t** out,
                     uint64_t* mapped_bytes_out) {
  VED_ASSERT(size_bytes > 0);
  HANDLE h = handle_of(fd);
  uint64_t mapped_bytes = size_bytes;
  // Through a handle that may write (the writer's): a section of the whole segment, which
  // sizes the file to it. The view itself is read-only.
  HANDLE section = CreateFileMappingW(h, nullptr, PAGE_READWRITE, high32(size_bytes), low32(size_bytes), nullptr);
  if (section == nullptr) {
    DWORD err = GetLastError();
    if (err != ERROR_ACCESS_DENIED) return win_error(err, "CreateFileMappingW", path);
    // A read-only handle: at most what the file holds now.
    uint64_t file_bytes;
    VED_TRY(file_size(fd, path, &file_bytes));
    if (file_bytes == 0) return Status::Error(Code::ENOTSTORE, "nothing to map yet (empty file): " + path);
    mapped_bytes = std::min(file_bytes, size_bytes);
    section = CreateFileMappingW(h, nullptr, PAGE_READONLY, high32(mapped_bytes), low32(mapped_bytes), nullptr);
    if (section == nullptr) return win_error(GetLastError(), "CreateFileMappingW", path);
  }
  void* p = MapViewOfFile(section, FILE_MAP_READ, 0, 0, static_cast<SIZE_T>(mapped_bytes));
  DWORD err = GetLastError();
  CloseHandle(section);  // the view holds the section until UnmapViewOfFile
  if (p == nullptr) return win_error(err, "MapViewOfFile", path);
  *out = static_cast<const uint8_t*>(p);
  *mapped_bytes_out = mapped_bytes;
  return Status::Ok();
}

void touch_map(const uint8_t* addr, uint64_t size_bytes) { read_each_page(addr, size_bytes); }

void unmap(const uint8_t* base, uint64_t size_bytes) {
  (void)size_bytes;  // a view is unmapped whole
  if (base != nullptr) UnmapViewOfFile(base);
}

Status set_file_size(int fd, const std::string& path, uint64_t size_bytes) {
  uint64_t current;
  VED_TRY(file_size(fd, path, &current));
  // Readers may map the file: Windows refuses any size change then (ERROR_USER_MAPPED_FILE),
  // so a file already the right size is left alone.
  if (current == size_bytes) return Status::Ok();
  FILE_END_OF_FILE_INFO eof;
  eof.EndOfFile.QuadPart = static_cast<LONGLONG>(size_bytes);
  if (!SetFileInformationByHandle(handle_of(fd), FileEndOfFileInfo, &eof, sizeof(eof))) {
    return win_error(GetLastError(), "SetFileInformationByHandle (end of file)", path);
  }
  return Status::Ok();
}

Status list_dir(const std::string& dir, std::vector<std::string>* names_out) {
  WIN32_FIND_DATAW data;
  HANDLE find = FindFirstFileExW(wide(dir + "/*").c_str(), FindExInfoBasic, &data, FindExSearchNameMatch, nullptr, 0);
  if (find == INVALID_HANDLE_VALUE) {
    DWORD err = GetLastError();
    if (err == ERROR_FILE_NOT_FOUND) return Status::Ok();  // no entries at all
    return win_error(err, "FindFirstFileExW", dir);
  }
  do {
    if (std::wcscmp(data.cFileName, L".") == 0 || std::wcscmp(data.cFileName, L"..") == 0) continue;
    names_out->push_back(narrow(data.cFileName));
  } while (FindNextFileW(find, &data));
  DWORD err = GetLastError();
  FindClose(find);
  if (err != ERROR_NO_MORE_FILES) return win_error(err, "FindNextFileW", dir);
  return Status::Ok();
}

Status random_bytes(void* out, size_t size_bytes, const std::string& dir) {
  VED_ASSERT(size_bytes <= 256);  // the same bound as getentropy, so callers stay portable
  NTSTATUS rc = BCryptGenRandom(nullptr, static_cast<PUCHAR>(out), static_cast<ULONG>(size_bytes),
                                BCRYPT_USE_SYSTEM_PREFERRED_RNG);
  if (rc < 0) {
    return Status::Error(Code::EIO_, "BCryptGenRandom failed for " + dir + ": NTSTATUS " + std::to_string(static_cast<long>(rc)));
  }
  return Status::Ok();
}

Status lock_exclusive(int fd, const std::string& path) {
  OVERLAPPED ov = at_offset(kLockOffset);
  if (!LockFileEx(handle_of(fd), LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ov)) {
    DWORD err = GetLastError();
    if (err == ERROR_LOCK_VIOLATION || err == ERROR_IO_PENDING) {
      return Status::Error(Code::ELOCKED, "the store is locked by another writer: " + path);
    }
    return win_error(err, "LockFileEx", path);
  }
  return Status::Ok();
}

Status map_shared(int fd, const std::string& path, uint64_t size_bytes, bool writable, uint8_t** out) {
  VED_ASSERT(size_bytes > 0);
  HANDLE section = CreateFileMappingW(handle_of(fd), nullptr, writable ? PAGE_READWRITE : PAGE_READONLY,
                                      high32(size_bytes), low32(size_bytes), nullptr);
  if (section == nullptr) return win_error(GetLastError(), "CreateFileMappingW", path);
  void* p = MapViewOfFile(section, writable ? (FILE_MAP_READ | FILE_MAP_WRITE) : FILE_MAP_READ, 0, 0,
                          static_cast<SIZE_T>(size_bytes));
  DWORD err = GetLastError();
  CloseHandle(section);
  if (p == nullptr) return win_error(err, "MapViewOfFile", path);
  *out = static_cast<uint8_t*>(p);
  return Status::Ok();
}

bool exists(const std::string& path) { return GetFileAttributesW(wide(path).c_str()) != INVALID_FILE_ATTRIBUTES; }

Status make_dir(const std::string& path) {
  if (!CreateDirectoryW(wide(path).c_str(), nullptr)) {
    DWORD err = GetLastError();
    if (err != ERROR_ALREADY_EXISTS) return win_error(err, "CreateDirectoryW", path);
  }
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
  // MOVEFILE_WRITE_THROUGH: returns once the rename is on disk (the directory sync of POSIX).
  if (!MoveFileExW(wide(tmp).c_str(), wide(final_path).c_str(), MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
    return win_error(GetLastError(), "MoveFileExW", tmp);
  }
  return Status::Ok();
}

}  // namespace io
}  // namespace ved

#endif  // defined(_WIN32)
