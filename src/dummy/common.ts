/**
 * Plumbing shared by the classes of `multiprocessing-ts/dummy`: the wait list
 * every blocking call parks on, argument parsing, task ownership, and the
 * rule for `Sync` calls in one thread.
 * @internal
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { ProcessError } from '../errors.js';
import { validateSignal, validateTimeout } from '../internal/validators.js';

/** One parked caller. */
interface Waiter<D> {
  data: D;
  settle(woken: boolean, error?: unknown): void;
}

/**
 * A FIFO of parked async callers. `wait` resolves to true when woken, false
 * when its timeout passed, and rejects with the signal's reason on abort (the
 * caller is then no longer in the list: nothing it waited for is consumed).
 */
export class WaitList<D = null> {
  readonly #q: Waiter<D>[] = [];

  /** Number of parked callers. */
  get length(): number {
    return this.#q.length;
  }

  /** Parks the caller. `timeout` is in ms (`Infinity`: no limit; callers handle 0 themselves). */
  wait(data: D, timeout: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      const cleanup = (): void => {
        if (timer) clearTimeout(timer);
        if (onAbort) signal!.removeEventListener('abort', onAbort);
      };
      const remove = (): void => {
        const i = this.#q.indexOf(w);
        if (i >= 0) this.#q.splice(i, 1);
      };
      const w: Waiter<D> = {
        data,
        settle: (woken, error) => {
          cleanup();
          if (error !== undefined) reject(error);
          else resolve(woken);
        },
      };
      if (timeout !== Infinity) {
        timer = setTimeout(() => {
          remove();
          cleanup();
          resolve(false);
        }, Math.max(0, timeout));
      }
      if (signal) {
        onAbort = () => {
          remove();
          cleanup();
          reject(signal.reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
      }
      this.#q.push(w);
    });
  }

  /** Wakes the oldest caller; returns its data (to hand it something), or undefined when none waits. */
  wakeOne(): { data: D } | undefined {
    const w = this.#q.shift();
    if (!w) return undefined;
    w.settle(true);
    return w;
  }

  /** Wakes every parked caller; returns how many. */
  wakeAll(): number {
    const all = this.#q.splice(0);
    for (const w of all) w.settle(true);
    return all.length;
  }

  /** Rejects every parked caller with `error`. */
  failAll(error: unknown): void {
    for (const w of this.#q.splice(0)) w.settle(false, error);
  }
}

/** Parsed `{ block, timeout, signal }` (timeout in ms, `Infinity` for none, never negative). */
export interface Blocking {
  block: boolean;
  timeout: number;
  signal?: AbortSignal;
}

/** Parses the options of `acquire`/`put`/`get` as the real classes do (a timeout with `block: false` is ignored). */
export function parseBlocking(options: unknown, name: string, sync = false): Blocking {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new TypeError(`${name} options must be an object like { block, timeout${sync ? '' : ', signal'} }; received ${options === null ? 'null' : typeof options}`);
  }
  const o = (options ?? {}) as { block?: unknown; timeout?: unknown };
  const block = o.block ?? true;
  if (typeof block !== 'boolean') throw new TypeError(`options.block must be a boolean; received ${typeof block}`);
  const t = validateTimeout(o.timeout, 'options.timeout');
  const signal = sync ? undefined : validateSignal(options);
  return { block, timeout: !block ? 0 : t === undefined ? Infinity : Math.max(0, t), signal };
}

/** A positional timeout in ms: `Infinity` for none, never negative. */
export function msTimeout(ms: unknown, name = 'ms'): number {
  const t = validateTimeout(ms, name);
  return t === undefined ? Infinity : Math.max(0, t);
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Blocks the thread for `ms` (a `Sync` wait with a timeout: nothing else can
 * run meanwhile, so the outcome is known, but the call keeps Python's timing).
 */
export function sleepSync(ms: number): void {
  if (ms > 0 && ms !== Infinity) Atomics.wait(sleeper, 0, 0, ms);
}

/**
 * The error of a `Sync` call that would wait forever: every dummy task runs
 * in this one thread, so nothing could end the wait while the thread blocks.
 */
export function wouldHang(call: string, what: string): ProcessError {
  return new ProcessError(
    `${call} would wait forever: ${what}, and in multiprocessing-ts/dummy every task runs in this one thread, which this call would block. Use the async form (await), or pass a timeout.`,
  );
}

/**
 * Owner of RLocks and Conditions: the running dummy Process (each task of a
 * Pool runs in its worker's), or the context a `with()` made; outside any,
 * the main task.
 */
export const owners = new AsyncLocalStorage<object>();

/** The owner a `with()` context was made in: what it holds, the context holds too. */
const parents = new WeakMap<object, object>();

/** Runs `fn` as a new owner nested in the caller's (it may re-enter what the caller holds). */
export function runAsNewOwner<T>(fn: () => T): T {
  const token = {};
  parents.set(token, ownerNow());
  return owners.run(token, fn);
}

/** True when `owner` is the running code's owner, or one it was nested in by `with()`. */
export function ownedNow(owner: object | null): boolean {
  for (let t: object | undefined = ownerNow(); t !== undefined; t = parents.get(t)) if (t === owner) return true;
  return false;
}

/** The caller's main-task owner (outside every dummy Process and `with()`). */
export const MAIN_OWNER: object = Object.freeze({ name: 'MainThread' });

/** The owner of the running code. */
export function ownerNow(): object {
  return owners.getStore() ?? MAIN_OWNER;
}
