#include "checksum.h"

#include <cstring>

namespace ved {
namespace {

struct Table {
  uint32_t t[8][256];
  Table() {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
      for (int s = 1; s < 8; s++) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
    }
  }
};
const Table kTable;

uint32_t crc_table(uint32_t crc, const uint8_t* p, size_t n) {
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    v ^= crc;
    crc = kTable.t[7][v & 0xff] ^ kTable.t[6][(v >> 8) & 0xff] ^ kTable.t[5][(v >> 16) & 0xff] ^
          kTable.t[4][(v >> 24) & 0xff] ^ kTable.t[3][(v >> 32) & 0xff] ^
          kTable.t[2][(v >> 40) & 0xff] ^ kTable.t[1][(v >> 48) & 0xff] ^ kTable.t[0][v >> 56];
    p += 8;
    n -= 8;
  }
  while (n--) crc = (crc >> 8) ^ kTable.t[0][(crc ^ *p++) & 0xff];
  return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define VED_CRC_HW 1
__attribute__((target("sse4.2"))) uint32_t crc_hw(uint32_t crc, const uint8_t* p, size_t n) {
  uint64_t c = crc;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return c32;
}

// The crc32 instruction has a latency of three cycles and a throughput of one: three
// independent streams over three lanes of a block keep it busy, and the lanes' CRCs are
// combined by the linear map "append kLaneBytes zero bytes" (Z below), one table lookup per
// byte. A 4 KiB page (4,092 bytes checked) is one block and a 12-byte tail.
constexpr size_t kLaneBytes = 1360;

struct ZeroShift {
  uint32_t t[4][256];  // t[k][v] = Z(v << 8k): the CRC register after kLaneBytes zero bytes
  ZeroShift() {
    static const uint8_t zeros[kLaneBytes] = {};
    for (uint32_t k = 0; k < 4; k++) {
      for (uint32_t v = 0; v < 256; v++) t[k][v] = crc_hw(v << (8 * k), zeros, kLaneBytes);
    }
  }
  uint32_t operator()(uint32_t c) const {
    return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
  }
};

__attribute__((target("sse4.2"))) uint32_t crc_hw3(uint32_t crc, const uint8_t* p, size_t n, const ZeroShift& z) {
  while (n >= 3 * kLaneBytes) {
    uint64_t a = crc, b = 0, c = 0;
    const uint8_t* pb = p + kLaneBytes;
    const uint8_t* pc = p + 2 * kLaneBytes;
    for (size_t i = 0; i < kLaneBytes; i += 8) {
      uint64_t va, vb, vc;
      std::memcpy(&va, p + i, 8);
      std::memcpy(&vb, pb + i, 8);
      std::memcpy(&vc, pc + i, 8);
      a = __builtin_ia32_crc32di(a, va);
      b = __builtin_ia32_crc32di(b, vb);
      c = __builtin_ia32_crc32di(c, vc);
    }
    // crc(A B C) = Z(Z(crc(A)) ^ crc0(B)) ^ crc0(C), crc0 starting from a zero register.
    crc = z(z(static_cast<uint32_t>(a)) ^ static_cast<uint32_t>(b)) ^ static_cast<uint32_t>(c);
    p += 3 * kLaneBytes;
    n -= 3 * kLaneBytes;
  }
  return crc_hw(crc, p, n);
}

bool have_hw() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
}
const bool kHaveHw = have_hw();
// Built only where the instruction exists (its constructor runs it).
const ZeroShift* const kZeroShift = kHaveHw ? new ZeroShift() : nullptr;
#endif

}  // namespace

uint32_t crc32c_extend(uint32_t crc, const void* data, size_t size_bytes) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint32_t c = ~crc;
#ifdef VED_CRC_HW
  if (kHaveHw) return ~crc_hw3(c, p, size_bytes, *kZeroShift);
#endif
  return ~crc_table(c, p, size_bytes);
}

uint32_t crc32c_extend_portable(uint32_t crc, const void* data, size_t size_bytes) {
  return ~crc_table(~crc, static_cast<const uint8_t*>(data), size_bytes);
}

}  // namespace ved
