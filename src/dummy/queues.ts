/**
 * `Queue` and `JoinableQueue` of `multiprocessing-ts/dummy` (Python's
 * `queue.Queue`, which `multiprocessing.dummy` re-exports): items are passed
 * as they are, by reference, between async tasks of one thread.
 * @internal
 */
import { Empty, Full, ProcessError } from '../errors.js';
import { validateSignal } from '../internal/validators.js';
import type { GetOptions, PutOptions } from '../queues.js';
import { WaitList, parseBlocking, sleepSync, wouldHang } from './common.js';
import { getUntilSentinel } from '../internal/queue-iter.js';

/**
 * A FIFO queue for async tasks of one thread (Python's `queue.Queue`, which is
 * `multiprocessing.dummy.Queue`), with the methods of the real `Queue`.
 * Items are not copied. `maxsize <= 0` (the default) means unbounded.
 * @example
 * ```ts
 * const q = new Queue<string>(10);
 * await q.put('job');
 * console.log(await q.get({ timeout: 100 })); // 'job'
 * ```
 */
export class Queue<T = unknown> implements AsyncIterable<T> {
  readonly #maxsize: number;
  #items: T[] = [];
  #head = 0;
  #closed = false;
  readonly #getters = new WaitList<{ item?: T }>();
  readonly #putters = new WaitList<{ item: T }>();

  /**
   * @param maxsize - most items held at once; 0 or less: unbounded. @default 0
   * @throws TypeError when `maxsize` is not an integer.
   */
  constructor(maxsize: number = 0) {
    if (typeof maxsize !== 'number' || !Number.isInteger(maxsize)) {
      throw new TypeError(`maxsize must be an integer; received ${typeof maxsize === 'number' ? maxsize : typeof maxsize}`);
    }
    this.#maxsize = maxsize <= 0 ? Infinity : maxsize;
  }

  /** @internal hook: an item entered the queue. */
  protected accepted(): void {}

  /** @internal */
  protected kindName(): string {
    return 'Queue';
  }

  #checkOpen(): void {
    if (this.#closed) throw new ProcessError(`${this.kindName()} is closed: close() was called on this queue`);
  }

  /** Puts `item` now if a getter waits or there is room; false when full. */
  #offer(item: T): boolean {
    const g = this.#getters.wakeOne();
    if (g) {
      g.data.item = item;
      this.accepted();
      return true;
    }
    if (this.qsize() >= this.#maxsize) return false;
    this.#items.push(item);
    this.accepted();
    return true;
  }

  /** Takes the oldest item and lets the oldest waiting putter in. */
  #take(): T {
    const item = this.#items[this.#head]!;
    this.#items[this.#head++] = undefined as T;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    const p = this.#putters.wakeOne();
    if (p) {
      this.#items.push(p.data.item);
      this.accepted();
    }
    return item;
  }

  #fullMessage(): string {
    return `the ${this.kindName()} is full (${this.#maxsize} items)`;
  }

  /**
   * Puts an item, waiting for room unless `block: false`.
   * @throws Full when there is no room and `block` is false or the timeout passed.
   */
  async put(obj: T, options?: PutOptions): Promise<void> {
    this.#checkOpen();
    const o = parseBlocking(options, 'put');
    o.signal?.throwIfAborted();
    if (this.#offer(obj)) return;
    if (o.timeout === 0 || !(await this.#putters.wait({ item: obj }, o.timeout, o.signal))) throw new Full(this.#fullMessage());
  }

  /**
   * Blocking `put`: puts at once when there is room. When full: `Full` for
   * `block: false`, or after blocking for the timeout.
   * @throws ProcessError when full and no timeout is given (no task could make room).
   */
  putSync(obj: T, options?: Omit<PutOptions, 'signal'>): void {
    this.#checkOpen();
    const o = parseBlocking(options, 'putSync', true);
    if (this.#offer(obj)) return;
    if (o.timeout === Infinity) throw wouldHang(`${this.kindName()}.putSync()`, `the ${this.kindName()} is full`);
    sleepSync(o.timeout);
    throw new Full(this.#fullMessage());
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
    this.#checkOpen();
    const o = parseBlocking(options, 'get');
    o.signal?.throwIfAborted();
    if (this.qsize() > 0) return this.#take();
    const slot: { item?: T } = {};
    if (o.timeout === 0 || !(await this.#getters.wait(slot, o.timeout, o.signal))) throw new Empty(`the ${this.kindName()} is empty`);
    return slot.item as T;
  }

  /**
   * Blocking `get`: the oldest item when there is one. When empty: `Empty` for
   * `block: false`, or after blocking for the timeout.
   * @throws ProcessError when empty and no timeout is given (no task could put meanwhile).
   */
  getSync(options?: Omit<GetOptions, 'signal'>): T {
    this.#checkOpen();
    const o = parseBlocking(options, 'getSync', true);
    if (this.qsize() > 0) return this.#take();
    if (o.timeout === Infinity) throw wouldHang(`${this.kindName()}.getSync()`, `the ${this.kindName()} is empty`);
    sleepSync(o.timeout);
    throw new Empty(`the ${this.kindName()} is empty`);
  }

  /** `get` without waiting. @throws Empty */
  getNowait(): T {
    return this.getSync({ block: false });
  }

  /** Items in the queue now. */
  qsize(): number {
    return this.#items.length - this.#head;
  }

  /** True when no item is in the queue now. */
  empty(): boolean {
    return this.qsize() === 0;
  }

  /** True when the queue holds `maxsize` items. */
  full(): boolean {
    return this.qsize() >= this.#maxsize;
  }

  /**
   * No more `put`/`get` through this queue (they throw `ProcessError`); calls
   * waiting now reject with it. Idempotent. (Python's `queue.Queue` has no
   * `close`; kept for code shared with the real `Queue`.)
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const err = new ProcessError(`${this.kindName()} is closed: close() was called while this call waited`);
    this.#getters.failAll(err);
    this.#putters.failAll(err);
  }

  /** As the real `Queue.joinThread()`: resolves at once after `close()`. @throws ProcessError before `close()`. */
  async joinThread(): Promise<void> {
    if (!this.#closed) throw new ProcessError(`${this.kindName()} not closed: call close() before joinThread()`);
  }

  /** Nothing to cancel (no feeder thread); kept for ported code. */
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

  /** `using` support: closes. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** `await using` support: closes. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  /** Python-style description. */
  toString(): string {
    return `<${this.kindName()}(size=${this.qsize()})>`;
  }
}

/** A `Queue` whose `join()` waits until every item put has been marked done with `taskDone()`. */
export class JoinableQueue<T = unknown> extends Queue<T> {
  #unfinished = 0;
  readonly #joiners = new WaitList();

  /** @internal */
  protected override accepted(): void {
    this.#unfinished++;
  }

  /** @internal */
  protected override kindName(): string {
    return 'JoinableQueue';
  }

  /**
   * Marks one item taken with `get` as processed.
   * @throws ProcessError when called more times than items were put.
   */
  taskDone(): void {
    if (this.#unfinished <= 0) throw new ProcessError('taskDone() called too many times: more than items were put');
    if (--this.#unfinished === 0) this.#joiners.wakeAll();
  }

  /** Waits until every item put has been marked done. */
  async join(options?: { signal?: AbortSignal }): Promise<void> {
    const signal = validateSignal(options);
    signal?.throwIfAborted();
    while (this.#unfinished > 0) await this.#joiners.wait(null, Infinity, signal);
  }

  /**
   * Blocking `join`: returns when nothing is unfinished.
   * @throws ProcessError when items are unfinished (no task could finish them while the thread blocks).
   */
  joinSync(): void {
    if (this.#unfinished > 0) throw wouldHang('JoinableQueue.joinSync()', `${this.#unfinished} item(s) are not marked done`);
  }
}
