/**
 * The one copy of the library's mutable state in this thread.
 *
 * It lives on `globalThis` under a `Symbol.for` key so that the ESM and the
 * CommonJS builds (or two installed copies) loaded by one program share it.
 * @internal
 */
import { threadId, isMainThread } from 'node:worker_threads';

/** What a child knows about the process that started it. */
export interface ParentInfo {
  name: string;
  pid: number;
  ident: number;
}

/** Identity of the running process (this thread). */
export interface SelfInfo {
  name: string;
  /** Path of child numbers from the main process: `[]` in main, `[1, 2]` for `Process-1:2`. */
  identity: number[];
  daemon: boolean;
  pid: number;
  ident: number;
  startMethod: 'thread' | 'process' | null;
  /** Set in a pool worker (later issues) so that names read `…PoolWorker-N`. */
  poolWorker?: boolean;
}

export interface RuntimeState {
  /** True only in the original main thread of the main process. */
  isMain: boolean;
  /** True while a worker is importing modules before running its target. */
  bootstrapping: boolean;
  self: SelfInfo;
  parent: ParentInfo | null;
  /** Counter of children started from here (Python's `_children` numbering). */
  childCounter: number;
  /** Live child Process objects started from this thread. */
  children: Set<object>;
  /** Registered classes, by registration name. */
  classes: Map<string, abstract new (...args: never[]) => unknown>;
  /** Reverse index of {@link RuntimeState.classes}. */
  classNames: Map<unknown, string>;
  /** Revivers for library handles (locks, queues, …), by kind. */
  handleRevivers: Map<string, (state: unknown) => unknown>;
  /** Module URLs targets were imported from; warm standbys import them ahead. */
  targetModules: Set<string>;
  /** Default start method chosen with setStartMethod (null = not fixed yet). */
  startMethod: 'thread' | 'process' | null;
  /** How many pools currently keep every worker busy (standbys are not refilled then). */
  saturatedPools: number;
}

const KEY = Symbol.for('multiprocessing-ts.state');

function initial(): RuntimeState {
  const main = isMainThread && process.env.MULTIPROCESSING_TS_CHILD === undefined;
  return {
    isMain: main,
    bootstrapping: false,
    self: {
      name: 'MainProcess',
      identity: [],
      daemon: false,
      pid: process.pid,
      ident: isMainThread ? process.pid : threadId,
      startMethod: null,
    },
    parent: null,
    childCounter: 0,
    children: new Set(),
    classes: new Map(),
    classNames: new Map(),
    handleRevivers: new Map(),
    targetModules: new Set(),
    startMethod: null,
    saturatedPools: 0,
  };
}

/** The shared runtime state of this thread, created on first use. */
export function state(): RuntimeState {
  const g = globalThis as unknown as Record<symbol, RuntimeState | undefined>;
  let s = g[KEY];
  if (s === undefined) {
    s = initial();
    g[KEY] = s;
  }
  return s;
}

/**
 * Eight hex digits of randomness for the names of shared-memory segments and
 * sockets, beside the pid and a counter that already make them unique (a
 * collision only costs a retry: creation is exclusive). Not `node:crypto`:
 * loading it costs every new worker about 1 ms of its start-up.
 * @internal
 */
export function randomSuffix(): string {
  return ((Math.random() * 0x100000000) >>> 0).toString(16).padStart(8, '0');
}
