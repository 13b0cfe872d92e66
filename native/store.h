// A store: one directory, one engine instance. Owns the lock, the log, the checkpoint, the
// flusher and the JS thread's view of versions.
//
// Threads: every public method runs on the JS thread that opened the store (the binding
// guarantees it). The flusher thread touches only Log segment creation, the queue and its
// own atomics. A version sealed by commit() is readable at once (its pages are served from
// the pending frame until the flusher has written them, then from the map).
//
// Lifecycle: open (lock, header, recovery) -> commits and reads -> close (drain, unlock).
#pragma once
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "btree.h"
#include "checkpoint.h"
#include "cleaner.h"
#include "flusher.h"
#include "log.h"
#include "status.h"
#include "verify.h"
#include "version.h"

namespace ved {

struct OpenOptions {
  bool read_only = false;
  bool sync = true;
  bool create = true;
  uint64_t segment_size_bytes = 64ull << 20;
  uint64_t store_size_bytes_max = 1ull << 40;
  uint64_t checkpoint_interval_commits = 1024;
  // Clean when file bytes exceed this multiple of live bytes plus one segment; 0 turns
  // background cleaning off (compact() still cleans).
  double max_space_amplification = 2.0;
};

// What compact() (one cleaning step at a time) reports back.
struct CleanStep {
  uint64_t seq = 0;            // the commit that carried relocations (0: none made)
  bool busy = false;           // a pass is still running
  uint64_t relocations_left = 0;
  uint64_t segments_waiting = 0;  // free, waiting for a checkpoint or a snapshot
  bool waiting_for_checkpoint = false;  // the flusher was asked for one; ask again shortly
};

struct RecoveryReport {
  uint64_t recovered_seq = 0;
  uint64_t scanned_commits = 0;
  bool started_from_checkpoint = false;
  uint64_t dropped_bytes = 0;
  std::string tail_reason;
  double open_ms = 0;
};

struct StoreStats {
  uint64_t seq, durable_seq, file_bytes, live_bytes, segments, segment_size_bytes, pending_commits, log_end_offset;
  bool poisoned;
  CleanerStats cleaner;
  uint64_t relocations_queued, segments_waiting;
};

class Store final : public PageSource {
 public:
  static Status Open(const std::string& dir, const OpenOptions& options, Flusher::CompletionFn on_complete,
                     std::unique_ptr<Store>* out);
  ~Store() override;

  // Commits the encoded ops (format in lib/native.ts) and returns the new seq.
  Status commit(const uint8_t* ops, uint64_t ops_length, uint64_t* seq_out);
  Status get(int64_t snapshot, uint32_t tree, const uint8_t* key, uint32_t key_length, ValueRef* out);
  Status read_value(const ValueRef& ref, uint8_t* dst);
  // Fills `out` with up to `limit` pairs of [start, end) (flags per lib/native.ts) that fit in
  // `out_capacity` bytes. `need_bytes` > 0 when even the first pair does not fit. With the
  // keys-only flag no value is read (a blob value's pages are not touched).
  Status scan(int64_t snapshot, uint32_t tree, uint32_t flags, const uint8_t* start, uint32_t start_length,
              const uint8_t* end, uint32_t end_length, uint32_t limit, uint8_t* out, uint64_t out_capacity,
              uint32_t* count, uint64_t* need_bytes, bool* done);
  // Tree id for a name; registers it on writable stores. -1 when absent (read-only).
  Status tree_id(const std::string& name, int32_t* id);
  Status snapshot(uint32_t* id);
  Status snapshot_seq(uint32_t id, uint64_t* seq);
  Status snapshot_close(uint32_t id);
  Status refresh();
  StoreStats stats();
  // One step of compaction: asks for a forced pass, applies what a finished pass found
  // (commits relocations, deletes free segments) and says what is left.
  Status clean_step(bool start, size_t relocations_max, CleanStep* out);
  // Verifies the newest durable version (writers) or the open version (read-only stores):
  // see verify.h. Findings go into the report; the status is an error only when the store
  // cannot be verified at all (closed).
  Status verify(const VerifyProgressFn& progress, VerifyReport* report);
  const RecoveryReport& recovery() const { return recovery_; }
  void close();

  Status fetch(uint64_t offset, const uint8_t** out) override;
  Status read_blob(uint64_t offset, uint32_t length, uint8_t* dst) override;
  Status check_movable_blob(uint64_t offset, uint32_t length, bool checked, bool* movable) override;

 private:
  Store(std::string dir, const OpenOptions& options);
  uint64_t segment_count_max() const;
  Status open_writer(Flusher::CompletionFn on_complete);
  Status open_reader();
  Status read_header(bool* missing);
  Status create_header();
  Status recover();
  Status load_version(const LogHead& head, Version* v);
  Status seal(TreeWriter& writer, Version& next, bool cleaning, uint64_t* seq_out);
  Status write_initial_commit();
  Status make_recovered_durable();
  Status erase_lost_tail();
  void drop_written();
  const uint8_t* unwritten(uint64_t offset, uint64_t size_bytes, const Frame** frame_out = nullptr) const;
  // ECORRUPT naming the segment and offset of log offset `offset`.
  Status corrupt_at(const std::string& why, uint64_t offset) const;
  // A blob read through the map, checked against its header and checksum.
  Status read_mapped_blob(uint64_t offset, uint32_t length, uint8_t* dst);
  void roll_back_if_needed();
  Status find_oldest_record(LogHead* head, std::string* why);
  void release_deleted_segments();
  // JS thread: picks up the cleaner's finished pass and deletes segments now safe to delete.
  void clean_tick();
  void delete_free_segments();
  Status apply_relocations(TreeWriter& writer, Version& next, size_t* applied);
  // `cleaning`: a commit of the cleaner's own, which may use the segments held in reserve.
  Status commit_with(const uint8_t* ops, uint64_t ops_length, size_t relocations_max, bool cleaning, uint64_t* seq_out);
  // Segments of the ring kept free of application commits, so cleaning can always move data.
  uint64_t cleaning_reserve_segments() const;
  // Selects the version (and its unwritten frames) a read uses; null when closed.
  const Version* view(int64_t snapshot);

  std::string dir_;
  OpenOptions options_;
  uint64_t creation_tag_ = 0;
  uint64_t writer_nonce_ = 0;  // RecordDisk::writer_nonce of every record this writer seals
  int lock_fd_ = -1;
  uint8_t* shared_map_ = nullptr;
  std::unique_ptr<Log> log_;
  std::unique_ptr<Checkpoint> checkpoint_;
  std::unique_ptr<Flusher> flusher_;
  std::shared_ptr<FramePool> frame_pool_ = std::make_shared<FramePool>();
  PageArena arena_;  // the dirty pages of the transaction being sealed
  std::unique_ptr<Cleaner> cleaner_;
  CheckpointSlot checkpoint_slots_[2];
  std::deque<Touch> relocations_;          // from the last pass; bounded by its budget
  bool relocations_past_target_ = false;    // the pass that found them saw the file past the target
  std::map<uint64_t, uint64_t> free_segments_;  // segment -> seq at which a walk found it free
  uint64_t last_wake_end_offset_ = 0;
  uint64_t relocated_keys_ = 0;
  uint64_t segments_deleted_ = 0;  // detached for deletion (the unlink follows on the cleaner thread)
  uint64_t bytes_reclaimed_ = 0;
  bool want_checkpoint_ = false;
  bool move_record_ = false;  // a victim holds the newest record: commit, even empty
  std::chrono::steady_clock::time_point next_release_check_{};  // read-only stores  // free segments wait only for the checkpoint floor
  std::vector<std::string> tree_names_;
  Version current_;
  uint64_t next_seq_ = 1;         // seqs are never reused, even after a rollback
  uint64_t generation_ = 0;       // the flusher generation this thread seals for
  using Frames = std::deque<std::shared_ptr<Frame>>;
  // A pinned version and the frames that were unwritten when it was pinned: if a rollback
  // (ENOSPC) rejects them and their log space is reused, the snapshot still reads them.
  struct Pinned {
    Version version;
    Frames frames;
  };
  Frames pending_;  // sealed, not yet written; ascending offsets
  uint64_t scan_start_offset_ = 0;  // the record recovery's scan started from
  const Frames* reading_ = &pending_;  // the frames the current read consults first
  std::unordered_map<uint32_t, Pinned> snapshots_;
  uint32_t next_snapshot_id_ = 1;
  RecoveryReport recovery_;
  bool closed_ = false;
};

}  // namespace ved
