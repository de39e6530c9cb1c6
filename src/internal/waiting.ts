/**
 * One wait/wake protocol for every shared-memory object of the library.
 *
 * - With the native part (shared memory across processes): every waiter, in
 *   any thread of any process, waits with the Linux futex on the shared
 *   address; async waits go to the addon's waiter thread (never to libuv's
 *   pool). `Atomics.notify` would not wake a futex waiter, so nothing mixes.
 * - With the koffi fallback: the same futex calls through koffi on the word's
 *   address (the memory is a plain ArrayBuffer); async waits go to a
 *   dedicated waiter thread (internal/koffi-waiter), never to libuv's pool.
 * - Without either (threads only): `Atomics.wait` / `Atomics.waitAsync` /
 *   `Atomics.notify`. (In a broker child, waits on the parent's memory go
 *   through internal/word-ops instead, which the broker serves with these.)
 *
 * Sync waits are cut into slices so that a worker thread blocked here still
 * stops on `terminate()`, and so that callers can check for a dead owner.
 * Pending async waits keep the event loop alive (a program awaiting a lock
 * must not end with Node's exit code 13).
 * @internal
 */
import { native } from './native.js';
import { memoryMode, koffiApi } from './memory.js';
import type { KoffiApi } from './koffi.js';
import { koffiWaitAsync, koffiCancelWait } from './koffi-waiter.js';

/** Result of one wait. */
export type WaitResult = 'ok' | 'not-equal' | 'timed-out';

const RESULTS: readonly WaitResult[] = ['ok', 'not-equal', 'timed-out', 'ok'];

/** The longest a single blocking wait lasts before the caller regains control. */
export const SLICE_MS = 100;

/** How this thread waits: 1 native futex, 2 koffi futex, 3 Atomics (resolved on first use). */
let how = 0;
let kf: KoffiApi | null = null;
function mechanism(): number {
  if (how === 0) {
    const mode = memoryMode();
    if (mode === 'native' && native) how = 1;
    else if (mode === 'koffi') {
      kf = koffiApi();
      how = 2;
    } else how = 3;
  }
  return how;
}

/**
 * Mechanism for this word: koffi's futex only on memory koffi mapped (a
 * SharedArrayBuffer of this process, in koffi mode, uses Atomics).
 */
function mechanismFor(i32: Int32Array): number {
  const m = mechanism();
  return m === 2 && kf!.addressOf(i32.buffer) < 0 ? 3 : m;
}

/** Address of `i32[index]` in memory mapped by koffi. */
function addressOf(i32: Int32Array, index: number): number {
  return kf!.addressOf(i32.buffer) + i32.byteOffset + index * 4;
}

/** Wake-ups held back by writers of this thread (see `holdWake`), sent before it blocks. */
const heldWakes = new Set<() => void>();

/**
 * Registers a wake-up that a writer holds back to send after a burst (in a microtask). If this
 * thread blocks in a wait first, it is sent then: the thread would otherwise wait for a reader
 * that nobody woke.
 */
export function holdWake(send: () => void): void {
  heldWakes.add(send);
}

/** The held wake-up went out by itself. */
export function releaseWake(send: () => void): void {
  heldWakes.delete(send);
}

function sendHeldWakes(): void {
  const sends = [...heldWakes];
  heldWakes.clear();
  for (const send of sends) send();
}

/** Blocks the calling thread until woken, the value differs, or `timeoutMs` passes. */
export function waitSync(i32: Int32Array, index: number, expected: number, timeoutMs: number): WaitResult {
  // The kernel would re-check the word too; checking here first spares the system call.
  if (Atomics.load(i32, index) !== expected) return 'not-equal';
  if (heldWakes.size > 0) sendHeldWakes();
  const t = timeoutMs === Infinity ? SLICE_MS : Math.min(timeoutMs, SLICE_MS);
  const m = mechanismFor(i32);
  if (m === 1) {
    const r = native!.futexWait(i32.buffer as SharedArrayBuffer, i32.byteOffset + index * 4, expected, t);
    if (r === 2 && t < timeoutMs) return 'ok'; // a slice ended: report a (spurious) wake-up
    return RESULTS[r] ?? 'ok';
  }
  if (m === 2) {
    const r = kf!.futexWait(addressOf(i32, index), expected, t);
    if (r === 2 && t < timeoutMs) return 'ok';
    return RESULTS[r] ?? 'ok';
  }
  const r = Atomics.wait(i32, index, expected, t);
  if (r === 'timed-out' && t < timeoutMs) return 'ok';
  return r;
}

let pendingAsync = 0;
let keepAlive: NodeJS.Timeout | null = null;

function hold(): void {
  if (pendingAsync++ === 0) keepAlive = setInterval(() => {}, 1 << 30);
}

function unhold(): void {
  if (--pendingAsync === 0 && keepAlive) {
    clearInterval(keepAlive);
    keepAlive = null;
  }
}

/**
 * Waits without blocking the event loop. The wait may end early (slices, or a
 * spurious wake-up): callers re-check their condition in a loop.
 */
export function waitAsync(
  i32: Int32Array,
  index: number,
  expected: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<WaitResult> {
  if (Atomics.load(i32, index) !== expected) return Promise.resolve('not-equal');
  // Slices here too: a wait whose abort could not be cancelled (Atomics.waitAsync) lives one
  // slice at most, and a wake-up it swallowed costs a real waiter one slice, never a hang.
  const slice = timeoutMs === Infinity ? SLICE_MS : Math.min(timeoutMs, SLICE_MS);
  const map = (r: WaitResult): WaitResult => (r === 'timed-out' && slice < timeoutMs ? 'ok' : r);
  hold();
  const m = mechanismFor(i32);
  if (m !== 3) {
    const n =
      m === 1
        ? native!
        : {
            waitAsync: (_b: unknown, _o: number, e: number, ms: number, cb: (r: number) => void) => koffiWaitAsync(i32.buffer, addressOf(i32, index), e, ms, cb),
            cancelWait: koffiCancelWait,
          };
    return new Promise<WaitResult>((resolve, reject) => {
      let settled = false;
      const onAbort = () => {
        if (settled) return;
        settled = true;
        n.cancelWait(id);
        unhold();
        reject(signal!.reason);
      };
      const id = n.waitAsync(i32.buffer as SharedArrayBuffer, i32.byteOffset + index * 4, expected, slice, (r: number) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        unhold();
        resolve(map(RESULTS[r] ?? 'ok'));
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
  const res = Atomics.waitAsync(i32, index, expected, slice);
  if (!res.async) {
    unhold();
    return Promise.resolve(map(res.value));
  }
  if (!signal) return res.value.then(map).finally(unhold);
  return new Promise<WaitResult>((resolve, reject) => {
    let settled = false;
    const onAbort = () => {
      if (settled) return;
      settled = true;
      unhold();
      // Atomics.waitAsync cannot be cancelled: the orphaned wait ends within one slice.
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    void res.value.then((r) => {
      signal.removeEventListener('abort', onAbort);
      if (settled) return;
      settled = true;
      unhold();
      resolve(map(r));
    });
  });
}

/** Wakes up to `count` waiters of the word (Infinity: all). Returns how many were woken. */
export function notify(i32: Int32Array, index: number, count: number): number {
  const m = mechanismFor(i32);
  if (m === 1) return native!.futexWake(i32.buffer as SharedArrayBuffer, i32.byteOffset + index * 4, count);
  if (m === 2) return kf!.futexWake(addressOf(i32, index), count);
  return Atomics.notify(i32, index, count === Infinity ? undefined : count);
}
