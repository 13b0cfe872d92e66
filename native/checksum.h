// CRC32C (Castagnoli): the checksum of every page, blob, record, checkpoint and header.
// Hardware instructions on x86-64 with SSE4.2 (checked at run time), a table otherwise.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ved {
// Extends `crc` (0 to start) over `data`; crc32c(a+b) == crc32c_extend(crc32c(a), b).
uint32_t crc32c_extend(uint32_t crc, const void* data, size_t size_bytes);
// The table implementation alone, whatever the CPU: what tests compare the fast path with.
uint32_t crc32c_extend_portable(uint32_t crc, const void* data, size_t size_bytes);
inline uint32_t crc32c(const void* data, size_t size_bytes) {
  return crc32c_extend(0, data, size_bytes);
}
}  // namespace ved
