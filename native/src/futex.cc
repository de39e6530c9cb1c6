// Blocking futex wait and wake on a 32-bit word of a SharedArrayBuffer.
//
// The futex is NOT private: for a MAP_SHARED segment the kernel keys it by
// the segment's inode and offset, so a waiter in one process is woken by a
// FUTEX_WAKE from another. (V8's Atomics.wait/notify keep their waiters in a
// per-process list and do not wake futex waiters, nor the reverse: every
// waiter of one object must use the same mechanism.)
#include <errno.h>
#include <limits.h>

#include <cmath>

#include "common.h"
#include "waiter.h"

namespace mpnative {

using v8::Context;
using v8::Function;
using v8::FunctionCallbackInfo;
using v8::Isolate;
using v8::Local;
using v8::Value;

// futexWait(sab, byteOffset, expected, timeoutMs): 0 woken, 1 the word did
// not hold `expected`, 2 timed out. EINTR counts as woken: callers re-check
// their condition after every return anyway.
void FutexWaitJs(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  uint32_t* addr = WordAddress(isolate, args[0], args[1]);
  if (addr == nullptr) return;
  uint32_t expected;
  if (!ExpectedValue(isolate, args[2], &expected)) return;
  int64_t deadline;
  if (!TimeoutToDeadline(isolate, args[3], &deadline)) return;

  // Sleep in slices so that worker.terminate() (or a vm timeout) is honoured
  // within kSliceNs even though the thread sits in the kernel: between two
  // slices we call a no-op JavaScript function, and V8 acts on a pending
  // TerminateExecution on function entry. The probe is only ever called
  // after a whole slice has passed, so short waits pay nothing for it.
  for (bool first = true;; first = false) {
    int64_t now = MonotonicNowNs();
    int64_t slice_end =
        (deadline - now > kSliceNs) ? now + kSliceNs : deadline;
    long r = FutexWaitUntil(addr, expected, slice_end, false);
    if (r == 0) {
      args.GetReturnValue().Set(0);
      return;
    }
    int err = errno;
    if (err == EAGAIN) {
      // On the first call the word did not hold `expected`. Later, it changed
      // while we were between two slices: that is a wake we did not sleep
      // through, so report it as one.
      args.GetReturnValue().Set(first ? 1 : 0);
      return;
    }
    if (err == EINTR) {
      args.GetReturnValue().Set(0);
      return;
    }
    if (err != ETIMEDOUT) {
      ThrowSystemError(isolate, err, "futex", "futexWait failed on",
                       "SharedArrayBuffer");
      return;
    }
    if (slice_end >= deadline) {
      args.GetReturnValue().Set(2);
      return;
    }
    // End of a slice: give V8 a chance to terminate this thread.
    Local<Context> context = isolate->GetCurrentContext();
    Local<Function> probe;
    if (!StateOf(args)->Probe(context).ToLocal(&probe)) return;
    if (probe->Call(context, v8::Undefined(isolate), 0, nullptr).IsEmpty()) {
      // Terminating (or, impossibly, the no-op threw): let it propagate.
      return;
    }
  }
}

// futexWake(sab, byteOffset, count): number of waiters woken. count < 0,
// Infinity or undefined means all of them (INT_MAX); NaN means 0, as for
// Atomics.notify.
void FutexWakeJs(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  uint32_t* addr = WordAddress(isolate, args[0], args[1]);
  if (addr == nullptr) return;
  int count;
  if (args[2]->IsUndefined()) {
    count = INT_MAX;
  } else if (args[2]->IsNumber()) {
    double d = args[2].As<v8::Number>()->Value();
    if (std::isnan(d)) {
      count = 0;
    } else if (d < 0 || d >= static_cast<double>(INT_MAX)) {
      count = INT_MAX;
    } else {
      count = static_cast<int>(d);
    }
  } else {
    ThrowTypeError(isolate, "count must be a number");
    return;
  }
  long r = FutexWake(addr, count, false);
  if (r < 0) {
    ThrowSystemError(isolate, errno, "futex", "futexWake failed on",
                     "SharedArrayBuffer");
    return;
  }
  args.GetReturnValue().Set(static_cast<double>(r));
}

}  // namespace mpnative
