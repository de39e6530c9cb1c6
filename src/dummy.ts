/**
 * `multiprocessing-ts/dummy`: the API of `multiprocessing-ts` run as async
 * tasks inside the calling thread (Python's `multiprocessing.dummy`, which
 * runs it on threads), for I/O-bound concurrency: network calls, files,
 * child programs. Nothing crosses a thread, so functions need not be
 * exported (closures are fine) and values are passed as they are, not copied.
 *
 * Blocking calls are async, as in the main entry. Their `Sync` twins work when
 * they can finish at once (a free lock, a queued item, a set event); one that
 * would have to wait for another task cannot, since every task runs in this one
 * thread: with a timeout it blocks the thread that long and reports the
 * timeout, without one it throws a `ProcessError` instead of hanging.
 * @example
 * ```ts
 * import { Pool, Lock } from 'multiprocessing-ts/dummy';
 * const lock = new Lock();
 * const pool = new Pool(8);
 * const statuses = await pool.map(async (url: string) => {
 *   const res = await fetch(url);
 *   await lock.with(() => console.log(url, res.status)); // one line at a time
 *   return res.status;
 * }, urls);
 * pool.close(); await pool.join();
 * ```
 * @module
 */
import { Process, currentProcess, activeChildren } from './dummy/process.js';
import { cpuCount } from './process.js';
import { Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event, Barrier } from './dummy/synchronize.js';
import { Queue, JoinableQueue } from './dummy/queues.js';
import { Pipe, Connection } from './dummy/connection.js';
import { Value, DummyArray } from './dummy/sharedctypes.js';
import { Pool } from './dummy/pool.js';
import { AsyncResult, ResultIterator } from './pool.js';
import { ProcessError, TimeoutError, Empty, Full, EOFError, BrokenBarrierError, BufferTooShort } from './errors.js';

export { Process, currentProcess, activeChildren, cpuCount };
export { Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event, Barrier };
export { Queue, JoinableQueue, Pipe, Connection, Value, DummyArray as Array, DummyArray as SharedArray };
export { Pool, Pool as ThreadPool, AsyncResult, ResultIterator };
export { ProcessError, TimeoutError, Empty, Full, EOFError, BrokenBarrierError, BufferTooShort };
export type { DummyProcessOptions } from './dummy/process.js';
export type { DummyBarrierOptions } from './dummy/synchronize.js';
export type { DummyLockOption } from './dummy/sharedctypes.js';
export type { DummyPoolOptions } from './dummy/pool.js';
export type { TaskOptions, AsyncOptions } from './pool.js';
export type { AcquireOptions } from './synchronize.js';
export type { PutOptions, GetOptions } from './queues.js';
export type { RecvOptions, BytesLike } from './connection.js';
export type { TypeCode, BigTypeCode, ValueOf, TypedArrayOf, ArrayInit } from './sharedctypes.js';
export type { WaitOptions } from './internal/validators.js';

/** The dummy module itself: what `Manager()` returns (every export of `multiprocessing-ts/dummy`). */
export type DummyModule = typeof moduleObject;

/**
 * Python's `multiprocessing.dummy.Manager()`: returns this module (an object
 * holding every export of `multiprocessing-ts/dummy`), so that code written
 * for a manager (`m.dict()`, `m.list()`, `m.Namespace()`, `new m.Queue()`,
 * `new m.Lock()`) runs on plain objects of this thread. `await Manager()`
 * works too (the module is not a promise).
 */
export function Manager(): DummyModule {
  return moduleObject;
}

/** Python's `multiprocessing.dummy.shutdown()`: nothing to shut down; kept for ported code. */
export function shutdown(): void {}

/** A plain `Map` (Python's `dict`, as `multiprocessing.dummy.Manager().dict()` gives). */
export function dict<K = unknown, V = unknown>(entries?: Iterable<readonly [K, V]>): Map<K, V> {
  return new Map(entries);
}

/** A plain array (Python's `list`, as `multiprocessing.dummy.Manager().list()` gives). */
export function list<T = unknown>(items?: Iterable<T>): T[] {
  return items === undefined ? [] : [...items];
}

/**
 * A plain object of attributes (Python's `multiprocessing.dummy.Namespace`),
 * with a Python-style `toString()`; call it as a function.
 * @example
 * ```ts
 * const ns = Namespace({ x: 1 }); ns.y = 'two';
 * String(ns); // "Namespace(x=1, y='two')"
 * ```
 */
export function Namespace<T extends object = Record<string, unknown>>(attrs?: T): T & Record<string, unknown> {
  const ns = Object.create(namespaceProto) as T & Record<string, unknown>;
  if (attrs !== undefined) Object.assign(ns, attrs);
  return ns;
}

const namespaceProto = {
  toString(this: Record<string, unknown>): string {
    const parts = Object.keys(this).map((k) => `${k}=${typeof this[k] === 'string' ? `'${String(this[k])}'` : String(this[k])}`);
    return `Namespace(${parts.join(', ')})`;
  },
};
Object.defineProperty(namespaceProto, 'toString', { enumerable: false });

/** Every export of this module, by name (what `Manager()` returns). */
const moduleObject = Object.freeze({
  Process,
  currentProcess,
  activeChildren,
  cpuCount,
  Lock,
  RLock,
  Semaphore,
  BoundedSemaphore,
  Condition,
  Event,
  Barrier,
  Queue,
  JoinableQueue,
  Pipe,
  Connection,
  Value,
  Array: DummyArray,
  SharedArray: DummyArray,
  Pool,
  ThreadPool: Pool,
  AsyncResult,
  ResultIterator,
  ProcessError,
  TimeoutError,
  Empty,
  Full,
  EOFError,
  BrokenBarrierError,
  BufferTooShort,
  Manager,
  shutdown,
  dict,
  list,
  Namespace,
});
