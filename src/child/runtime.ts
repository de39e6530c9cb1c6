/**
 * What runs inside every worker, whatever the start method: boot (loaders,
 * preloaded modules), then wait for a `run` message and become that Process.
 * @internal
 */
import { writeSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { fileURLToPath } from 'node:url';
import { state } from '../internal/state.js';
import { decode } from '../reduction.js';
import { loadEsModule, loadReference } from '../fnref.js';
import { getLogger, logToStderr } from '../logging.js';
import { setLiveTable } from '../internal/liveness.js';
import { setInheritedMemory } from '../internal/memory.js';
import { native } from '../internal/native.js';
import { nodeOs } from '../internal/builtins.js';
import { allowRequireEsm, importModule } from '../internal/import-module.js';
import { loaderSpec } from '../internal/loaders.js';
import { setLoadGuard } from '../internal/load-guard.js';
import { saveCodeCache } from '../internal/code-cache.js';
import { reviveProcess, setCurrentProcess, type Process } from '../process.js';
import { assertNever, parseModuleKey, type BootData, type ChildMessage, type LoaderSpec, type ParentMessage, type RunSpec } from '../protocol/messages.js';

/** The worker's end of the control channel. */
export interface ChildChannel {
  send(msg: ChildMessage): void;
  onMessage(listener: (msg: ParentMessage) => void): void;
  /**
   * The next message already waiting, taken at once (worker threads): the parent sends a
   * fresh worker its `run` message as it starts it, so it is there when the worker boots.
   */
  takeWaiting?(): ParentMessage | undefined;
  /** Keep this worker alive while waiting for messages. */
  hold(): void;
  /** Let this worker end once it has nothing else to do. */
  release(): void;
  /** Called when the parent vanished (processes only). */
  onParentGone(listener: () => void): void;
  /** Worker threads: the word shared with the parent that guards module loading (internal/load-guard.ts). */
  loadGuard?: SharedArrayBuffer;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

function writeAll(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        Atomics.wait(sleeper, 0, 0, 1);
        continue;
      }
      return; // EPIPE, EBADF: the reader is gone; drop like a closed stream would.
    }
  }
}

/**
 * Worker threads: write stdout/stderr straight to the file descriptors, so
 * output is prompt, ordered, and survives the thread's exit or termination
 * (Node would relay it through the parent's event loop).
 */
function redirectThreadOutput(): void {
  const make = (fd: number) =>
    function write(
      chunk: string | Uint8Array,
      encoding?: BufferEncoding | ((err?: Error | null) => void),
      cb?: (err?: Error | null) => void,
    ): boolean {
      if (typeof encoding === 'function') {
        cb = encoding;
        encoding = undefined;
      }
      const buf = typeof chunk === 'string' ? Buffer.from(chunk, encoding ?? 'utf8') : chunk;
      writeAll(fd, buf);
      if (cb) process.nextTick(cb, null);
      return true;
    };
  (process.stdout as unknown as { write: unknown }).write = make(1);
  (process.stderr as unknown as { write: unknown }).write = make(2);
}

/** Writes to stderr synchronously (works in threads and processes alike). */
export function writeStderr(text: string): void {
  writeAll(2, Buffer.from(text, 'utf8'));
}

/**
 * Replays the parent's loader flags in a worker thread (Node 20 does not give
 * a worker the hooks the main thread registered). A module loaded with
 * `--import` that exports `resolve`/`load` hooks is registered as a loader.
 */
async function replayLoaders(spec: LoaderSpec): Promise<void> {
  const req = createRequire(import.meta.url);
  for (const r of spec.requires) req(r);
  for (const url of spec.imports) {
    const ns = (await importModule(url)) as Record<string, unknown>;
    if (typeof ns.resolve === 'function' || typeof ns.load === 'function') {
      register(url, { data: {} });
    }
  }
  for (const l of spec.loaders) register(l, { data: {} });
}

async function preload(keys: string[]): Promise<void> {
  const req = createRequire(import.meta.url);
  for (const key of keys) {
    const { kind, url } = parseModuleKey(key);
    try {
      if (kind === 'cjs') req(url.startsWith('file:') ? fileURLToPath(url) : url);
      else await loadEsModule(url);
    } catch {
      // Reported when a target actually needs this module.
    }
  }
}

function describeError(err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  return `Uncaught ${typeof err === 'string' ? err : String(err)}`;
}

let failing = false;
function failAndExit(err: unknown): never {
  if (!failing) {
    failing = true;
    writeStderr(`Process ${state().self.name}:\n${describeError(err)}\n`);
  }
  process.exit(1);
}

/** Boots a worker and serves its control channel. */
export async function childMain(chan: ChildChannel, boot: BootData): Promise<void> {
  const st = state();
  st.isMain = false;
  st.bootstrapping = true;
  st.self = {
    name: 'Process',
    identity: [],
    daemon: false,
    pid: process.pid,
    ident: st.self.ident,
    startMethod: boot.startMethod,
  };
  if (boot.logLevel !== null) logToStderr(boot.logLevel);
  if (boot.liveThreads) setLiveTable(boot.liveThreads);
  setInheritedMemory(boot.memory);
  if (boot.startMethod === 'thread') redirectThreadOutput();
  // ES modules load with require() only where no module hooks are set, the parent's or this
  // worker's own (a process's NODE_OPTIONS may have been changed through its env).
  const hooked = (spec: LoaderSpec): boolean => spec.requires.length + spec.imports.length + spec.loaders.length > 0;
  setLoadGuard(chan.loadGuard);
  allowRequireEsm(!hooked(boot.loaders) && !hooked(loaderSpec()) && !/--experimental-default-type/.test(`${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`));
  process.on('uncaughtException', failAndExit);
  process.on('unhandledRejection', failAndExit);

  let spec: RunSpec | null = null;
  let running = false;
  chan.onParentGone(() => {
    // An orphaned standby, or a daemonic child whose parent vanished, ends itself.
    if (!running || state().self.daemon) process.kill(process.pid, 'SIGTERM');
  });
  chan.hold();
  // Loaders first (they may be needed to import anything of the user's); then the modules
  // earlier targets came from. A run message does not wait for those: its target's module and
  // its arguments' modules load beside them (the loader imports a module once), which saves
  // a cold worker the sum of the waits.
  const loaders = boot.startMethod === 'thread' ? replayLoaders(boot.loaders) : Promise.resolve();
  const ready = loaders.then(() => preload(boot.preload));
  const handle = (msg: ParentMessage): void => {
    switch (msg.t) {
      case 'boot':
        return;
      case 'run':
        if (running) return;
        running = true;
        spec = msg.spec;
        void loaders.then(() => run(chan, spec!, boot.parentPid)).catch(failAndExit);
        return;
      case 'preload':
        void loaders.then(() => preload(msg.modules));
        return;
      case 'terminate':
        process.exit(msg.signal === 'SIGKILL' ? 137 : 143);
      // eslint-disable-next-line no-fallthrough
      default:
        assertNever(msg, 'control message');
    }
  };
  chan.onMessage(handle);
  // Messages already there are handled now rather than on a later turn of the event loop
  // (about half a millisecond sooner to the first task of a new worker thread).
  if (chan.takeWaiting) for (let m = chan.takeWaiting(); m; m = chan.takeWaiting()) handle(m);
  try {
    await ready;
  } catch (err) {
    failAndExit(err);
  }
  chan.send({ t: 'ready' });
}

/**
 * A daemonic child process ends with its parent even while its event loop is busy (a task that
 * computes for minutes never sees the IPC channel close): the kernel kills it when the parent's
 * thread that started it ends. Without the native addon the channel's 'disconnect' does it, once
 * the loop is free.
 */
function endWithParent(parentPid: number): void {
  if (!native?.parentDeathSignal?.(nodeOs().constants.signals.SIGKILL)) return;
  // The parent may have gone before the request: then it never comes.
  if (process.ppid !== parentPid) process.kill(process.pid, 'SIGKILL');
}

async function run(chan: ChildChannel, spec: RunSpec, parentPid: number): Promise<void> {
  const st = state();
  st.self = {
    name: spec.name,
    identity: spec.identity,
    daemon: spec.daemon,
    pid: process.pid,
    ident: st.self.ident,
    startMethod: st.self.startMethod,
  };
  st.parent = spec.parent;
  st.childCounter = 0;
  if (spec.daemon && st.self.startMethod === 'process') endWithParent(parentPid);
  if (spec.exitFlag) {
    const flag = new Int32Array(spec.exitFlag);
    process.once('exit', (code) => {
      Atomics.store(flag, 1, typeof code === 'number' ? code : 0);
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
    });
  }
  if (spec.logLevel !== null) logToStderr(spec.logLevel);
  let self: Process;
  let call: () => unknown;
  try {
    st.bootstrapping = true;
    if (spec.cls) {
      // The modules load side by side; the fields are revived once the class's module has
      // run (it may register the classes they hold).
      const loading = loadReference(spec.cls);
      const [cls, decoded] = await Promise.all([loading, spec.fields ? decode(spec.fields, loading) : {}]);
      if (typeof cls !== 'function') {
        throw new TypeError(`${spec.cls.url} export '${spec.cls.name}' is not a class in this worker`);
      }
      const fields = decoded as Record<string, unknown>;
      self = reviveProcess(cls as new () => Process, fields, spec);
      call = () => self.run();
    } else {
      const loading = spec.target ? loadReference(spec.target) : null;
      const [target, args] = (await Promise.all([loading, decode(spec.args, loading ?? undefined)])) as [unknown, unknown[]];
      if (spec.target && typeof target !== 'function') {
        throw new TypeError(`${spec.target.url} export '${spec.target.name}' is not a function in this worker`);
      }
      self = reviveProcess(null, {}, spec);
      call = () => (target ? (target as (...a: unknown[]) => unknown)(...args) : undefined);
    }
  } finally {
    st.bootstrapping = false;
  }
  setCurrentProcess(self);
  chan.send({ t: 'running' });
  getLogger().info('child process calling self.run()');
  try {
    await call();
  } catch (err) {
    failAndExit(err);
  }
  saveCodeCache();
  getLogger().info('process exiting with exitcode 0');
  // Nothing else to do: the worker ends once its own pending work is done.
  chan.release();
}
