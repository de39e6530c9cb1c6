// Helpers shared by the addon's functions: clocks, raw futex system calls,
// errors and argument checks. See common.h for the contracts.
#include "common.h"

#include <errno.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449  // Linux 5.16, same number on every architecture
#endif

namespace mpnative {

using v8::Context;
using v8::Exception;
using v8::FunctionCallback;
using v8::FunctionTemplate;
using v8::Integer;
using v8::Isolate;
using v8::Local;
using v8::NewStringType;
using v8::Object;
using v8::SharedArrayBuffer;
using v8::String;
using v8::Value;

// ---- time -----------------------------------------------------------------

int64_t MonotonicNowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

bool TimeoutToDeadline(Isolate* isolate, Local<Value> value,
                       int64_t* deadline_ns) {
  if (value->IsUndefined()) {
    *deadline_ns = kForever;
    return true;
  }
  if (!value->IsNumber()) {
    ThrowTypeError(isolate, "timeout must be a number of milliseconds");
    return false;
  }
  double ms = value.As<v8::Number>()->Value();
  // Anything beyond ~31 years is as good as forever (and would overflow).
  if (std::isnan(ms) || ms < 0 || ms > 1e12) {
    *deadline_ns = kForever;
    return true;
  }
  *deadline_ns = MonotonicNowNs() + static_cast<int64_t>(ms * 1e6);
  return true;
}

// ---- raw futex calls --------------------------------------------------------

long FutexWaitUntil(uint32_t* addr, uint32_t expected, int64_t deadline_ns,
                    bool is_private) {
  // FUTEX_WAIT_BITSET (unlike FUTEX_WAIT) takes an absolute timeout, measured
  // on CLOCK_MONOTONIC unless FUTEX_CLOCK_REALTIME is given. With the
  // "match any" bitset it is woken by a plain FUTEX_WAKE.
  struct timespec ts;
  struct timespec* timeout = nullptr;
  if (deadline_ns != kForever) {
    if (deadline_ns < 0) deadline_ns = 0;
    ts.tv_sec = deadline_ns / 1000000000;
    ts.tv_nsec = deadline_ns % 1000000000;
    timeout = &ts;
  }
  int op = FUTEX_WAIT_BITSET | (is_private ? FUTEX_PRIVATE_FLAG : 0);
  return syscall(SYS_futex, addr, op, expected, timeout, nullptr,
                 FUTEX_BITSET_MATCH_ANY);
}

long FutexWake(uint32_t* addr, int count, bool is_private) {
  int op = FUTEX_WAKE | (is_private ? FUTEX_PRIVATE_FLAG : 0);
  return syscall(SYS_futex, addr, op, count, nullptr, nullptr, 0);
}

bool FutexWaitvUsable() {
  // -1: not probed yet, 0: no, 1: yes. Benign race: every prober computes the
  // same answer.
  static std::atomic<int> usable{-1};
  int known = usable.load(std::memory_order_relaxed);
  if (known >= 0) return known == 1;
  bool ok;
  const char* force_off = getenv("MULTIPROCESSING_TS_NO_FUTEX_WAITV");
  if (force_off != nullptr && force_off[0] != '\0' &&
      strcmp(force_off, "0") != 0) {
    ok = false;
  } else {
    // Zero futexes is invalid: a kernel that knows the call answers EINVAL;
    // an old kernel answers ENOSYS, a seccomp filter typically EPERM.
    long r = syscall(SYS_futex_waitv, nullptr, 0, 0, nullptr, 0);
    ok = r == -1 && errno == EINVAL;
  }
  usable.store(ok ? 1 : 0, std::memory_order_relaxed);
  return ok;
}

// ---- errors -----------------------------------------------------------------

std::string ErrnoName(int err) {
#if defined(__GLIBC__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char* name = strerrorname_np(err);
  if (name != nullptr) return name;
#else
  switch (err) {
    case EEXIST: return "EEXIST";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case ENOMEM: return "ENOMEM";
    case ENOSPC: return "ENOSPC";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EFAULT: return "EFAULT";
    case EAGAIN: return "EAGAIN";
    case EPERM: return "EPERM";
    default: break;
  }
#endif
  return "E" + std::to_string(err);
}

static Local<String> Str(Isolate* isolate, const std::string& s) {
  return String::NewFromUtf8(isolate, s.data(), NewStringType::kNormal,
                             static_cast<int>(s.size()))
      .ToLocalChecked();
}

void ThrowTypeError(Isolate* isolate, const std::string& message) {
  isolate->ThrowException(Exception::TypeError(Str(isolate, message)));
}

void ThrowRangeError(Isolate* isolate, const std::string& message) {
  isolate->ThrowException(Exception::RangeError(Str(isolate, message)));
}

void ThrowSystemError(Isolate* isolate, int err, const char* syscall,
                      const std::string& what, const std::string& path) {
  std::string code = ErrnoName(err);
  std::string message =
      what + " \"" + path + "\": " + strerror(err) + " (" + code + ")";
  Local<Context> context = isolate->GetCurrentContext();
  Local<Object> error =
      Exception::Error(Str(isolate, message)).As<Object>();
  // Set() on a fresh Error can only fail with an exception already pending
  // (termination): then that exception wins and we throw nothing.
  if (error->Set(context, Str(isolate, "code"), Str(isolate, code))
          .IsNothing() ||
      error->Set(context, Str(isolate, "errno"), Integer::New(isolate, -err))
          .IsNothing() ||
      error->Set(context, Str(isolate, "syscall"), Str(isolate, syscall))
          .IsNothing() ||
      error->Set(context, Str(isolate, "path"), Str(isolate, path))
          .IsNothing()) {
    return;
  }
  isolate->ThrowException(error);
}

// ---- arguments --------------------------------------------------------------

uint32_t* WordAddress(Isolate* isolate, Local<Value> sab,
                      Local<Value> byte_offset,
                      std::shared_ptr<v8::BackingStore>* keep) {
  if (!sab->IsSharedArrayBuffer()) {
    ThrowTypeError(isolate, "expected a SharedArrayBuffer");
    return nullptr;
  }
  if (!byte_offset->IsNumber()) {
    ThrowTypeError(isolate, "byteOffset must be a number");
    return nullptr;
  }
  Local<SharedArrayBuffer> buffer = sab.As<SharedArrayBuffer>();
  size_t length = buffer->ByteLength();
  double offset = byte_offset.As<v8::Number>()->Value();
  // The comparisons are written so that NaN fails them all.
  if (!(offset >= 0) || offset != std::floor(offset) ||
      !(offset + 4 <= static_cast<double>(length))) {
    char shown[32];
    snprintf(shown, sizeof(shown), "%.17g", offset);
    ThrowRangeError(isolate, std::string("byteOffset ") + shown +
                                 " is outside the buffer (byteLength " +
                                 std::to_string(length) + ")");
    return nullptr;
  }
  size_t index = static_cast<size_t>(offset);
  if (index % 4 != 0) {
    ThrowRangeError(isolate, "byteOffset " + std::to_string(index) +
                                 " is not a multiple of 4");
    return nullptr;
  }
  char* base;
  if (keep != nullptr) {
    *keep = buffer->GetBackingStore();
    base = static_cast<char*>((*keep)->Data());
  } else {
    base = static_cast<char*>(buffer->Data());
  }
  // Buffers V8 allocates itself and our mmaps are at least 8-byte aligned, so
  // a 4-aligned offset gives a 4-aligned address; check anyway, the kernel
  // would refuse a misaligned futex with EINVAL.
  char* word = base + index;
  if (reinterpret_cast<uintptr_t>(word) % 4 != 0) {
    ThrowRangeError(isolate, "the word is not 4-byte aligned in memory");
    return nullptr;
  }
  return reinterpret_cast<uint32_t*>(word);
}

bool ExpectedValue(Isolate* isolate, Local<Value> value, uint32_t* out) {
  if (value->IsInt32()) {
    *out = static_cast<uint32_t>(value.As<v8::Int32>()->Value());
    return true;
  }
  if (!value->IsNumber()) {
    ThrowTypeError(isolate, "expected value must be a number");
    return false;
  }
  // ToInt32: truncate, then wrap modulo 2^32; NaN and infinities give 0.
  double d = value.As<v8::Number>()->Value();
  if (!std::isfinite(d)) {
    *out = 0;
    return true;
  }
  double wrapped = std::fmod(std::trunc(d), 4294967296.0);
  if (wrapped < 0) wrapped += 4294967296.0;
  *out = static_cast<uint32_t>(wrapped);
  return true;
}

void SetMethod(Local<Context> context, Local<Object> exports, const char* name,
               FunctionCallback callback, Local<Value> data) {
  Isolate* isolate = context->GetIsolate();
  Local<FunctionTemplate> tmpl =
      FunctionTemplate::New(isolate, callback, data, Local<v8::Signature>(), 0,
                            v8::ConstructorBehavior::kThrow);
  Local<v8::Function> fn = tmpl->GetFunction(context).ToLocalChecked();
  Local<String> key = String::NewFromUtf8(isolate, name).ToLocalChecked();
  fn->SetName(key);
  exports->Set(context, key, fn).Check();
}

}  // namespace mpnative
