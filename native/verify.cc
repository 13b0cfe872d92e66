#include "verify.h"

#include <unordered_set>

#include "assert.h"
#include "btree.h"
#include "checksum.h"
#include "page.h"

namespace ved {

const char* verify_code_name(VerifyCode code) {
  static const char* const kNames[kVerifyCodeCount] = {
      "record", "checksum", "header", "structure", "key-order",
      "reference", "depth", "blob", "entry-count", "live-bytes",
  };
  uint32_t index = static_cast<uint32_t>(code);
  VED_ASSERT(index < kVerifyCodeCount);
  return kNames[index];
}

namespace {

// A key bound taken from a separator inside a mapped page; `present` false means infinite.
struct Bound {
  bool present = false;
  const uint8_t* key = nullptr;
  uint32_t length = 0;
};

class Walk {
 public:
  Walk(const Log& log, const VerifyProgressFn& progress, VerifyReport* report)
      : log_(log), progress_(progress), report_(report), segment_size_bytes_(log.segment_size_bytes()) {}

  void record(const Version& v);
  void tree(uint32_t index, uint64_t root, uint64_t entry_count, uint64_t record_seq);
  void finish(const Version& v);

 private:
  void fail(VerifyCode code, uint64_t at, std::string message);
  bool claim(uint64_t offset, uint64_t referrer, const char* what);
  void page(uint64_t offset, uint64_t referrer, uint32_t depth, uint64_t seq_max, Bound lo, Bound hi,
            uint64_t* entries);
  void leaf(uint64_t offset, const uint8_t* p, Bound lo, Bound hi, uint64_t* entries);
  void branch(uint64_t offset, const uint8_t* p, uint32_t depth, Bound lo, Bound hi, uint64_t* entries);
  void blob(uint64_t offset, uint64_t referrer, uint32_t value_length_bytes, uint64_t seq_max);
  void count_bytes(uint64_t size_bytes);

  const Log& log_;
  const VerifyProgressFn& progress_;
  VerifyReport* report_;
  const uint64_t segment_size_bytes_;
  std::unordered_set<uint64_t> seen_;  // offsets of pages and blobs reached so far
  int64_t leaf_depth_ = -1;            // depth of the first leaf of the current tree
  uint64_t reachable_bytes_ = 0;       // record + pages + blobs, compared with live bytes
  uint64_t record_live_bytes_ = 0;
  uint64_t pages_done_reported_ = 0;
  const RecordDisk* record_ = nullptr;
};

void Walk::fail(VerifyCode code, uint64_t at, std::string message) {
  if (report_->errors.size() >= kVerifyErrorCountMax) {
    report_->errors_omitted++;
    return;
  }
  report_->errors.push_back(VerifyFinding{code, static_cast<int64_t>(at / segment_size_bytes_),
                                          static_cast<int64_t>(at % segment_size_bytes_), std::move(message)});
}

void Walk::count_bytes(uint64_t size_bytes) {
  report_->bytes_checked += size_bytes;
  reachable_bytes_ += size_bytes;
  uint64_t pages_done = report_->bytes_checked / kPageSizeBytes;
  if (progress_ && pages_done - pages_done_reported_ >= kVerifyProgressIntervalPages) {
    pages_done_reported_ = pages_done;
    progress_(pages_done, report_->pages_total_estimate);
  }
}

// A reference read from a page: aligned, not an in-memory tag, and not reached before.
bool Walk::claim(uint64_t offset, uint64_t referrer, const char* what) {
  if (offset == kNoPage || (offset >> 62) != 0 || offset % kPageSizeBytes != 0) {
    fail(VerifyCode::kReference, referrer, std::string("impossible ") + what + " reference " + std::to_string(offset));
    return false;
  }
  if (!seen_.insert(offset).second) {
    fail(VerifyCode::kReference, referrer,
         std::string(what) + " at log offset " + std::to_string(offset) + " is reachable twice");
    return false;
  }
  return true;
}

void Walk::record(const Version& v) {
  report_->seq = v.seq;
  report_->tree_count = v.tree_count;
  uint64_t at = v.record_offset;
  const uint8_t* p = log_.map_ptr(at, kPageSizeBytes);
  if (p == nullptr) {
    fail(VerifyCode::kRecord, at, "the commit record lies outside the mapped log");
    return;
  }
  const RecordDisk* r = reinterpret_cast<const RecordDisk*>(p);
  if (crc32c(p + 4, kPageSizeBytes - 4) != r->checksum) {
    fail(VerifyCode::kRecord, at, "commit record checksum mismatch");
    return;
  }
  if (r->kind != kRecord || r->magic != kRecordMagic || r->log_offset != at || r->seq != v.seq) {
    fail(VerifyCode::kRecord, at, "the commit record is not the one of seq " + std::to_string(v.seq));
    return;
  }
  if (r->tree_count != v.tree_count) {
    fail(VerifyCode::kRecord, at, "the commit record names " + std::to_string(r->tree_count) + " trees, the version " +
                                      std::to_string(v.tree_count));
    return;
  }
  for (uint32_t t = 0; t < v.tree_count; t++) {
    if (r->trees[t].root != v.trees[t].root || r->trees[t].entry_count != v.trees[t].entry_count) {
      fail(VerifyCode::kRecord, at, "tree " + std::to_string(t) + " of the record differs from the open version");
      return;
    }
  }
  record_ = r;
  record_live_bytes_ = r->live_bytes;
  report_->pages_total_estimate = r->live_bytes / kPageSizeBytes;
  seen_.insert(at);
  count_bytes(kPageSizeBytes);
}

void Walk::tree(uint32_t index, uint64_t root, uint64_t entry_count, uint64_t record_seq) {
  VED_ASSERT(record_ != nullptr);
  leaf_depth_ = -1;
  uint64_t entries = 0;
  if (root != kNoPage && claim(root, record_->log_offset, "root page")) {
    page(root, record_->log_offset, 0, record_seq, Bound{}, Bound{}, &entries);
  }
  if (entries != entry_count) {
    fail(VerifyCode::kEntryCount, record_->log_offset,
         "tree " + std::to_string(index) + " holds " + std::to_string(entries) + " entries, its record says " +
             std::to_string(entry_count));
  }
}


// Key comparisons against a bound; an absent bound is -inf (lo) or +inf (hi).
static bool below(const uint8_t* key, uint32_t length, const Bound& lo) {
  return lo.present && page::compare(key, length, lo.key, lo.length) < 0;
}
static bool at_or_above(const uint8_t* key, uint32_t length, const Bound& hi) {
  return hi.present && page::compare(key, length, hi.key, hi.length) >= 0;
}

void Walk::page(uint64_t offset, uint64_t referrer, uint32_t depth, uint64_t seq_max, Bound lo, Bound hi,
                uint64_t* entries) {
  if (depth >= kTreeDepthMax) {
    fail(VerifyCode::kDepth, referrer, "the tree is deeper than " + std::to_string(kTreeDepthMax) + " levels");
    return;
  }
  const uint8_t* p = log_.map_ptr(offset, kPageSizeBytes);
  if (p == nullptr) {
    fail(VerifyCode::kReference, referrer, "page reference " + std::to_string(offset) + " lies outside the log");
    return;
  }
  report_->pages_checked++;
  count_bytes(kPageSizeBytes);
  const PageHeader* h = page::header(p);
  if (crc32c(p + 4, kPageSizeBytes - 4) != h->checksum) {
    fail(VerifyCode::kChecksum, offset, "page checksum mismatch");
    return;
  }
  if (h->log_offset != offset) {
    fail(VerifyCode::kHeader, offset, "the page says it lives at log offset " + std::to_string(h->log_offset));
    return;
  }
  if (h->kind != kLeaf && h->kind != kBranch) {
    fail(VerifyCode::kHeader, offset, "a tree references a page of kind " + std::to_string(h->kind));
    return;
  }
  if (h->seq > seq_max) {
    fail(VerifyCode::kHeader, offset, "page of seq " + std::to_string(h->seq) + " is newer than its parent (seq " +
                                          std::to_string(seq_max) + ")");
  }
  if (!page::well_formed(p)) {
    fail(VerifyCode::kStructure, offset, "slots or cells out of bounds, or keys out of order within the page");
    return;
  }
  if (h->kind == kLeaf) {
    if (leaf_depth_ < 0) leaf_depth_ = depth;
    if (leaf_depth_ != static_cast<int64_t>(depth)) {
      fail(VerifyCode::kDepth, offset, "leaf at depth " + std::to_string(depth) + ", the first leaf is at depth " +
                                           std::to_string(leaf_depth_));
    }
    leaf(offset, p, lo, hi, entries);
  } else {
    branch(offset, p, depth, lo, hi, entries);
  }
}

void Walk::leaf(uint64_t offset, const uint8_t* p, Bound lo, Bound hi, uint64_t* entries) {
  uint32_t n = page::count(p);
  if (n == 0) fail(VerifyCode::kStructure, offset, "an empty leaf (empty leaves are removed)");
  *entries += n;
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t* c = page::cell(p, i);
    const uint8_t* key = page::leaf_key(c);
    uint32_t key_length = page::leaf_key_length(c);
    if ((i == 0 && below(key, key_length, lo)) || (i + 1 == n && at_or_above(key, key_length, hi))) {
      fail(VerifyCode::kKeyOrder, offset, "a key lies outside the bounds its parent's separators give");
    }
    if (page::leaf_flags(c) & page::kCellBlob) {
      uint64_t blob_offset = page::leaf_blob(c);
      if (claim(blob_offset, offset, "blob")) blob(blob_offset, offset, page::leaf_value_length(c), page::header(p)->seq);
    }
  }
}

void Walk::branch(uint64_t offset, const uint8_t* p, uint32_t depth, Bound lo, Bound hi, uint64_t* entries) {
  uint32_t n = page::count(p);
  VED_ASSERT(n >= 1);  // well_formed refuses an empty branch
  if (page::branch_key_length(page::cell(p, 0)) != 0) {
    fail(VerifyCode::kStructure, offset, "the first cell of a branch carries a key (it stands for -inf)");
  }
  for (uint32_t i = 1; i < n; i++) {
    const uint8_t* c = page::cell(p, i);
    if (below(page::branch_key(c), page::branch_key_length(c), lo) ||
        at_or_above(page::branch_key(c), page::branch_key_length(c), hi)) {
      fail(VerifyCode::kKeyOrder, offset, "separator " + std::to_string(i) + " lies outside the bounds of its parent");
    }
  }
  uint64_t seq = page::header(p)->seq;
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t* c = page::cell(p, i);
    Bound child_lo = lo;
    if (i > 0) child_lo = Bound{true, page::branch_key(c), page::branch_key_length(c)};
    Bound child_hi = hi;
    if (i + 1 < n) {
      const uint8_t* next = page::cell(p, i + 1);
      child_hi = Bound{true, page::branch_key(next), page::branch_key_length(next)};
    }
    uint64_t child = page::branch_child(c);
    if (claim(child, offset, "child page")) page(child, offset, depth + 1, seq, child_lo, child_hi, entries);
  }
}

void Walk::blob(uint64_t offset, uint64_t referrer, uint32_t value_length_bytes, uint64_t seq_max) {
  const uint8_t* h = log_.map_ptr(offset, kPageHeaderSizeBytes);
  if (h == nullptr) {
    fail(VerifyCode::kReference, referrer, "blob reference " + std::to_string(offset) + " lies outside the log");
    return;
  }
  report_->blobs_checked++;
  uint64_t size_bytes = blob_size_bytes(value_length_bytes);
  count_bytes(size_bytes);
  const PageHeader* ph = page::header(h);
  if (ph->kind != kBlob || ph->log_offset != offset) {
    fail(VerifyCode::kBlob, offset, "a leaf references a blob that is not there (kind " + std::to_string(ph->kind) + ")");
    return;
  }
  if (ph->blob_length_bytes != value_length_bytes) {
    fail(VerifyCode::kBlob, offset, "blob of " + std::to_string(ph->blob_length_bytes) + " bytes, its leaf says " +
                                        std::to_string(value_length_bytes));
    return;
  }
  if (ph->seq > seq_max) fail(VerifyCode::kBlob, offset, "blob newer than the leaf that references it");
  uint32_t crc = 0;
  if (!log_.checksum(offset + 4, kPageHeaderSizeBytes - 4 + uint64_t{value_length_bytes}, &crc).ok()) {
    fail(VerifyCode::kBlob, offset, "the blob runs past the end of the log");
    return;
  }
  if (crc != ph->checksum) fail(VerifyCode::kBlob, offset, "blob checksum mismatch");
}

void Walk::finish(const Version& v) {
  if (record_ != nullptr && reachable_bytes_ != record_live_bytes_) {
    fail(VerifyCode::kLiveBytes, v.record_offset,
         "reachable bytes " + std::to_string(reachable_bytes_) + ", the record says " + std::to_string(record_live_bytes_));
  }
  if (progress_) progress_(report_->bytes_checked / kPageSizeBytes, report_->pages_total_estimate);
}

}  // namespace

void verify_version(const Log& log, const Version& v, const VerifyProgressFn& progress, VerifyReport* report) {
  VED_ASSERT(v.tree_count <= kTreeCountMax);
  *report = VerifyReport{};
  Walk walk(log, progress, report);
  walk.record(v);
  // A record that failed names no tree worth walking: its roots may be garbage.
  bool record_ok = report->errors.empty();
  if (record_ok) {
    for (uint32_t t = 0; t < v.tree_count; t++) walk.tree(t, v.trees[t].root, v.trees[t].entry_count, v.seq);
  }
  walk.finish(v);
  VED_ASSERT(report->errors.size() <= kVerifyErrorCountMax);
}

}  // namespace ved
