// Asynchronous futex waits: waitAsync / cancelWait. The design is described
// in waiter.h; this file holds the waiter threads and the delivery of
// completions to the JavaScript thread.
//
// Ownership and threads, in short:
//   * EnvState::waits_ owns every AsyncWait until its callback has run; only
//     the JavaScript thread touches that map and frees AsyncWaits.
//   * A waiter thread sees an AsyncWait only through its set_, under
//     EnvState::mutex_. A wait leaves every set_ before its completion is
//     queued, and it is freed only after its completion was taken from the
//     queue, so a waiter thread never follows a dangling pointer: pointers it
//     kept across the system call are checked against set_ (and the wait's
//     id) before being dereferenced again.
//   * Every AsyncWait holds a reference to its SharedArrayBuffer's backing
//     store, so the word stays mapped while the kernel may look at it.
#include "waiter.h"

#include <errno.h>
#include <linux/futex.h>
#include <linux/time_types.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

namespace mpnative {

using v8::Context;
using v8::Function;
using v8::FunctionCallbackInfo;
using v8::HandleScope;
using v8::Isolate;
using v8::Local;
using v8::MaybeLocal;
using v8::Object;
using v8::Script;
using v8::String;
using v8::Value;

namespace {

// futex_waitv takes at most FUTEX_WAITV_MAX (128) words; one is the waiter
// thread's control word.
constexpr size_t kWaitsPerThread = FUTEX_WAITV_MAX - 1;

// The waiter threads only sleep in system calls: a small stack is plenty.
constexpr size_t kThreadStackSize = 256 * 1024;

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t),
              "the control word must be a plain 32-bit futex word");

// Starts a native thread with every signal blocked, so that signals meant for
// Node.js (SIGINT, SIGCHLD, ...) are never delivered to it. Returns 0 or the
// pthread_create error.
int StartThread(pthread_t* thread, void* (*main)(void*), void* arg) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kThreadStackSize);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int r = pthread_create(thread, &attr, main, arg);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  return r;
}

struct futex_waitv WaitvEntry(const void* addr, uint32_t value,
                              uint32_t flags) {
  struct futex_waitv entry = {};
  entry.val = value;
  entry.uaddr = reinterpret_cast<uintptr_t>(addr);
  entry.flags = flags;
  return entry;
}

}  // namespace

// ---- waiter thread (futex_waitv mode) ---------------------------------------

class WaiterThread {
 public:
  explicit WaiterThread(EnvState* env) : env_(env) {}

  int Start() { return StartThread(&thread_, &WaiterThread::Main, this); }
  void Join() { pthread_join(thread_, nullptr); }

  // The rest is called with env_->mutex_ held.
  size_t SizeLocked() const { return set_.size(); }

  void AddLocked(AsyncWait* wait) {
    set_.push_back(wait);
    wait->owner = this;
    Poke();
  }

  void RemoveLocked(AsyncWait* wait) {
    auto it = std::find(set_.begin(), set_.end(), wait);
    if (it != set_.end()) {
      *it = set_.back();
      set_.pop_back();
    }
    wait->owner = nullptr;
  }

  void StopLocked() {
    stop_ = true;
    Poke();
  }

  // Tells the thread its set changed: bump the control word (so a
  // futex_waitv that has not started sleeping yet fails with EAGAIN) and wake
  // it (if it is already asleep).
  void Poke() {
    control_.fetch_add(1, std::memory_order_seq_cst);
    FutexWake(reinterpret_cast<uint32_t*>(&control_), 1, true);
  }

 private:
  static void* Main(void* arg) {
    static_cast<WaiterThread*>(arg)->Run();
    return nullptr;
  }

  void Run();

  EnvState* env_;
  std::vector<AsyncWait*> set_;  // guarded by env_->mutex_
  std::atomic<uint32_t> control_{0};
  bool stop_ = false;  // guarded by env_->mutex_
  pthread_t thread_{};
};

void WaiterThread::Run() {
  std::vector<struct futex_waitv> vector;
  std::vector<std::pair<AsyncWait*, uint64_t>> watched;  // vector[i + 1]
  std::vector<AsyncWait*> live;
  vector.reserve(kWaitsPerThread + 1);
  watched.reserve(kWaitsPerThread);

  std::unique_lock<std::mutex> lock(env_->mutex_);
  while (!stop_) {
    // Read the control word before looking at the set: any change made after
    // this point bumps it, and the kernel then refuses to sleep (EAGAIN).
    uint32_t seq = control_.load(std::memory_order_seq_cst);

    // Complete the waits whose deadline has passed; find the next deadline.
    int64_t now = MonotonicNowNs();
    int64_t earliest = kForever;
    for (size_t i = 0; i < set_.size();) {
      AsyncWait* wait = set_[i];
      if (wait->deadline_ns <= now) {
        set_[i] = set_.back();
        set_.pop_back();
        wait->owner = nullptr;
        env_->CompleteLocked(wait, kTimedOut);
        continue;
      }
      earliest = std::min(earliest, wait->deadline_ns);
      ++i;
    }

    vector.clear();
    watched.clear();
    vector.push_back(
        WaitvEntry(&control_, seq, FUTEX_32 | FUTEX_PRIVATE_FLAG));
    for (AsyncWait* wait : set_) {
      // Shared (not private) futexes: the words may be waited on and woken
      // from other processes.
      vector.push_back(WaitvEntry(wait->addr, wait->expected, FUTEX_32));
      watched.emplace_back(wait, wait->id);
    }
    lock.unlock();

    struct __kernel_timespec ts;
    struct __kernel_timespec* timeout = nullptr;
    if (earliest != kForever) {
      ts.tv_sec = earliest / 1000000000;
      ts.tv_nsec = earliest % 1000000000;
      timeout = &ts;
    }
    long r = syscall(SYS_futex_waitv, vector.data(),
                     static_cast<unsigned int>(vector.size()), 0, timeout,
                     CLOCK_MONOTONIC);
    int err = r < 0 ? errno : 0;

    lock.lock();
    if (stop_) break;
    // r > 0: watched[r - 1] was woken. Besides, any watched word that no
    // longer holds its expected value changed after waitAsync checked it,
    // which is what a wake announces: complete it as woken too. That catches
    // a word whose wake arrived while the thread was awake (futex_waitv
    // reports one index per return), and EAGAIN. ETIMEDOUT is handled by the
    // deadline sweep above, EINTR needs nothing. Any other error (none is
    // expected) completes everything as a spurious wake rather than spin.
    bool everything = r < 0 && err != EAGAIN && err != ETIMEDOUT &&
                      err != EINTR;
    live.assign(set_.begin(), set_.end());
    std::sort(live.begin(), live.end());
    for (size_t i = 0; i < watched.size(); i++) {
      AsyncWait* wait = watched[i].first;
      // Cancelled meanwhile (and perhaps freed): skip without touching it.
      if (!std::binary_search(live.begin(), live.end(), wait) ||
          wait->id != watched[i].second) {
        continue;
      }
      bool woken = everything || (r > 0 && static_cast<size_t>(r) == i + 1) ||
                   __atomic_load_n(wait->addr, __ATOMIC_SEQ_CST) !=
                       wait->expected;
      if (woken) {
        RemoveLocked(wait);
        env_->CompleteLocked(wait, kWoken);
      }
    }
  }
}

// ---- EnvState -----------------------------------------------------------------

EnvState::EnvState(Isolate* isolate, Local<Context> context)
    : isolate_(isolate),
      context_(isolate, context),
      loop_(node::GetCurrentEventLoop(isolate)),
      use_waitv_(FutexWaitvUsable()) {
  cleanup_hook_ = node::AddEnvironmentCleanupHook(isolate, OnCleanup, this);
}

MaybeLocal<Function> EnvState::Probe(Local<Context> context) {
  if (probe_.IsEmpty()) {
    Local<String> source =
        String::NewFromUtf8Literal(isolate_, "(function probe() {})");
    Local<Script> script;
    Local<Value> fn;
    if (!Script::Compile(context, source).ToLocal(&script) ||
        !script->Run(context).ToLocal(&fn)) {
      return MaybeLocal<Function>();
    }
    probe_.Reset(isolate_, fn.As<Function>());
  }
  return probe_.Get(isolate_);
}

bool EnvState::EnsureAsyncHandle() {
  if (async_ != nullptr) return true;
  uv_async_t* handle = new uv_async_t;
  if (uv_async_init(loop_, handle, OnAsync) != 0) {
    delete handle;
    return false;
  }
  handle->data = this;
  // Referenced only while waits are pending (see pending_).
  uv_unref(reinterpret_cast<uv_handle_t*>(handle));
  async_ = handle;
  return true;
}

void EnvState::CompleteLocked(AsyncWait* wait, int result) {
  wait->queued = true;
  completed_.emplace_back(wait->id, result);
  uv_async_send(async_);
}

int EnvState::RegisterLocked(AsyncWait* wait) {
  if (!use_waitv_) {
    auto job = std::make_unique<FallbackJob>();
    job->env = this;
    job->wait = wait;
    job->addr = wait->addr;
    job->expected = wait->expected;
    job->deadline_ns = wait->deadline_ns;
    job->store = wait->store;
    // The new thread cannot complete before we release mutex_.
    int r = StartThread(&job->thread, FallbackMain, job.get());
    if (r != 0) return r;
    wait->job = std::move(job);
    return 0;
  }
  WaiterThread* thread = nullptr;
  for (auto& candidate : threads_) {
    if (candidate->SizeLocked() < kWaitsPerThread) {
      thread = candidate.get();
      break;
    }
  }
  if (thread == nullptr) {
    // More than 127 pending waits per existing thread: add a thread. It stays
    // (asleep on its control word) until the Environment goes away.
    auto fresh = std::make_unique<WaiterThread>(this);
    int r = fresh->Start();
    if (r != 0) return r;
    thread = fresh.get();
    threads_.push_back(std::move(fresh));
  }
  thread->AddLocked(wait);
  return 0;
}

// Fallback mode: one thread per pending wait, sleeping in slices so that a
// cancellation (or the Environment's shutdown) is noticed within kSliceNs.
void* EnvState::FallbackMain(void* arg) {
  FallbackJob* job = static_cast<FallbackJob*>(arg);
  int result = -1;
  while (!job->cancelled.load()) {
    int64_t now = MonotonicNowNs();
    if (now >= job->deadline_ns) {
      result = kTimedOut;
      break;
    }
    int64_t slice_end = (job->deadline_ns - now > kSliceNs)
                            ? now + kSliceNs
                            : job->deadline_ns;
    long r = FutexWaitUntil(job->addr, job->expected, slice_end, false);
    if (r == 0) {
      result = kWoken;
      break;
    }
    int err = errno;
    if (err == ETIMEDOUT || err == EINTR) continue;
    // EAGAIN: the word changed after waitAsync checked it, i.e. a wake we did
    // not sleep through. Anything else: report a spurious wake.
    result = kWoken;
    break;
  }
  if (result >= 0) {
    std::lock_guard<std::mutex> lock(job->env->mutex_);
    // Not cancelled: the AsyncWait is still alive (it is freed only after
    // its completion has been delivered, and nobody else completes it).
    if (!job->cancelled.load()) job->env->CompleteLocked(job->wait, result);
  }
  job->finished.store(true);
  return nullptr;
}

void EnvState::ReapFallbackThreads(bool all) {
  for (auto it = orphans_.begin(); it != orphans_.end();) {
    if (all || (*it)->finished.load()) {
      pthread_join((*it)->thread, nullptr);
      it = orphans_.erase(it);
    } else {
      ++it;
    }
  }
}

// waitAsync(sab, byteOffset, expected, timeoutMs, callback): id
void EnvState::WaitAsync(const FunctionCallbackInfo<Value>& args) {
  std::shared_ptr<v8::BackingStore> store;
  uint32_t* addr = WordAddress(isolate_, args[0], args[1], &store);
  if (addr == nullptr) return;
  uint32_t expected;
  if (!ExpectedValue(isolate_, args[2], &expected)) return;
  int64_t deadline;
  if (!TimeoutToDeadline(isolate_, args[3], &deadline)) return;
  if (!args[4]->IsFunction()) {
    ThrowTypeError(isolate_, "callback must be a function");
    return;
  }
  if (closing_ || !EnsureAsyncHandle()) {
    ThrowSystemError(isolate_, EAGAIN, "uv_async_init",
                     "cannot set up asynchronous waits for", "waitAsync");
    return;
  }
  ReapFallbackThreads(false);

  auto wait = std::make_unique<AsyncWait>();
  wait->id = ++next_id_;
  wait->store = std::move(store);
  wait->addr = addr;
  wait->expected = expected;
  wait->deadline_ns = deadline;
  wait->callback.Reset(isolate_, args[4].As<Function>());
  // An async_hooks resource, so that the callback runs in the async context
  // of the waitAsync call (AsyncLocalStorage survives the wait).
  Local<Object> resource = Object::New(isolate_);
  wait->async_context =
      node::EmitAsyncInit(isolate_, resource, "MULTIPROCESSING_FUTEX_WAIT");
  wait->resource.Reset(isolate_, resource);

  int err = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (__atomic_load_n(addr, __ATOMIC_SEQ_CST) != expected) {
      // Decided now, but reported through the loop like every other result:
      // the callback never runs before waitAsync has returned.
      CompleteLocked(wait.get(), kNotEqual);
    } else {
      err = RegisterLocked(wait.get());
    }
  }
  if (err != 0) {
    node::EmitAsyncDestroy(isolate_, wait->async_context);
    ThrowSystemError(isolate_, err, "pthread_create",
                     "cannot start a waiter thread for", "waitAsync");
    return;
  }
  uint64_t id = wait->id;
  waits_.emplace(id, std::move(wait));
  if (pending_++ == 0) uv_ref(reinterpret_cast<uv_handle_t*>(async_));
  args.GetReturnValue().Set(static_cast<double>(id));
}

// cancelWait(id): true if the wait was still pending (its callback will get
// 3); false if it is unknown or has already completed (its callback gets, or
// got, the real result).
void EnvState::CancelWait(const FunctionCallbackInfo<Value>& args) {
  if (!args[0]->IsNumber()) {
    ThrowTypeError(isolate_, "the wait id must be a number");
    return;
  }
  double d = args[0].As<v8::Number>()->Value();
  if (!(d >= 1 && d <= 9007199254740991.0)) {
    args.GetReturnValue().Set(false);
    return;
  }
  auto it = waits_.find(static_cast<uint64_t>(d));
  if (it == waits_.end()) {
    args.GetReturnValue().Set(false);
    return;
  }
  AsyncWait* wait = it->second.get();
  std::lock_guard<std::mutex> lock(mutex_);
  if (wait->queued) {
    args.GetReturnValue().Set(false);
    return;
  }
  if (wait->owner != nullptr) {
    WaiterThread* owner = wait->owner;
    owner->RemoveLocked(wait);
    owner->Poke();  // let it drop the word from its futex_waitv
  }
  if (wait->job) wait->job->cancelled.store(true);
  CompleteLocked(wait, kCancelled);
  args.GetReturnValue().Set(true);
}

Local<Object> EnvState::Stats(Local<Context> context) {
  size_t threads;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    threads = threads_.size();
  }
  if (!use_waitv_) {
    threads = orphans_.size();
    for (auto& entry : waits_) {
      if (entry.second->job) threads++;
    }
  }
  Local<Object> stats = Object::New(isolate_);
  auto set = [&](const char* key, Local<Value> value) {
    stats->Set(context, String::NewFromUtf8(isolate_, key).ToLocalChecked(),
               value)
        .Check();
  };
  set("mappings",
      v8::Number::New(isolate_, static_cast<double>(LiveMappings())));
  set("waiterThreads",
      v8::Number::New(isolate_, static_cast<double>(threads)));
  set("pendingWaits",
      v8::Number::New(isolate_, static_cast<double>(pending_)));
  set("futexWaitv", v8::Boolean::New(isolate_, use_waitv_));
  return stats;
}

// ---- delivery on the JavaScript thread ---------------------------------------

void EnvState::OnAsync(uv_async_t* handle) {
  static_cast<EnvState*>(handle->data)->Deliver();
}

void EnvState::Deliver() {
  if (closing_) return;
  HandleScope outer(isolate_);
  Local<Context> context = context_.Get(isolate_);
  Context::Scope context_scope(context);

  std::vector<std::pair<uint64_t, int>> batch;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    batch.swap(completed_);
  }
  for (const auto& entry : batch) {
    auto it = waits_.find(entry.first);
    if (it == waits_.end()) continue;
    std::unique_ptr<AsyncWait> wait = std::move(it->second);
    waits_.erase(it);
    if (wait->job) {
      if (wait->job->cancelled.load()) {
        // Its thread may sleep up to one more slice: join it later.
        orphans_.push_back(std::move(wait->job));
      } else {
        // It completed the wait itself and is returning right now.
        pthread_join(wait->job->thread, nullptr);
      }
    }
    // Unreference before the callback: if it waits again, it references
    // the handle again.
    if (--pending_ == 0) uv_unref(reinterpret_cast<uv_handle_t*>(async_));

    HandleScope scope(isolate_);
    Local<Function> callback = wait->callback.Get(isolate_);
    Local<Object> resource = wait->resource.Get(isolate_);
    node::async_context async_context = wait->async_context;
    wait.reset();
    Local<Value> argv[1] = {v8::Integer::New(isolate_, entry.second)};
    // MakeCallback enters the wait's async context and afterwards runs
    // process.nextTick callbacks and microtasks, like any Node.js callback.
    // A callback that throws is an uncaught exception (the 'uncaughtException'
    // machinery decides); the remaining callbacks still run.
    (void)node::MakeCallback(isolate_, resource, callback, 1, argv,
                             async_context);
    node::EmitAsyncDestroy(isolate_, async_context);
  }
  ReapFallbackThreads(false);
}

// ---- Environment teardown ------------------------------------------------------

void EnvState::Shutdown() {
  closing_ = true;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& thread : threads_) thread->StopLocked();
    for (auto& entry : waits_) {
      if (entry.second->job) entry.second->job->cancelled.store(true);
    }
    for (auto& job : orphans_) job->cancelled.store(true);
  }
  // Waiter threads wake at once (control word); fallback threads within one
  // slice.
  for (auto& thread : threads_) thread->Join();
  for (auto& entry : waits_) {
    if (entry.second->job) pthread_join(entry.second->job->thread, nullptr);
  }
  ReapFallbackThreads(true);
  // No native thread is left. Pending waits are dropped without their
  // callbacks (the Environment can no longer run JavaScript); dropping them
  // releases their buffers.
  threads_.clear();
  waits_.clear();
  completed_.clear();
  probe_.Reset();
  context_.Reset();
}

// Runs on the JavaScript thread when its Environment is torn down: normal
// exit of a worker or of the main thread, and worker.terminate(). It is the
// asynchronous kind of hook so that the uv_async_t can be closed properly:
// Node keeps running the loop until `done` is called.
void EnvState::OnCleanup(void* arg, void (*done)(void*), void* done_arg) {
  EnvState* state = static_cast<EnvState*>(arg);
  state->Shutdown();
  state->cleanup_done_ = done;
  state->cleanup_done_arg_ = done_arg;
  if (state->async_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(state->async_), OnClosed);
    return;
  }
  delete state;
  done(done_arg);
}

void EnvState::OnClosed(uv_handle_t* handle) {
  EnvState* state = static_cast<EnvState*>(handle->data);
  delete reinterpret_cast<uv_async_t*>(handle);
  void (*done)(void*) = state->cleanup_done_;
  void* done_arg = state->cleanup_done_arg_;
  delete state;
  done(done_arg);
}

// ---- exported wrappers -----------------------------------------------------------

void WaitAsyncJs(const FunctionCallbackInfo<Value>& args) {
  StateOf(args)->WaitAsync(args);
}

void CancelWaitJs(const FunctionCallbackInfo<Value>& args) {
  StateOf(args)->CancelWait(args);
}

}  // namespace mpnative
