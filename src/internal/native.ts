/**
 * Typed loader of the native addon (native/, built by `npm install` through
 * scripts/build-native.mjs into native/build/Release/).
 *
 * The addon gives what plain JavaScript cannot:
 * - POSIX shared memory (`shm_open` + `mmap`) as a real `SharedArrayBuffer`,
 *   shared with other processes by name;
 * - the Linux `futex` call on a word of such a buffer, which (unlike
 *   `Atomics.wait`/`Atomics.notify`, whose waiters V8 keeps per process)
 *   wakes waiters in other processes;
 * - asynchronous futex waits that occupy neither the event loop nor the libuv
 *   thread pool (one native waiter thread per JavaScript thread).
 *
 * `Atomics.notify` does not wake a `futexWait`/`waitAsync` waiter, and
 * `futexWake` does not wake an `Atomics.wait` waiter: all the waiters of one
 * word must use the same mechanism. Always change the word before waking (as
 * every futex protocol does): a wake that changes nothing can be missed by an
 * asynchronous waiter whose thread is busy with another wake at that moment.
 *
 * This module never throws at import: when the addon is missing (not built,
 * not Linux, disabled with `MULTIPROCESSING_TS_NATIVE=0`) `native` is `null`
 * and `nativeLoadError` says why, for the caller's one log line.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Result of `futexWait`: woken (or interrupted by a signal). */
export const WOKEN = 0;
/** Result of a wait: the word did not hold the expected value. */
export const NOT_EQUAL = 1;
/** Result of a wait: the timeout passed. */
export const TIMED_OUT = 2;
/** Result of a `waitAsync` callback after `cancelWait`. */
export const CANCELLED = 3;

export type FutexWaitResult = typeof WOKEN | typeof NOT_EQUAL | typeof TIMED_OUT;
export type AsyncWaitResult = FutexWaitResult | typeof CANCELLED;

/** Diagnostics of the addon (`stats()`). */
export interface NativeStats {
  /** Shared-memory mappings not yet released by V8, in the whole process. */
  mappings: number;
  /** Native waiter threads of this JavaScript thread. */
  waiterThreads: number;
  /** `waitAsync` calls of this JavaScript thread whose callback has not run. */
  pendingWaits: number;
  /** Whether this thread's waiter uses `futex_waitv` (else one thread per wait). */
  futexWaitv: boolean;
}

/** The functions of the native addon. */
export interface NativeApi {
  /** Version of the addon's interface; the loader rejects a mismatch. */
  readonly abiVersion: number;
  /**
   * Creates the POSIX shared-memory segment `name` (a leading `/` is added if
   * missing) of `size` bytes, zero-filled, readable and writable by this user
   * only, and maps it. Fails if it exists. Errors carry `code` (`'EEXIST'`,
   * `'EACCES'`, ...), `errno`, `syscall` and `path`.
   */
  shmCreate(name: string, size: number): SharedArrayBuffer;
  /** Maps the existing segment `name` whole (`ENOENT` if there is none). */
  shmOpen(name: string): SharedArrayBuffer;
  /**
   * Removes the segment's name; mappings stay valid until released.
   * `false` if there was no such segment.
   */
  shmUnlink(name: string): boolean;
  /**
   * Blocks the calling thread while the int32 at `byteOffset` (a multiple of
   * 4 inside `sab`, else `RangeError`) holds `expected`, until a `futexWake`
   * on that word from any thread or process, or `timeoutMs` (negative,
   * `Infinity` or `NaN`: forever). A worker blocked here still stops on
   * `terminate()` (within about 50 ms).
   * @returns 0 woken (or interrupted: re-check the condition), 1 the word
   * did not hold `expected`, 2 timed out.
   */
  futexWait(sab: SharedArrayBuffer, byteOffset: number, expected: number, timeoutMs: number): FutexWaitResult;
  /**
   * Wakes up to `count` waiters (negative or `Infinity`: all) of the int32 at
   * `byteOffset`, in any thread or process. Returns how many were woken.
   * The count includes a `waitAsync` waiter only once its waiter thread sleeps
   * on the word, which can be a moment after `waitAsync` returned; such a wait
   * still completes (with 0) because the word changed. So never infer from the
   * count whether someone waits: keep that in the shared memory.
   */
  futexWake(sab: SharedArrayBuffer, byteOffset: number, count: number): number;
  /**
   * The asynchronous `futexWait`: returns at once with an id (for
   * `cancelWait`); `callback` runs later on this thread's event loop, never
   * before `waitAsync` has returned, with 0 woken (or the word changed after
   * the call), 1 the word did not hold `expected` at the call, 2 timed out,
   * 3 cancelled. A pending wait keeps the event loop alive; the callback
   * runs in the async context of the call.
   */
  waitAsync(
    sab: SharedArrayBuffer,
    byteOffset: number,
    expected: number,
    timeoutMs: number,
    callback: (result: AsyncWaitResult) => void,
  ): number;
  /**
   * Cancels a pending `waitAsync` of this thread: `true` if its callback will
   * get 3; `false` if the id is unknown or the wait already completed.
   */
  cancelWait(id: number): boolean;
  /** Diagnostics, see `NativeStats`. */
  stats(): NativeStats;
  /**
   * Has the kernel send `signal` to this process when the thread that started it ends (Linux
   * `PR_SET_PDEATHSIG`); true when set. Absent from builds older than this function.
   */
  parentDeathSignal?(signal: number): boolean;
}

/** The addon's interface version this loader expects (native/src/common.h). */
const ABI_VERSION = 1;
const PACKAGE_NAME = 'multiprocessing-ts';
const ADDON_FILE = 'multiprocessing_native.node';

/**
 * The package root: the nearest directory, from this module upwards, whose
 * package.json is this package's (this module runs from src/internal/ under
 * tsx and from a bundled chunk in dist/ when built).
 */
function packageRoot(start: string): string | null {
  for (let dir = start; ; ) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        const parsed: unknown = JSON.parse(readFileSync(manifest, 'utf8'));
        if (typeof parsed === 'object' && parsed !== null && (parsed as { name?: unknown }).name === PACKAGE_NAME) return dir;
      } catch {
        // an unreadable package.json is not ours: keep walking up
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

function hasFunctions(value: object, names: readonly string[]): boolean {
  const record = value as Record<string, unknown>;
  return names.every((name) => typeof record[name] === 'function');
}

const FUNCTIONS = ['shmCreate', 'shmOpen', 'shmUnlink', 'futexWait', 'futexWake', 'waitAsync', 'cancelWait', 'stats'] as const;

interface LoadResult {
  api: NativeApi | null;
  path: string | null;
  error: string | null;
}

function load(): LoadResult {
  const disabled = process.env.MULTIPROCESSING_TS_NATIVE;
  if (disabled === '0' || disabled === 'false') {
    return { api: null, path: null, error: 'the native addon is disabled by MULTIPROCESSING_TS_NATIVE=0' };
  }
  if (process.platform !== 'linux') {
    return { api: null, path: null, error: `the native addon supports Linux only (this is ${process.platform})` };
  }
  let here: string;
  try {
    here = dirname(fileURLToPath(import.meta.url));
  } catch (e) {
    return { api: null, path: null, error: `cannot locate the package: ${(e as Error).message}` };
  }
  const root = packageRoot(here);
  if (root === null) {
    return { api: null, path: null, error: `cannot find the ${PACKAGE_NAME} package root above ${here}` };
  }
  const path = join(root, 'native', 'build', 'Release', ADDON_FILE);
  if (!existsSync(path)) {
    return {
      api: null,
      path: null,
      error:
        `the native addon is not built (no ${path}): its build runs as this package's install script; ` +
        `run "npm rebuild ${PACKAGE_NAME}" (an npm that blocks dependencies' install scripts needs "npm install-scripts approve ${PACKAGE_NAME}" first), ` +
        `or see ${join(root, 'native', 'build', 'build-native.log')} if the build failed`,
    };
  }
  let loaded: unknown;
  try {
    loaded = createRequire(import.meta.url)(path);
  } catch (e) {
    return { api: null, path, error: `cannot load the native addon ${path}: ${(e as Error).message}` };
  }
  if (typeof loaded !== 'object' || loaded === null || !hasFunctions(loaded, FUNCTIONS)) {
    return { api: null, path, error: `the native addon ${path} does not export the expected functions` };
  }
  const version = (loaded as { abiVersion?: unknown }).abiVersion;
  if (version !== ABI_VERSION) {
    return { api: null, path, error: `the native addon ${path} is stale (interface ${String(version)}, expected ${ABI_VERSION}); rebuild it with "npm rebuild ${PACKAGE_NAME}"` };
  }
  return { api: loaded as NativeApi, path, error: null };
}

const result = load();

/** The native addon, or `null` when it cannot be used (see `nativeLoadError`). */
export const native: NativeApi | null = result.api;
/** Why `native` is `null` (one sentence), or `null` when it loaded. */
export const nativeLoadError: string | null = result.error;
/** The addon file that was loaded (or found but refused), for diagnostics. */
export const nativePath: string | null = result.path;
