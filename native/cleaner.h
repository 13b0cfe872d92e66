// The cleaner: keeps the append-only log bounded by relocating the live pages of mostly-dead
// segments and deleting segments that hold nothing reachable.
//
//   cleaner thread                                JS thread
//   walk durable version D (mapped pages only)
//     -> live bytes per segment at D
//   pick victims (cost/benefit), walk again
//     -> keys whose path or blob lies in a victim
//   post Pass{D, free segments, touches}   ->     take(): touches join the relocation queue;
//                                                 each commit rewrites a bounded number of
//                                                 them (an ordinary copy-on-write commit)
//                                                 free segments are detached once safe, and
//   unmap, close, unlink detached segments  <-    handed back here for the slow part
//
// Invariants:
// - a segment is deleted only on the evidence of a walk: it held no byte reachable from a
//   durable version D; D is at or before the older checkpoint (so recovery never starts
//   before D); every open snapshot is at or after D; the segment lies wholly before both
//   checkpoint records. Counters never decide a deletion; the tree does.
// - the walk reads only pages of a durable version, through the map, on this thread: those
//   pages are immutable and their segments cannot be deleted while the walk runs (deletion
//   needs this thread's next pass result).
// - a touch is a hint: applying it to a newer version only rewrites that version's path, so
//   a stale touch costs a copy, never correctness.
// - the relocation queue and the deletion queue are bounded (one pass at a time).
// - a page's checksum and layout are checked the first time a walk reaches it, not on every
//   pass: pages are immutable once written, and re-checking every live page made a pass of a
//   large store cost a CPU core while writes ran (docs/design.md, "Cleaner walks").
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "flusher.h"
#include "log.h"
#include "status.h"
#include "version.h"

namespace ved {

struct Touch {
  uint32_t tree = 0;
  std::vector<uint8_t> key;
  // The key's blob in a victim, whose checksum this pass checked: the commit that relocates
  // it need not check it again (kNoPage: none).
  uint64_t checked_blob = kNoPage;
};

// What one pass found, handed to the JS thread.
struct CleanerPass {
  uint64_t seq = 0;                     // the durable version walked
  std::vector<uint64_t> free_segments;  // nothing reachable from `seq` lives there
  std::vector<Touch> touches;           // rewriting these keys empties the victims
  std::vector<uint64_t> victims;
  uint64_t victim_live_bytes = 0;
  // The walked version's own record lies in a victim: no key rewrite moves it, any new
  // commit does (an empty one if nothing else comes).
  bool move_record = false;
  // The file was past maxSpaceAmplification x live + one segment (the option's promise; the
  // pass starts moving at kTargetHeadroom of it): commits carry relocations at a floor then.
  bool past_target = false;
};

// The cleaner thread's record of what its walks learnt about pages, which are immutable:
// that a page was checked (checksum, own offset, layout), and that a checked leaf holds no
// blob reference, so a later walk counts it from its parent's cell without reading it. Two
// bits per page of each present segment (4 KiB per 64 MiB segment). A segment's bits go
// when the segment does; segment indexes are never reused (log offsets only grow), so a bit
// never outlives its page.
class CheckedPages {
 public:
  explicit CheckedPages(uint64_t segment_size_bytes) : segment_size_bytes_(segment_size_bytes) {}
  bool checked(uint64_t offset) const { return test(offset, 0); }
  bool plain_leaf(uint64_t offset) const { return test(offset, 1); }
  void set_checked(uint64_t offset, bool plain_leaf);
  // Drops the bits of segments no longer in the log.
  void forget_absent(const Log& log);

 private:
  bool test(uint64_t offset, uint64_t which) const;
  uint64_t segment_size_bytes_;
  std::map<uint64_t, std::vector<uint64_t>> bits_;  // segment index -> two bits per page
};

struct CleanerStats {
  uint64_t passes = 0;
  uint64_t segments_deleted = 0;   // filled in by the store (it detaches them)
  uint64_t bytes_reclaimed = 0;    // filled in by the store
  uint64_t relocated_keys = 0;     // filled in by the store
  uint64_t walked_live_bytes = 0;  // live bytes at the last pass's version
  uint64_t walked_seq = 0;
  std::string error;               // why cleaning stopped (damage, accounting mismatch), or a failed unlink
  bool busy = false;               // a pass is requested or running
};

class Cleaner {
 public:
  // max_space_amplification: clean when file bytes exceed this multiple of live bytes plus
  // one segment. 0 disables background passes (compact() still runs them).
  // `on_ready` runs on the cleaner thread when a pass found relocations: the JS thread
  // should commit them even if the application is not writing.
  Cleaner(Log& log, Flusher& flusher, double max_space_amplification, std::function<void()> on_ready);
  ~Cleaner();
  void start();
  void stop();

  // JS thread: run a pass once `min_seq` is durable. `force` cleans below the target too
  // (compact()).
  // Forced passes pick victims only below `victim_index_limit` (what existed when compact()
  // began), so compaction never chases the segments it writes itself.
  void wake(uint64_t min_seq, bool force, uint64_t victim_index_limit = UINT64_MAX);
  // JS thread: the latest finished pass, if one is waiting.
  bool take(CleanerPass* out);
  // True while a pass is requested or running, or its result waits for take().
  bool busy() const { return busy_.load(std::memory_order_acquire) || result_waiting_.load(std::memory_order_acquire); }
  // JS thread: segments detached from the log (and already counted as reclaimed), to be
  // unmapped and unlinked here.
  void destroy(std::vector<Log::Detached> segments);
  CleanerStats stats();

 private:
  void run();
  Status pass(bool force, uint64_t victim_index_limit, CleanerPass* out);

  Log& log_;
  Flusher& flusher_;
  const double max_space_amplification_;
  std::function<void()> on_ready_;

  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  // Read by a running walk, which gives up at once: a pass can take a while on a large store
  // (its first pass after open checks every page), and close() should not wait for it.
  std::atomic<bool> stop_requested_{false};
  bool requested_ = false;
  bool force_ = false;
  bool pass_failed_ = false;  // a walk found damage or a count mismatch: no more passes
  uint64_t min_seq_ = 0;
  uint64_t victim_index_limit_ = UINT64_MAX;
  bool have_result_ = false;
  CleanerPass result_;                      // guarded by mutex_
  std::vector<Log::Detached> to_destroy_;   // guarded by mutex_
  CleanerStats stats_;                      // guarded by mutex_
  std::atomic<bool> busy_{false};
  std::atomic<bool> result_waiting_{false};
  CheckedPages checked_;  // cleaner thread only
  std::thread thread_;
};

}  // namespace ved
