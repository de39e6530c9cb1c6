/**
 * Getting a worker to run a child: a warm standby when one is ready (our
 * forkserver), else a cold spawn.
 *
 * A standby is booted ahead of need (loader registered, the modules that
 * targets came from so far already imported) and waits for its `run`
 * message. Rules: none exists until the program first starts a child of that
 * start method; one per start method; used only by children with default
 * `env`/`cwd`/`execArgv`/`resourceLimits`, and discarded when the program's
 * environment or working directory changed since it was booted; not refilled
 * while a pool keeps every core busy; never keeps the program alive.
 * @internal
 */
import { backends, type SpawnOptions, type WorkerHandle } from '../backends/index.js';
import type { BootData } from '../protocol/messages.js';
import { loaderSpec } from './loaders.js';
import { liveTable } from './liveness.js';
import { state } from './state.js';
import { getLogger } from '../logging.js';
import { memoryForChild } from './memory.js';
import { brokerPath } from './broker.js';
import { watchSegments } from './segments.js';

type Method = 'thread' | 'process';

interface Standby {
  handle: WorkerHandle;
  envKey: string;
  cwd: string;
}

interface SpawnerState {
  standby: Record<Method, Standby | null>;
  refillScheduled: Record<Method, boolean>;
  /** Set to false to turn standbys off (tests, benchmarks of cold start). */
  enabled: boolean;
  exitHookInstalled: boolean;
}

const KEY = Symbol.for('multiprocessing-ts.spawner');

function sp(): SpawnerState {
  const g = globalThis as unknown as Record<symbol, SpawnerState | undefined>;
  return (g[KEY] ??= {
    standby: { thread: null, process: null },
    refillScheduled: { thread: false, process: false },
    enabled: process.env.MULTIPROCESSING_TS_NO_STANDBY === undefined,
    exitHookInstalled: false,
  });
}

/** Options that make a child need a worker of its own. */
export interface WorkerOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  execArgv?: string[];
  resourceLimits?: SpawnOptions['resourceLimits'];
}

function envKey(env: NodeJS.ProcessEnv): string {
  const keys = Object.keys(env).sort();
  let out = '';
  for (const k of keys) out += `${k}=${env[k]}\0`;
  return out;
}

/** Boot data for a new worker of `method`. */
export function bootData(method: Method): BootData {
  const logger = getLogger();
  const live = method === 'thread' ? liveTable() : null;
  if (method === 'thread') watchSegments();
  return {
    ...(live ? { liveThreads: live.buffer as SharedArrayBuffer } : {}),
    v: 1,
    startMethod: method,
    loaders: loaderSpec(),
    preload: [...state().targetModules],
    parentPid: process.pid,
    logLevel: logger.isEnabledFor(logger.level) ? logger.level : null,
    memory: memoryForChild(method, brokerPath),
  };
}

function installExitHook(s: SpawnerState): void {
  if (s.exitHookInstalled) return;
  s.exitHookInstalled = true;
  process.once('exit', () => {
    for (const m of ['thread', 'process'] as const) {
      const sb = s.standby[m];
      s.standby[m] = null;
      sb?.handle.kill();
    }
  });
}

function spawnStandby(method: Method): void {
  const s = sp();
  s.refillScheduled[method] = false;
  if (!s.enabled || s.standby[method] || state().saturatedPools > 0) return;
  let handle: WorkerHandle;
  try {
    handle = backends[method].spawn({ boot: bootData(method) });
  } catch (e) {
    getLogger().warn(`could not start a standby ${method} worker: ${(e as Error).message}`);
    return;
  }
  handle.unref();
  const sb: Standby = { handle, envKey: envKey(process.env), cwd: process.cwd() };
  s.standby[method] = sb;
  installExitHook(s);
  void handle.exited.then(() => {
    if (s.standby[method] === sb) s.standby[method] = null;
  });
  getLogger().debug(`standby ${method} worker ${handle.ident} booting`);
}

function scheduleRefill(method: Method): void {
  const s = sp();
  if (!s.enabled || s.refillScheduled[method]) return;
  s.refillScheduled[method] = true;
  setImmediate(() => spawnStandby(method));
}

function takeStandby(method: Method): WorkerHandle | null {
  const s = sp();
  const sb = s.standby[method];
  if (!sb) return null;
  s.standby[method] = null;
  if (sb.handle.hasExited) return null;
  if (sb.cwd !== process.cwd() || sb.envKey !== envKey(process.env)) {
    getLogger().debug(`standby ${method} worker discarded: environment or cwd changed`);
    sb.handle.kill();
    return null;
  }
  return sb.handle;
}

/**
 * A worker ready to receive a `run` message. `warm` tells whether it came
 * from the standby.
 */
export function acquireWorker(method: Method, options: WorkerOptions): { handle: WorkerHandle; warm: boolean } {
  const custom =
    options.env !== undefined ||
    options.cwd !== undefined ||
    options.execArgv !== undefined ||
    options.resourceLimits !== undefined;
  let handle: WorkerHandle | null = custom ? null : takeStandby(method);
  const warm = handle !== null;
  handle ??= backends[method].spawn({ ...options, boot: bootData(method) });
  if (!custom) {
    // Boot the next standby once this child is running (or gone), not beside it: on a
    // machine with few cores the two boots would slow each other down.
    let refilled = false;
    const refill = () => {
      if (refilled) return;
      refilled = true;
      scheduleRefill(method);
    };
    handle.onControl((msg) => {
      if (msg.t === 'running') refill();
    });
    void handle.exited.then(refill);
  }
  return { handle, warm };
}

/** Gives back a standby that was taken but not used (its run message could not be built). */
export function returnWorker(method: Method, handle: WorkerHandle, warm: boolean): void {
  const s = sp();
  if (warm && !s.standby[method] && !handle.hasExited) {
    handle.unref();
    s.standby[method] = { handle, envKey: envKey(process.env), cwd: process.cwd() };
  } else {
    handle.kill();
  }
}
