// Native unit tests of the engine, runnable without Node (and under ASan/UBSan through
// CMake's VED_SANITIZE). They drive ved::Store directly: random puts and deletes against a
// std::map model, reopen, a torn tail, and the page format's invariants.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "../checksum.h"
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
  char tmpl[] = "/tmp/ved-native-XXXXXX";
  char* d = mkdtemp(tmpl);
  if (d == nullptr) std::abort();
  return d;
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
  std::string cmd = "rm -rf " + dir;
  CHECK(std::system(cmd.c_str()) == 0);
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
  int fd = ::open(seg.c_str(), O_RDWR);
  CHECK(fd >= 0);
  uint64_t at = end_before + (end_after - end_before) / 2;
  uint8_t byte;
  CHECK(::pread(fd, &byte, 1, static_cast<off_t>(at)) == 1);
  byte ^= 0x40;
  CHECK(::pwrite(fd, &byte, 1, static_cast<off_t>(at)) == 1);
  ::close(fd);
  // The checkpoint written at close names the damaged commit; recovery must fall back.
  auto s = open_store(dir);
  std::string v;
  CHECK(get(*s, "a", &v) && v == "first");
  CHECK(!get(*s, "b", &v));
  std::string cmd = "rm -rf " + dir;
  CHECK(std::system(cmd.c_str()) == 0);
}

void test_crc32c() {
  // Known answer: CRC32C("123456789") = 0xE3069283.
  CHECK(ved::crc32c("123456789", 9) == 0xE3069283u);
  CHECK(ved::crc32c_extend(ved::crc32c("1234", 4), "56789", 5) == 0xE3069283u);
}

}  // namespace

int main() {
  test_crc32c();
  test_model_and_reopen();
  test_torn_tail();
  std::printf("%d passed, %d failed\n", checks - failures, failures);
  return failures == 0 ? 0 : 1;
}
