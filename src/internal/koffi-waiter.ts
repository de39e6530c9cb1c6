/**
 * Asynchronous futex waits of the koffi fallback, for one JavaScript thread.
 *
 * `koffi`'s `.async()` calls run on libuv's thread pool (four threads shared
 * with fs, dns, crypto and zlib), so they are not used. Instead each
 * JavaScript thread that waits asynchronously gets one dedicated worker
 * thread (src/child/koffi-waiter.ts) that blocks in `futex_waitv` on up to
 * 127 waited words plus a control word, and posts results back to this
 * thread's event loop. New waits and cancellations are posted to its port
 * and announced by changing the control word and waking it.
 *
 * The control word lives in anonymous shared memory mapped by koffi (its
 * address is valid in every thread of the process): `[0]` generation,
 * `[1]` stop flag. The worker's `futex_waitv` sleeps at most 100 ms at a
 * time, so a thread that is terminated never waits long for it.
 * @internal
 */
import { Worker, MessageChannel, type MessagePort } from 'node:worker_threads';
import { koffiApi } from './memory.js';
import { entryUrl } from '../backends/entry-url.js';
import type { AsyncWaitResult } from './native.js';

/** A wait request posted to the worker. */
export interface KoffiWaitRequest {
  t: 'wait';
  id: number;
  addr: number;
  expected: number;
  /** Absolute deadline, ns on CLOCK_MONOTONIC (`process.hrtime.bigint()`). */
  deadline: bigint;
}

/** Messages to the worker. */
export type KoffiWaiterMessage = KoffiWaitRequest | { t: 'cancel'; id: number };

/** Bytes of the control mapping: words, a timespec, and the futex_waitv vector. */
export const CONTROL_BYTES = 4096;
/** Byte offset of the timespec (absolute deadline) in the control mapping. */
export const TS_OFFSET = 16;
/** Byte offset of the `struct futex_waitv` vector in the control mapping. */
export const VEC_OFFSET = 64;
/** The kernel's limit of words per `futex_waitv` call. */
export const WAITV_MAX = 128;

interface Waiter {
  worker: Worker;
  port: MessagePort;
  ctl: Int32Array;
  ctlAddr: number;
  seq: number;
  pending: Map<number, (r: AsyncWaitResult) => void>;
  /**
   * The mapping each pending wait reads (kept alive so that it is not unmapped
   * while the waiter thread may still read the word; a cancelled wait's for
   * one second more, far longer than the waiter takes to see the cancellation).
   */
  memory: Map<number, ArrayBufferLike>;
}

let waiter: Waiter | null = null;

function start(): Waiter {
  const k = koffiApi();
  const ctl = k.mapAnonymous(CONTROL_BYTES);
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(entryUrl('koffi-waiter'), {
    workerData: { port: port2, ctlAddr: ctl.addr },
    transferList: [port2],
    execArgv: [],
  });
  worker.unref();
  const w: Waiter = { worker, port: port1, ctl: new Int32Array(ctl.buf, 0, 2), ctlAddr: ctl.addr, seq: 0, pending: new Map(), memory: new Map() };
  port1.on('message', (results: number[]) => {
    for (let i = 0; i < results.length; i += 2) {
      const cb = w.pending.get(results[i]!);
      w.memory.delete(results[i]!);
      if (!cb) continue;
      w.pending.delete(results[i]!);
      cb(results[i + 1] as AsyncWaitResult);
    }
  });
  port1.unref();
  worker.on('error', (err) => {
    // The worker cannot fail in normal use; if it does, end every pending wait (callers re-check).
    for (const cb of w.pending.values()) cb(0);
    w.pending.clear();
    if (waiter === w) waiter = null;
    process.emitWarning(`multiprocessing-ts: the koffi waiter thread failed: ${err.message}`);
  });
  // At exit, let it go at once instead of at the end of its current slice.
  process.once('exit', () => stop(w));
  return w;
}

function poke(w: Waiter): void {
  Atomics.add(w.ctl, 0, 1);
  koffiApi().futexWake(w.ctlAddr, 1);
}

function stop(w: Waiter): void {
  Atomics.store(w.ctl, 1, 1);
  poke(w);
}

/**
 * Waits on the int32 at `addr` while it holds `expected`, for at most
 * `timeoutMs` (finite); `callback` gets 0 (woken or changed), 2 (timed out)
 * or 3 (cancelled) on this thread's event loop. Returns an id for `cancel`.
 */
export function koffiWaitAsync(
  memory: ArrayBufferLike,
  addr: number,
  expected: number,
  timeoutMs: number,
  callback: (r: AsyncWaitResult) => void,
): number {
  const w = (waiter ??= start());
  const id = ++w.seq;
  w.pending.set(id, callback);
  w.memory.set(id, memory);
  const deadline = process.hrtime.bigint() + BigInt(Math.max(0, Math.round(timeoutMs * 1e6)));
  const msg: KoffiWaiterMessage = { t: 'wait', id, addr, expected, deadline };
  w.port.postMessage(msg);
  poke(w);
  return id;
}

/** Cancels a pending wait: its callback gets 3 at once. False if it already completed. */
export function koffiCancelWait(id: number): boolean {
  const w = waiter;
  const cb = w?.pending.get(id);
  if (!w || !cb) return false;
  w.pending.delete(id);
  const mem = w.memory.get(id);
  w.memory.delete(id);
  if (mem) setTimeout(() => void mem, 1000).unref();
  const msg: KoffiWaiterMessage = { t: 'cancel', id };
  w.port.postMessage(msg);
  poke(w);
  cb(3);
  return true;
}
