/**
 * What a function running in a pool worker can learn about its task:
 * `currentTask()` (its abort signal). Kept on `globalThis` so that the ESM and
 * CommonJS builds, and the worker loop's own entry file, share one slot.
 * @module
 */
import { ProcessError, TimeoutError } from '../errors.js';
import { STOP_TIMEOUT, type StopKind } from '../protocol/pool.js';

const SLOT = Symbol.for('multiprocessing-ts.currentTask');

type Holder = { [SLOT]?: TaskContext };

/**
 * The task a pool worker is running. Its `signal` aborts when the caller's
 * `signal` aborts or the task's `timeout` runs out; the pool then waits a
 * short grace period (the pool's `abortGrace`) for the task to stop before
 * it replaces the worker.
 */
export class TaskContext {
  /** The task's number within its pool. */
  readonly id: number;
  #why: StopKind | 0 = 0;
  #controller: AbortController | null = null;
  readonly #poll: () => void;

  /** @internal */
  constructor(id: number, poll: () => void) {
    this.id = id;
    this.#poll = poll;
  }

  #reason(): Error {
    return this.#why === STOP_TIMEOUT
      ? new TimeoutError(`pool task ${this.id} ran past its timeout`)
      : new DOMException(`pool task ${this.id} was aborted by its caller`, 'AbortError');
  }

  /**
   * Aborts when the pool stops this task. Listen to it in async tasks
   * (`fetch(url, { signal })`, `signal.addEventListener('abort', …)`); a task
   * that never yields to the event loop should poll {@link TaskContext.aborted}.
   */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#why) this.#controller.abort(this.#reason());
    }
    return this.#controller.signal;
  }

  /**
   * Whether the pool has asked this task to stop. Reading it checks for the
   * request at once, so a synchronous loop sees it without yielding.
   */
  get aborted(): boolean {
    if (!this.#why) this.#poll();
    return this.#why !== 0;
  }

  /** Throws the stop reason (an `AbortError` or a `TimeoutError`) if the task was asked to stop. */
  throwIfAborted(): void {
    if (this.aborted) throw this.#reason();
  }

  /** @internal the pool asked this task to stop. */
  _stop(why: StopKind): void {
    if (this.#why) return;
    this.#why = why;
    this.#controller?.abort(this.#reason());
  }

  /** @internal the error a task that was stopped before it started is failed with. */
  static _reasonFor(id: number, why: StopKind): Error {
    const t = new TaskContext(id, () => {});
    t._stop(why);
    return t.#reason();
  }
}

/** @internal the worker loop sets the running task (or clears it). */
export function setCurrentTask(task: TaskContext | undefined): void {
  (globalThis as Holder)[SLOT] = task;
}

/**
 * The pool task running now, in a pool worker (for its abort `signal`).
 * @throws ProcessError outside a pool task.
 * @example
 * ```ts
 * export async function fetchPage(url: string) {
 *   const res = await fetch(url, { signal: currentTask().signal });
 *   return res.text();
 * }
 * export function crunch(n: number) {
 *   const task = currentTask();
 *   for (let i = 0; i < n; i++) { if (i % 4096 === 0) task.throwIfAborted(); … }
 * }
 * ```
 */
export function currentTask(): TaskContext {
  const t = (globalThis as Holder)[SLOT];
  if (!t) throw new ProcessError('currentTask() is only available inside a function that a Pool is running');
  return t;
}
