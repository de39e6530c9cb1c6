/**
 * Queues (Python's `multiprocessing.queues`): `Queue`, `JoinableQueue`,
 * `SimpleQueue`. Items travel through a ring of shared memory (no feeder
 * thread, no hop through the main thread): a `put` is done once the item is
 * in shared memory, where any worker of any process can take it.
 * @module
 */
import { Empty, Full, ProcessError } from './errors.js';
import { validateSignal, validateTimeout } from './internal/validators.js';
import { Ring, readAsync, readSync, writeAsync, writeSync, TIMEOUT, type RingRef } from './internal/ring.js';
import { decodeValue, decodeFullySync, encodeValue, finish } from './internal/codec.js';
import { REDUCE, registerHandleKind, currentTransport, type Reduced } from './reduction.js';
import { waitAsync, waitSync, SLICE_MS } from './internal/waiting.js';
import { getUntilSentinel } from './internal/queue-iter.js';

/** Python's SEM_VALUE_MAX: the bound of a queue created with `maxsize <= 0`. */
const UNBOUNDED = 0x7fffffff;
/** Default size of a queue's shared buffer. Pages are only used once written. */
const DEFAULT_BUFFER = 4 * 1024 * 1024;

/** Options of `put` (Python's `block=`, `timeout=`), plus an AbortSignal. */
export interface PutOptions {
  /** Wait for room when the queue is full. @default true */
  block?: boolean;
  /** Longest wait in milliseconds; `undefined` waits forever; 0 or less does not wait. */
  timeout?: number;
  /** Rejects with the signal's reason when aborted (the item is then not put). */
  signal?: AbortSignal;
}

/** Options of `get`. */
export type GetOptions = PutOptions;

/** Options of a queue's constructor beyond Python's `maxsize`. */
export interface QueueOptions {
  /**
   * Bytes of shared memory for items in transit (rounded up to a power of
   * two). An item larger than a quarter of it goes through in pieces.
   * @default 4 MiB
   */
  bufferSize?: number;
}

interface Parsed {
  block: boolean;
  timeout: number;
  signal?: AbortSignal;
}

function parse(options: unknown, name: string, sync: boolean): Parsed {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new TypeError(`${name} options must be an object like { block, timeout${sync ? '' : ', signal'} }; received ${options === null ? 'null' : typeof options}`);
  }
  const o = (options ?? {}) as PutOptions;
  const block = o.block ?? true;
  if (typeof block !== 'boolean') throw new TypeError(`options.block must be a boolean; received ${typeof block}`);
  const t = validateTimeout(o.timeout, 'options.timeout');
  const signal = sync ? undefined : validateSignal(o);
  // As Python: with block false the timeout is ignored.
  return { block, timeout: !block ? 0 : t === undefined ? Infinity : Math.max(0, t), signal };
}

function checkMaxsize(maxsize: unknown): number {
  if (maxsize === undefined) return UNBOUNDED;
  if (typeof maxsize !== 'number' || !Number.isInteger(maxsize)) {
    throw new TypeError(`maxsize must be an integer; received ${typeof maxsize === 'number' ? maxsize : typeof maxsize}`);
  }
  return maxsize <= 0 ? UNBOUNDED : Math.min(maxsize, UNBOUNDED);
}

function checkBuffer(options: unknown): number {
  if (options === undefined) return DEFAULT_BUFFER;
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object like { bufferSize }');
  const b = (options as QueueOptions).bufferSize;
  if (b === undefined) return DEFAULT_BUFFER;
  if (typeof b !== 'number' || !Number.isInteger(b) || b < 4096 || b > 2 ** 30) {
    throw new RangeError(`options.bufferSize must be an integer from 4096 to 2**30; received ${String(b)}`);
  }
  return b;
}

const kInit = Symbol('init');
interface QueueState {
  ring: RingRef;
}

/** Frames a reading loop takes without waiting before it lets the event loop turn once. */
const FRAMES_IN_A_ROW = 256;

/**
 * A FIFO queue shared by any number of producers and consumers in any
 * workers (Python's `multiprocessing.Queue`). Items from one producer keep
 * their order; no item is lost or delivered twice.
 *
 * Blocking calls return promises (`await q.put(x)`, `await q.get()`) and
 * have `Sync` twins for code in workers. `for await (const x of q)` takes
 * items until a `null` arrives.
 * @example
 * ```ts
 * const q = new Queue<number>();
 * await q.put(1);
 * console.log(await q.get()); // 1
 * ```
 */
export class Queue<T = unknown> implements AsyncIterable<T> {
  /** @internal */
  protected readonly ring: Ring;
  #closed = false;

  /**
   * @param maxsize - most items in the queue at once; 0 or less: no bound (Python's rule).
   * @param options - `bufferSize` of the shared memory in transit.
   */
  constructor(maxsize?: number, options?: QueueOptions);
  /** @internal */
  constructor(maxsize: number | undefined, options: QueueOptions | undefined, init: { [kInit]: QueueState });
  constructor(maxsize?: number, options?: QueueOptions, init?: { [kInit]: QueueState }) {
    if (init) this.ring = Ring.attach(init[kInit].ring);
    else this.ring = Ring.create(checkBuffer(options), checkMaxsize(maxsize), true);
  }

  /** @internal */
  protected kindName(): string {
    return 'Queue';
  }

  /** @internal */
  protected checkOpen(): void {
    if (this.#closed) throw new ProcessError(`${this.kindName()} is closed: close() was called on this handle`);
  }

  /** @internal hook: JoinableQueue counts the task before it is visible. */
  protected beforePut(): void {}
  /** @internal hook: a put that did not happen. */
  protected putFailed(): void {}

  /**
   * Puts an item, waiting for room (the queue holds `maxsize` items, or its
   * shared buffer is full) unless `block: false`.
   * @throws Full when there is no room and `block` is false or the timeout passed.
   * @throws TypeError when the item cannot be sent (nothing is put; the queue stays usable).
   */
  async put(obj: T, options?: PutOptions): Promise<void> {
    this.checkOpen();
    const o = parse(options, 'put', false);
    o.signal?.throwIfAborted();
    const job = this.ring.newWrite([encodeValue(obj, 'the item')]);
    this.beforePut();
    let ok: boolean;
    try {
      // One step without waiting first: most puts need no more (and no promise chain).
      ok = this.ring.stepWrite(job, false) === null || (await writeAsync(this.ring, job, o.timeout, false, o.signal));
    } catch (e) {
      this.putFailed();
      throw e;
    }
    if (!ok) {
      this.putFailed();
      throw new Full(this.#fullMessage());
    }
  }

  #fullMessage(): string {
    const max = this.ring.maxsize;
    return this.ring.count() >= max ? `the ${this.kindName()} is full (${max} items)` : `no room in the ${this.kindName()}'s shared buffer for this item`;
  }

  /** Blocking `put`. */
  putSync(obj: T, options?: Omit<PutOptions, 'signal'>): void {
    this.checkOpen();
    const o = parse(options, 'putSync', true);
    const job = this.ring.newWrite([encodeValue(obj, 'the item')]);
    this.beforePut();
    let ok: boolean;
    try {
      ok = writeSync(this.ring, job, o.timeout, false);
    } catch (e) {
      this.putFailed();
      throw e;
    }
    if (!ok) {
      this.putFailed();
      throw new Full(this.#fullMessage());
    }
  }

  /** `put` without waiting for room. @throws Full */
  putNowait(obj: T): void {
    this.putSync(obj, { block: false });
  }

  /**
   * Takes the oldest item, waiting for one unless `block: false`.
   * @throws Empty when there is none and `block` is false or the timeout passed.
   */
  async get(options?: GetOptions): Promise<T> {
    this.checkOpen();
    const o = parse(options, 'get', false);
    o.signal?.throwIfAborted();
    const job = this.ring.newRead(Infinity, o.timeout === 0);
    // One step without waiting first; a read it started (a message in pieces) goes on below.
    const first = this.ring.stepRead(job, false);
    const r = first instanceof Uint8Array ? first : await readAsync(this.ring, job, o.timeout, false, o.signal);
    if (r === TIMEOUT) throw new Empty(`the ${this.kindName()} is empty`);
    return finish(decodeValue(r as Uint8Array)) as T;
  }

  /** Blocking `get`. */
  getSync(options?: Omit<GetOptions, 'signal'>): T {
    this.checkOpen();
    const o = parse(options, 'getSync', true);
    const r = readSync(this.ring, this.ring.newRead(Infinity, o.timeout === 0), o.timeout, false);
    if (r === TIMEOUT) throw new Empty(`the ${this.kindName()} is empty`);
    return decodeFullySync(r as Uint8Array) as T;
  }

  /** `get` without waiting. @throws Empty */
  getNowait(): T {
    return this.getSync({ block: false });
  }

  /** @internal puts one raw frame (pools: their own encoding), blocking. */
  _putBytesSync(bytes: Uint8Array, quiet = false): void {
    const job = this.ring.newWrite(bytes, true, quiet);
    writeSync(this.ring, job, Infinity, false);
  }

  /** @internal wakes the readers after `_putBytesSync(bytes, true)` calls. */
  _wakeReaders(): void {
    this.ring.wakeReaders();
  }

  /**
   * @internal puts one raw frame: at once when there is room (no promise), else a promise of
   * it. `bytes` may be a reused buffer: it is copied before any wait.
   */
  _putBytesOrWait(bytes: Uint8Array): void | Promise<void> {
    const job = this.ring.newWrite(bytes);
    if (this.ring.stepWrite(job, false) === null) return;
    if (job.data === bytes) job.data = bytes.slice();
    return writeAsync(this.ring, job, Infinity, false).then(() => undefined);
  }

  /** @internal takes one raw frame, waiting without blocking the event loop. */
  async _getBytes(signal?: AbortSignal): Promise<Uint8Array> {
    return this._getBytesOrWait(signal);
  }

  /**
   * @internal takes one raw frame: the frame itself when one is there now (no promise, no
   * trip through the microtask queue: a pool reads its results in a loop), else a promise of it.
   */
  _getBytesOrWait(signal?: AbortSignal): Uint8Array | Promise<Uint8Array> {
    // A read that completes at once leaves its job as it found it: the next read reuses it.
    const job = (this.#spareRead ??= this.ring.newRead(Infinity, false));
    const first = this.ring.stepRead(job, false);
    if (first instanceof Uint8Array) return first;
    this.#spareRead = null; // the wait owns it now
    return readAsync(this.ring, job, Infinity, false, signal) as Promise<Uint8Array>;
  }

  #spareRead: ReturnType<Ring['newRead']> | null = null;
  #inARow = 0;

  /**
   * @internal takes one raw frame for a reading loop (a pool's results, a pool worker's tasks):
   * as `_getBytesOrWait`, but after {@link FRAMES_IN_A_ROW} frames taken at once it hands the
   * next one over through `setImmediate`, so that the event loop (timers, I/O, the parent's
   * messages) gets a turn while the loop never has to wait.
   */
  _takeFrame(signal?: AbortSignal): Uint8Array | Promise<Uint8Array> {
    const got = this._getBytesOrWait(signal);
    if (!(got instanceof Uint8Array)) {
      this.#inARow = 0;
      return got;
    }
    if (++this.#inARow < FRAMES_IN_A_ROW) return got;
    this.#inARow = 0;
    return new Promise((resolve) => setImmediate(() => resolve(got)));
  }

  /** @internal takes one raw frame if one is there now, else null. */
  _getBytesNowait(): Uint8Array | null {
    const r = readSync(this.ring, this.ring.newRead(Infinity, true), 0, false);
    return r instanceof Uint8Array ? r : null;
  }

  /** Items in the queue now (approximate while others put and get, as in Python). */
  qsize(): number {
    return this.ring.count();
  }

  /** True when no item is in the queue now. */
  empty(): boolean {
    return this.ring.count() === 0;
  }

  /** True when the queue holds `maxsize` items. */
  full(): boolean {
    return this.ring.count() >= this.ring.maxsize;
  }

  /**
   * This handle will not be used any more: further `put`/`get` through it
   * throw. Items already put stay in the queue for other handles. Idempotent.
   */
  close(): void {
    this.#closed = true;
  }

  /**
   * Python's `join_thread()`: waits until this handle's puts are flushed. With
   * no feeder thread every put is in shared memory once it resolved, so this
   * resolves at once. @throws ProcessError before `close()` (as Python).
   */
  async joinThread(): Promise<void> {
    if (!this.#closed) throw new ProcessError(`${this.kindName()} not closed: call close() before joinThread()`);
  }

  /** Python's `cancel_join_thread()`: nothing to cancel here (no feeder thread); kept for ported code. */
  cancelJoinThread(): void {}

  /**
   * An async iterator of `get()` results that ends when `sentinel` arrives
   * (Python's `iter(q.get, sentinel)`); the sentinel itself is not yielded.
   */
  iter(options: { sentinel?: unknown; signal?: AbortSignal } = {}): AsyncGenerator<T, void, undefined> {
    return getUntilSentinel<T>(this, options);
  }

  /** `for await (const x of q)`: items until a `null` arrives. */
  [Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    return this.iter({ sentinel: null });
  }

  /** `using` support: closes this handle. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** `await using` support: closes this handle. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  /** @internal */
  [REDUCE](): Reduced {
    return { kind: this.kindName(), state: { ring: this.ring.ref(currentTransport()) } satisfies QueueState };
  }

  /** Python-style description. */
  toString(): string {
    return `<${this.kindName()} size=${this.qsize()}>`;
  }
}

/**
 * A `Queue` that counts unfinished tasks (Python's `JoinableQueue`): each
 * `put` adds one, `taskDone()` removes one, `join()` waits for none.
 */
export class JoinableQueue<T = unknown> extends Queue<T> {
  /** @internal */
  protected override kindName(): string {
    return 'JoinableQueue';
  }

  /** @internal */
  protected override beforePut(): void {
    this.ring.addUnfinished();
  }

  /** @internal */
  protected override putFailed(): void {
    this.ring.taskDone();
  }

  /**
   * Marks one item taken with `get` as processed.
   * @throws ProcessError when called more times than items were put.
   */
  taskDone(): void {
    if (!this.ring.taskDone()) throw new ProcessError('taskDone() called too many times: more than items were put');
  }

  /** Waits (without blocking the event loop) until every item put has been marked done. */
  async join(options?: { signal?: AbortSignal }): Promise<void> {
    const signal = validateSignal(options);
    for (;;) {
      signal?.throwIfAborted();
      const b = this.ring.joinBlocked();
      if (b === null) return;
      const a = this.ring.words;
      Atomics.add(a, b.sleepers, 1);
      try {
        await waitAsync(a, b.word, b.seen, SLICE_MS, signal);
      } finally {
        Atomics.sub(a, b.sleepers, 1);
      }
    }
  }

  /** Blocking `join`. */
  joinSync(): void {
    for (;;) {
      const b = this.ring.joinBlocked();
      if (b === null) return;
      const a = this.ring.words;
      Atomics.add(a, b.sleepers, 1);
      try {
        waitSync(a, b.word, b.seen, SLICE_MS);
      } finally {
        Atomics.sub(a, b.sleepers, 1);
      }
    }
  }
}

/**
 * The simplest queue (Python's `SimpleQueue`): `put`, `get`, `empty`,
 * `close`; no size bound and no timeouts.
 */
export class SimpleQueue<T = unknown> {
  readonly #q: Queue<T>;

  /** Creates an empty queue. */
  constructor(options?: QueueOptions);
  /** @internal */
  constructor(options: QueueOptions | undefined, init: { [kInit]: QueueState });
  constructor(options?: QueueOptions, init?: { [kInit]: QueueState }) {
    this.#q = init ? new Queue<T>(undefined, undefined, init) : new Queue<T>(0, options);
  }

  /** Puts an item (waits only while the shared buffer is full). */
  put(obj: T, options?: { signal?: AbortSignal }): Promise<void> {
    return this.#q.put(obj, options);
  }
  /** Blocking `put`. */
  putSync(obj: T): void {
    this.#q.putSync(obj);
  }
  /** Takes the oldest item, waiting for one. */
  get(options?: { signal?: AbortSignal }): Promise<T> {
    return this.#q.get(options);
  }
  /** Blocking `get`. */
  getSync(): T {
    return this.#q.getSync();
  }
  /** True when no item is in the queue now. */
  empty(): boolean {
    return this.#q.empty();
  }
  /** This handle will not be used any more (further calls throw). Idempotent. */
  close(): void {
    this.#q.close();
  }

  /** @internal */
  [REDUCE](): Reduced {
    const r = (this.#q as unknown as { [REDUCE](): Reduced })[REDUCE]();
    return { kind: 'SimpleQueue', state: r.state };
  }
}

registerHandleKind('Queue', (s) => new Queue(undefined, undefined, { [kInit]: s as QueueState }));
registerHandleKind('JoinableQueue', (s) => new JoinableQueue(undefined, undefined, { [kInit]: s as QueueState }));
registerHandleKind('SimpleQueue', (s) => new SimpleQueue(undefined, { [kInit]: s as QueueState }));
