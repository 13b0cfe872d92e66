// verify: a consistency check of one version of a store, page by page (like bbolt's
// tx_check.go). It reads the commit record of the version and walks every page and blob
// reachable from its trees, checking:
//   - the record: checksum, kind, magic, own offset, seq, tree count, and that it names the
//     roots the in-memory version holds;
//   - every tree page: checksum, kind, own offset, seq (a child is never newer than its
//     parent, nothing is newer than the record), slot and cell bounds (page::well_formed);
//   - key order: strictly increasing within a page, and every key of a child within the
//     bounds its parent's separators give it; a branch's first key is empty (-inf);
//   - shape: all leaves at one depth, depth < kTreeDepthMax, no empty leaf, no page reached
//     twice (a damaged reference must not make the walk revisit or loop);
//   - references: page aligned, inside the mapped log, pointing at a page of the right kind;
//   - blobs: kind, own offset, length equal to the leaf's value length, checksum;
//   - totals: leaf entries of a tree equal the record's entry count; record + pages + blobs
//     equal the record's live bytes.
// Damage never stops the walk of other subtrees: verify reports every finding (at most
// kVerifyErrorCountMax of them, then only a count) with the segment and offset where it is.
//
// Bounds: work and memory are linear in the pages reachable from the version, which are at
// most the pages of the log (every page is visited once; a revisit is a finding). Recursion
// depth is at most kTreeDepthMax.
//
// Threads: called on the JS thread; it reads the log through its map only (Log::map_ptr),
// never through the writer's per-segment verified bitmap, so it trusts nothing a read
// cached. The pages of a durable version are immutable and stay mapped while the store is
// open.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "log.h"
#include "version.h"

namespace ved {

// Kinds of findings; verify_code_name gives the stable string JS sees as `code`.
enum class VerifyCode : uint8_t {
  kRecord = 0,     // the commit record itself
  kChecksum,       // a page's checksum does not match its bytes
  kHeader,         // a page's kind, own offset or seq is wrong
  kStructure,      // slots, cells or sizes out of bounds; an empty leaf; a keyed first branch cell
  kKeyOrder,       // keys out of order, or outside the bounds of the parent's separators
  kReference,      // a reference outside the log, misaligned, or to a page reached twice
  kDepth,          // leaves at different depths, or deeper than kTreeDepthMax
  kBlob,           // a blob's header, length or checksum
  kEntryCount,     // leaf entries differ from the record's entry count
  kLiveBytes,      // reachable bytes differ from the record's live bytes
};
constexpr uint32_t kVerifyCodeCount = 10;
const char* verify_code_name(VerifyCode code);

struct VerifyFinding {
  VerifyCode code;
  int64_t segment;  // segment index of the damaged (or referencing) page
  int64_t offset;   // byte offset of that page inside its segment
  std::string message;
};

struct VerifyReport {
  uint64_t seq = 0;                   // the version verified
  uint64_t tree_count = 0;
  uint64_t pages_checked = 0;         // tree pages (the record not included)
  uint64_t blobs_checked = 0;
  uint64_t bytes_checked = 0;         // record + tree pages + blobs (whole pages)
  uint64_t pages_total_estimate = 0;  // the record's live bytes in pages
  std::vector<VerifyFinding> errors;  // at most kVerifyErrorCountMax
  uint64_t errors_omitted = 0;        // findings past that bound
};

// A store with more findings than this is badly damaged; listing them all helps nobody.
constexpr uint32_t kVerifyErrorCountMax = 1000;
// How often the progress callback runs (in 4 KiB pages, blobs counted by their size).
constexpr uint64_t kVerifyProgressIntervalPages = 1024;

// Called every kVerifyProgressIntervalPages and once at the end. May throw (a JS callback
// that throws): the walk holds no resource that unwinding would leak.
using VerifyProgressFn = std::function<void(uint64_t pages_done, uint64_t pages_total_estimate)>;

// Verifies version `v` (whose record and pages must all be written to the log).
void verify_version(const Log& log, const Version& v, const VerifyProgressFn& progress, VerifyReport* report);

}  // namespace ved
