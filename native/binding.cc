// The only file that includes napi.h: argument checks, handle type tags, status -> VedError
// mapping and the thread-safe completion path. No storage logic lives here.
//
// Per-environment state (main thread and each worker) is an AddonData set as instance data,
// never a global. A store handle is a type-tagged External owning a StoreHandle; every call
// checks the tag and that the store is still open (ECLOSED otherwise).
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <new>
#include <mutex>
#include <thread>

// The completion wait (below) needs libuv's header, which node-gyp's Node headers have and
// node-api-headers (cmake-js) lacks; CMakeLists.txt copies it from Node's include directory
// when it finds one. Without it, or off Linux, the addon is built without the wait.
#if defined(__linux__) && defined(__has_include)
#if __has_include(<uv.h>)
#define VED_COMPLETION_WAIT 1
#include <poll.h>
#include <uv.h>
#endif
#endif

#include "assert.h"
#include "format.h"
#include "io.h"
#include "status.h"
#include "store.h"

namespace {

using ved::Code;
using ved::Status;

struct AddonData {
  Napi::FunctionReference error_class;
};

const napi_type_tag kStoreTag = {0x7665645f73746f72ull, 0x655f68616e646c65ull};

struct Pending {
  std::mutex mutex;
  bool scheduled = false;
  bool have = false;
  ved::Completion merged;
  // The newest seq that a completion already handed to the thread-safe function settles
  // (durable or rejected). Written by the flusher after the call, so a reader that sees a seq
  // here finds the event loop's wake-up already signalled.
  std::atomic<uint64_t> posted_seq{0};
};

// ---- Completion wait ---------------------------------------------------------------------
//
// A commit's promise settles when the flusher's completion reaches the JS thread through the
// thread-safe function (an eventfd the event loop polls). When the loop is asleep by then,
// waking it costs 10-40 us on the dev VM, up to a fifth of a one-put commit.
// So while a commit is in flight and the loop has nothing else to do, the JS thread stays
// awake: a prepare handle, which libuv runs just before it polls, spins (yielding the CPU, the
// flusher may need it) until the completion is posted, anything else is ready on the loop, or
// kCompletionWaitNs have passed since the seal. The loop then polls and finds the completion
// without sleeping. The price is JS-thread CPU while it would otherwise sleep, up to one sync
// per commit; commits that keep settling later than the wait (a slow disk) turn it off until
// one settles within it. docs/design.md, "Flusher wake-ups", has the figures
// (bench/compare-builds.js: durable one-put p50 187 -> 155 us, 1.58x -> 1.31x raw fdatasync).

struct StoreHandle;

#ifdef VED_COMPLETION_WAIT
constexpr uint64_t kCompletionWaitNs = 500 * 1000;
// Commits settling later than kCompletionWaitNs, in a row, after which the wait is skipped.
constexpr int kCompletionWaitCreditMax = 8;

// Freed by its libuv handle's close callback, which may run after the StoreHandle is gone
// (store closed first) or before (environment teardown first); `owner` links the two while
// both live. JS thread only, except pending's atomics.
struct CompletionWait {
  uv_prepare_t handle;
  napi_env env = nullptr;
  StoreHandle* owner = nullptr;
  std::shared_ptr<Pending> pending;
  bool hooked = false;  // the environment cleanup hook is registered and has not run
  bool closing = false;
  uint64_t sealed_seq = 0;  // the newest commit sealed
  uint64_t sealed_at_ns = 0;  // when, by uv_hrtime
  bool sealed_settled = true;  // a completion settled sealed_seq (it counted for `credit`)
  int credit = kCompletionWaitCreditMax;

  static void on_prepare(uv_prepare_t* handle);
  static void on_teardown(void* arg);
  void on_sealed(uint64_t seq);
  void on_settled(const ved::Completion& c);
  void close();
};
#else
struct CompletionWait {
  void on_sealed(uint64_t) {}
  void on_settled(const ved::Completion&) {}
  void close() {}
};
#endif

struct StoreHandle {
  std::unique_ptr<ved::Store> store;
  Napi::ThreadSafeFunction tsfn;
  bool tsfn_live = false;
  bool tsfn_refed = false;
  std::shared_ptr<Pending> pending = std::make_shared<Pending>();
  Napi::Reference<Napi::Uint8Array> key_ref, value_ref;
  uint8_t* key_buf = nullptr;
  size_t key_capacity = 0;
  uint8_t* value_buf = nullptr;
  size_t value_capacity = 0;
  uint64_t last_seq = 0;
  bool scan_done = true;
  CompletionWait* wait = nullptr;  // null when there is none (read-only, no libuv) or it closed

  void release() {
    if (wait != nullptr) wait->close();
    if (store) store->close();
    store.reset();
    if (tsfn_live) {
      tsfn.Release();
      tsfn_live = false;
    }
  }
  ~StoreHandle() { release(); }
};

#ifdef VED_COMPLETION_WAIT
void CompletionWait::on_prepare(uv_prepare_t* handle) {
  auto* w = static_cast<CompletionWait*>(handle->data);
  const std::atomic<uint64_t>& posted = w->pending->posted_seq;
  if (w->credit == 0 || posted.load(std::memory_order_acquire) >= w->sealed_seq) return;
  int timeout_ms = uv_backend_timeout(handle->loop);
  if (timeout_ms == 0) return;  // the loop has work now
  uint64_t deadline = w->sealed_at_ns + kCompletionWaitNs;
  if (timeout_ms > 0) deadline = std::min(deadline, uv_hrtime() + static_cast<uint64_t>(timeout_ms) * 1000000);
  struct pollfd ready = {uv_backend_fd(handle->loop), POLLIN, 0};
  while (posted.load(std::memory_order_acquire) < w->sealed_seq && uv_hrtime() < deadline) {
    // Anything else the loop waits for (a socket, a signal, another addon) ends the wait.
    if (ready.fd >= 0 && poll(&ready, 1, 0) != 0) return;
    // A spin that does not yield starves the flusher when both threads share a CPU: durable
    // one-put p50 was 714 us against 163 us yielding (bench/compare-builds.js, 2 cores, load 3).
    std::this_thread::yield();
  }
}

void CompletionWait::on_sealed(uint64_t seq) {
  sealed_seq = seq;
  sealed_at_ns = uv_hrtime();
  sealed_settled = false;
}

void CompletionWait::on_settled(const ved::Completion& c) {
  if (sealed_settled || (c.durable_seq < sealed_seq && !(c.code != Code::OK && c.failed_to >= sealed_seq))) return;
  sealed_settled = true;
  bool within = uv_hrtime() - sealed_at_ns <= kCompletionWaitNs;
  credit = within ? kCompletionWaitCreditMax : std::max(0, credit - 1);
}

void CompletionWait::close() {
  if (closing) return;
  closing = true;
  if (hooked) napi_remove_env_cleanup_hook(env, on_teardown, this);
  hooked = false;
  if (owner != nullptr) owner->wait = nullptr;
  owner = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&handle), [](uv_handle_t* closed) { delete static_cast<CompletionWait*>(closed->data); });
}

// A worker's loop must hold no handle when it closes (Node aborts otherwise), so a store left
// open closes its wait here. The hook runs before Node closes its own handles and turns the
// loop for their close callbacks, which runs this one's too. Not an async cleanup hook: that
// keeps the napi env alive past the thread-safe function, whose finalizer then runs after it
// was freed (StoreHandle::release calls Release on it).
void CompletionWait::on_teardown(void* arg) {
  auto* w = static_cast<CompletionWait*>(arg);
  w->hooked = false;  // the hook is being removed by the run
  w->close();
}
#endif

// Writable stores: a CompletionWait on the environment's loop, where it is compiled in.
void start_completion_wait(Napi::Env env, StoreHandle* h) {
#ifdef VED_COMPLETION_WAIT
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return;
  auto* w = new CompletionWait();
  w->env = env;
  w->owner = h;
  w->pending = h->pending;
  int r = uv_prepare_init(loop, &w->handle);
  VED_ASSERT(r == 0);  // libuv documents no failure
  w->handle.data = w;
  h->wait = w;
  if (napi_add_env_cleanup_hook(env, CompletionWait::on_teardown, w) != napi_ok) {
    w->close();  // without the hook a worker could not exit with the store open
    return;
  }
  w->hooked = true;
  r = uv_prepare_start(&w->handle, CompletionWait::on_prepare);
  VED_ASSERT(r == 0);
  uv_unref(reinterpret_cast<uv_handle_t*>(&w->handle));  // never keeps the process alive
#else
  (void)env;
  (void)h;
#endif
}

Napi::Error make_error(Napi::Env env, const Status& s) {
  AddonData* data = env.GetInstanceData<AddonData>();
  std::string code = ved::code_name(s.code);
  if (data == nullptr || data->error_class.IsEmpty()) {
    Napi::Error e = Napi::Error::New(env, s.message);
    e.Set("code", Napi::String::New(env, code));
    return e;
  }
  Napi::Value details = env.Undefined();
  if (s.code == Code::ECORRUPT) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("segment", Napi::Number::New(env, static_cast<double>(s.segment)));
    d.Set("offset", Napi::Number::New(env, static_cast<double>(s.offset)));
    details = d;
  }
  Napi::Object err = data->error_class.New({Napi::String::New(env, code), Napi::String::New(env, s.message), details});
  return Napi::Error(env, err);
}

[[noreturn]] void throw_status(Napi::Env env, const Status& s) { throw make_error(env, s); }

[[noreturn]] void throw_invalid(Napi::Env env, const std::string& message) {
  throw_status(env, Status::Error(Code::EINVAL_, message));
}

StoreHandle* handle_of(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsExternal()) throw_invalid(env, "expected a store handle");
  Napi::External<StoreHandle> ext = info[0].As<Napi::External<StoreHandle>>();
  if (!ext.CheckTypeTag(&kStoreTag)) throw_invalid(env, "expected a store handle");
  StoreHandle* h = ext.Data();
  if (!h->store) throw_status(env, Status::Error(Code::ECLOSED, "the store is closed"));
  return h;
}

double number_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsNumber()) throw_invalid(info.Env(), std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

uint32_t uint_arg(const Napi::CallbackInfo& info, size_t i, const char* name, uint64_t max) {
  double v = number_arg(info, i, name);
  if (!(v >= 0) || v > static_cast<double>(max) || v != static_cast<double>(static_cast<uint64_t>(v))) {
    throw_invalid(info.Env(), std::string(name) + " is out of range");
  }
  return static_cast<uint32_t>(v);
}

void check(Napi::Env env, const Status& s) {
  if (!s.ok()) throw_status(env, s);
}

// ---- Module functions ------------------------------------------------------------------

Napi::Value Init(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsFunction()) throw_invalid(info.Env(), "init expects the VedError class");
  AddonData* data = info.Env().GetInstanceData<AddonData>();
  data->error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value StatusNames(const Napi::CallbackInfo& info) {
  Napi::Array names = Napi::Array::New(info.Env(), ved::kCodeCount);
  for (int i = 0; i < ved::kCodeCount; i++) {
    names.Set(i, Napi::String::New(info.Env(), ved::code_name(static_cast<Code>(i))));
  }
  return names;
}

Napi::Value Limits(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("keySizeBytesMax", ved::kKeySizeBytesMax);
  o.Set("valueSizeBytesMax", static_cast<double>(ved::kValueSizeBytesMax));
  o.Set("txnSizeBytesMax", static_cast<double>(ved::kTxnSizeBytesMax));
  o.Set("treeCountMax", ved::kTreeCountMax);
  o.Set("treeNameBytesMax", ved::kTreeNameBytesMax);
  return o;
}

Napi::Value IsFaultBuild(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), ved::io::fault_plan() != nullptr);
}

// Test builds only: { syncsToFail?: number, outOfSpace?: boolean, trackWrites?: boolean, flushDelayMs?: number }.
Napi::Value FaultSet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ved::io::FaultPlan* plan = ved::io::fault_plan();
  if (plan == nullptr) throw_invalid(env, "fault injection is not compiled into this build");
  if (info.Length() < 1 || !info[0].IsObject()) throw_invalid(env, "faultSet(plan)");
  Napi::Object o = info[0].As<Napi::Object>();
  if (o.Has("syncsToFail")) plan->syncs_to_fail.store(o.Get("syncsToFail").ToNumber().Uint32Value());
  if (o.Has("outOfSpace")) plan->out_of_space.store(o.Get("outOfSpace").ToBoolean());
  if (o.Has("trackWrites")) plan->tracking.store(o.Get("trackWrites").ToBoolean());
  if (o.Has("flushDelayMs")) plan->flush_delay_ms.store(o.Get("flushDelayMs").ToNumber().Uint32Value());
  return env.Undefined();
}

// Test builds only: faultCrash(seed) simulates a power cut now (io.h fault_crash) and
// returns what it did. The open store is abandoned: close it, then faultResume().
Napi::Value FaultCrash(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ved::io::fault_plan() == nullptr) throw_invalid(env, "fault injection is not compiled into this build");
  uint32_t seed = uint_arg(info, 0, "seed", UINT32_MAX);
  ved::io::CrashReport r;
  check(env, ved::io::fault_crash(seed, &r));
  Napi::Object o = Napi::Object::New(env);
  o.Set("mode", r.mode);
  o.Set("writesUnsynced", static_cast<double>(r.writes_unsynced));
  o.Set("pagesUnsynced", static_cast<double>(r.pages_unsynced));
  o.Set("pagesKept", static_cast<double>(r.pages_kept));
  o.Set("pagesDropped", static_cast<double>(r.pages_dropped));
  o.Set("torn", r.torn);
  o.Set("tornPath", r.torn_path);
  o.Set("tornOffset", static_cast<double>(r.torn_offset));
  o.Set("tornSectorsMask", static_cast<double>(r.torn_sectors_mask));
  o.Set("bitsFlipped", static_cast<double>(r.bits_flipped));
  o.Set("filesRemoved", static_cast<double>(r.files_removed));
  return o;
}

Napi::Value FaultResume(const Napi::CallbackInfo& info) {
  if (ved::io::fault_plan() == nullptr) throw_invalid(info.Env(), "fault injection is not compiled into this build");
  ved::io::fault_resume();
  return info.Env().Undefined();
}

void on_js_completion(Napi::Env env, Napi::Function callback, StoreHandle* h) {
  ved::Completion c;
  {
    std::lock_guard<std::mutex> lock(h->pending->mutex);
    c = h->pending->merged;
    h->pending->have = false;
    h->pending->scheduled = false;
    h->pending->merged = ved::Completion{};
  }
  if (env == nullptr || callback.IsEmpty()) return;
  if (h->wait != nullptr) h->wait->on_settled(c);
  if (h->tsfn_refed && (c.durable_seq >= h->last_seq || (c.code != Code::OK && c.failed_to >= h->last_seq))) {
    h->tsfn.Unref(env);
    h->tsfn_refed = false;
  }
  try {
    callback.Call({Napi::Number::New(env, static_cast<double>(c.durable_seq)),
                   Napi::Number::New(env, static_cast<double>(c.code)),
                   Napi::Number::New(env, static_cast<double>(c.failed_from)),
                   Napi::Number::New(env, static_cast<double>(c.failed_to)), Napi::String::New(env, c.message),
                   Napi::Boolean::New(env, c.cleaner_ready)});
  } catch (const Napi::Error& e) {
    // No C++ frame above this one may let it escape (std::terminate): hand it back to JS as
    // an uncaught exception. At environment teardown JS cannot run, and that throws too.
    try {
      e.ThrowAsJavaScriptException();
    } catch (const Napi::Error&) {
    }
  }
}

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsObject() || !info[2].IsFunction()) {
    throw_invalid(env, "open(path, options, onDurable)");
  }
  std::string path = info[0].As<Napi::String>();
  Napi::Object o = info[1].As<Napi::Object>();
  ved::OpenOptions options;
  options.read_only = o.Get("readOnly").ToBoolean();
  options.sync = o.Get("sync").ToBoolean();
  options.create = o.Get("create").ToBoolean();
  double segment = o.Get("segmentSizeBytes").ToNumber().DoubleValue();
  double store_max = o.Get("maxStoreSizeBytes").ToNumber().DoubleValue();
  double interval = o.Get("checkpointIntervalCommits").ToNumber().DoubleValue();
  double fault_seed = o.Get("faultSeed").ToNumber().DoubleValue();
  double amplification = o.Get("maxSpaceAmplification").ToNumber().DoubleValue();
  if (!(amplification == 0 || (amplification >= 1.1 && amplification <= 1000))) {
    throw_invalid(env, "maxSpaceAmplification must be 0 (no background cleaning) or between 1.1 and 1000");
  }
  options.max_space_amplification = amplification;
  if (!(segment >= 65536) || segment > 4294967296.0 || static_cast<uint64_t>(segment) % ved::kPageSizeBytes != 0) {
    throw_invalid(env, "segmentSizeBytes must be a multiple of 4096 between 64 KiB and 4 GiB");
  }
  if (!(store_max >= segment)) throw_invalid(env, "maxStoreSizeBytes must be at least segmentSizeBytes");
  if (!(interval >= 1)) throw_invalid(env, "checkpointIntervalCommits must be >= 1");
  if (fault_seed != 0 && ved::io::fault_plan() == nullptr) {
    throw_invalid(env, "fault injection is not compiled into this build");
  }
  options.segment_size_bytes = static_cast<uint64_t>(segment);
  options.store_size_bytes_max = static_cast<uint64_t>(store_max);
  options.checkpoint_interval_commits = static_cast<uint64_t>(interval);

  auto* h = new StoreHandle();
  std::shared_ptr<Pending> pending = h->pending;
  h->tsfn = Napi::ThreadSafeFunction::New(env, info[2].As<Napi::Function>(), "ved-durable", 0, 1, h);
  h->tsfn_live = true;
  h->tsfn.Unref(env);
  Napi::ThreadSafeFunction tsfn = h->tsfn;
  auto on_complete = [pending, tsfn, h](const ved::Completion& c) mutable {
    std::lock_guard<std::mutex> lock(pending->mutex);
    ved::Completion& m = pending->merged;
    if (c.code != Code::OK) {
      if (m.code == Code::OK) {
        m.code = c.code;
        m.message = c.message;
        m.failed_from = c.failed_from;
      }
      m.failed_to = c.failed_to;
    }
    if (c.durable_seq > m.durable_seq) m.durable_seq = c.durable_seq;
    m.cleaner_ready = m.cleaner_ready || c.cleaner_ready;
    pending->have = true;
    if (!pending->scheduled) {
      pending->scheduled = true;
      tsfn.NonBlockingCall(h, on_js_completion);
    }
    // Under the mutex: the only writer. Monotonic: a later completion may carry no failure.
    uint64_t settled = std::max(m.durable_seq, m.failed_to);
    if (settled > pending->posted_seq.load(std::memory_order_relaxed)) {
      pending->posted_seq.store(settled, std::memory_order_release);
    }
  };
  Status s;
  try {
    s = ved::Store::Open(path, options, on_complete, &h->store);
  } catch (const std::bad_alloc&) {
    s = Status::Error(Code::EIO_, "out of memory while opening the store");
  }
  if (!s.ok()) {
    delete h;
    throw_status(env, s);
  }
  // Off by request (completionWait: false): the JS thread sleeps while it waits for a sync.
  if (!options.read_only && o.Get("completionWait").ToBoolean()) start_completion_wait(env, h);
  Napi::External<StoreHandle> ext = Napi::External<StoreHandle>::New(env, h, [](Napi::Env, StoreHandle* p) { delete p; });
  ext.TypeTag(&kStoreTag);
  return ext;
}

Napi::Value SetBuffers(const Napi::CallbackInfo& info) {
  StoreHandle* h = handle_of(info);
  if (info.Length() < 3 || !info[1].IsTypedArray() || !info[2].IsTypedArray()) throw_invalid(info.Env(), "setBuffers(h, keyBuf, valueBuf)");
  Napi::Uint8Array key = info[1].As<Napi::Uint8Array>();
  Napi::Uint8Array value = info[2].As<Napi::Uint8Array>();
  if (key.ByteLength() < 4096 || value.ByteLength() < 64) throw_invalid(info.Env(), "buffers too small");
  h->key_ref = Napi::Persistent(key);
  h->value_ref = Napi::Persistent(value);
  h->key_buf = key.Data();
  h->key_capacity = key.ByteLength();
  h->value_buf = value.Data();
  h->value_capacity = value.ByteLength();
  return info.Env().Undefined();
}

Napi::Value TreeId(const Napi::CallbackInfo& info) {
  StoreHandle* h = handle_of(info);
  if (info.Length() < 2 || !info[1].IsString()) throw_invalid(info.Env(), "tree name must be a string");
  int32_t id;
  check(info.Env(), h->store->tree_id(info[1].As<Napi::String>(), &id));
  return Napi::Number::New(info.Env(), id);
}

// A commit was sealed: its promise is settled by the flusher's completion.
void note_commit(Napi::Env env, StoreHandle* h, uint64_t seq) {
  h->last_seq = seq;
  if (h->wait != nullptr) h->wait->on_sealed(seq);
  if (!h->tsfn_refed) {
    h->tsfn.Ref(env);  // keep the process alive until this commit is settled
    h->tsfn_refed = true;
  }
}

Napi::Value Commit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StoreHandle* h = handle_of(info);
  if (info.Length() < 3 || !info[1].IsTypedArray()) throw_invalid(env, "commit(h, ops, length)");
  Napi::Uint8Array ops = info[1].As<Napi::Uint8Array>();
  uint32_t length = uint_arg(info, 2, "ops length", ops.ByteLength());
  uint64_t seq;
  Status s;
  try {
    s = h->store->commit(ops.Data(), length, &seq);
  } catch (const std::bad_alloc&) {
    s = Status::Error(Code::EIO_, "out of memory while sealing the transaction; nothing was committed");
  }
  check(env, s);
  note_commit(env, h, seq);
  return Napi::Number::New(env, static_cast<double>(seq));
}

// cleanStep(h, start, relocationsMax) -> { seq, busy, relocationsLeft, segmentsWaiting }: one
// step of cleaning (seq > 0 when it committed; await it like any commit).
Napi::Value CleanStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StoreHandle* h = handle_of(info);
  bool start = info.Length() > 1 && info[1].ToBoolean();
  uint32_t relocations_max = uint_arg(info, 2, "relocationsMax", 1u << 20);
  ved::CleanStep step;
  Status s;
  try {
    s = h->store->clean_step(start, relocations_max, &step);
  } catch (const std::bad_alloc&) {
    s = Status::Error(Code::EIO_, "out of memory while relocating; nothing was committed");
  }
  check(env, s);
  if (step.seq != 0) note_commit(env, h, step.seq);
  Napi::Object o = Napi::Object::New(env);
  o.Set("seq", static_cast<double>(step.seq));
  o.Set("busy", step.busy);
  o.Set("relocationsLeft", static_cast<double>(step.relocations_left));
  o.Set("segmentsWaiting", static_cast<double>(step.segments_waiting));
  o.Set("waitingForCheckpoint", step.waiting_for_checkpoint);
  return o;
}

int64_t snapshot_arg(const Napi::CallbackInfo& info, size_t i) {
  double v = number_arg(info, i, "snapshot");
  if (v < 0) return -1;
  return static_cast<int64_t>(v);
}

Napi::Value Get(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StoreHandle* h = handle_of(info);
  if (h->key_buf == nullptr) throw_invalid(env, "setBuffers first");
  int64_t snapshot = snapshot_arg(info, 1);
  uint32_t tree = uint_arg(info, 2, "tree", ved::kTreeCountMax);
  uint32_t key_length = uint_arg(info, 3, "key length", ved::kKeySizeBytesMax);
  ved::ValueRef ref;
  check(env, h->store->get(snapshot, tree, h->key_buf, key_length, &ref));
  if (!ref.found) return Napi::Number::New(env, -1);
  if (ref.length > h->value_capacity) return Napi::Number::New(env, -static_cast<double>(ref.length));
  check(env, h->store->read_value(ref, h->value_buf));
  return Napi::Number::New(env, ref.length);
}

Napi::Value Scan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StoreHandle* h = handle_of(info);
  if (h->key_buf == nullptr) throw_invalid(env, "setBuffers first");
  int64_t snapshot = snapshot_arg(info, 1);
  uint32_t tree = uint_arg(info, 2, "tree", ved::kTreeCountMax);
  uint32_t flags = uint_arg(info, 3, "flags", 15);
  uint32_t start_length = uint_arg(info, 4, "start length", ved::kKeySizeBytesMax + 1);
  uint32_t end_length = uint_arg(info, 5, "end length", ved::kKeySizeBytesMax + 1);
  uint32_t limit = uint_arg(info, 6, "limit", UINT32_MAX);
  const uint32_t kEndOffset = 2048;
  uint32_t count = 0;
  uint64_t need = 0;
  bool done = true;
  check(env, h->store->scan(snapshot, tree, flags, h->key_buf, start_length, h->key_buf + kEndOffset, end_length, limit,
                            h->value_buf, h->value_capacity, &count, &need, &done));
  h->scan_done = done;
  if (need > 0) return Napi::Number::New(env, -static_cast<double>(need));
  return Napi::Number::New(env, count);
}

Napi::Value ScanDone(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), handle_of(info)->scan_done);
}

Napi::Value Snapshot(const Napi::CallbackInfo& info) {
  StoreHandle* h = handle_of(info);
  uint32_t id;
  check(info.Env(), h->store->snapshot(&id));
  return Napi::Number::New(info.Env(), id);
}

Napi::Value SnapshotSeq(const Napi::CallbackInfo& info) {
  StoreHandle* h = handle_of(info);
  uint64_t seq;
  check(info.Env(), h->store->snapshot_seq(uint_arg(info, 1, "snapshot", UINT32_MAX), &seq));
  return Napi::Number::New(info.Env(), static_cast<double>(seq));
}

Napi::Value SnapshotClose(const Napi::CallbackInfo& info) {
  StoreHandle* h = handle_of(info);
  check(info.Env(), h->store->snapshot_close(uint_arg(info, 1, "snapshot", UINT32_MAX)));
  return info.Env().Undefined();
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StoreHandle* h = handle_of(info);
  ved::StoreStats s = h->store->stats();
  const ved::RecoveryReport& r = h->store->recovery();
  Napi::Object o = Napi::Object::New(env);
  o.Set("seq", static_cast<double>(s.seq));
  o.Set("durableSeq", static_cast<double>(s.durable_seq));
  o.Set("fileBytes", static_cast<double>(s.file_bytes));
  o.Set("liveBytes", static_cast<double>(s.live_bytes));
  o.Set("segments", static_cast<double>(s.segments));
  o.Set("pageSizeBytes", static_cast<double>(ved::kPageSizeBytes));
  o.Set("segmentSizeBytes", static_cast<double>(s.segment_size_bytes));
  o.Set("pendingCommits", static_cast<double>(s.pending_commits));
  o.Set("logEndOffset", static_cast<double>(s.log_end_offset));
  o.Set("poisoned", s.poisoned);
  Napi::Object c = Napi::Object::New(env);
  c.Set("passes", static_cast<double>(s.cleaner.passes));
  c.Set("segmentsDeleted", static_cast<double>(s.cleaner.segments_deleted));
  c.Set("bytesReclaimed", static_cast<double>(s.cleaner.bytes_reclaimed));
  c.Set("relocatedKeys", static_cast<double>(s.cleaner.relocated_keys));
  c.Set("backlogKeys", static_cast<double>(s.relocations_queued));
  c.Set("segmentsWaiting", static_cast<double>(s.segments_waiting));
  c.Set("walkedSeq", static_cast<double>(s.cleaner.walked_seq));
  c.Set("walkedLiveBytes", static_cast<double>(s.cleaner.walked_live_bytes));
  c.Set("error", s.cleaner.error);
  c.Set("busy", s.cleaner.busy);
  o.Set("cleaner", c);
  Napi::Object rec = Napi::Object::New(env);
  rec.Set("recoveredSeq", static_cast<double>(r.recovered_seq));
  rec.Set("scannedCommits", static_cast<double>(r.scanned_commits));
  rec.Set("startedFromCheckpoint", r.started_from_checkpoint);
  rec.Set("droppedBytes", static_cast<double>(r.dropped_bytes));
  rec.Set("tailReason", r.tail_reason);
  rec.Set("openMs", r.open_ms);
  o.Set("recovery", rec);
  return o;
}

// verify(h, onProgress | null) -> { seq, treeCount, pagesChecked, blobsChecked, bytesChecked,
// pagesTotalEstimate, errors: [{ code, segment, offset, message }], errorsOmitted }.
// onProgress(pagesDone, pagesTotalEstimate) runs synchronously during the walk.
Napi::Value Verify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StoreHandle* h = handle_of(info);
  ved::VerifyProgressFn progress;
  if (info.Length() >= 2 && info[1].IsFunction()) {
    Napi::Function fn = info[1].As<Napi::Function>();
    progress = [env, fn](uint64_t done, uint64_t total) {
      fn.Call({Napi::Number::New(env, static_cast<double>(done)), Napi::Number::New(env, static_cast<double>(total))});
    };
  } else if (info.Length() >= 2 && !info[1].IsNull() && !info[1].IsUndefined()) {
    throw_invalid(env, "verify(h, onProgress): onProgress must be a function or null");
  }
  ved::VerifyReport report;
  check(env, h->store->verify(progress, &report));
  Napi::Object o = Napi::Object::New(env);
  o.Set("seq", static_cast<double>(report.seq));
  o.Set("treeCount", static_cast<double>(report.tree_count));
  o.Set("pagesChecked", static_cast<double>(report.pages_checked));
  o.Set("blobsChecked", static_cast<double>(report.blobs_checked));
  o.Set("bytesChecked", static_cast<double>(report.bytes_checked));
  o.Set("pagesTotalEstimate", static_cast<double>(report.pages_total_estimate));
  Napi::Array errors = Napi::Array::New(env, report.errors.size());
  for (size_t i = 0; i < report.errors.size(); i++) {
    const ved::VerifyFinding& f = report.errors[i];
    Napi::Object e = Napi::Object::New(env);
    e.Set("code", ved::verify_code_name(f.code));
    e.Set("segment", static_cast<double>(f.segment));
    e.Set("offset", static_cast<double>(f.offset));
    e.Set("message", f.message);
    errors.Set(static_cast<uint32_t>(i), e);
  }
  o.Set("errors", errors);
  o.Set("errorsOmitted", static_cast<double>(report.errors_omitted));
  return o;
}

Napi::Value Refresh(const Napi::CallbackInfo& info) {
  StoreHandle* h = handle_of(info);
  check(info.Env(), h->store->refresh());
  return info.Env().Undefined();
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsExternal()) throw_invalid(env, "expected a store handle");
  Napi::External<StoreHandle> ext = info[0].As<Napi::External<StoreHandle>>();
  if (!ext.CheckTypeTag(&kStoreTag)) throw_invalid(env, "expected a store handle");
  StoreHandle* h = ext.Data();
  if (h->tsfn_refed) {
    h->tsfn.Unref(env);
    h->tsfn_refed = false;
  }
  h->release();
  h->key_ref.Reset();
  h->value_ref.Reset();
  h->key_buf = nullptr;
  h->value_buf = nullptr;
  return env.Undefined();
}

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData<AddonData>(new AddonData());
  exports.Set("init", Napi::Function::New(env, Init));
  exports.Set("statusNames", Napi::Function::New(env, StatusNames));
  exports.Set("limits", Napi::Function::New(env, Limits));
  exports.Set("isFaultBuild", Napi::Function::New(env, IsFaultBuild));
  exports.Set("faultSet", Napi::Function::New(env, FaultSet));
  exports.Set("faultCrash", Napi::Function::New(env, FaultCrash));
  exports.Set("faultResume", Napi::Function::New(env, FaultResume));
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("setBuffers", Napi::Function::New(env, SetBuffers));
  exports.Set("treeId", Napi::Function::New(env, TreeId));
  exports.Set("commit", Napi::Function::New(env, Commit));
  exports.Set("get", Napi::Function::New(env, Get));
  exports.Set("scan", Napi::Function::New(env, Scan));
  exports.Set("scanDone", Napi::Function::New(env, ScanDone));
  exports.Set("snapshot", Napi::Function::New(env, Snapshot));
  exports.Set("snapshotSeq", Napi::Function::New(env, SnapshotSeq));
  exports.Set("snapshotClose", Napi::Function::New(env, SnapshotClose));
  exports.Set("stats", Napi::Function::New(env, Stats));
  exports.Set("cleanStep", Napi::Function::New(env, CleanStep));
  exports.Set("refresh", Napi::Function::New(env, Refresh));
  exports.Set("verify", Napi::Function::New(env, Verify));
  exports.Set("close", Napi::Function::New(env, Close));
  return exports;
}

}  // namespace

NODE_API_MODULE(ved, InitModule)
