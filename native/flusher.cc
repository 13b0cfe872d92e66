#include "flusher.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>
#include <thread>

#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "assert.h"
#include "checksum.h"
#include "io.h"

namespace ved {

// Bound on sealed-but-unwritten bytes: enough for many large batches, small enough that a
// runaway producer waits instead of exhausting memory.
constexpr uint64_t kQueueBytesMax = 256ull << 20;
// How long the flusher stays awake for the next commit after a batch (bounded CPU cost).
constexpr int64_t kSpinUs = 100;
// After the spin, the flusher checks for work in timed naps until this long after the batch:
// a commit sealed in that window is picked up within one nap and its seal pays no wake-up.
// Sequential commits of the domain runtime come 50-300 us apart (the JS work between them).
constexpr int64_t kNapWindowUs = 2000;
// A nap lasts a quarter of the idle time so far, within these bounds: the delay it adds to a
// commit stays small next to the idle time, and a 2 ms window costs about 20 wake-ups. A
// commit sealed after 1 ms idle waits half a nap on average: durable p50 0-34 us over no naps
// with 100 us naps, +100 us with 200 us naps (bench/compare-builds.js, idle).
constexpr int64_t kNapMinUs = 50;
constexpr int64_t kNapMaxUs = 100;
// Idle periods longer than the window, in a row, after which naps stop (see nap_credit_).
constexpr int kNapCreditMax = 8;
#ifdef __linux__
// Naps are short: the default timer slack (50 us) would stretch them by up to that much.
constexpr unsigned long kTimerSlackNs = 5000;
#endif
// How far ahead of the log's end segments are kept zero-filled.
constexpr uint64_t kZeroAheadBytes = 2 * kZeroChunkBytes;
// Batches larger than this leave the space ahead as it is (see flush_batch).
constexpr uint64_t kZeroAheadBatchBytesMax = 1ull << 20;
// A written frame's last bytes are read through the map before its fdatasync (see
// write_frame); this much at most, so a large frame's sync is not held up by its page faults.
constexpr uint64_t kTouchBytesMax = 256ull << 10;
// Recovery validates every page after the checkpoint: 16 MiB is a few milliseconds of CRC.
constexpr uint64_t kCheckpointIntervalBytes = 16ull << 20;

// Every frame comes from the pool. Large ones are above glibc's mmap threshold (128 KiB at
// first), fresh mappings that fault on every page (the runtime's 128-slice commits over
// 10,000 domains are frames of this size). Small ones faulted too once commits pipeline: the
// flusher frees what the JS thread allocated, and malloc gives the heap's top back to the
// kernel (docs/design.md, "Commits reuse their memory").
// Pooled buffers are sized in these steps, so a buffer fits the next frames of similar size.
constexpr uint64_t kFramePoolStepBytes = 16ull << 10;
// What the pool may hold while idle: the frames of a few pipelined batches.
constexpr size_t kFramePoolBuffersMax = 16;
constexpr uint64_t kFramePoolBytesMax = 64ull << 20;

std::unique_ptr<uint8_t[]> FramePool::take(uint64_t size_bytes, uint64_t* capacity_bytes) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t best = free_.size();
    for (size_t i = 0; i < free_.size(); i++) {
      if (free_[i].capacity_bytes < size_bytes) continue;
      if (best == free_.size() || free_[i].capacity_bytes < free_[best].capacity_bytes) best = i;
    }
    if (best < free_.size()) {
      Buffer b = std::move(free_[best]);
      free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(best));
      VED_ASSERT(free_bytes_ >= b.capacity_bytes);
      free_bytes_ -= b.capacity_bytes;
      *capacity_bytes = b.capacity_bytes;
      return std::move(b.bytes);
    }
  }
  uint64_t capacity = (size_bytes + kFramePoolStepBytes - 1) / kFramePoolStepBytes * kFramePoolStepBytes;
  *capacity_bytes = capacity;
  return std::unique_ptr<uint8_t[]>(new uint8_t[capacity]);
}

void FramePool::give(std::unique_ptr<uint8_t[]> bytes, uint64_t capacity_bytes) {
  VED_ASSERT(capacity_bytes > 0);  // every buffer given back came from take
  if (capacity_bytes > kFramePoolBytesMax) return;  // freed here
  std::lock_guard<std::mutex> lock(mutex_);
  // Full: the smallest buffer goes, so the pool keeps what the largest frames need.
  while (!free_.empty() && (free_.size() >= kFramePoolBuffersMax || free_bytes_ + capacity_bytes > kFramePoolBytesMax)) {
    auto smallest = std::min_element(free_.begin(), free_.end(), [](const Buffer& a, const Buffer& b) {
      return a.capacity_bytes < b.capacity_bytes;
    });
    if (smallest->capacity_bytes >= capacity_bytes) return;  // the new one is the smallest: freed
    free_bytes_ -= smallest->capacity_bytes;
    free_.erase(smallest);
  }
  free_bytes_ += capacity_bytes;
  free_.push_back(Buffer{std::move(bytes), capacity_bytes});
  VED_ASSERT(free_.size() <= kFramePoolBuffersMax && free_bytes_ <= kFramePoolBytesMax);
}

Flusher::Flusher(Log& log, Checkpoint& checkpoint, SharedState* shared, bool sync,
                 uint64_t checkpoint_interval_commits, const Version& durable, CompletionFn on_complete)
    : log_(log),
      checkpoint_(checkpoint),
      shared_(shared),
      sync_(sync),
      checkpoint_interval_commits_(checkpoint_interval_commits),
      on_complete_(std::move(on_complete)),
      durable_version_(durable),
      checkpoint_seq_(durable.seq),
      checkpoint_end_offset_(durable.end_offset),
      chain_checksum_(durable.record_checksum) {
  nap_credit_ = kNapCreditMax;
  written_seq_.store(durable.seq);
  durable_seq_.store(durable.seq);
  publish(durable);
}

Flusher::~Flusher() { stop(); }

void Flusher::start() {
  VED_ASSERT(!thread_.joinable());
  thread_ = std::thread([this] { run(); });
}

void Flusher::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Flusher::enqueue(std::shared_ptr<Frame> frame) {
  std::unique_lock<std::mutex> lock(mutex_);
  VED_ASSERT(!stopping_);
  // A frame larger than the bound still goes through alone.
  space_cv_.wait(lock, [&] { return queued_bytes_ == 0 || queued_bytes_ + frame->size_bytes <= kQueueBytesMax; });
  queued_bytes_ += frame->size_bytes;
  queue_.push_back(std::move(frame));
  queued_count_.fetch_add(1, std::memory_order_release);
  bool wake = sleeping_;
  lock.unlock();
  // A spinning flusher sees the frame without a futex wake (tens of microseconds on a VM).
  if (wake) work_cv_.notify_one();
}

// A checkpoint must name a durable commit whose predecessors are durable too: with
// sync: false, every segment written since the last checkpoint is synced first.
Status Flusher::write_checkpoint(const Version& v) {
  for (uint64_t index : unsynced_) VED_TRY(io::sync_data(log_.fd(index), log_.segment_path(index)));
  unsynced_.clear();
  VED_TRY(checkpoint_.write(v.seq, v.record_offset, v.record_checksum));
  checkpoint_seq_ = v.seq;
  checkpoint_end_offset_ = v.end_offset;
  // The slot just overwritten held the older of the two; the other one is now the floor.
  uint64_t floor_seq = previous_checkpoint_seq_, floor_offset = previous_checkpoint_offset_;
  previous_checkpoint_seq_ = v.seq;
  previous_checkpoint_offset_ = v.record_offset;
  {
    std::lock_guard<std::mutex> lock(floor_mutex_);
    floor_.seq = floor_seq;
    floor_.record_offset = floor_offset;
  }
  return Status::Ok();
}

// After a failed sync nothing sealed since the last durable commit will ever be durable:
// reject everything from now on, and make the JS thread roll back its view to the durable
// version (reads must not keep returning commits that were rejected).
void Flusher::poison() {
  poisoned_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

void Flusher::request_checkpoint() {
  if (checkpoint_wanted_.exchange(true, std::memory_order_acq_rel)) return;
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    wake = sleeping_;
  }
  if (wake) work_cv_.notify_one();
}

void Flusher::checkpoint_on_request() {
  if (!checkpoint_wanted_.exchange(false, std::memory_order_acq_rel) || poisoned_.load()) return;
  Version v = durable_version();
  CheckpointFloor floor = checkpoint_floor();
  if (floor.seq >= v.seq) return;
  // Twice when needed: the floor is the older slot, and both must be past what is deleted.
  for (int i = 0; i < 2 && checkpoint_floor().seq < v.seq; i++) {
    Status c = write_checkpoint(v);
    if (!c.ok()) {
      if (c.code == Code::EIO_) poison();
      return;
    }
  }
  // The JS thread deletes what the checkpoints now cover.
  Completion done;
  done.durable_seq = v.seq;
  done.cleaner_ready = true;
  on_complete_(done);
}

CheckpointFloor Flusher::checkpoint_floor() {
  std::lock_guard<std::mutex> lock(floor_mutex_);
  return floor_;
}

void Flusher::set_checkpoints(const CheckpointSlot slots[2]) {
  // slots[0] is the newer one. An invalid slot holds nothing recovery could start from.
  CheckpointFloor f;
  // The intervals count from the newest checkpoint on disk, not from this open: counted per
  // process, a writer killed before each interval ran out never wrote one, and every open
  // scanned all the commits of every process before it. Its end offset is not kept; the
  // record's offset is, one frame short of it (the bytes interval runs out that much sooner).
  checkpoint_seq_ = 0;
  checkpoint_end_offset_ = 0;
  if (slots[0].valid) {
    checkpoint_seq_ = slots[0].seq;
    checkpoint_end_offset_ = slots[0].record_offset;
    previous_checkpoint_seq_ = slots[0].seq;
    previous_checkpoint_offset_ = slots[0].record_offset;
    f = slots[1].valid ? CheckpointFloor{slots[1].seq, slots[1].record_offset} : CheckpointFloor{slots[0].seq, slots[0].record_offset};
  }
  std::lock_guard<std::mutex> lock(floor_mutex_);
  floor_ = f;
}

Version Flusher::durable_version() {
  std::lock_guard<std::mutex> lock(mutex_);
  return durable_version_;
}

void Flusher::run() {
#ifdef __linux__
  (void)prctl(PR_SET_TIMERSLACK, kTimerSlackNs, 0, 0, 0);  // this thread only; a failure costs precision
#endif
  while (true) {
    std::deque<std::shared_ptr<Frame>> batch;
    auto idle_since = std::chrono::steady_clock::now();
    poll_for_work();
    {
      std::unique_lock<std::mutex> lock(mutex_);
      // Enqueue notifies only from here on; a frame queued before is seen by the predicate.
      sleeping_ = true;
      work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty() || checkpoint_wanted_.load(); });
      sleeping_ = false;
      if (queue_.empty() && !stopping_) {
        lock.unlock();
        checkpoint_on_request();
        continue;
      }
      if (!queue_.empty()) {
        auto idle = std::chrono::steady_clock::now() - idle_since;
        if (idle <= std::chrono::microseconds(kNapWindowUs)) {
          nap_credit_ = kNapCreditMax;
        } else if (nap_credit_ > 0) {
          nap_credit_--;
        }
      }
      if (queue_.empty()) {
        // Stopping and drained: a final checkpoint makes the next open's scan empty.
        if (!poisoned_.load() && durable_version_.seq > checkpoint_seq_) (void)write_checkpoint(durable_version_);
        return;
      }
      batch.swap(queue_);
      queued_bytes_ = 0;
      queued_count_.store(0, std::memory_order_relaxed);
    }
    space_cv_.notify_all();
    // Test builds: holds each batch back, so that a test can read frames the flusher has not
    // touched yet (moved blobs before fill_moves).
    if (io::FaultPlan* plan = io::fault_plan()) {
      uint32_t delay_ms = plan->flush_delay_ms.load();
      if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    }
    flush_batch(batch);
  }
}

bool Flusher::work_wanted() const {
  return queued_count_.load(std::memory_order_acquire) != 0 || checkpoint_wanted_.load(std::memory_order_acquire) ||
         stopping_.load(std::memory_order_acquire);
}

// A sequential writer's next commit usually arrives within tens of microseconds of the last
// one becoming durable: waiting that long awake spares the JS thread a futex wake, which costs
// it 5-45 us p50 (more when the woken flusher preempts it on its CPU). The spin yields: the JS
// thread that the completion just woke often lands on this CPU (two cores, one busy), and a
// plain spin kept it off the CPU for the whole spin (traced: it ran 110 us after the completion
// instead of 10; durable one-put p50 318 us against 163 us, bench/compare-builds.js). Then
// naps, which give the CPU away and still catch a commit sealed after more JS work.
void Flusher::poll_for_work() {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto idle_us = [&] { return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count(); };
  while (!work_wanted() && idle_us() < kSpinUs) std::this_thread::yield();
  if (nap_credit_ == 0) return;
  for (int64_t idle = idle_us(); !work_wanted() && idle < kNapWindowUs; idle = idle_us()) {
    std::this_thread::sleep_for(std::chrono::microseconds(std::clamp(idle / 4, kNapMinUs, kNapMaxUs)));
  }
}

Status Flusher::write_frame(const Frame& frame) {
  uint64_t segment_size = log_.segment_size_bytes();
  uint64_t offset = frame.offset;
  uint64_t done = 0;
  while (done < frame.size_bytes) {
    uint64_t index = offset / segment_size;
    uint64_t within = offset % segment_size;
    uint64_t n = std::min(frame.size_bytes - done, segment_size - within);
    VED_TRY(log_.open_for_append(index));
    // Bytes must be contiguous with what the file holds; zero any gap first (rare: only
    // after damage cut a segment short).
    if (log_.valid_size_bytes(index) < within) VED_TRY(log_.prepare(index, within));
    struct iovec iov = {frame.bytes.get() + done, static_cast<size_t>(n)};
    VED_TRY(io::write_all(log_.fd(index), log_.segment_path(index), &iov, 1, within));
    log_.mark_written(index, within + n);
    offset += n;
    done += n;
  }
  // The next commit copies this frame's newest pages (its root and the paths it touched;
  // children are laid out before their parents, so they are at its end) out of the map once it
  // is written. The JS thread's first read of a freshly written page was the tail of
  // sequential seals on the dev VM; reading a byte per page here, before the fdatasync, moves
  // that stall to the flusher (docs/design.md, "The flusher touches what it wrote").
  uint64_t touch_bytes = std::min(frame.size_bytes, kTouchBytesMax);
  log_.touch(frame.offset + frame.size_bytes - touch_bytes, touch_bytes);
  return Status::Ok();
}

Status Flusher::fill_moves(Frame& frame) {
  Status result = Status::Ok();
  if (frame.moves.empty()) return result;
  for (const BlobMove& move : frame.moves) {
    VED_ASSERT(move.to >= frame.offset + kPageSizeBytes);
    VED_ASSERT(move.to + kPageHeaderSizeBytes + move.length <= frame.offset + frame.size_bytes);
    // The source is a written blob that was checked (by the cleaner's walk or at the seal) in a
    // version the JS thread still reads, so its segment stays mapped until this frame is durable.
    const uint8_t* src = log_.map_ptr(move.from, kPageHeaderSizeBytes + uint64_t{move.length});
    VED_ASSERT(src != nullptr);
    uint8_t* dst = frame.bytes.get() + (move.to - frame.offset) + kPageHeaderSizeBytes;
    std::memcpy(dst, src + kPageHeaderSizeBytes, move.length);
    // Checked again over the bytes copied: damage that appeared since the check would
    // otherwise get a valid checksum at the new place.
    uint32_t crc = crc32c_extend(crc32c(src + 4, kPageHeaderSizeBytes - 4), dst, move.length);
    if (crc != reinterpret_cast<const PageHeader*>(src)->checksum && result.ok()) {
      uint64_t segment_size = log_.segment_size_bytes();
      result = Status::Corrupt("a blob the commit relocates no longer matches its checksum",
                               static_cast<int64_t>(move.from / segment_size), static_cast<int64_t>(move.from % segment_size));
    }
  }
  frame.moves_filled.store(true, std::memory_order_release);
  return result;
}

void Flusher::flush_batch(std::deque<std::shared_ptr<Frame>>& batch) {
  Completion done;
  std::set<uint64_t> touched;
  const Frame* last_good = nullptr;
  bool failed_current = false;  // a frame of the live generation failed: roll back
  uint64_t generation = generation_.load();
  auto reject = [&](const Frame& f, Code code, const std::string& message) {
    if (done.code == Code::OK) {
      done.code = code;
      done.message = message;
      done.failed_from = f.seq;
    }
    done.failed_to = f.seq;
  };
  for (auto& frame : batch) {
    // Before anything may reject the frame: a snapshot may go on reading it.
    Status filled = fill_moves(*frame);
    if (poisoned_.load()) {
      reject(*frame, Code::EIO_, "the store is poisoned by an earlier failed fdatasync; reopen it");
      continue;
    }
    if (frame->generation != generation || done.code != Code::OK) {
      reject(*frame, done.code == Code::OK ? Code::ENOSPC_ : done.code,
             done.code == Code::OK ? "rejected: an earlier commit it builds on failed" : done.message);
      continue;
    }
    if (!filled.ok()) {
      // Rejected like a failed write, without poisoning: the store rolls back to what is
      // durable, and the blob stays where it is, damaged (the next pass skips it).
      failed_current = true;
      reject(*frame, filled.code, filled.message);
      continue;
    }
    uint32_t record_checksum = checksum_frame(frame->bytes.get(), frame->size_bytes, chain_checksum_);
    frame->version.record_checksum = record_checksum;
    Status s = write_frame(*frame);
    if (!s.ok() && s.code != Code::ENOSPC_) {
      // EIO while writing or while syncing a freshly zeroed chunk: the device lost data we
      // cannot name. Poison, like a failed commit sync.
      poison();
      s.message += "; the store is poisoned (reopen it to recover)";
    }
    if (!s.ok()) {
      failed_current = true;
      reject(*frame, s.code, s.message);
      continue;
    }
    chain_checksum_ = record_checksum;
    uint64_t segment_size = log_.segment_size_bytes();
    for (uint64_t i = frame->offset / segment_size; i <= (frame->offset + frame->size_bytes - 1) / segment_size; i++) {
      touched.insert(i);
      if (!sync_) unsynced_.insert(i);
    }
    last_good = frame.get();
  }
  if (last_good != nullptr) {
    written_seq_.store(last_good->seq, std::memory_order_release);
    Status s = Status::Ok();
    if (sync_) {
      for (uint64_t index : touched) {
        s = io::sync_data(log_.fd(index), log_.segment_path(index));
        if (!s.ok()) break;
      }
    }
    if (!s.ok()) {
      // Nothing in this batch is known durable, and nothing ever will be: poison.
      poison();
      Completion failed;
      failed.code = Code::EIO_;
      failed.message = s.message + "; the store is poisoned (reopen it to recover)";
      failed.failed_from = batch.front()->seq;
      failed.failed_to = batch.back()->seq;
      failed.durable_seq = durable_seq_.load();
      on_complete_(failed);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      durable_version_ = last_good->version;
    }
    durable_seq_.store(last_good->seq, std::memory_order_release);
    publish(last_good->version);
    // Checkpoint by commits and by bytes, so recovery's scan stays short either way.
    bool due = last_good->seq - checkpoint_seq_ >= checkpoint_interval_commits_ ||
               last_good->version.end_offset - checkpoint_end_offset_ >= kCheckpointIntervalBytes ||
               checkpoint_wanted_.exchange(false, std::memory_order_acq_rel);
    if (due) {
      Status c = write_checkpoint(last_good->version);
      if (c.code == Code::EIO_) poison();
    }
  }
  if (failed_current) {
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  done.durable_seq = durable_seq_.load();
  on_complete_(done);
  // Zero-filling ahead only pays when commits are synced (it spares their fdatasync the
  // metadata journal); with sync: false it would only double the writes. It pays for small
  // batches only: the journal entry it spares costs tens of microseconds, while after a batch
  // of megabytes the next one likely writes past the zeroed chunks anyway, so the disk would
  // write those bytes twice (zeros, then data) for nothing.
  uint64_t batch_bytes = 0;
  for (const auto& frame : batch) batch_bytes += frame->size_bytes;
  if (last_good != nullptr && sync_ && batch_bytes <= kZeroAheadBatchBytesMax) zero_ahead(last_good->version.end_offset);
}

void Flusher::publish(const Version& v) {
  if (shared_ == nullptr) return;
  // Seqlock: readers retry while `version` is odd or changed under them.
  uint64_t start = shared_load_relaxed(&shared_->version);
  shared_store_relaxed(&shared_->version, start + 1);
  std::atomic_thread_fence(std::memory_order_release);
  shared_->durable_seq = v.seq;
  shared_->durable_record_offset = v.record_offset;
  shared_->durable_record_checksum = v.record_checksum;
  shared_store_release(&shared_->version, start + 2);
}

// Segments are zero-filled ahead of the log's end, one chunk per batch, so a commit rarely
// waits for zeroing and a batch is never held up by more than one chunk of it.
void Flusher::zero_ahead(uint64_t end_offset) {
  // Not past the segment holding the log's end: a zeroed segment ahead is file bytes that
  // hold nothing, and with small segments it would be many of them.
  uint64_t segment_size = log_.segment_size_bytes();
  uint64_t limit = std::min(log_.offset_limit(), (end_offset / segment_size + 1) * segment_size);
  if (end_offset >= limit) return;
  // ENOSPC here is left for the commit that needs the space; anything else poisons.
  Status s = log_.prepare_range(end_offset, std::min(kZeroAheadBytes, limit - end_offset));
  if (!s.ok() && s.code != Code::ENOSPC_ && s.code != Code::ESTORESIZE) poison();
}

}  // namespace ved
