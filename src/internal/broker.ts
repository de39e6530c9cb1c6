/**
 * The parent's side of the broker fallback (the last in the chain: neither
 * the native addon nor koffi). Node core cannot map memory shared between
 * processes, so a `'process'` child reaches the parent's SharedArrayBuffers
 * through messages: a dedicated worker thread of the parent (src/child/broker.ts)
 * holds every segment that crossed to a process child and executes the
 * children's word operations on it. It must be a thread of its own: the
 * parent's main thread may itself be blocked in `acquireSync` while a child
 * has to release.
 *
 * Started with the first `'process'` child of a parent in `local` mode (its
 * socket path goes into the child's boot data); never keeps the program
 * alive; its socket file is removed at exit. Segments registered here live
 * until the program ends.
 * @internal
 */
import { Worker, MessageChannel, type MessagePort } from 'node:worker_threads';
import { nodeOs } from './builtins.js';
import { join } from 'node:path';
import { readdirSync, rmSync } from 'node:fs';
import { entryUrl } from '../backends/entry-url.js';
import { getLogger } from '../logging.js';
import { pidAlive } from './liveness.js';
import { randomSuffix } from './state.js';

interface BrokerState {
  path: string;
  worker: Worker;
  port: MessagePort;
}

let broker: BrokerState | null = null;
const ids = new WeakMap<SharedArrayBuffer, number>();
const byId = new Map<number, SharedArrayBuffer>();
let seq = 0;

/** Removes the sockets of brokers whose process died without its exit hook (killed). */
function sweepSockets(): void {
  try {
    for (const f of readdirSync(nodeOs().tmpdir())) {
      const m = /^mpts-broker-(\d+)-[0-9a-f]+\.sock$/.exec(f);
      if (m && !pidAlive(Number(m[1]))) rmSync(join(nodeOs().tmpdir(), f), { force: true });
    }
  } catch {
    /* an unreadable tmpdir only leaves files behind */
  }
}

function start(): BrokerState {
  if (process.platform !== 'win32') sweepSockets();
  const file = `mpts-broker-${process.pid}-${randomSuffix()}`;
  const path = process.platform === 'win32' ? `\\\\.\\pipe\\${file}` : join(nodeOs().tmpdir(), `${file}.sock`);
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(entryUrl('broker'), { workerData: { path, port: port2 }, transferList: [port2], execArgv: [] });
  worker.unref();
  port1.unref();
  worker.on('error', (err) => getLogger().error(`the shared-memory broker thread failed: ${err.message}`));
  if (process.platform !== 'win32') process.once('exit', () => rmSync(path, { force: true }));
  getLogger().info(`shared memory: 'process' children reach locks and values through a broker thread in this process (${path})`);
  return { path, worker, port: port1 };
}

/** The broker's socket (starting the broker on first call). */
export function brokerPath(): string {
  return (broker ??= start()).path;
}

/** Makes a SharedArrayBuffer reachable by 'process' children; returns its id (stable per buffer). */
export function brokerRegister(sab: SharedArrayBuffer): number {
  const known = ids.get(sab);
  if (known !== undefined) return known;
  const b = (broker ??= start());
  const id = ++seq;
  ids.set(sab, id);
  byId.set(id, sab);
  b.port.postMessage({ id, sab });
  return id;
}

/** The buffer registered under `id` in this process, if any. */
export function brokerLookup(id: number): SharedArrayBuffer | undefined {
  return byId.get(id);
}
