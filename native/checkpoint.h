// CHECKPOINT: two 64-byte slots at offsets 0 and 4096, written alternately by the flusher
// after a durable commit, each pointing at a durable commit record. Recovery starts from
// the valid slot with the higher generation and follows the log from there, so open time
// depends on the commits since the last checkpoint, not on history length. A torn slot
// write leaves the other slot intact. The log stays the truth: a slot whose record does not
// validate is ignored in favour of the other slot or a scan from the start of the log.
#pragma once
#include <cstdint>
#include <string>

#include "format.h"
#include "status.h"

namespace ved {

struct CheckpointSlot {
  bool valid = false;
  uint64_t seq = 0;
  uint64_t record_offset = kNoPage;
  uint32_t record_checksum = 0;
  uint64_t generation = 0;
};

class Checkpoint {
 public:
  Checkpoint(std::string dir, uint64_t creation_tag) : dir_(std::move(dir)), creation_tag_(creation_tag) {}
  ~Checkpoint();
  // Reads both slots (a missing file means no checkpoint). slots[0] is the newer valid one.
  Status read(CheckpointSlot slots[2]);
  // Writer: opens (creating) the file for writing.
  Status open_for_write();
  // Writes the next slot and syncs it.
  Status write(uint64_t seq, uint64_t record_offset, uint32_t record_checksum);

 private:
  std::string path() const { return dir_ + "/CHECKPOINT"; }
  std::string dir_;
  uint64_t creation_tag_;
  int fd_ = -1;
  uint64_t generation_ = 0;
};

}  // namespace ved
