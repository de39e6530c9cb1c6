/**
 * Synchronisation primitives over shared memory (Python's
 * `multiprocessing.synchronize`): Lock, RLock, Semaphore, BoundedSemaphore,
 * Condition, Event, Barrier.
 *
 * Every object lives in a shared-memory segment and is driven with atomics and
 * one wait/wake protocol (futex across processes with the native part or
 * koffi, `Atomics.wait` between threads without them). Only the last
 * fallback, a `'process'` child of a parent with neither, goes through a
 * broker thread in the parent, which runs the same word operations there
 * (internal/word-ops). Blocking calls are async (the event loop keeps running) and have
 * `Sync` twins that block the calling thread. Any of these objects can be
 * passed to a child (in `args`, a subclass's fields, at any depth) and arrives
 * there as a handle to the same object.
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { ProcessError, BrokenBarrierError } from './errors.js';
import { allocate, attach, segmentRef, type Segment, type SegmentRef } from './internal/segments.js';
import { SLICE_MS } from './internal/waiting.js';
import { ShmMutex } from './internal/mutex.js';
import { LOCAL_OPS, type WordOps } from './internal/word-ops.js';
import { remoteOps } from './internal/broker-client.js';
import { REDUCE, registerHandleKind, currentTransport, type Reduced } from './reduction.js';
import { lookupFunction } from './fnref.js';
import { getLogger } from './logging.js';
import { selfKey, describeKey, ownerAlive } from './internal/liveness.js';
import { validateSignal, validateTimeout, type WaitOptions } from './internal/validators.js';

/** Options of `acquire` (Python's `block=` and `timeout=`), plus an AbortSignal. */
export interface AcquireOptions extends WaitOptions {
  /** Wait for the lock if it is held. @default true */
  block?: boolean;
  /** Longest wait in milliseconds; `undefined` waits forever. */
  timeout?: number;
}

const ctxStore = new AsyncLocalStorage<number>();
let ctxSeq = 0;

/**
 * Id of the current async context (RLock/Condition ownership is per async
 * context). `with()` runs its function in a context of its own (or the
 * enclosing one, so nesting re-enters); a bare `acquire()` outside any gives
 * the caller's context an id from then on.
 */
function contextId(): number {
  let id = ctxStore.getStore();
  if (id === undefined) {
    id = ++ctxSeq;
    ctxStore.enterWith(id);
  }
  return id;
}

/**
 * Runs `fn` as an async task of its own (a fresh context id), unless the
 * caller's context already holds `lock` (nesting re-enters).
 */
function inContext<T>(lock: { _isMine(): boolean } | null, fn: () => Promise<T>): Promise<T> {
  if (ctxStore.getStore() !== undefined && lock !== null && lock._isMine()) return fn();
  return ctxStore.run(++ctxSeq, fn);
}

// ---------------------------------------------------------------------------
// Shared plumbing

function now(): number {
  return performance.now();
}

function parseAcquire(options: AcquireOptions | undefined, name: string): { block: boolean; timeout: number; signal?: AbortSignal } {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new TypeError(`${name} options must be an object like { block, timeout, signal }; received ${options === null ? 'null' : typeof options}`);
  }
  const block = options?.block ?? true;
  if (typeof block !== 'boolean') throw new TypeError(`options.block must be a boolean; received ${typeof block}`);
  const t = validateTimeout(options?.timeout, 'options.timeout');
  const signal = validateSignal(options);
  // As multiprocessing (unlike threading): a timeout with block: false is ignored.
  return { block, timeout: t === undefined ? Infinity : Math.max(0, t), signal };
}

function msTimeout(ms: unknown, name: string): number {
  const t = validateTimeout(ms, name);
  return t === undefined ? Infinity : Math.max(0, t);
}

/**
 * Base of every shared object: a segment, an Int32 view and a BigInt64 view
 * over it, and the operations on its words (`Atomics` for memory of this
 * process, remote ones in a broker child).
 */
abstract class Shared {
  /** @internal */
  protected readonly seg: Segment;
  /** @internal */
  protected readonly A: WordOps;
  /** @internal */
  protected readonly i32: Int32Array;
  /** @internal */
  protected readonly i64: BigInt64Array;

  /** @internal */
  protected constructor(seg: Segment, bytes: number) {
    this.seg = seg;
    this.A = seg.remote === null ? LOCAL_OPS : remoteOps(seg.remote);
    this.i32 = new Int32Array(seg.sab, seg.base, bytes / 4);
    this.i64 = new BigInt64Array(seg.sab, seg.base, bytes / 8);
  }

  /** @internal */
  protected static segmentFor(bytes: number, from?: SegmentRef): Segment {
    return from ? attach(from, { broker: true }) : allocate(bytes, { broker: true });
  }

  /** @internal */
  protected ref(bytes: number): SegmentRef {
    return segmentRef(this.seg, currentTransport(), bytes);
  }
}

// ---------------------------------------------------------------------------
// Lock and RLock: a futex mutex with owner tracking
//
// Two cache lines. The first holds what waiters read while they spin or sleep; the second what
// only the holder writes (its identity, the RLock's count and async context), so that the
// holder's writes do not take the first line away from a spinning waiter at every step.
//
// line 0: i32[0] state: 0 free, 1 held, 2 held and maybe waited for; i32[2] sleepers;
//         i32[7] take-over flag
// line 1: i32[16] recursion count (RLock); i32[17] owner's async context id (RLock);
//         i32[18] owner pid; i32[19] owner thread id; i32[20..21] hold epoch (RLock: low, high
//         word), which every taking and every full release by the holder changes

const LOCK_BYTES = 128;
const S = 0;
const COUNT = 16;
const OWNER = 1; // in i64 units, bytes 8-15 (Barrier's inner mutex only: its own layout)
const CTX = 17;
const OWNER_PID = 18;
const OWNER_TID = 19;
const EPOCH_LO = 20;
const EPOCH_HI = 21;
const TAKE = 7; // 1 while one waiter takes over from a dead holder
const SLEEPERS = 2; // waiters inside a futex/Atomics wait: a release wakes only if there are some

/** Tries before a contended acquire sleeps: short critical sections finish within them. */
/** Looks at a held lock's state before sleeping, with growing pauses between (a microsecond or two in all). */
const SPIN_LOOKS = 8;
const MAX_PAUSE = 256;
let spinSink = 0;
/** A pause that touches no shared memory: `n` rounds of local arithmetic. */
function spinFor(n: number): void {
  let x = spinSink;
  for (let i = 0; i < n; i++) x = (x * 31 + i) | 0;
  spinSink = x;
}

// Identity of this thread, computed once (module instances are per thread).
const SELF = selfKey();
const MY_PID = process.pid;
const MY_TID = Number(SELF & 0xffffffffn);
/**
 * What this thread writes as the owner's thread word: its id + 1, so that 0 always means "no
 * owner written". (The main thread's id is 0: written as itself, a waiting main thread saw a
 * worker's half-written owner (its pid, thread word still 0) as its own hold, and two threads
 * held the lock at once.)
 */
const MY_TID_WORD = MY_TID + 1;

const kInit = Symbol('init');

/** Shared by Lock and RLock. */
abstract class MutexBase extends Shared {
  /** @internal */
  protected abstract readonly kindName: string;

  /** @internal */
  protected constructor(from?: SegmentRef) {
    super(Shared.segmentFor(LOCK_BYTES, from), LOCK_BYTES);
  }

  /** @internal one attempt to take the mutex. */
  protected tryTake(): boolean {
    if (this.A.compareExchange(this.i32, S, 0, 1) === 0) {
      this.setOwner();
      return true;
    }
    return false;
  }

  /** @internal */
  protected setOwner(): void {
    // Plain writes, pid first: they follow the atomic operation that took the state word, and
    // the holder's release clears them before the atomic exchange that lets go, so no other
    // thread can read them as its own (ids are unique per process and thread, and a thread
    // always sees its own writes). Atomic stores here cost the uncontended lock half its speed.
    this.A.set(this.i32, OWNER_PID, MY_PID);
    this.A.set(this.i32, OWNER_TID, MY_TID_WORD);
  }

  /**
   * @internal the holder marks a new hold (taking it, letting it go): a record of "held by me"
   * made under an older epoch no longer counts (see RLock's #mine). Only the holder writes
   * these words, so plain writes do; the atomic operation that lets the lock go orders them.
   */
  protected bumpEpoch(): void {
    const lo = (this.A.get(this.i32, EPOCH_LO) + 1) | 0;
    this.A.set(this.i32, EPOCH_LO, lo);
    if (lo === 0) this.A.set(this.i32, EPOCH_HI, (this.A.get(this.i32, EPOCH_HI) + 1) | 0);
  }

  /** @internal owner key, for messages and liveness. */
  protected ownerKey(): bigint {
    // A thread word of 0 (an owner half-written or half-cleared) reads as thread 0, which counts as alive.
    const word = this.A.load(this.i32, OWNER_TID);
    return (BigInt(this.A.load(this.i32, OWNER_PID)) << 32n) | BigInt(word === 0 ? 0 : word - 1);
  }

  /**
   * @internal brief spinning before sleeping: most contention ends within it. Between two
   * looks at the state word the waiter backs off (a local loop, longer each time), so that it
   * does not keep taking the word's cache line away from the holder, which would then pay a
   * cache miss at every acquire and release.
   */
  protected spinTake(): boolean {
    let pause = 16;
    for (let k = 0; k < SPIN_LOOKS; k++) {
      if (this.A.load(this.i32, S) === 0 && this.A.compareExchange(this.i32, S, 0, 1) === 0) {
        this.setOwner();
        return true;
      }
      spinFor(pause);
      if (pause < MAX_PAUSE) pause <<= 1;
    }
    return false;
  }

  /** @internal the holder died: take the mutex over (once, among all waiters). */
  protected takeOverIfDead(): boolean {
    const owner = this.ownerKey();
    if (owner === 0n || ownerAlive(owner)) return false;
    // One waiter takes over; the others see a live owner (the taker) afterwards.
    if (this.A.compareExchange(this.i32, TAKE, 0, 1) !== 0) return false;
    try {
      if (this.ownerKey() !== owner || this.A.load(this.i32, S) === 0) return false;
      this.setOwner();
      this.bumpEpoch();
      this.A.store(this.i32, S, 2);
      this.A.store(this.i32, COUNT, 0);
    } finally {
      this.A.store(this.i32, TAKE, 0);
    }
    getLogger().warn(
      `${this.kindName} was held by ${describeKey(owner)}, which ended without releasing it; ${describeKey(SELF)} took it over`,
    );
    return true;
  }

  /** @internal contended path, blocking. */
  protected lockSync(timeout: number): boolean {
    if (this.spinTake()) return true;
    const deadline = now() + timeout;
    let c = this.A.exchange(this.i32, S, 2);
    while (c !== 0) {
      const left = deadline - now();
      if (left <= 0) return false;
      this.A.add(this.i32, SLEEPERS, 1);
      const r = this.A.waitSync(this.i32, S, 2, left);
      this.A.sub(this.i32, SLEEPERS, 1);
      if (r !== 'not-equal' && this.takeOverIfDead()) return true;
      c = this.A.exchange(this.i32, S, 2);
    }
    this.setOwner();
    return true;
  }

  /** @internal contended path, async. */
  protected async lockAsync(timeout: number, signal?: AbortSignal): Promise<boolean> {
    if (this.spinTake()) return true;
    const deadline = now() + timeout;
    let c = this.A.exchange(this.i32, S, 2);
    while (c !== 0) {
      const left = deadline - now();
      if (left <= 0) return false;
      // An abort rejects here; having marked the lock contended only costs the holder one
      // wake-up call at release.
      this.A.add(this.i32, SLEEPERS, 1);
      let r: string;
      try {
        r = await this.A.waitAsync(this.i32, S, 2, left, signal);
      } finally {
        this.A.sub(this.i32, SLEEPERS, 1);
      }
      if (r !== 'not-equal' && this.takeOverIfDead()) return true;
      c = this.A.exchange(this.i32, S, 2);
    }
    this.setOwner();
    return true;
  }

  /** @internal */
  protected unlock(): void {
    // Thread id first: a key read half-way is then (pid, 0), which counts as alive. Plain
    // writes: the exchange below orders them before the state word reads free.
    this.A.set(this.i32, OWNER_TID, 0);
    this.A.set(this.i32, OWNER_PID, 0);
    // A waiter counts itself before it sleeps and its wait re-checks the state word, so
    // skipping the wake-up when nobody sleeps loses nothing.
    if (this.A.exchange(this.i32, S, 0) === 2 && this.A.load(this.i32, SLEEPERS) > 0) this.A.notify(this.i32, S, 1);
  }

  /**
   * @internal true when the running thread holds it. Only the holder writes its own id, and
   * clears it before letting go; the thread word is read again after the pid, so that a thread
   * word and a pid of two different owners (one letting go, the next taking over between the
   * reads) do not pass for ours.
   */
  protected heldBySelf(): boolean {
    const a = this.i32;
    const A = this.A;
    // (The atomic load of the state word also keeps the compiler from merging the two reads.)
    return A.get(a, OWNER_TID) === MY_TID_WORD && A.get(a, OWNER_PID) === MY_PID && A.load(a, S) !== 0 && A.get(a, OWNER_TID) === MY_TID_WORD;
  }

  /** Acquires, runs `fn`, and releases even when `fn` throws (Python's `with lock:`). */
  async with<T>(fn: () => T | Promise<T>): Promise<T> {
    await (this as unknown as Lock).acquire();
    try {
      return await fn();
    } finally {
      (this as unknown as Lock).release();
    }
  }
}

/**
 * A non-recursive lock (Python's `multiprocessing.Lock`). Any worker may
 * release it, as in Python. If its holder dies (a terminated worker, a killed
 * process), the next acquirer takes it over with a logged warning naming the
 * dead worker.
 * @example
 * ```ts
 * const lock = new Lock();
 * await lock.with(() => console.log('one at a time'));
 * if (await lock.acquire({ timeout: 100 })) try { ... } finally { lock.release(); }
 * ```
 */
export class Lock extends MutexBase {
  /** @internal */
  protected readonly kindName: string = 'a Lock';

  /** Creates an unlocked lock. */
  constructor(init?: { [kInit]: SegmentRef }) {
    super(init?.[kInit]);
  }

  /**
   * Acquires the lock, waiting without blocking the event loop. Resolves to
   * true when acquired, false when `block: false` found it held or the
   * timeout passed.
   */
  acquire(options?: AcquireOptions): Promise<boolean> {
    if (options === undefined && this.tryTake()) return Promise.resolve(true);
    let o: ReturnType<typeof parseAcquire>;
    try {
      o = parseAcquire(options, 'acquire');
    } catch (e) {
      return Promise.reject(e);
    }
    if (o.signal?.aborted) return Promise.reject(o.signal.reason);
    if (this.tryTake()) return Promise.resolve(true);
    if (!o.block) return Promise.resolve(false);
    return this.lockAsync(o.timeout, o.signal);
  }

  /** Acquires the lock, blocking this thread (Python's `acquire()`). */
  acquireSync(options?: Omit<AcquireOptions, 'signal'>): boolean {
    if (options === undefined && this.tryTake()) return true;
    const o = parseAcquire(options, 'acquireSync');
    if (this.tryTake()) return true;
    if (!o.block) return false;
    return this.lockSync(o.timeout);
  }

  /** Releases the lock. @throws ProcessError when it is not held. */
  release(): void {
    if (this.A.load(this.i32, S) === 0) {
      throw new ProcessError('semaphore or lock released too many times: release() on a Lock that is not held');
    }
    this.unlock();
  }

  /** @internal used by Condition: true when this thread holds it. */
  _isMine(): boolean {
    return this.heldBySelf();
  }

  /** @internal Condition support: release completely, return what restores it. */
  _releaseSave(): number {
    this.unlock();
    return 1;
  }

  /** @internal */
  _acquireRestoreSync(_saved: number): void {
    if (!this.tryTake()) this.lockSync(Infinity);
  }

  /** @internal */
  async _acquireRestore(_saved: number): Promise<void> {
    if (!this.tryTake()) await this.lockAsync(Infinity);
  }

  /** @internal */
  [REDUCE](): Reduced {
    return { kind: 'Lock', state: this.ref(LOCK_BYTES) };
  }

  /** Python-style description. */
  override toString(): string {
    const owner = this.ownerKey();
    return `<Lock(owner=${this.A.load(this.i32, S) === 0 ? 'None' : owner === SELF ? 'self' : describeKey(owner)})>`;
  }
}

/**
 * A reentrant lock (Python's `multiprocessing.RLock`): the holder may acquire
 * it again, and must release it as many times. Ownership is per thread and,
 * within a thread, per async context (two concurrent async tasks of one
 * thread do not share it).
 */
export class RLock extends MutexBase {
  /** @internal */
  protected readonly kindName: string = 'an RLock';

  /** Creates an unlocked reentrant lock. */
  constructor(init?: { [kInit]: SegmentRef }) {
    super(init?.[kInit]);
  }

  /**
   * What this handle knows of its own thread's hold: the async context that took it (0: none
   * known) and the hold's epoch then. While the epoch words still read the same, nobody has
   * taken or let go of the lock since, so the hold is still this context's: a check that costs
   * two plain reads of a line the holder already has, instead of the owner's words, the state
   * word and the context word. Another handle of this thread letting the lock go changes the
   * epoch, so a stale record never passes.
   */
  #heldCtx = 0;
  #epochLo = 0;
  #epochHi = 0;

  /** Records a hold this thread just took (or found) in context `ctx`. */
  #remember(ctx: number): void {
    this.#heldCtx = ctx;
    this.#epochLo = this.A.get(this.i32, EPOCH_LO);
    this.#epochHi = this.A.get(this.i32, EPOCH_HI);
  }

  #mine(ctx: number): boolean {
    if (this.#heldCtx === ctx && this.A.get(this.i32, EPOCH_LO) === this.#epochLo && this.A.get(this.i32, EPOCH_HI) === this.#epochHi) return true;
    if (!(this.heldBySelf() && this.A.get(this.i32, CTX) === ctx)) return false;
    this.#remember(ctx);
    return true;
  }

  /** The caller's context now holds it (count set): a new epoch, remembered here. */
  #held(ctx: number, count: number): void {
    this.A.set(this.i32, CTX, ctx);
    this.A.set(this.i32, COUNT, count);
    this.bumpEpoch();
    this.#remember(ctx);
  }

  /** The last level goes: a new epoch (every record of the old hold stops counting), then free. */
  #letGo(): void {
    this.#heldCtx = 0;
    this.bumpEpoch();
    this.unlock();
  }

  #take(ctx: number): boolean {
    if (!this.tryTake()) return false;
    this.#held(ctx, 1);
    return true;
  }

  /** Acquires (or re-enters) without blocking the event loop; resolves to true when acquired. */
  async acquire(options?: AcquireOptions): Promise<boolean> {
    if (options !== undefined) parseAcquire(options, 'acquire').signal?.throwIfAborted();
    const ctx = contextId();
    if (this.#take(ctx)) return true;
    if (this.#mine(ctx)) {
      this.A.set(this.i32, COUNT, this.A.get(this.i32, COUNT) + 1);
      return true;
    }
    const o = parseAcquire(options, 'acquire');
    o.signal?.throwIfAborted();
    if (!o.block) return false;
    if (!(await this.lockAsync(o.timeout, o.signal))) return false;
    this.#held(ctx, 1);
    return true;
  }

  /**
   * Acquires (or re-enters), blocking this thread.
   * @throws ProcessError when another async task of this same thread holds it and no
   *   timeout is given: blocking the thread would stop that task from ever releasing it.
   */
  acquireSync(options?: Omit<AcquireOptions, 'signal'>): boolean {
    const ctx = contextId();
    // Free: take it (nobody holds it, so neither do we). Only a held one needs the owner check,
    // and the owner's words are not read at all on the way in to a free lock.
    if (this.#take(ctx)) return true;
    if (this.#mine(ctx)) {
      this.A.set(this.i32, COUNT, this.A.get(this.i32, COUNT) + 1);
      return true;
    }
    const o = parseAcquire(options, 'acquireSync');
    if (!o.block) return false;
    if (o.timeout === Infinity && this.heldBySelf()) {
      throw new ProcessError(
        'acquireSync() would wait forever: this RLock is held by another async task of this same thread, which cannot run while the thread is blocked. Use await acquire(), or pass a timeout.',
      );
    }
    if (!this.lockSync(o.timeout)) return false;
    this.#held(ctx, 1);
    return true;
  }

  /**
   * Acquires, runs `fn`, and releases even when `fn` throws (Python's `with rlock:`).
   * `fn` runs as an async task of its own: concurrent `with()` calls of one thread exclude
   * each other, nested ones re-enter.
   */
  override with<T>(fn: () => T | Promise<T>): Promise<T> {
    return inContext(this, async () => {
      await this.acquire();
      try {
        return await fn();
      } finally {
        this.release();
      }
    });
  }

  /** Releases one level. @throws ProcessError when the caller does not hold it. */
  release(): void {
    if (!this.#mine(contextId())) {
      throw new ProcessError('cannot release un-acquired lock: this RLock is not held by the caller (thread and async task)');
    }
    const count = this.A.get(this.i32, COUNT) - 1;
    this.A.set(this.i32, COUNT, count);
    if (count === 0) this.#letGo();
  }

  /** @internal true when the caller (thread and async context) holds it: a nested acquire+release would change nothing. */
  _isMine(): boolean {
    return this.#mine(contextId());
  }

  /** @internal */
  _releaseSave(): number {
    const count = this.A.load(this.i32, COUNT);
    this.A.store(this.i32, COUNT, 0);
    this.#letGo();
    return count;
  }

  /** @internal */
  _acquireRestoreSync(saved: number): void {
    const ctx = contextId();
    if (!this.tryTake()) this.lockSync(Infinity);
    this.#held(ctx, saved);
  }

  /** @internal */
  async _acquireRestore(saved: number): Promise<void> {
    const ctx = contextId();
    if (!this.tryTake()) await this.lockAsync(Infinity);
    this.#held(ctx, saved);
  }

  /** @internal */
  [REDUCE](): Reduced {
    return { kind: 'RLock', state: this.ref(LOCK_BYTES) };
  }

  /** Python-style description. */
  override toString(): string {
    const held = this.A.load(this.i32, S) !== 0;
    const owner = this.ownerKey();
    return `<RLock(${held ? (owner === SELF ? 'self' : describeKey(owner)) : 'None'}, ${held ? this.A.load(this.i32, COUNT) : 0})>`;
  }
}

// ---------------------------------------------------------------------------
// Semaphore and BoundedSemaphore
//
// i32[0] value, i32[1] waiters, i32[2] bound (-1: unbounded)

const SEM_BYTES = 16;

/**
 * A counter of permits (Python's `multiprocessing.Semaphore`): `acquire`
 * takes one (waiting while none is left), `release` gives one back. Permits
 * held by a worker that dies are not given back (nothing records who holds a
 * permit).
 */
export class Semaphore extends Shared {
  /**
   * @param value - initial number of permits. @default 1
   * @throws RangeError for a negative or non-integer value.
   */
  constructor(value: number = 1, init?: { [kInit]: SegmentRef }) {
    super(Shared.segmentFor(SEM_BYTES, init?.[kInit]), SEM_BYTES);
    if (init) return;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0x7fffffff) {
      throw new RangeError(`semaphore initial value must be an integer >= 0; received ${String(value)}`);
    }
    this.A.store(this.i32, 0, value);
    this.A.store(this.i32, 2, -1);
  }

  #tryTake(): boolean {
    for (;;) {
      const v = this.A.load(this.i32, 0);
      if (v <= 0) return false;
      if (this.A.compareExchange(this.i32, 0, v, v - 1) === v) return true;
    }
  }

  /** Takes a permit without blocking the event loop; resolves to false on timeout or `block: false`. */
  async acquire(options?: AcquireOptions): Promise<boolean> {
    const o = parseAcquire(options, 'acquire');
    o.signal?.throwIfAborted();
    if (this.#tryTake()) return true;
    if (!o.block) return false;
    const deadline = now() + o.timeout;
    this.A.add(this.i32, 1, 1);
    try {
      for (;;) {
        if (this.#tryTake()) return true;
        const left = deadline - now();
        if (left <= 0) return false;
        await this.A.waitAsync(this.i32, 0, 0, left, o.signal);
      }
    } finally {
      this.A.sub(this.i32, 1, 1);
    }
  }

  /** Takes a permit, blocking this thread. */
  acquireSync(options?: Omit<AcquireOptions, 'signal'>): boolean {
    if (this.#tryTake()) return true;
    const o = parseAcquire(options, 'acquireSync');
    if (!o.block) return false;
    const deadline = now() + o.timeout;
    this.A.add(this.i32, 1, 1);
    try {
      for (;;) {
        if (this.#tryTake()) return true;
        const left = deadline - now();
        if (left <= 0) return false;
        this.A.waitSync(this.i32, 0, 0, left);
      }
    } finally {
      this.A.sub(this.i32, 1, 1);
    }
  }

  /** Gives a permit back. @throws ProcessError on a BoundedSemaphore released above its initial value. */
  release(): void {
    const bound = this.A.load(this.i32, 2);
    for (;;) {
      const v = this.A.load(this.i32, 0);
      if (bound >= 0 && v >= bound) {
        throw new ProcessError('semaphore or lock released too many times: a BoundedSemaphore cannot go above its initial value');
      }
      if (this.A.compareExchange(this.i32, 0, v, v + 1) === v) break;
    }
    if (this.A.load(this.i32, 1) > 0) this.A.notify(this.i32, 0, 1);
  }

  /** Current number of permits (Python's `get_value()`). */
  getValue(): number {
    return this.A.load(this.i32, 0);
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

  /** @internal */
  _isMine(): boolean {
    return false;
  }

  /** @internal */
  [REDUCE](): Reduced {
    return { kind: 'Semaphore', state: this.ref(SEM_BYTES) };
  }

  /** Python-style description. */
  override toString(): string {
    return `<${this.constructor.name}(value=${this.getValue()})>`;
  }
}

/** A Semaphore that refuses to be released above its initial value (Python's `BoundedSemaphore`). */
export class BoundedSemaphore extends Semaphore {
  /** @param value - initial (and maximum) number of permits. @default 1 */
  constructor(value: number = 1, init?: { [kInit]: SegmentRef }) {
    super(value, init);
    if (!init) this.A.store(this.i32, 2, value);
  }

  /** @internal */
  override [REDUCE](): Reduced {
    return { kind: 'BoundedSemaphore', state: this.ref(SEM_BYTES) };
  }
}

// ---------------------------------------------------------------------------
// Condition
//
// i32[0] sequence (futex word), i32[1] waiting, i32[2] wake credits

const COND_BYTES = 16;

type LockLike = Lock | RLock;

/**
 * A condition variable (Python's `multiprocessing.Condition`) over a Lock or
 * RLock (a new RLock by default). `wait` releases the lock, waits for a
 * `notify`, and takes the lock back. Use it with a predicate loop
 * (`waitFor`): a waiter may wake up without a notify.
 */
export class Condition extends Shared {
  readonly #lock: LockLike;

  /**
   * @param lock - the lock to use. @default a new RLock
   * @throws TypeError when `lock` is not a Lock or RLock of this library.
   */
  constructor(lock?: LockLike, init?: { [kInit]: SegmentRef }) {
    super(Shared.segmentFor(COND_BYTES, init?.[kInit]), COND_BYTES);
    if (lock !== undefined && !(lock instanceof Lock) && !(lock instanceof RLock)) {
      throw new TypeError('Condition lock must be a Lock or RLock of multiprocessing-ts');
    }
    this.#lock = lock ?? new RLock();
  }

  /** Acquires the underlying lock. */
  acquire(options?: AcquireOptions): Promise<boolean> {
    return this.#lock.acquire(options);
  }

  /** Acquires the underlying lock, blocking this thread. */
  acquireSync(options?: Omit<AcquireOptions, 'signal'>): boolean {
    return this.#lock.acquireSync(options);
  }

  /** Releases the underlying lock. */
  release(): void {
    this.#lock.release();
  }

  /** Acquires the lock, runs `fn`, releases it even when `fn` throws. */
  with<T>(fn: () => T | Promise<T>): Promise<T> {
    return inContext(this.#lock instanceof RLock ? this.#lock : null, () => this.#lock.with(fn));
  }

  #assertOwned(what: string): void {
    if (!this.#lock._isMine()) throw new ProcessError(`must acquire() condition before using ${what}()`);
  }

  #consumeCredit(): boolean {
    for (;;) {
      const c = this.A.load(this.i32, 2);
      if (c <= 0) return false;
      if (this.A.compareExchange(this.i32, 2, c, c - 1) === c) return true;
    }
  }

  /**
   * Releases the lock, waits until notified or `ms` passed, takes the lock
   * back. Resolves to false on timeout.
   * @throws ProcessError when the caller does not hold the lock.
   */
  async wait(ms?: number, options?: WaitOptions): Promise<boolean> {
    this.#assertOwned('wait');
    const timeout = msTimeout(ms, 'ms');
    const signal = validateSignal(options);
    signal?.throwIfAborted();
    const deadline = now() + timeout;
    // Taken while holding the lock: notifications from now on are for this waiter too,
    // earlier ones are not (a newcomer must not take a wake-up meant for older waiters).
    const start = this.A.load(this.i32, 0);
    this.A.add(this.i32, 1, 1);
    const saved = this.#lock._releaseSave();
    let notified = false;
    try {
      for (;;) {
        const seq = this.A.load(this.i32, 0);
        if (seq !== start && this.#consumeCredit()) {
          notified = true;
          break;
        }
        const left = deadline - now();
        if (left <= 0) break;
        await this.A.waitAsync(this.i32, 0, seq, left, signal);
      }
    } finally {
      this.A.sub(this.i32, 1, 1);
      await this.#lock._acquireRestore(saved);
    }
    return notified;
  }

  /**
   * Blocking twin of {@link Condition.wait}.
   * @throws ProcessError when the caller does not hold the lock, or when the lock is held
   *   several times by this thread in a way that waiting could not release.
   */
  waitSync(ms?: number): boolean {
    this.#assertOwned('wait');
    const timeout = msTimeout(ms, 'ms');
    const deadline = now() + timeout;
    const start = this.A.load(this.i32, 0);
    this.A.add(this.i32, 1, 1);
    const saved = this.#lock._releaseSave();
    let notified = false;
    try {
      for (;;) {
        const seq = this.A.load(this.i32, 0);
        if (seq !== start && this.#consumeCredit()) {
          notified = true;
          break;
        }
        const left = deadline - now();
        if (left <= 0) break;
        this.A.waitSync(this.i32, 0, seq, left);
      }
    } finally {
      this.A.sub(this.i32, 1, 1);
      this.#lock._acquireRestoreSync(saved);
    }
    return notified;
  }

  /**
   * Waits until `predicate()` is truthy (checked first, then after each
   * wake-up), or `ms` passed; resolves to the last value of the predicate.
   */
  async waitFor<T>(predicate: () => T | Promise<T>, ms?: number, options?: WaitOptions): Promise<T> {
    if (typeof predicate !== 'function') throw new TypeError(`predicate must be a function; received ${typeof predicate}`);
    const timeout = msTimeout(ms, 'ms');
    const deadline = now() + timeout;
    let result = await predicate();
    while (!result) {
      const left = deadline - now();
      if (left <= 0) break;
      await this.wait(left === Infinity ? undefined : left, options);
      result = await predicate();
    }
    return result;
  }

  /** Blocking twin of {@link Condition.waitFor}. */
  waitForSync<T>(predicate: () => T, ms?: number): T {
    if (typeof predicate !== 'function') throw new TypeError(`predicate must be a function; received ${typeof predicate}`);
    const timeout = msTimeout(ms, 'ms');
    const deadline = now() + timeout;
    let result = predicate();
    while (!result) {
      const left = deadline - now();
      if (left <= 0) break;
      this.waitSync(left === Infinity ? undefined : left);
      result = predicate();
    }
    return result;
  }

  /**
   * Wakes up to `n` waiters. @throws ProcessError when the caller does not hold the lock.
   * @param n - how many. @default 1
   */
  notify(n: number = 1): void {
    this.#assertOwned('notify');
    if (typeof n !== 'number' || Number.isNaN(n) || n < 0) throw new RangeError(`n must be a number >= 0; received ${String(n)}`);
    this.#give(n);
  }

  /** Wakes every waiter. @throws ProcessError when the caller does not hold the lock. */
  notifyAll(): void {
    this.#assertOwned('notify');
    this.#give(Infinity);
  }

  #give(n: number): void {
    // Credits never exceed the waiters: stale credits (their waiters timed out) are dropped here.
    for (;;) {
      const credits = this.A.load(this.i32, 2);
      const waiting = this.A.load(this.i32, 1);
      const next = Math.min(credits + n, waiting);
      if (next <= 0 && credits <= 0) return;
      if (this.A.compareExchange(this.i32, 2, credits, Math.max(0, next)) === credits) break;
    }
    this.A.add(this.i32, 0, 1);
    this.A.notify(this.i32, 0, Infinity);
  }

  /** @internal */
  [REDUCE](): Reduced {
    return { kind: 'Condition', state: { seg: this.ref(COND_BYTES), lock: this.#lock } };
  }

  /** Python-style description. */
  override toString(): string {
    return `<Condition(${String(this.#lock)}, ${this.A.load(this.i32, 1)})>`;
  }
}

// ---------------------------------------------------------------------------
// Event
//
// i32[0] flag

const EVENT_BYTES = 8;

/** A flag that workers can wait for (Python's `multiprocessing.Event`). */
export class Event extends Shared {
  /** Creates a cleared event. */
  constructor(init?: { [kInit]: SegmentRef }) {
    super(Shared.segmentFor(EVENT_BYTES, init?.[kInit]), EVENT_BYTES);
  }

  /** True once `set()` was called and `clear()` not since. */
  isSet(): boolean {
    return this.A.load(this.i32, 0) === 1;
  }

  /** Sets the flag and wakes every waiter. */
  set(): void {
    this.A.store(this.i32, 0, 1);
    this.A.notify(this.i32, 0, Infinity);
  }

  /** Clears the flag. */
  clear(): void {
    this.A.store(this.i32, 0, 0);
  }

  /** Waits until the flag is set, or `ms` passed; resolves to the flag. */
  async wait(ms?: number, options?: WaitOptions): Promise<boolean> {
    const timeout = msTimeout(ms, 'ms');
    const signal = validateSignal(options);
    signal?.throwIfAborted();
    const deadline = now() + timeout;
    while (this.A.load(this.i32, 0) === 0) {
      const left = deadline - now();
      if (left <= 0) return false;
      await this.A.waitAsync(this.i32, 0, 0, left, signal);
    }
    return true;
  }

  /** Blocking twin of {@link Event.wait}. */
  waitSync(ms?: number): boolean {
    const timeout = msTimeout(ms, 'ms');
    const deadline = now() + timeout;
    while (this.A.load(this.i32, 0) === 0) {
      const left = deadline - now();
      if (left <= 0) return false;
      this.A.waitSync(this.i32, 0, 0, left);
    }
    return true;
  }

  /** @internal */
  [REDUCE](): Reduced {
    return { kind: 'Event', state: this.ref(EVENT_BYTES) };
  }

  /** Python-style description. */
  override toString(): string {
    return `<Event(${this.isSet() ? 'set' : 'unset'})>`;
  }
}

// ---------------------------------------------------------------------------
// Barrier
//
// i32[0] internal mutex state, i64[1] mutex owner (ShmMutex), then
// i32[8] count, i32[9] generation, i32[10] broken, i32[11] parties,
// i32[12] generation whose waiters were released by reset() as broken,
// i64[8..8+PARTY_SLOTS) keys of waiting parties (to notice a dead one)

const PARTY_SLOTS = 32;
const BARRIER_BYTES = 64 + PARTY_SLOTS * 8;
const B_COUNT = 8;
const B_GEN = 9;
const B_BROKEN = 10;
const B_PARTIES = 11;
const B_RESETGEN = 12;
const B_SLOTS = 8; // i64 index

/** Options of `new Barrier(parties, options)`. */
export interface BarrierOptions {
  /** Exported function run by the last party to arrive, before the others are released. */
  action?: () => unknown;
  /** Default timeout of `wait()`, in milliseconds. */
  timeout?: number;
}

/**
 * A barrier for a fixed number of parties (Python's `multiprocessing.Barrier`):
 * `wait()` blocks until `parties` workers have called it, then releases them
 * all, resolving to each one's arrival index (0 … parties-1). A party that
 * times out, `abort()`, `reset()` while parties wait, or a waiting party that
 * dies, break the barrier: waiters get {@link BrokenBarrierError}.
 */
export class Barrier extends Shared {
  readonly #action: (() => unknown) | null;
  readonly #timeout: number;
  readonly #mutex: ShmMutex;

  /**
   * @param parties - number of parties (an integer >= 1).
   * @param options - `action` (a top-level exported function) and default `timeout` (ms).
   */
  constructor(parties: number, options: BarrierOptions = {}, init?: { [kInit]: SegmentRef }) {
    super(Shared.segmentFor(BARRIER_BYTES, init?.[kInit]), BARRIER_BYTES);
    if (!init) {
      if (typeof parties !== 'number' || !Number.isInteger(parties) || parties < 1) {
        throw new RangeError(`parties must be an integer >= 1; received ${String(parties)}`);
      }
      this.A.store(this.i32, B_PARTIES, parties);
      this.A.store(this.i32, B_RESETGEN, -1);
    }
    if (options.action !== undefined && options.action !== null && typeof options.action !== 'function') {
      throw new TypeError(`action must be a function; received ${typeof options.action}`);
    }
    this.#action = options.action ?? null;
    // The action runs in whichever worker arrives last: it must be importable there.
    if (this.#action && !init) lookupFunction(this.#action);
    const t = validateTimeout(options.timeout, 'options.timeout');
    this.#timeout = t === undefined ? Infinity : Math.max(0, t);
    this.#mutex = new ShmMutex(this.i32, S, this.i64, OWNER, 'a Barrier', this.A);
  }

  /** Number of parties needed to pass the barrier. */
  get parties(): number {
    return this.A.load(this.i32, B_PARTIES);
  }

  /** Number of parties currently waiting. */
  get nWaiting(): number {
    return this.A.load(this.i32, B_BROKEN) ? 0 : this.A.load(this.i32, B_COUNT);
  }

  /** True when the barrier is broken (until `reset()`). */
  get broken(): boolean {
    return this.A.load(this.i32, B_BROKEN) === 1;
  }

  #arrive(): { index: number; gen: number; last: boolean } {
    if (this.A.load(this.i32, B_BROKEN)) throw new BrokenBarrierError('the barrier is broken');
    const index = this.A.load(this.i32, B_COUNT);
    const gen = this.A.load(this.i32, B_GEN);
    if (index + 1 < this.parties) {
      // Registered before it is counted: a party seen waiting (nWaiting) can be found dead. (In
      // broker mode each step is a round trip, and a party killed between them left a count
      // that no key explained: the others waited out their timeout.)
      this.#register(SELF);
      this.A.store(this.i32, B_COUNT, index + 1);
      return { index, gen, last: false };
    }
    return { index, gen, last: true };
  }

  #register(key: bigint): void {
    for (let i = 0; i < PARTY_SLOTS; i++) {
      if (this.A.compareExchange(this.i64, B_SLOTS + i, 0n, key) === 0n) return;
    }
  }

  #unregister(key: bigint): void {
    for (let i = 0; i < PARTY_SLOTS; i++) {
      if (this.A.compareExchange(this.i64, B_SLOTS + i, key, 0n) === key) return;
    }
  }

  #deadParty(): bigint | null {
    for (let i = 0; i < PARTY_SLOTS; i++) {
      const k = this.A.load(this.i64, B_SLOTS + i);
      if (k !== 0n && !ownerAlive(k)) return k;
    }
    return null;
  }

  /** Releases everyone waiting on generation `gen` (the last party's step). */
  #release(): void {
    this.A.store(this.i32, B_COUNT, 0);
    this.A.add(this.i32, B_GEN, 1);
    this.A.notify(this.i32, B_GEN, Infinity);
  }

  #breakLocked(): void {
    this.A.store(this.i32, B_BROKEN, 1);
    for (let i = 0; i < PARTY_SLOTS; i++) this.A.store(this.i64, B_SLOTS + i, 0n);
    this.A.notify(this.i32, B_GEN, Infinity); // waiters sleep on the generation word
  }

  /** Outcome once a waiter saw the generation move or the barrier break. */
  #outcome(gen: number): 'passed' | 'broken' | 'waiting' {
    if (this.A.load(this.i32, B_GEN) !== gen) {
      return this.A.load(this.i32, B_RESETGEN) === gen ? 'broken' : 'passed';
    }
    return this.A.load(this.i32, B_BROKEN) ? 'broken' : 'waiting';
  }

  #onTimeoutOrDeath(gen: number, why: string): never {
    this.#mutex.lockSync();
    try {
      if (this.A.load(this.i32, B_GEN) === gen) this.#breakLocked();
    } finally {
      this.#mutex.unlock();
    }
    throw new BrokenBarrierError(why);
  }

  /**
   * Waits for all parties; resolves to this party's arrival index.
   * @param ms - timeout in ms (default: the barrier's `timeout`); on timeout the barrier breaks.
   * @throws BrokenBarrierError when the barrier is or becomes broken.
   */
  async wait(ms?: number, options?: WaitOptions): Promise<number> {
    const timeout = ms === undefined ? this.#timeout : msTimeout(ms, 'ms');
    const signal = validateSignal(options);
    signal?.throwIfAborted();
    await this.#mutex.lockAsync();
    let arrival: { index: number; gen: number; last: boolean };
    try {
      arrival = this.#arrive();
      if (arrival.last) {
        try {
          if (this.#action) await this.#action();
        } catch (err) {
          this.#breakLocked();
          throw err;
        }
        this.#release();
        return arrival.index;
      }
    } finally {
      this.#mutex.unlock();
    }
    return this.#awaitRelease(arrival, timeout, signal);
  }

  async #awaitRelease(arrival: { index: number; gen: number }, timeout: number, signal?: AbortSignal): Promise<number> {
    const deadline = now() + timeout;
    const me = SELF;
    try {
      for (;;) {
        const o = this.#outcome(arrival.gen);
        if (o === 'passed') return arrival.index;
        if (o === 'broken') throw new BrokenBarrierError('the barrier was broken (aborted, reset, timed out, or a party died) while waiting');
        const left = deadline - now();
        if (left <= 0) this.#onTimeoutOrDeath(arrival.gen, `Barrier.wait() timed out after ${timeout} ms: the barrier is now broken`);
        let r: string;
        try {
          r = await this.A.waitAsync(this.i32, B_GEN, arrival.gen, Math.min(left, SLICE_MS), signal);
        } catch (err) {
          // An abort leaves the barrier as it was for the others: withdraw this party.
          this.#withdraw(arrival.gen);
          throw err;
        }
        if (r !== 'not-equal') {
          const dead = this.#deadParty();
          if (dead !== null) this.#onTimeoutOrDeath(arrival.gen, `a party (${describeKey(dead)}) died while waiting at the barrier`);
        }
      }
    } finally {
      this.#unregister(me);
    }
  }

  #withdraw(gen: number): void {
    this.#mutex.lockSync();
    try {
      if (this.A.load(this.i32, B_GEN) === gen && !this.A.load(this.i32, B_BROKEN)) this.A.sub(this.i32, B_COUNT, 1);
    } finally {
      this.#mutex.unlock();
    }
  }

  /** Blocking twin of {@link Barrier.wait}. */
  waitSync(ms?: number): number {
    const timeout = ms === undefined ? this.#timeout : msTimeout(ms, 'ms');
    this.#mutex.lockSync();
    let arrival: { index: number; gen: number; last: boolean };
    try {
      arrival = this.#arrive();
      if (arrival.last) {
        try {
          const r = this.#action ? this.#action() : undefined;
          if (r && typeof (r as Promise<unknown>).then === 'function') {
            throw new TypeError('a Barrier action used with waitSync() must be synchronous');
          }
        } catch (err) {
          this.#breakLocked();
          throw err;
        }
        this.#release();
        return arrival.index;
      }
    } finally {
      this.#mutex.unlock();
    }
    const deadline = now() + timeout;
    const me = SELF;
    try {
      for (;;) {
        const o = this.#outcome(arrival.gen);
        if (o === 'passed') return arrival.index;
        if (o === 'broken') throw new BrokenBarrierError('the barrier was broken (aborted, reset, timed out, or a party died) while waiting');
        const left = deadline - now();
        if (left <= 0) this.#onTimeoutOrDeath(arrival.gen, `Barrier.waitSync() timed out after ${timeout} ms: the barrier is now broken`);
        if (this.A.waitSync(this.i32, B_GEN, arrival.gen, Math.min(left, SLICE_MS)) !== 'not-equal') {
          const dead = this.#deadParty();
          if (dead !== null) this.#onTimeoutOrDeath(arrival.gen, `a party (${describeKey(dead)}) died while waiting at the barrier`);
        }
      }
    } finally {
      this.#unregister(me);
    }
  }

  /** Breaks the barrier: current and future waiters get BrokenBarrierError until `reset()`. */
  abort(): void {
    this.#mutex.lockSync();
    try {
      this.#breakLocked();
    } finally {
      this.#mutex.unlock();
    }
  }

  /** Returns the barrier to its initial state; parties waiting now get BrokenBarrierError. */
  reset(): void {
    this.#mutex.lockSync();
    try {
      if (this.A.load(this.i32, B_COUNT) > 0 && !this.A.load(this.i32, B_BROKEN)) {
        this.A.store(this.i32, B_RESETGEN, this.A.load(this.i32, B_GEN));
      }
      this.A.store(this.i32, B_COUNT, 0);
      this.A.store(this.i32, B_BROKEN, 0);
      for (let i = 0; i < PARTY_SLOTS; i++) this.A.store(this.i64, B_SLOTS + i, 0n);
      this.A.add(this.i32, B_GEN, 1);
      this.A.notify(this.i32, B_GEN, Infinity);
    } finally {
      this.#mutex.unlock();
    }
  }

  /** @internal */
  [REDUCE](): Reduced {
    return { kind: 'Barrier', state: { seg: this.ref(BARRIER_BYTES), action: this.#action, timeout: this.#timeout === Infinity ? null : this.#timeout } };
  }

  /** Python-style description. */
  override toString(): string {
    return `<Barrier(parties=${this.parties}, waiting=${this.nWaiting}, broken=${this.broken})>`;
  }
}

// ---------------------------------------------------------------------------
// Revival in another worker

registerHandleKind('Lock', (s) => new Lock({ [kInit]: s as SegmentRef }));
registerHandleKind('RLock', (s) => new RLock({ [kInit]: s as SegmentRef }));
registerHandleKind('Semaphore', (s) => new Semaphore(0, { [kInit]: s as SegmentRef }));
registerHandleKind('BoundedSemaphore', (s) => new BoundedSemaphore(0, { [kInit]: s as SegmentRef }));
registerHandleKind('Event', (s) => new Event({ [kInit]: s as SegmentRef }));
registerHandleKind('Condition', (s) => {
  const { seg, lock } = s as { seg: SegmentRef; lock: LockLike };
  return new Condition(lock, { [kInit]: seg });
});
registerHandleKind('Barrier', (s) => {
  const { seg, action, timeout } = s as { seg: SegmentRef; action: (() => unknown) | null; timeout: number | null };
  return new Barrier(0, { action: action ?? undefined, timeout: timeout ?? undefined }, { [kInit]: seg });
});
