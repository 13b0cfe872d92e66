// CRC32C per 4 KiB page: the engine's checksum (three streams with the hardware
// instruction where there is one) against the table implementation. The figures behind
// "CRC32C in three streams" in BENCHMARKS.md. Not part of the addon or the tests:
//
//   g++ -O2 -std=c++17 -o /tmp/crc-bench bench/crc.cc native/checksum.cc && /tmp/crc-bench
//
// To see the one-stream figure, build it against native/checksum.cc of an earlier commit.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "../native/checksum.h"

int main() {
  constexpr size_t kPages = 1024;
  constexpr size_t kPageBytes = 4096;
  std::vector<uint8_t> pages(kPages * kPageBytes);
  for (size_t i = 0; i < pages.size(); i++) pages[i] = static_cast<uint8_t>(i * 2654435761u >> 24);
  for (int round = 0; round < 5; round++) {
    uint32_t sink = 0;
    auto t0 = std::chrono::steady_clock::now();
    // A page's checksum covers [4, 4096): everything after the checksum field.
    for (size_t i = 0; i < kPages; i++) sink ^= ved::crc32c(pages.data() + i * kPageBytes + 4, kPageBytes - 4);
    auto t1 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < kPages; i++) sink ^= ved::crc32c_extend_portable(0, pages.data() + i * kPageBytes + 4, kPageBytes - 4);
    auto t2 = std::chrono::steady_clock::now();
    std::printf("crc32c %.0f ns/page, table %.0f ns/page (%08x)\n",
                std::chrono::duration<double, std::nano>(t1 - t0).count() / kPages,
                std::chrono::duration<double, std::nano>(t2 - t1).count() / kPages, sink);
  }
}
