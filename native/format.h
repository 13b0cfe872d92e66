// On-disk format of a Ved store. Everything little-endian, every reserved byte zero, every
// size pinned by static_assert. docs/format.md describes the same layout for humans.
//
// A store is a directory:
//   HEADER          64 bytes, written once at creation: magic, format version, page size,
//                   segment size, creation id, checksum.
//   LOCK            flock()ed by the single writer; also holds the shared durable watermark
//                   that read-only opens poll (SharedState).
//   CHECKPOINT      two 4 KiB slots written alternately; each points at a durable commit
//                   record so that recovery's scan is bounded. Never the truth, a shortcut.
//   <16 hex>.seg    fixed-size segment files of the log. Log offset L lives in segment
//                   L / segment_size_bytes at offset L % segment_size_bytes.
//
// The log is a sequence of frames, one per commit:
//   frame  := record page | body
//   body   := (tree page | blob)*           pages the commit wrote, children before parents
//   blob   := blob header | value bytes     padded to whole pages, may cross segments
// A frame starts at the end of the previous frame, or at the next segment boundary when it
// does not fit in what is left of the segment. A record is valid only if its checksum, its
// own offset, its sequence (previous + 1), the previous record's checksum (a hash chain that
// stops stale frames of an earlier life of the log from being resurrected) and the checksum
// of its whole body all match.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ved {

constexpr uint32_t kFormatVersion = 1;
constexpr uint32_t kPageSizeBytes = 4096;  // one sector-aligned unit of tearing
constexpr char kHeaderMagic[8] = {'V', 'E', 'D', 'S', 'T', 'O', 'R', 'E'};
constexpr uint32_t kRecordMagic = 0x43444556;      // "VEDC"
constexpr uint32_t kCheckpointMagic = 0x50434556;  // "VECP"
constexpr uint32_t kSharedMagic = 0x53444556;      // "VEDS"
constexpr uint64_t kNoPage = UINT64_MAX;

// Limits. Each page must hold at least three of the largest cells so that splitting an
// overfull page always yields two pages that fit.
constexpr uint32_t kKeySizeBytesMax = 1024;
constexpr uint32_t kInlineCellBytesMax = 1280;               // key + inline value
constexpr uint64_t kValueSizeBytesMax = 64ull << 20;         // 64 MiB
constexpr uint64_t kTxnSizeBytesMax = 256ull << 20;          // encoded ops of one commit
// What a commit may write (pages it copies, blobs): checked when sealing and by recovery,
// with the same constant, so a commit that was acknowledged always validates.
constexpr uint64_t kFrameBodySizeBytesMax = 1ull << 30;
// Segments a store may have: bounds the segment table (48 bytes each) allocated at open.
// The store size limit is the smaller of maxStoreSizeBytes and this many segments.
constexpr uint64_t kSegmentCountMax = 1ull << 16;
constexpr uint64_t kSegmentSizeBytesMin = 64ull << 10;
constexpr uint32_t kTreeCountMax = 64;
constexpr uint32_t kTreeNameBytesMax = 31;
constexpr uint32_t kTreeDepthMax = 32;

enum PageKind : uint8_t { kLeaf = 1, kBranch = 2, kBlob = 3, kRecord = 4 };

// HEADER file.
struct HeaderDisk {
  char magic[8];
  uint32_t format_version;
  uint32_t page_size_bytes;
  uint64_t segment_size_bytes;
  uint8_t creation_id[16];
  uint32_t checksum;  // crc32c of bytes [0, 40)
  uint8_t reserved[20];
};
static_assert(sizeof(HeaderDisk) == 64, "header size");
static_assert(offsetof(HeaderDisk, checksum) == 40, "header checksum offset");

// First 32 bytes of every tree page and blob.
struct PageHeader {
  uint32_t checksum;    // crc32c of [4, page end) (blob: [4, 32 + length_bytes))
  uint8_t kind;         // PageKind
  uint8_t reserved0;
  uint16_t count;       // cells (tree pages); 0 for blobs
  uint64_t log_offset;  // where this page lives: catches misdirected writes and reads
  uint64_t seq;         // the commit that wrote it
  uint16_t upper;       // tree pages: start of the cell area (cells grow down from the end)
  uint16_t reserved1;
  uint32_t blob_length_bytes;  // blobs: the value length (at most kValueSizeBytesMax)
};
static_assert(sizeof(PageHeader) == 32, "page header size");
constexpr uint32_t kPageHeaderSizeBytes = 32;

// Tree entry inside a commit record: one named tree's root.
struct TreeEntryDisk {
  uint8_t name_length;
  char name[31];
  uint64_t root;         // log offset of the root page, kNoPage when empty
  uint64_t entry_count;
};
static_assert(sizeof(TreeEntryDisk) == 48, "tree entry size");

// The commit record: the first page of a frame.
struct RecordDisk {
  uint32_t checksum;  // crc32c of [4, 4096)
  uint8_t kind;       // kRecord
  uint8_t reserved0;
  uint16_t tree_count;
  uint64_t log_offset;
  uint64_t seq;
  uint32_t magic;                  // kRecordMagic
  uint32_t body_checksum;          // crc32c of the body
  uint64_t body_size_bytes;        // multiple of the page size
  uint32_t prev_record_checksum;   // checksum of the record of seq - 1 (0 for seq 1)
  uint32_t reserved1;
  uint64_t creation_tag;           // low 64 bits of the creation id: segments of another store never validate
  uint64_t live_bytes;             // bytes reachable from this version (pages, blobs, this record)
  // sync: true stores: the newest seq known durable (fdatasync'ed) when this commit was
  // sealed; 0 claims nothing. A record that validates and claims seq N proves frames up to N
  // were durable: if recovery cannot validate one of them, that is damage, not a torn tail.
  uint64_t durable_seq_at_seal;
  // Random per writer open (0 in stores written before it existed): a commit made again after a
  // crash, byte for byte, still gets a record checksum of its own, so a lost commit that
  // chained to the first one's never chains to it (docs/format.md).
  uint64_t writer_nonce;
  uint8_t reserved2[128 - 80];
  TreeEntryDisk trees[kTreeCountMax];
  uint8_t reserved3[kPageSizeBytes - 128 - 48 * kTreeCountMax];
};
static_assert(sizeof(RecordDisk) == kPageSizeBytes, "record is one page");
static_assert(offsetof(RecordDisk, live_bytes) == 56, "record layout");
static_assert(offsetof(RecordDisk, durable_seq_at_seal) == 64, "record layout");
static_assert(offsetof(RecordDisk, writer_nonce) == 72, "record layout");
static_assert(offsetof(RecordDisk, trees) == 128, "record trees offset");

// CHECKPOINT slot (two of them, at 0 and 4096).
struct CheckpointDisk {
  uint32_t checksum;  // crc32c of [4, 64)
  uint32_t magic;     // kCheckpointMagic
  uint64_t seq;
  uint64_t record_offset;
  uint32_t record_checksum;
  uint32_t reserved0;
  uint64_t creation_tag;
  uint64_t generation;  // which slot is newer when both are valid
  uint8_t reserved1[16];
};
static_assert(sizeof(CheckpointDisk) == 64, "checkpoint slot size");

// The shared, mmap'd head of the LOCK file: the writer publishes its durable watermark there
// under a seqlock so read-only opens (other processes, worker threads) can follow it.
struct SharedState {
  uint32_t magic;
  uint32_t reserved0;
  uint64_t version;  // seqlock: odd while the writer updates
  uint64_t durable_seq;
  uint64_t durable_record_offset;
  uint32_t durable_record_checksum;
  uint32_t reserved1;
};
static_assert(sizeof(SharedState) == 40, "shared state size");

// A published blob a commit moves without copying it (segment cleaning): the seal lays out
// its header at `to` and leaves the value bytes to the flusher, which copies them from `from`
// through the map before it checksums the frame (Flusher::fill_moves).
struct BlobMove {
  uint64_t to = 0;    // the new blob's log offset, in the frame
  uint64_t from = 0;  // the published blob's log offset, inside one mapped segment
  uint32_t length = 0;
};

}  // namespace ved
