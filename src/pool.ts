/**
 * Process pools (Python's `multiprocessing.pool`): `Pool`, `ThreadPool`,
 * `AsyncResult`. Tasks and results travel through shared-memory queues (one
 * task queue per worker, one result queue per pool).
 * @module
 */
import { ProcessError, TimeoutError, WorkerLostError } from './errors.js';
import { Queue } from './queues.js';
import { Process, cpuCount, type StartMethod } from './process.js';
import { getContext, type StartMethodName, type Context } from './context.js';
import { lookupFunction, fnRef } from './fnref.js';
import { entryUrl } from './backends/entry-url.js';
import { getLogger } from './logging.js';
import { validateSignal, validateTimeout } from './internal/validators.js';
import type { poolWorkerMain } from './child/pool-worker.js';
import { type TaskKind, TASK_APPLY, TASK_MAP, TASK_STARMAP, encodeTask, decodeResult } from './protocol/pool.js';
import type { FnRefData } from './protocol/messages.js';

/** @internal any function (parameters typed `never` so that every function is assignable). */
export type AnyFn = (...args: never[]) => unknown;

/** Options of `new Pool(...)`. */
export interface PoolOptions {
  /** Number of workers. @default cpuCount() */
  processes?: number;
  /** An exported function each worker calls once, before its first task. */
  initializer?: AnyFn;
  /** Arguments of `initializer`. */
  initargs?: unknown[];
  /** A worker ends and is replaced after this many tasks (Python's `maxtasksperchild`). */
  maxTasksPerChild?: number;
  /** Start method (or context) of the workers. @default the default start method */
  context?: Context | StartMethodName;
}

/** Options every task call accepts. */
export interface TaskOptions {
  /** Rejects the task's result with the signal's reason when aborted. */
  signal?: AbortSignal;
  /** Rejects the task's result with `TimeoutError` after this many milliseconds. */
  timeout?: number;
}

/** Options of `applyAsync` (and the other `...Async` calls). */
export interface AsyncOptions<R> extends TaskOptions {
  /** Called with the result once it is there (in the calling thread). Errors it throws are logged. */
  callback?: (result: R) => void;
  /** Called with the error if the task fails. Errors it throws are logged. */
  errorCallback?: (error: unknown) => void;
}

/** @internal settles one task: `ok` with its value, or not with its error. */
export type Settle = (ok: boolean, value: unknown) => void;

/** @internal what `ResultIterator` needs of a pool (the real one, or the dummy one). */
export interface ChunkRunner {
  /** Runs `fn` over `chunk`; `settle` gets the array of results (or the error). */
  _submitChunk(fn: AnyFn, chunk: unknown[], settle: Settle): void;
  /** How many chunks an iterator keeps running or buffered. */
  readonly _lookahead: number;
}

/**
 * The result of an asynchronous pool call (Python's `AsyncResult`). It is
 * also a promise-like: `await pool.applyAsync(f, [1])` gives the value.
 */
export class AsyncResult<T> implements PromiseLike<T> {
  #state: 'pending' | 'ok' | 'failed' = 'pending';
  #value: unknown;
  /** Made only when someone waits while the task is pending (most results are many, waits few). */
  #done: Promise<void> | null = null;
  #resolveDone: (() => void) | null = null;

  /** @internal */
  constructor() {}

  #whenDone(): Promise<void> {
    return (this.#done ??= new Promise<void>((r) => (this.#resolveDone = r)));
  }

  #outcome(): Promise<T> {
    return this.#state === 'ok' ? Promise.resolve(this.#value as T) : Promise.reject(this.#value);
  }

  /** @internal */
  _settle(ok: boolean, value: unknown): boolean {
    if (this.#state !== 'pending') return false;
    this.#state = ok ? 'ok' : 'failed';
    this.#value = value;
    this.#resolveDone?.();
    return true;
  }

  /** True once the task has finished (either way). */
  ready(): boolean {
    return this.#state !== 'pending';
  }

  /** True if the task finished without error. @throws ProcessError if it has not finished. */
  successful(): boolean {
    if (this.#state === 'pending') throw new ProcessError('the result is not ready: check ready() or await wait() first');
    return this.#state === 'ok';
  }

  /** Waits until the result is ready, or `ms` passed (resolves either way). */
  async wait(ms?: number, options?: { signal?: AbortSignal }): Promise<void> {
    const t = validateTimeout(ms, 'ms');
    const signal = validateSignal(options);
    signal?.throwIfAborted();
    if (this.#state !== 'pending') return;
    const waits: Promise<unknown>[] = [this.#whenDone()];
    let timer: NodeJS.Timeout | undefined;
    if (t !== undefined) waits.push(new Promise((r) => (timer = setTimeout(r, Math.max(0, t)))));
    let onAbort: (() => void) | undefined;
    if (signal) waits.push(new Promise((_, rej) => signal.addEventListener('abort', (onAbort = () => rej(signal.reason)), { once: true })));
    try {
      await Promise.race(waits);
    } finally {
      if (timer) clearTimeout(timer);
      if (onAbort) signal!.removeEventListener('abort', onAbort);
    }
  }

  /**
   * The value, waiting up to `ms` (default: forever).
   * @throws TimeoutError when not ready in time; the task's own error if it failed.
   */
  async get(ms?: number, options?: { signal?: AbortSignal }): Promise<T> {
    if (ms === undefined && options === undefined) {
      // The common case: no timeout, no signal.
      if (this.#state === 'pending') await this.#whenDone();
      return this.#outcome();
    }
    await this.wait(ms, options);
    if (this.#state === 'pending') throw new TimeoutError(`the result was not ready within ${ms} ms`);
    if (this.#state === 'failed') throw this.#value;
    return this.#value as T;
  }

  /** Promise-like: `await result`. */
  then<A = T, B = never>(onOk?: ((value: T) => A | PromiseLike<A>) | null, onErr?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    return this.get().then(onOk, onErr);
  }
}

interface Task {
  id: number;
  fnId: number;
  ref: FnRefData;
  kind: TaskKind;
  payload: unknown[];
  settle: Settle;
}

interface Slot {
  index: number;
  proc: Process;
  tasks: Queue<never>;
  inflight: Map<number, Task>;
  sentFns: Set<number>;
  sentCount: number;
  alive: boolean;
}

const RUN = 0;
const CLOSE = 1;
const TERMINATE = 2;

/**
 * Tasks a worker holds at once. Long tasks: 2 (one running, the next ready), so no worker
 * hoards work another could do. Short tasks: enough to cover about 2 ms of work, so
 * that the hand-offs (each a wake-up when a side sleeps) do not dominate.
 */
const PREFETCH = 2;
const MAX_WINDOW = 256;
const WINDOW_MS = 2;

/** @internal */
export function checkFn(fn: unknown, name: string): asserts fn is AnyFn {
  if (typeof fn !== 'function') throw new TypeError(`${name} must be a function; received ${fn === null ? 'null' : typeof fn}`);
}

/** @internal */
export function taskOptions(o: unknown): { signal?: AbortSignal; timeout?: number } {
  if (o === undefined) return {};
  if (typeof o !== 'object' || o === null) throw new TypeError('options must be an object');
  const signal = validateSignal(o);
  const timeout = validateTimeout((o as TaskOptions).timeout, 'options.timeout');
  return { signal, timeout };
}

function callSafely(what: string, fn: ((v: never) => void) | undefined, v: unknown): void {
  if (!fn) return;
  try {
    (fn as (v: unknown) => void)(v);
  } catch (e) {
    getLogger().error(`a pool ${what} threw (the pool goes on): ${(e as Error)?.stack ?? String(e)}`);
  }
}

/**
 * @internal a pending `AsyncResult` and the function that settles it once:
 * it stops the task's timer and abort listener and calls the callbacks.
 * `keepAlive`: the timeout's timer keeps the program alive (a dummy pool, whose
 * idle workers do not); a real pool's workers do that while tasks are pending.
 */
export function newResult<T>(
  opts: { signal?: AbortSignal; timeout?: number },
  callbacks?: AsyncOptions<T>,
  keepAlive = false,
): { result: AsyncResult<T>; settle: Settle } {
  const result = new AsyncResult<T>();
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const settle: Settle = (ok, value) => {
    if (!result._settle(ok, value)) return;
    if (timer) clearTimeout(timer);
    if (onAbort) opts.signal!.removeEventListener('abort', onAbort);
    if (ok) callSafely('callback', callbacks?.callback as (v: never) => void, value);
    else callSafely('errorCallback', callbacks?.errorCallback as (v: never) => void, value);
  };
  if (opts.signal) {
    opts.signal.throwIfAborted();
    onAbort = () => settle(false, opts.signal!.reason);
    opts.signal.addEventListener('abort', onAbort, { once: true });
  }
  if (opts.timeout !== undefined) {
    timer = setTimeout(() => settle(false, new TimeoutError(`the task did not finish within ${opts.timeout} ms`)), Math.max(0, opts.timeout));
    if (!keepAlive) timer.unref();
  }
  return { result, settle };
}

/**
 * A pool of worker processes or threads (Python's `multiprocessing.Pool`).
 * Functions given to it must be top-level exported functions (as a
 * `Process` target). A worker that dies while running a task fails that task
 * with `WorkerLostError` and is replaced.
 * @example
 * ```ts
 * export function square(x: number): number { return x * x; }
 * if (isMain()) {
 *   const pool = new Pool(4);
 *   console.log(await pool.map(square, [1, 2, 3])); // [1, 4, 9]
 *   await pool.close(); await pool.join();
 * }
 * ```
 */
export class Pool {
  readonly #method: StartMethod;
  readonly #ctx: Context;
  readonly #size: number;
  readonly #initializer: AnyFn | null;
  readonly #initargs: unknown[];
  readonly #maxTasks: number;
  readonly #results: Queue<never>;
  readonly #slots: (Slot | null)[];
  readonly #pending: Task[] = [];
  #pendingHead = 0;
  #state = RUN;
  #outstanding = 0;
  #pumping = false;
  /** Cancels the result loop's pending wait (terminate). */
  readonly #stop = new AbortController();
  #taskSeq = 0;
  #workerSeq = 0;
  readonly #fnIds = new Map<AnyFn, { id: number; ref: FnRefData }>();
  #closedAllWorkers = false;
  /** Moving average of how long a task runs in a worker (ms). */
  #taskMs = 1;
  #window = PREFETCH;

  /** @param processes - number of workers (default `cpuCount()`), or the options. */
  constructor(processes?: number | PoolOptions) {
    const o: PoolOptions = typeof processes === 'object' && processes !== null ? processes : { processes };
    if (typeof processes !== 'object' && processes !== undefined && typeof processes !== 'number') {
      throw new TypeError(`processes must be a number or an options object; received ${typeof processes}`);
    }
    const n = o.processes ?? cpuCount();
    if (typeof n !== 'number' || !Number.isInteger(n)) throw new TypeError(`processes must be an integer; received ${String(n)}`);
    if (n < 1) throw new RangeError('Number of processes must be at least 1');
    if (o.initializer !== undefined && o.initializer !== null) checkFn(o.initializer, 'initializer');
    if (o.initargs !== undefined && !Array.isArray(o.initargs)) throw new TypeError('initargs must be an array');
    const mt = o.maxTasksPerChild;
    if (mt !== undefined && mt !== null && (typeof mt !== 'number' || !Number.isInteger(mt) || mt < 1)) {
      throw new RangeError('maxTasksPerChild must be a positive integer');
    }
    this.#ctx = typeof o.context === 'object' && o.context !== null ? o.context : getContext(o.context);
    this.#method = this.#ctx.startMethod;
    this.#size = n;
    this.#initializer = o.initializer ?? null;
    this.#initargs = o.initargs ?? [];
    this.#maxTasks = mt ?? 0;
    this.#results = new Queue<never>();
    this.#slots = new Array<Slot | null>(n).fill(null);
    for (let i = 0; i < n; i++) this.#slots[i] = this.#spawn(i);
  }

  #spawn(index: number): Slot {
    const tasks = new Queue<never>();
    const name = `${this.#method === 'thread' ? 'Thread' : 'Process'}PoolWorker-${++this.#workerSeq}`;
    const proc = new this.#ctx.Process({
      // The worker loop is an entry file of its own, so that workers import it by name.
      target: fnRef<typeof poolWorkerMain>(entryUrl('pool-worker'), 'poolWorkerMain'),
      args: [index, tasks, this.#results, this.#initializer as ((...a: unknown[]) => unknown) | null, this.#initargs, this.#maxTasks],
      name,
      daemon: true,
    });
    proc.start();
    const slot: Slot = { index, proc, tasks, inflight: new Map(), sentFns: new Set(), sentCount: 0, alive: true };
    void proc._whenExited().then(() => this.#onExit(slot));
    return slot;
  }

  #onExit(slot: Slot): void {
    slot.alive = false;
    if (this.#slots[slot.index] === slot) this.#slots[slot.index] = null;
    if (slot.inflight.size) {
      const code = slot.proc.exitCode;
      for (const t of slot.inflight.values()) {
        if (this.#state === TERMINATE) continue;
        t.settle(false, new WorkerLostError(`the pool worker ${slot.proc.name} ended (exit code ${code}) while it held this task`));
      }
      slot.inflight.clear();
    }
    if (this.#state === RUN || (this.#state === CLOSE && this.#outstanding > 0)) {
      this.#slots[slot.index] = this.#spawn(slot.index);
      this.#dispatch();
    } else this.#maybeRetire();
  }

  #fn(fn: AnyFn): { id: number; ref: FnRefData } {
    let f = this.#fnIds.get(fn);
    if (!f) {
      f = { id: this.#fnIds.size + 1, ref: lookupFunction(fn) };
      this.#fnIds.set(fn, f);
    }
    return f;
  }

  #checkRunning(): void {
    if (this.#state !== RUN) throw new ProcessError('Pool not running: it was closed or terminated');
  }

  /** Queues one task; `settle` is called once with its outcome. */
  #submit(fn: AnyFn, kind: TaskKind, payload: unknown[], settle: Settle): void {
    const f = this.#fn(fn);
    const task: Task = { id: ++this.#taskSeq, fnId: f.id, ref: f.ref, kind, payload, settle: () => {} };
    this.#outstanding++;
    let settled = false;
    task.settle = (ok, value) => {
      if (settled) return;
      settled = true;
      this.#outstanding--;
      settle(ok, value);
      this.#maybeRetire();
    };
    this.#pending.push(task);
    this.#dispatch();
    this.#pump();
  }

  #dispatch(): void {
    while (this.#pendingHead < this.#pending.length) {
      let best: Slot | null = null;
      for (const s of this.#slots) {
        if (!s || !s.alive) continue;
        if (s.inflight.size >= this.#window) continue;
        if (this.#maxTasks > 0 && s.sentCount >= this.#maxTasks) continue;
        if (!best || s.inflight.size < best.inflight.size) best = s;
      }
      if (!best) return;
      const task = this.#pending[this.#pendingHead++]!;
      if (this.#pendingHead > 1024 && this.#pendingHead * 2 > this.#pending.length) {
        this.#pending.splice(0, this.#pendingHead);
        this.#pendingHead = 0;
      }
      const first = !best.sentFns.has(task.fnId);
      try {
        best.tasks._putBytesSync(encodeTask([task.id, task.fnId, first ? task.ref : null, task.kind, task.payload]));
      } catch (e) {
        // The arguments cannot be sent: this task fails, the pool goes on.
        task.settle(false, e);
        continue;
      }
      if (first) best.sentFns.add(task.fnId);
      best.sentCount++;
      best.inflight.set(task.id, task);
    }
  }

  /** Takes results while tasks are outstanding (and only then keeps the program alive). */
  #pump(): void {
    if (this.#pumping || this.#outstanding === 0) return;
    this.#pumping = true;
    void (async () => {
      try {
        while (this.#outstanding > 0 && this.#state !== TERMINATE) {
          const r = decodeResult(await this.#results._getBytes(this.#stop.signal));
          const { id, worker, ok, ms } = r;
          const value = r.value instanceof Promise ? await r.value.catch((e: unknown) => e) : r.value;
          this.#taskMs = this.#taskMs * 0.9 + ms * 0.1;
          this.#window = Math.max(PREFETCH, Math.min(MAX_WINDOW, Math.floor(WINDOW_MS / Math.max(this.#taskMs, 1e-4))));
          const slot = this.#slots[worker];
          const task = slot?.inflight.get(id);
          if (!slot || !task) continue; // a task already failed (its worker was lost) or aborted
          slot.inflight.delete(id);
          task.settle(ok === 1, value);
          this.#dispatch();
        }
      } catch (e) {
        if (!this.#stop.signal.aborted) getLogger().error(`pool result loop failed: ${(e as Error)?.stack ?? String(e)}`);
      } finally {
        this.#pumping = false;
        if (this.#outstanding > 0 && this.#state !== TERMINATE) this.#pump();
      }
    })();
  }

  /** After close(): once nothing is left, tell the workers to end. */
  #maybeRetire(): void {
    if (this.#state !== CLOSE || this.#outstanding > 0 || this.#closedAllWorkers) return;
    this.#closedAllWorkers = true;
    for (const s of this.#slots) if (s?.alive) s.tasks._putBytesSync(new Uint8Array(0));
  }

  /** Runs `fn(...args)` in a worker; resolves to its result (Python's `apply`). */
  apply<A extends unknown[], R>(fn: (...args: A) => R, args?: A, options?: TaskOptions): Promise<Awaited<R>> {
    return this.applyAsync(fn, args, options).get();
  }

  /** Runs `fn(...args)` in a worker; returns an `AsyncResult` at once. */
  applyAsync<A extends unknown[], R>(fn: (...args: A) => R, args?: A, options?: AsyncOptions<Awaited<R>>): AsyncResult<Awaited<R>> {
    this.#checkRunning();
    checkFn(fn, 'fn');
    if (args !== undefined && !Array.isArray(args)) throw new TypeError('args must be an array');
    const { result, settle } = newResult<Awaited<R>>(taskOptions(options), options);
    this.#submit(fn as AnyFn, TASK_APPLY, args ?? [], settle);
    return result;
  }

  /** Python's default chunksize: items / (4 x workers), rounded up. */
  #chunksize(n: number, chunksize: number | undefined): number {
    return chunksizeFor(n, chunksize, this.#size);
  }

  #mapAsync<R>(fn: AnyFn, items: unknown[], chunksize: number | undefined, kind: TaskKind, options?: AsyncOptions<R[]>): AsyncResult<R[]> {
    const size = this.#chunksize(items.length, chunksize);
    const { result, settle } = newResult<R[]>(taskOptions(options), options);
    if (items.length === 0) {
      settle(true, []);
      return result;
    }
    const out = new Array<unknown>(items.length);
    let left = Math.ceil(items.length / size);
    for (let start = 0; start < items.length; start += size) {
      const at = start;
      this.#submit(fn, kind, items.slice(start, start + size), (ok, value) => {
        if (result.ready()) return;
        if (!ok) return settle(false, value);
        const vs = value as unknown[];
        for (let i = 0; i < vs.length; i++) out[at + i] = vs[i];
        if (--left === 0) settle(true, out);
      });
    }
    return result;
  }

  /** `fn(item)` for every item, in chunks; resolves to the results in order (Python's `map`). */
  async map<A, R>(fn: (item: A) => R, items: Iterable<A> | AsyncIterable<A>, chunksize?: number, options?: TaskOptions): Promise<Awaited<R>[]> {
    return this.mapAsync(fn, await collect(items), chunksize, options).get();
  }

  /** The `AsyncResult` form of `map` (the items are read at once). */
  mapAsync<A, R>(fn: (item: A) => R, items: Iterable<A>, chunksize?: number, options?: AsyncOptions<Awaited<R>[]>): AsyncResult<Awaited<R>[]> {
    this.#checkRunning();
    checkFn(fn, 'fn');
    return this.#mapAsync<Awaited<R>>(fn as AnyFn, Array.from(items), chunksize, TASK_MAP, options);
  }

  /** `fn(...args)` for every argument tuple (Python's `starmap`). */
  async starmap<A extends unknown[], R>(fn: (...args: A) => R, items: Iterable<A> | AsyncIterable<A>, chunksize?: number, options?: TaskOptions): Promise<Awaited<R>[]> {
    return this.starmapAsync(fn, await collect(items), chunksize, options).get();
  }

  /** The `AsyncResult` form of `starmap`. */
  starmapAsync<A extends unknown[], R>(fn: (...args: A) => R, items: Iterable<A>, chunksize?: number, options?: AsyncOptions<Awaited<R>[]>): AsyncResult<Awaited<R>[]> {
    this.#checkRunning();
    checkFn(fn, 'fn');
    return this.#mapAsync<Awaited<R>>(fn as AnyFn, Array.from(items), chunksize, TASK_STARMAP, options);
  }

  /**
   * `fn(item)` for every item, as an async iterator of the results in order
   * (Python's `imap`). The input is read lazily, a bounded number of chunks ahead.
   */
  imap<A, R>(fn: (item: A) => R, items: Iterable<A> | AsyncIterable<A>, chunksize = 1): ResultIterator<Awaited<R>> {
    this.#checkRunning();
    checkFn(fn, 'fn');
    return new ResultIterator<Awaited<R>>(this, fn as AnyFn, items, chunksize, true);
  }

  /** As `imap`, the results in the order they finish (Python's `imap_unordered`). */
  imapUnordered<A, R>(fn: (item: A) => R, items: Iterable<A> | AsyncIterable<A>, chunksize = 1): ResultIterator<Awaited<R>> {
    this.#checkRunning();
    checkFn(fn, 'fn');
    return new ResultIterator<Awaited<R>>(this, fn as AnyFn, items, chunksize, false);
  }

  /** @internal for ResultIterator. */
  _submitChunk(fn: AnyFn, chunk: unknown[], settle: Settle): void {
    this.#submit(fn, TASK_MAP, chunk, settle);
  }

  /** @internal look-ahead of the lazy iterators, in chunks. */
  get _lookahead(): number {
    return this.#size * Math.max(PREFETCH, this.#window) * 2;
  }

  /** No more tasks will be submitted; the workers end once the queued work is done. */
  close(): void {
    if (this.#state !== RUN) return;
    this.#state = CLOSE;
    this.#maybeRetire();
  }

  /** Stops the workers at once; pending results reject with `ProcessError`. */
  terminate(): void {
    if (this.#state === TERMINATE) return;
    this.#state = TERMINATE;
    const err = new ProcessError('the Pool was terminated before this task finished');
    const tasks: Task[] = [];
    for (const s of this.#slots) if (s) for (const t of s.inflight.values()) tasks.push(t);
    for (let i = this.#pendingHead; i < this.#pending.length; i++) tasks.push(this.#pending[i]!);
    this.#pending.length = 0;
    this.#pendingHead = 0;
    for (const s of this.#slots) {
      if (s) s.inflight.clear();
      if (s?.alive) s.proc.kill();
    }
    for (const t of tasks) t.settle(false, err);
    this.#stop.abort(err);
  }

  /**
   * Waits for the workers to end (after `close()` or `terminate()`).
   * @throws ProcessError while the pool is still running (as Python).
   */
  async join(): Promise<void> {
    if (this.#state === RUN) throw new ProcessError('Pool is still running: call close() or terminate() before join()');
    for (;;) {
      const live = this.#slots.filter((s): s is Slot => s !== null && s.alive);
      if (live.length === 0) return;
      await Promise.all(live.map((s) => s.proc.join()));
    }
  }

  /** `await using pool = new Pool()`: terminates, as Python's `with Pool() as p:`. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.terminate();
    await this.join();
  }

  /** Python-style description. */
  toString(): string {
    const state = ['RUN', 'CLOSE', 'TERMINATE'][this.#state];
    return `<Pool state=${state} pool_size=${this.#size}>`;
  }
}

/** @internal Python's chunksize rule for `map`: the given one (checked), else items / (4 x workers), rounded up. */
export function chunksizeFor(n: number, chunksize: number | undefined, workers: number): number {
  if (chunksize !== undefined) {
    if (typeof chunksize !== 'number' || !Number.isInteger(chunksize) || chunksize < 1) throw new RangeError('chunksize must be a positive integer');
    return chunksize;
  }
  if (n === 0) return 0;
  return Math.ceil(n / (workers * 4));
}

/** @internal all items of a sync or async iterable. */
export async function collect<A>(items: Iterable<A> | AsyncIterable<A>): Promise<A[]> {
  if (items === null || (typeof items !== 'object' && typeof items !== 'string')) throw new TypeError('items must be iterable');
  if (Symbol.asyncIterator in Object(items)) {
    const out: A[] = [];
    for await (const x of items as AsyncIterable<A>) out.push(x);
    return out;
  }
  if (!(Symbol.iterator in Object(items))) throw new TypeError('items must be iterable');
  return Array.from(items as Iterable<A>);
}

/**
 * The iterator of `imap` / `imapUnordered`: `for await (const r of it)`, or
 * `await it.next(ms)` with a timeout (Python's `next(timeout)`).
 */
export class ResultIterator<R> implements AsyncIterableIterator<R> {
  readonly #pool: ChunkRunner;
  readonly #fn: AnyFn;
  readonly #chunksize: number;
  readonly #ordered: boolean;
  #source: Iterator<unknown> | AsyncIterator<unknown> | null = null;
  readonly #items: Iterable<unknown> | AsyncIterable<unknown>;
  #sourceDone = false;
  #reading = false;
  #inflight = 0;
  #nextChunk = 0; // chunk index to submit next
  #nextOut = 0; // ordered: chunk index to yield next
  readonly #doneChunks = new Map<number, unknown[]>();
  readonly #ready: unknown[] = []; // unordered: results ready
  #error: { e: unknown } | null = null;
  #wake: (() => void) | null = null;

  /** @internal */
  constructor(pool: ChunkRunner, fn: AnyFn, items: Iterable<unknown> | AsyncIterable<unknown>, chunksize: number, ordered: boolean) {
    if (typeof chunksize !== 'number' || !Number.isInteger(chunksize) || chunksize < 1) throw new RangeError('chunksize must be a positive integer');
    if (items === null || items === undefined || !(Symbol.iterator in Object(items) || Symbol.asyncIterator in Object(items))) {
      throw new TypeError('items must be iterable (sync or async)');
    }
    this.#pool = pool;
    this.#fn = fn;
    this.#items = items;
    this.#chunksize = chunksize;
    this.#ordered = ordered;
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  async #fill(): Promise<void> {
    if (this.#reading || this.#sourceDone) return;
    this.#reading = true;
    try {
      if (!this.#source) {
        const it = this.#items as { [Symbol.asyncIterator]?: () => AsyncIterator<unknown>; [Symbol.iterator]?: () => Iterator<unknown> };
        this.#source = it[Symbol.asyncIterator] ? it[Symbol.asyncIterator]!() : it[Symbol.iterator]!();
      }
      // Bounded look-ahead: chunks running plus chunks done but not yet taken.
      while (!this.#sourceDone && this.#inflight + this.#buffered() < this.#pool._lookahead && this.#error === null) {
        const chunk: unknown[] = [];
        while (chunk.length < this.#chunksize) {
          const r = await this.#source.next();
          if (r.done) {
            this.#sourceDone = true;
            break;
          }
          chunk.push(r.value);
        }
        if (chunk.length === 0) break;
        const index = this.#nextChunk++;
        this.#inflight++;
        this.#pool._submitChunk(this.#fn, chunk, (ok, value) => {
          this.#inflight--;
          if (!ok) {
            this.#error ??= { e: value };
          } else if (this.#ordered) this.#doneChunks.set(index, value as unknown[]);
          else for (const v of value as unknown[]) this.#ready.push(v);
          this.#notify();
          void this.#fill();
        });
      }
    } catch (e) {
      this.#error ??= { e };
    } finally {
      this.#reading = false;
      this.#notify();
    }
  }

  #buffered(): number {
    return this.#ordered ? this.#doneChunks.size : Math.ceil(this.#ready.length / this.#chunksize);
  }

  #take(): IteratorResult<R> | null {
    if (this.#ordered) {
      const c = this.#doneChunks.get(this.#nextOut);
      if (c && c.length) return { value: c.shift() as R, done: false };
      if (c) {
        this.#doneChunks.delete(this.#nextOut++);
        return this.#take();
      }
    } else if (this.#ready.length) return { value: this.#ready.shift() as R, done: false };
    if (this.#error) throw this.#error.e;
    if (this.#sourceDone && this.#inflight === 0 && !this.#reading) return { value: undefined as R, done: true };
    return null;
  }

  /**
   * The next result. `ms`: give up after this many milliseconds with `TimeoutError`
   * (the result stays for a later call).
   */
  async next(ms?: number): Promise<IteratorResult<R>> {
    const t = validateTimeout(ms, 'ms');
    const deadline = t === undefined ? Infinity : performance.now() + Math.max(0, t);
    void this.#fill();
    for (;;) {
      const r = this.#take();
      if (r) return r;
      const left = deadline - performance.now();
      if (left <= 0) throw new TimeoutError(`no result within ${ms} ms`);
      await new Promise<void>((resolve) => {
        // The timer of an explicit timeout keeps the program alive (a dummy pool's tasks may
        // not), and is cleared once woken so that it does not outlive the wait.
        let timer: NodeJS.Timeout | undefined;
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
        if (left !== Infinity) timer = setTimeout(resolve, left);
      });
      void this.#fill();
    }
  }

  /** Stops reading the input (for `break` in `for await`). */
  async return(): Promise<IteratorResult<R>> {
    this.#sourceDone = true;
    await this.#source?.return?.();
    return { value: undefined as R, done: true };
  }

  /** `for await`. */
  [Symbol.asyncIterator](): this {
    return this;
  }
}

/** A `Pool` of worker threads (Python's `multiprocessing.pool.ThreadPool`). */
export class ThreadPool extends Pool {
  /** @param processes - number of threads (default `cpuCount()`), or the options (`context` is ignored). */
  constructor(processes?: number | Omit<PoolOptions, 'context'>) {
    const o = typeof processes === 'object' && processes !== null ? processes : { processes };
    super({ ...o, context: 'thread' });
  }
}
