#include "log.h"

#include <fcntl.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "assert.h"
#include "checksum.h"
#include "io.h"
#include "btree.h"
#include "page.h"

namespace ved {

uint32_t checksum_frame(uint8_t* frame, uint64_t frame_size_bytes, uint32_t prev_record_checksum) {
  VED_ASSERT(frame_size_bytes >= kPageSizeBytes);
  RecordDisk* r = reinterpret_cast<RecordDisk*>(frame);
  VED_ASSERT(kPageSizeBytes + r->body_size_bytes == frame_size_bytes);
  uint32_t body_crc = 0;
  for (uint64_t at = kPageSizeBytes; at < frame_size_bytes;) {
    uint8_t* p = frame + at;
    PageHeader* h = reinterpret_cast<PageHeader*>(p);
    uint64_t size = kPageSizeBytes;
    if (h->kind == kBlob) {
      size = blob_size_bytes(h->blob_length_bytes);
      h->checksum = crc32c(p + 4, kPageHeaderSizeBytes - 4 + uint64_t{h->blob_length_bytes});
    } else {
      h->checksum = crc32c(p + 4, kPageSizeBytes - 4);
    }
    VED_ASSERT(at + size <= frame_size_bytes);
    body_crc = crc32c_extend(body_crc, &h->checksum, sizeof(h->checksum));
    at += size;
  }
  r->body_checksum = body_crc;
  r->prev_record_checksum = prev_record_checksum;
  r->checksum = crc32c(frame + 4, kPageSizeBytes - 4);
  return r->checksum;
}

Log::Log(std::string dir, uint64_t segment_size_bytes, uint64_t segment_count_max, bool writable)
    : dir_(std::move(dir)),
      segment_size_bytes_(segment_size_bytes),
      segment_count_max_(segment_count_max),
      writable_(writable),
      segments_(new Segment[segment_count_max]) {
  VED_ASSERT(segment_size_bytes % kPageSizeBytes == 0);
  VED_ASSERT(segment_count_max > 0);
}

Log::~Log() {
  for (uint64_t i = 0; i < segment_count_max_; i++) {
    Segment& s = segments_[i];
    const uint8_t* base = s.base.load(std::memory_order_acquire);
    if (base != nullptr) io::unmap(base, segment_size_bytes_);
    io::close_file(s.fd);
  }
}

const Segment* Log::slot_of(uint64_t index) const {
  const Segment& s = slot(index);
  if (s.base.load(std::memory_order_acquire) == nullptr) return nullptr;
  if (s.index.load(std::memory_order_acquire) != index) return nullptr;
  return &s;
}

uint64_t Log::valid_size_bytes(uint64_t index) const {
  const Segment* s = slot_of(index);
  return s == nullptr ? 0 : s->valid_size_bytes.load(std::memory_order_acquire);
}

std::string Log::segment_path(uint64_t index) const {
  char name[32];
  std::snprintf(name, sizeof(name), "%016" PRIx64 ".seg", index);
  return dir_ + "/" + name;
}

// Maps a segment at its full size once (a map may extend past the end of the file; bytes
// there are never touched) and publishes how many bytes of it exist.
Status Log::map_segment(uint64_t index, int fd, uint64_t file_size_bytes) {
  Segment& s = slot(index);
  if (s.base.load() != nullptr) {
    // The ring is full: the oldest segment still holds this slot.
    return Status::Error(Code::ESTORESIZE, "segment " + std::to_string(index) + " does not fit beside segment " +
                                               std::to_string(s.index.load()) +
                                               " (more segments than maxStoreSizeBytes allows; open with a larger limit)");
  }
  const uint8_t* base;
  uint64_t mapped;
  VED_TRY(io::map_read_only(fd, segment_path(index), segment_size_bytes_, &base, &mapped));
  s.fd = fd;
  s.dir_synced = true;
  s.mapped_size_bytes = std::min(mapped, segment_size_bytes_);
  s.verified.assign((segment_size_bytes_ / kPageSizeBytes + 63) / 64, 0);
  uint64_t valid = std::min(file_size_bytes, s.mapped_size_bytes) / kPageSizeBytes * kPageSizeBytes;
  s.valid_size_bytes.store(valid, std::memory_order_release);
  s.index.store(index, std::memory_order_release);
  bool was_empty = present_count_.fetch_add(1) == 0;
  s.base.store(base, std::memory_order_release);
  if (index + 1 > segment_end_.load(std::memory_order_relaxed)) {
    segment_end_.store(index + 1, std::memory_order_release);
  }
  if (was_empty || index < first_index_.load(std::memory_order_relaxed)) first_index_.store(index, std::memory_order_release);
  return Status::Ok();
}

Log::Detached Log::detach(uint64_t index) {
  Segment* s = slot_of(index);
  VED_ASSERT(s != nullptr);
  Detached d;
  d.index = index;
  d.fd = s->fd;
  d.base = s->base.load();
  d.size_bytes = s->valid_size_bytes.load();
  s->base.store(nullptr, std::memory_order_release);
  s->index.store(kNoSegment, std::memory_order_release);
  s->fd = -1;
  s->valid_size_bytes.store(0, std::memory_order_release);
  present_count_.fetch_sub(1);
  // The window now starts at the next present segment (the head always is one).
  if (index == first_index_.load()) {
    uint64_t end = segment_end_.load();
    uint64_t next = index + 1;
    while (next < end && slot_of(next) == nullptr) next++;
    first_index_.store(next, std::memory_order_release);
  }
  return d;
}

void Log::release(const Detached& d) const {
  if (d.base != nullptr) io::unmap(d.base, segment_size_bytes_);
  io::close_file(d.fd);
}

std::vector<uint64_t> Log::unlinked_segments() const {
  std::vector<uint64_t> gone;
  uint64_t end = segment_end_.load(std::memory_order_acquire);
  for (uint64_t i = first_index(); i < end; i++) {
    const Segment* s = slot_of(i);
    if (s != nullptr && io::unlinked(s->fd)) gone.push_back(i);
  }
  return gone;
}

Status Log::destroy(const Detached& d) const {
  if (d.base != nullptr) io::unmap(d.base, segment_size_bytes_);
  io::close_file(d.fd);
  return io::remove_file(segment_path(d.index));
}

Status Log::open_segments() {
  std::vector<std::string> names;
  VED_TRY(io::list_dir(dir_, &names));
  std::vector<uint64_t> indexes;
  for (const std::string& entry : names) {
    const char* name = entry.c_str();
    if (std::strlen(name) != 20 || std::strcmp(name + 16, ".seg") != 0) continue;
    char* end = nullptr;
    uint64_t index = std::strtoull(name, &end, 16);
    if (end != name + 16) continue;
    indexes.push_back(index);
  }
  return map_new(indexes);
}

Status Log::map_new(std::vector<uint64_t>& indexes) {
  std::sort(indexes.begin(), indexes.end());
  if (!indexes.empty() && indexes.back() - indexes.front() >= segment_count_max_) {
    return Status::Error(Code::ESTORESIZE, "segments " + std::to_string(indexes.front()) + " to " +
                                               std::to_string(indexes.back()) +
                                               " span more than maxStoreSizeBytes allows; open with a larger limit");
  }
  for (uint64_t index : indexes) {
    if (present(index)) continue;
    int fd;
    Status o = io::open_file(segment_path(index), writable_ ? O_RDWR : O_RDONLY, &fd);
    // The writer may have deleted it since the directory was read: it was garbage.
    if (o.code == Code::ENOTSTORE) continue;
    VED_TRY(o);
    uint64_t size;
    Status s = io::file_size(fd, segment_path(index), &size);
    if (s.ok()) s = map_segment(index, fd, size);
    if (!s.ok()) {
      io::close_file(fd);
      // Windows cannot map an empty file: a read-only store caught the writer between
      // creating the file and sizing it (io_win32.cc). Nothing in it is readable yet; the next
      // follow_segments maps it.
      if (s.code == Code::ENOTSTORE && !writable_) continue;
      return s;
    }
  }
  return Status::Ok();
}

Status Log::follow_segments() {
  VED_ASSERT(!writable_);
  uint64_t end = segment_end_.load();
  // Segments grow as the writer zero-fills them: re-read the sizes of the last two.
  for (uint64_t index = end >= 2 ? end - 2 : 0; index < end; index++) {
    Segment* seg = slot_of(index);
    if (seg == nullptr || seg->valid_size_bytes.load() == segment_size_bytes_) continue;
    uint64_t size;
    VED_TRY(io::file_size(seg->fd, segment_path(index), &size));
    uint64_t valid = std::min(size, seg->mapped_size_bytes) / kPageSizeBytes * kPageSizeBytes;
    if (valid > seg->valid_size_bytes.load()) seg->valid_size_bytes.store(valid, std::memory_order_release);
  }
  std::vector<uint64_t> indexes;
  for (uint64_t index = end; io::exists(segment_path(index)); index++) indexes.push_back(index);
  return map_new(indexes);
}

Status Log::rediscover_segments() {
  VED_ASSERT(!writable_);
  return open_segments();
}

Status Log::open_for_append(uint64_t index) {
  VED_ASSERT(writable_);
  if (index >= first_index() + segment_count_max_) {
    return Status::Error(Code::ESTORESIZE, "the log would grow past maxStoreSizeBytes");
  }
  Segment& s = slot(index);
  if (slot_of(index) == nullptr) {
    int fd;
    VED_TRY(io::open_file(segment_path(index), O_RDWR | O_CREAT, &fd));
    Status st = map_segment(index, fd, 0);
    if (!st.ok()) {
      io::close_file(fd);
      return st;
    }
    s.dir_synced = false;
  }
  // The new name must be durable before any commit stored in the file is acknowledged; a
  // failed directory sync is retried by the next commit that lands here.
  if (!s.dir_synced) {
    VED_TRY(io::sync_dir(dir_));
    s.dir_synced = true;
  }
  return Status::Ok();
}

Status Log::prepare(uint64_t index, uint64_t within_end) {
  VED_ASSERT(within_end <= segment_size_bytes_);
  VED_TRY(open_for_append(index));
  Segment& s = slot(index);
  // The writer's map always covers the whole segment (on Windows its map sizes the file).
  VED_ASSERT(s.mapped_size_bytes == segment_size_bytes_);
  std::string path = segment_path(index);
  uint64_t valid = s.valid_size_bytes.load();
  if (valid >= within_end) return Status::Ok();
  // Zero whole chunks: a later small commit then overwrites written blocks, and its
  // fdatasync journals neither a size change nor an extent conversion.
  uint64_t target = std::min(segment_size_bytes_, (within_end + kZeroChunkBytes - 1) / kZeroChunkBytes * kZeroChunkBytes);
  static const std::vector<uint8_t> zeros(kZeroChunkBytes, 0);
  for (uint64_t at = valid; at < target;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), target - at));
    struct iovec iov = {const_cast<uint8_t*>(zeros.data()), n};
    VED_TRY(io::write_all(s.fd, path, &iov, 1, at));
    at += n;
  }
  // Start writeback of the zeros without waiting for it: by the time commits land there the
  // blocks are allocated and written. Waiting here (fdatasync) stalled the flusher for a
  // whole chunk write and was the p99 of small commits. Zeros need no durability of their
  // own: a commit's fdatasync covers what it relies on.
  VED_TRY(io::start_writeback(s.fd, path, valid, target - valid));
  s.valid_size_bytes.store(target, std::memory_order_release);
  return Status::Ok();
}

void Log::mark_written(uint64_t index, uint64_t within_end) {
  VED_ASSERT(within_end % kPageSizeBytes == 0);
  VED_ASSERT(within_end <= segment_size_bytes_);
  Segment& s = *slot_of(index);
  VED_ASSERT(within_end <= s.mapped_size_bytes);
  if (within_end > s.valid_size_bytes.load()) s.valid_size_bytes.store(within_end, std::memory_order_release);
}

Status Log::prepare_range(uint64_t offset, uint64_t size_bytes) {
  uint64_t end = offset + size_bytes;
  while (offset < end) {
    uint64_t index = offset / segment_size_bytes_;
    uint64_t segment_end = (index + 1) * segment_size_bytes_;
    uint64_t part_end = std::min(end, segment_end);
    VED_TRY(prepare(index, part_end - index * segment_size_bytes_));
    offset = part_end;
  }
  return Status::Ok();
}

int Log::fd(uint64_t index) const {
  const Segment* s = slot_of(index);
  VED_ASSERT(s != nullptr);
  return s->fd;
}

uint64_t Log::segments_present() const { return present_count_.load(std::memory_order_acquire); }

uint64_t Log::file_bytes() const {
  uint64_t n = 0;
  uint64_t end = segment_end_.load(std::memory_order_acquire);
  for (uint64_t i = first_index(); i < end; i++) n += valid_size_bytes(i);
  return n;
}

const uint8_t* Log::map_ptr(uint64_t offset, uint64_t size_bytes) const {
  uint64_t index = offset / segment_size_bytes_;
  uint64_t within = offset % segment_size_bytes_;
  const Segment* s = slot_of(index);
  if (s == nullptr) return nullptr;
  const uint8_t* base = s->base.load(std::memory_order_acquire);
  if (base == nullptr) return nullptr;
  uint64_t valid = s->valid_size_bytes.load(std::memory_order_acquire);
  if (within > valid || size_bytes > valid - within) return nullptr;
  return base + within;
}

void Log::touch(uint64_t offset, uint64_t size_bytes) const {
  while (size_bytes > 0) {
    uint64_t n = std::min(size_bytes, segment_size_bytes_ - offset % segment_size_bytes_);
    if (const uint8_t* p = map_ptr(offset, n)) io::touch_map(p, n);
    offset += n;
    size_bytes -= n;
  }
}

// Calls fn(bytes, n) for each piece of [offset, offset + size) in turn: a range may cross
// segment boundaries (blobs do). ECORRUPT when any piece is not present.
template <typename Fn>
Status Log::for_each_piece(uint64_t offset, uint64_t size_bytes, Fn fn) const {
  while (size_bytes > 0) {
    uint64_t within = offset % segment_size_bytes_;
    uint64_t n = std::min(size_bytes, segment_size_bytes_ - within);
    const uint8_t* src = map_ptr(offset, n);
    if (src == nullptr) {
      return Status::Corrupt("log bytes missing (segment absent or cut short)",
                             static_cast<int64_t>(offset / segment_size_bytes_), static_cast<int64_t>(within));
    }
    fn(src, n);
    offset += n;
    size_bytes -= n;
  }
  return Status::Ok();
}

Status Log::read(uint64_t offset, uint64_t size_bytes, uint8_t* dst) const {
  return for_each_piece(offset, size_bytes, [&](const uint8_t* src, uint64_t n) {
    std::memcpy(dst, src, n);
    dst += n;
  });
}

Status Log::checksum(uint64_t offset, uint64_t size_bytes, uint32_t* crc_out) const {
  uint32_t crc = 0;
  VED_TRY(for_each_piece(offset, size_bytes, [&](const uint8_t* src, uint64_t n) { crc = crc32c_extend(crc, src, n); }));
  *crc_out = crc;
  return Status::Ok();
}

void Log::mark_verified(uint64_t offset, uint64_t size_bytes) {
  VED_ASSERT(offset % kPageSizeBytes == 0);
  for (uint64_t at = offset; at < offset + size_bytes; at += kPageSizeBytes) {
    Segment* s = slot_of(at / segment_size_bytes_);
    if (s == nullptr) continue;
    uint64_t bit = (at % segment_size_bytes_) / kPageSizeBytes;
    s->verified[bit / 64] |= 1ull << (bit % 64);
  }
}

Status Log::fetch_verified(uint64_t offset, const uint8_t** out) {
  uint64_t index = offset / segment_size_bytes_;
  uint64_t within = offset % segment_size_bytes_;
  const uint8_t* p = map_ptr(offset, kPageSizeBytes);
  if (p == nullptr || within % kPageSizeBytes != 0) {
    return Status::Corrupt("page reference outside the log", static_cast<int64_t>(index), static_cast<int64_t>(within));
  }
  Segment& s = *slot_of(index);
  uint64_t bit = within / kPageSizeBytes;
  uint64_t& word = s.verified[bit / 64];
  uint64_t mask = 1ull << (bit % 64);
  if (!(word & mask)) {
    const PageHeader* h = page::header(p);
    if (crc32c(p + 4, kPageSizeBytes - 4) != h->checksum) {
      return Status::Corrupt("page checksum mismatch", static_cast<int64_t>(index), static_cast<int64_t>(within));
    }
    if (h->log_offset != offset || !page::well_formed(p)) {
      return Status::Corrupt("page is not the tree page it should be", static_cast<int64_t>(index),
                             static_cast<int64_t>(within));
    }
    word |= mask;
  }
  *out = p;
  return Status::Ok();
}

Status Log::validate_frame(uint64_t offset, uint64_t seq_after, std::optional<uint32_t> expect_prev, uint64_t creation_tag,
                           LogHead* head, std::string* why) const {
  auto fail = [&](const char* reason, uint64_t at) {
    *why = std::string(reason) + " at segment " + std::to_string(at / segment_size_bytes_) + " offset " +
           std::to_string(at % segment_size_bytes_);
    return Status::Corrupt(reason, static_cast<int64_t>(at / segment_size_bytes_),
                           static_cast<int64_t>(at % segment_size_bytes_));
  };
  const uint8_t* p = map_ptr(offset, kPageSizeBytes);
  if (p == nullptr) return fail("no record (end of the mapped log)", offset);
  const RecordDisk* r = reinterpret_cast<const RecordDisk*>(p);
  if (crc32c(p + 4, kPageSizeBytes - 4) != r->checksum) return fail("record checksum mismatch", offset);
  if (r->kind != kRecord || r->magic != kRecordMagic) return fail("not a commit record", offset);
  if (r->log_offset != offset) return fail("record at the wrong offset", offset);
  if (r->creation_tag != creation_tag) return fail("record of another store", offset);
  if (r->seq <= seq_after) return fail("record out of sequence", offset);
  if (expect_prev && r->prev_record_checksum != *expect_prev) return fail("record does not chain to its predecessor", offset);
  if (r->tree_count > kTreeCountMax) return fail("record names too many trees", offset);
  if (r->body_size_bytes % kPageSizeBytes != 0 || r->body_size_bytes > kFrameBodySizeBytesMax) {
    return fail("record has an impossible body size", offset);
  }
  // The body checksum is the CRC32C of the body's page and blob checksums in order; each of
  // those is checked against its bytes here, so a torn or partly written body never passes.
  uint64_t at = offset + kPageSizeBytes;
  uint64_t end = at + r->body_size_bytes;
  uint32_t body_crc = 0;
  while (at < end) {
    const uint8_t* h = map_ptr(at, kPageHeaderSizeBytes);
    if (h == nullptr) return fail("frame body cut short", at);
    const PageHeader* ph = page::header(h);
    uint64_t size = kPageSizeBytes;
    uint32_t crc;
    if (ph->kind == kBlob) {
      if (ph->blob_length_bytes > kValueSizeBytesMax) return fail("blob with an impossible length", at);
      size = blob_size_bytes(ph->blob_length_bytes);
      if (size > end - at) return fail("blob runs past its frame", at);
      if (!checksum(at + 4, kPageHeaderSizeBytes - 4 + ph->blob_length_bytes, &crc).ok()) {
        return fail("frame body cut short", at);
      }
    } else {
      const uint8_t* full = map_ptr(at, kPageSizeBytes);
      if (full == nullptr) return fail("frame body cut short", at);
      crc = crc32c(full + 4, kPageSizeBytes - 4);
    }
    if (crc != ph->checksum || ph->log_offset != at || ph->seq != r->seq) return fail("torn or damaged page in frame body", at);
    body_crc = crc32c_extend(body_crc, &crc, sizeof(crc));
    at += size;
  }
  if (body_crc != r->body_checksum) return fail("frame body checksum mismatch", offset);
  head->seq = r->seq;
  head->record_offset = offset;
  head->record_checksum = r->checksum;
  head->end_offset = end;
  return Status::Ok();
}

// How far past a log end recovery looks for a record claiming a lost frame was durable: a
// few group-commit batches. A record further on (behind a huge frame) goes unseen.
constexpr uint64_t kClaimLookBytes = 8ull << 20;

uint64_t Log::durable_claim_after(uint64_t from, uint64_t creation_tag, uint64_t seq_after, uint64_t* where) const {
  uint64_t best = 0;
  uint64_t start = from / kPageSizeBytes * kPageSizeBytes;
  for (uint64_t at = start; at < start + kClaimLookBytes; at += kPageSizeBytes) {
    const uint8_t* p = map_ptr(at, kPageSizeBytes);
    if (p == nullptr) {
      // Past this segment's bytes: go on at the next segment, if present.
      at = (at / segment_size_bytes_ + 1) * segment_size_bytes_ - kPageSizeBytes;
      continue;
    }
    const RecordDisk* r = reinterpret_cast<const RecordDisk*>(p);
    if (r->kind != kRecord || r->magic != kRecordMagic || r->log_offset != at || r->creation_tag != creation_tag) continue;
    if (r->seq <= seq_after || r->durable_seq_at_seal <= best) continue;
    if (crc32c(p + 4, kPageSizeBytes - 4) != r->checksum) continue;
    best = r->durable_seq_at_seal;
    *where = at;
  }
  return best;
}

void Log::scan(LogHead* head, uint64_t creation_tag, uint64_t seq_max, uint64_t* scanned, std::string* why,
               uint64_t* dropped_bytes) const {
  *scanned = 0;
  *dropped_bytes = 0;
  while (head->seq < seq_max) {
    LogHead next;
    std::string reason, reason2;
    uint64_t at = head->end_offset;
    Status s = validate_frame(at, head->seq, head->record_checksum, creation_tag, &next, &reason);
    if (!s.ok() && at % segment_size_bytes_ != 0) {
      // A frame that did not fit in the rest of a segment starts at the next boundary.
      uint64_t boundary = (at / segment_size_bytes_ + 1) * segment_size_bytes_;
      s = validate_frame(boundary, head->seq, head->record_checksum, creation_tag, &next, &reason2);
    }
    if (!s.ok()) {
      // A record at the boundary whose own checksum holds but that fails otherwise (torn
      // body, broken chain) says more than whatever lies at the old end.
      bool boundary_record = !reason2.empty() && reason2.rfind("record checksum mismatch", 0) != 0 &&
                             reason2.rfind("no record", 0) != 0;
      *why = boundary_record ? reason2 : reason;
      if (boundary_record) at = (at / segment_size_bytes_ + 1) * segment_size_bytes_;
      // Report how far past the end bytes look written (bounded look: 1 MiB of what exists).
      uint64_t index = at / segment_size_bytes_;
      uint64_t within = at % segment_size_bytes_;
      uint64_t valid = valid_size_bytes(index);
      uint64_t look = valid > within ? std::min<uint64_t>(1 << 20, valid - within) : 0;
      const uint8_t* p = look > 0 ? map_ptr(at, look) : nullptr;
      if (p != nullptr) {
        for (uint64_t i = look; i > 0; i--) {
          if (p[i - 1] != 0) {
            *dropped_bytes = i;
            break;
          }
        }
      }
      // Nothing but zeros (or no bytes at all) past the end: the normal end of the log.
      if (*dropped_bytes == 0) why->clear();
      return;
    }
    *head = next;
    (*scanned)++;
  }
  why->clear();
}

}  // namespace ved
