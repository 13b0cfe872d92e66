#include "status.h"

#include <cerrno>
#include <cstring>

namespace ved {

static const char* const kCodeNames[kCodeCount] = {
    "OK",        "EINVAL",    "ELOCKED",  "ENOTSTORE", "ECORRUPT",   "EFORMAT",
    "EKEYSIZE",  "EVALUESIZE", "ETXNSIZE", "ESTORESIZE", "EREADONLY", "ECLOSED",
    "EIO",       "ENOSPC",    "ETREELIMIT", "EENCODE",
};

const char* code_name(Code code) {
  int index = static_cast<int>(code);
  if (index < 0 || index >= kCodeCount) return "EUNKNOWN";
  return kCodeNames[index];
}

Status Status::Corrupt(std::string message, int64_t segment, int64_t offset) {
  Status s;
  s.code = Code::ECORRUPT;
  s.message = message + " (segment " + std::to_string(segment) + ", offset " +
              std::to_string(offset) + ")";
  s.segment = segment;
  s.offset = offset;
  return s;
}

Status Status::FromErrno(int err, const char* what, const std::string& path) {
  bool full = err == ENOSPC;
#ifdef EDQUOT  // not in Windows' C runtime
  full = full || err == EDQUOT;
#endif
  Code code = full ? Code::ENOSPC_ : Code::EIO_;
  return Error(code, std::string(what) + " failed on " + path + ": " + std::strerror(err));
}

}  // namespace ved
