/**
 * `Process` and the module functions about processes (Python's
 * `multiprocessing.process`).
 * @module
 */
import { isMainThread } from 'node:worker_threads';
import { readFileSync } from 'node:fs';

const sleeper = new Int32Array(new SharedArrayBuffer(4));
import { ProcessError } from './errors.js';
import { nodeOs } from './internal/builtins.js';
import { state } from './internal/state.js';
import { encode, encodingFor, retainAll, collectInFlight } from './reduction.js';
import { lookupFunction } from './fnref.js';
import { acquireWorker, returnWorker } from './internal/spawner.js';
import { getLogger } from './logging.js';
import { validateTimeout, validateSignal, type WaitOptions } from './internal/validators.js';
import type { WorkerHandle, ResourceLimits } from './backends/index.js';
import { moduleKey, type Encoded, type FnRefData, type RunSpec } from './protocol/messages.js';

/** How a child is run: worker threads, or OS processes. */
export type StartMethod = 'thread' | 'process';

/** Options of `new Process(...)`. */
export interface ProcessOptions<A extends unknown[] = unknown[]> {
  /**
   * The function the child runs (Python's `target`): a top-level exported
   * function of a module, or a {@link fnRef}. Not needed by a subclass that
   * overrides `run()`.
   */
  target?: (...args: A) => unknown;
  /** Arguments for `target`, copied by structured clone. @default [] */
  args?: A;
  /** Name of the process. @default `Process-N` (nested: `Process-1:2`) */
  name?: string;
  /**
   * Daemonic children are ended when their parent exits and never keep it
   * alive. @default the creating process's own flag (false in the main process)
   */
  daemon?: boolean;
  /** Environment of the child. @default a copy of `process.env` */
  env?: Record<string, string | undefined>;
  /** Working directory of the child (`'process'` start method only). */
  cwd?: string;
  /** Extra Node.js flags for the child, after the parent's own. */
  execArgv?: string[];
  /** Heap and stack limits of the child. */
  resourceLimits?: ResourceLimits;
}

const kMethod = Symbol.for('multiprocessing-ts.startMethod');
const kDisplayName = Symbol.for('multiprocessing-ts.processDisplayName');
const kRole = Symbol('role');

type Role =
  | { kind: 'child-self'; spec: RunSpec }
  | { kind: 'main-self' }
  | { kind: 'parent'; info: { name: string; pid: number; ident: number } };

function signalNumber(sig: string | null): number | null {
  if (!sig) return null;
  const n = (nodeOs().constants.signals as Record<string, number>)[sig];
  return typeof n === 'number' ? n : null;
}

let signalsInstalled = false;

function installSignalForwarding(): void {
  if (signalsInstalled) return;
  signalsInstalled = true;
  // Python's exit handler ends daemonic children; non-daemonic ones kept us alive until done.
  process.once('exit', () => {
    for (const child of state().children as Set<Process>) child._onParentExit();
  });
  // Only the main process forwards: signals reach a process's main thread only, and a child that
  // is terminated orphans its own non-daemonic children, as in Python (daemonic ones end themselves).
  if (!isMainThread || !state().isMain) return;
  const forward = (sig: NodeJS.Signals) => {
    const handler = (): void => {
      for (const child of state().children as Set<Process>) child._forwardSignal(sig);
      // If nobody else handles the signal, behave as if we were not there: die of it.
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, handler);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, handler);
  };
  forward('SIGINT');
  forward('SIGTERM');
  forward('SIGHUP');
}

/** Gives back the pipe-end copies kept by a Process that was collected without being started. */
const unstartedRegistry = new FinalizationRegistry<Array<() => void>>((releases) => {
  for (const release of releases) release();
});

/**
 * A child process or thread running `target(...args)` or a subclass's `run()`
 * (Python's `multiprocessing.Process`).
 *
 * @typeParam A - argument types of `target`.
 * @example
 * ```ts
 * // main.ts
 * import { Process, isMain } from 'multiprocessing-ts';
 * export function greet(who: string) { console.log(`hello ${who}`); }
 * if (isMain()) {
 *   const p = new Process({ target: greet, args: ['bob'] });
 *   p.start();
 *   await p.join();
 *   console.log(p.exitCode); // 0
 * }
 * ```
 *
 * Subclasses override `run()` (sync or async) and must be exported from their
 * module; the child runs `run()` on a copy of the instance's own fields
 * (public fields; `#private` fields of the subclass are not copied).
 */
export class Process<A extends unknown[] = unknown[]> {
  /** @internal start method of this class (set on context classes). */
  static [kMethod]: StartMethod | null = null;

  #name: string;
  #daemon: boolean | null;
  #target: ((...args: unknown[]) => unknown) | null;
  #targetRef: FnRefData | null = null;
  #args: unknown[];
  #options: Pick<ProcessOptions, 'env' | 'cwd' | 'execArgv' | 'resourceLimits'>;
  #identity: number[];
  #handle: WorkerHandle | null = null;
  #method: StartMethod | null = null;
  #started = false;
  #closed = false;
  #exitCode: number | null = null;
  #stopRequested: 'SIGTERM' | 'SIGKILL' | null = null;
  #joinWaiters = 0;
  #exited: Promise<void> | null = null;
  /** Copies of counted handles (pipe ends) in args, kept until start() has sent its own. */
  #retained: Array<() => void> = [];
  /** Threads: [ended, exit code] written by the child at exit (joinSync). */
  #exitFlag: Int32Array | null = null;
  #role: Role | null = null;

  /**
   * @param options - target, args, name, daemon and worker options; see {@link ProcessOptions}.
   * @throws TypeError for an option of the wrong type; ProcessError when `target`
   *   cannot be sent to a worker (a closure, a method, a non-exported function).
   */
  constructor(options: ProcessOptions<A> = {}) {
    const role = (options as { [kRole]?: Role })[kRole];
    if (role) {
      this.#role = role;
      if (role.kind === 'child-self') {
        this.#name = role.spec.name;
        this.#daemon = role.spec.daemon;
        this.#identity = role.spec.identity;
        this.#started = true;
      } else if (role.kind === 'main-self') {
        this.#name = state().self.name;
        this.#daemon = false;
        this.#identity = [];
        this.#started = true;
      } else {
        this.#name = role.info.name;
        this.#daemon = false;
        this.#identity = [];
        this.#started = true;
      }
      this.#target = null;
      this.#args = [];
      this.#options = {};
      return;
    }
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`Process options must be an object; received ${options === null ? 'null' : typeof options}`);
    }
    const { target, args, name, daemon, env, cwd, execArgv, resourceLimits } = options;
    if (target !== undefined && target !== null && typeof target !== 'function') {
      throw new TypeError(`target must be a function; received ${typeof target}`);
    }
    if (args !== undefined && !Array.isArray(args)) {
      throw new TypeError(`args must be an array; received ${args === null ? 'null' : typeof args}`);
    }
    if (name !== undefined && typeof name !== 'string') {
      throw new TypeError(`name must be a string; received ${typeof name}`);
    }
    if (daemon !== undefined && daemon !== null && typeof daemon !== 'boolean') {
      throw new TypeError(`daemon must be a boolean; received ${typeof daemon}`);
    }
    if (env !== undefined && (typeof env !== 'object' || env === null)) {
      throw new TypeError(`env must be an object of strings; received ${env === null ? 'null' : typeof env}`);
    }
    if (cwd !== undefined && typeof cwd !== 'string') {
      throw new TypeError(`cwd must be a string; received ${typeof cwd}`);
    }
    if (execArgv !== undefined && (!Array.isArray(execArgv) || execArgv.some((a) => typeof a !== 'string'))) {
      throw new TypeError('execArgv must be an array of strings');
    }
    if (resourceLimits !== undefined && (typeof resourceLimits !== 'object' || resourceLimits === null)) {
      throw new TypeError(`resourceLimits must be an object; received ${resourceLimits === null ? 'null' : typeof resourceLimits}`);
    }
    this.#target = (target as ((...args: unknown[]) => unknown) | undefined) ?? null;
    // Find the target's module now, so a function a worker could not import fails at the call.
    if (this.#target) this.#targetRef = lookupFunction(this.#target);
    this.#args = args ? [...args] : [];
    // A pipe end passed here stays open for this child even if the caller closes its copy
    // before start() (released at start, or when this object is collected unstarted).
    this.#retained = retainAll(this.#args);
    if (this.#retained.length) unstartedRegistry.register(this, this.#retained, this);
    this.#options = { env, cwd, execArgv, resourceLimits };
    const st = state();
    this.#identity = [...st.self.identity, ++st.childCounter];
    this.#daemon = daemon ?? null;
    this.#name = name ?? `${displayName(new.target)}-${this.#identity.join(':')}`;
  }

  /**
   * The child's activity. The default calls `target(...args)`; subclasses
   * override it (sync or async). Called in the child, never in the parent.
   */
  run(): unknown {
    const t = this.#target;
    if (t) return t(...this.#args);
    return undefined;
  }

  /** Start method of this process object. */
  #startMethod(): StartMethod {
    const fromClass = (this.constructor as unknown as { [kMethod]?: StartMethod | null })[kMethod];
    if (fromClass) return fromClass;
    // Like Python, the first start on the default context fixes the default start method.
    const st = state();
    return (st.startMethod ??= 'thread');
  }

  #assertNotClosed(): void {
    if (this.#closed) {
      throw new ProcessError(`process object is closed (${this.#name}); create a new Process to run again`);
    }
  }

  #assertOwnChild(what: string): void {
    if (this.#role) {
      throw new ProcessError(
        `can only ${what} a child process: ${this.#name} is ${this.#role.kind === 'parent' ? 'the parent' : 'the current process'}`,
      );
    }
  }

  /**
   * Starts the child (Python's `start()`). Synchronous: the child is on its way when it returns.
   * @throws ProcessError if already started or closed, or when called while a
   *   worker is importing its modules (guard the entry script with `if (isMain())`).
   */
  start(): void {
    this.#assertNotClosed();
    this.#assertOwnChild('start');
    if (this.#started) {
      throw new ProcessError(`cannot start a process twice (${this.#name}); create a new Process object to run it again`);
    }
    const st = state();
    if (st.bootstrapping) {
      throw new ProcessError(
        `${this.#name} was started while a worker was importing its modules. This happens when the main module ` +
          `starts processes at its top level: a worker imports that module to find your functions. ` +
          `Put the code that starts processes under \`if (isMain()) { ... }\` (Python's \`if __name__ == '__main__':\`).`,
      );
    }
    const method = this.#startMethod();
    const daemon = this.#daemon ?? st.self.daemon;
    this.#daemon = daemon;
    const isSubclass = this.run !== Process.prototype.run;
    let cls: FnRefData | null = null;
    let fields: Encoded | null = null;
    let fieldsInFlight: Array<() => void> = [];
    if (isSubclass) {
      cls = lookupFunction(this.constructor);
      const f = collectInFlight(() => encodingFor(method, () => encode(this.#ownFields(), 'fields')));
      fields = f.result;
      fieldsInFlight = f.inFlight;
    }
    // Copies of pipe ends counted while encoding: given back if the child ends before taking them.
    const flight = collectInFlight(() => encodingFor(method, () => encode(this.#args, 'args')));
    let args = flight.result;
    let inFlight = [...fieldsInFlight, ...flight.inFlight];
    const targetRef = isSubclass ? null : this.#targetRef;
    for (const ref of [cls, targetRef]) if (ref) st.targetModules.add(moduleKey(ref));

    const spec: RunSpec = {
      name: this.#name,
      identity: this.#identity,
      daemon,
      parent: { name: st.self.name, pid: st.self.pid, ident: st.self.ident },
      target: targetRef,
      args,
      cls,
      fields,
      logLevel: getLogger().isEnabledFor(getLogger().level) ? getLogger().level : null,
    };
    if (method === 'thread') {
      this.#exitFlag = new Int32Array(new SharedArrayBuffer(8));
      spec.exitFlag = this.#exitFlag.buffer as SharedArrayBuffer;
    }
    const { handle, warm } = acquireWorker(method, this.#options);
    try {
      try {
        handle.sendControl({ t: 'run', spec });
      } catch (err) {
        if ((err as Error)?.name !== 'DataCloneError') throw err;
        // The fast path let something through that structured clone refuses: walk
        // the values, which either converts it or names the offending part.
        for (const release of inFlight) release();
        const again = collectInFlight(() => encodingFor(method, () => encode(this.#args, 'args', true)));
        args = again.result;
        inFlight = again.inFlight;
        spec.args = args;
        if (isSubclass) {
          const f = collectInFlight(() => encodingFor(method, () => encode(this.#ownFields(), 'fields', true)));
          spec.fields = f.result;
          inFlight = [...inFlight, ...f.inFlight];
        }
        handle.sendControl({ t: 'run', spec });
      }
    } catch (err) {
      for (const release of inFlight) release();
      returnWorker(method, handle, warm);
      throw err;
    }
    unstartedRegistry.unregister(this);
    for (const release of this.#retained) release();
    this.#retained = [];
    this.#handle = handle;
    this.#method = method;
    this.#started = true;
    // Python drops its references to target and args once started (bpo-30775).
    this.#args = [];
    st.children.add(this);
    this.#updateRef();
    this.#exited = handle.exited.then(({ code, signal }) => {
      let exitCode: number;
      const sig = signalNumber(signal);
      if (sig !== null) exitCode = -sig;
      else if (this.#stopRequested && method === 'thread') exitCode = -(signalNumber(this.#stopRequested) ?? 15);
      else exitCode = code ?? 1;
      this.#exitCode = exitCode;
      st.children.delete(this);
      // Copies the child never took (it ended first) must not keep pipes open.
      for (const release of inFlight) release();
      getLogger().info(`process ${this.#name} (${method} ${handle.ident}) exited with exitcode ${exitCode}`);
    });
    installSignalForwarding();
    getLogger().info(`process ${this.#name} started (${method}${warm ? ', warm' : ''}, ${method === 'process' ? 'pid' : 'thread'} ${handle.ident})`);
  }

  #ownFields(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    // Internal state is #private: own enumerable keys are the user's fields.
    for (const key of Object.keys(this)) out[key] = (this as Record<string, unknown>)[key];
    return out;
  }

  /** @internal resolves when the started child has ended, without keeping the program alive (pools). */
  _whenExited(): Promise<void> {
    return this.#exited ?? Promise.resolve();
  }

  #updateRef(): void {
    const h = this.#handle;
    if (!h || h.hasExited) return;
    if (!this.#daemon || this.#joinWaiters > 0) h.ref();
    else h.unref();
  }

  /**
   * Waits until the child has ended, or `ms` milliseconds have passed
   * (Python's `join(timeout)`). Resolves to `undefined` in both cases: check
   * `exitCode` or `isAlive()` to tell them apart.
   * @param ms - timeout in milliseconds; `undefined` waits forever; 0 or less does not wait.
   * @param options - `signal`: an AbortSignal that rejects the wait with its reason.
   * @throws ProcessError if the process was never started, is closed, or is not a child of this one.
   */
  async join(ms?: number, options?: WaitOptions): Promise<void> {
    this.#assertNotClosed();
    if (this.#role?.kind === 'parent') return this.#joinParent(ms, options);
    this.#assertOwnChild('join');
    if (!this.#started) {
      throw new ProcessError(`can only join a started process: call start() on ${this.#name} first`);
    }
    const timeout = validateTimeout(ms, 'ms');
    const signal = validateSignal(options);
    signal?.throwIfAborted();
    if (this.#exitCode !== null) return;
    if (timeout !== undefined && timeout <= 0) return;
    this.#joinWaiters++;
    this.#updateRef();
    try {
      await new Promise<void>((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        const onAbort = () => {
          cleanup();
          reject(signal!.reason);
        };
        const cleanup = () => {
          if (timer) clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        };
        if (timeout !== undefined) timer = setTimeout(() => (cleanup(), resolve()), timeout);
        signal?.addEventListener('abort', onAbort, { once: true });
        void this.#exited!.then(() => (cleanup(), resolve()));
      });
    } finally {
      this.#joinWaiters--;
      this.#updateRef();
    }
  }

  /**
   * Blocks this thread until the child has ended or `ms` passed (Python's
   * blocking `join`), without the event loop: the child's end is read from
   * shared memory (threads) or from the kernel (processes). `exitCode` is set
   * when it returns after the child ended.
   * @throws ProcessError before start, after close, or on the current process (it could never end).
   */
  joinSync(ms?: number): void {
    this.#assertNotClosed();
    if (this.#role) {
      throw new ProcessError(`joinSync() on ${this.#name} could never return: it is ${this.#role.kind === 'parent' ? 'the parent' : 'the current process'}`);
    }
    if (!this.#started) throw new ProcessError(`can only join a started process: call start() on ${this.#name} first`);
    const t = validateTimeout(ms, 'ms');
    const deadline = t === undefined ? Infinity : performance.now() + Math.max(0, t);
    for (;;) {
      if (this.#exitCode !== null) return;
      const code = this.#endedCode();
      if (code !== null) {
        this.#exitCode = code;
        return;
      }
      const left = deadline - performance.now();
      if (left <= 0) return;
      const slice = Math.min(left, this.#exitFlag ? 100 : 5);
      if (this.#exitFlag) Atomics.wait(this.#exitFlag, 0, 0, slice);
      else Atomics.wait(sleeper, 0, 0, slice);
    }
  }

  /** Exit code of an ended child, read without the event loop; null while it runs. */
  #endedCode(): number | null {
    const flag = this.#exitFlag;
    if (flag) return Atomics.load(flag, 0) === 0 ? null : Atomics.load(flag, 1);
    const pid = this.#handle?.pid;
    if (!pid || pid < 0) return null;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      // Reaped already: the exit event carries the code; report the end.
      return this.#handle?.hasExited ? this.#exitCode : -1;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] !== 'Z') return null;
    // Field 52 of /proc/<pid>/stat: the status as waitpid() reports it.
    const status = Number(fields[49]);
    const sig = status & 0x7f;
    return sig !== 0 ? -sig : (status >> 8) & 0xff;
  }

  async #joinParent(ms: number | undefined, options: WaitOptions | undefined): Promise<void> {
    const timeout = validateTimeout(ms, 'ms');
    const signal = validateSignal(options);
    signal?.throwIfAborted();
    const deadline = timeout === undefined ? Infinity : Date.now() + Math.max(0, timeout);
    while (this.isAlive() && Date.now() < deadline) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, Math.min(50, Math.max(0, deadline - Date.now())));
        signal?.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true });
      });
    }
  }

  /**
   * Whether the child is running: false before `start()`, true until it has
   * ended. For `currentProcess()` always true.
   */
  isAlive(): boolean {
    this.#assertNotClosed();
    const role = this.#role;
    if (role?.kind === 'main-self' || role?.kind === 'child-self') return true;
    if (role?.kind === 'parent') return parentAlive(role.info.pid);
    if (!this.#started) return false;
    return this.#exitCode === null && !(this.#handle?.hasExited ?? true);
  }

  /**
   * Stops the child as SIGTERM does (Python's `terminate()`); `exitCode`
   * becomes -15. `finally` blocks and exit handlers of the child do not run.
   * No effect once the child has ended.
   */
  terminate(): void {
    this.#stop('SIGTERM');
  }

  /** Stops the child as SIGKILL does; `exitCode` becomes -9. */
  kill(): void {
    this.#stop('SIGKILL');
  }

  #stop(sig: 'SIGTERM' | 'SIGKILL'): void {
    this.#assertNotClosed();
    this.#assertOwnChild(sig === 'SIGTERM' ? 'terminate' : 'kill');
    if (!this.#started) {
      throw new ProcessError(`cannot ${sig === 'SIGTERM' ? 'terminate' : 'kill'} ${this.#name}: it was never started`);
    }
    const h = this.#handle;
    if (!h || h.hasExited || this.#exitCode !== null) return;
    this.#stopRequested ??= sig;
    if (sig === 'SIGTERM') h.terminate();
    else h.kill();
    // A terminated thread runs no more JavaScript: record its end for joinSync() here.
    const flag = this.#exitFlag;
    if (flag && Atomics.load(flag, 0) === 0) {
      Atomics.store(flag, 1, sig === 'SIGTERM' ? -15 : -9);
      Atomics.store(flag, 0, 2);
      Atomics.notify(flag, 0);
    }
  }

  /**
   * @internal asks the running child to import these modules now (keys as in
   * `state().targetModules`): a pool names its tasks' modules to workers that are
   * still starting, so that the import overlaps their start-up.
   */
  _preload(modules: string[]): void {
    const h = this.#handle;
    if (!h || h.hasExited) return;
    try {
      h.sendControl({ t: 'preload', modules });
    } catch {
      // Only a hint: the child imports the modules when it needs them anyway.
    }
  }

  /** @internal calls `fn` once the started child has loaded its target and is about to call it (pools). */
  _onRunning(fn: () => void): void {
    this.#handle?.onControl((msg) => {
      if (msg.t === 'running') fn();
    });
  }

  /** @internal forwards a signal the parent received (Ctrl-C, SIGTERM). */
  _forwardSignal(sig: NodeJS.Signals): void {
    const h = this.#handle;
    if (!h || h.hasExited) return;
    if (h.method === 'thread') return; // threads end with their process
    h.signal(sig);
  }

  /** @internal the parent is exiting: daemonic children are ended (Python's exit handler). */
  _onParentExit(): void {
    const h = this.#handle;
    if (!h || h.hasExited) return;
    if (this.#daemon && h.method === 'process') {
      this.#stopRequested ??= 'SIGTERM';
      h.terminate();
    }
  }

  /**
   * Releases the process object (Python's `close()`). Afterwards `pid`,
   * `exitCode`, `isAlive()`, `join()`, `terminate()` throw; `name` still works.
   * @throws ProcessError while the child is still running.
   */
  close(): void {
    if (this.#closed) return;
    if (this.#started && !this.#role && this.#exitCode === null && !(this.#handle?.hasExited ?? true)) {
      throw new ProcessError(
        `Cannot close a process while it is still running (${this.#name}). You should first call join() or terminate().`,
      );
    }
    this.#closed = true;
    this.#handle = null;
  }

  /** Name of the process; settable. Default `Process-N` (nested `Process-1:2`), or the subclass name. */
  get name(): string {
    return this.#name;
  }
  /** Renames the process. @throws TypeError for a non-string. */
  set name(value: string) {
    if (typeof value !== 'string') throw new TypeError(`name must be a string; received ${typeof value}`);
    this.#name = value;
  }

  /** Daemon flag; settable only before `start()`. */
  get daemon(): boolean {
    return this.#daemon ?? state().self.daemon;
  }
  /** Sets the daemon flag. @throws ProcessError after `start()`. */
  set daemon(value: boolean) {
    if (typeof value !== 'boolean') throw new TypeError(`daemon must be a boolean; received ${typeof value}`);
    if (this.#started) {
      throw new ProcessError(`process has already started (${this.#name}): set daemon before start()`);
    }
    this.#daemon = value;
  }

  /** OS process id: the child's for the `'process'` start method, this process's for `'thread'`; `null` before start. */
  get pid(): number | null {
    this.#assertNotClosed();
    const role = this.#role;
    if (role?.kind === 'parent') return role.info.pid;
    if (role) return process.pid;
    return this.#handle?.pid ?? null;
  }

  /** Unique id of the child: its pid, or its thread id on the `'thread'` start method; `null` before start. */
  get ident(): number | null {
    this.#assertNotClosed();
    const role = this.#role;
    if (role?.kind === 'parent') return role.info.ident;
    if (role) return state().self.ident;
    return this.#handle?.ident ?? null;
  }

  /**
   * `null` while running (or before start); 0 after a normal end; 1 when the
   * child threw; `n` after `process.exit(n)`; `-N` when ended by signal N
   * (-15 after `terminate()`, -9 after `kill()`).
   */
  get exitCode(): number | null {
    this.#assertNotClosed();
    return this.#exitCode;
  }

  /** Start method this process runs (or will run) on. */
  get startMethod(): StartMethod {
    return this.#method ?? this.#startMethod();
  }

  /** Python-style description, e.g. `<Process name='Process-1' pid=123 parent=100 started>`. */
  toString(): string {
    const cls = displayName(this.constructor);
    let status: string;
    if (this.#closed) status = 'closed';
    else if (this.#role) status = 'started';
    else if (!this.#started) status = 'initial';
    else if (this.#exitCode !== null) status = `stopped exitcode=${this.#exitCode}`;
    else status = 'started';
    const pid = this.#closed ? '' : this.#handle ? ` ident=${this.#handle.ident}` : '';
    return `<${cls} name='${this.#name}'${pid} ${status}${this.daemon ? ' daemon' : ''}>`;
  }

  /** @internal */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

// The package's own class shows as `Process` even when a bundler renamed the
// class binding (tsup emits `class _Process`); subclasses show their own name.
Object.defineProperty(Process, kDisplayName, { value: 'Process' });

/** The class name used in default names and descriptions. */
function displayName(ctor: unknown): string {
  const c = ctor as { [kDisplayName]?: string; name?: string };
  return Object.hasOwn(c, kDisplayName) ? c[kDisplayName]! : c.name || 'Process';
}

function parentAlive(pid: number): boolean {
  if (state().self.startMethod !== 'process') return true; // a thread's parent outlives it
  if (!process.connected) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Marks a context's Process class. @internal */
export function bindProcessClass(method: StartMethod): typeof Process {
  const C = class Process extends ProcessBase {};
  Object.defineProperty(C, kMethod, { value: method, writable: false });
  Object.defineProperty(C, kDisplayName, { value: 'Process' });
  return C as typeof ProcessBase;
}
const ProcessBase = Process;

/** Builds the child-side Process object (a subclass instance when `cls` is given). @internal */
export function reviveProcess(
  cls: (new () => Process) | null,
  fields: Record<string, unknown>,
  spec: RunSpec,
): Process {
  const opts = { [kRole]: { kind: 'child-self', spec } as Role };
  const self = Reflect.construct(Process, [opts], cls ?? Process) as Process;
  Object.assign(self, fields);
  return self;
}

const kCurrent = Symbol.for('multiprocessing-ts.currentProcess');

/** Sets what currentProcess() returns in this worker. @internal */
export function setCurrentProcess(p: Process): void {
  (globalThis as unknown as Record<symbol, Process>)[kCurrent] = p;
}

/**
 * The Process object of the running code (Python's `current_process()`):
 * `MainProcess` in the main process, the child's own object in a child.
 */
export function currentProcess(): Process {
  const g = globalThis as unknown as Record<symbol, Process | undefined>;
  let p = g[kCurrent];
  if (!p) {
    p = new Process({ [kRole]: { kind: 'main-self' } } as ProcessOptions);
    g[kCurrent] = p;
  }
  return p;
}

/**
 * The parent of the running child, or `null` in the main process (Python's
 * `parent_process()`). Its `isAlive()` notices the parent's death on the
 * `'process'` start method; `join(ms)` waits for it.
 */
export function parentProcess(): Process | null {
  const parent = state().parent;
  if (!parent) return null;
  return new Process({ [kRole]: { kind: 'parent', info: parent } } as ProcessOptions);
}

/** The started children of this process that are still alive (a new array each call). */
export function activeChildren(): Process[] {
  return [...(state().children as Set<Process>)].filter((p) => p.isAlive());
}

/** Number of CPUs this process may use (`os.availableParallelism()`). */
export function cpuCount(): number {
  return nodeOs().availableParallelism();
}

/**
 * True only in the original main thread of the main process (Python's
 * `if __name__ == '__main__'`). Workers import the entry script to find its
 * functions: guard the code that starts processes with `if (isMain())`.
 */
export function isMain(): boolean {
  return state().isMain;
}
