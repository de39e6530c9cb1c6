// POSIX shared memory handed to JavaScript as a real SharedArrayBuffer.
//
// shm_open + ftruncate + mmap(MAP_SHARED), then the file descriptor is closed
// (the mapping keeps the segment's pages alive). The mapping becomes the
// backing store of a SharedArrayBuffer; V8 shares that backing store between
// every copy of the buffer (postMessage to workers included) and calls our
// deleter, which munmaps, once the last of them has been collected.
//
// Segment names: POSIX wants "/name". A name given without the leading slash
// gets one (Python's SharedMemory does the same), so "psm_1234" and
// "/psm_1234" are the same segment, visible as /dev/shm/psm_1234 on Linux.
//
// Note: as in Python, the size is reserved with ftruncate only. On tmpfs the
// pages are allocated when first touched; if /dev/shm is full at that point
// the process gets SIGBUS. That is the usual behaviour of POSIX shared memory.
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cmath>

#include "common.h"

namespace mpnative {

using v8::BackingStore;
using v8::FunctionCallbackInfo;
using v8::Isolate;
using v8::Local;
using v8::SharedArrayBuffer;
using v8::String;
using v8::Value;

namespace {

std::atomic<int64_t> live_mappings{0};

// The BackingStore deleter: runs on whichever thread drops the last
// reference (possibly a worker's, at its isolate's disposal).
void Unmap(void* data, size_t length, void* /*deleter_data*/) {
  munmap(data, length);
  live_mappings.fetch_sub(1, std::memory_order_relaxed);
}

// Reads and normalises a segment name. False with a TypeError thrown if it
// is not a non-empty string without NUL characters.
bool SegmentName(Isolate* isolate, Local<Value> value, std::string* out) {
  if (!value->IsString()) {
    ThrowTypeError(isolate, "the segment name must be a string");
    return false;
  }
  String::Utf8Value utf8(isolate, value);
  std::string name(*utf8, utf8.length());
  if (name.empty() || name == "/") {
    ThrowTypeError(isolate, "the segment name must not be empty");
    return false;
  }
  if (name.find('\0') != std::string::npos) {
    ThrowTypeError(isolate, "the segment name must not contain NUL");
    return false;
  }
  if (name[0] != '/') name.insert(0, 1, '/');
  *out = std::move(name);
  return true;
}

// Wraps `size` bytes mapped at `data` in a SharedArrayBuffer that owns them.
Local<SharedArrayBuffer> WrapMapping(Isolate* isolate, void* data,
                                     size_t size) {
  live_mappings.fetch_add(1, std::memory_order_relaxed);
  std::unique_ptr<BackingStore> store =
      SharedArrayBuffer::NewBackingStore(data, size, Unmap, nullptr);
  return SharedArrayBuffer::New(isolate,
                                std::shared_ptr<BackingStore>(std::move(store)));
}

}  // namespace

int64_t LiveMappings() {
  return live_mappings.load(std::memory_order_relaxed);
}

// shmCreate(name: string, size: number): SharedArrayBuffer
void ShmCreate(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  std::string name;
  if (!SegmentName(isolate, args[0], &name)) return;
  if (!args[1]->IsNumber()) {
    ThrowTypeError(isolate, "size must be a number");
    return;
  }
  double requested = args[1].As<v8::Number>()->Value();
  // 2^53 - 1: the largest byteLength JavaScript can represent exactly.
  if (!(requested >= 1) || requested != std::floor(requested) ||
      requested > 9007199254740991.0) {
    ThrowRangeError(isolate,
                    "size must be a positive integer number of bytes");
    return;
  }
  size_t size = static_cast<size_t>(requested);

  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) {
    ThrowSystemError(isolate, errno, "shm_open",
                     "cannot create shared memory segment", name);
    return;
  }
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    int err = errno;
    close(fd);
    shm_unlink(name.c_str());  // do not leave a half-made segment behind
    ThrowSystemError(isolate, err, "ftruncate",
                     "cannot size shared memory segment", name);
    return;
  }
  void* data = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);
  if (data == MAP_FAILED) {
    shm_unlink(name.c_str());
    ThrowSystemError(isolate, err, "mmap",
                     "cannot map shared memory segment", name);
    return;
  }
  args.GetReturnValue().Set(WrapMapping(isolate, data, size));
}

// shmOpen(name: string): SharedArrayBuffer -- the size comes from fstat.
void ShmOpen(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  std::string name;
  if (!SegmentName(isolate, args[0], &name)) return;
  int fd = shm_open(name.c_str(), O_RDWR, 0);
  if (fd < 0) {
    ThrowSystemError(isolate, errno, "shm_open",
                     "cannot open shared memory segment", name);
    return;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    ThrowSystemError(isolate, err, "fstat",
                     "cannot stat shared memory segment", name);
    return;
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    // mmap refuses a zero length; an empty segment is an empty buffer.
    close(fd);
    args.GetReturnValue().Set(SharedArrayBuffer::New(isolate, 0));
    return;
  }
  void* data = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);
  if (data == MAP_FAILED) {
    ThrowSystemError(isolate, err, "mmap",
                     "cannot map shared memory segment", name);
    return;
  }
  args.GetReturnValue().Set(WrapMapping(isolate, data, size));
}

// shmUnlink(name: string): boolean -- false if there was no such segment.
// Existing mappings stay valid until they are released.
void ShmUnlink(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  std::string name;
  if (!SegmentName(isolate, args[0], &name)) return;
  if (shm_unlink(name.c_str()) == 0) {
    args.GetReturnValue().Set(true);
    return;
  }
  if (errno == ENOENT) {
    args.GetReturnValue().Set(false);
    return;
  }
  ThrowSystemError(isolate, errno, "shm_unlink",
                   "cannot unlink shared memory segment", name);
}

}  // namespace mpnative
