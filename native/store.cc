#include "store.h"

#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "assert.h"
#include "checksum.h"
#include "io.h"
#include "page.h"

namespace ved {

constexpr uint64_t kSharedMapBytes = 4096;
constexpr uint32_t kSnapshotCountMax = 1 << 20;
constexpr int kReaderOpenAttempts = 3;
// How often a read-only store looks for segments the writer deleted (an fstat each).
constexpr int64_t kReleaseCheckIntervalMs = 100;
// Keys the cleaner's relocations rewrite per application commit beyond its pace share (twice
// the pages it dirtied, in commit_with), while the store keeps within maxSpaceAmplification:
// none. With a floor of 64 always, a one-key commit copied up to 64 more paths and its seal
// grew with the store's backlog of garbage, not with its own size; a backlog drains in
// background steps while the application is idle (lib/store.ts).
constexpr size_t kRelocationsPerCommit = 0;
// ...and once the cleaner's pass found the file past the target: an application that always
// has a commit in flight never leaves room for background steps, and the pace share alone let
// pipelined one-key puts sit at 2.3x the target (`npx vitest run test/cleaning.test.ts -t
// 'always has a one-key put'` prints the median; 1.1-1.4x with the floor).
constexpr size_t kRelocationsPerCommitPastTarget = 64;
// compact() commits carry more: nothing else is waiting on them.
// ...and a commit never grows past this much relocated data (blobs are large).
constexpr uint64_t kRelocationBytesPerCommitMax = 64ull << 20;

Store::Store(std::string dir, const OpenOptions& options) : dir_(std::move(dir)), options_(options) {}

Store::~Store() { close(); }

Status Store::Open(const std::string& dir, const OpenOptions& options, Flusher::CompletionFn on_complete,
                   std::unique_ptr<Store>* out) {
  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<Store> store(new Store(dir, options));
  Status s = options.read_only ? store->open_reader() : store->open_writer(std::move(on_complete));
  if (!s.ok()) return s;
  store->recovery_.open_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  *out = std::move(store);
  return Status::Ok();
}

Status Store::read_header(bool* missing) {
  std::string path = dir_ + "/HEADER";
  *missing = !io::exists(path);
  if (*missing) return Status::Ok();
  int fd;
  VED_TRY(io::open_file(path, O_RDONLY, &fd));
  uint64_t size = 0;
  HeaderDisk h;
  Status s = io::file_size(fd, path, &size);
  if (s.ok() && size < sizeof(h)) s = Status::Error(Code::ENOTSTORE, "not a Ved store (short HEADER): " + dir_);
  if (s.ok()) s = io::read_exact(fd, path, &h, sizeof(h), 0);
  io::close_file(fd);
  VED_TRY(s);
  if (std::memcmp(h.magic, kHeaderMagic, sizeof(h.magic)) != 0) {
    return Status::Error(Code::ENOTSTORE, "not a Ved store (bad magic in HEADER): " + dir_);
  }
  if (crc32c(&h, offsetof(HeaderDisk, checksum)) != h.checksum) {
    return Status::Corrupt("HEADER checksum mismatch in " + dir_, -1, 0);
  }
  if (h.format_version != kFormatVersion) {
    return Status::Error(Code::EFORMAT, "store format version " + std::to_string(h.format_version) +
                                            " is not supported by this Ved (format " + std::to_string(kFormatVersion) + ")");
  }
  if (h.page_size_bytes != kPageSizeBytes) {
    return Status::Error(Code::EFORMAT, "store page size " + std::to_string(h.page_size_bytes) + " is not supported");
  }
  if (h.segment_size_bytes < kSegmentSizeBytesMin || h.segment_size_bytes % kPageSizeBytes != 0 ||
      h.segment_size_bytes > (1ull << 32)) {
    return Status::Corrupt("HEADER names an impossible segment size", -1, 16);
  }
  options_.segment_size_bytes = h.segment_size_bytes;
  std::memcpy(&creation_tag_, h.creation_id, sizeof(creation_tag_));
  return Status::Ok();
}

Status Store::create_header() {
  HeaderDisk h;
  std::memset(&h, 0, sizeof(h));
  std::memcpy(h.magic, kHeaderMagic, sizeof(h.magic));
  h.format_version = kFormatVersion;
  h.page_size_bytes = kPageSizeBytes;
  h.segment_size_bytes = options_.segment_size_bytes;
  // The store's creation id, which tells its files from another store's.
  VED_TRY(io::random_bytes(h.creation_id, sizeof(h.creation_id), dir_));
  h.checksum = crc32c(&h, offsetof(HeaderDisk, checksum));
  std::memcpy(&creation_tag_, h.creation_id, sizeof(creation_tag_));
  return io::write_new_file_durably(dir_, "HEADER", &h, sizeof(h));
}

static bool dir_has_foreign_files(const std::string& dir) {
  return io::exists(dir + "/CHECKPOINT") || io::exists(dir + "/0000000000000000.seg");
}

uint64_t Store::segment_count_max() const {
  uint64_t by_size = std::max<uint64_t>(1, options_.store_size_bytes_max / options_.segment_size_bytes);
  return std::min(by_size, kSegmentCountMax);
}

Status Store::open_writer(Flusher::CompletionFn on_complete) {
  if (!io::exists(dir_)) {
    if (!options_.create) return Status::Error(Code::ENOTSTORE, "no store at " + dir_);
    VED_TRY(io::make_dir(dir_));
  }
  VED_TRY(io::open_file(dir_ + "/LOCK", O_RDWR | O_CREAT, &lock_fd_));
  VED_TRY(io::lock_exclusive(lock_fd_, dir_));
  VED_TRY(io::set_file_size(lock_fd_, dir_ + "/LOCK", kSharedMapBytes));
  VED_TRY(io::map_shared(lock_fd_, dir_ + "/LOCK", kSharedMapBytes, true, &shared_map_));
  bool missing;
  VED_TRY(read_header(&missing));
  bool fresh = false;
  if (missing) {
    if (dir_has_foreign_files(dir_)) return Status::Error(Code::ENOTSTORE, "not a Ved store (HEADER missing): " + dir_);
    if (!options_.create) return Status::Error(Code::ENOTSTORE, "no store at " + dir_);
    VED_TRY(create_header());
    fresh = true;
  }
  VED_TRY(io::random_bytes(&writer_nonce_, sizeof(writer_nonce_), dir_));
  log_.reset(new Log(dir_, options_.segment_size_bytes, segment_count_max(), true));
  checkpoint_.reset(new Checkpoint(dir_, creation_tag_));
  VED_TRY(log_->open_segments());
  if (fresh || log_->segments_present() == 0) {
    if (!fresh) {
      // HEADER but no segment: new only if creation never got this far. A checkpoint means
      // commits existed and their segments are gone.
      CheckpointSlot slots[2];
      VED_TRY(checkpoint_->read(slots));
      if (slots[0].valid || slots[1].valid) {
        return Status::Corrupt("segment files are missing (CHECKPOINT names commit " + std::to_string(slots[0].seq) + ")", 0, 0);
      }
    }
    VED_TRY(write_initial_commit());
  }
  VED_TRY(recover());
  VED_TRY(erase_lost_tail());
  // Make sure the tail is contiguous and zeroed before anything lands there (a cut-short
  // segment), unless the store is exactly full.
  if (current_.end_offset < log_->offset_limit()) {
    VED_TRY(log_->prepare_range(current_.end_offset, kPageSizeBytes));
  }
  VED_TRY(checkpoint_->open_for_write());
  VED_TRY(make_recovered_durable());
  SharedState* shared = reinterpret_cast<SharedState*>(shared_map_);
  shared->magic = kSharedMagic;
  Flusher::CompletionFn notify = on_complete;
  flusher_.reset(new Flusher(*log_, *checkpoint_, shared, options_.sync, options_.checkpoint_interval_commits,
                             current_, std::move(on_complete)));
  flusher_->set_checkpoints(checkpoint_slots_);
  flusher_->start();
  cleaner_.reset(new Cleaner(*log_, *flusher_, options_.max_space_amplification, [notify]() {
    Completion c;
    c.cleaner_ready = true;
    notify(c);
  }));
  cleaner_->start();
  // Garbage left by an earlier life of the store is found by the first pass.
  last_wake_end_offset_ = current_.end_offset;
  cleaner_->wake(current_.seq, false);
  return Status::Ok();
}

Status Store::open_reader() {
  if (!io::exists(dir_)) return Status::Error(Code::ENOTSTORE, "no store at " + dir_);
  bool missing;
  VED_TRY(read_header(&missing));
  if (missing) return Status::Error(Code::ENOTSTORE, "not a Ved store (HEADER missing): " + dir_);
  // The writer's cleaner may delete segments between this open's directory listing and its
  // reading CHECKPOINT (both slots can move past them): then look again.
  Status s;
  for (int attempt = 0; attempt < kReaderOpenAttempts; attempt++) {
    log_.reset(new Log(dir_, options_.segment_size_bytes, segment_count_max(), false));
    checkpoint_.reset(new Checkpoint(dir_, creation_tag_));
    s = log_->open_segments();
    if (s.ok()) s = recover();
    if (s.code != Code::ECORRUPT) return s;
  }
  return s;
}

// The first commit of a new store (seq 1, no trees), written and synced before open returns,
// so that a store with no valid commit is always damage, never "not yet written".
Status Store::write_initial_commit() {
  VED_TRY(log_->prepare(0, kPageSizeBytes));
  std::unique_ptr<uint8_t[]> bytes(new uint8_t[kPageSizeBytes]);
  std::memset(bytes.get(), 0, kPageSizeBytes);
  RecordDisk* r = reinterpret_cast<RecordDisk*>(bytes.get());
  r->kind = kRecord;
  r->log_offset = 0;
  r->seq = 1;
  r->magic = kRecordMagic;
  r->body_checksum = 0;
  r->creation_tag = creation_tag_;
  r->writer_nonce = writer_nonce_;
  r->live_bytes = kPageSizeBytes;
  r->checksum = crc32c(bytes.get() + 4, kPageSizeBytes - 4);
  struct iovec iov = {bytes.get(), kPageSizeBytes};
  VED_TRY(io::write_all(log_->fd(0), log_->segment_path(0), &iov, 1, 0));
  return io::sync_data(log_->fd(0), log_->segment_path(0));
}

Status Store::load_version(const LogHead& head, Version* v) {
  const uint8_t* p = log_->map_ptr(head.record_offset, kPageSizeBytes);
  VED_ASSERT(p != nullptr);
  const RecordDisk* r = reinterpret_cast<const RecordDisk*>(p);
  *v = Version{};
  v->seq = head.seq;
  v->record_offset = head.record_offset;
  v->record_checksum = head.record_checksum;
  v->end_offset = head.end_offset;
  v->live_bytes = r->live_bytes;
  v->tree_count = r->tree_count;
  std::vector<std::string> names;
  for (uint32_t t = 0; t < r->tree_count; t++) {
    const TreeEntryDisk& e = r->trees[t];
    if (e.name_length > kTreeNameBytesMax) return corrupt_at("record names a tree with a bad name", head.record_offset);
    if (!page::plausible_root(e.root)) return corrupt_at("record names an impossible tree root", head.record_offset);
    names.emplace_back(e.name, e.name_length);
    v->trees[t].root = e.root;
    v->trees[t].entry_count = e.entry_count;
  }
  // Names only ever grow; a writer may have registered more than the record holds.
  for (size_t t = 0; t < names.size(); t++) {
    if (t < tree_names_.size()) {
      if (tree_names_[t] != names[t]) return Status::Corrupt("tree names changed between commits", -1, -1);
    } else {
      tree_names_.push_back(names[t]);
    }
  }
  return Status::Ok();
}

Status Store::recover() {
  VED_TRY(checkpoint_->read(checkpoint_slots_));
  // A read-only open listed the segments before reading CHECKPOINT: the writer may have
  // started segments since, which the checkpoint (and the log up to it) may need.
  if (options_.read_only) VED_TRY(log_->follow_segments());
  LogHead head;
  std::string why;
  bool found = false;
  Status first_failure = Status::Ok();
  for (const CheckpointSlot& slot : checkpoint_slots_) {
    if (!slot.valid) continue;
    LogHead h;
    std::string reason;
    Status s = log_->validate_frame(slot.record_offset, slot.seq - 1, std::nullopt, creation_tag_, &h, &reason);
    if (s.ok() && h.seq == slot.seq && h.record_checksum == slot.record_checksum) {
      head = h;
      found = true;
      recovery_.started_from_checkpoint = true;
      break;
    }
    if (first_failure.ok()) first_failure = s.ok() ? Status::Corrupt("checkpoint names a different commit", -1, -1) : s;
  }
  if (!found) {
    Status s = log_->validate_frame(0, 0, 0, creation_tag_, &head, &why);
    // No usable checkpoint, and the cleaner has deleted the start of the log: the oldest
    // record left is where the chain starts now.
    if (!s.ok() && first_failure.ok() && !log_->present(0)) s = find_oldest_record(&head, &why);
    if (!s.ok()) {
      if (!first_failure.ok()) return first_failure;
      return Status::Corrupt("no valid commit in the store: " + why, s.segment, s.offset);
    }
  }
  uint64_t scanned = 0, dropped = 0;
  scan_start_offset_ = head.record_offset;
  log_->scan(&head, creation_tag_, UINT64_MAX, &scanned, &recovery_.tail_reason, &dropped);
  // The log ends in something that does not validate. A torn or unsynced tail is normal; a
  // frame that a later commit's record says was durable is damage: opening before it would
  // silently lose acknowledged commits.
  if (!recovery_.tail_reason.empty()) {
    uint64_t claim_offset = 0;
    uint64_t claim = log_->durable_claim_after(head.end_offset, creation_tag_, head.seq, &claim_offset);
    if (claim > head.seq) {
      return Status::Corrupt("commit " + std::to_string(claim) + " was durable (the record at segment " +
                                 std::to_string(claim_offset / options_.segment_size_bytes) + " offset " +
                                 std::to_string(claim_offset % options_.segment_size_bytes) +
                                 " says so) but the log ends at commit " + std::to_string(head.seq) + ": " +
                                 recovery_.tail_reason,
                             static_cast<int64_t>(head.end_offset / options_.segment_size_bytes),
                             static_cast<int64_t>(head.end_offset % options_.segment_size_bytes));
    }
  }
  // A checkpoint slot is written only after its commit's fdatasync succeeded (with sync:
  // false, after syncing every segment written since the previous one). A valid slot naming
  // a commit the log no longer reaches is therefore damage to durable data, never a torn
  // tail: opening at an older commit would silently lose acknowledged commits.
  for (const CheckpointSlot& slot : checkpoint_slots_) {
    if (!slot.valid || slot.seq <= head.seq) continue;
    int64_t segment = first_failure.segment;
    int64_t offset = first_failure.offset;
    if (segment < 0) {
      segment = static_cast<int64_t>(head.end_offset / options_.segment_size_bytes);
      offset = static_cast<int64_t>(head.end_offset % options_.segment_size_bytes);
    }
    return Status::Corrupt("commit " + std::to_string(slot.seq) + " was durable (CHECKPOINT names it) but the log " +
                               "ends at commit " + std::to_string(head.seq) + ": " +
                               (first_failure.ok() ? recovery_.tail_reason : first_failure.message),
                           segment, offset);
  }
  recovery_.scanned_commits = scanned + 1;
  recovery_.dropped_bytes = dropped;
  recovery_.recovered_seq = head.seq;
  VED_TRY(load_version(head, &current_));
  next_seq_ = head.seq + 1;
  return Status::Ok();
}

// The commits recovery found past where it started may not be durable: a writer with sync:
// false, or one killed between a write and its fdatasync, leaves them in the page cache only.
// From the open on they count as durable (the checkpoint at close, the next record's
// durable_seq_at_seal, the cleaner's checkpoint floor), so they are synced first; a
// checkpoint naming a commit a power loss then took would make the store unopenable. A scan
// longer than the checkpoint interval is checkpointed here too, so the next open, even after
// this writer is killed, starts at the head.
Status Store::make_recovered_durable() {
  if (recovery_.scanned_commits <= 1) return Status::Ok();  // a checkpoint, or the synced initial commit
  uint64_t segment_size = options_.segment_size_bytes;
  for (uint64_t index = scan_start_offset_ / segment_size; index <= (current_.end_offset - 1) / segment_size; index++) {
    if (log_->present(index)) VED_TRY(io::sync_data(log_->fd(index), log_->segment_path(index)));
  }
  if (recovery_.scanned_commits <= options_.checkpoint_interval_commits) return Status::Ok();
  VED_TRY(checkpoint_->write(current_.seq, current_.record_offset, current_.record_checksum));
  return checkpoint_->read(checkpoint_slots_);
}

// A frame of a tail that recovery dropped (a crash lost some of its pages) may still start
// where the next frame will: at the head's end, or at the next segment boundary (where a
// frame that does not fit starts). It chains to the head's record, as the next commit will.
// If a later crash lost the next commit's record page, that old frame would validate in its
// place and a commit the store rolled back would come back (the power-loss soak, seed
// 20261206). Both record pages are zeroed, durably, before anything is written there.
Status Store::erase_lost_tail() {
  uint64_t segment_size = options_.segment_size_bytes;
  uint64_t end = current_.end_offset;
  uint64_t boundary = (end + segment_size - 1) / segment_size * segment_size;
  static const std::vector<uint8_t> zeros(kPageSizeBytes, 0);
  auto erase = [&](uint64_t at) -> Status {
    uint64_t index = at / segment_size;
    uint64_t within = at % segment_size;
    uint64_t valid = log_->valid_size_bytes(index);
    if (!log_->present(index) || valid <= within) return Status::Ok();
    // A torn write may have left less than a page: whatever of it exists.
    size_t n = static_cast<size_t>(std::min<uint64_t>(kPageSizeBytes, valid - within));
    const uint8_t* p = log_->map_ptr(at, n);
    if (p == nullptr || std::memcmp(p, zeros.data(), n) == 0) return Status::Ok();
    struct iovec iov = {const_cast<uint8_t*>(zeros.data()), n};
    VED_TRY(io::write_all(log_->fd(index), log_->segment_path(index), &iov, 1, within));
    return io::sync_data(log_->fd(index), log_->segment_path(index));
  };
  VED_TRY(erase(end));
  if (boundary != end) VED_TRY(erase(boundary));
  return Status::Ok();
}

// Both CHECKPOINT slots unusable (damaged) and segment 0 gone: looks for the first page of
// the oldest segments that validates as a commit record. Frames there are the oldest history
// left; following the hash chain from one reaches the head. A page-by-page search of what is
// present (a CRC per page), so only for this rare case.
Status Store::find_oldest_record(LogHead* head, std::string* why) {
  uint64_t segment_size = options_.segment_size_bytes;
  uint64_t first = log_->first_index();
  uint64_t end = first + log_->segment_count_max();
  for (uint64_t index = first; index < end; index++) {
    if (!log_->present(index)) continue;
    uint64_t valid = log_->valid_size_bytes(index);
    for (uint64_t within = 0; within + kPageSizeBytes <= valid; within += kPageSizeBytes) {
      std::string reason;
      if (log_->validate_frame(index * segment_size + within, 0, std::nullopt, creation_tag_, head, &reason).ok()) {
        return Status::Ok();
      }
    }
  }
  *why = "no commit record in any segment";
  return Status::Corrupt("no valid commit in the store", static_cast<int64_t>(first), 0);
}

// A read-only store keeps its map of a segment the writer deleted (its reads may still
// need it), which keeps the file's blocks allocated. Once every version this store reads is
// at or past both checkpoints, nothing it reads can be in a deleted segment (the writer
// deletes only segments free at a version at or before both), and the maps go.
void Store::release_deleted_segments() {
  auto now = std::chrono::steady_clock::now();
  if (now < next_release_check_) return;
  next_release_check_ = now + std::chrono::milliseconds(kReleaseCheckIntervalMs);
  std::vector<uint64_t> gone = log_->unlinked_segments();
  if (gone.empty()) return;
  CheckpointSlot slots[2];
  if (!checkpoint_->read(slots).ok() || !slots[0].valid || !slots[1].valid) return;
  uint64_t floor = std::min(slots[0].seq, slots[1].seq);
  uint64_t oldest = current_.seq;
  for (const auto& entry : snapshots_) oldest = std::min(oldest, entry.second.version.seq);
  if (oldest < floor) return;
  for (uint64_t index : gone) log_->release(log_->detach(index));
}

void Store::close() {
  if (closed_) return;
  closed_ = true;
  // The cleaner waits on the flusher: stop it first.
  if (cleaner_) cleaner_->stop();
  cleaner_.reset();
  if (flusher_) flusher_->stop();
  flusher_.reset();
  pending_.clear();
  snapshots_.clear();
  log_.reset();
  checkpoint_.reset();
  if (shared_map_ != nullptr) io::unmap(shared_map_, kSharedMapBytes);
  shared_map_ = nullptr;
  io::close_file(lock_fd_);  // releases the flock
  lock_fd_ = -1;
}

// ---- Reads -----------------------------------------------------------------------------

void Store::drop_written() {
  if (!flusher_) return;
  uint64_t written = flusher_->written_seq();
  while (!pending_.empty() && pending_.front()->seq <= written) {
    // This thread built these bytes: reading them back from the map needs no checksum pass.
    log_->mark_verified(pending_.front()->offset, pending_.front()->size_bytes);
    pending_.pop_front();
  }
}

void Store::roll_back_if_needed() {
  if (!flusher_ || flusher_->generation() == generation_) return;
  // ENOSPC (or another write failure) rejected sealed commits: continue from what is durable.
  generation_ = flusher_->generation();
  current_ = flusher_->durable_version();
  pending_.clear();
}

// The bytes [offset, offset + size) in an unwritten frame of the current read, or null.
const uint8_t* Store::unwritten(uint64_t offset, uint64_t size_bytes, const Frame** frame_out) const {
  const Frames& frames = *reading_;
  if (frames.empty() || offset < frames.front()->offset) return nullptr;
  // Binary search the unwritten frames (ascending offsets) for the one holding `offset`.
  size_t lo = 0, hi = frames.size();
  while (lo + 1 < hi) {
    size_t mid = (lo + hi) / 2;
    if (frames[mid]->offset <= offset) lo = mid; else hi = mid;
  }
  const Frame& f = *frames[lo];
  if (offset + size_bytes > f.offset + f.size_bytes) return nullptr;
  if (frame_out != nullptr) *frame_out = &f;
  return f.bytes.get() + (offset - f.offset);
}

Status Store::fetch(uint64_t offset, const uint8_t** out) {
  if (const uint8_t* p = unwritten(offset, kPageSizeBytes)) {
    *out = p;
    return Status::Ok();
  }
  return log_->fetch_verified(offset, out);
}

Status Store::read_blob(uint64_t offset, uint32_t length, uint8_t* dst) {
  const Frame* frame = nullptr;
  if (const uint8_t* p = unwritten(offset, kPageHeaderSizeBytes + uint64_t{length}, &frame)) {
    if (!frame->moves.empty() && !frame->moves_filled.load(std::memory_order_acquire)) {
      // The flusher has not copied the moved blobs in yet: this one is still where it was.
      auto it = std::lower_bound(frame->moves.begin(), frame->moves.end(), offset,
                                 [](const BlobMove& m, uint64_t at) { return m.to < at; });
      if (it != frame->moves.end() && it->to == offset) {
        // Only a damaged page names a moved blob with another length.
        if (it->length != length) return corrupt_at("blob header does not match its reference", offset);
        return read_mapped_blob(it->from, length, dst);
      }
    }
    std::memcpy(dst, p + kPageHeaderSizeBytes, length);
    return Status::Ok();
  }
  return read_mapped_blob(offset, length, dst);
}

Status Store::check_movable_blob(uint64_t offset, uint32_t length, bool checked, bool* movable) {
  uint64_t size = kPageHeaderSizeBytes + uint64_t{length};
  *movable = false;
  if (unwritten(offset, size) != nullptr) return Status::Ok();
  const uint8_t* p = log_->map_ptr(offset, size);
  if (p == nullptr) return Status::Ok();
  // Unless the cleaner's pass did it, a checksum pass over the map (no copy), so that a damaged
  // blob is left where it is rather than fail the commit at the flusher's own check.
  if (!page::blob_header_matches(p, offset, length) || (!checked && crc32c(p + 4, size - 4) != page::header(p)->checksum)) {
    return corrupt_at("blob does not match its reference or checksum", offset);
  }
  *movable = true;
  return Status::Ok();
}

Status Store::corrupt_at(const std::string& why, uint64_t offset) const {
  uint64_t segment_size = options_.segment_size_bytes;
  return Status::Corrupt(why, static_cast<int64_t>(offset / segment_size), static_cast<int64_t>(offset % segment_size));
}

Status Store::read_mapped_blob(uint64_t offset, uint32_t length, uint8_t* dst) {
  const uint8_t* h = log_->map_ptr(offset, kPageHeaderSizeBytes);
  if (h == nullptr) return corrupt_at("blob reference outside the log", offset);
  if (!page::blob_header_matches(h, offset, length)) return corrupt_at("blob header does not match its reference", offset);
  VED_TRY(log_->read(offset + kPageHeaderSizeBytes, length, dst));
  uint32_t crc = crc32c(h + 4, kPageHeaderSizeBytes - 4);
  crc = crc32c_extend(crc, dst, length);
  if (crc != page::header(h)->checksum) return corrupt_at("blob checksum mismatch", offset);
  return Status::Ok();
}

const Version* Store::view(int64_t snapshot) {
  reading_ = &pending_;
  if (snapshot < 0) return &current_;
  auto it = snapshots_.find(static_cast<uint32_t>(snapshot));
  if (it == snapshots_.end()) return nullptr;
  reading_ = &it->second.frames;
  return &it->second.version;
}

Status Store::get(int64_t snapshot, uint32_t tree, const uint8_t* key, uint32_t key_length, ValueRef* out) {
  roll_back_if_needed();
  drop_written();
  const Version* v = view(snapshot);
  if (v == nullptr) return Status::Error(Code::ECLOSED, "the snapshot is closed");
  *out = ValueRef{};
  if (tree >= v->tree_count) return Status::Ok();
  return tree_get(*this, v->trees[tree].root, key, key_length, out);
}

Status Store::read_value(const ValueRef& ref, uint8_t* dst) {
  if (!ref.blob) {
    if (ref.length > 0) std::memcpy(dst, ref.data, ref.length);
    return Status::Ok();
  }
  return read_blob(ref.blob_offset, ref.length, dst);
}

Status Store::scan(int64_t snapshot, uint32_t tree, uint32_t flags, const uint8_t* start, uint32_t start_length,
                   const uint8_t* end, uint32_t end_length, uint32_t limit, uint8_t* out, uint64_t out_capacity,
                   uint32_t* count, uint64_t* need_bytes, bool* done) {
  constexpr uint32_t kReverse = 1, kHasStart = 2, kHasEnd = 4, kKeysOnly = 8;
  const bool keys_only = flags & kKeysOnly;
  roll_back_if_needed();
  drop_written();
  *count = 0;
  *need_bytes = 0;
  *done = true;
  const Version* v = view(snapshot);
  if (v == nullptr) return Status::Error(Code::ECLOSED, "the snapshot is closed");
  if (tree >= v->tree_count || limit == 0) return Status::Ok();
  Cursor c(*this, v->trees[tree].root);
  bool reverse = flags & kReverse;
  if (!reverse) {
    if (flags & kHasStart) VED_TRY(c.seek_ge(start, start_length)); else VED_TRY(c.seek_first());
  } else {
    if (flags & kHasEnd) VED_TRY(c.seek_lt(end, end_length)); else VED_TRY(c.seek_last());
  }
  uint64_t used = 0;
  while (c.valid()) {
    const uint8_t* cell = c.cell();
    const uint8_t* k = page::leaf_key(cell);
    uint32_t k_length = page::leaf_key_length(cell);
    if (!reverse && (flags & kHasEnd) && page::compare(k, k_length, end, end_length) >= 0) break;
    if (reverse && (flags & kHasStart) && page::compare(k, k_length, start, start_length) < 0) break;
    if (*count >= limit) {
      *done = false;
      return Status::Ok();
    }
    // Keys only: the value is not read at all (a blob's pages are not touched), its length is 0.
    uint32_t v_length = keys_only ? 0 : page::leaf_value_length(cell);
    uint64_t pair_bytes = 8ull + k_length + v_length;
    if (used + pair_bytes > out_capacity) {
      if (*count == 0) *need_bytes = pair_bytes;
      *done = false;
      return Status::Ok();
    }
    page::store32(out + used, k_length);
    page::store32(out + used + 4, v_length);
    std::memcpy(out + used + 8, k, k_length);
    if (!keys_only) {
      ValueRef ref;
      ref.found = true;
      ref.length = v_length;
      if (page::leaf_flags(cell) & page::kCellBlob) {
        ref.blob = true;
        ref.blob_offset = page::leaf_blob(cell);
      } else {
        ref.data = page::leaf_value(cell);
      }
      VED_TRY(read_value(ref, out + used + 8 + k_length));
    }
    used += pair_bytes;
    (*count)++;
    if (reverse) VED_TRY(c.prev()); else VED_TRY(c.next());
  }
  return Status::Ok();
}

// ---- Trees and snapshots ---------------------------------------------------------------

Status Store::tree_id(const std::string& name, int32_t* id) {
  if (name.size() > kTreeNameBytesMax) {
    return Status::Error(Code::ETREELIMIT, "tree name longer than " + std::to_string(kTreeNameBytesMax) + " bytes");
  }
  for (size_t i = 0; i < tree_names_.size(); i++) {
    if (tree_names_[i] == name) {
      *id = static_cast<int32_t>(i);
      return Status::Ok();
    }
  }
  if (options_.read_only) {
    *id = -1;
    return Status::Ok();
  }
  if (tree_names_.size() >= kTreeCountMax) {
    return Status::Error(Code::ETREELIMIT, "a store holds at most " + std::to_string(kTreeCountMax) + " trees");
  }
  tree_names_.push_back(name);
  *id = static_cast<int32_t>(tree_names_.size() - 1);
  return Status::Ok();
}

Status Store::snapshot(uint32_t* id) {
  roll_back_if_needed();
  if (snapshots_.size() >= kSnapshotCountMax) return Status::Error(Code::EINVAL_, "too many open snapshots");
  *id = next_snapshot_id_++;
  drop_written();
  snapshots_.emplace(*id, Pinned{current_, pending_});
  return Status::Ok();
}

Status Store::snapshot_seq(uint32_t id, uint64_t* seq) {
  auto it = snapshots_.find(id);
  if (it == snapshots_.end()) return Status::Error(Code::ECLOSED, "the snapshot is closed");
  *seq = it->second.version.seq;
  return Status::Ok();
}

Status Store::snapshot_close(uint32_t id) {
  snapshots_.erase(id);
  return Status::Ok();
}

// ---- Commit ----------------------------------------------------------------------------

Status Store::commit(const uint8_t* ops, uint64_t ops_length, uint64_t* seq_out) {
  return commit_with(ops, ops_length, kRelocationsPerCommit, false, seq_out);
}

uint64_t Store::cleaning_reserve_segments() const {
  // Two segments: one a relocation commit may fill, one it may spill into.
  return log_->segment_count_max() >= 4 ? 2 : 0;
}

Status Store::commit_with(const uint8_t* ops, uint64_t ops_length, size_t relocations_max, bool cleaning,
                          uint64_t* seq_out) {
  if (options_.read_only) return Status::Error(Code::EREADONLY, "the store was opened readOnly");
  if (flusher_->poisoned()) {
    return Status::Error(Code::EIO_, "the store is poisoned by a failed fdatasync; reopen it to recover");
  }
  if (ops_length > kTxnSizeBytesMax) {
    return Status::Error(Code::ETXNSIZE, "transaction larger than " + std::to_string(kTxnSizeBytesMax) + " bytes");
  }
  roll_back_if_needed();
  drop_written();
  clean_tick();
  reading_ = &pending_;
  Version next = current_;
  next.tree_count = static_cast<uint32_t>(tree_names_.size());
  TreeWriter writer(*this, arena_);
  uint64_t at = 0;
  while (at < ops_length) {
    if (ops_length - at < 12) return Status::Error(Code::EINVAL_, "truncated operation in the ops buffer");
    uint8_t kind = ops[at];
    uint16_t tree = page::load16(ops + at + 2);
    uint32_t key_length = page::load32(ops + at + 4);
    uint32_t value_length = page::load32(ops + at + 8);
    at += 12;
    if (tree >= next.tree_count) return Status::Error(Code::EINVAL_, "unknown tree id " + std::to_string(tree));
    if (key_length == 0 || key_length > kKeySizeBytesMax) {
      return Status::Error(Code::EKEYSIZE, "key length " + std::to_string(key_length) + " is outside 1.." +
                                               std::to_string(kKeySizeBytesMax) + " bytes");
    }
    if (value_length > kValueSizeBytesMax) {
      return Status::Error(Code::EVALUESIZE, "value length " + std::to_string(value_length) + " exceeds " +
                                                 std::to_string(kValueSizeBytesMax) + " bytes");
    }
    if (ops_length - at < static_cast<uint64_t>(key_length) + value_length) {
      return Status::Error(Code::EINVAL_, "operation runs past the ops buffer");
    }
    const uint8_t* key = ops + at;
    if (kind == 1) {
      VED_TRY(writer.put(&next.trees[tree], key, key_length, key + key_length, value_length));
    } else if (kind == 2) {
      if (value_length != 0) return Status::Error(Code::EINVAL_, "a delete carries no value");
      VED_TRY(writer.del(&next.trees[tree], key, key_length));
    } else {
      return Status::Error(Code::EINVAL_, "unknown operation kind " + std::to_string(kind));
    }
    at += key_length + value_length;
  }
  // Cleaning keeps pace with writing: a commit relocates about as many pages as it wrote
  // (at 50% utilization one page moves per page written; twice that lets it catch up).
  relocations_max = std::max(relocations_max, 2 * writer.dirty_pages());
  if (!cleaning && !relocations_.empty() && relocations_past_target_) {
    relocations_max = std::max(relocations_max, kRelocationsPerCommitPastTarget);
  }
  size_t relocated = 0;
  uint64_t relocated_bytes = 0;
  for (; relocated < relocations_max && relocated < relocations_.size(); relocated++) {
    if (relocated_bytes >= kRelocationBytesPerCommitMax) break;
    const Touch& t = relocations_[relocated];
    if (t.tree >= next.tree_count) continue;
    uint64_t copied = 0;
    VED_TRY(writer.rewrite(&next.trees[t.tree], t.key.data(), static_cast<uint32_t>(t.key.size()), t.checked_blob, &copied));
    relocated_bytes += copied + kPageSizeBytes;
  }
  VED_TRY(seal(writer, next, cleaning, seq_out));
  move_record_ = false;  // any commit writes a new record at the head
  relocations_.erase(relocations_.begin(), relocations_.begin() + static_cast<std::ptrdiff_t>(relocated));
  if (cleaner_) {
    relocated_keys_ += relocated;
    // The last relocation of a pass is in: the next pass (once it is durable) finds the
    // victims empty. Otherwise wake the cleaner each quarter segment of log growth.
    bool drained = relocated > 0 && relocations_.empty();
    if (drained || current_.end_offset - last_wake_end_offset_ >= options_.segment_size_bytes / 4) {
      last_wake_end_offset_ = current_.end_offset;
      cleaner_->wake(current_.seq, false);
    }
  }
  return Status::Ok();
}

// ---- Cleaning ----------------------------------------------------------------------------

void Store::clean_tick() {
  if (!cleaner_) return;
  CleanerPass pass;
  if (cleaner_->take(&pass)) {
    // The newest pass sees the newest version: its touches replace any left from before.
    relocations_.assign(std::make_move_iterator(pass.touches.begin()), std::make_move_iterator(pass.touches.end()));
    relocations_past_target_ = pass.past_target;
    move_record_ = move_record_ || pass.move_record;
    for (uint64_t index : pass.free_segments) free_segments_.emplace(index, pass.seq);  // keeps the earliest evidence
  }
  if (!free_segments_.empty()) delete_free_segments();
}

void Store::delete_free_segments() {
  CheckpointFloor floor = flusher_->checkpoint_floor();
  uint64_t segment_size = options_.segment_size_bytes;
  uint64_t floor_segment = floor.record_offset / segment_size;
  uint64_t oldest_snapshot = UINT64_MAX;
  for (const auto& entry : snapshots_) oldest_snapshot = std::min(oldest_snapshot, entry.second.version.seq);
  std::vector<Log::Detached> gone;
  bool want_checkpoint = false;
  for (auto it = free_segments_.begin(); it != free_segments_.end();) {
    uint64_t index = it->first, free_at = it->second;
    if (!log_->present(index)) {
      it = free_segments_.erase(it);
      continue;
    }
    // Recovery may start at either checkpoint: both must be at or past the version that
    // proved the segment free, and the segment must lie before both of their records.
    bool checkpointed = floor.seq >= free_at && index < floor_segment;
    if (!checkpointed) want_checkpoint = true;
    if (checkpointed && oldest_snapshot >= free_at) {
      VED_ASSERT(index < current_.end_offset / segment_size);
      gone.push_back(log_->detach(index));
      segments_deleted_++;
      bytes_reclaimed_ += gone.back().size_bytes;
      it = free_segments_.erase(it);
    } else {
      ++it;
    }
  }
  want_checkpoint_ = want_checkpoint;
  if (want_checkpoint) flusher_->request_checkpoint();
  if (!gone.empty()) cleaner_->destroy(std::move(gone));
}

Status Store::clean_step(bool start, size_t relocations_max, CleanStep* out) {
  *out = CleanStep{};
  if (options_.read_only) return Status::Error(Code::EREADONLY, "the store was opened readOnly");
  if (closed_) return Status::Error(Code::ECLOSED, "the store is closed");
  roll_back_if_needed();
  drop_written();
  // Compaction empties what exists now; the segments it writes are not its victims.
  if (start) cleaner_->wake(current_.seq, true, current_.end_offset / options_.segment_size_bytes);
  clean_tick();
  if ((!relocations_.empty() || move_record_) && !flusher_->poisoned()) {
    VED_TRY(commit_with(nullptr, 0, relocations_max, true, &out->seq));
  } else if (want_checkpoint_ && !flusher_->poisoned()) {
    // Free segments wait for the checkpoint floor to pass them: the idle flusher writes one
    // on request (no commit needed, so this works in a full store too).
    flusher_->request_checkpoint();
    out->waiting_for_checkpoint = true;
  }
  out->busy = cleaner_->busy();
  out->relocations_left = relocations_.size();
  out->segments_waiting = free_segments_.size();
  return Status::Ok();
}

Status Store::seal(TreeWriter& writer, Version& next, bool cleaning, uint64_t* seq_out) {
  uint64_t segment_size = options_.segment_size_bytes;
  uint64_t reserve = cleaning ? 0 : cleaning_reserve_segments();
  // Where a frame of `body` bytes goes: at the log's end, or at the next segment when it
  // would cross into one; false when that is past the store's size limit.
  auto place = [&](uint64_t body, uint64_t* offset) {
    *offset = current_.end_offset;
    if (*offset % segment_size != 0 && *offset % segment_size + kPageSizeBytes + body > segment_size) {
      *offset = (*offset / segment_size + 1) * segment_size;
    }
    uint64_t last_segment = (*offset + kPageSizeBytes + body - 1) / segment_size;
    return last_segment + reserve < log_->first_index() + log_->segment_count_max();
  };
  // The body's exact size takes a walk of every dirty branch's cells; what the writer made
  // bounds it for free. The bound decides when the exact size would decide the same: the
  // frame's place and both limits are then as the exact size gives them.
  uint64_t body = writer.made_bytes();
  uint64_t offset = 0;
  bool exact = false;
  if (body > kFrameBodySizeBytesMax || !place(body, &offset) || offset != current_.end_offset) {
    exact = true;
    body = writer.body_size_bytes(next.trees, next.tree_count);
    if (body > kFrameBodySizeBytesMax) {
      return Status::Error(Code::ETXNSIZE, "the transaction would write " + std::to_string(body) +
                                               " bytes of pages, more than " + std::to_string(kFrameBodySizeBytesMax));
    }
    if (!place(body, &offset)) {
      return Status::Error(Code::ESTORESIZE, "the commit would grow the store past maxStoreSizeBytes (" +
                                                 std::to_string(options_.store_size_bytes_max) + ", of which " +
                                                 std::to_string(reserve) + " segments are kept for cleaning)");
    }
  }
  uint64_t seq = next_seq_;
  auto frame = std::make_shared<Frame>();
  frame->seq = seq;
  frame->offset = offset;
  frame->generation = generation_;
  frame->bytes = frame_pool_->take(kPageSizeBytes + body, &frame->capacity_bytes);
  frame->pool = frame_pool_;
  uint8_t* bytes = frame->bytes.get();
  uint64_t laid_out = writer.lay_out(next.trees, next.tree_count, offset + kPageSizeBytes, seq, bytes + kPageSizeBytes);
  VED_ASSERT(exact ? laid_out == body : laid_out <= body);
  body = laid_out;
  frame->moves = writer.take_moves();
  uint64_t frame_size = kPageSizeBytes + body;
  frame->size_bytes = frame_size;
  // Checksums (pages, body, record, and the chain to the previous record) are the flusher's:
  // it fills them in just before the write (checksum_frame), off this thread.
  std::memset(bytes, 0, kPageSizeBytes);
  RecordDisk* r = reinterpret_cast<RecordDisk*>(bytes);
  r->kind = kRecord;
  r->tree_count = static_cast<uint16_t>(next.tree_count);
  r->log_offset = offset;
  r->seq = seq;
  r->magic = kRecordMagic;
  r->body_size_bytes = body;
  r->creation_tag = creation_tag_;
  // With sync: false "durable" means written, which a power cut may undo: claim nothing.
  r->durable_seq_at_seal = options_.sync ? flusher_->durable_seq() : 0;
  r->writer_nonce = writer_nonce_;
  uint64_t dead = writer.superseded_bytes() + kPageSizeBytes;  // the previous record is dead now
  r->live_bytes = current_.live_bytes + frame_size > dead ? current_.live_bytes + frame_size - dead : frame_size;
  for (uint32_t t = 0; t < next.tree_count; t++) {
    TreeEntryDisk& e = r->trees[t];
    e.name_length = static_cast<uint8_t>(tree_names_[t].size());
    std::memcpy(e.name, tree_names_[t].data(), tree_names_[t].size());
    e.root = next.trees[t].root;
    e.entry_count = next.trees[t].entry_count;
  }
  next.seq = seq;
  next.record_offset = offset;
  next.record_checksum = 0;  // known once the flusher has checksummed the frame
  next.end_offset = offset + frame_size;
  next.live_bytes = r->live_bytes;
  frame->version = next;
  next_seq_ = seq + 1;
  current_ = next;
  pending_.push_back(frame);
  flusher_->enqueue(std::move(frame));
  *seq_out = seq;
  return Status::Ok();
}

// ---- Read-only follow and stats -----------------------------------------------------------

Status Store::refresh() {
  if (!options_.read_only) return Status::Ok();
  if (shared_map_ == nullptr) {
    std::string path = dir_ + "/LOCK";
    if (!io::exists(path)) return Status::Ok();
    int fd;
    VED_TRY(io::open_file(path, O_RDONLY, &fd));
    uint64_t size = 0;
    Status s = io::file_size(fd, path, &size);
    if (s.ok() && size >= kSharedMapBytes) s = io::map_shared(fd, path, kSharedMapBytes, false, &shared_map_);
    io::close_file(fd);
    VED_TRY(s);
    if (shared_map_ == nullptr) return Status::Ok();
  }
  const SharedState* shared = reinterpret_cast<const SharedState*>(shared_map_);
  uint64_t durable_seq = 0;
  for (int attempt = 0; attempt < 100; attempt++) {
    uint64_t v1 = shared_load_acquire(&shared->version);
    if (v1 & 1) continue;
    durable_seq = shared_load_relaxed(&shared->durable_seq);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (shared_load_relaxed(&shared->version) == v1) break;
  }
  if (shared->magic != kSharedMagic || durable_seq <= current_.seq) return Status::Ok();
  VED_TRY(log_->follow_segments());
  LogHead head;
  head.seq = current_.seq;
  head.record_offset = current_.record_offset;
  head.record_checksum = current_.record_checksum;
  head.end_offset = current_.end_offset;
  uint64_t scanned = 0, dropped = 0;
  std::string why;
  log_->scan(&head, creation_tag_, durable_seq, &scanned, &why, &dropped);
  if (head.seq < durable_seq) {
    // The writer's cleaner deleted segments this view would have crossed: start again from
    // the checkpoint, which always lies past every deleted segment.
    VED_TRY(log_->rediscover_segments());
    CheckpointSlot slots[2];
    VED_TRY(checkpoint_->read(slots));
    for (const CheckpointSlot& slot : slots) {
      LogHead h;
      std::string reason;
      if (!slot.valid || slot.seq <= head.seq) continue;
      if (!log_->validate_frame(slot.record_offset, slot.seq - 1, std::nullopt, creation_tag_, &h, &reason).ok()) continue;
      uint64_t more = 0;
      log_->scan(&h, creation_tag_, durable_seq, &more, &why, &dropped);
      head = h;
      scanned += more + 1;
      break;
    }
  }
  if (scanned == 0) return Status::Ok();
  Version v;
  VED_TRY(load_version(head, &v));
  current_ = v;
  release_deleted_segments();
  return Status::Ok();
}

StoreStats Store::stats() {
  // No clean_tick here: stats() changes nothing (compact() reads its "before" through it).
  roll_back_if_needed();
  drop_written();
  StoreStats s{};
  s.seq = current_.seq;
  s.durable_seq = flusher_ ? flusher_->durable_seq() : current_.seq;
  s.file_bytes = log_->file_bytes();
  s.live_bytes = current_.live_bytes;
  s.segments = log_->segments_present();
  s.segment_size_bytes = options_.segment_size_bytes;
  s.pending_commits = pending_.size();
  s.log_end_offset = current_.end_offset;
  s.poisoned = flusher_ ? flusher_->poisoned() : false;
  if (cleaner_) {
    s.cleaner = cleaner_->stats();
    s.cleaner.relocated_keys = relocated_keys_;
    s.cleaner.segments_deleted = segments_deleted_;
    s.cleaner.bytes_reclaimed = bytes_reclaimed_;
  }
  s.relocations_queued = relocations_.size();
  s.segments_waiting = free_segments_.size();
  return s;
}

// ---- Verify -------------------------------------------------------------------------------

Status Store::verify(const VerifyProgressFn& progress, VerifyReport* report) {
  if (closed_) return Status::Error(Code::ECLOSED, "the store is closed");
  // Only durable pages are in the log for certain: sealed, unwritten frames are not.
  Version v = flusher_ ? flusher_->durable_version() : current_;
  VED_ASSERT(v.record_offset != kNoPage);
  verify_version(*log_, v, progress, report);
  return Status::Ok();
}

}  // namespace ved
