#include "btree.h"

#include <algorithm>
#include <cstring>

#include "assert.h"
#include "page.h"

namespace ved {

using namespace page;

static Status too_deep() {
  return Status::Error(Code::ECORRUPT, "tree deeper than the maximum depth");
}

Status tree_get(PageSource& src, uint64_t root, const uint8_t* key, uint32_t key_length, ValueRef* out) {
  *out = ValueRef{};
  uint64_t offset = root;
  for (uint32_t depth = 0; offset != kNoPage; depth++) {
    if (depth >= kTreeDepthMax) return too_deep();
    const uint8_t* p;
    VED_TRY(src.fetch(offset, &p));
    if (depth > 0) page::prefetch(p);  // below the root, a random key's pages are often cold
    if (kind(p) == kBranch) {
      offset = branch_child(page::cell(p, branch_find(p, key, key_length)));
      continue;
    }
    bool found;
    uint32_t i = leaf_lower_bound(p, key, key_length, &found);
    if (!found) return Status::Ok();
    const uint8_t* c = page::cell(p, i);
    out->found = true;
    out->length = leaf_value_length(c);
    if (leaf_flags(c) & kCellBlob) {
      out->blob = true;
      out->blob_offset = leaf_blob(c);
    } else {
      out->data = leaf_value(c);
    }
    return Status::Ok();
  }
  return Status::Ok();
}

// ---- Cursor ----------------------------------------------------------------------------

const uint8_t* Cursor::cell() const {
  VED_ASSERT(valid_);
  const Level& leaf = stack_[depth_ - 1];
  return page::cell(leaf.page, static_cast<uint32_t>(leaf.index));
}

// Pushes the leftmost (or rightmost) path below `offset`.
Status Cursor::descend(uint64_t offset, bool to_last) {
  while (true) {
    if (depth_ >= kTreeDepthMax) return too_deep();
    const uint8_t* p;
    VED_TRY(src_.fetch(offset, &p));
    int32_t n = count(p);
    int32_t index = to_last ? n - 1 : 0;
    stack_[depth_++] = Level{p, index};
    if (kind(p) == kLeaf) {
      valid_ = n > 0;
      return Status::Ok();
    }
    offset = branch_child(page::cell(p, static_cast<uint32_t>(index)));
  }
}

Status Cursor::seek_first() {
  depth_ = 0;
  valid_ = false;
  if (root_ == kNoPage) return Status::Ok();
  VED_TRY(descend(root_, false));
  if (valid_) return Status::Ok();
  return next();
}

Status Cursor::seek_last() {
  depth_ = 0;
  valid_ = false;
  if (root_ == kNoPage) return Status::Ok();
  VED_TRY(descend(root_, true));
  if (valid_) return Status::Ok();
  return prev();
}

Status Cursor::seek_ge(const uint8_t* key, uint32_t key_length) {
  depth_ = 0;
  valid_ = false;
  uint64_t offset = root_;
  while (offset != kNoPage) {
    if (depth_ >= kTreeDepthMax) return too_deep();
    const uint8_t* p;
    VED_TRY(src_.fetch(offset, &p));
    if (kind(p) == kBranch) {
      uint32_t i = branch_find(p, key, key_length);
      stack_[depth_++] = Level{p, static_cast<int32_t>(i)};
      offset = branch_child(page::cell(p, i));
      continue;
    }
    bool found;
    uint32_t i = leaf_lower_bound(p, key, key_length, &found);
    stack_[depth_++] = Level{p, static_cast<int32_t>(i)};
    if (i < count(p)) {
      valid_ = true;
      return Status::Ok();
    }
    // Past this leaf's end: the answer is the first key of the next leaf.
    stack_[depth_ - 1].index = static_cast<int32_t>(count(p)) - 1;
    valid_ = true;
    return next();
  }
  return Status::Ok();
}

Status Cursor::seek_lt(const uint8_t* key, uint32_t key_length) {
  VED_TRY(seek_ge(key, key_length));
  if (valid_) return prev();
  return seek_last();
}

Status Cursor::next() {
  // Climb to the lowest level that has a right sibling, step, then take its leftmost path.
  while (depth_ > 0) {
    Level& top = stack_[depth_ - 1];
    if (top.index + 1 < static_cast<int32_t>(count(top.page))) {
      top.index++;
      if (kind(top.page) == kLeaf) {
        valid_ = true;
        return Status::Ok();
      }
      uint64_t child = branch_child(page::cell(top.page, static_cast<uint32_t>(top.index)));
      VED_TRY(descend(child, false));
      if (valid_) return Status::Ok();
      continue;
    }
    depth_--;
  }
  valid_ = false;
  return Status::Ok();
}

Status Cursor::prev() {
  while (depth_ > 0) {
    Level& top = stack_[depth_ - 1];
    if (top.index - 1 >= 0) {
      top.index--;
      if (kind(top.page) == kLeaf) {
        valid_ = true;
        return Status::Ok();
      }
      uint64_t child = branch_child(page::cell(top.page, static_cast<uint32_t>(top.index)));
      VED_TRY(descend(child, true));
      if (valid_) return Status::Ok();
      continue;
    }
    depth_--;
  }
  valid_ = false;
  return Status::Ok();
}

// ---- TreeWriter ------------------------------------------------------------------------

static bool is_dirty(uint64_t addr) { return addr != kNoPage && (addr & kDirtyBit); }
static bool is_dirty_blob(uint64_t addr) { return is_dirty(addr) && (addr & kBlobBit); }
static uint64_t dirty_index(uint64_t addr) { return addr & ~(kDirtyBit | kBlobBit); }

Status TreeWriter::page(uint64_t addr, const uint8_t** out) {
  if (addr == kNoPage) return Status::Error(Code::ECORRUPT, "a tree references no page");
  if (is_dirty(addr)) {
    VED_ASSERT(!is_dirty_blob(addr));
    *out = dirty_[dirty_index(addr)];
    return Status::Ok();
  }
  return src_.fetch(addr, out);
}

void PageArena::reset() {
  if (chunks_.size() > kKeepChunks) chunks_.resize(kKeepChunks);
  chunk_ = 0;
  used_ = 0;
  if (blob_capacity_bytes_ > kKeepBlobBytes) {
    blob_bytes_.reset();
    blob_capacity_bytes_ = 0;
  }
  blob_used_bytes_ = 0;
}

uint64_t PageArena::keep_blob(const uint8_t* value, uint32_t length) {
  VED_ASSERT(blob_used_bytes_ <= blob_capacity_bytes_);
  if (blob_capacity_bytes_ - blob_used_bytes_ < length) {
    // Bounded by the transaction: its ops (kTxnSizeBytesMax) plus the cleaner's relocations.
    uint64_t capacity = std::max({blob_capacity_bytes_ * 2, blob_used_bytes_ + length, kBlobBytesMin});
    std::unique_ptr<uint8_t[]> grown(new uint8_t[capacity]);
    if (blob_used_bytes_ > 0) std::memcpy(grown.get(), blob_bytes_.get(), blob_used_bytes_);
    blob_bytes_ = std::move(grown);
    blob_capacity_bytes_ = capacity;
  }
  uint64_t at = blob_used_bytes_;
  if (length > 0) std::memcpy(blob_bytes_.get() + at, value, length);
  blob_used_bytes_ += length;
  return at;
}

uint8_t* PageArena::take() {
  if (chunk_ < chunks_.size() && used_ == kChunkPages) {
    chunk_++;
    used_ = 0;
  }
  if (chunk_ == chunks_.size()) chunks_.emplace_back(new uint8_t[kChunkPages * kPageSizeBytes]);
  VED_ASSERT(chunk_ < chunks_.size() && used_ < kChunkPages);
  return chunks_[chunk_].get() + used_++ * kPageSizeBytes;
}

uint64_t TreeWriter::take_page(uint8_t** out) {
  uint8_t* p = arena_.take();
  *out = p;
  dirty_.push_back(p);
  made_bytes_ += kPageSizeBytes;
  final_offsets_.push_back(kNoPage);
  return kDirtyBit | (dirty_.size() - 1);
}

uint64_t TreeWriter::new_page(uint8_t page_kind, uint8_t** out) {
  uint64_t id = take_page(out);
  // Zeroed whole, free space too, which goes to disk as it is: arena memory held other pages
  // before, of this store or (freed and handed out again by the heap) of another one.
  std::memset(*out, 0, kPageSizeBytes);
  init(*out, page_kind);
  return id;
}

Status TreeWriter::writable(uint64_t* addr, uint8_t** out) {
  if (is_dirty(*addr)) {
    *out = dirty_[dirty_index(*addr)];
    return Status::Ok();
  }
  const uint8_t* published;
  VED_TRY(src_.fetch(*addr, &published));
  uint8_t* copy;
  uint64_t id = take_page(&copy);
  // Not the checksum word: in a frame the flusher has not written yet, it is the flusher's
  // to fill in (checksum_frame) while this thread reads the rest of the page.
  std::memset(copy, 0, sizeof(uint32_t));
  std::memcpy(copy + sizeof(uint32_t), published + sizeof(uint32_t), kPageSizeBytes - sizeof(uint32_t));
  superseded_bytes_ += kPageSizeBytes;
  *addr = id;
  *out = copy;
  return Status::Ok();
}

// The value of a replaced or deleted leaf cell is gone: a published blob becomes dead bytes,
// a dirty blob is simply never written.
void TreeWriter::drop_value(const uint8_t* c) {
  if (!(leaf_flags(c) & kCellBlob)) return;
  uint64_t blob = leaf_blob(c);
  // A dirty blob's bytes stay in the arena until the transaction ends.
  if (!is_dirty_blob(blob)) superseded_bytes_ += blob_size_bytes(leaf_value_length(c));
}

// The cleaner's relocation: copies the path to `key` (and its blob) into this transaction so
// the commit writes them again at the log's head, value unchanged. A key that is gone, or
// whose path and blob this transaction already copied, needs nothing.
Status TreeWriter::rewrite(TreeRoot* tree, const uint8_t* key, uint32_t key_length, uint64_t checked_blob,
                           uint64_t* copied_bytes) {
  *copied_bytes = 0;
  uint64_t addr = tree->root;
  for (uint32_t depth = 0; addr != kNoPage; depth++) {
    if (depth >= kTreeDepthMax) return too_deep();
    const uint8_t* p;
    VED_TRY(page(addr, &p));
    if (kind(p) == kBranch) {
      addr = branch_child(page::cell(p, branch_find(p, key, key_length)));
      continue;
    }
    bool found;
    uint32_t i = leaf_lower_bound(p, key, key_length, &found);
    if (!found) return Status::Ok();
    const uint8_t* c = page::cell(p, i);
    bool blob = leaf_flags(c) & kCellBlob;
    if (is_dirty(addr) && (!blob || is_dirty_blob(leaf_blob(c)))) return Status::Ok();
    uint32_t length = leaf_value_length(c);
    // The path alone: an inline value moves with its leaf. (A dirty blob hangs only from a
    // dirty leaf, so from here on a blob is a published one.)
    if (!blob) return rewrite_path(&tree->root, 0, key, key_length, kNoPage, length);
    uint64_t from = leaf_blob(c);
    bool movable = false;
    Status s = src_.check_movable_blob(from, length, from == checked_blob, &movable);
    if (s.ok() && !movable) {
      // In a frame not written yet, or across segments: copied here, through a put.
      std::vector<uint8_t>& value = rewrite_scratch_;
      value.resize(length);
      s = src_.read_blob(from, length, value.data());
      if (s.ok()) {
        *copied_bytes = length;
        return put(tree, key, key_length, value.data(), length);
      }
    }
    // A damaged blob is left where it is: moving it would give its damage a valid checksum,
    // and failing the commit would fail every commit after it too (the touch stays queued).
    // Its path still moves: the touch may stand for a page of that path in a victim, which
    // would otherwise stay, and be touched again by every pass. Reads of the key say
    // ECORRUPT, as before; verify() names the blob.
    if (s.code == Code::ECORRUPT) return rewrite_path(&tree->root, 0, key, key_length, kNoPage, length);
    VED_TRY(s);
    *copied_bytes = length;
    return rewrite_path(&tree->root, 0, key, key_length, from, length);
  }
  return Status::Ok();
}

// Copies the path to `key` into this transaction (pages it copied already stay as they are)
// and, for a blob moved unread, points the key's cell at the move, in place: the cell keeps
// its size. rewrite() found the key on this path just before.
Status TreeWriter::rewrite_path(uint64_t* addr, uint32_t depth, const uint8_t* key, uint32_t key_length,
                                uint64_t moved_from, uint32_t length) {
  if (depth >= kTreeDepthMax) return too_deep();
  uint8_t* p;
  VED_TRY(writable(addr, &p));
  if (kind(p) == kBranch) {
    uint8_t* c = const_cast<uint8_t*>(page::cell(p, branch_find(p, key, key_length)));
    uint64_t child = branch_child(c);
    VED_TRY(rewrite_path(&child, depth + 1, key, key_length, moved_from, length));
    store64(c, child);
    return Status::Ok();
  }
  if (moved_from == kNoPage) return Status::Ok();
  bool found;
  uint8_t* c = const_cast<uint8_t*>(page::cell(p, leaf_lower_bound(p, key, key_length, &found)));
  VED_ASSERT(found && (leaf_flags(c) & kCellBlob) && leaf_blob(c) == moved_from && leaf_value_length(c) == length);
  drop_value(c);
  DirtyBlob moved;
  moved.length = length;
  moved.moved_from = moved_from;
  blobs_.push_back(moved);
  made_bytes_ += blob_size_bytes(length);
  store64(const_cast<uint8_t*>(leaf_value(c)), kDirtyBit | kBlobBit | (blobs_.size() - 1));
  return Status::Ok();
}

Status TreeWriter::put(TreeRoot* tree, const uint8_t* key, uint32_t key_length, const uint8_t* value,
                       uint32_t value_length) {
  VED_ASSERT(key_length <= kKeySizeBytesMax);
  VED_ASSERT(value_length <= kValueSizeBytesMax);
  bool inline_value = key_length + value_length <= kInlineCellBytesMax;
  std::vector<uint8_t>& cell = cell_scratch_;  // reused: no allocation per put
  cell.resize(kLeafCellHeaderBytes + key_length + (inline_value ? value_length : 8));
  store16(cell.data(), static_cast<uint16_t>(key_length));
  cell[2] = inline_value ? 0 : kCellBlob;
  cell[3] = 0;
  store32(cell.data() + 4, value_length);
  if (key_length > 0) std::memcpy(cell.data() + kLeafCellHeaderBytes, key, key_length);
  if (inline_value) {
    if (value_length > 0) std::memcpy(cell.data() + kLeafCellHeaderBytes + key_length, value, value_length);
  } else {
    DirtyBlob blob;
    blob.at = arena_.keep_blob(value, value_length);
    blob.length = value_length;
    blobs_.push_back(blob);
    made_bytes_ += blob_size_bytes(value_length);
    store64(cell.data() + kLeafCellHeaderBytes + key_length, kDirtyBit | kBlobBit | (blobs_.size() - 1));
  }
  if (tree->root == kNoPage) {
    uint8_t* p;
    tree->root = new_page(kLeaf, &p);
  }
  Split split;
  bool inserted = false;
  VED_TRY(put_rec(&tree->root, 0, key, key_length, cell, &split, &inserted));
  if (inserted) tree->entry_count++;
  if (split.happened) {
    // The root split: a new root branch over the two halves.
    uint8_t* root;
    uint64_t id = new_page(kBranch, &root);
    std::vector<uint8_t> left(kBranchCellHeaderBytes);
    store64(left.data(), tree->root);
    store16(left.data() + 8, 0);
    insert_cell(root, 0, left.data(), static_cast<uint32_t>(left.size()));
    std::vector<uint8_t> right(kBranchCellHeaderBytes + split.separator.size());
    store64(right.data(), split.right);
    store16(right.data() + 8, static_cast<uint16_t>(split.separator.size()));
    std::memcpy(right.data() + kBranchCellHeaderBytes, split.separator.data(), split.separator.size());
    insert_cell(root, 1, right.data(), static_cast<uint32_t>(right.size()));
    tree->root = id;
  }
  return Status::Ok();
}

// Inserts a cell at `index`, splitting the page in two by bytes when it does not fit. The
// left half stays in `p`; the right half goes to a new dirty page reported through `split`.
void TreeWriter::insert_or_split(uint8_t* p, uint32_t index, const uint8_t* cell_image, uint32_t size,
                                 Split* split) {
  if (make_room(p, size)) {
    insert_cell(p, index, cell_image, size);
    return;
  }
  uint8_t page_kind = kind(p);
  std::vector<std::vector<uint8_t>> cells;
  uint32_t n = count(p);
  cells.reserve(n + 1);
  uint32_t total_bytes = 0;
  for (uint32_t i = 0; i <= n; i++) {
    if (i == index) {
      cells.emplace_back(cell_image, cell_image + size);
      total_bytes += size + 2;
    }
    if (i == n) break;
    const uint8_t* c = page::cell(p, i);
    uint32_t s = cell_size(p, c);
    cells.emplace_back(c, c + s);
    total_bytes += s + 2;
  }
  // Left takes cells while it stays under half; each half then fits (cells are small).
  // A cell that goes last (keys written in ascending order: a load, the journal's time
  // region) leaves the old cells together, so the pages such writes leave behind are full
  // rather than half empty (the journal's live bytes halved with this, and so did the
  // pages of an ascending load). The old cells fit: they filled this page before.
  uint32_t left_bytes = 0;
  size_t split_at = 0;
  if (index == n && n > 0) {
    split_at = n;
  } else {
    while (split_at < cells.size() - 1 && left_bytes + cells[split_at].size() + 2 <= total_bytes / 2) {
      left_bytes += static_cast<uint32_t>(cells[split_at].size()) + 2;
      split_at++;
    }
  }
  if (split_at == 0) split_at = 1;
  VED_ASSERT(split_at < cells.size());
  uint8_t* right;
  uint64_t right_id = new_page(page_kind, &right);
  init(p, page_kind);
  for (size_t i = 0; i < split_at; i++) {
    insert_cell(p, static_cast<uint32_t>(i), cells[i].data(), static_cast<uint32_t>(cells[i].size()));
  }
  split->happened = true;
  split->right = right_id;
  for (size_t i = split_at; i < cells.size(); i++) {
    std::vector<uint8_t>& c = cells[i];
    if (i == split_at) {
      if (page_kind == kLeaf) {
        split->separator.assign(leaf_key(c.data()), leaf_key(c.data()) + leaf_key_length(c.data()));
      } else {
        // A branch's first key moves up; the right page's first cell becomes -inf.
        split->separator.assign(branch_key(c.data()), branch_key(c.data()) + branch_key_length(c.data()));
        c.resize(kBranchCellHeaderBytes);
        store16(c.data() + 8, 0);
      }
    }
    insert_cell(right, static_cast<uint32_t>(i - split_at), c.data(), static_cast<uint32_t>(c.size()));
  }
}

Status TreeWriter::put_rec(uint64_t* addr, uint32_t depth, const uint8_t* key, uint32_t key_length,
                           const std::vector<uint8_t>& cell_image, Split* split, bool* inserted) {
  if (depth >= kTreeDepthMax) return too_deep();
  uint8_t* p;
  VED_TRY(writable(addr, &p));
  if (kind(p) == kLeaf) {
    bool found;
    uint32_t i = leaf_lower_bound(p, key, key_length, &found);
    if (found) {
      drop_value(page::cell(p, i));
      remove_cell(p, i);
    } else {
      *inserted = true;
    }
    insert_or_split(p, i, cell_image.data(), static_cast<uint32_t>(cell_image.size()), split);
    return Status::Ok();
  }
  uint32_t i = branch_find(p, key, key_length);
  uint8_t* c = const_cast<uint8_t*>(page::cell(p, i));
  uint64_t child = branch_child(c);
  Split child_split;
  VED_TRY(put_rec(&child, depth + 1, key, key_length, cell_image, &child_split, inserted));
  store64(c, child);
  if (child_split.happened) {
    std::vector<uint8_t> sep(kBranchCellHeaderBytes + child_split.separator.size());
    store64(sep.data(), child_split.right);
    store16(sep.data() + 8, static_cast<uint16_t>(child_split.separator.size()));
    std::memcpy(sep.data() + kBranchCellHeaderBytes, child_split.separator.data(), child_split.separator.size());
    insert_or_split(p, i + 1, sep.data(), static_cast<uint32_t>(sep.size()), split);
  }
  return Status::Ok();
}

Status TreeWriter::del(TreeRoot* tree, const uint8_t* key, uint32_t key_length) {
  if (tree->root == kNoPage) return Status::Ok();
  bool found = false, now_empty = false;
  VED_TRY(del_rec(&tree->root, 0, key, key_length, &found, &now_empty));
  if (!found) return Status::Ok();
  // The count comes from disk: a damaged one must not underflow.
  if (tree->entry_count > 0) tree->entry_count--;
  if (now_empty) {
    tree->root = kNoPage;
    return Status::Ok();
  }
  // A root branch with a single child is replaced by that child.
  while (true) {
    const uint8_t* p;
    VED_TRY(page(tree->root, &p));
    if (kind(p) != kBranch || count(p) != 1) break;
    tree->root = branch_child(page::cell(p, 0));
  }
  return Status::Ok();
}

Status TreeWriter::del_rec(uint64_t* addr, uint32_t depth, const uint8_t* key, uint32_t key_length,
                           bool* found, bool* now_empty) {
  if (depth >= kTreeDepthMax) return too_deep();
  const uint8_t* ro;
  VED_TRY(page(*addr, &ro));
  if (kind(ro) == kLeaf) {
    uint32_t i = leaf_lower_bound(ro, key, key_length, found);
    if (!*found) return Status::Ok();  // nothing changes: no page is copied
    uint8_t* p;
    VED_TRY(writable(addr, &p));
    drop_value(page::cell(p, i));
    remove_cell(p, i);
    *now_empty = count(p) == 0;
    return Status::Ok();
  }
  uint32_t i = branch_find(ro, key, key_length);
  uint64_t child = branch_child(page::cell(ro, i));
  bool child_empty = false;
  VED_TRY(del_rec(&child, depth + 1, key, key_length, found, &child_empty));
  if (!*found) return Status::Ok();
  uint8_t* p;
  VED_TRY(writable(addr, &p));
  if (child_empty) {
    remove_cell(p, i);
    if (i == 0 && count(p) > 0) {
      // The new first cell stands for -inf; drop its key so the page stays canonical.
      const uint8_t* first = page::cell(p, 0);
      std::vector<uint8_t> c(kBranchCellHeaderBytes);
      store64(c.data(), branch_child(first));
      store16(c.data() + 8, 0);
      remove_cell(p, 0);
      bool room = make_room(p, static_cast<uint32_t>(c.size()));
      VED_ASSERT(room);
      insert_cell(p, 0, c.data(), static_cast<uint32_t>(c.size()));
    }
  } else {
    store64(const_cast<uint8_t*>(page::cell(p, i)), child);
  }
  *now_empty = count(p) == 0;
  return Status::Ok();
}

// ---- Laying out the frame body ---------------------------------------------------------

// Calls fn(ref) for each reference in the dirty page p to a dirty child (a page, or a blob of a
// leaf cell); ref points at the reference's 8 bytes. The dirty test is inline, so the clean
// children of a branch (most of its cells) cost a load each, not a call; a leaf has dirty
// children only when this transaction made a blob, so without one its cells are not walked.
template <typename Fn>
void TreeWriter::each_dirty_child(uint8_t* p, Fn fn) {
  uint32_t n = count(p);
  if (kind(p) == kBranch) {
    for (uint32_t i = 0; i < n; i++) {
      uint8_t* c = const_cast<uint8_t*>(page::cell(p, i));
      if (is_dirty(branch_child(c))) fn(c);
    }
  } else if (!blobs_.empty()) {
    for (uint32_t i = 0; i < n; i++) {
      const uint8_t* c = page::cell(p, i);
      if ((leaf_flags(c) & kCellBlob) && is_dirty(leaf_blob(c))) fn(const_cast<uint8_t*>(leaf_value(c)));
    }
  }
}

uint64_t TreeWriter::count_rec(uint64_t addr) {
  VED_ASSERT(is_dirty(addr));
  if (is_dirty_blob(addr)) return blob_size_bytes(blobs_[dirty_index(addr)].length);
  uint64_t total = kPageSizeBytes;
  each_dirty_child(dirty_[dirty_index(addr)], [&](uint8_t* ref) { total += count_rec(load64(ref)); });
  return total;
}

uint64_t TreeWriter::body_size_bytes(const TreeRoot* roots, uint32_t tree_count) {
  uint64_t total = 0;
  for (uint32_t t = 0; t < tree_count; t++) {
    if (is_dirty(roots[t].root)) total += count_rec(roots[t].root);
  }
  return total;
}

uint64_t TreeWriter::lay_out_rec(uint64_t addr, uint64_t seq, uint8_t* body, uint64_t body_offset,
                                 uint64_t* next) {
  if (!is_dirty(addr)) return addr;
  uint64_t index = dirty_index(addr);
  if (is_dirty_blob(addr)) {
    DirtyBlob& blob = blobs_[index];
    if (blob.final_offset != kNoPage) return blob.final_offset;
    uint64_t size = blob_size_bytes(blob.length);
    uint8_t* dst = body + (*next - body_offset);
    std::memset(dst, 0, kPageHeaderSizeBytes);
    PageHeader* h = header(dst);
    h->kind = kBlob;
    h->log_offset = *next;
    h->seq = seq;
    h->blob_length_bytes = blob.length;
    if (blob.moved_from != kNoPage) {
      moves_.push_back(BlobMove{*next, blob.moved_from, blob.length});
    } else if (blob.length > 0) {
      std::memcpy(dst + kPageHeaderSizeBytes, arena_.blob_at(blob.at), blob.length);
    }
    uint64_t tail = size - kPageHeaderSizeBytes - blob.length;
    std::memset(dst + kPageHeaderSizeBytes + blob.length, 0, tail);
    h->checksum = 0;  // the flusher's checksum_frame fills it in
    blob.final_offset = *next;
    *next += size;
    return blob.final_offset;
  }
  if (final_offsets_[index] != kNoPage) return final_offsets_[index];
  uint8_t* p = dirty_[index];
  each_dirty_child(p, [&](uint8_t* ref) { store64(ref, lay_out_rec(load64(ref), seq, body, body_offset, next)); });
  uint64_t offset = *next;
  *next += kPageSizeBytes;
  uint8_t* dst = body + (offset - body_offset);
  std::memcpy(dst, p, kPageSizeBytes);
  PageHeader* h = header(dst);
  h->log_offset = offset;
  h->seq = seq;
  h->checksum = 0;  // the flusher's checksum_frame fills it in
  final_offsets_[index] = offset;
  return offset;
}

uint64_t TreeWriter::lay_out(TreeRoot* roots, uint32_t tree_count, uint64_t body_offset, uint64_t seq,
                             uint8_t* body) {
  uint64_t next = body_offset;
  for (uint32_t t = 0; t < tree_count; t++) {
    if (roots[t].root != kNoPage) roots[t].root = lay_out_rec(roots[t].root, seq, body, body_offset, &next);
  }
  VED_ASSERT(next - body_offset <= made_bytes_);
  return next - body_offset;
}

}  // namespace ved
