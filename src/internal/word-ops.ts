/**
 * The operations the synchronisation primitives do on their shared words,
 * behind one small object per segment, so that the same code runs on memory
 * of this process and, in a broker child, on memory of the parent:
 * - `LOCAL_OPS` (every mode but broker): `Atomics` itself, plain typed-array
 *   accesses for `get`/`set`, and internal/waiting. Every object of a
 *   process uses this one object, so V8 sees one target at each call site
 *   and inlines it as if `Atomics` were called directly;
 * - in a broker child, internal/broker-client's remote operations.
 * @internal
 */
import { waitSync, waitAsync, notify, type WaitResult } from './waiting.js';

/** Word operations on an `Int32Array` or `BigInt64Array` over a segment. */
export interface WordOps {
  load(a: Int32Array, i: number): number;
  load(a: BigInt64Array, i: number): bigint;
  store(a: Int32Array, i: number, v: number): number;
  store(a: BigInt64Array, i: number, v: bigint): bigint;
  add(a: Int32Array, i: number, v: number): number;
  sub(a: Int32Array, i: number, v: number): number;
  exchange(a: Int32Array, i: number, v: number): number;
  compareExchange(a: Int32Array, i: number, expected: number, replacement: number): number;
  compareExchange(a: BigInt64Array, i: number, expected: bigint, replacement: bigint): bigint;
  /** A plain read (no ordering): only where the code tolerates a stale value. */
  get(a: Int32Array, i: number): number;
  /** A plain write, ordered by a later atomic store of the same thread. */
  set(a: Int32Array, i: number, v: number): void;
  waitSync(a: Int32Array, i: number, expected: number, timeoutMs: number): WaitResult;
  waitAsync(a: Int32Array, i: number, expected: number, timeoutMs: number, signal?: AbortSignal): Promise<WaitResult>;
  notify(a: Int32Array, i: number, count: number): number;
}

/** The operations on memory of this process. */
export const LOCAL_OPS: WordOps = Object.freeze({
  load: Atomics.load,
  store: Atomics.store,
  add: Atomics.add,
  sub: Atomics.sub,
  exchange: Atomics.exchange,
  compareExchange: Atomics.compareExchange,
  get: (a: Int32Array, i: number): number => a[i]!,
  set: (a: Int32Array, i: number, v: number): void => {
    a[i] = v;
  },
  waitSync,
  waitAsync,
  notify,
}) as WordOps;
