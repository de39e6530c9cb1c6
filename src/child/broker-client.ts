/**
 * The client thread of a broker child (see internal/broker-client): holds the
 * socket to the parent's broker, forwards the requests of its JavaScript
 * thread, writes synchronous replies into the shared reply area (and wakes
 * the blocked caller), and posts asynchronous ones back.
 * @internal
 */
import { connect, type Socket } from 'node:net';
import { workerData, type MessagePort } from 'node:worker_threads';
import { FrameReader, REP_BYTES, decodeReply } from '../internal/broker-protocol.js';
import type { ClientMessage, ClientReply } from '../internal/broker-client.js';

const { path, port, reply } = workerData as { path: string; port: MessagePort; reply: SharedArrayBuffer };
const state = new Int32Array(reply, 0, 2);
const value = new BigInt64Array(reply, 8, 1);
const fvalue = new Float64Array(reply, 16, 1);

const syncIds = new Set<number>();
const asyncIds = new Set<number>();
let queued: Uint8Array[] = [];
let socket: Socket | null = null;
let dead = false;

function fail(): void {
  dead = true;
  Atomics.store(state, 0, 2);
  Atomics.notify(state, 0);
  for (const id of asyncIds) port.postMessage({ id, status: -1, value: 0n, fvalue: 0 } satisfies ClientReply);
  asyncIds.clear();
}

/** The broker starts listening a moment after the parent starts it: retry for a while. */
function open(attempt: number): void {
  const s = connect(path);
  s.setNoDelay(true);
  s.once('connect', () => {
    socket = s;
    if (queued.length) s.write(Buffer.concat(queued));
    queued = [];
  });
  s.once('error', (err: NodeJS.ErrnoException) => {
    if (socket === null && attempt < 200 && (err.code === 'ENOENT' || err.code === 'ECONNREFUSED')) {
      setTimeout(() => open(attempt + 1), 10);
      return;
    }
    fail();
  });
  s.once('close', () => {
    if (socket === s) fail();
  });
  const reader = new FrameReader(REP_BYTES);
  s.on('data', (chunk: Buffer) => {
    for (const f of reader.push(chunk)) {
      const r = decodeReply(new DataView(f.buffer, f.byteOffset, REP_BYTES), 0);
      if (syncIds.delete(r.id)) {
        Atomics.store(state, 1, r.status);
        value[0] = r.value;
        fvalue[0] = r.fvalue;
        Atomics.store(state, 0, 1);
        Atomics.notify(state, 0);
      } else if (asyncIds.delete(r.id)) {
        port.postMessage(r satisfies ClientReply);
      }
    }
  });
}

port.on('message', (m: ClientMessage) => {
  const id = new DataView(m.frame.buffer, m.frame.byteOffset, 4).getUint32(0, true);
  if (dead) {
    if (m.sync) fail();
    else port.postMessage({ id, status: -1, value: 0n, fvalue: 0 } satisfies ClientReply);
    return;
  }
  (m.sync ? syncIds : asyncIds).add(id);
  if (socket) socket.write(m.frame);
  else queued.push(m.frame);
});

open(0);
