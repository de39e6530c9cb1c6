/**
 * The `Pool` of `multiprocessing-ts/dummy` (Python's `ThreadPool`, which
 * `multiprocessing.dummy.Pool` returns): N async workers in the calling
 * thread, running any function (closures too), with the real Pool's methods
 * and `AsyncResult` / `ResultIterator`.
 * @internal
 */
import { ProcessError } from '../errors.js';
import { cpuCount } from '../process.js';
import { getLogger } from '../logging.js';
import {
  AsyncResult,
  ResultIterator,
  checkFn,
  chunksizeFor,
  collect,
  newResult,
  taskOptions,
  type AnyFn,
  type AsyncOptions,
  type Settle,
  type TaskOptions,
} from '../pool.js';
import { WaitList } from './common.js';
import { Process } from './process.js';

/** Options of the dummy `new Pool(...)` (Python's `ThreadPool(processes, initializer, initargs)`). */
export interface DummyPoolOptions {
  /** Number of concurrent async workers. @default cpuCount() */
  processes?: number;
  /** A function (any) each worker runs once (awaited), before its first task. */
  initializer?: (...args: never[]) => unknown;
  /** Arguments of `initializer`. */
  initargs?: unknown[];
}

const APPLY = 0;
const MAP = 1;
const STARMAP = 2;

interface Job {
  fn: AnyFn;
  kind: typeof APPLY | typeof MAP | typeof STARMAP;
  payload: unknown[];
  settle: Settle;
  /** True once nobody needs the outcome (aborted, timed out, or a sibling chunk failed). */
  dead: () => boolean;
}

const RUN = 0;
const CLOSE = 1;
const TERMINATE = 2;

let workerSeq = 0;

/**
 * A pool of async workers in the calling thread (Python's
 * `multiprocessing.dummy.Pool`, a `ThreadPool`), for I/O-bound work: at most
 * `processes` tasks run at once, each a function of any kind (closures,
 * methods, async functions), called with its arguments as they are. Same
 * methods as the real `Pool`; a task's `timeout` or `signal` rejects its
 * result at once, but the function itself runs on until it returns (it
 * cannot be stopped) and keeps its worker busy until then.
 * @example
 * ```ts
 * import { Pool } from 'multiprocessing-ts/dummy';
 * const pool = new Pool(8);
 * const statuses = await pool.map(async (url: string) => (await fetch(url)).status, urls);
 * pool.close(); await pool.join();
 * ```
 */
export class Pool {
  readonly #size: number;
  readonly #initializer: AnyFn | null;
  readonly #initargs: unknown[];
  #queue: Job[] = [];
  #head = 0;
  readonly #idle = new WaitList();
  readonly #workers = new Set<Process>();
  readonly #running = new Set<Job>();
  #state = RUN;

  /**
   * @param processes - number of workers (default `cpuCount()`), or the options.
   * @throws RangeError when fewer than 1 worker is asked for.
   * @throws TypeError for `maxTasksPerChild` or `context`, which Python's ThreadPool does not take either.
   */
  constructor(processes?: number | DummyPoolOptions) {
    if (typeof processes !== 'object' && processes !== undefined && typeof processes !== 'number') {
      throw new TypeError(`processes must be a number or an options object; received ${typeof processes}`);
    }
    const o: DummyPoolOptions = typeof processes === 'object' && processes !== null ? processes : { processes };
    for (const k of ['maxTasksPerChild', 'context']) {
      if (k in o) throw new TypeError(`the dummy Pool does not take ${k} (Python's ThreadPool neither): its workers are async tasks of this thread`);
    }
    const n = o.processes ?? cpuCount();
    if (typeof n !== 'number' || !Number.isInteger(n)) throw new TypeError(`processes must be an integer; received ${String(n)}`);
    if (n < 1) throw new RangeError('Number of processes must be at least 1');
    if (o.initializer !== undefined && o.initializer !== null) checkFn(o.initializer, 'initializer');
    if (o.initargs !== undefined && !Array.isArray(o.initargs)) throw new TypeError('initargs must be an array');
    this.#size = n;
    this.#initializer = o.initializer ?? null;
    this.#initargs = o.initargs ?? [];
    this.#fillWorkers();
  }

  #fillWorkers(): void {
    while (this.#workers.size < this.#size && this.#state !== TERMINATE) {
      const worker: Process = new Process({ name: `DummyPoolWorker-${++workerSeq}`, daemon: true, target: () => this.#work(worker) });
      this.#workers.add(worker);
      worker.start();
    }
  }

  /** One worker: the initializer, then tasks until the pool is closed and drained, or terminated. */
  async #work(self: Process): Promise<void> {
    let initError: { e: unknown } | null = null;
    let replace = false;
    try {
      if (this.#initializer) await (this.#initializer as (...a: unknown[]) => unknown)(...this.#initargs);
    } catch (e) {
      initError = { e };
      getLogger().error(`the initializer of the dummy pool worker ${self.name} threw (the worker fails its next task and is replaced): ${(e as Error)?.stack ?? String(e)}`);
    }
    try {
      for (;;) {
        const job = await this.#take();
        if (!job) return;
        if (initError) {
          // As Python, a worker whose initializer failed is replaced; here it also fails the task it took,
          // so that the error is seen and nothing waits for ever.
          job.settle(false, initError.e);
          replace = true;
          return;
        }
        this.#running.add(job);
        try {
          job.settle(true, await this.#call(job));
        } catch (e) {
          job.settle(false, e);
        } finally {
          this.#running.delete(job);
        }
      }
    } finally {
      this.#workers.delete(self);
      if (replace && this.#state !== TERMINATE) setImmediate(() => this.#fillWorkers());
    }
  }

  async #call(job: Job): Promise<unknown> {
    const fn = job.fn as (...a: unknown[]) => unknown;
    if (job.kind === APPLY) return await fn(...job.payload);
    const out: unknown[] = [];
    for (const x of job.payload) {
      if (job.dead()) break;
      out.push(job.kind === MAP ? await fn(x) : await fn(...(x as unknown[])));
    }
    return out;
  }

  /** The next live job, waiting for one; null when the worker should end. */
  async #take(): Promise<Job | null> {
    for (;;) {
      while (this.#head < this.#queue.length) {
        const job = this.#queue[this.#head]!;
        this.#queue[this.#head++] = undefined as unknown as Job;
        if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
          this.#queue = this.#queue.slice(this.#head);
          this.#head = 0;
        }
        if (!job.dead()) return job; // else its outcome is settled already (aborted, timed out, a chunk failed)
      }
      if (this.#state !== RUN) return null;
      await this.#idle.wait(null, Infinity);
    }
  }

  #checkRunning(): void {
    if (this.#state !== RUN) throw new ProcessError('Pool not running: it was closed or terminated');
  }

  #submit(fn: AnyFn, kind: Job['kind'], payload: unknown[], settle: Settle, dead: () => boolean): void {
    if (this.#state === TERMINATE) {
      settle(false, new ProcessError('Pool not running: it was terminated'));
      return;
    }
    let settled = false;
    this.#queue.push({
      fn,
      kind,
      payload,
      settle: (ok, value) => {
        if (settled) return;
        settled = true;
        settle(ok, value);
      },
      dead: () => settled || dead(),
    });
    // After close(), the workers may have ended already (a lazy imap still feeding): bring them back.
    if (this.#state === CLOSE) this.#fillWorkers();
    this.#idle.wakeOne();
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
    const { result, settle } = newResult<Awaited<R>>(taskOptions(options), options, true);
    this.#submit(fn as AnyFn, APPLY, args ?? [], settle, () => result.ready());
    return result;
  }

  #mapAsync<R>(fn: AnyFn, items: unknown[], chunksize: number | undefined, kind: typeof MAP | typeof STARMAP, options?: AsyncOptions<R[]>): AsyncResult<R[]> {
    const size = chunksizeFor(items.length, chunksize, this.#size);
    const { result, settle } = newResult<R[]>(taskOptions(options), options, true);
    if (items.length === 0) {
      settle(true, []);
      return result;
    }
    const out = new Array<unknown>(items.length);
    let left = Math.ceil(items.length / size);
    const dead = (): boolean => result.ready();
    for (let start = 0; start < items.length; start += size) {
      const at = start;
      this.#submit(
        fn,
        kind,
        items.slice(start, start + size),
        (ok, value) => {
          if (result.ready()) return;
          if (!ok) return settle(false, value);
          const vs = value as unknown[];
          for (let i = 0; i < vs.length; i++) out[at + i] = vs[i];
          if (--left === 0) settle(true, out);
        },
        dead,
      );
    }
    return result;
  }

  /** `fn(item)` for every item, in chunks; resolves to the results in order (Python's `map`). */
  async map<A, R>(fn: (item: A) => R, items: Iterable<A> | AsyncIterable<A>, chunksize?: number, options?: TaskOptions): Promise<Awaited<R>[]> {
    this.#checkRunning();
    checkFn(fn, 'fn');
    return this.mapAsync(fn, await collect(items), chunksize, options).get();
  }

  /** The `AsyncResult` form of `map` (the items are read at once). */
  mapAsync<A, R>(fn: (item: A) => R, items: Iterable<A>, chunksize?: number, options?: AsyncOptions<Awaited<R>[]>): AsyncResult<Awaited<R>[]> {
    this.#checkRunning();
    checkFn(fn, 'fn');
    return this.#mapAsync<Awaited<R>>(fn as AnyFn, Array.from(items), chunksize, MAP, options);
  }

  /** `fn(...args)` for every argument tuple (Python's `starmap`). */
  async starmap<A extends unknown[], R>(fn: (...args: A) => R, items: Iterable<A> | AsyncIterable<A>, chunksize?: number, options?: TaskOptions): Promise<Awaited<R>[]> {
    this.#checkRunning();
    checkFn(fn, 'fn');
    return this.starmapAsync(fn, await collect(items), chunksize, options).get();
  }

  /** The `AsyncResult` form of `starmap`. */
  starmapAsync<A extends unknown[], R>(fn: (...args: A) => R, items: Iterable<A>, chunksize?: number, options?: AsyncOptions<Awaited<R>[]>): AsyncResult<Awaited<R>[]> {
    this.#checkRunning();
    checkFn(fn, 'fn');
    return this.#mapAsync<Awaited<R>>(fn as AnyFn, Array.from(items), chunksize, STARMAP, options);
  }

  /**
   * `fn(item)` for every item, as an async iterator of the results in order
   * (Python's `imap`). The input (sync or async) is read lazily, a bounded number of chunks ahead.
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
    this.#submit(fn, MAP, chunk, settle, () => false);
  }

  /** @internal look-ahead of the lazy iterators, in chunks. */
  get _lookahead(): number {
    return this.#size * 4;
  }

  /** No more tasks will be submitted; the workers end once the queued work is done. */
  close(): void {
    if (this.#state !== RUN) return;
    this.#state = CLOSE;
    this.#idle.wakeAll(); // idle workers see the empty queue and end
  }

  /**
   * Stops the pool at once: queued tasks are dropped and every pending result
   * rejects with `ProcessError`. Functions already running cannot be stopped
   * in this thread: they run on to their end, their results ignored.
   */
  terminate(): void {
    if (this.#state === TERMINATE) return;
    this.#state = TERMINATE;
    const err = new ProcessError('the Pool was terminated before this task finished');
    const jobs = [...this.#running, ...this.#queue.slice(this.#head)];
    this.#queue = [];
    this.#head = 0;
    for (const j of jobs) j.settle(false, err);
    this.#idle.wakeAll();
  }

  /**
   * Waits for the workers to end (after `close()`: when the queued work is
   * done; after `terminate()`: when the functions still running return).
   * @throws ProcessError while the pool is still running (as Python).
   */
  async join(): Promise<void> {
    if (this.#state === RUN) throw new ProcessError('Pool is still running: call close() or terminate() before join()');
    while (this.#workers.size > 0) await Promise.all([...this.#workers].map((w) => w.join()));
  }

  /** `await using pool = new Pool()`: terminates, as Python's `with Pool() as p:`. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.terminate();
    await this.join();
  }

  /** Python-style description. */
  toString(): string {
    return `<ThreadPool state=${['RUN', 'CLOSE', 'TERMINATE'][this.#state]} pool_size=${this.#size}>`;
  }
}
