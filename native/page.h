// A tree page: a 4 KiB slotted page, like LMDB's. Layout:
//
//   [PageHeader 32 B][slot 0][slot 1]...[slot n-1] -> free <- [cell ...][cell][cell] end
//
// Slots are u16 offsets of cells, in key order. Cells are written downwards from the end;
// `upper` is the lowest cell offset. Deleting a cell leaves a hole that `compact` reclaims.
//   leaf cell:   u16 key_length | u8 flags | u8 0 | u32 value_length | key | value or u64 blob offset
//   branch cell: u64 child | u16 key_length | key        (cell 0's key is empty and means -inf)
//
// Invariants: 32 + 2 * count <= upper <= page size; keys strictly increase across slots; a
// published page (one with a log offset, read from the map or a sealed frame) is never
// modified: only a transaction's own dirty copies are.
#pragma once
#include <cstdint>
#include <cstring>

#include "assert.h"
#include "format.h"

namespace ved {
namespace page {

constexpr uint8_t kCellBlob = 1;  // leaf cell flag: the value lives in a blob
constexpr uint32_t kLeafCellHeaderBytes = 8;
constexpr uint32_t kBranchCellHeaderBytes = 10;

inline uint16_t load16(const uint8_t* p) { uint16_t v; std::memcpy(&v, p, 2); return v; }
inline uint32_t load32(const uint8_t* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
inline uint64_t load64(const uint8_t* p) { uint64_t v; std::memcpy(&v, p, 8); return v; }
inline void store16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline void store32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void store64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }

inline const PageHeader* header(const uint8_t* p) { return reinterpret_cast<const PageHeader*>(p); }
// Whether the header at p is the blob a leaf cell names: its kind, own offset and length.
inline bool blob_header_matches(const uint8_t* p, uint64_t offset, uint32_t length) {
  const PageHeader* h = header(p);
  return h->kind == kBlob && h->log_offset == offset && h->blob_length_bytes == length;
}
inline PageHeader* header(uint8_t* p) { return reinterpret_cast<PageHeader*>(p); }
inline uint8_t kind(const uint8_t* p) { return p[4]; }
inline uint16_t count(const uint8_t* p) { return load16(p + 6); }
inline uint16_t upper(const uint8_t* p) { return load16(p + 24); }
inline void set_count(uint8_t* p, uint16_t n) { store16(p + 6, n); }
inline void set_upper(uint8_t* p, uint16_t u) { store16(p + 24, u); }
inline uint16_t slot(const uint8_t* p, uint32_t i) { return load16(p + kPageHeaderSizeBytes + 2 * i); }
inline const uint8_t* cell(const uint8_t* p, uint32_t i) { return p + slot(p, i); }

inline uint32_t free_bytes(const uint8_t* p) {
  return upper(p) - (kPageHeaderSizeBytes + 2u * count(p));
}

// Leaf cells.
inline uint16_t leaf_key_length(const uint8_t* c) { return load16(c); }
inline const uint8_t* leaf_key(const uint8_t* c) { return c + kLeafCellHeaderBytes; }
inline uint8_t leaf_flags(const uint8_t* c) { return c[2]; }
inline uint32_t leaf_value_length(const uint8_t* c) { return load32(c + 4); }
inline const uint8_t* leaf_value(const uint8_t* c) { return c + kLeafCellHeaderBytes + leaf_key_length(c); }
inline uint64_t leaf_blob(const uint8_t* c) { return load64(leaf_value(c)); }
inline uint32_t leaf_cell_size(const uint8_t* c) {
  uint32_t body = (leaf_flags(c) & kCellBlob) ? 8 : leaf_value_length(c);
  return kLeafCellHeaderBytes + leaf_key_length(c) + body;
}

// Branch cells.
inline uint64_t branch_child(const uint8_t* c) { return load64(c); }
inline uint16_t branch_key_length(const uint8_t* c) { return load16(c + 8); }
inline const uint8_t* branch_key(const uint8_t* c) { return c + kBranchCellHeaderBytes; }
inline uint32_t branch_cell_size(const uint8_t* c) { return kBranchCellHeaderBytes + branch_key_length(c); }

inline uint32_t cell_size(const uint8_t* p, const uint8_t* c) {
  return kind(p) == kLeaf ? leaf_cell_size(c) : branch_cell_size(c);
}

inline int compare(const uint8_t* a, uint32_t a_length, const uint8_t* b, uint32_t b_length) {
  uint32_t n = a_length < b_length ? a_length : b_length;
  int r = n == 0 ? 0 : std::memcmp(a, b, n);
  if (r != 0) return r;
  return a_length < b_length ? -1 : (a_length > b_length ? 1 : 0);
}

// Asks for every cache line of the page at p. A binary search over a cold page (a random key
// in a large store) takes one dependent miss per probe; with the lines requested up front the
// misses overlap. Only for pages that are likely cold: on a page in cache the 65 prefetches
// cost about as much as the search (so not for the root, nor a writer's fresh copy). p need
// not be line-aligned (frames come from new[]): the loop walks the lines p..p+4095 touches.
inline void prefetch(const uint8_t* p) {
  const uintptr_t first = reinterpret_cast<uintptr_t>(p) & ~uintptr_t{63};
  const uintptr_t last = reinterpret_cast<uintptr_t>(p) + kPageSizeBytes - 1;
  for (uintptr_t line = first; line <= last; line += 64) __builtin_prefetch(reinterpret_cast<const void*>(line));
}

// Index of the first leaf cell with key >= k; *found when equal.
uint32_t leaf_lower_bound(const uint8_t* p, const uint8_t* k, uint32_t k_length, bool* found);
// Index of the child to descend into for k: the last cell whose key <= k (cell 0 is -inf).
uint32_t branch_find(const uint8_t* p, const uint8_t* k, uint32_t k_length);

void init(uint8_t* p, uint8_t page_kind);
// Inserts a cell image of `size` bytes at slot `index`. Requires room (see fits).
void insert_cell(uint8_t* p, uint32_t index, const uint8_t* cell_image, uint32_t size);
void remove_cell(uint8_t* p, uint32_t index);
// True when a cell of `size` bytes fits, compacting holes away first if that makes it fit.
bool make_room(uint8_t* p, uint32_t size);
// Bytes the cells and slots use (without holes).
uint32_t used_bytes(const uint8_t* p);
// Structural check of a page read from disk, once per page: every slot and cell in bounds,
// no overlap, sizes within the limits, keys increasing, child and blob offsets plausible.
// A page that passes cannot make the writer's split arithmetic or any search misbehave.
bool well_formed(const uint8_t* p);
// A tree root from a commit record: empty, or a page-aligned log offset.
bool plausible_root(uint64_t offset);

}  // namespace page
}  // namespace ved
