/**
 * Every message shape that crosses between a parent and a worker, in one place.
 *
 * Control messages travel apart from user data: on threads they use a
 * dedicated `MessagePort`, on processes they are tagged {@link CONTROL_TAG} on
 * the IPC channel; user data (later issues) uses {@link USER_TAG}.
 * @internal
 */

/** Bumped whenever a message shape changes incompatibly. */
export const PROTOCOL_VERSION = 1;

/** Tag of control messages on a child process's IPC channel. */
export const CONTROL_TAG = '__mp_ts_ctl__';
/** Tag of user-data messages on a child process's IPC channel. */
export const USER_TAG = '__mp_ts_usr__';

/** Where a function or class lives: enough for a worker to import it. */
export interface FnRefData {
  /** Module URL (`file:///…`) or bare specifier. */
  url: string;
  /** Export name (`'default'` for a default export). */
  name: string;
  /** How to load the module: ESM `import()` or CommonJS `require()`. */
  kind: 'esm' | 'cjs';
}

/**
 * A module to preload in workers (`'esm <url>'` / `'cjs <url>'`), as kept in the runtime state's
 * `targetModules` and sent in boot data and `preload` messages.
 */
export function moduleKey(ref: Pick<FnRefData, 'kind' | 'url'>): string {
  return `${ref.kind} ${ref.url}`;
}

/** The module a `moduleKey` names. */
export function parseModuleKey(key: string): Pick<FnRefData, 'kind' | 'url'> {
  const sp = key.indexOf(' ');
  return { kind: key.slice(0, sp) === 'cjs' ? 'cjs' : 'esm', url: key.slice(sp + 1) };
}

/** A value ready to cross: `walked` says whether it holds library markers to revive. */
export interface Encoded {
  data: unknown;
  walked: boolean;
}

/** Loader flags of the parent, replayed in a worker thread so `.ts` modules load. */
export interface LoaderSpec {
  requires: string[];
  imports: string[];
  loaders: string[];
}

/** Sent once, when a worker is created (thread: `workerData`; process: first control message). */
export interface BootData {
  v: typeof PROTOCOL_VERSION;
  startMethod: 'thread' | 'process';
  loaders: LoaderSpec;
  /** Modules to import ahead of time (warm standby). */
  preload: string[];
  /** Absolute-time origin of the parent, for start-up measurements. */
  parentPid: number;
  logLevel: number | null;
  /** Worker threads only: the process-wide table of ended threads (see internal/liveness). */
  liveThreads?: SharedArrayBuffer;
  /** The shared memory the worker must use: the parent's choice (see internal/memory). */
  memory?: { mode: 'native' | 'koffi' | 'local' | 'broker'; brokerPath?: string };
}

/** Everything a worker needs to become a given `Process` and run it. */
export interface RunSpec {
  name: string;
  identity: number[];
  daemon: boolean;
  parent: { name: string; pid: number; ident: number };
  /** Function target (a `Process` with `target`). */
  target: FnRefData | null;
  args: Encoded;
  /** Subclass whose `run()` is called on a copy of the instance fields. */
  cls: FnRefData | null;
  fields: Encoded | null;
  logLevel: number | null;
  /** Threads: [ended flag, exit code], written by the child as it exits (for joinSync). */
  exitFlag?: SharedArrayBuffer;
}

/** Parent → child. */
export type ParentMessage =
  | { t: 'boot'; boot: BootData }
  | { t: 'run'; spec: RunSpec }
  /** Modules (`'esm <url>'` / `'cjs <url>'`) the child will soon need: import them now, beside the rest. */
  | { t: 'preload'; modules: string[] }
  | { t: 'terminate'; signal: 'SIGTERM' | 'SIGKILL' };

/** Child → parent. */
export type ChildMessage =
  | { t: 'ready' }
  | { t: 'running' }
  | { t: 'failed'; error: Encoded }
  | { t: 'done' };

/** Wrapper of a control message on a child process's IPC channel. */
export interface TaggedControl<M> {
  [CONTROL_TAG]: M;
}

/** Helper for exhaustive switches over message kinds. */
export function assertNever(x: never, what: string): never {
  throw new Error(`multiprocessing-ts: unknown ${what}: ${JSON.stringify(x)}`);
}
