// Shared declarations of the multiprocessing-ts native addon.
//
// The addon is written against the V8 and Node.js C++ headers (not N-API):
// N-API cannot wrap external memory in a SharedArrayBuffer, and that is the
// whole point of `shmCreate`/`shmOpen`.
//
// Layout of the sources:
//   common.h / common.cc  errors, argument checks, clocks, raw futex calls
//   shm.cc                POSIX shared memory -> SharedArrayBuffer
//   futex.cc              blocking futexWait / futexWake
//   waiter.h / waiter.cc  waitAsync / cancelWait: one waiter thread per
//                         JavaScript thread, completions posted to its loop
//   addon.cc              module initialisation (context-aware)
#ifndef MPNATIVE_COMMON_H_
#define MPNATIVE_COMMON_H_

#include <node.h>
#include <v8.h>

#include <cstdint>
#include <memory>
#include <string>

namespace mpnative {

// Bumped whenever the exported functions change in an incompatible way; the
// TypeScript loader refuses a stale build whose version differs.
constexpr int kAbiVersion = 1;

// "No deadline": waits whose timeout is negative, NaN, Infinity or absent.
constexpr int64_t kForever = INT64_MAX;

// A blocking futexWait sleeps in slices of at most this long, and between two
// slices lets V8 notice a pending TerminateExecution (worker.terminate(), vm
// timeouts): a thread blocked in the kernel must still stop when asked to.
constexpr int64_t kSliceNs = 50 * 1000 * 1000;  // 50 ms

class EnvState;  // per-Environment state, waiter.h

// ---- time -----------------------------------------------------------------

// CLOCK_MONOTONIC in nanoseconds: the clock of every deadline in the addon
// (futex_waitv and FUTEX_WAIT_BITSET both take absolute monotonic times).
int64_t MonotonicNowNs();

// Turns a JavaScript timeout in milliseconds into an absolute monotonic
// deadline. undefined, NaN, negative and Infinity mean "wait forever"
// (kForever). Returns false (with a TypeError thrown) if `value` is neither a
// number nor undefined.
bool TimeoutToDeadline(v8::Isolate* isolate, v8::Local<v8::Value> value,
                       int64_t* deadline_ns);

// ---- raw futex calls --------------------------------------------------------
// All of them return the raw syscall result (-1 with errno set on failure).
// `is_private` selects FUTEX_PRIVATE_FLAG, which is only correct for memory
// that never leaves this process (the waiter threads' control words). Words
// in a SharedArrayBuffer are always waited on and woken WITHOUT it, so that
// the kernel keys them by the shared mapping and waiters in other processes
// see the same futex.

// FUTEX_WAIT_BITSET with an absolute CLOCK_MONOTONIC deadline (kForever: no
// timeout). 0 when woken; -1 with EAGAIN (*addr != expected), ETIMEDOUT or
// EINTR otherwise.
long FutexWaitUntil(uint32_t* addr, uint32_t expected, int64_t deadline_ns,
                    bool is_private);

// FUTEX_WAKE: returns the number of waiters woken.
long FutexWake(uint32_t* addr, int count, bool is_private);

// Whether the futex_waitv syscall (Linux >= 5.16) is usable here. Probed once
// per process; the environment variable MULTIPROCESSING_TS_NO_FUTEX_WAITV=1
// forces the fallback (one thread per pending wait) for testing.
bool FutexWaitvUsable();

// ---- errors -----------------------------------------------------------------

// "EEXIST", "ENOENT", ... ("E<number>" for an unknown value).
std::string ErrnoName(int err);

void ThrowTypeError(v8::Isolate* isolate, const std::string& message);
void ThrowRangeError(v8::Isolate* isolate, const std::string& message);

// Throws an Error shaped like Node's system errors: message
// "<what> \"<path>\": <strerror> (<CODE>)", and properties `code` (errno
// name), `errno` (negative, as in Node), `syscall` and `path`.
void ThrowSystemError(v8::Isolate* isolate, int err, const char* syscall,
                      const std::string& what, const std::string& path);

// ---- arguments --------------------------------------------------------------

// Resolves (sab, byteOffset) to the address of a 32-bit word. `sab` must be a
// SharedArrayBuffer (TypeError); byteOffset an integer, a multiple of 4, with
// the whole word inside the buffer (RangeError). Returns nullptr with an
// exception thrown on failure. If `keep` is given it receives a reference to
// the backing store, which keeps the memory mapped for as long as it is held.
uint32_t* WordAddress(v8::Isolate* isolate, v8::Local<v8::Value> sab,
                      v8::Local<v8::Value> byte_offset,
                      std::shared_ptr<v8::BackingStore>* keep = nullptr);

// ECMAScript ToInt32 of a number, returned as the uint32 bit pattern the
// kernel compares against (so -1 and 0xFFFFFFFF are the same expected value).
// False (with a TypeError thrown) if `value` is not a number.
bool ExpectedValue(v8::Isolate* isolate, v8::Local<v8::Value> value,
                   uint32_t* out);

// Registers `callback` as exports[name], with `data` available to it through
// FunctionCallbackInfo::Data().
void SetMethod(v8::Local<v8::Context> context, v8::Local<v8::Object> exports,
               const char* name, v8::FunctionCallback callback,
               v8::Local<v8::Value> data);

// ---- the exported functions ------------------------------------------------

void ShmCreate(const v8::FunctionCallbackInfo<v8::Value>& args);
void ShmOpen(const v8::FunctionCallbackInfo<v8::Value>& args);
void ShmUnlink(const v8::FunctionCallbackInfo<v8::Value>& args);
void FutexWaitJs(const v8::FunctionCallbackInfo<v8::Value>& args);
void FutexWakeJs(const v8::FunctionCallbackInfo<v8::Value>& args);
void WaitAsyncJs(const v8::FunctionCallbackInfo<v8::Value>& args);
void CancelWaitJs(const v8::FunctionCallbackInfo<v8::Value>& args);

// Number of shared-memory mappings made by shmCreate/shmOpen that V8 has not
// released yet, in the whole process (for tests and diagnostics).
int64_t LiveMappings();

}  // namespace mpnative

#endif  // MPNATIVE_COMMON_H_
