/**
 * `multiprocessing-ts/dummy`: the same API run as async tasks inside the
 * calling thread (Python's `multiprocessing.dummy`), for I/O-bound
 * concurrency. Functions need not be exported here: nothing crosses a thread.
 *
 * This entry currently provides `Process` (a "thread" in Python's terms),
 * `currentProcess`, `activeChildren` and `cpuCount`; the pool, queues and
 * locks of the dummy module arrive with their own modules.
 * @module
 */
import { ProcessError } from './errors.js';
import { validateSignal, validateTimeout, type WaitOptions } from './internal/validators.js';
import { cpuCount } from './process.js';
import { AsyncLocalStorage } from 'node:async_hooks';

/** Options of a dummy `Process`. */
export interface DummyProcessOptions<A extends unknown[] = unknown[]> {
  /** Function to run as an async task (any function: nothing is sent anywhere). */
  target?: (...args: A) => unknown;
  /** Arguments for `target`, passed as they are (not copied). */
  args?: A;
  /** Name of the task. @default `Thread-N` */
  name?: string;
  /** Accepted for compatibility; a dummy task never keeps the program alive by itself. */
  daemon?: boolean;
}

let counter = 0;
const live = new Set<Process>();
const current = new AsyncLocalStorage<Process>();

/**
 * An async task with Process's interface (Python's `multiprocessing.dummy.Process`,
 * which is `threading.Thread`). `start()` schedules `run()` on the event loop.
 */
export class Process<A extends unknown[] = unknown[]> {
  #target: ((...args: unknown[]) => unknown) | null;
  #args: unknown[];
  #name: string;
  #daemon: boolean;
  #started = false;
  #done: Promise<void> | null = null;
  #finished = false;
  #exitCode: number | null = null;

  /** @param options - target, args, name, daemon. */
  constructor(options: DummyProcessOptions<A> = {}) {
    if (options.target !== undefined && typeof options.target !== 'function') {
      throw new TypeError(`target must be a function; received ${typeof options.target}`);
    }
    if (options.args !== undefined && !Array.isArray(options.args)) {
      throw new TypeError(`args must be an array; received ${typeof options.args}`);
    }
    this.#target = (options.target as ((...args: unknown[]) => unknown) | undefined) ?? null;
    this.#args = options.args ?? [];
    this.#name = options.name ?? `Thread-${++counter}`;
    this.#daemon = options.daemon ?? false;
  }

  /** The task's activity; default `target(...args)`. Override in subclasses. */
  run(): unknown {
    return this.#target ? this.#target(...this.#args) : undefined;
  }

  /** Schedules the task. @throws ProcessError when started twice. */
  start(): void {
    if (this.#started) throw new ProcessError(`cannot start a process twice (${this.#name})`);
    this.#started = true;
    live.add(this);
    this.#done = (async () => {
      await null;
      try {
        await current.run(this, () => this.run());
        this.#exitCode = 0;
      } catch (err) {
        this.#exitCode = 1;
        process.stderr.write(`Exception in ${this.#name}:\n${err instanceof Error ? err.stack : String(err)}\n`);
      } finally {
        this.#finished = true;
        live.delete(this);
      }
    })();
  }

  /** Waits for the task to end, or `ms` milliseconds. */
  async join(ms?: number, options?: WaitOptions): Promise<void> {
    if (!this.#started) throw new ProcessError(`can only join a started process: call start() on ${this.#name} first`);
    const timeout = validateTimeout(ms, 'ms');
    const signal = validateSignal(options);
    signal?.throwIfAborted();
    if (this.#finished || (timeout !== undefined && timeout <= 0)) return;
    await new Promise<void>((resolve, reject) => {
      const t = timeout === undefined ? undefined : setTimeout(resolve, timeout);
      signal?.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true });
      void this.#done!.then(() => (clearTimeout(t), resolve()));
    });
  }

  /** True between `start()` and the end of `run()`. */
  isAlive(): boolean {
    return this.#started && !this.#finished;
  }

  /** Name of the task. */
  get name(): string {
    return this.#name;
  }
  set name(v: string) {
    if (typeof v !== 'string') throw new TypeError(`name must be a string; received ${typeof v}`);
    this.#name = v;
  }

  /** Daemon flag (kept for compatibility). */
  get daemon(): boolean {
    return this.#daemon;
  }
  set daemon(v: boolean) {
    if (this.#started) throw new ProcessError(`process has already started (${this.#name}): set daemon before start()`);
    this.#daemon = v;
  }

  /** 0 after a normal end, 1 if `run()` threw, `null` before. (Python's threads have none; kept for symmetry.) */
  get exitCode(): number | null {
    return this.#exitCode;
  }
}

/** The running dummy task, or `null` outside one. */
export function currentProcess(): Process | null {
  return current.getStore() ?? null;
}

/** The dummy tasks started and not yet finished. */
export function activeChildren(): Process[] {
  return [...live];
}

export { cpuCount };
