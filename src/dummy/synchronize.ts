/**
 * Locks, semaphores, conditions, events and barriers of
 * `multiprocessing-ts/dummy` (Python's `threading` classes, which
 * `multiprocessing.dummy` re-exports), for async tasks of one thread.
 * @internal
 */
import { BrokenBarrierError, ProcessError } from '../errors.js';
import { validateSignal, type WaitOptions } from '../internal/validators.js';
import type { AcquireOptions } from '../synchronize.js';
import { MAIN_OWNER, WaitList, msTimeout, ownedNow, ownerNow, parseBlocking, runAsNewOwner, sleepSync, wouldHang } from './common.js';

/**
 * The outcome of a `Sync` acquire that found the object taken: `false` for
 * `block: false`; with a timeout, the thread sleeps that long and the answer
 * is `false` (nothing else could run to release it); without one, an error.
 */
function cannotTakeSync(o: { block: boolean; timeout: number }, call: string, what: string): false {
  if (!o.block || o.timeout === 0) return false;
  if (o.timeout === Infinity) throw wouldHang(call, what);
  sleepSync(o.timeout);
  return false;
}

/**
 * Runs `fn` as an owner of its own nested in the caller's (so that it still
 * holds what the caller holds), unless the caller already holds `lock`.
 */
function ownContext<T>(lock: RLock | null, fn: () => Promise<T>): Promise<T> {
  if (lock !== null && lock._ownsNow()) return fn();
  return runAsNewOwner(fn);
}

/**
 * A lock (Python's `threading.Lock`, which is `multiprocessing.dummy.Lock`).
 * Any task may release it. Waiters get it in the order they asked.
 * @example
 * ```ts
 * const lock = new Lock();
 * await lock.with(async () => { await writeSomething(); });
 * ```
 */
export class Lock {
  #held = false;
  readonly #waiters = new WaitList();

  /** Acquires the lock; resolves to true when acquired, false when `block: false` found it held or the timeout passed. */
  async acquire(options?: AcquireOptions): Promise<boolean> {
    const o = parseBlocking(options, 'acquire');
    o.signal?.throwIfAborted();
    if (!this.#held) return (this.#held = true);
    if (o.timeout === 0) return false;
    return this.#waiters.wait(null, o.timeout, o.signal); // the releaser hands the lock over
  }

  /**
   * Takes the lock if it is free. When it is held: false for `block: false`;
   * with a timeout, blocks the thread that long and returns false.
   * @throws ProcessError when it is held and no timeout is given (it could never be released).
   */
  acquireSync(options?: Omit<AcquireOptions, 'signal'>): boolean {
    const o = parseBlocking(options, 'acquireSync', true);
    if (!this.#held) return (this.#held = true);
    return cannotTakeSync(o, 'Lock.acquireSync()', 'the Lock is held by another task');
  }

  /** Releases the lock (to the oldest waiter, if any). @throws ProcessError when it is not held. */
  release(): void {
    if (!this.#held) throw new ProcessError('release unlocked lock: release() on a Lock that is not held');
    if (!this.#waiters.wakeOne()) this.#held = false;
  }

  /** Acquires, runs `fn`, and releases even when `fn` throws (Python's `with lock:`). */
  async with<T>(fn: () => T | Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  /** True while the lock is held (by anyone). */
  locked(): boolean {
    return this.#held;
  }

  /** @internal Condition support: a Lock counts as owned while held (as Python's). */
  _isOwned(): boolean {
    return this.#held;
  }

  /** @internal Condition support. */
  _releaseSave(): null {
    this.release();
    return null;
  }

  /** @internal Condition support. */
  async _acquireRestore(): Promise<void> {
    await this.acquire();
  }

  /** Python-style description. */
  toString(): string {
    return `<Lock(owner=${this.#held ? 'held' : 'None'})>`;
  }
}

/**
 * A reentrant lock (Python's `threading.RLock`). Its owner is the running
 * dummy `Process` (or pool worker); outside one, the main task. `with()` runs
 * its function as an owner of its own, so concurrent `with()` calls of plain
 * async code exclude each other and nested ones re-enter.
 */
export class RLock {
  #owner: object | null = null;
  #count = 0;
  readonly #waiters = new WaitList<object>();

  /** Acquires (or re-enters); resolves to true when acquired, false on `block: false` or timeout. */
  async acquire(options?: AcquireOptions): Promise<boolean> {
    const o = parseBlocking(options, 'acquire');
    o.signal?.throwIfAborted();
    return this.#acquireAs(ownerNow(), o.timeout, o.signal);
  }

  /** `restoring`: Condition.wait taking the lock back for `me`, which gave up every level of it. */
  async #acquireAs(me: object, timeout: number, signal?: AbortSignal, restoring = false): Promise<boolean> {
    if (!restoring && this.#owner !== null && ownedNow(this.#owner)) {
      this.#count++;
      return true;
    }
    if (this.#owner === null) {
      this.#owner = me;
      this.#count = 1;
      return true;
    }
    if (timeout === 0) return false;
    return this.#waiters.wait(me, timeout, signal); // the releaser makes us the owner
  }

  /**
   * Acquires (or re-enters) if free or already the caller's. When another task holds it:
   * false for `block: false`; with a timeout, blocks the thread that long and returns false.
   * @throws ProcessError when another task holds it and no timeout is given.
   */
  acquireSync(options?: Omit<AcquireOptions, 'signal'>): boolean {
    const o = parseBlocking(options, 'acquireSync', true);
    const me = ownerNow();
    if (this.#owner !== null && ownedNow(this.#owner)) {
      this.#count++;
      return true;
    }
    if (this.#owner === null) {
      this.#owner = me;
      this.#count = 1;
      return true;
    }
    return cannotTakeSync(o, 'RLock.acquireSync()', 'the RLock is held by another task');
  }

  /** Releases one level. @throws ProcessError when the caller does not hold it. */
  release(): void {
    if (this.#owner === null || !ownedNow(this.#owner)) throw new ProcessError('cannot release un-acquired lock: this RLock is not held by the caller (dummy task)');
    if (--this.#count === 0) this.#handOver();
  }

  #handOver(): void {
    const next = this.#waiters.wakeOne();
    this.#owner = next ? next.data : null;
    this.#count = next ? 1 : 0;
  }

  /** Acquires, runs `fn`, and releases even when `fn` throws; `fn` runs as an owner of its own (nested calls re-enter). */
  with<T>(fn: () => T | Promise<T>): Promise<T> {
    return ownContext(this, async () => {
      await this.acquire();
      try {
        return await fn();
      } finally {
        this.release();
      }
    });
  }

  /** @internal true when the caller holds it. */
  _ownsNow(): boolean {
    return this.#owner !== null && ownedNow(this.#owner);
  }

  /** @internal Condition support. */
  _isOwned(): boolean {
    return this._ownsNow();
  }

  /** @internal Condition support: releases every level; returns what restores them. */
  _releaseSave(): { owner: object; count: number } {
    const saved = { owner: this.#owner!, count: this.#count };
    this.#handOver();
    return saved;
  }

  /** @internal Condition support. */
  async _acquireRestore(saved: { owner: object; count: number }): Promise<void> {
    await this.#acquireAs(saved.owner, Infinity, undefined, true);
    this.#count = saved.count;
  }

  /** Python-style description. */
  toString(): string {
    const owner = this.#owner === null ? 'None' : this.#owner === MAIN_OWNER ? 'MainThread' : String((this.#owner as { name?: string }).name ?? 'task');
    return `<RLock(${owner}, ${this.#count})>`;
  }
}

/** A counter of permits (Python's `threading.Semaphore`). Waiters get permits in the order they asked. */
export class Semaphore {
  /** @internal */
  protected value: number;
  readonly #waiters = new WaitList();

  /**
   * @param value - initial number of permits. @default 1
   * @throws RangeError when `value` is not an integer >= 0.
   */
  constructor(value: number = 1) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw new RangeError(`semaphore initial value must be an integer >= 0; received ${String(value)}`);
    }
    this.value = value;
  }

  /** Takes a permit; resolves to false on `block: false` with none free, or when the timeout passed. */
  async acquire(options?: AcquireOptions): Promise<boolean> {
    const o = parseBlocking(options, 'acquire');
    o.signal?.throwIfAborted();
    if (this.value > 0) {
      this.value--;
      return true;
    }
    if (o.timeout === 0) return false;
    return this.#waiters.wait(null, o.timeout, o.signal); // release() hands a permit over
  }

  /**
   * Takes a permit if one is free. Else: false for `block: false`; with a timeout,
   * blocks the thread that long and returns false.
   * @throws ProcessError when none is free and no timeout is given.
   */
  acquireSync(options?: Omit<AcquireOptions, 'signal'>): boolean {
    const o = parseBlocking(options, 'acquireSync', true);
    if (this.value > 0) {
      this.value--;
      return true;
    }
    return cannotTakeSync(o, 'Semaphore.acquireSync()', 'no permit is free');
  }

  /** Gives a permit back (to the oldest waiter, if any). */
  release(): void {
    if (!this.#waiters.wakeOne()) this.value++;
  }

  /** Current number of free permits (Python's `_value`). */
  getValue(): number {
    return this.value;
  }

  /** Acquires, runs `fn`, and releases even when `fn` throws. */
  async with<T>(fn: () => T | Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  /** Python-style description. */
  toString(): string {
    return `<${this.constructor.name}(value=${this.value})>`;
  }
}

/** A Semaphore that refuses to be released above its initial value (Python's `threading.BoundedSemaphore`). */
export class BoundedSemaphore extends Semaphore {
  readonly #initial: number;

  /** @param value - initial (and maximum) number of permits. @default 1 */
  constructor(value: number = 1) {
    super(value);
    this.#initial = value;
  }

  /** Gives a permit back. @throws ProcessError when that would exceed the initial value. */
  override release(): void {
    if (this.value >= this.#initial) throw new ProcessError('Semaphore released too many times: a BoundedSemaphore cannot go above its initial value');
    super.release();
  }
}

type LockLike = Lock | RLock;

/**
 * A condition variable (Python's `threading.Condition`) over a dummy Lock or
 * RLock (a new RLock by default). `wait` releases the lock, waits for a
 * `notify`, and takes the lock back.
 */
export class Condition {
  readonly #lock: LockLike;
  readonly #waiters = new WaitList();

  /**
   * @param lock - the lock to use. @default a new RLock
   * @throws TypeError when `lock` is not a Lock or RLock of `multiprocessing-ts/dummy`.
   */
  constructor(lock?: LockLike) {
    if (lock !== undefined && !(lock instanceof Lock) && !(lock instanceof RLock)) {
      throw new TypeError('Condition lock must be a Lock or RLock of multiprocessing-ts/dummy');
    }
    this.#lock = lock ?? new RLock();
  }

  /** Acquires the underlying lock. */
  acquire(options?: AcquireOptions): Promise<boolean> {
    return this.#lock.acquire(options);
  }

  /** Acquires the underlying lock without waiting (see `Lock.acquireSync`). */
  acquireSync(options?: Omit<AcquireOptions, 'signal'>): boolean {
    return this.#lock.acquireSync(options);
  }

  /** Releases the underlying lock. */
  release(): void {
    this.#lock.release();
  }

  /** Acquires the lock, runs `fn`, releases it even when `fn` throws. */
  with<T>(fn: () => T | Promise<T>): Promise<T> {
    return ownContext(this.#lock instanceof RLock ? this.#lock : null, () => this.#lock.with(fn));
  }

  #assertOwned(what: 'wait' | 'notify'): void {
    if (!this.#lock._isOwned()) throw new ProcessError(`cannot ${what} on un-acquired lock: acquire() the condition first`);
  }

  /**
   * Releases the lock, waits until notified or `ms` passed, takes the lock
   * back. Resolves to false on timeout.
   * @throws ProcessError when the caller does not hold the lock.
   */
  async wait(ms?: number, options?: WaitOptions): Promise<boolean> {
    this.#assertOwned('wait');
    const timeout = msTimeout(ms);
    const signal = validateSignal(options);
    signal?.throwIfAborted();
    const saved = this.#lock._releaseSave();
    try {
      return timeout === 0 ? false : await this.#waiters.wait(null, timeout, signal);
    } finally {
      await this.#lock._acquireRestore(saved as { owner: object; count: number });
    }
  }

  /**
   * Blocking `wait`: nothing can notify while this one thread is blocked, so with
   * `ms` it blocks that long and returns false (keeping the lock).
   * @throws ProcessError without `ms` (it would wait forever), or when the caller does not hold the lock.
   */
  waitSync(ms?: number): boolean {
    this.#assertOwned('wait');
    const timeout = msTimeout(ms);
    if (timeout === Infinity) throw wouldHang('Condition.waitSync()', 'no other task can notify while the thread is blocked');
    sleepSync(timeout);
    return false;
  }

  /**
   * Waits until `predicate()` is truthy (checked first, then after each
   * wake-up), or `ms` passed; resolves to the last value of the predicate.
   */
  async waitFor<T>(predicate: () => T | Promise<T>, ms?: number, options?: WaitOptions): Promise<T> {
    if (typeof predicate !== 'function') throw new TypeError(`predicate must be a function; received ${typeof predicate}`);
    const timeout = msTimeout(ms);
    const deadline = performance.now() + timeout;
    let result = await predicate();
    while (!result) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      await this.wait(left === Infinity ? undefined : left, options);
      result = await predicate();
    }
    return result;
  }

  /**
   * Blocking `waitFor`: returns the predicate's value if truthy now; else blocks
   * `ms` and checks once more.
   * @throws ProcessError when the predicate is falsy and no `ms` is given.
   */
  waitForSync<T>(predicate: () => T, ms?: number): T {
    if (typeof predicate !== 'function') throw new TypeError(`predicate must be a function; received ${typeof predicate}`);
    const timeout = msTimeout(ms);
    const result = predicate();
    if (result) return result;
    this.waitSync(timeout === Infinity ? undefined : timeout);
    return predicate();
  }

  /**
   * Wakes up to `n` waiters. @throws ProcessError when the caller does not hold the lock.
   * @param n - how many. @default 1
   */
  notify(n: number = 1): void {
    this.#assertOwned('notify');
    if (typeof n !== 'number' || Number.isNaN(n) || n < 0) throw new RangeError(`n must be a number >= 0; received ${String(n)}`);
    for (let i = 0; i < n && this.#waiters.wakeOne(); i++);
  }

  /** Wakes every waiter. @throws ProcessError when the caller does not hold the lock. */
  notifyAll(): void {
    this.#assertOwned('notify');
    this.#waiters.wakeAll();
  }

  /** Python-style description. */
  toString(): string {
    return `<Condition(${String(this.#lock)}, ${this.#waiters.length})>`;
  }
}

/** A flag tasks can wait for (Python's `threading.Event`). */
export class Event {
  #flag = false;
  readonly #waiters = new WaitList();

  /** True once `set()` was called and `clear()` not since. */
  isSet(): boolean {
    return this.#flag;
  }

  /** Sets the flag and wakes every waiter. */
  set(): void {
    this.#flag = true;
    this.#waiters.wakeAll();
  }

  /** Clears the flag. */
  clear(): void {
    this.#flag = false;
  }

  /** Waits until the flag is set, or `ms` passed; resolves to the flag. */
  async wait(ms?: number, options?: WaitOptions): Promise<boolean> {
    const timeout = msTimeout(ms);
    const signal = validateSignal(options);
    signal?.throwIfAborted();
    if (this.#flag || timeout === 0) return this.#flag;
    return (await this.#waiters.wait(null, timeout, signal)) || this.#flag;
  }

  /**
   * Blocking `wait`: true at once when set; else blocks `ms` and returns false.
   * @throws ProcessError when not set and no `ms` is given (nothing could set it).
   */
  waitSync(ms?: number): boolean {
    const timeout = msTimeout(ms);
    if (this.#flag) return true;
    if (timeout === Infinity) throw wouldHang('Event.waitSync()', 'the Event is not set and no other task can set it while the thread is blocked');
    sleepSync(timeout);
    return this.#flag;
  }

  /** Python-style description. */
  toString(): string {
    return `<Event(${this.#flag ? 'set' : 'unset'})>`;
  }
}

/** Options of `new Barrier(parties, options)` in `multiprocessing-ts/dummy`. */
export interface DummyBarrierOptions {
  /** Function (any, sync or async) run by the last party to arrive, before the others are released. */
  action?: () => unknown;
  /** Default timeout of `wait()`, in milliseconds. */
  timeout?: number;
}

interface Generation {
  waiters: Set<{ resolve(): void; reject(e: unknown): void }>;
  count: number;
}

/**
 * A barrier for a fixed number of parties (Python's `threading.Barrier`).
 * `wait()` resolves to the arrival index (0 to parties - 1) once all have arrived.
 */
export class Barrier {
  readonly #parties: number;
  readonly #action: (() => unknown) | null;
  readonly #timeout: number;
  #gen: Generation = { waiters: new Set(), count: 0 };
  #broken = false;

  /**
   * @param parties - number of parties.
   * @param options - `action`, `timeout` (ms).
   */
  constructor(parties: number, options: DummyBarrierOptions = {}) {
    if (typeof parties !== 'number' || !Number.isInteger(parties) || parties < 1) {
      throw new RangeError(`parties must be an integer >= 1; received ${String(parties)}`);
    }
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object like { action, timeout }');
    if (options.action !== undefined && typeof options.action !== 'function') {
      throw new TypeError(`action must be a function; received ${typeof options.action}`);
    }
    this.#parties = parties;
    this.#action = options.action ?? null;
    this.#timeout = msTimeout(options.timeout, 'options.timeout');
  }

  /** Number of parties needed to pass the barrier. */
  get parties(): number {
    return this.#parties;
  }

  /** Number of parties currently waiting. */
  get nWaiting(): number {
    return this.#gen.count;
  }

  /** True when the barrier is broken (until `reset()`). */
  get broken(): boolean {
    return this.#broken;
  }

  #breakNow(): void {
    this.#broken = true;
    const gen = this.#gen;
    this.#gen = { waiters: new Set(), count: 0 };
    for (const w of gen.waiters) w.reject(new BrokenBarrierError('the barrier was broken (aborted, reset, or timed out) while waiting'));
  }

  /**
   * Waits for all parties; resolves to this party's arrival index.
   * @param ms - timeout in ms (default: the barrier's `timeout`); on timeout the barrier breaks.
   * @throws BrokenBarrierError when the barrier is or becomes broken.
   */
  async wait(ms?: number, options?: WaitOptions): Promise<number> {
    const timeout = ms === undefined ? this.#timeout : msTimeout(ms);
    const signal = validateSignal(options);
    signal?.throwIfAborted();
    if (this.#broken) throw new BrokenBarrierError('the barrier is broken');
    const gen = this.#gen;
    const index = gen.count;
    if (index + 1 === this.#parties) {
      // The last party: the next arrivals belong to a new generation from here on.
      this.#gen = { waiters: new Set(), count: 0 };
      try {
        if (this.#action) await this.#action();
      } catch (err) {
        this.#broken = true;
        for (const w of gen.waiters) w.reject(new BrokenBarrierError('the barrier action failed'));
        this.#breakNow();
        throw err;
      }
      if (this.#broken) {
        const err = new BrokenBarrierError('the barrier was broken while its action ran');
        for (const w of gen.waiters) w.reject(err);
        throw err;
      }
      for (const w of gen.waiters) w.resolve();
      return index;
    }
    gen.count++;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    let w!: { resolve(): void; reject(e: unknown): void };
    try {
      await new Promise<void>((resolve, reject) => {
        w = { resolve, reject };
        gen.waiters.add(w);
        if (timeout !== Infinity) {
          timer = setTimeout(() => {
            // Python: a wait that times out breaks the barrier for everyone.
            gen.waiters.delete(w);
            if (this.#gen === gen) this.#breakNow();
            reject(new BrokenBarrierError(`Barrier.wait() timed out after ${timeout} ms: the barrier is now broken`));
          }, timeout);
        }
        if (signal) {
          onAbort = () => {
            // An abort withdraws this party and leaves the barrier as it was for the others.
            if (gen.waiters.delete(w)) gen.count--;
            reject(signal.reason);
          };
          signal.addEventListener('abort', onAbort, { once: true });
        }
      });
    } finally {
      gen.waiters.delete(w);
      if (timer) clearTimeout(timer);
      if (onAbort) signal!.removeEventListener('abort', onAbort);
    }
    return index;
  }

  /**
   * Blocking `wait`: passes at once when this party is the last one (the
   * action must then be synchronous); else, with a timeout, blocks that long
   * and breaks the barrier (as a timed-out wait does).
   * @throws ProcessError when this party is not the last and no timeout applies.
   * @throws BrokenBarrierError when the barrier is broken or the timeout passed.
   */
  waitSync(ms?: number): number {
    const timeout = ms === undefined ? this.#timeout : msTimeout(ms);
    if (this.#broken) throw new BrokenBarrierError('the barrier is broken');
    const gen = this.#gen;
    const index = gen.count;
    if (index + 1 === this.#parties) {
      this.#gen = { waiters: new Set(), count: 0 };
      try {
        const r = this.#action ? this.#action() : undefined;
        if (r && typeof (r as Promise<unknown>).then === 'function') {
          throw new TypeError('a Barrier action used with waitSync() must be synchronous');
        }
      } catch (err) {
        this.#broken = true;
        for (const w of gen.waiters) w.reject(new BrokenBarrierError('the barrier action failed'));
        this.#breakNow();
        throw err;
      }
      for (const w of gen.waiters) w.resolve();
      return index;
    }
    if (timeout === Infinity) throw wouldHang('Barrier.waitSync()', `only ${index + 1} of ${this.#parties} parties would have arrived`);
    sleepSync(timeout);
    this.#breakNow();
    throw new BrokenBarrierError(`Barrier.waitSync() timed out after ${timeout} ms: the barrier is now broken`);
  }

  /** Breaks the barrier: current and future waiters get BrokenBarrierError until `reset()`. */
  abort(): void {
    this.#breakNow();
  }

  /** Returns the barrier to its initial state; parties waiting now get BrokenBarrierError. */
  reset(): void {
    this.#breakNow();
    this.#broken = false;
  }

  /** Python-style description. */
  toString(): string {
    return `<Barrier(parties=${this.parties}, waiting=${this.nWaiting}, broken=${this.broken})>`;
  }
}
