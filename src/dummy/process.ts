/**
 * The dummy `Process`: an async task with Process's interface (Python's
 * `multiprocessing.dummy.Process`, a `threading.Thread`).
 * @internal
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { ProcessError } from '../errors.js';
import { validateSignal, validateTimeout, type WaitOptions } from '../internal/validators.js';
import { owners, sleepSync, wouldHang } from './common.js';

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
 * which is `threading.Thread`). `start()` schedules `run()` on the event loop;
 * `currentProcess()` inside it (across its awaits) is this object, and it owns
 * the RLocks and Conditions it acquires.
 * @example
 * ```ts
 * import { Process } from 'multiprocessing-ts/dummy';
 * const p = new Process({ target: async (url: string) => (await fetch(url)).status, args: ['https://example.com'] });
 * p.start();
 * await p.join();
 * ```
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
    if (typeof options !== 'object' || options === null) throw new TypeError(`options must be an object like { target, args }; received ${options === null ? 'null' : typeof options}`);
    if (options.target !== undefined && typeof options.target !== 'function') {
      throw new TypeError(`target must be a function; received ${typeof options.target}`);
    }
    if (options.args !== undefined && !Array.isArray(options.args)) {
      throw new TypeError(`args must be an array; received ${typeof options.args}`);
    }
    if (options.name !== undefined && typeof options.name !== 'string') throw new TypeError(`name must be a string; received ${typeof options.name}`);
    this.#target = (options.target as ((...args: unknown[]) => unknown) | undefined) ?? null;
    this.#args = options.args ?? [];
    this.#name = options.name ?? `Thread-${++counter}`;
    this.#daemon = options.daemon ?? false;
  }

  /** The task's activity; default `target(...args)`. Override in subclasses (sync or async). */
  run(): unknown {
    return this.#target ? this.#target(...this.#args) : undefined;
  }

  /** Schedules the task (it starts once the caller yields to the event loop). @throws ProcessError when started twice. */
  start(): void {
    if (this.#started) throw new ProcessError(`cannot start a process twice (${this.#name})`);
    this.#started = true;
    live.add(this);
    this.#done = owners.run(this, () =>
      current.run(this, async () => {
        await null;
        try {
          await this.run();
          this.#exitCode = 0;
        } catch (err) {
          this.#exitCode = 1;
          process.stderr.write(`Exception in ${this.#name}:\n${err instanceof Error ? err.stack : String(err)}\n`);
        } finally {
          this.#finished = true;
          live.delete(this);
        }
      }),
    );
  }

  /** Waits for the task to end, or `ms` milliseconds (resolves either way). @throws ProcessError before `start()`. */
  async join(ms?: number, options?: WaitOptions): Promise<void> {
    if (!this.#started) throw new ProcessError(`can only join a started process: call start() on ${this.#name} first`);
    const timeout = validateTimeout(ms, 'ms');
    const signal = validateSignal(options);
    signal?.throwIfAborted();
    if (this.#finished || (timeout !== undefined && timeout <= 0)) return;
    if (current.getStore() === this) throw new ProcessError(`cannot join current process: ${this.#name} would wait for itself`);
    await new Promise<void>((resolve, reject) => {
      const t = timeout === undefined ? undefined : setTimeout(resolve, timeout);
      const onAbort = (): void => (clearTimeout(t), reject(signal!.reason));
      signal?.addEventListener('abort', onAbort, { once: true });
      void this.#done!.then(() => (clearTimeout(t), signal?.removeEventListener('abort', onAbort), resolve()));
    });
  }

  /**
   * Blocking `join`: returns at once when the task has ended; with `ms`, blocks
   * the thread that long (the task cannot progress meanwhile).
   * @throws ProcessError when the task is still running and no `ms` is given:
   *   it could never end while this one thread is blocked.
   */
  joinSync(ms?: number): void {
    if (!this.#started) throw new ProcessError(`can only join a started process: call start() on ${this.#name} first`);
    const timeout = validateTimeout(ms, 'ms');
    if (this.#finished) return;
    if (timeout === undefined) throw wouldHang('joinSync()', `${this.#name} is still running`);
    sleepSync(timeout);
  }

  /** True between `start()` and the end of `run()`. */
  isAlive(): boolean {
    return this.#started && !this.#finished;
  }

  /** Name of the task. */
  get name(): string {
    return this.#name;
  }
  /** Renames the process. @throws TypeError for a non-string. */
  set name(v: string) {
    if (typeof v !== 'string') throw new TypeError(`name must be a string; received ${typeof v}`);
    this.#name = v;
  }

  /** Daemon flag (kept for compatibility: it changes nothing here). */
  get daemon(): boolean {
    return this.#daemon;
  }
  /** Sets the daemon flag. @throws ProcessError after `start()`. */
  set daemon(v: boolean) {
    if (this.#started) throw new ProcessError(`process has already started (${this.#name}): set daemon before start()`);
    this.#daemon = v;
  }

  /** 0 after a normal end, 1 if `run()` threw, `null` before. (Python's threads have none; kept for symmetry.) */
  get exitCode(): number | null {
    return this.#exitCode;
  }

  /** Python-style description. */
  toString(): string {
    const state = !this.#started ? 'initial' : this.#finished ? 'stopped' : 'started';
    return `<DummyProcess(${this.#name}, ${state}${this.#daemon ? ' daemon' : ''})>`;
  }
}

/** The running dummy task (a `Process`, or a `Pool` worker), or `null` outside one. */
export function currentProcess(): Process | null {
  return current.getStore() ?? null;
}

/** The dummy tasks (processes and pool workers) started and not yet finished. */
export function activeChildren(): Process[] {
  return [...live];
}
