// Native unit tests of the engine, runnable without Node (and under ASan/UBSan through
// CMake's VED_SANITIZE). They drive ved::Store directly: random puts and deletes against a
// std::map model, reopen, a torn tail, and the page format's invariants.
#include <fcntl.h>
#include <stdlib.h>  // mkdtemp (POSIX)

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "../checksum.h"
#include "../io.h"
#include "../page.h"
#include "../store.h"

namespace {

int failures = 0;
int checks = 0;

#define CHECK(cond)                                                           \
  do {                                                                        \
    checks++;                                                                 \
    if (!(cond)) {                                                            \
      failures++;                                                             \
      std::fprintf(stderr, "CHECK failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
    }                                                                         \
  } while (0)

std::string temp_dir() {
#if defined(_WIN32)
  // No mkdtemp: a random name under the temp directory, created only if it is new.
  std::random_device entropy;
  std::filesystem::path base = std::filesystem::temp_directory_path();
  for (int attempt = 0; attempt < 100; attempt++) {
    std::filesystem::path d = base / ("ved-native-" + std::to_string(entropy()));
    if (std::filesystem::create_directory(d)) return d.generic_string();
  }
  std::abort();
#else
  char tmpl[] = "/tmp/ved-native-XXXXXX";
  char* d = mkdtemp(tmpl);
  if (d == nullptr) std::abort();
  return d;
#endif
}

// Every file access below goes through ved::io, so the tests run wherever the engine does.
bool remove_tree(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return !ec;
}

void read_file_bytes(const std::string& path, uint64_t offset, void* buf, size_t size_bytes) {
  int fd = -1;
  CHECK(ved::io::open_file(path, O_RDONLY, &fd).ok());
  CHECK(ved::io::read_exact(fd, path, buf, size_bytes, offset).ok());
  ved::io::close_file(fd);
}

void write_file_bytes(const std::string& path, uint64_t offset, const void* buf, size_t size_bytes) {
  int fd = -1;
  CHECK(ved::io::open_file(path, O_RDWR, &fd).ok());
  struct iovec iov = {const_cast<void*>(buf), size_bytes};
  CHECK(ved::io::write_all(fd, path, &iov, 1, offset).ok());
  ved::io::close_file(fd);
}

uint64_t file_size_of(const std::string& path) {
  int fd = -1;
  uint64_t size = 0;
  CHECK(ved::io::open_file(path, O_RDONLY, &fd).ok());
  CHECK(ved::io::file_size(fd, path, &size).ok());
  ved::io::close_file(fd);
  return size;
}

void encode_op(std::vector<uint8_t>& ops, uint8_t kind, const std::string& key, const std::string& value) {
  uint8_t h[12] = {kind, 0, 0, 0};
  uint32_t k = static_cast<uint32_t>(key.size()), v = static_cast<uint32_t>(value.size());
  std::memcpy(h + 4, &k, 4);
  std::memcpy(h + 8, &v, 4);
  ops.insert(ops.end(), h, h + 12);
  ops.insert(ops.end(), key.begin(), key.end());
  ops.insert(ops.end(), value.begin(), value.end());
}

std::unique_ptr<ved::Store> open_store(const std::string& dir) {
  ved::OpenOptions o;
  o.segment_size_bytes = 1 << 20;
  o.checkpoint_interval_commits = 7;
  std::unique_ptr<ved::Store> s;
  ved::Status st = ved::Store::Open(dir, o, [](const ved::Completion&) {}, &s);
  if (!st.ok()) {
    std::fprintf(stderr, "open failed: %s\n", st.message.c_str());
    std::abort();
  }
  int32_t id;
  CHECK(s->tree_id("", &id).ok() && id == 0);
  return s;
}

bool get(ved::Store& s, const std::string& key, std::string* value) {
  ved::ValueRef ref;
  ved::Status st = s.get(-1, 0, reinterpret_cast<const uint8_t*>(key.data()), static_cast<uint32_t>(key.size()), &ref);
  CHECK(st.ok());
  if (!ref.found) return false;
  value->assign(ref.length, '\0');
  CHECK(s.read_value(ref, reinterpret_cast<uint8_t*>(&(*value)[0])).ok());
  return true;
}

void check_model(ved::Store& s, const std::map<std::string, std::string>& model) {
  for (const auto& kv : model) {
    std::string v;
    bool found = get(s, kv.first, &v);
    CHECK(found);
    CHECK(v == kv.second);
  }
  std::vector<uint8_t> out(1 << 26);
  uint32_t count = 0;
  uint64_t need = 0;
  bool done = false;
  CHECK(s.scan(-1, 0, 0, nullptr, 0, nullptr, 0, UINT32_MAX, out.data(), out.size(), &count, &need, &done).ok());
  CHECK(done);
  CHECK(count == model.size());
}

void test_model_and_reopen() {
  std::string dir = temp_dir();
  std::map<std::string, std::string> model;
  std::mt19937_64 rng(42);
  {
    auto s = open_store(dir);
    for (int txn = 0; txn < 200; txn++) {
      std::vector<uint8_t> ops;
      int n = 1 + static_cast<int>(rng() % 50);
      for (int i = 0; i < n; i++) {
        std::string key = "k" + std::to_string(rng() % 3000);
        if (rng() % 4 == 0) {
          encode_op(ops, 2, key, "");
          model.erase(key);
        } else {
          size_t length = rng() % 20 == 0 ? 5000 + rng() % 100000 : rng() % 200;
          std::string value(length, static_cast<char>('a' + rng() % 26));
          encode_op(ops, 1, key, value);
          model[key] = value;
        }
      }
      uint64_t seq;
      CHECK(s->commit(ops.data(), ops.size(), &seq).ok());
    }
    check_model(*s, model);
    s->close();
  }
  auto s = open_store(dir);
  check_model(*s, model);
  CHECK(s->recovery().started_from_checkpoint);
  // Closed first: Windows removes no directory whose files are still open.
  s->close();
  CHECK(remove_tree(dir));
}

void test_torn_tail() {
  std::string dir = temp_dir();
  uint64_t end_before, end_after;
  {
    auto s = open_store(dir);
    std::vector<uint8_t> ops;
    encode_op(ops, 1, "a", "first");
    uint64_t seq;
    CHECK(s->commit(ops.data(), ops.size(), &seq).ok());
    s->close();
  }
  {
    ved::OpenOptions o;
    o.segment_size_bytes = 1 << 20;
    o.checkpoint_interval_commits = 1000000;
    std::unique_ptr<ved::Store> s;
    CHECK(ved::Store::Open(dir, o, [](const ved::Completion&) {}, &s).ok());
    int32_t id;
    CHECK(s->tree_id("", &id).ok());
    end_before = s->stats().log_end_offset;
    std::vector<uint8_t> ops;
    encode_op(ops, 1, "b", std::string(9000, 'b'));
    uint64_t seq;
    CHECK(s->commit(ops.data(), ops.size(), &seq).ok());
    end_after = s->stats().log_end_offset;
    s->close();
  }
  // Flip a byte inside the last frame: recovery must stop before it.
  std::string seg = dir + "/0000000000000000.seg";
  uint64_t at = end_before + (end_after - end_before) / 2;
  uint8_t byte;
  read_file_bytes(seg, at, &byte, 1);
  byte ^= 0x40;
  write_file_bytes(seg, at, &byte, 1);
  // The checkpoint written at close names the damaged commit: it was durable, so this is
  // damage, not a torn tail. Open refuses with ECORRUPT where the frame failed.
  {
    ved::OpenOptions o;
    o.segment_size_bytes = 1 << 20;
    std::unique_ptr<ved::Store> refused;
    ved::Status st = ved::Store::Open(dir, o, [](const ved::Completion&) {}, &refused);
    CHECK(st.code == ved::Code::ECORRUPT);
    CHECK(st.segment == 0);
    // The damaged page or blob (the flip may land in the commit's 9000-byte blob).
    CHECK(st.offset >= static_cast<int64_t>(end_before) && st.offset <= static_cast<int64_t>(at));
  }
  // Without that checkpoint (a writer that died before its sync and checkpoint), the damaged
  // frame is a torn tail: recovery stops before it.
  CHECK(ved::io::remove_file(dir + "/CHECKPOINT").ok());
  auto s = open_store(dir);
  std::string v;
  CHECK(get(*s, "a", &v) && v == "first");
  CHECK(!get(*s, "b", &v));
  s->close();
  CHECK(remove_tree(dir));
}

// Rewrites the last frame of segment 0 through `mutate`, then restores every checksum, so the
// damage is structural, not a checksum mismatch: the kind a buggy writer would leave.
void refit_last_frame(const std::string& dir, const std::function<void(uint8_t*, uint64_t)>& mutate) {
  std::string path = dir + "/0000000000000000.seg";
  std::vector<uint8_t> b(static_cast<size_t>(file_size_of(path)));
  read_file_bytes(path, 0, b.data(), b.size());
  uint64_t off = 0, last = 0;
  while (off + ved::kPageSizeBytes <= b.size()) {
    auto* r = reinterpret_cast<ved::RecordDisk*>(b.data() + off);
    if (r->kind != ved::kRecord || r->magic != ved::kRecordMagic || r->log_offset != off) break;
    last = off;
    off += ved::kPageSizeBytes + r->body_size_bytes;
  }
  mutate(b.data(), last);
  auto* r = reinterpret_cast<ved::RecordDisk*>(b.data() + last);
  ved::checksum_frame(b.data() + last, ved::kPageSizeBytes + r->body_size_bytes, r->prev_record_checksum);
  write_file_bytes(path, 0, b.data(), b.size());
  CHECK(ved::io::remove_file(dir + "/CHECKPOINT").ok());
}

// Damaged pages whose checksums hold (an inline value length that wraps the page bounds,
// slots that all point at one cell, child references that are in-memory tags or "none")
// give ECORRUPT on read and on write: never an abort, never an out-of-bounds access.
void test_structurally_damaged_pages() {
  enum Damage { kWrapLength, kDuplicateSlots, kDirtyChild, kNoChild };
  for (Damage damage : {kWrapLength, kDuplicateSlots, kDirtyChild, kNoChild}) {
    std::string dir = temp_dir();
    bool branch = damage == kDirtyChild || damage == kNoChild;
    {
      auto s = open_store(dir);
      std::vector<uint8_t> ops;
      for (int i = 0; i < (branch ? 12 : 3); i++) encode_op(ops, 1, "k" + std::to_string(10 + i), std::string(1000, 'a'));
      uint64_t seq;
      CHECK(s->commit(ops.data(), ops.size(), &seq).ok());
      s->close();
    }
    refit_last_frame(dir, [&](uint8_t* b, uint64_t record) {
      uint8_t* p = b + reinterpret_cast<ved::RecordDisk*>(b + record)->trees[0].root;
      CHECK(ved::page::kind(p) == (branch ? ved::kBranch : ved::kLeaf));
      if (damage == kWrapLength) {
        uint8_t* c = p + ved::page::slot(p, 0);
        ved::page::store32(c + 4, 0u - 24 - ved::page::leaf_key_length(c));
      } else if (damage == kDuplicateSlots) {
        uint16_t first = ved::page::slot(p, 0);
        ved::page::set_count(p, 60);
        for (int i = 0; i < 60; i++) ved::page::store16(p + ved::kPageHeaderSizeBytes + 2 * i, first);
      } else {
        for (uint32_t i = 1; i < ved::page::count(p); i++) {
          ved::page::store64(p + ved::page::slot(p, i), damage == kNoChild ? ved::kNoPage : (ved::kDirtyBit | 1000000));
        }
      }
    });
    auto s = open_store(dir);
    std::string key = branch ? "k21" : "k10";
    ved::ValueRef ref;
    ved::Status got = s->get(-1, 0, reinterpret_cast<const uint8_t*>(key.data()), static_cast<uint32_t>(key.size()), &ref);
    CHECK(got.code == ved::Code::ECORRUPT);
    std::vector<uint8_t> ops;
    encode_op(ops, 1, key, "x");
    uint64_t seq;
    CHECK(s->commit(ops.data(), ops.size(), &seq).code == ved::Code::ECORRUPT);
    ops.clear();
    encode_op(ops, 2, key, "");
    CHECK(s->commit(ops.data(), ops.size(), &seq).code == ved::Code::ECORRUPT);
    s->close();
      CHECK(remove_tree(dir));
  }
}

void test_crc32c() {
  // Known answer: CRC32C("123456789") = 0xE3069283.
  CHECK(ved::crc32c("123456789", 9) == 0xE3069283u);
  CHECK(ved::crc32c_extend(ved::crc32c("1234", 4), "56789", 5) == 0xE3069283u);
  // The fast path (three streams over blocks of three lanes, hardware CRC) against the
  // table: every length across the block boundaries, odd alignments, a non-zero start.
  std::vector<uint8_t> data(3 * 4096 + 64);
  uint32_t x = 2463534242u;
  for (uint8_t& b : data) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<uint8_t>(x);
  }
  for (size_t n = 0; n + 7 <= data.size(); n += (n < 4200 || n > 12000) ? 1 : 37) {
    size_t at = n % 7;
    uint32_t start = static_cast<uint32_t>(n * 2654435761u);
    CHECK(ved::crc32c_extend(start, data.data() + at, n) == ved::crc32c_extend_portable(start, data.data() + at, n));
  }
}

}  // namespace

int main() {
  test_crc32c();
  test_model_and_reopen();
  test_torn_tail();
  test_structurally_damaged_pages();
  std::printf("%d passed, %d failed\n", checks - failures, failures);
  return failures == 0 ? 0 : 1;
}
