/**
 * The `koffi` fallback (second in the chain, after the native addon): POSIX
 * shared memory and the Linux futex through the prebuilt FFI package `koffi`
 * (an optional dependency), with nothing to compile.
 *
 * What differs from the native addon:
 * - a mapping is a plain `ArrayBuffer` (`koffi.view`), not a
 *   `SharedArrayBuffer`: every access to shared words must go through
 *   `Atomics` (which works on non-shared integer arrays; `Atomics.wait` does
 *   not, and `Atomics.notify` wakes nobody there), and such a buffer cannot be
 *   posted to a worker thread as shared memory, so every thread maps segments
 *   by name;
 * - waits are raw `futex` system calls (`FUTEX_WAIT`/`FUTEX_WAKE` without
 *   `FUTEX_PRIVATE_FLAG`, so they work across processes) on the word's
 *   address; asynchronous waits go to a dedicated worker thread
 *   (internal/koffi-waiter), never to `koffi`'s `.async()` calls, which run on
 *   libuv's thread pool;
 * - a mapping is unmapped when its `ArrayBuffer` is garbage-collected.
 *
 * Linux x86_64 and arm64 only (system call numbers). Never throws at import.
 * @internal
 */
import { createRequire } from 'node:module';

/** The few `koffi` functions used here (typed locally: the package is optional). */
interface KoffiFn {
  (...args: unknown[]): unknown;
}
interface KoffiLib {
  func(definition: string): KoffiFn;
}
interface KoffiModule {
  load(path: string): KoffiLib;
  view(ptr: number, len: number): ArrayBuffer;
  errno(): number;
}

/** A mapping of shared memory: the buffer and its address in this process. */
export interface Mapping {
  readonly buf: ArrayBuffer;
  readonly addr: number;
}

/** The futex and shared-memory calls of the fallback. */
export interface KoffiApi {
  /** Creates (exclusively) and maps `name` with `size` zeroed bytes. Errors carry `code`. */
  shmCreate(name: string, size: number): Mapping;
  /** Maps the existing segment `name` whole. */
  shmOpen(name: string): Mapping;
  /** Removes the name; false if there was none. */
  shmUnlink(name: string): boolean;
  /** Anonymous memory shared by the threads of this process (never unmapped). */
  mapAnonymous(size: number): Mapping;
  /** Maps again (in this thread) memory another thread of this process mapped. */
  viewAt(addr: number, size: number): ArrayBuffer;
  /** Address in this process of byte 0 of a buffer this module mapped, or -1. */
  addressOf(buf: ArrayBufferLike): number;
  /** FUTEX_WAIT on the int32 at `addr`: 0 woken (or interrupted), 1 not equal, 2 timed out. */
  futexWait(addr: number, expected: number, timeoutMs: number): 0 | 1 | 2;
  /** FUTEX_WAKE: wakes up to `count` (Infinity: all) waiters of `addr` in any process. */
  futexWake(addr: number, count: number): number;
  /**
   * futex_waitv over `n` entries (struct futex_waitv, 24 bytes each) at
   * `vecAddr`, until the absolute time in the timespec at `tsAddr`, on
   * CLOCK_MONOTONIC (the clock of `process.hrtime`). Returns the index
   * woken, or `-errno`.
   */
  futexWaitv(vecAddr: number, n: number, tsAddr: number): number;
}

const O_RDWR = 0o2;
const O_CREAT = 0o100;
const O_EXCL = 0o200;
const PROT_RW = 0x3;
const MAP_SHARED = 0x1;
const MAP_ANONYMOUS = 0x20;
const MAP_FAILED = -1;
const FUTEX_WAIT = 0;
const FUTEX_WAKE = 1;
const EAGAIN = 11;
const ETIMEDOUT = 110;
const ERRNO_NAMES: Record<number, string> = { 2: 'ENOENT', 13: 'EACCES', 17: 'EEXIST', 22: 'EINVAL', 24: 'EMFILE', 28: 'ENOSPC' };

const SYSCALLS: Partial<Record<string, { futex: number; futexWaitv: number }>> = {
  x64: { futex: 202, futexWaitv: 449 },
  arm64: { futex: 98, futexWaitv: 449 },
};

function errnoError(syscall: string, errno: number, path?: string): NodeJS.ErrnoException {
  const code = ERRNO_NAMES[errno] ?? `E${errno}`;
  const err = new Error(`${syscall} failed: ${code}${path ? ` '${path}'` : ''}`) as NodeJS.ErrnoException;
  err.code = code;
  err.errno = errno;
  err.syscall = syscall;
  if (path) err.path = path;
  return err;
}

function build(k: KoffiModule): KoffiApi {
  const nr = SYSCALLS[process.arch];
  if (!nr) throw new Error(`no futex system call numbers for ${process.arch}`);
  const libc = k.load('libc.so.6');
  const shmOpen = libc.func('int shm_open(const char *name, int oflag, uint32_t mode)');
  const shmUnlink = libc.func('int shm_unlink(const char *name)');
  const ftruncate = libc.func('int ftruncate(int fd, int64_t length)');
  const lseek = libc.func('int64_t lseek(int fd, int64_t offset, int whence)');
  const close = libc.func('int close(int fd)');
  const mmap = libc.func('intptr_t mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)');
  const munmap = libc.func('int munmap(intptr_t addr, size_t length)');
  // syscall(2) is variadic: declared so, each extra argument is passed with its C type.
  const syscall = libc.func('long syscall(long number, ...)');
  const addrs = new WeakMap<ArrayBufferLike, number>();
  // A mapping lives while its ArrayBuffer does (typed arrays over it keep it alive).
  const unmapper = new FinalizationRegistry<{ addr: number; len: number }>(({ addr, len }) => {
    munmap(addr, len);
  });

  function mapAnon(size: number): Mapping {
    const addr = mmap(null, size, PROT_RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0) as number;
    if (addr === MAP_FAILED) throw errnoError('mmap', k.errno());
    const buf = k.view(addr, size);
    addrs.set(buf, addr);
    return { buf, addr };
  }

  function mapFd(fd: number, size: number, name: string): Mapping {
    const addr = mmap(null, size, PROT_RW, MAP_SHARED, fd, 0) as number;
    if (addr === MAP_FAILED) throw errnoError('mmap', k.errno(), name);
    const buf = k.view(addr, size);
    addrs.set(buf, addr);
    unmapper.register(buf, { addr, len: size });
    return { buf, addr };
  }

  // One timespec per thread (module instances are per thread), in memory the kernel can read.
  const tsMap = mapAnon(16);
  const tsView = new BigInt64Array(tsMap.buf);
  return {
    shmCreate(name, size) {
      const fd = shmOpen(name, O_RDWR | O_CREAT | O_EXCL, 0o600) as number;
      if (fd < 0) throw errnoError('shm_open', k.errno(), name);
      try {
        if ((ftruncate(fd, size) as number) < 0) {
          const e = k.errno();
          shmUnlink(name);
          throw errnoError('ftruncate', e, name);
        }
        try {
          return mapFd(fd, size, name);
        } catch (e) {
          shmUnlink(name);
          throw e;
        }
      } finally {
        close(fd);
      }
    },
    shmOpen(name) {
      const fd = shmOpen(name, O_RDWR, 0o600) as number;
      if (fd < 0) throw errnoError('shm_open', k.errno(), name);
      try {
        const size = Number(lseek(fd, 0, 2));
        if (size <= 0) throw errnoError('lseek', 22, name);
        return mapFd(fd, size, name);
      } finally {
        close(fd);
      }
    },
    shmUnlink(name) {
      return (shmUnlink(name) as number) === 0;
    },
    mapAnonymous: mapAnon,
    viewAt(addr, size) {
      const buf = k.view(addr, size);
      addrs.set(buf, addr);
      return buf;
    },
    addressOf(buf) {
      return addrs.get(buf) ?? -1;
    },
    futexWait(addr, expected, timeoutMs) {
      let tsAddr = 0;
      if (Number.isFinite(timeoutMs) && timeoutMs >= 0) {
        const ns = BigInt(Math.round(timeoutMs * 1e6));
        tsView[0] = ns / 1_000_000_000n;
        tsView[1] = ns % 1_000_000_000n;
        tsAddr = tsMap.addr;
      }
      const r = syscall(nr.futex, 'intptr_t', addr, 'int', FUTEX_WAIT, 'int', expected | 0, 'intptr_t', tsAddr, 'intptr_t', 0, 'int', 0) as number;
      if (r === 0) return 0;
      const e = k.errno();
      return e === EAGAIN ? 1 : e === ETIMEDOUT ? 2 : 0;
    },
    futexWake(addr, count) {
      const n = count === Infinity || count < 0 ? 0x7fffffff : count;
      const r = syscall(nr.futex, 'intptr_t', addr, 'int', FUTEX_WAKE, 'int', n, 'intptr_t', 0, 'intptr_t', 0, 'int', 0) as number;
      return r < 0 ? 0 : r;
    },
    futexWaitv(vecAddr, n, tsAddr) {
      const r = syscall(nr.futexWaitv, 'intptr_t', vecAddr, 'unsigned int', n, 'unsigned int', 0, 'intptr_t', tsAddr, 'int', 1) as number;
      return r >= 0 ? r : -k.errno();
    },
  };
}

interface LoadResult {
  api: KoffiApi | null;
  error: string | null;
}

let loaded: LoadResult | null = null;

/**
 * Loads the fallback on first call: `null` api when disabled
 * (`MULTIPROCESSING_TS_KOFFI=0`), not Linux, or `koffi` is not installed.
 */
export function loadKoffi(): LoadResult {
  if (loaded) return loaded;
  const off = process.env.MULTIPROCESSING_TS_KOFFI;
  if (off === '0' || off === 'false') return (loaded = { api: null, error: 'koffi is disabled by MULTIPROCESSING_TS_KOFFI=0' });
  if (process.platform !== 'linux') return (loaded = { api: null, error: `the koffi fallback supports Linux only (this is ${process.platform})` });
  try {
    const k = createRequire(import.meta.url)('koffi') as KoffiModule;
    return (loaded = { api: build(k), error: null });
  } catch (e) {
    return (loaded = { api: null, error: `the optional package koffi is not usable: ${(e as Error).message.split('\n')[0]}` });
  }
}
