/**
 * Which shared memory this program uses, chosen once, in this order (each
 * fallback said once in a log line):
 *
 * 1. `native`: the addon (internal/native): POSIX shared memory mapped as a
 *    real `SharedArrayBuffer`, futex waits, a native waiter thread;
 * 2. `koffi`: the same system calls through the optional FFI package `koffi`
 *    (internal/koffi): the memory is a plain `ArrayBuffer`, every thread maps
 *    segments by name, async waits on a dedicated worker thread;
 * 3. `local`: plain `SharedArrayBuffer`s with `Atomics.wait`, shared by the
 *    worker threads of this process; a `'process'` child reaches them through
 *    a broker thread in this process (internal/broker), and is itself in
 *    mode `broker`.
 *
 * The main process chooses; every worker (thread or process) uses what its
 * parent announced in its boot data (`setInheritedMemory`). Force a mode with
 * `MULTIPROCESSING_TS_NATIVE=0` (skip the addon) and `MULTIPROCESSING_TS_KOFFI=0`
 * (skip koffi).
 * @internal
 */
import { native, nativeLoadError } from './native.js';
import { loadKoffi, type KoffiApi } from './koffi.js';
import { getLogger } from '../logging.js';

/** The memory mode of this thread. */
export type MemoryMode = 'native' | 'koffi' | 'local' | 'broker';

/** What a worker is told about its memory (boot data). */
export interface MemoryBoot {
  mode: MemoryMode;
  /** Mode `broker`: the parent broker's socket. */
  brokerPath?: string;
}

interface MemoryState {
  boot: MemoryBoot | null;
  koffi: KoffiApi | null;
}

// Per thread: each worker thread has its own module instance and decides from its boot data.
const st: MemoryState = { boot: null, koffi: null };

/** The koffi cost, said once when the fallback is chosen (see docs/synchronization.md). */
const KOFFI_COST =
  'the memory is a plain ArrayBuffer (every access goes through Atomics), each thread maps objects by name, and async waits ' +
  'use one extra worker thread per JavaScript thread; uncontended locks are as fast as with the addon, two workers contending ' +
  'on a Value about half as fast (docs/synchronization.md)';

function choose(): MemoryBoot {
  if (native) return { mode: 'native' };
  const k = loadKoffi();
  if (k.api) {
    st.koffi = k.api;
    getLogger().info(`shared memory: ${nativeLoadError}; using the koffi fallback: ${KOFFI_COST}`);
    return { mode: 'koffi' };
  }
  getLogger().info(
    `shared memory: ${nativeLoadError}, and ${k.error}; locks and values use plain SharedArrayBuffers: ` +
      "worker threads share them directly, 'process' children reach them through a broker thread: each operation a round trip, " +
      'about 3,000 lock acquire+release/s in a child against millions with the addon (docs/synchronization.md)',
  );
  return { mode: 'local' };
}

/** This thread's memory choice (made on first call in the main thread). */
export function memory(): MemoryBoot {
  return (st.boot ??= choose());
}

/** The memory mode of this thread. */
export function memoryMode(): MemoryMode {
  return memory().mode;
}

/** The koffi api (mode `koffi` only). */
export function koffiApi(): KoffiApi {
  if (!st.koffi) {
    const k = loadKoffi();
    if (!k.api) throw new Error(`the parent uses the koffi fallback, but here ${k.error}`);
    st.koffi = k.api;
  }
  return st.koffi;
}

/** A worker adopts its parent's choice (boot data), before any shared object exists. */
export function setInheritedMemory(boot: MemoryBoot | undefined): void {
  if (!boot) return;
  if (boot.mode === 'native' && !native) {
    throw new Error(`the parent uses the native addon, which this worker cannot load: ${nativeLoadError}`);
  }
  st.boot = boot;
  if (boot.mode === 'koffi') koffiApi();
}

/** What a new worker of `method` is told (with the broker started when a process child needs it). */
export function memoryForChild(method: 'thread' | 'process', brokerPath: () => string): MemoryBoot {
  const m = memory();
  if (method === 'process' && m.mode === 'local') return { mode: 'broker', brokerPath: brokerPath() };
  return m;
}
