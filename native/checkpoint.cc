#include "checkpoint.h"

#include <fcntl.h>

#include <cstring>

#include "checksum.h"
#include "io.h"

namespace ved {

constexpr uint64_t kSlotStrideBytes = 4096;

Checkpoint::~Checkpoint() { io::close_file(fd_); }

Status Checkpoint::read(CheckpointSlot slots[2]) {
  slots[0] = CheckpointSlot{};
  slots[1] = CheckpointSlot{};
  if (!io::exists(path())) return Status::Ok();
  int fd;
  VED_TRY(io::open_file(path(), O_RDONLY, &fd));
  uint64_t size = 0;
  Status s = io::file_size(fd, path(), &size);
  CheckpointSlot found[2];
  for (int i = 0; i < 2 && s.ok(); i++) {
    if (size < i * kSlotStrideBytes + sizeof(CheckpointDisk)) continue;
    CheckpointDisk d;
    s = io::read_exact(fd, path(), &d, sizeof(d), i * kSlotStrideBytes);
    if (!s.ok()) break;
    bool ok = d.magic == kCheckpointMagic && d.creation_tag == creation_tag_ &&
              crc32c(reinterpret_cast<uint8_t*>(&d) + 4, sizeof(d) - 4) == d.checksum;
    if (!ok) continue;
    found[i].valid = true;
    found[i].seq = d.seq;
    found[i].record_offset = d.record_offset;
    found[i].record_checksum = d.record_checksum;
    found[i].generation = d.generation;
  }
  io::close_file(fd);
  VED_TRY(s);
  bool first_newer = !found[1].valid || (found[0].valid && found[0].generation > found[1].generation);
  slots[0] = first_newer ? found[0] : found[1];
  slots[1] = first_newer ? found[1] : found[0];
  if (slots[0].valid) generation_ = slots[0].generation;
  return Status::Ok();
}

Status Checkpoint::open_for_write() {
  bool created = !io::exists(path());
  VED_TRY(io::open_file(path(), O_RDWR | O_CREAT, &fd_));
  if (created) VED_TRY(io::sync_dir(dir_));
  return Status::Ok();
}

Status Checkpoint::write(uint64_t seq, uint64_t record_offset, uint32_t record_checksum) {
  CheckpointDisk d;
  std::memset(&d, 0, sizeof(d));
  d.magic = kCheckpointMagic;
  d.seq = seq;
  d.record_offset = record_offset;
  d.record_checksum = record_checksum;
  d.creation_tag = creation_tag_;
  // The generation advances only once the slot is written and synced: after a failure the
  // next write goes to the same slot again, never over the intact one.
  d.generation = generation_ + 1;
  d.checksum = crc32c(reinterpret_cast<uint8_t*>(&d) + 4, sizeof(d) - 4);
  struct iovec iov = {&d, sizeof(d)};
  VED_TRY(io::write_all(fd_, path(), &iov, 1, (d.generation % 2) * kSlotStrideBytes));
  VED_TRY(io::sync_data(fd_, path()));
  generation_ = d.generation;
  return Status::Ok();
}

}  // namespace ved
