#include "page.h"

#include <algorithm>
#include <vector>

namespace ved {
namespace page {

uint32_t leaf_lower_bound(const uint8_t* p, const uint8_t* k, uint32_t k_length, bool* found) {
  uint32_t lo = 0, hi = count(p);
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    const uint8_t* c = cell(p, mid);
    int r = compare(leaf_key(c), leaf_key_length(c), k, k_length);
    if (r < 0) {
      lo = mid + 1;
    } else if (r > 0) {
      hi = mid;
    } else {
      *found = true;
      return mid;
    }
  }
  *found = false;
  return lo;
}

uint32_t branch_find(const uint8_t* p, const uint8_t* k, uint32_t k_length) {
  uint32_t n = count(p);
  VED_ASSERT(n >= 1);
  // Find the first cell in [1, n) whose key > k; the answer is the cell before it.
  uint32_t lo = 1, hi = n;
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    const uint8_t* c = cell(p, mid);
    if (compare(branch_key(c), branch_key_length(c), k, k_length) <= 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo - 1;
}

void init(uint8_t* p, uint8_t page_kind) {
  std::memset(p, 0, kPageHeaderSizeBytes);
  p[4] = page_kind;
  set_count(p, 0);
  set_upper(p, static_cast<uint16_t>(kPageSizeBytes));
}

void insert_cell(uint8_t* p, uint32_t index, const uint8_t* cell_image, uint32_t size) {
  uint32_t n = count(p);
  VED_ASSERT(index <= n);
  VED_ASSERT(free_bytes(p) >= size + 2);
  uint16_t at = static_cast<uint16_t>(upper(p) - size);
  std::memcpy(p + at, cell_image, size);
  uint8_t* slots = p + kPageHeaderSizeBytes;
  std::memmove(slots + 2 * (index + 1), slots + 2 * index, 2 * (n - index));
  store16(slots + 2 * index, at);
  set_count(p, static_cast<uint16_t>(n + 1));
  set_upper(p, at);
}

void remove_cell(uint8_t* p, uint32_t index) {
  uint32_t n = count(p);
  VED_ASSERT(index < n);
  uint8_t* slots = p + kPageHeaderSizeBytes;
  std::memmove(slots + 2 * index, slots + 2 * (index + 1), 2 * (n - index - 1));
  set_count(p, static_cast<uint16_t>(n - 1));
  if (n == 1) set_upper(p, static_cast<uint16_t>(kPageSizeBytes));
}

uint32_t used_bytes(const uint8_t* p) {
  uint32_t n = count(p);
  uint32_t total = 2 * n;
  for (uint32_t i = 0; i < n; i++) total += cell_size(p, cell(p, i));
  return total;
}

static void compact(uint8_t* p) {
  uint8_t copy[kPageSizeBytes];
  std::memcpy(copy, p, kPageSizeBytes);
  uint32_t n = count(copy);
  uint32_t at = kPageSizeBytes;
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t* c = cell(copy, i);
    uint32_t size = cell_size(copy, c);
    at -= size;
    std::memcpy(p + at, c, size);
    store16(p + kPageHeaderSizeBytes + 2 * i, static_cast<uint16_t>(at));
  }
  set_upper(p, static_cast<uint16_t>(at));
}

bool make_room(uint8_t* p, uint32_t size) {
  if (free_bytes(p) >= size + 2) return true;
  uint32_t capacity = kPageSizeBytes - kPageHeaderSizeBytes;
  if (used_bytes(p) + size + 2 > capacity) return false;
  compact(p);
  VED_ASSERT(free_bytes(p) >= size + 2);
  return true;
}

// A page reference read from disk: page-aligned, and never one of the in-memory tags.
static bool plausible_offset(uint64_t offset) {
  return offset != kNoPage && (offset >> 62) == 0 && offset % kPageSizeBytes == 0;
}

bool plausible_root(uint64_t offset) { return offset == kNoPage || plausible_offset(offset); }

bool well_formed(const uint8_t* p) {
  uint8_t k = kind(p);
  if (k != kLeaf && k != kBranch) return false;
  uint64_t n = count(p);
  uint64_t u = upper(p);
  if (u > kPageSizeBytes || kPageHeaderSizeBytes + 2 * n > u) return false;
  if (k == kBranch && n == 0) return false;
  // Cells must lie in [upper, end), not overlap, and keys must strictly increase: the
  // writer's split arithmetic and every search rely on it. All sums in 64 bits.
  uint16_t starts[(kPageSizeBytes - kPageHeaderSizeBytes) / 2];
  uint64_t total = 2 * n;
  const uint8_t* prev_key = nullptr;
  uint64_t prev_key_length = 0;
  for (uint64_t i = 0; i < n; i++) {
    uint64_t s = slot(p, static_cast<uint32_t>(i));
    uint64_t header_bytes = k == kLeaf ? kLeafCellHeaderBytes : kBranchCellHeaderBytes;
    if (s < u || s + header_bytes > kPageSizeBytes) return false;
    const uint8_t* c = p + s;
    uint64_t size;
    const uint8_t* key;
    uint64_t key_length;
    if (k == kLeaf) {
      key_length = leaf_key_length(c);
      key = leaf_key(c);
      uint64_t value_length = leaf_value_length(c);
      if (key_length > kKeySizeBytesMax) return false;
      if (leaf_flags(c) & kCellBlob) {
        if (value_length > kValueSizeBytesMax) return false;
        size = kLeafCellHeaderBytes + key_length + 8;
        if (s + size > kPageSizeBytes || !plausible_offset(leaf_blob(c))) return false;
      } else {
        if (key_length + value_length > kInlineCellBytesMax) return false;
        size = kLeafCellHeaderBytes + key_length + value_length;
      }
    } else {
      key_length = branch_key_length(c);
      key = branch_key(c);
      if (key_length > kKeySizeBytesMax) return false;
      size = kBranchCellHeaderBytes + key_length;
      if (s + size > kPageSizeBytes || !plausible_offset(branch_child(c))) return false;
    }
    if (s + size > kPageSizeBytes) return false;
    total += size;
    starts[i] = static_cast<uint16_t>(s);
    bool compared = k == kLeaf ? i > 0 : i > 1;  // a branch's first key stands for -inf
    if (compared && compare(prev_key, static_cast<uint32_t>(prev_key_length), key, static_cast<uint32_t>(key_length)) >= 0) {
      return false;
    }
    prev_key = key;
    prev_key_length = key_length;
  }
  if (total > kPageSizeBytes - kPageHeaderSizeBytes) return false;
  // No two cells overlap: sorted by start, each ends before the next begins.
  std::sort(starts, starts + n);
  for (uint64_t i = 0; i + 1 < n; i++) {
    const uint8_t* c = p + starts[i];
    if (starts[i] + static_cast<uint64_t>(cell_size(p, c)) > starts[i + 1]) return false;
  }
  return true;
}

}  // namespace page
}  // namespace ved
