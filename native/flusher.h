// The flusher: one native thread that turns sealed frames into durable ones.
//
//   JS thread                         flusher thread
//   seal frame S  -> queue (bounded) -> checksum and write S..T (one pwritev per segment run)
//   seal S+1 ...                       fdatasync each touched segment (one per batch)
//                                      publish durable seq, checkpoint, wake JS (completion)
//
// Commits that queue while a sync runs form the next batch (group commit). The queue is
// bounded in bytes; a producer that finds it full waits (backpressure, never unbounded).
//
// Waiting for work, the flusher goes through three states, and enqueue pays a futex wake only
// in the last: after a batch it spins (kSpinUs, yielding the CPU to any thread that wants it),
// then naps (short timed sleeps, up to kNapWindowUs after the batch, while naps keep finding
// work soon enough), then sleeps on work_cv_ (sleeping_). A wake costs the JS thread tens of
// microseconds on a VM, more when the woken flusher preempts it on its own CPU; a frame
// sealed during a nap waits at most one nap instead (docs/design.md, "Flusher wake-ups").
// Failure is loud: a failed fdatasync poisons the flusher (every later frame is rejected with
// EIO; nothing is retried, the page cache may have dropped the data). ENOSPC while making
// room for a frame rejects that frame and every frame queued behind it (they are built on
// it), bumps the generation, and publishes the durable version to roll back to; frames of an
// older generation are rejected until the JS thread rolls back and seals anew.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "checkpoint.h"
#include "format.h"
#include "log.h"
#include "status.h"
#include "version.h"

namespace ved {

// Recycled byte buffers for frames. A fresh allocation is fresh memory that page-faults on
// every 4 KiB the seal lays out (with the arena's, 1,200-1,600 minor faults per 1000-key
// seal: bench/batched-cpu.js); a recycled one is already mapped. Bounded: at most
// kFramePoolBuffersMax buffers and kFramePoolBytesMax bytes wait here; what does not fit is
// freed. Any thread may give a buffer back (the last holder of a frame may be the flusher,
// the JS thread or a snapshot's owner).
class FramePool {
 public:
  // A buffer of at least size_bytes; its real size in *capacity_bytes.
  std::unique_ptr<uint8_t[]> take(uint64_t size_bytes, uint64_t* capacity_bytes);
  void give(std::unique_ptr<uint8_t[]> bytes, uint64_t capacity_bytes);

 private:
  struct Buffer {
    std::unique_ptr<uint8_t[]> bytes;
    uint64_t capacity_bytes = 0;
  };
  std::mutex mutex_;
  std::vector<Buffer> free_;  // guarded by mutex_
  uint64_t free_bytes_ = 0;   // guarded by mutex_
};

struct Frame {
  uint64_t seq = 0;
  uint64_t offset = 0;
  uint64_t size_bytes = 0;
  uint64_t generation = 0;
  std::unique_ptr<uint8_t[]> bytes;
  Version version;  // the version this frame makes durable
  // Where `bytes` goes back to when the frame is gone (null: freed).
  std::shared_ptr<FramePool> pool;
  uint64_t capacity_bytes = 0;
  // Blobs whose value bytes the flusher copies in before it checksums the frame; until
  // `moves_filled`, a reader of this frame reads such a blob at `from` (Store::read_blob).
  std::vector<BlobMove> moves;
  std::atomic<bool> moves_filled{false};

  Frame() = default;
  Frame(const Frame&) = delete;
  Frame& operator=(const Frame&) = delete;
  ~Frame() {
    if (pool && bytes) pool->give(std::move(bytes), capacity_bytes);
  }
};

// The older of the two checkpoints on disk: recovery may start there (if the newer slot is
// damaged), so nothing it needs may be deleted. seq 0 means no checkpoint protects anything.
struct CheckpointFloor {
  uint64_t seq = 0;
  uint64_t record_offset = 0;
};

struct Completion {
  uint64_t durable_seq = 0;
  Code code = Code::OK;  // when not OK, seqs in [failed_from, failed_to] were rejected
  uint64_t failed_from = 0;
  uint64_t failed_to = 0;
  std::string message;
  bool cleaner_ready = false;  // not a flusher event: the cleaner has relocations for JS to commit
};

class Flusher {
 public:
  using CompletionFn = std::function<void(const Completion&)>;
  Flusher(Log& log, Checkpoint& checkpoint, SharedState* shared, bool sync, uint64_t checkpoint_interval_commits,
          const Version& durable, CompletionFn on_complete);
  ~Flusher();
  void start();
  // Drains the queue, then stops the thread.
  void stop();
  // JS thread. Waits while the queue is over its byte bound.
  void enqueue(std::shared_ptr<Frame> frame);

  uint64_t written_seq() const { return written_seq_.load(std::memory_order_acquire); }
  uint64_t durable_seq() const { return durable_seq_.load(std::memory_order_acquire); }
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  bool poisoned() const { return poisoned_.load(std::memory_order_acquire); }
  Version durable_version();
  // Any thread: checkpoint after the next batch even if not due (the cleaner wants the
  // checkpoint floor to move past segments it is about to delete).
  void request_checkpoint();
  CheckpointFloor checkpoint_floor();
  // Before start(): what the CHECKPOINT file held at open.
  void set_checkpoints(const CheckpointSlot slots[2]);

 private:
  void run();
  // Flusher thread: returns when work is queued or requested, or when the spin and any naps
  // are over (the caller then sleeps on work_cv_).
  void poll_for_work();
  bool work_wanted() const;
  void poison();
  Status write_checkpoint(const Version& v);
  // Copies the value bytes of the frame's moved blobs in from their sources; ECORRUPT when a
  // source no longer matches its checksum (the frame is then rejected).
  Status fill_moves(Frame& frame);
  void flush_batch(std::deque<std::shared_ptr<Frame>>& batch);
  Status write_frame(const Frame& frame);
  void publish(const Version& v);
  void zero_ahead(uint64_t end_offset);
  // Idle flusher, cleaner waiting: checkpoint the durable version into both slots.
  void checkpoint_on_request();

  Log& log_;
  Checkpoint& checkpoint_;
  SharedState* shared_;
  const bool sync_;
  const uint64_t checkpoint_interval_commits_;
  CompletionFn on_complete_;

  std::mutex mutex_;
  std::condition_variable work_cv_;
  std::condition_variable space_cv_;
  std::deque<std::shared_ptr<Frame>> queue_;
  uint64_t queued_bytes_ = 0;
  std::atomic<bool> stopping_{false};  // written under mutex_; read without it while polling
  bool sleeping_ = false;  // the flusher waits on work_cv_ (guarded by mutex_)
  // Flusher thread: idle periods that outlasted the nap window count it down; naps are skipped
  // at zero (they would only cost wake-ups) until an idle period ends within the window.
  int nap_credit_ = 0;
  std::atomic<size_t> queued_count_{0};
  Version durable_version_;  // guarded by mutex_
  uint64_t checkpoint_seq_ = 0;
  uint64_t checkpoint_end_offset_ = 0;
  uint64_t previous_checkpoint_seq_ = 0;  // flusher thread: the newest checkpoint written
  uint64_t previous_checkpoint_offset_ = 0;
  std::mutex floor_mutex_;
  CheckpointFloor floor_;  // guarded by floor_mutex_
  std::atomic<bool> checkpoint_wanted_{false};
  std::set<uint64_t> unsynced_;  // sync: false: segments written since the last checkpoint
  // Flusher thread: the checksum of the newest record written, which the next frame's record
  // chains to. A rejected frame leaves it alone: what follows a rollback chains to the durable
  // version, which is the newest frame written.
  uint32_t chain_checksum_ = 0;
  std::thread thread_;

  std::atomic<uint64_t> written_seq_{0};
  std::atomic<uint64_t> durable_seq_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> poisoned_{false};
};

}  // namespace ved
