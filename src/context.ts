/**
 * Contexts and start methods (Python's `multiprocessing.context`).
 *
 * A context exposes the package's factories bound to one start method:
 * `getContext('process').Process` starts OS processes whatever the default.
 * @module
 */
import { ProcessError } from './errors.js';
import { state } from './internal/state.js';
import { bindProcessClass, Process, type StartMethod } from './process.js';
import { Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event, Barrier } from './synchronize.js';
import { Value, SharedArray, RawValue, RawArray } from './sharedctypes.js';
import { SharedMemory, ShareableList } from './shared-memory.js';
import { Queue, JoinableQueue, SimpleQueue } from './queues.js';
import { Pipe } from './connection.js';
import { Pool, type PoolOptions } from './pool.js';
import { Manager, type ManagerOptions, type SyncManager } from './managers.js';

/** Names accepted for a start method: ours, plus `'spawn'` as a synonym of `'process'`. */
export type StartMethodName = StartMethod | 'spawn';

/** The factories of the package bound to one start method. */
export interface Context {
  /** Start method of this context. */
  readonly startMethod: StartMethod;
  /** `Process` that starts its children on this context's start method. */
  readonly Process: typeof Process;
  /** The start method of this context (Python's `ctx.get_start_method()`). */
  getStartMethod(): StartMethod;
  /** {@link Lock} (shared-memory objects work with every start method). */
  readonly Lock: typeof Lock;
  /** {@link RLock}. */
  readonly RLock: typeof RLock;
  /** {@link Semaphore}. */
  readonly Semaphore: typeof Semaphore;
  /** {@link BoundedSemaphore}. */
  readonly BoundedSemaphore: typeof BoundedSemaphore;
  /** {@link Condition}. */
  readonly Condition: typeof Condition;
  /** {@link Event}. */
  readonly Event: typeof Event;
  /** {@link Barrier}. */
  readonly Barrier: typeof Barrier;
  /** {@link Value}. */
  readonly Value: typeof Value;
  /** {@link SharedArray} (Python's `ctx.Array`). */
  readonly Array: typeof SharedArray;
  /** {@link RawValue}. */
  readonly RawValue: typeof RawValue;
  /** {@link RawArray}. */
  readonly RawArray: typeof RawArray;
  /** {@link SharedMemory}. */
  readonly SharedMemory: typeof SharedMemory;
  /** {@link ShareableList}. */
  readonly ShareableList: typeof ShareableList;
  /** {@link Queue} (queues work with every start method). */
  readonly Queue: typeof Queue;
  /** {@link JoinableQueue}. */
  readonly JoinableQueue: typeof JoinableQueue;
  /** {@link SimpleQueue}. */
  readonly SimpleQueue: typeof SimpleQueue;
  /** {@link Pipe}. */
  readonly Pipe: typeof Pipe;
  /** {@link Pool} whose workers use this context's start method (Python's `ctx.Pool()`). */
  readonly Pool: typeof Pool;
  /** Starts a SyncManager whose server runs on this context's start method. */
  readonly Manager: (options?: ManagerOptions) => Promise<SyncManager>;
}

const KEY = Symbol.for('multiprocessing-ts.contexts');

function contexts(): Map<StartMethod, Context> {
  const g = globalThis as unknown as Record<symbol, Map<StartMethod, Context> | undefined>;
  return (g[KEY] ??= new Map());
}

/** Normalises a start method name; throws for unknown ones and for `'fork'`. */
export function normalizeMethod(method: unknown, argName = 'method'): StartMethod {
  if (method === 'thread' || method === 'process') return method;
  if (method === 'spawn') return 'process';
  if (method === 'fork' || method === 'forkserver') {
    throw new RangeError(
      `${argName} '${method}' is not available: Node.js cannot fork a running process. ` +
        `Use 'process' (a fresh Node.js process, like Python's 'spawn') or 'thread' (a worker thread, the default); ` +
        `warm standby workers give the start-up speed forkserver is for.`,
    );
  }
  throw new RangeError(
    `${argName} must be one of 'thread', 'process' (or its synonym 'spawn'); received ${
      typeof method === 'string' ? `'${method}'` : String(method)
    }`,
  );
}

/**
 * Returns the context of a start method (Python's `get_context(method)`);
 * without an argument, the default context.
 * @param method - `'thread'` (worker threads), `'process'` (OS processes) or `'spawn'` (= `'process'`).
 * @example
 * ```ts
 * const ctx = getContext('process');
 * const p = new ctx.Process({ target: work, args: [1] });
 * ```
 */
export function getContext(method?: StartMethodName): Context {
  const m = method === undefined || method === null ? getStartMethod() : normalizeMethod(method);
  const map = contexts();
  let ctx = map.get(m);
  if (!ctx) {
    const P = bindProcessClass(m);
    ctx = Object.freeze({
      startMethod: m,
      Process: P,
      getStartMethod: () => m,
      Lock,
      RLock,
      Semaphore,
      BoundedSemaphore,
      Condition,
      Event,
      Barrier,
      Value,
      Array: SharedArray,
      RawValue,
      RawArray,
      SharedMemory,
      ShareableList,
      Queue,
      JoinableQueue,
      SimpleQueue,
      Pipe,
      Pool: class extends Pool {
        constructor(processes?: number | PoolOptions) {
          const o: PoolOptions = typeof processes === 'object' && processes !== null ? processes : { processes };
          super({ ...o, context: o.context ?? m });
        }
      },
      Manager: (options?: ManagerOptions) => Manager({ ...options, context: options?.context ?? m }),
    });
    map.set(m, ctx);
  }
  return ctx;
}

/**
 * Sets the default start method (Python's `set_start_method`). Once set (or
 * fixed by a first use), changing it needs `{ force: true }`; `null` with
 * `force` unsets it.
 * @throws ProcessError when already set and `force` is not given.
 */
export function setStartMethod(method: StartMethodName | null, options: { force?: boolean } = {}): void {
  const st = state();
  const force = options.force === true;
  if (st.startMethod !== null && !force) {
    throw new ProcessError(
      `context has already been set (start method '${st.startMethod}'); pass { force: true } to change it`,
    );
  }
  if (method === null) {
    if (!force) throw new TypeError('setStartMethod(null) needs { force: true }');
    st.startMethod = null;
    return;
  }
  st.startMethod = normalizeMethod(method);
}

/**
 * The default start method (Python's `get_start_method`). If none was set it
 * is fixed to `'thread'` now, unless `{ allowNone: true }`, which returns `null`.
 */
export function getStartMethod(options?: { allowNone?: false }): StartMethod;
export function getStartMethod(options: { allowNone: true }): StartMethod | null;
export function getStartMethod(options: { allowNone?: boolean } = {}): StartMethod | null {
  const st = state();
  if (st.startMethod === null) {
    if (options.allowNone) return null;
    st.startMethod = 'thread';
  }
  return st.startMethod;
}

/** Every start method this platform offers; the first is the default. */
export function getAllStartMethods(): StartMethod[] {
  return ['thread', 'process'];
}

export { Process };
