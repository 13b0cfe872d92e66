#include "cleaner.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "assert.h"
#include "btree.h"
#include "checksum.h"
#include "page.h"

namespace ved {

// Live bytes one pass may relocate: bounds the relocation queue and so the extra pages
// the JS thread's commits carry before the next pass.
constexpr uint64_t kPassRelocationBytesMax = 8ull << 20;
// A segment fuller than this is not worth relocating to reclaim the rest (unless compacting).
constexpr double kVictimUtilizationMax = 0.8;
// compact() cleans fuller segments too, but not nearly full ones: relocating them gains
// little, and the segment behind the head always holds some dead records.
constexpr double kCompactUtilizationMax = 0.95;
// Cleaning starts at this fraction of the configured amplification.
constexpr double kTargetHeadroom = 0.9;
// A store whose durable version moved past the last pass gets one after this long.
constexpr int64_t kIdlePassMs = 100;
// How long a pass waits for the version it should walk to become durable.
constexpr int64_t kDurableWaitMs = 10000;

bool CheckedPages::test(uint64_t offset, uint64_t which) const {
  auto it = bits_.find(offset / segment_size_bytes_);
  if (it == bits_.end()) return false;
  uint64_t bit = offset % segment_size_bytes_ / kPageSizeBytes * 2 + which;
  return (it->second[bit / 64] >> (bit % 64)) & 1;
}

void CheckedPages::set_checked(uint64_t offset, bool plain_leaf) {
  std::vector<uint64_t>& words = bits_[offset / segment_size_bytes_];
  if (words.empty()) words.assign((segment_size_bytes_ / kPageSizeBytes * 2 + 63) / 64, 0);
  uint64_t bit = offset % segment_size_bytes_ / kPageSizeBytes * 2;
  words[bit / 64] |= 1ull << (bit % 64);
  if (plain_leaf) words[(bit + 1) / 64] |= 1ull << ((bit + 1) % 64);
}

void CheckedPages::forget_absent(const Log& log) {
  for (auto it = bits_.begin(); it != bits_.end();) {
    it = log.present(it->first) ? std::next(it) : bits_.erase(it);
  }
  VED_ASSERT(bits_.size() <= log.segment_count_max());
}

namespace {

// One walk of a durable version through the map. Adds every reachable byte to `usage`;
// with victims, collects the keys whose rewrite moves everything out of them.
class Walker {
 public:
  Walker(const Log& log, const std::unordered_set<uint64_t>* victims, CheckedPages* checked,
         const std::atomic<bool>* stop)
      : log_(log), victims_(victims), checked_(checked), stop_(stop) {}

  Status tree(uint32_t tree, uint64_t root) {
    if (root == kNoPage) return Status::Ok();
    bool touched = false;
    return visit(tree, root, 0, &touched);
  }

  void add(uint64_t offset, uint64_t size_bytes) {
    uint64_t segment_size = log_.segment_size_bytes();
    while (size_bytes > 0) {
      uint64_t n = std::min(size_bytes, segment_size - offset % segment_size);
      usage[offset / segment_size] += n;
      total_bytes += n;
      offset += n;
      size_bytes -= n;
    }
  }

  std::map<uint64_t, uint64_t> usage;
  uint64_t total_bytes = 0;
  std::vector<Touch> touches;

 private:
  bool in_victim(uint64_t offset, uint64_t size_bytes) const {
    if (victims_ == nullptr) return false;
    uint64_t segment_size = log_.segment_size_bytes();
    for (uint64_t i = offset / segment_size; i <= (offset + size_bytes - 1) / segment_size; i++) {
      if (victims_->count(i)) return true;
    }
    return false;
  }

  Status corrupt(const char* why, uint64_t offset) const {
    uint64_t segment_size = log_.segment_size_bytes();
    return Status::Corrupt(why, static_cast<int64_t>(offset / segment_size), static_cast<int64_t>(offset % segment_size));
  }

  // A checked page's bytes, or null after reporting why in *s.
  const uint8_t* page_at(uint64_t offset, Status* s) {
    const uint8_t* p = log_.map_ptr(offset, kPageSizeBytes);
    if (p == nullptr || offset % kPageSizeBytes != 0) {
      *s = corrupt("page reference outside the log", offset);
      return nullptr;
    }
    if (checked_->checked(offset)) return p;
    const PageHeader* h = page::header(p);
    if (crc32c(p + 4, kPageSizeBytes - 4) != h->checksum) {
      *s = corrupt("page checksum mismatch", offset);
      return nullptr;
    }
    if (h->log_offset != offset || !page::well_formed(p)) {
      *s = corrupt("page is not the tree page it should be", offset);
      return nullptr;
    }
    bool plain = page::kind(p) == kLeaf && page::count(p) > 0;
    for (uint32_t i = 0; plain && i < page::count(p); i++) plain = !(page::leaf_flags(page::cell(p, i)) & page::kCellBlob);
    checked_->set_checked(offset, plain);
    return p;
  }

  Status visit(uint32_t tree, uint64_t offset, uint32_t depth, bool* touched) {
    *touched = false;
    if (depth >= kTreeDepthMax) return corrupt("tree deeper than the maximum depth", offset);
    if (stop_->load(std::memory_order_relaxed)) return Status::Error(Code::ECLOSED, "the store is closing");
    // A checked leaf without blobs adds its own bytes only: no need to read it, unless it
    // is to be relocated (its first key names it).
    if (checked_->plain_leaf(offset) && !in_victim(offset, kPageSizeBytes)) {
      add(offset, kPageSizeBytes);
      return Status::Ok();
    }
    Status s;
    const uint8_t* p = page_at(offset, &s);
    if (p == nullptr) return s;
    VED_ASSERT(page::header(p)->log_offset == offset);
    add(offset, kPageSizeBytes);
    uint32_t n = page::count(p);
    if (page::kind(p) == kLeaf) {
      if (n == 0) return corrupt("empty leaf", offset);
      for (uint32_t i = 0; i < n; i++) {
        const uint8_t* c = page::cell(p, i);
        if (!(page::leaf_flags(c) & page::kCellBlob)) continue;
        uint64_t blob = page::leaf_blob(c);
        uint64_t size = blob_size_bytes(page::leaf_value_length(c));
        const uint8_t* bh = log_.map_ptr(blob, kPageHeaderSizeBytes);
        if (bh == nullptr) return corrupt("blob reference outside the log", blob);
        const PageHeader* b = page::header(bh);
        if (!page::blob_header_matches(bh, blob, page::leaf_value_length(c))) {
          return corrupt("blob header does not match its reference", blob);
        }
        add(blob, size);
        if (in_victim(blob, size)) {
          // Checked here, off the execution thread, where the commit that moves it would
          // otherwise check it. A damaged blob is not relocated (TreeWriter::rewrite).
          uint32_t crc = 0;
          uint64_t checked_bytes = kPageHeaderSizeBytes - 4 + uint64_t{page::leaf_value_length(c)};
          if (!log_.checksum(blob + 4, checked_bytes, &crc).ok() || crc != b->checksum) continue;
          touches.push_back(Touch{tree, std::vector<uint8_t>(page::leaf_key(c), page::leaf_key(c) + page::leaf_key_length(c)), blob});
          *touched = true;
        }
      }
    } else {
      for (uint32_t i = 0; i < n; i++) {
        bool child_touched = false;
        VED_TRY(visit(tree, page::branch_child(page::cell(p, i)), depth + 1, &child_touched));
        *touched = *touched || child_touched;
      }
    }
    // Rewriting any key below this page copies it; one touch suffices for the whole path.
    if (!*touched && in_victim(offset, kPageSizeBytes)) {
      std::vector<uint8_t> key;
      VED_TRY(first_key(offset, depth, &key));
      touches.push_back(Touch{tree, std::move(key)});
      *touched = true;
    }
    return Status::Ok();
  }

  // The first key below the page at `offset`: down the leftmost path.
  Status first_key(uint64_t offset, uint32_t depth, std::vector<uint8_t>* key) {
    for (; depth < kTreeDepthMax; depth++) {
      Status s;
      const uint8_t* p = page_at(offset, &s);
      if (p == nullptr) return s;
      if (page::count(p) == 0) return corrupt("empty page", offset);
      const uint8_t* c = page::cell(p, 0);
      if (page::kind(p) == kLeaf) {
        key->assign(page::leaf_key(c), page::leaf_key(c) + page::leaf_key_length(c));
        return Status::Ok();
      }
      offset = page::branch_child(c);
    }
    return corrupt("tree deeper than the maximum depth", offset);
  }

  const Log& log_;
  const std::unordered_set<uint64_t>* victims_;
  CheckedPages* checked_;
  const std::atomic<bool>* stop_;
};

Status walk(const Log& log, const Version& v, const std::unordered_set<uint64_t>* victims, Walker* w) {
  w->add(v.record_offset, kPageSizeBytes);
  for (uint32_t t = 0; t < v.tree_count; t++) VED_TRY(w->tree(t, v.trees[t].root));
  return Status::Ok();
}

}  // namespace

Cleaner::Cleaner(Log& log, Flusher& flusher, double max_space_amplification, std::function<void()> on_ready)
    : log_(log),
      flusher_(flusher),
      max_space_amplification_(max_space_amplification),
      on_ready_(std::move(on_ready)),
      checked_(log.segment_size_bytes()) {}

Cleaner::~Cleaner() { stop(); }

void Cleaner::start() {
  VED_ASSERT(!thread_.joinable());
  thread_ = std::thread([this] { run(); });
}

void Cleaner::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    stop_requested_.store(true, std::memory_order_relaxed);
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Segments detached but not yet destroyed: their space is still ours to give back.
  for (const Log::Detached& d : to_destroy_) (void)log_.destroy(d);
  to_destroy_.clear();
}

void Cleaner::wake(uint64_t min_seq, bool force, uint64_t victim_index_limit) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (pass_failed_) return;
    if (!force && max_space_amplification_ <= 0) return;
    requested_ = true;
    if (force) victim_index_limit_ = victim_index_limit;
    force_ = force_ || force;
    min_seq_ = std::max(min_seq_, min_seq);
    busy_.store(true, std::memory_order_release);
  }
  cv_.notify_one();
}

bool Cleaner::take(CleanerPass* out) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!have_result_) return false;
  *out = std::move(result_);
  result_ = CleanerPass{};
  have_result_ = false;
  result_waiting_.store(false, std::memory_order_release);
  return true;
}

void Cleaner::destroy(std::vector<Log::Detached> segments) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (Log::Detached& d : segments) to_destroy_.push_back(d);
  }
  cv_.notify_one();
}

CleanerStats Cleaner::stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  CleanerStats s = stats_;
  s.busy = busy();
  return s;
}

void Cleaner::run() {
  while (true) {
    bool run_pass = false, force = false;
    uint64_t min_seq = 0, victim_index_limit = UINT64_MAX;
    std::vector<Log::Detached> destroying;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      // Commits too small to wake a pass still leave garbage: once writes pause, the last
      // durable version gets a pass of its own.
      bool woken = cv_.wait_for(lock, std::chrono::milliseconds(kIdlePassMs),
                                [&] { return stopping_ || requested_ || !to_destroy_.empty(); });
      if (stopping_) return;
      if (!woken && max_space_amplification_ > 0 && !pass_failed_ && flusher_.durable_seq() > stats_.walked_seq) {
        requested_ = true;
        busy_.store(true, std::memory_order_release);
      }
      destroying.swap(to_destroy_);
      // Taken and cleared together: a wake that arrives from here on asks for another pass.
      if (requested_) {
        run_pass = true;
        force = force_;
        min_seq = min_seq_;
        victim_index_limit = victim_index_limit_;
        requested_ = false;
        force_ = false;
        min_seq_ = 0;
        victim_index_limit_ = UINT64_MAX;
      }
    }
    for (const Log::Detached& d : destroying) {
      Status s = log_.destroy(d);
      if (s.ok()) continue;
      // The file stays behind; it holds nothing reachable. Say so, and keep cleaning.
      std::lock_guard<std::mutex> lock(mutex_);
      stats_.error = "deleting a segment failed: " + s.message;
    }
    if (!run_pass) continue;
    // Walk only a version whose frames are all written (and so mapped).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kDurableWaitMs);
    while (flusher_.durable_seq() < min_seq && !flusher_.poisoned() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(500));
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
    }
    CleanerPass result;
    Status s = flusher_.poisoned() ? Status::Ok() : pass(force, force ? victim_index_limit : UINT64_MAX, &result);
    bool notify = s.ok() && (!result.touches.empty() || !result.free_segments.empty() || result.move_record);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;  // a walk cut short by stop() found nothing wrong
      stats_.passes++;
      if (!s.ok()) {
        pass_failed_ = true;
        stats_.error = "cleaning stopped: " + s.message;
      } else if (result.seq != 0) {
        result_ = std::move(result);
        have_result_ = true;
        // Work for the JS thread (it was notified): busy until it takes it.
        result_waiting_.store(notify, std::memory_order_release);
      }
      if (!requested_) busy_.store(false, std::memory_order_release);
    }
    if (notify && on_ready_) on_ready_();
  }
}

Status Cleaner::pass(bool force, uint64_t victim_index_limit, CleanerPass* out) {
  Version v = flusher_.durable_version();
  checked_.forget_absent(log_);
  Walker w(log_, nullptr, &checked_, &stop_requested_);
  VED_TRY(walk(log_, v, nullptr, &w));
  if (w.total_bytes != v.live_bytes) {
    // The record's count and the tree disagree: a bug. Never delete on a doubtful count.
    return Status::Error(Code::ECORRUPT, "live bytes of commit " + std::to_string(v.seq) + " are " +
                                             std::to_string(v.live_bytes) + " by its record but " +
                                             std::to_string(w.total_bytes) + " by a walk");
  }
  uint64_t segment_size = log_.segment_size_bytes();
  // The segment holding the log's end keeps receiving frames: never a victim, never free.
  uint64_t head = (v.end_offset - 1) / segment_size;
  uint64_t first = log_.first_index();
  out->seq = v.seq;
  // A free segment must also lie before the segment holding D's record: a checkpoint at or
  // after D then lies past it too, which is what lets it be deleted.
  uint64_t record_segment = v.record_offset / segment_size;
  struct Candidate {
    uint64_t index;
    uint64_t live;
    double utilization;
    double score;
  };
  std::vector<Candidate> candidates;
  uint64_t freeing_bytes = 0;
  for (uint64_t i = first; i < head; i++) {
    if (!log_.present(i)) continue;
    auto it = w.usage.find(i);
    uint64_t live = it == w.usage.end() ? 0 : it->second;
    if (live == 0 && i < record_segment) {
      out->free_segments.push_back(i);
      freeing_bytes += log_.valid_size_bytes(i);
      continue;
    }
    if (live == 0) continue;
    double u = static_cast<double>(live) / static_cast<double>(segment_size);
    // Sprite LFS cost/benefit: free space gained, weighted by age, per byte read and moved.
    double age = static_cast<double>(head - i);
    candidates.push_back(Candidate{i, live, u, (1.0 - u) * age / (1.0 + u)});
  }
  std::unordered_set<uint64_t> victims;
  double gained = 0;
  auto take = [&](const Candidate& c) {
    if (victims.count(c.index)) return true;
    if (!victims.empty() && out->victim_live_bytes + c.live > kPassRelocationBytesMax) return false;
    victims.insert(c.index);
    out->victims.push_back(c.index);
    out->victim_live_bytes += c.live;
    gained += static_cast<double>(log_.valid_size_bytes(c.index) - std::min(c.live, log_.valid_size_bytes(c.index)));
    return true;
  };
  // The ring bounds the span from the oldest segment to the head, not the bytes: an old,
  // nearly full segment of cold data would pin the window until commits fail with
  // ESTORESIZE in a store of few bytes. Past half the ring, the oldest segments move,
  // however full (candidates are in index order here).
  if (head - first >= log_.segment_count_max() / 2) {
    for (const Candidate& c : candidates) {
      if (c.index >= first + log_.segment_count_max() / 4 || !take(c)) break;
    }
  }
  // Move only as much as it takes to get under the target (started early: relocation lags
  // the writes that make garbage). Segments that die on their own (the young ones, in an
  // update-heavy load) are better left to die than copied.
  double promised = max_space_amplification_ * static_cast<double>(v.live_bytes) + static_cast<double>(segment_size);
  double target = kTargetHeadroom * max_space_amplification_ * static_cast<double>(v.live_bytes) +
                  static_cast<double>(segment_size);
  // The head segment counts whole: the flusher zero-fills it ahead of the commits, so its
  // file grows to full size whatever this pass saw.
  uint64_t file_bytes = log_.file_bytes();
  uint64_t head_bytes = log_.valid_size_bytes(head);
  file_bytes += head_bytes < segment_size ? segment_size - head_bytes : 0;
  out->past_target = max_space_amplification_ > 0 && static_cast<double>(file_bytes) - static_cast<double>(freeing_bytes) > promised;
  double excess = static_cast<double>(file_bytes) - static_cast<double>(freeing_bytes) - target;
  if (force || excess > 0) {
    std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
    for (const Candidate& c : candidates) {
      if (!force && gained >= excess) break;
      if (c.utilization >= (force ? kCompactUtilizationMax : kVictimUtilizationMax) || c.index >= victim_index_limit) continue;
      if (!take(c)) break;
    }
  }
  out->move_record = victims.count(record_segment) > 0;
  if (!victims.empty()) {
    Walker t(log_, &victims, &checked_, &stop_requested_);
    VED_TRY(walk(log_, v, &victims, &t));
    out->touches = std::move(t.touches);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.walked_live_bytes = v.live_bytes;
  stats_.walked_seq = v.seq;
  return Status::Ok();
}

}  // namespace ved
