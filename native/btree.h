// The persistent copy-on-write B+tree. Readers walk published pages (mapped or in a sealed
// frame) and never see a change. A TreeWriter copies each page on the path it changes into
// a dirty page it owns (once per transaction) and finally lays all reachable dirty pages and
// blobs out as a frame body, children before parents, patching child offsets as it goes.
//
// Invariants:
// - a published page is never modified; only TreeWriter's dirty copies are;
// - a dirty page's parent is dirty, so a clean subtree holds no dirty page;
// - depth <= kTreeDepthMax; every branch has >= 1 cell; empty leaves are removed, and a
//   root branch with one child is replaced by that child (no other rebalancing: pages may
//   be underfull after deletes, which costs space, never correctness).
// Addresses: a log offset, or kDirtyBit | index for a dirty page, kDirtyBit | kBlobBit | index
// for a dirty blob. kNoPage is an empty tree.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "format.h"
#include "status.h"

namespace ved {

constexpr uint64_t kDirtyBit = 1ull << 63;
constexpr uint64_t kBlobBit = 1ull << 62;

class PageSource {
 public:
  virtual ~PageSource() = default;
  // A verified tree page (kind, own offset, checksum on first touch) at `offset`.
  virtual Status fetch(uint64_t offset, const uint8_t** out) = 0;
  // Copies a blob's value into dst (length bytes), verifying its checksum.
  virtual Status read_blob(uint64_t offset, uint32_t length, uint8_t* dst) = 0;
  // Whether a commit may move the blob at `offset` without copying it here: it is written, lies
  // inside one mapped segment (where the flusher copies it from: BlobMove), and its header and
  // checksum check out (ECORRUPT if not; `checked`: the cleaner checked them).
  virtual Status check_movable_blob(uint64_t offset, uint32_t length, bool checked, bool* movable) = 0;
};

struct ValueRef {
  bool found = false;
  bool blob = false;
  const uint8_t* data = nullptr;  // inline value, valid until the next call into the store
  uint32_t length = 0;
  uint64_t blob_offset = 0;
};

Status tree_get(PageSource& src, uint64_t root, const uint8_t* key, uint32_t key_length, ValueRef* out);

// A position in a tree. Pointers into pages stay valid for one call into the store.
class Cursor {
 public:
  Cursor(PageSource& src, uint64_t root) : src_(src), root_(root) {}
  Status seek_ge(const uint8_t* key, uint32_t key_length);  // first key >= key
  Status seek_first();
  Status seek_last();
  Status seek_lt(const uint8_t* key, uint32_t key_length);  // last key < key
  Status next();
  Status prev();
  bool valid() const { return valid_; }
  const uint8_t* cell() const;  // the current leaf cell

 private:
  struct Level {
    const uint8_t* page;
    int32_t index;
  };
  Status descend(uint64_t offset, bool to_last);
  PageSource& src_;
  uint64_t root_;
  Level stack_[kTreeDepthMax];
  uint32_t depth_ = 0;
  bool valid_ = false;
};

struct TreeRoot {
  uint64_t root = kNoPage;
  uint64_t entry_count = 0;
};

// Memory for a transaction's dirty pages and blob values, kept from one transaction to the
// next: fresh memory page-faults on first touch, and a fault costs microseconds on a VM. A
// 1000-key commit copies about 1300 pages (a quarter of the seal's page faults were here, in
// `writable`, the frame's most of the rest: `perf record -e page-faults -g node
// bench/batched-cpu.js`). Blob values were copied into a fresh std::vector each, which
// faulted when commits pipeline (docs/design.md, "Commits reuse their memory").
// One transaction at a time uses it.
class PageArena {
 public:
  // Starts a transaction: every page and blob byte handed out before is free again. Keeps at
  // most kKeepChunks chunks and kKeepBlobBytes of blob space (bounded memory while idle).
  void reset();
  uint8_t* take();  // one page, uninitialised
  // Copies a blob value in; returns where it lies (stable for the transaction, unlike the
  // address: the space may move as it grows).
  uint64_t keep_blob(const uint8_t* value, uint32_t length);
  const uint8_t* blob_at(uint64_t at) const { return blob_bytes_.get() + at; }

 private:
  static constexpr size_t kChunkPages = 64;
  static constexpr size_t kKeepChunks = 64;  // 16 MiB
  static constexpr uint64_t kKeepBlobBytes = 16ull << 20;
  static constexpr uint64_t kBlobBytesMin = 64ull << 10;
  std::vector<std::unique_ptr<uint8_t[]>> chunks_;
  size_t chunk_ = 0;  // the chunk pages come from
  size_t used_ = 0;   // pages taken from chunks_[chunk_]
  std::unique_ptr<uint8_t[]> blob_bytes_;
  uint64_t blob_capacity_bytes_ = 0;
  uint64_t blob_used_bytes_ = 0;  // <= blob_capacity_bytes_
};

class TreeWriter {
 public:
  // `arena` holds this writer's dirty pages: it must outlive the writer and serve no other.
  TreeWriter(PageSource& src, PageArena& arena) : src_(src), arena_(arena) { arena_.reset(); }
  Status put(TreeRoot* tree, const uint8_t* key, uint32_t key_length, const uint8_t* value,
             uint32_t value_length);
  Status del(TreeRoot* tree, const uint8_t* key, uint32_t key_length);
  // Rewrites `key`'s path and blob unchanged (segment cleaning); no-op when the key is gone.
  // `copied_bytes`: the blob bytes it moved or copied. A movable blob is not copied here: the
  // flusher does it (take_moves()). A damaged blob is left where it is.
  // `checked_blob`: a blob offset whose checksum the cleaner checked (kNoPage: none).
  Status rewrite(TreeRoot* tree, const uint8_t* key, uint32_t key_length, uint64_t checked_blob, uint64_t* copied_bytes);

  // Pages and blobs reachable from `roots` that this writer made: the body's size.
  uint64_t body_size_bytes(const TreeRoot* roots, uint32_t tree_count);
  // Every page and blob this writer made: at least the body's size, and equal to it unless a
  // delete left a dirty page unreachable. Known without walking the trees.
  uint64_t made_bytes() const { return made_bytes_; }
  // Lays the body out at `body_offset` in `body` (at least made_bytes long), rewriting roots
  // to their final offsets; returns the body's size. Page headers get offset and seq; the
  // checksums are the flusher's to fill in.
  uint64_t lay_out(TreeRoot* roots, uint32_t tree_count, uint64_t body_offset, uint64_t seq, uint8_t* body);
  // Bytes of published pages and blobs this transaction replaced (now dead).
  uint64_t superseded_bytes() const { return superseded_bytes_; }
  // Pages this transaction copied or made so far.
  size_t dirty_pages() const { return dirty_.size(); }
  // The blobs lay_out placed without their value bytes, for the frame to carry to the flusher.
  std::vector<BlobMove> take_moves() { return std::move(moves_); }

 private:
  struct Split {
    bool happened = false;
    std::vector<uint8_t> separator;
    uint64_t right = kNoPage;
  };
  struct DirtyBlob {
    uint64_t at = 0;  // in arena_ (keep_blob), unless moved
    uint32_t length = 0;
    uint64_t final_offset = kNoPage;
    uint64_t moved_from = kNoPage;  // a published blob moved unread: the flusher copies its bytes
  };
  Status page(uint64_t addr, const uint8_t** out);
  Status writable(uint64_t* addr, uint8_t** out);
  uint64_t take_page(uint8_t** out);  // a dirty page of unset bytes, for a full copy
  uint64_t new_page(uint8_t kind, uint8_t** out);
  void drop_value(const uint8_t* leaf_cell);
  Status rewrite_path(uint64_t* addr, uint32_t depth, const uint8_t* key, uint32_t key_length, uint64_t moved_from,
                      uint32_t length);
  Status put_rec(uint64_t* addr, uint32_t depth, const uint8_t* key, uint32_t key_length,
                 const std::vector<uint8_t>& cell, Split* split, bool* inserted);
  Status del_rec(uint64_t* addr, uint32_t depth, const uint8_t* key, uint32_t key_length,
                 bool* found, bool* now_empty);
  void insert_or_split(uint8_t* p, uint32_t index, const uint8_t* cell, uint32_t size, Split* split);
  template <typename Fn>
  void each_dirty_child(uint8_t* p, Fn fn);
  uint64_t count_rec(uint64_t addr);
  uint64_t lay_out_rec(uint64_t addr, uint64_t seq, uint8_t* body, uint64_t body_offset, uint64_t* next);

  PageSource& src_;
  PageArena& arena_;  // owns every dirty page and dirty blob's bytes
  std::vector<uint8_t*> dirty_;                    // dirty page index -> its bytes
  std::vector<uint8_t> cell_scratch_;
  std::vector<uint8_t> rewrite_scratch_;
  std::vector<uint64_t> final_offsets_;
  std::vector<DirtyBlob> blobs_;
  std::vector<BlobMove> moves_;
  uint64_t superseded_bytes_ = 0;
  uint64_t made_bytes_ = 0;
};

inline uint64_t blob_size_bytes(uint64_t value_length) {
  uint64_t raw = kPageHeaderSizeBytes + value_length;
  return (raw + kPageSizeBytes - 1) / kPageSizeBytes * kPageSizeBytes;
}

}  // namespace ved
