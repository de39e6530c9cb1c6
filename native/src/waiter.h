// Per-Environment state and the asynchronous futex waits (waitAsync).
//
// Every JavaScript thread (the main thread and each worker: one Node.js
// Environment each) that loads the addon gets one EnvState. Asynchronous
// waits never touch the libuv thread pool. Instead:
//
//   * JS thread   waitAsync() records an AsyncWait and hands it to a waiter
//                 thread, bumping that thread's private control word so it
//                 notices the change.
//   * waiter      one native thread per Environment (more only when over 127
//     thread     waits are pending at once) sleeps in ONE futex_waitv system
//                 call (Linux >= 5.16) over its control word plus every
//                 pending wait's word. When a word is woken, changes, or its
//                 deadline passes, it queues a completion and signals the
//                 Environment's uv_async_t.
//   * JS thread   the uv_async_t callback runs the JavaScript callbacks with
//                 the result, on the thread that called waitAsync.
//
// Without futex_waitv (older kernels, seccomp) each pending wait gets its own
// short-lived thread that waits in FUTEX_WAIT_BITSET slices instead
// (FallbackJob); cancellation is then noticed at the end of a slice.
//
// The uv_async_t is referenced only while waits are pending, so an idle
// waiter never keeps the program alive. An asynchronous Environment cleanup
// hook stops and joins every native thread and closes the handle when the
// Environment goes away (worker.terminate() included, pending waits or not).
#ifndef MPNATIVE_WAITER_H_
#define MPNATIVE_WAITER_H_

#include <pthread.h>
#include <uv.h>

#include <atomic>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common.h"

namespace mpnative {

// Results passed to a waitAsync callback (0-2 as futexWait).
enum WaitResult : int {
  kWoken = 0,
  kNotEqual = 1,
  kTimedOut = 2,
  kCancelled = 3,
};

class WaiterThread;
struct AsyncWait;

// Fallback mode only: one thread waiting for one AsyncWait.
struct FallbackJob {
  EnvState* env = nullptr;
  AsyncWait* wait = nullptr;  // valid while !cancelled (see waiter.cc)
  uint32_t* addr = nullptr;
  uint32_t expected = 0;
  int64_t deadline_ns = kForever;
  std::shared_ptr<v8::BackingStore> store;  // the word stays mapped
  std::atomic<bool> cancelled{false};  // written under EnvState::mutex_
  std::atomic<bool> finished{false};   // the thread is about to return
  pthread_t thread{};
};

// One pending waitAsync.
struct AsyncWait {
  uint64_t id = 0;
  std::shared_ptr<v8::BackingStore> store;  // keeps the word mapped
  uint32_t* addr = nullptr;
  uint32_t expected = 0;
  int64_t deadline_ns = kForever;

  // JavaScript thread only.
  v8::Global<v8::Function> callback;
  v8::Global<v8::Object> resource;  // async_hooks resource of this wait
  node::async_context async_context{0, 0};

  // Guarded by EnvState::mutex_.
  WaiterThread* owner = nullptr;  // waiter thread watching it, if any
  bool queued = false;  // its completion is queued; it can no longer change
  std::unique_ptr<FallbackJob> job;  // fallback mode
};

class EnvState {
 public:
  EnvState(v8::Isolate* isolate, v8::Local<v8::Context> context);

  // Called from the addon's functions (JavaScript thread).
  void WaitAsync(const v8::FunctionCallbackInfo<v8::Value>& args);
  void CancelWait(const v8::FunctionCallbackInfo<v8::Value>& args);
  v8::Local<v8::Object> Stats(v8::Local<v8::Context> context);

  // A JavaScript function that does nothing: calling it makes V8 act on a
  // pending TerminateExecution (see futex.cc). Created on first use.
  v8::MaybeLocal<v8::Function> Probe(v8::Local<v8::Context> context);

  // Queues the completion of `wait` and signals the JavaScript thread.
  // Caller holds mutex_; any thread.
  void CompleteLocked(AsyncWait* wait, int result);

  std::mutex mutex_;

 private:
  friend class WaiterThread;

  static void OnAsync(uv_async_t* handle);
  static void OnCleanup(void* arg, void (*done)(void*), void* done_arg);
  static void OnClosed(uv_handle_t* handle);
  static void* FallbackMain(void* arg);

  bool EnsureAsyncHandle();
  void Deliver();
  // Hands `wait` to a waiter thread (or a fallback thread). Returns 0 or an
  // errno value from pthread_create. Caller holds mutex_.
  int RegisterLocked(AsyncWait* wait);
  void ReapFallbackThreads(bool all);
  void Shutdown();

  v8::Isolate* isolate_;
  v8::Global<v8::Context> context_;
  uv_loop_t* loop_;
  uv_async_t* async_ = nullptr;  // created on the first waitAsync
  bool closing_ = false;
  bool use_waitv_;

  // JavaScript thread only.
  uint64_t next_id_ = 0;
  size_t pending_ = 0;  // waits whose callback has not run yet
  std::unordered_map<uint64_t, std::unique_ptr<AsyncWait>> waits_;
  // Fallback threads of cancelled waits, joined once they have finished.
  std::vector<std::unique_ptr<FallbackJob>> orphans_;
  v8::Global<v8::Function> probe_;
  node::AsyncCleanupHookHandle cleanup_hook_;
  void (*cleanup_done_)(void*) = nullptr;
  void* cleanup_done_arg_ = nullptr;

  // Guarded by mutex_ (the vector itself only changes on the JS thread).
  std::vector<std::pair<uint64_t, int>> completed_;
  std::vector<std::unique_ptr<WaiterThread>> threads_;
};

// Returns the EnvState stored as the data of the called function.
inline EnvState* StateOf(const v8::FunctionCallbackInfo<v8::Value>& args) {
  return static_cast<EnvState*>(args.Data().As<v8::External>()->Value());
}

}  // namespace mpnative

#endif  // MPNATIVE_WAITER_H_
