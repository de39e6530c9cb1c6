/**
 * A broker child's side of the broker fallback: the word operations of the
 * synchronisation primitives (internal/word-ops) and the element accesses of
 * values, done on the parent's memory by the parent's broker thread.
 *
 * Each JavaScript thread that needs it starts one small client worker thread
 * (src/child/broker-client.ts) that holds the socket to the broker. A call
 * that must answer synchronously posts its request to the client, then
 * blocks in `Atomics.wait` on a SharedArrayBuffer of its own until the client
 * has written the reply there ("sync over async"); asynchronous waits get
 * their reply as a message, so the event loop keeps running. Every operation
 * is a round trip; waits are cut in slices of 100 ms like all others.
 * @internal
 */
import { Worker, MessageChannel, type MessagePort } from 'node:worker_threads';
import { entryUrl } from '../backends/entry-url.js';
import { ProcessError } from '../errors.js';
import { memory } from './memory.js';
import { SLICE_MS, type WaitResult } from './waiting.js';
import { ELEMENT_KINDS, OP, REQ_BYTES, STATUS, encodeRequest } from './broker-protocol.js';
import type { WordOps } from './word-ops.js';
import type { ElementAccessor, ElementKind } from './elements.js';

/** What the client worker gets from this thread. */
export interface ClientMessage {
  frame: Uint8Array;
  sync: boolean;
}

/** What the client worker posts back for an asynchronous request. */
export interface ClientReply {
  id: number;
  status: number;
  value: bigint;
  fvalue: number;
}

/** Layout of the reply area shared with the client: i32 [0] state (0 pending, 1 done, 2 broker gone), [1] status; i64 [1] value; f64 [2] fvalue. */
export const REPLY_BYTES = 32;

interface Client {
  worker: Worker;
  port: MessagePort;
  state: Int32Array;
  value: BigInt64Array;
  fvalue: Float64Array;
  seq: number;
  async: Map<number, (r: ClientReply) => void>;
}

let client: Client | null = null;
/** No sync call may take longer (a broker that does not answer is gone). */
const CALL_BOUND_MS = 60_000;

function start(): Client {
  const path = memory().brokerPath;
  if (!path) throw new ProcessError('this worker was told to use a broker but has no broker address');
  const reply = new SharedArrayBuffer(REPLY_BYTES);
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(entryUrl('broker-client'), { workerData: { path, port: port2, reply }, transferList: [port2], execArgv: [] });
  worker.unref();
  const c: Client = {
    worker,
    port: port1,
    state: new Int32Array(reply, 0, 2),
    value: new BigInt64Array(reply, 8, 1),
    fvalue: new Float64Array(reply, 16, 1),
    seq: 0,
    async: new Map(),
  };
  port1.on('message', (r: ClientReply) => {
    const cb = c.async.get(r.id);
    if (!cb) return;
    c.async.delete(r.id);
    if (c.async.size === 0) port1.unref();
    cb(r);
  });
  port1.unref();
  return c;
}

const frameOf = (op: number, kind: number, seg: number, off: number, a: bigint, b: bigint, f: number, id: number): Uint8Array => {
  const frame = new Uint8Array(REQ_BYTES);
  encodeRequest(new DataView(frame.buffer), 0, { id, op, kind, seg, off, a, b, f });
  return frame;
};

function gone(): ProcessError {
  return new ProcessError("the parent's shared-memory broker does not answer (the parent process ended?)");
}

/** One synchronous operation at the broker: blocks this thread until the reply. */
function call(op: number, kind: number, seg: number, off: number, a: bigint, b: bigint, f: number): { value: bigint; fvalue: number } {
  const c = (client ??= start());
  const id = ++c.seq;
  Atomics.store(c.state, 0, 0);
  const msg: ClientMessage = { frame: frameOf(op, kind, seg, off, a, b, f, id), sync: true };
  c.port.postMessage(msg);
  const deadline = performance.now() + CALL_BOUND_MS;
  while (Atomics.load(c.state, 0) === 0) {
    // Slices: a worker thread blocked here still stops on terminate().
    Atomics.wait(c.state, 0, 0, SLICE_MS);
    if (performance.now() > deadline) throw gone();
  }
  if (Atomics.load(c.state, 0) === 2) throw gone();
  const status = Atomics.load(c.state, 1);
  if (status !== STATUS.ok) throw new ProcessError(`the broker refused an operation on shared object ${seg} (status ${status})`);
  return { value: c.value[0]!, fvalue: c.fvalue[0]! };
}

/** One asynchronous operation at the broker (a wait). */
function callAsync(op: number, seg: number, off: number, a: bigint, f: number, onReply: (r: ClientReply) => void): number {
  const c = (client ??= start());
  const id = ++c.seq;
  if (c.async.size === 0) c.port.ref(); // a pending wait keeps the program alive
  c.async.set(id, onReply);
  const msg: ClientMessage = { frame: frameOf(op, 4, seg, off, a, 0n, f, id), sync: false };
  c.port.postMessage(msg);
  return id;
}

function dropAsync(id: number): void {
  const c = client;
  if (c?.async.delete(id) && c.async.size === 0) c.port.unref();
}

const WAITS: readonly WaitResult[] = ['ok', 'not-equal', 'timed-out'];

/** Word operations on segment `seg` of the parent, through the broker. */
class RemoteOps {
  constructor(private readonly seg: number) {}

  #op(op: number, arr: Int32Array | BigInt64Array, i: number, x: number | bigint, y: number | bigint): number | bigint {
    const big = arr instanceof BigInt64Array;
    const r = call(op, big ? 8 : 4, this.seg, arr.byteOffset + i * arr.BYTES_PER_ELEMENT, BigInt(x), BigInt(y), 0);
    return big ? r.value : Number(BigInt.asIntN(32, r.value));
  }

  load(a: Int32Array | BigInt64Array, i: number): number | bigint {
    return this.#op(OP.load, a, i, 0, 0);
  }
  store(a: Int32Array | BigInt64Array, i: number, v: number | bigint): number | bigint {
    this.#op(OP.store, a, i, v, 0);
    return v;
  }
  add(a: Int32Array, i: number, v: number): number {
    return this.#op(OP.add, a, i, v, 0) as number;
  }
  sub(a: Int32Array, i: number, v: number): number {
    return this.#op(OP.sub, a, i, v, 0) as number;
  }
  exchange(a: Int32Array, i: number, v: number): number {
    return this.#op(OP.exchange, a, i, v, 0) as number;
  }
  compareExchange(a: Int32Array | BigInt64Array, i: number, e: number | bigint, r: number | bigint): number | bigint {
    return this.#op(OP.compareExchange, a, i, e, r);
  }
  get(a: Int32Array, i: number): number {
    return this.#op(OP.load, a, i, 0, 0) as number;
  }
  set(a: Int32Array, i: number, v: number): void {
    this.#op(OP.store, a, i, v, 0);
  }
  notify(a: Int32Array, i: number, count: number): number {
    return this.#op(OP.notify, a, i, count === Infinity ? -1 : count, 0) as number;
  }

  waitSync(a: Int32Array, i: number, expected: number, timeoutMs: number): WaitResult {
    const t = timeoutMs === Infinity ? SLICE_MS : Math.min(timeoutMs, SLICE_MS);
    const r = WAITS[Number(call(OP.wait, 4, this.seg, a.byteOffset + i * 4, BigInt(expected), 0n, t).value)] ?? 'ok';
    return r === 'timed-out' && t < timeoutMs ? 'ok' : r;
  }

  waitAsync(a: Int32Array, i: number, expected: number, timeoutMs: number, signal?: AbortSignal): Promise<WaitResult> {
    const t = timeoutMs === Infinity ? SLICE_MS : Math.min(timeoutMs, SLICE_MS);
    return new Promise<WaitResult>((resolve, reject) => {
      const onAbort = () => {
        dropAsync(id); // the broker's wait ends within its slice; its reply is dropped
        reject(signal!.reason);
      };
      const id = callAsync(OP.wait, this.seg, a.byteOffset + i * 4, BigInt(expected), t, (rep) => {
        signal?.removeEventListener('abort', onAbort);
        if (rep.status !== STATUS.ok) return reject(gone());
        const r = WAITS[Number(rep.value)] ?? 'ok';
        resolve(r === 'timed-out' && t < timeoutMs ? 'ok' : r);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

const opsBySegment = new Map<number, WordOps>();

/** The word operations on the parent's segment `seg`. */
export function remoteOps(seg: number): WordOps {
  let ops = opsBySegment.get(seg);
  if (!ops) opsBySegment.set(seg, (ops = new RemoteOps(seg) as unknown as WordOps));
  return ops;
}

/** A new segment of `size` bytes in the parent (for an object made in a broker child). */
export function remoteAllocate(size: number): number {
  return Number(call(OP.alloc, 0, 0, 0, BigInt(size), 0n, 0).value);
}

/** Element accesses of a Value/Array whose memory is in the parent. */
export function remoteElements(seg: number, kind: ElementKind, base: number): ElementAccessor {
  const k = ELEMENT_KINDS.indexOf(kind);
  const size = kind.startsWith('Big') || kind === 'Float64Array' ? 8 : kind.includes('32') ? 4 : kind.includes('16') ? 2 : 1;
  const float = kind === 'Float32Array' || kind === 'Float64Array';
  const big = kind.startsWith('Big');
  return {
    get: (j) => {
      const r = call(OP.eload, k, seg, base + j * size, 0n, 0n, 0);
      return float ? r.fvalue : big ? (kind === 'BigUint64Array' ? BigInt.asUintN(64, r.value) : r.value) : Number(r.value);
    },
    set: (j, v) => {
      call(OP.estore, k, seg, base + j * size, float ? 0n : BigInt(v), 0n, float ? (v as number) : 0);
    },
  };
}
