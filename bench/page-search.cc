// One leaf search (page::leaf_lower_bound) with and without page::prefetch first, over a set
// of full 4 KiB leaves that fits in cache and one that does not: the figures behind "Cold
// pages" in BENCHMARKS.md (why tree_get prefetches below the root, and nothing else does).
// Not part of the addon or the tests:
//
//   g++ -O2 -std=c++17 -Inative -o /tmp/page-search bench/page-search.cc native/page.cc && /tmp/page-search
//
// Each line: pages in the set, ns per search without / with the prefetch (best of 3 runs).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "page.h"

using namespace ved;

namespace {

constexpr int kSearches = 2'000'000;
constexpr int kKeys = 4096;

// Fills a leaf with `key%08d` keys (every 7th number) and 16-byte values; returns its cell count.
int fill_leaf(uint8_t* leaf) {
  page::init(leaf, kLeaf);
  int n = 0;
  for (;;) {
    char key[16];
    int key_length = std::snprintf(key, sizeof key, "key%08d", n * 7);
    uint8_t cell[64];
    page::store16(cell, static_cast<uint16_t>(key_length));
    cell[2] = 0;
    cell[3] = 0;
    page::store32(cell + 4, 16);
    std::memcpy(cell + page::kLeafCellHeaderBytes, key, key_length);
    std::memset(cell + page::kLeafCellHeaderBytes + key_length, 1, 16);
    uint32_t size = page::kLeafCellHeaderBytes + key_length + 16;
    if (page::free_bytes(leaf) < size + 2) return n;
    page::insert_cell(leaf, n, cell, size);
    n++;
  }
}

double ns_per_search(const std::vector<uint8_t*>& pages, const std::vector<std::vector<uint8_t>>& keys, bool prefetch) {
  double best = 1e18;
  uint32_t sink = 0;
  for (int run = 0; run < 3; run++) {
    uint32_t x = 12345;
    auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < kSearches; i++) {
      x = x * 1103515245u + 12345u;
      const uint8_t* p = pages[(x >> 8) % pages.size()];
      const std::vector<uint8_t>& key = keys[i % kKeys];
      if (prefetch) page::prefetch(p);
      bool found;
      sink += page::leaf_lower_bound(p, key.data(), static_cast<uint32_t>(key.size()), &found);
    }
    double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - started).count() / kSearches;
    if (ns < best) best = ns;
  }
  if (sink == 0xffffffffu) std::puts("");  // keeps the searches from being optimized away
  return best;
}

}  // namespace

int main() {
  std::vector<std::vector<uint8_t>> keys;
  int cells = 0;
  for (int pages : {1, 64, 65536}) {
    // new[] like the engine's frames: pages need not start on a cache line.
    std::vector<uint8_t*> set;
    for (int i = 0; i < pages; i++) {
      uint8_t* leaf = new uint8_t[kPageSizeBytes];
      cells = fill_leaf(leaf);
      set.push_back(leaf);
    }
    if (keys.empty()) {
      std::srand(7);
      for (int i = 0; i < kKeys; i++) {
        char key[16];
        int key_length = std::snprintf(key, sizeof key, "key%08d", (std::rand() % cells) * 7);
        keys.emplace_back(key, key + key_length);
      }
    }
    double without = ns_per_search(set, keys, false);
    double with = ns_per_search(set, keys, true);
    std::printf("%6d pages (%d cells each): %6.1f ns without prefetch, %6.1f ns with\n", pages, cells, without, with);
    for (uint8_t* leaf : set) delete[] leaf;
  }
  return 0;
}
