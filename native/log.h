// The log: fixed-size segment files in order, addressed by log offset
// (segment index * segment size + offset in segment), plus the recovery scan.
//
// Log offsets only grow; the cleaner deletes old segments behind the head. The segment table
// is a ring of segment_count_max slots (slot = index % count): the window from the oldest
// present segment to the head must fit in it, which is what bounds the store's size. A slot
// names the index it holds, so a stale offset never reads another segment's bytes.
//
// Threads: the flusher creates segments (create, zero-fill, fdatasync, directory fsync, map)
// and only then publishes the mapping with a release store; the JS thread reads mappings
// with acquire loads, and the flusher reads back the pages it has just written (touch). A
// segment stays mapped until detach() takes it out of the table (only segments behind the
// checkpoint, which no frame in flight reaches) or the store closes. Bytes are read through
// the map only after checking them against the mapped size: a truncated file must give
// ECORRUPT, never SIGBUS.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "format.h"
#include "status.h"

namespace ved {

constexpr uint64_t kNoSegment = UINT64_MAX;

struct Segment {
  std::atomic<uint64_t> index{kNoSegment};       // which segment this slot holds
  std::atomic<const uint8_t*> base{nullptr};     // the whole segment's map, set once
  std::atomic<uint64_t> valid_size_bytes{0};     // bytes of the file that exist; only grows
  // Bytes of the map that may be read, set once before base is published: the whole segment,
  // except on Windows for a file shorter than that when mapped (io::map_read_only), so
  // valid_size_bytes never grows past what the map covers.
  uint64_t mapped_size_bytes = 0;
  int fd = -1;
  bool dir_synced = true;  // writer only: false until a new file's name is durable
  std::vector<uint64_t> verified;  // JS thread only: one bit per page checked once
};

// What recovery found at the head of the log.
struct LogHead {
  uint64_t seq = 0;
  uint64_t record_offset = kNoPage;
  uint32_t record_checksum = 0;
  uint64_t end_offset = 0;  // where the next frame may start
};

// Segments grow in chunks of this size ahead of the log's end: small enough that growing
// one never stalls the flusher for long, large enough that its sync is rare.
constexpr uint64_t kZeroChunkBytes = 4ull << 20;

// Fills in every checksum of a frame laid out in `frame` (its record page first, then the
// body's pages and blobs in order): each page's and blob's, the body's, and the record's,
// chained to `prev_record_checksum`. Returns the record's checksum. The flusher runs it just
// before the write, so the execution thread's seal pays for no checksum (docs/design.md,
// "Checksums on the flusher").
uint32_t checksum_frame(uint8_t* frame, uint64_t frame_size_bytes, uint32_t prev_record_checksum);

class Log {
 public:
  Log(std::string dir, uint64_t segment_size_bytes, uint64_t segment_count_max, bool writable);
  ~Log();

  uint64_t segment_size_bytes() const { return segment_size_bytes_; }
  uint64_t segment_count_max() const { return segment_count_max_; }
  // The oldest segment present (the ring's window starts there).
  uint64_t first_index() const { return first_index_.load(std::memory_order_acquire); }
  // One past the last log offset the ring can hold without evicting the oldest segment.
  uint64_t offset_limit() const { return (first_index() + segment_count_max_) * segment_size_bytes_; }
  bool present(uint64_t index) const { return slot_of(index) != nullptr; }
  std::string segment_path(uint64_t index) const;

  // Maps every segment file present. A short file (one the writer is still growing, or one
  // cut short by damage) is valid up to its size; anything past that reads as missing.
  Status open_segments();
  // Writer: makes bytes [0, within_end) of segment `index` exist, zero-filled (in whole
  // chunks) and durable, creating the file (and syncing the directory) when needed. Bytes
  // already present are never rewritten.
  Status prepare(uint64_t index, uint64_t within_end);
  // Writer: creates and maps segment `index` if needed (syncing the directory), without
  // zero-filling: the caller writes bytes itself, contiguous with what exists, then calls
  // mark_written. Large frames go this way: zeroing first would write them twice.
  Status open_for_append(uint64_t index);
  void mark_written(uint64_t index, uint64_t within_end);
  Status prepare_range(uint64_t offset, uint64_t size_bytes);
  // Read-only opens: picks up segments that appeared and growth of the last ones.
  Status follow_segments();
  // Read-only opens: maps every segment now in the directory (after the writer deleted
  // segments that following would have crossed).
  Status rediscover_segments();
  int fd(uint64_t index) const;
  uint64_t valid_size_bytes(uint64_t index) const;
  uint64_t segments_present() const;
  uint64_t file_bytes() const;
  // JS thread: takes a segment out of the table (no read can reach it afterwards) and hands
  // back what deleting (writer) or releasing (reader) it needs. The caller guarantees
  // nothing it reads references it.
  struct Detached {
    uint64_t index = kNoSegment;
    int fd = -1;
    const uint8_t* base = nullptr;
    uint64_t size_bytes = 0;  // file bytes it held
  };
  Detached detach(uint64_t index);
  // Any thread: unmaps, closes and unlinks a detached segment.
  Status destroy(const Detached& d) const;
  // Read-only stores: unmaps and closes a detached segment the writer deleted.
  void release(const Detached& d) const;
  // Read-only stores: mapped segments whose file the writer has deleted.
  std::vector<uint64_t> unlinked_segments() const;

  // A pointer to [offset, offset + size) if it lies inside one mapped segment, else null.
  const uint8_t* map_ptr(uint64_t offset, uint64_t size_bytes) const;
  // Reads a byte of every page of [offset, offset + size) through the map (pieces not mapped,
  // or past the bytes the file holds, are skipped), so that the first read of those pages is
  // the caller's (the flusher's), not the JS thread's seal.
  void touch(uint64_t offset, uint64_t size_bytes) const;
  // Copies bytes that may cross segments; ECORRUPT when any part is not mapped.
  Status read(uint64_t offset, uint64_t size_bytes, uint8_t* dst) const;
  // CRC32C over bytes that may cross segments.
  Status checksum(uint64_t offset, uint64_t size_bytes, uint32_t* crc_out) const;
  // JS thread: checks a tree page's checksum, kind and own offset the first time it is read.
  Status fetch_verified(uint64_t offset, const uint8_t** out);
  // JS thread: pages this process sealed itself and has written need no verification.
  void mark_verified(uint64_t offset, uint64_t size_bytes);

  // Validates the frame whose record is at `offset`: record checksum, offset, seq > seq_after, chain,
  // creation tag and body checksum. On success fills *head with its end.
  // `expect_prev` is the predecessor's record checksum; none skips the chain check (a
  // checkpoint names a record, not its predecessor).
  Status validate_frame(uint64_t offset, uint64_t seq_after, std::optional<uint32_t> expect_prev, uint64_t creation_tag,
                        LogHead* head, std::string* why) const;
  // From `from` (a validated head), follows the chain as far as it validates, stopping at
  // seq `seq_max`. Reports why it stopped and how many bytes past the end look written.
  void scan(LogHead* head, uint64_t creation_tag, uint64_t seq_max, uint64_t* scanned, std::string* why,
            uint64_t* dropped_bytes) const;
  // Past a log end at `from`: the highest durable_seq_at_seal of a valid record (own checksum,
  // kind, offset, creation tag, seq > seq_after) within a bounded window, 0 if none; where it
  // is in *where.
  uint64_t durable_claim_after(uint64_t from, uint64_t creation_tag, uint64_t seq_after, uint64_t* where) const;

 private:
  Status map_segment(uint64_t index, int fd, uint64_t size_bytes);
  Status map_new(std::vector<uint64_t>& indexes);
  Segment& slot(uint64_t index) const { return segments_[index % segment_count_max_]; }
  // The slot holding `index`, or null when that segment is not present.
  const Segment* slot_of(uint64_t index) const;
  Segment* slot_of(uint64_t index) { return const_cast<Segment*>(static_cast<const Log*>(this)->slot_of(index)); }
  template <typename Fn>
  Status for_each_piece(uint64_t offset, uint64_t size_bytes, Fn fn) const;

  std::string dir_;
  uint64_t segment_size_bytes_;
  uint64_t segment_count_max_;
  bool writable_;
  std::unique_ptr<Segment[]> segments_;
  std::atomic<uint64_t> segment_end_{0};  // one past the highest mapped index
  std::atomic<uint64_t> first_index_{0};
  std::atomic<uint64_t> present_count_{0};  // segments mapped  // the lowest present index (segment_end_ when none)
};

}  // namespace ved
