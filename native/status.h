// Status codes of the engine. The names are the JS `VedError.code`s; the order is the wire
// value and must match lib/errors.ts (a test compares the two tables).
#pragma once
#include "platform.h"

#include <cstdint>
#include <string>

namespace ved {

enum class Code : uint8_t {
  OK = 0,
  EINVAL_ = 1,
  ELOCKED = 2,
  ENOTSTORE = 3,
  ECORRUPT = 4,
  EFORMAT = 5,
  EKEYSIZE = 6,
  EVALUESIZE = 7,
  ETXNSIZE = 8,
  ESTORESIZE = 9,
  EREADONLY = 10,
  ECLOSED = 11,
  EIO_ = 12,
  ENOSPC_ = 13,
  ETREELIMIT = 14,
  EENCODE = 15,
};

constexpr int kCodeCount = 16;
const char* code_name(Code code);

// A status is a code, a message and, for ECORRUPT, where the damage is.
struct Status {
  Code code = Code::OK;
  std::string message;
  int64_t segment = -1;
  int64_t offset = -1;

  bool ok() const { return code == Code::OK; }
  static Status Ok() { return Status{}; }
  static Status Error(Code code, std::string message) {
    Status s;
    s.code = code;
    s.message = std::move(message);
    return s;
  }
  static Status Corrupt(std::string message, int64_t segment, int64_t offset);
  // Maps an errno from a failed system call to EIO / ENOSPC with the call named.
  static Status FromErrno(int err, const char* what, const std::string& path);
};

#define VED_TRY(expr)              \
  do {                             \
    ::ved::Status _s = (expr);     \
    if (!_s.ok()) return _s;       \
  } while (0)

}  // namespace ved
