/**
 * A small futex mutex inside another object's shared memory (queues, pipes,
 * a Barrier's inner lock): word `s` is the state (0 free, 1 held, 2 held and
 * maybe waited for), the int64 at `ownerIndex` (BigInt64 units) the holder's
 * key. A holder that died is taken over by the next waiter, with a warning
 * naming it. Memory is reached through word operations (internal/word-ops:
 * `Atomics` and the one wait/wake protocol, or a broker's remote operations).
 * @internal
 */
import { SLICE_MS } from './waiting.js';
import { LOCAL_OPS, type WordOps } from './word-ops.js';
import { selfKey, ownerAlive, describeKey } from './liveness.js';
import { getLogger } from '../logging.js';

const SELF = selfKey();

export class ShmMutex {
  constructor(
    private readonly i32: Int32Array,
    private readonly s: number,
    private readonly i64: BigInt64Array,
    private readonly ownerIndex: number,
    private readonly what: string,
    private readonly A: WordOps = LOCAL_OPS,
  ) {}

  /** One attempt. */
  tryLock(): boolean {
    if (this.A.compareExchange(this.i32, this.s, 0, 1) === 0) {
      this.A.store(this.i64, this.ownerIndex, SELF);
      return true;
    }
    return false;
  }

  #takeOver(): boolean {
    const owner = this.A.load(this.i64, this.ownerIndex);
    if (owner === 0n || ownerAlive(owner)) return false;
    if (this.A.compareExchange(this.i64, this.ownerIndex, owner, SELF) !== owner) return false;
    this.A.store(this.i32, this.s, 2);
    getLogger().warn(`${this.what} was held by ${describeKey(owner)}, which ended while holding it; ${describeKey(SELF)} took it over`);
    return true;
  }

  /** True when the holder is a worker that ended (its item may be half written or read). */
  holderDead(): boolean {
    const owner = this.A.load(this.i64, this.ownerIndex);
    return owner !== 0n && owner !== SELF && !ownerAlive(owner);
  }

  /** Blocks until held or `deadline` (performance.now() time) passes. */
  lockSync(deadline = Infinity): boolean {
    if (this.tryLock()) return true;
    for (let k = 0; k < 200; k++) {
      if (this.A.load(this.i32, this.s) === 0 && this.tryLock()) return true;
    }
    let c = this.A.exchange(this.i32, this.s, 2);
    while (c !== 0) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      if (this.A.waitSync(this.i32, this.s, 2, Math.min(left, SLICE_MS)) !== 'not-equal' && this.#takeOver()) return true;
      c = this.A.exchange(this.i32, this.s, 2);
    }
    this.A.store(this.i64, this.ownerIndex, SELF);
    return true;
  }

  /** Waits without blocking the event loop until held or `deadline` passes. */
  async lockAsync(deadline = Infinity, signal?: AbortSignal): Promise<boolean> {
    if (this.tryLock()) return true;
    let c = this.A.exchange(this.i32, this.s, 2);
    while (c !== 0) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      const r = await this.A.waitAsync(this.i32, this.s, 2, Math.min(left, SLICE_MS), signal);
      if (r !== 'not-equal' && this.#takeOver()) return true;
      c = this.A.exchange(this.i32, this.s, 2);
    }
    this.A.store(this.i64, this.ownerIndex, SELF);
    return true;
  }

  unlock(): void {
    this.A.store(this.i64, this.ownerIndex, 0n);
    if (this.A.exchange(this.i32, this.s, 0) === 2) this.A.notify(this.i32, this.s, 1);
  }
}
