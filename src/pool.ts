/**
 * Process pools (Python's `multiprocessing.pool`): `Pool`, `ThreadPool`,
 * `AsyncResult`. Tasks and results travel through shared-memory queues (one
 * task queue per worker, one result queue per pool).
 * @module
 */
import { Full, ProcessError, TimeoutError, WorkerLostError } from './errors.js';
import { Queue } from './queues.js';
import { Process, cpuCount, type StartMethod } from './process.js';
import { getContext, type StartMethodName, type Context } from './context.js';
import { lookupFunction, fnRef } from './fnref.js';
import { entryUrl } from './backends/entry-url.js';
import { getLogger } from './logging.js';
import { state } from './internal/state.js';
import { validateSignal, validateTimeout } from './internal/validators.js';
import { holdWake, releaseWake } from './internal/waiting.js';
import type { poolWorkerMain } from './child/pool-worker.js';
import { type TaskKind, type StopKind, TASK_APPLY, TASK_MAP, TASK_STARMAP, STOP_ABORT, STOP_TIMEOUT, encodeTask, decodeResult, encodeStop } from './protocol/pool.js';
import { ProgressBar, type ProgressOptions } from './progress.js';
import { moduleKey, type FnRefData } from './protocol/messages.js';

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
  /**
   * Most tasks waiting for a worker. Beyond it, `apply`, `map`, `starmap` and the
   * `imap` iterators wait for room, `mapAsync`/`starmapAsync` hand in their chunks as room
   * frees, and `applyAsync` (which cannot wait: it returns at once) throws `Full`; use
   * {@link Pool.waitForRoom} before it. @default unbounded
   */
  maxQueue?: number;
  /**
   * Milliseconds a task that was aborted or timed out gets to stop by itself (it sees
   * `currentTask().signal`) before its worker is ended and replaced. @default 1000
   */
  abortGrace?: number;
}

/** Options every task call accepts. */
export interface TaskOptions {
  /** Rejects the task's result with the signal's reason when aborted. */
  signal?: AbortSignal;
  /** Rejects the task's result with `TimeoutError` after this many milliseconds. */
  timeout?: number;
}

/** Options of the map family: the task options, and a progress bar. */
export interface MapOptions extends TaskOptions {
  /**
   * Draws a progress bar on stderr (when it is a terminal) counting the items done: `true`,
   * or the bar's options (`label`, ...). The total is the number of items, when known.
   */
  progress?: boolean | ProgressOptions;
}

/** Options of `imap` / `imapUnordered`. */
export interface IterOptions extends MapOptions {
  /** `timeout` applies to each chunk's task; an abort of `signal` ends the iteration with its reason. */
  timeout?: number;
}

/** Options of `applyAsync` (and the other `...Async` calls). */
export interface AsyncOptions<R> extends MapOptions {
  /** Called with the result once it is there (in the calling thread). Errors it throws are logged. */
  callback?: (result: R) => void;
  /** Called with the error if the task fails. Errors it throws are logged. */
  errorCallback?: (error: unknown) => void;
}

/** @internal settles one task: `ok` with its value, or not with its error. */
export type Settle = (ok: boolean, value: unknown) => void;

/**
 * @internal what `ResultIterator` needs of a pool (the real one, or the dummy one). The
 * optional members are the real pool's: stopping a chunk, `maxQueue` room, and keeping the
 * workers until the iterator has handed in all its input (close()).
 */
export interface ChunkRunner {
  /**
   * Runs `fn` over `chunk` (`first`: its first item's index in the input); `settle` gets the
   * array of results (or the error). May return what stops it.
   */
  _submitChunk(fn: AnyFn, chunk: unknown[], settle: Settle, first: number): ((why: StopKind, reason: unknown) => void) | void;
  /** How many chunks an iterator keeps running or buffered. */
  readonly _lookahead: number;
  /** False while the pool's queue is full (`maxQueue`). */
  readonly _hasRoom?: boolean;
  /** Resolves once there is room. */
  _room?(): Promise<void>;
  /** Registers a call still handing in tasks; returns what ends that. */
  _openProducer?(p: Producer): () => void;
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

  /** The outcome as one promise, made on first demand (`get()`, `then`) and kept. */
  #promise: Promise<T> | null = null;
  #resolve: ((value: T) => void) | null = null;
  #reject: ((reason: unknown) => void) | null = null;

  #outcome(): Promise<T> {
    if (this.#promise) return this.#promise;
    if (this.#state === 'ok') return (this.#promise = Promise.resolve(this.#value as T));
    if (this.#state === 'failed') return (this.#promise = Promise.reject(this.#value));
    return (this.#promise = new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    }));
  }

  /** @internal */
  _settle(ok: boolean, value: unknown): boolean {
    if (this.#state !== 'pending') return false;
    this.#state = ok ? 'ok' : 'failed';
    this.#value = value;
    this.#resolveDone?.();
    if (this.#resolve) {
      if (ok) this.#resolve(value as T);
      else this.#reject!(value);
      this.#resolve = this.#reject = null;
    }
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
  get(ms?: number, options?: { signal?: AbortSignal }): Promise<T> {
    // The common case, no timeout and no signal: one promise, shared by every caller.
    if (ms === undefined && options === undefined) return this.#outcome();
    return this.#getWithin(ms, options);
  }

  async #getWithin(ms: number | undefined, options: { signal?: AbortSignal } | undefined): Promise<T> {
    await this.wait(ms, options);
    if (this.#state === 'pending') throw new TimeoutError(`the result was not ready within ${ms} ms`);
    if (this.#state === 'failed') throw this.#value;
    return this.#value as T;
  }

  /** Promise-like: `await result`. */
  then<A = T, B = never>(onOk?: ((value: T) => A | PromiseLike<A>) | null, onErr?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    return this.#outcome().then(onOk, onErr);
  }
}

interface Task {
  id: number;
  fnId: number;
  ref: FnRefData;
  kind: TaskKind;
  payload: unknown[];
  /** Who learns the outcome: the call's result itself (a plain `applyAsync`), or a function. */
  sink: Settle | AsyncResult<unknown>;
  done: boolean;
  /** The worker holding it, once handed over. */
  slot: Slot | null;
  /** Stopped before any worker took it: skipped when its turn comes. */
  cancelled: boolean;
  /** Asked to stop in its worker; the worker is replaced when the grace period ends. */
  grace: NodeJS.Timeout | null;
  /** A chunk's first item's index in the call's input (for error messages). */
  first: number;
}

/** @internal a call still handing in tasks (see `Pool.#producers`). */
export interface Producer {
  drain(): void;
  kill(err: unknown): void;
}

interface Slot {
  index: number;
  proc: Process;
  tasks: Queue<never>;
  control: Queue<never>;
  inflight: Map<number, Task>;
  sentFns: Set<number>;
  sentCount: number;
  alive: boolean;
  busyMs: number;
  finished: number;
  /** The worker has started its loop (its `running` message came). */
  up: boolean;
  /** Being topped up in the current dispatch round. */
  filling: boolean;
  /** Tasks written to its queue since its reader was last woken. */
  unwoken: number;
  /** When it was last woken (performance.now()). */
  wokenAt: number;
}

/** One worker in {@link PoolStats}. */
export interface WorkerStats {
  /** The worker's name (`ThreadPoolWorker-3`, `ProcessPoolWorker-1`). */
  name: string;
  /** OS process id (the pool's own for thread workers). */
  pid: number | null;
  /** Tasks handed to this worker and not finished (running or waiting in its own queue). */
  holding: number;
  /** Tasks it finished (either way). */
  finished: number;
  /** Milliseconds it spent running tasks. */
  busyMs: number;
}

/** What `pool.stats()` reports. A map call's chunk counts as one task. */
export interface PoolStats {
  /** Tasks waiting for a worker. */
  queued: number;
  /** Tasks handed to a worker and not finished. */
  running: number;
  /** Tasks that finished with a result. */
  completed: number;
  /** Tasks that failed (an error, a lost worker, an abort or a timeout). */
  failed: number;
  /** The live workers. */
  workers: WorkerStats[];
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
const DEFAULT_GRACE = 1000;
/** Why the result loop stopped waiting: nothing is outstanding. */
const IDLE = Symbol('pool idle');
const MAX_WINDOW = 256;
const WINDOW_MS = 2;
/**
 * Waking workers for tasks handed in by calls (`applyAsync` in a loop). Woken for each task, a
 * worker as fast as the caller gets up for one task and sleeps again, and every wake-up is a
 * system call on the caller's thread. So a worker woken less than {@link WAKE_GAP_MS} ago is not
 * woken again at once: its new tasks are written quietly, and it is woken for the lot at
 * {@link WAKE_BATCH} of them, when the caller's synchronous code is done (a microtask), or before
 * this thread blocks in a wait. A task handed in after a quiet spell wakes its worker at once,
 * so a caller that hands in one task and then computes itself has the worker running beside it.
 */
const WAKE_BATCH = 128;
const WAKE_GAP_MS = 1;

/** @internal */
export function checkFn(fn: unknown, name: string): asserts fn is AnyFn {
  if (typeof fn !== 'function') throw new TypeError(`${name} must be a function; received ${fn === null ? 'null' : typeof fn}`);
}

/** @internal task options, checked. */
export interface Parsed {
  signal?: AbortSignal;
  timeout?: number;
  progress?: ProgressOptions;
}

/** @internal */
export function taskOptions(o: unknown): Parsed {
  if (o === undefined) return {};
  if (typeof o !== 'object' || o === null) throw new TypeError(`options must be an object; received ${o === null ? 'null' : typeof o}`);
  const signal = validateSignal(o);
  const timeout = validateTimeout((o as TaskOptions).timeout, 'options.timeout');
  const p = (o as MapOptions).progress;
  let progress: ProgressOptions | undefined;
  if (p === true) progress = {};
  else if (typeof p === 'object' && p !== null) progress = p;
  else if (p !== undefined && p !== false) throw new TypeError(`options.progress must be a boolean or progress options; received ${typeof p}`);
  return { signal, timeout, progress };
}

function positiveInt(v: unknown, name: string, allowInfinity: boolean): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || Number.isNaN(v)) throw new TypeError(`${name} must be a number; received ${typeof v}`);
  if (allowInfinity && v === Infinity) return undefined;
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer; received ${v}`);
  return v;
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
 * @internal a pending `AsyncResult` and the function that settles it once: it stops the
 * call's timer and abort listener and calls the callbacks. An abort or a timeout settles it
 * and then calls `onStop` (the real pool stops the call's tasks there). `keepAlive`: the
 * timeout's timer keeps the program alive (a dummy pool, whose idle workers do not); a real
 * pool's workers do that while tasks are pending.
 */
export function newResult<T>(
  opts: Parsed,
  callbacks?: AsyncOptions<T>,
  keepAlive = false,
  onStop?: (why: StopKind, reason: unknown) => void,
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
  const stop = (why: StopKind, reason: unknown): void => {
    if (result.ready()) return;
    settle(false, reason);
    onStop?.(why, reason);
  };
  if (opts.signal) {
    opts.signal.throwIfAborted();
    onAbort = () => stop(STOP_ABORT, opts.signal!.reason);
    opts.signal.addEventListener('abort', onAbort, { once: true });
  }
  if (opts.timeout !== undefined) {
    timer = setTimeout(() => stop(STOP_TIMEOUT, new TimeoutError(`the task did not finish within ${opts.timeout} ms`)), Math.max(0, opts.timeout));
    if (!keepAlive) timer.unref();
  }
  return { result, settle };
}

/** @internal Python's chunksize rule for `map`: the given one (checked), else items / (4 x workers), rounded up. */
export function chunksizeFor(n: number, chunksize: number | undefined, workers: number): number {
  if (chunksize !== undefined) {
    if (typeof chunksize !== 'number' || !Number.isInteger(chunksize) || chunksize < 1) throw new RangeError(`chunksize must be a positive integer; received ${String(chunksize)}`);
    return chunksize;
  }
  if (n === 0) return 0;
  return Math.ceil(n / (workers * 4));
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
  readonly #maxQueue: number;
  readonly #grace: number;
  readonly #results: Queue<never>;
  readonly #slots: (Slot | null)[];
  readonly #pending: Task[] = [];
  #pendingHead = 0;
  /** Tasks in `#pending` not yet handed to a worker nor cancelled. */
  #queued = 0;
  readonly #roomWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  /**
   * Calls still handing in tasks (lazy iterators, chunk feeders): the workers are not told to
   * end while one is open. Each gets `drain` on close() (hand in the rest now) and `kill` on
   * terminate().
   */
  readonly #producers = new Set<Producer>();
  #state = RUN;
  #outstanding = 0;
  #completed = 0;
  #failed = 0;
  #pumping = false;
  /** A wake-up of workers is held back until this synchronous run ends (see WAKE_BATCH). */
  #wakeHeld = false;
  /**
   * Cancels the result loop's wait: when nothing is outstanding any more (a lost worker's
   * tasks are settled without a result, and the loop must not keep the program alive), or on
   * terminate(). A fresh one for each run of the loop.
   */
  #stop = new AbortController();
  #taskSeq = 0;
  #workerSeq = 0;
  readonly #fnIds = new Map<AnyFn, { id: number; ref: FnRefData }>();
  #closedAllWorkers = false;
  /** Workers that ended holding tasks: the results they put before ending may still be in the result queue. */
  readonly #ended: Slot[] = [];
  /** The result loop has taken a result from the queue and not yet settled it. */
  #inHand = false;
  /** Workers that ended before they were up, in a row (see #startFailed). */
  #failedStarts = 0;
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
    const mt = positiveInt(o.maxTasksPerChild, 'maxTasksPerChild', false);
    const mq = positiveInt(o.maxQueue, 'maxQueue', true);
    const grace = validateTimeout(o.abortGrace, 'abortGrace');
    this.#ctx = typeof o.context === 'object' && o.context !== null ? o.context : getContext(o.context);
    this.#method = this.#ctx.startMethod;
    this.#size = n;
    this.#initializer = o.initializer ?? null;
    this.#initargs = o.initargs ?? [];
    this.#maxTasks = mt ?? 0;
    this.#maxQueue = mq ?? Infinity;
    this.#grace = grace === undefined ? DEFAULT_GRACE : Math.max(0, grace);
    this.#results = new Queue<never>();
    this.#slots = new Array<Slot | null>(n).fill(null);
    for (let i = 0; i < n; i++) this.#slots[i] = this.#spawn(i);
  }

  #spawn(index: number): Slot {
    const tasks = new Queue<never>();
    const control = new Queue<never>();
    const name = `${this.#method === 'thread' ? 'Thread' : 'Process'}PoolWorker-${++this.#workerSeq}`;
    const proc = new this.#ctx.Process({
      // The worker loop lives in the worker core (dist/core.cjs), which every worker has loaded.
      target: fnRef<typeof poolWorkerMain>(entryUrl('core'), 'poolWorkerMain'),
      args: [index, tasks, this.#results, control, this.#initializer as ((...a: unknown[]) => unknown) | null, this.#initargs, this.#maxTasks],
      name,
      daemon: true,
    });
    proc.start();
    const slot: Slot = { index, proc, tasks, control, inflight: new Map(), sentFns: new Set(), sentCount: 0, alive: true, up: false, busyMs: 0, finished: 0, filling: false, unwoken: 0, wokenAt: -Infinity };
    proc._onRunning(() => {
      slot.up = true;
      this.#failedStarts = 0;
    });
    void proc._whenExited().then(() => this.#onExit(slot));
    return slot;
  }

  #onExit(slot: Slot): void {
    slot.alive = false;
    if (this.#slots[slot.index] === slot) this.#slots[slot.index] = null;
    if (slot.inflight.size) {
      if (this.#state === TERMINATE) slot.inflight.clear();
      else {
        // A worker puts its last result, then ends (maxTasksPerChild): read what is in the
        // result queue before failing the tasks still without a result.
        this.#ended.push(slot);
        this.#failLost();
      }
    }
    if (!slot.up && this.#state !== TERMINATE) this.#startFailed(slot);
    if ((this.#state === RUN || (this.#state === CLOSE && this.#outstanding > 0)) && this.#failedStarts < this.#size) {
      this.#slots[slot.index] = this.#spawn(slot.index);
      this.#dispatch();
    } else this.#maybeRetire();
  }

  /**
   * A worker ended before it ran its loop (an initializer's module that cannot load, a
   * loader or the environment: every worker then fails the same way). The tasks it held
   * failed with it; once as many starts in a row as the pool has workers have failed, and none
   * is up, the tasks still waiting in the pool fail too, with the cause, and the pool stops
   * starting workers until the next call hands it a task (Python's pool starts new ones for
   * ever, and its tasks wait for ever).
   */
  #startFailed(slot: Slot): void {
    this.#failedStarts++;
    if (this.#failedStarts < this.#size || this.#slots.some((s) => s?.alive && s.up)) return;
    const code = slot.proc.exitCode;
    const err = new WorkerLostError(
      `the pool worker ${slot.proc.name} ended (exit code ${code}) before it could run tasks; ` +
        `its error output says why (a worker that cannot start fails the tasks waiting for one)`,
    );
    const waiting = this.#pending.splice(this.#pendingHead);
    this.#pending.length = 0;
    this.#pendingHead = 0;
    for (const t of waiting) {
      if (t.cancelled) continue;
      this.#queued--;
      this.#finish(t, false, err);
    }
    this.#wakeRoom();
  }

  /** Starts workers again in the empty places left by workers that failed to start. */
  #restartFailed(): void {
    if (this.#failedStarts < this.#size) return;
    this.#failedStarts = 0;
    for (let i = 0; i < this.#slots.length; i++) if (!this.#slots[i]) this.#slots[i] = this.#spawn(i);
  }

  /** Fails the tasks of ended workers once the result queue holds nothing more from them. */
  #failLost(): void {
    if (this.#ended.length === 0 || this.#inHand || !this.#results.empty()) return;
    for (const slot of this.#ended.splice(0)) {
      const code = slot.proc.exitCode;
      const tasks = [...slot.inflight.values()];
      slot.inflight.clear();
      for (const t of tasks) this.#finish(t, false, new WorkerLostError(`the pool worker ${slot.proc.name} ended (exit code ${code}) while it held this task`));
    }
  }

  #fn(fn: AnyFn): { id: number; ref: FnRefData } {
    let f = this.#fnIds.get(fn);
    if (!f) {
      f = { id: this.#fnIds.size + 1, ref: lookupFunction(fn) };
      this.#fnIds.set(fn, f);
      // A worker imports a function's module on its first task. Told now, a worker still
      // starting imports it beside its own start-up (a new pool's first result waits for
      // both), and the standby worker of later pools has it ready.
      const key = moduleKey(f.ref);
      state().targetModules.add(key);
      for (const s of this.#slots) if (s?.alive) s.proc._preload([key]);
    }
    return f;
  }

  #checkRunning(): void {
    if (this.#state !== RUN) throw new ProcessError('Pool not running: it was closed or terminated');
  }

  /** Queues one task; `sink` learns its outcome, once. */
  #submit(fn: AnyFn, kind: TaskKind, payload: unknown[], sink: Settle | AsyncResult<unknown>, first = 0): Task {
    const f = this.#fn(fn);
    const task: Task = { id: ++this.#taskSeq, fnId: f.id, ref: f.ref, kind, payload, sink, done: false, slot: null, cancelled: false, grace: null, first };
    this.#outstanding++;
    this.#pending.push(task);
    this.#queued++;
    this.#restartFailed();
    this.#dispatch(true);
    this.#pump();
    return task;
  }

  /** A task's outcome (once): the pool's counts, then its caller. */
  #finish(task: Task, ok: boolean, value: unknown): void {
    if (task.done) return;
    task.done = true;
    if (task.grace) clearTimeout(task.grace);
    // (A fixed reason: a default one is an error whose stack would keep this call's data alive.)
    if (--this.#outstanding === 0 && this.#pumping) this.#stop.abort(IDLE);
    if (ok) this.#completed++;
    else this.#failed++;
    const sink = task.sink;
    if (sink instanceof AsyncResult) sink._settle(ok, value);
    else sink(ok, value);
    this.#maybeRetire();
  }

  /**
   * Stops a task whose caller aborted or timed out: dropped if no worker took it yet, else
   * the worker is told (its `currentTask().signal` aborts) and replaced if the task has not
   * ended after the grace period.
   */
  #stopTask(task: Task, why: StopKind, reason: unknown): void {
    if (task.done || task.grace) return;
    const slot = task.slot;
    if (!slot) {
      task.cancelled = true;
      this.#queued--;
      this.#finish(task, false, reason);
      this.#wakeRoom();
      return;
    }
    try {
      slot.control._putBytesSync(encodeStop(task.id, why));
    } catch {
      // the worker's control queue is gone: the grace timer still ends it
    }
    const expire = (): void => {
      if (task.done || !slot.alive || slot.inflight.get(task.id) !== task) return;
      // A worker runs what it holds one at a time, oldest first. While an older task is still
      // unfinished (or a result waits to be read), this one has not started: wait again.
      if (slot.inflight.keys().next().value !== task.id || this.#results.qsize() > 0) task.grace = setTimeout(expire, this.#grace);
      else this.#replace(slot);
    };
    task.grace = setTimeout(expire, this.#grace);
  }

  /** Ends a worker whose stopped task overran its grace period; what else it held goes to others. */
  #replace(slot: Slot): void {
    const others: Task[] = [];
    for (const t of slot.inflight.values()) if (!t.grace) others.push(t);
    for (const t of others) {
      slot.inflight.delete(t.id);
      t.slot = null;
    }
    // A worker runs its tasks one at a time in order, and the stopped task has not ended,
    // so these have not started: they go back to the front of the line.
    this.#pending.splice(this.#pendingHead, 0, ...others);
    this.#queued += others.length;
    getLogger().debug(`pool worker ${slot.proc.name} did not stop its task within ${this.#grace} ms: replacing it`);
    slot.proc.kill();
  }

  #wakeRoom(): void {
    while (this.#roomWaiters.length && this.#queued < this.#maxQueue) this.#roomWaiters.shift()!.resolve();
  }

  /** Wakes the workers that were handed tasks quietly. */
  readonly #sendWakes = (): void => {
    this.#wakeHeld = false;
    releaseWake(this.#sendWakes);
    for (const s of this.#slots) {
      if (s && s.unwoken > 0) {
        s.unwoken = 0;
        s.wokenAt = performance.now();
        if (s.alive) s.tasks._wakeReaders();
      }
    }
  };

  /**
   * Hands pending tasks to workers. `batch` (calls handing in tasks): a worker is woken once
   * it has {@link WAKE_BATCH} new tasks, the rest when this synchronous run ends; otherwise
   * (the result loop) at the end of this round.
   */
  #dispatch(batch = false): void {
    if (this.#pendingHead >= this.#pending.length) return;
    this.#fill();
    let held = false;
    let now = 0;
    for (const s of this.#slots) {
      if (!s || s.unwoken === 0) continue;
      if (!batch || s.unwoken >= WAKE_BATCH || (now ||= performance.now()) - s.wokenAt > WAKE_GAP_MS) {
        s.unwoken = 0;
        s.wokenAt = now || performance.now();
        if (s.alive) s.tasks._wakeReaders();
      } else held = true;
    }
    if (held && !this.#wakeHeld) {
      this.#wakeHeld = true;
      holdWake(this.#sendWakes);
      queueMicrotask(this.#sendWakes);
    }
  }

  #fill(): void {
    // A worker is topped up once it is down to half its window, and then filled: tasks go in
    // bursts, so a worker that runs faster than this thread hands out work finds several
    // waiting when it wakes, instead of being woken (a system call) for each one.
    const low = this.#window >> 1;
    for (const s of this.#slots) if (s) s.filling = s.inflight.size <= low;
    while (this.#pendingHead < this.#pending.length) {
      if (this.#pending[this.#pendingHead]!.cancelled) {
        if (++this.#pendingHead === this.#pending.length) {
          this.#pending.length = 0;
          this.#pendingHead = 0;
        }
        continue;
      }
      let best: Slot | null = null;
      for (const s of this.#slots) {
        if (!s || !s.alive || !s.filling) continue;
        if (s.inflight.size >= this.#window) continue;
        if (this.#maxTasks > 0 && s.sentCount >= this.#maxTasks) continue;
        if (!best || s.inflight.size < best.inflight.size) best = s;
      }
      if (!best) break;
      const task = this.#pending[this.#pendingHead++]!;
      if (this.#pendingHead === this.#pending.length) {
        // Drained: drop the dispatched tasks (their arguments and result closures) at once.
        this.#pending.length = 0;
        this.#pendingHead = 0;
      } else if (this.#pendingHead > 1024 && this.#pendingHead * 2 > this.#pending.length) {
        this.#pending.splice(0, this.#pendingHead);
        this.#pendingHead = 0;
      }
      this.#queued--;
      const first = !best.sentFns.has(task.fnId);
      try {
        best.tasks._putBytesSync(encodeTask(task.id, task.fnId, first ? task.ref : null, task.kind, task.payload, task.first), true);
      } catch (e) {
        // The arguments cannot be sent: this task fails, the pool goes on.
        this.#finish(task, false, e);
        continue;
      }
      if (first) best.sentFns.add(task.fnId);
      // A chunk of a map is worth a wake-up of its own: the worker starts on it while this
      // thread encodes the next chunks.
      best.unwoken += task.kind === TASK_APPLY ? 1 : WAKE_BATCH;
      best.sentCount++;
      task.slot = best;
      best.inflight.set(task.id, task);
    }
    if (this.#roomWaiters.length) this.#wakeRoom();
  }

  /** Takes results while tasks are outstanding (and only then keeps the program alive). */
  #pump(): void {
    if (this.#pumping || this.#outstanding === 0 || this.#state === TERMINATE) return;
    this.#pumping = true;
    if (this.#stop.signal.aborted) this.#stop = new AbortController();
    const stop = this.#stop.signal;
    void (async () => {
      try {
        while (this.#outstanding > 0 && this.#state !== TERMINATE) {
          // Results that are already there are read without a trip through the microtask
          // queue (with a turn of the event loop now and then: see Queue._takeFrame).
          const got = this.#results._takeFrame(stop);
          const bytes = got instanceof Uint8Array ? got : await got;
          this.#inHand = true;
          const r = decodeResult(bytes);
          const { id, worker, ok, ms } = r;
          const decodedValue = r.value;
          r.value = undefined; // (the decoded record is reused: it must not keep this value alive)
          const value = decodedValue instanceof Promise ? await decodedValue.catch((e: unknown) => e) : decodedValue;
          this.#inHand = false;
          this.#taskMs = this.#taskMs * 0.9 + ms * 0.1;
          this.#window = Math.max(PREFETCH, Math.min(MAX_WINDOW, Math.floor(WINDOW_MS / Math.max(this.#taskMs, 1e-4))));
          let slot = this.#slots[worker];
          let task = slot?.inflight.get(id);
          if (!task && this.#ended.length) {
            // The last results of a worker that has ended (and may have been replaced).
            slot = this.#ended.find((s) => s.index === worker && s.inflight.has(id)) ?? null;
            task = slot?.inflight.get(id);
          }
          if (slot && task) {
            slot.inflight.delete(id);
            slot.busyMs += ms;
            slot.finished++;
            this.#finish(task, ok === 1, value);
            this.#dispatch();
          } // else: the task already failed (its worker was lost)
          this.#failLost();
        }
      } catch (e) {
        if (!stop.aborted) getLogger().error(`pool result loop failed: ${(e as Error)?.stack ?? String(e)}`);
      } finally {
        this.#inHand = false;
        this.#pumping = false;
        if (this.#outstanding > 0 && this.#state !== TERMINATE) this.#pump();
      }
    })();
  }

  /** After close(): once nothing is left, tell the workers to end. */
  #maybeRetire(): void {
    if (this.#state !== CLOSE || this.#outstanding > 0 || this.#producers.size > 0 || this.#closedAllWorkers) return;
    this.#closedAllWorkers = true;
    for (const s of this.#slots) if (s?.alive) s.tasks._putBytesSync(new Uint8Array(0));
  }

  /**
   * The caller's side of one call: its result, the abort and timeout that settle it early
   * (and stop its tasks), and its callbacks.
   */
  #wrap<T>(opts: Parsed, callbacks?: AsyncOptions<T>): { result: AsyncResult<T>; settle: Settle; own: (t: Task) => void } {
    let owned: Task | Task[] | null = null;
    const { result, settle } = newResult<T>(opts, callbacks, false, (why, reason) => {
      if (Array.isArray(owned)) for (const t of owned) this.#stopTask(t, why, reason);
      else if (owned) this.#stopTask(owned, why, reason);
      owned = null;
    });
    const own = (t: Task): void => {
      if (opts.signal === undefined && opts.timeout === undefined) return;
      if (owned === null) owned = t;
      else if (Array.isArray(owned)) owned.push(t);
      else owned = [owned, t];
    };
    return { result, settle, own };
  }

  /**
   * Runs `fn(...args)` in a worker; resolves to its result (Python's `apply`).
   * With `maxQueue`, waits for room first.
   */
  async apply<A extends unknown[], R>(fn: (...args: A) => R, args?: A, options?: TaskOptions): Promise<Awaited<R>> {
    this.#checkRunning();
    if (this.#queued >= this.#maxQueue) await this.waitForRoom({ signal: options?.signal });
    return this.applyAsync(fn, args, options).get();
  }

  /**
   * Runs `fn(...args)` in a worker; returns an `AsyncResult` at once.
   * @throws Full when `maxQueue` tasks already wait for a worker (see {@link Pool.waitForRoom}).
   */
  applyAsync<A extends unknown[], R>(fn: (...args: A) => R, args?: A, options?: AsyncOptions<Awaited<R>>): AsyncResult<Awaited<R>> {
    this.#checkRunning();
    checkFn(fn, 'fn');
    if (args !== undefined && !Array.isArray(args)) throw new TypeError(`args must be an array; received ${typeof args}`);
    if (this.#queued >= this.#maxQueue) {
      throw new Full(`the pool's queue is full (maxQueue ${this.#maxQueue}): await pool.waitForRoom() first, or use await pool.apply()`);
    }
    if (options === undefined) {
      // No callbacks, signal or timeout: the result is the task's only listener.
      const result = new AsyncResult<Awaited<R>>();
      this.#submit(fn as AnyFn, TASK_APPLY, args ?? [], result as AsyncResult<unknown>);
      return result;
    }
    const { result, settle, own } = this.#wrap<Awaited<R>>(taskOptions(options), options);
    own(this.#submit(fn as AnyFn, TASK_APPLY, args ?? [], settle));
    return result;
  }

  /**
   * Resolves once fewer than `maxQueue` tasks wait for a worker (at once when the pool has
   * no `maxQueue`). Rejects if the pool is closed or terminated meanwhile.
   */
  waitForRoom(options?: { signal?: AbortSignal }): Promise<void> {
    const signal = validateSignal(options);
    if (this.#state !== RUN) return Promise.reject(new ProcessError('Pool not running: it was closed or terminated'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#queued < this.#maxQueue) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let onAbort: (() => void) | undefined;
      const w = {
        resolve: () => {
          if (onAbort) signal!.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (e: unknown) => {
          if (onAbort) signal!.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      if (signal) {
        onAbort = () => {
          const i = this.#roomWaiters.indexOf(w);
          if (i >= 0) this.#roomWaiters.splice(i, 1);
          reject(signal.reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
      }
      this.#roomWaiters.push(w);
    });
  }

  /** Room for internal producers: also after close() (they finish what was asked before it). */
  #room(): Promise<void> {
    if (this.#state === TERMINATE) return Promise.reject(new ProcessError('the Pool was terminated'));
    if (this.#queued < this.#maxQueue) return Promise.resolve();
    return new Promise<void>((resolve, reject) => this.#roomWaiters.push({ resolve, reject }));
  }

  /** @internal registers a call that is still handing in tasks. */
  _openProducer(p: Producer): () => void {
    this.#producers.add(p);
    return () => {
      if (this.#producers.delete(p)) this.#maybeRetire();
    };
  }

  /** @internal room for a producer's next task. */
  _room(): Promise<void> {
    return this.#room();
  }

  /** Python's default chunksize: items / (4 x workers), rounded up. */
  #chunksize(n: number, chunksize: number | undefined): number {
    return chunksizeFor(n, chunksize, this.#size);
  }

  #mapAsync<R>(fn: AnyFn, items: readonly unknown[], chunksize: number | undefined, kind: TaskKind, options?: AsyncOptions<R[]>): AsyncResult<R[]> {
    const size = this.#chunksize(items.length, chunksize);
    const opts = taskOptions(options);
    const { result, settle, own } = this.#wrap<R[]>(opts, options);
    if (items.length === 0) {
      settle(true, []);
      return result;
    }
    const bar = opts.progress ? new ProgressBar({ total: items.length, ...opts.progress }) : null;
    const out = new Array<unknown>(items.length);
    const chunks = Math.ceil(items.length / size);
    let left = chunks;
    let next = 0;
    const finish = (ok: boolean, value: unknown): void => {
      bar?.close();
      settle(ok, value);
    };
    const submitOne = (): void => {
      const at = next++ * size;
      own(
        this.#submit(fn, kind, items.slice(at, at + size), (ok, value) => {
          if (result.ready()) return;
          if (!ok) return finish(false, value);
          const vs = value as unknown[];
          for (let i = 0; i < vs.length; i++) out[at + i] = vs[i];
          bar?.update(vs.length);
          if (--left === 0) finish(true, out);
        }, at),
      );
    };
    if (this.#maxQueue === Infinity) {
      while (next < chunks) submitOne();
    } else {
      // Chunks are cut and handed in as room frees, so a bounded pool holds a bounded number.
      const done = this._openProducer({ drain: () => {}, kill: () => {} });
      void (async () => {
        try {
          while (next < chunks && !result.ready()) {
            if (this.#queued >= this.#maxQueue) await this.#room();
            if (!result.ready()) submitOne();
          }
        } catch (e) {
          finish(false, e);
        } finally {
          done();
        }
      })();
    }
    return result;
  }

  /** `fn(item)` for every item, in chunks; resolves to the results in order (Python's `map`). */
  async map<A, R>(fn: (item: A) => R, items: Iterable<A> | AsyncIterable<A>, chunksize?: number, options?: MapOptions): Promise<Awaited<R>[]> {
    this.#checkRunning();
    checkFn(fn, 'fn');
    return this.#mapAsync<Awaited<R>>(fn as AnyFn, await collect(items), chunksize, TASK_MAP, options).get();
  }

  /** The `AsyncResult` form of `map` (the items are read at once). */
  mapAsync<A, R>(fn: (item: A) => R, items: Iterable<A>, chunksize?: number, options?: AsyncOptions<Awaited<R>[]>): AsyncResult<Awaited<R>[]> {
    this.#checkRunning();
    checkFn(fn, 'fn');
    return this.#mapAsync<Awaited<R>>(fn as AnyFn, asArray(items), chunksize, TASK_MAP, options);
  }

  /** `fn(...args)` for every argument tuple (Python's `starmap`). */
  async starmap<A extends unknown[], R>(fn: (...args: A) => R, items: Iterable<A> | AsyncIterable<A>, chunksize?: number, options?: MapOptions): Promise<Awaited<R>[]> {
    this.#checkRunning();
    checkFn(fn, 'fn');
    return this.#mapAsync<Awaited<R>>(fn as AnyFn, await collect(items), chunksize, TASK_STARMAP, options).get();
  }

  /** The `AsyncResult` form of `starmap`. */
  starmapAsync<A extends unknown[], R>(fn: (...args: A) => R, items: Iterable<A>, chunksize?: number, options?: AsyncOptions<Awaited<R>[]>): AsyncResult<Awaited<R>[]> {
    this.#checkRunning();
    checkFn(fn, 'fn');
    return this.#mapAsync<Awaited<R>>(fn as AnyFn, asArray(items), chunksize, TASK_STARMAP, options);
  }

  /**
   * `fn(item)` for every item, as an async iterator of the results in order
   * (Python's `imap`). The input is read lazily, a bounded number of chunks ahead.
   */
  imap<A, R>(fn: (item: A) => R, items: Iterable<A> | AsyncIterable<A>, chunksize = 1, options?: IterOptions): ResultIterator<Awaited<R>> {
    this.#checkRunning();
    checkFn(fn, 'fn');
    return new ResultIterator<Awaited<R>>(this, fn as AnyFn, items, chunksize, true, taskOptions(options));
  }

  /** As `imap`, the results in the order they finish (Python's `imap_unordered`). */
  imapUnordered<A, R>(fn: (item: A) => R, items: Iterable<A> | AsyncIterable<A>, chunksize = 1, options?: IterOptions): ResultIterator<Awaited<R>> {
    this.#checkRunning();
    checkFn(fn, 'fn');
    return new ResultIterator<Awaited<R>>(this, fn as AnyFn, items, chunksize, false, taskOptions(options));
  }

  /** @internal for ResultIterator: submits one chunk; returns a function that stops it. */
  _submitChunk(fn: AnyFn, chunk: unknown[], settle: Settle, first: number): (why: StopKind, reason: unknown) => void {
    const task = this.#submit(fn, TASK_MAP, chunk, settle, first);
    return (why, reason) => this.#stopTask(task, why, reason);
  }

  /** @internal for ResultIterator: whether a chunk may be handed in now. */
  get _hasRoom(): boolean {
    return this.#queued < this.#maxQueue;
  }

  /** @internal look-ahead of the lazy iterators, in chunks (no limit once closed: see close()). */
  get _lookahead(): number {
    return this.#state === RUN ? this.#size * Math.max(PREFETCH, this.#window) * 2 : Infinity;
  }

  /** Counts of tasks queued, running and done, and each worker's share. */
  stats(): PoolStats {
    const workers: WorkerStats[] = [];
    let running = 0;
    for (const s of this.#slots) {
      if (!s || !s.alive) continue;
      running += s.inflight.size;
      workers.push({ name: s.proc.name, pid: s.proc.pid, holding: s.inflight.size, finished: s.finished, busyMs: s.busyMs });
    }
    return { queued: this.#queued, running, completed: this.#completed, failed: this.#failed, workers };
  }

  /** No more tasks will be submitted; the workers end once the queued work is done. */
  close(): void {
    if (this.#state !== RUN) return;
    this.#state = CLOSE;
    // Calls made before close() still finish: lazy iterators now read the rest of their input
    // (as Python's, whose task handler reads it all), so that join() returns.
    for (const p of this.#producers) p.drain();
    this.#maybeRetire();
  }

  #rejectRoomWaiters(err: unknown): void {
    for (const w of this.#roomWaiters.splice(0)) w.reject(err);
  }

  /** Stops the workers at once; pending results reject with `ProcessError`. */
  terminate(): void {
    if (this.#state === TERMINATE) return;
    this.#state = TERMINATE;
    const err = new ProcessError('the Pool was terminated before this task finished');
    this.#rejectRoomWaiters(err);
    for (const p of [...this.#producers]) p.kill(err);
    this.#producers.clear();
    const tasks: Task[] = [];
    for (const s of this.#slots) if (s) for (const t of s.inflight.values()) tasks.push(t);
    for (const s of this.#ended.splice(0)) {
      for (const t of s.inflight.values()) tasks.push(t);
      s.inflight.clear();
    }
    for (let i = this.#pendingHead; i < this.#pending.length; i++) if (!this.#pending[i]!.cancelled) tasks.push(this.#pending[i]!);
    this.#pending.length = 0;
    this.#pendingHead = 0;
    this.#queued = 0;
    for (const s of this.#slots) {
      if (s) s.inflight.clear();
      if (s?.alive) s.proc.kill();
    }
    for (const t of tasks) this.#finish(t, false, err);
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

function asArray<A>(items: Iterable<A>): readonly A[] {
  if (Array.isArray(items)) return items;
  if (items === null || items === undefined || !(Symbol.iterator in Object(items))) throw new TypeError(`items must be iterable; received ${items === null ? 'null' : typeof items}`);
  return Array.from(items);
}

/** @internal all items of a sync or async iterable (an array as it is). */
export async function collect<A>(items: Iterable<A> | AsyncIterable<A>): Promise<A[]> {
  if (items === null || (typeof items !== 'object' && typeof items !== 'string')) throw new TypeError('items must be iterable');
  if (Symbol.asyncIterator in Object(items)) {
    const out: A[] = [];
    for await (const x of items as AsyncIterable<A>) out.push(x);
    return out;
  }
  if (!(Symbol.iterator in Object(items))) throw new TypeError('items must be iterable');
  return Array.isArray(items) ? items : Array.from(items as Iterable<A>);
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
  readonly #timeout: number | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #bar: ProgressBar | null;
  #source: Iterator<unknown> | AsyncIterator<unknown> | null = null;
  readonly #items: Iterable<unknown> | AsyncIterable<unknown>;
  #sourceDone = false;
  #reading = false;
  #inflight = 0;
  #nextChunk = 0; // chunk index to submit next
  #nextOut = 0; // ordered: chunk index to yield next
  readonly #doneChunks = new Map<number, unknown[]>();
  readonly #ready: unknown[] = []; // unordered: results ready
  /** Stoppers of the chunks handed in and not finished. */
  readonly #running = new Map<number, (why: StopKind, reason: unknown) => void>();
  /**
   * The first failure, and the index of the chunk it stands for (-1: the whole iteration, an
   * abort). imap yields the results of the chunks before it first, as Python's.
   */
  #error: { e: unknown; at: number } | null = null;
  #wake: (() => void) | null = null;
  #onAbort: (() => void) | undefined;
  /** Deregisters from the pool once the input is read to its end (or the iteration ends). */
  #closeProducer: (() => void) | null = null;

  /** @internal */
  constructor(pool: ChunkRunner, fn: AnyFn, items: Iterable<unknown> | AsyncIterable<unknown>, chunksize: number, ordered: boolean, options: Parsed = {}) {
    if (typeof chunksize !== 'number' || !Number.isInteger(chunksize) || chunksize < 1) throw new RangeError(`chunksize must be a positive integer; received ${String(chunksize)}`);
    if (items === null || items === undefined || !(Symbol.iterator in Object(items) || Symbol.asyncIterator in Object(items))) {
      throw new TypeError('items must be iterable (sync or async)');
    }
    options.signal?.throwIfAborted();
    this.#pool = pool;
    this.#fn = fn;
    this.#items = items;
    this.#chunksize = chunksize;
    this.#ordered = ordered;
    this.#timeout = options.timeout;
    this.#signal = options.signal;
    if (options.progress) {
      const known = (items as { length?: unknown }).length ?? (items as { size?: unknown }).size;
      this.#bar = new ProgressBar({ total: typeof known === 'number' ? known : undefined, ...options.progress });
    } else this.#bar = null;
    if (this.#signal) {
      this.#onAbort = () => this.#fail(this.#signal!.reason, STOP_ABORT, -1);
      this.#signal.addEventListener('abort', this.#onAbort, { once: true });
    }
    this.#closeProducer = pool._openProducer?.({ drain: () => void this.#fill(), kill: (e) => this.#fail(e, STOP_ABORT, -1) }) ?? null;
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  /**
   * Ends the iteration with an error standing for chunk `at`: stops reading, and stops the
   * running chunks whose results would come after it (all of them for imapUnordered).
   */
  #fail(e: unknown, why: StopKind, at: number): void {
    if (this.#error !== null && this.#error.at <= at) return;
    this.#error = { e, at };
    this.#sourceDone = true;
    for (const [index, stop] of [...this.#running]) {
      if (this.#ordered && index < at) continue;
      this.#running.delete(index);
      stop(why, e);
    }
    this.#finish();
    this.#notify();
  }

  #finish(): void {
    this.#closeProducer?.();
    this.#closeProducer = null;
    this.#bar?.close();
    if (this.#onAbort) this.#signal!.removeEventListener('abort', this.#onAbort);
    this.#onAbort = undefined;
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
        if (this.#pool._hasRoom === false) await this.#pool._room?.();
        if (this.#sourceDone) break;
        const chunk: unknown[] = [];
        while (chunk.length < this.#chunksize) {
          const r = await this.#source.next();
          if (r.done) {
            this.#sourceDone = true;
            break;
          }
          chunk.push(r.value);
        }
        if (chunk.length === 0 || this.#error !== null) break;
        this.#submit(chunk);
      }
      if (this.#sourceDone) this.#closeProducer?.();
    } catch (e) {
      // The input threw: the error takes the place of the chunk being read.
      this.#fail(e, STOP_ABORT, this.#nextChunk);
    } finally {
      this.#reading = false;
      this.#notify();
    }
  }

  #submit(chunk: unknown[]): void {
    const index = this.#nextChunk++;
    this.#inflight++;
    let timer: NodeJS.Timeout | undefined;
    const stop = this.#pool._submitChunk(this.#fn, chunk, (ok, value) => {
      if (timer) clearTimeout(timer);
      this.#running.delete(index);
      this.#inflight--;
      if (!ok) return this.#fail(value, STOP_ABORT, index);
      if (this.#error && (!this.#ordered || index > this.#error.at)) return;
      const vs = value as unknown[];
      if (this.#ordered) this.#doneChunks.set(index, vs);
      else for (const v of vs) this.#ready.push(v);
      this.#bar?.update(vs.length);
      this.#notify();
      void this.#fill();
    }, index * this.#chunksize);
    if (stop) this.#running.set(index, stop);
    if (this.#timeout !== undefined) {
      timer = setTimeout(() => this.#fail(new TimeoutError(`a chunk of this imap did not finish within ${this.#timeout} ms`), STOP_TIMEOUT, index), Math.max(0, this.#timeout));
      timer.unref();
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
    // imap: the error comes in its place, after the results of the chunks before it.
    if (this.#error && (!this.#ordered || this.#nextOut >= this.#error.at)) throw this.#error.e;
    if (this.#sourceDone && this.#inflight === 0 && !this.#reading) {
      this.#finish();
      return { value: undefined as R, done: true };
    }
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

  /** Stops reading the input (for `break` in `for await`); chunks already handed in still run. */
  async return(): Promise<IteratorResult<R>> {
    this.#sourceDone = true;
    this.#finish();
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
