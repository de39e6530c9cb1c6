# Built by scripts/build-native.mjs (the package's "install" script) with
# node-gyp, into native/build/Release/multiprocessing_native.node, where
# src/internal/native.ts looks for it. Linux only: futex and futex_waitv.
{
  "targets": [
    {
      "target_name": "multiprocessing_native",
      "sources": [
        "src/addon.cc",
        "src/common.cc",
        "src/futex.cc",
        "src/shm.cc",
        "src/waiter.cc"
      ],
      "cflags_cc": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-pthread"],
      # -z nodelete: the library must never be unloaded. Node dlcloses an addon
      # when the worker that loaded it ends, but V8 may still call our
      # SharedArrayBuffer deleter (munmap) later, from any thread holding a
      # copy of the buffer (or from that worker's own isolate teardown).
      "ldflags": ["-pthread", "-Wl,-z,nodelete"],
      # shm_open lives in librt before glibc 2.34 (an empty stub after).
      "libraries": ["-lrt"]
    }
  ]
}
