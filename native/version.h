// A version: what one sealed commit makes visible. Copied by value into snapshots and frames
// (a few KiB); the pages it names are immutable, so a copy is a consistent read view. (One
// word excepted: a page's checksum, which the flusher fills in before writing the frame;
// nothing on the JS thread reads it there.)
#pragma once
#include <cstdint>

#include "btree.h"
#include "format.h"

namespace ved {

struct Version {
  uint64_t seq = 0;
  uint64_t record_offset = kNoPage;
  uint32_t record_checksum = 0;  // 0 until the flusher has checksummed the frame
  uint64_t end_offset = 0;  // where the next frame may start
  uint64_t live_bytes = 0;
  uint32_t tree_count = 0;
  TreeRoot trees[kTreeCountMax];
};

}  // namespace ved
