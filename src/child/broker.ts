/**
 * The broker thread (a worker thread of a parent with neither the native
 * addon nor koffi; see internal/broker). It holds the SharedArrayBuffers of
 * the objects that crossed to `'process'` children, which it shares natively
 * with the parent's own threads, and executes the children's word operations
 * on them, from a Unix socket. Waits use `Atomics.waitAsync` here, in the
 * parent's process, like every other waiter of those objects (`Atomics.wait`
 * in the parent's threads): one wake protocol per object. Being a thread of
 * its own, it answers children while the parent's main thread is blocked.
 * @internal
 */
import { createServer, type Socket } from 'node:net';
import { workerData, type MessagePort } from 'node:worker_threads';
import {
  BROKER_ALLOC_BASE,
  ELEMENT_KINDS,
  FrameReader,
  OP,
  REP_BYTES,
  REQ_BYTES,
  STATUS,
  decodeRequest,
  encodeReply,
  type Request,
} from '../internal/broker-protocol.js';

const { path, port } = workerData as { path: string; port: MessagePort };

const segments = new Map<number, SharedArrayBuffer>();
let allocSeq = BROKER_ALLOC_BASE;

port.on('message', (m: { id: number; sab: SharedArrayBuffer }) => {
  segments.set(m.id, m.sab);
  // A request may have come before the registration (the child is faster than this port).
  const waiting = early.get(m.id);
  if (waiting) {
    early.delete(m.id);
    for (const run of waiting) run();
  }
});

const early = new Map<number, Array<() => void>>();

interface Ctor {
  new (buffer: SharedArrayBuffer, byteOffset: number, length: number): ArrayLike<number | bigint> & { [i: number]: number | bigint };
}
const CTORS: Record<(typeof ELEMENT_KINDS)[number], Ctor> = {
  Int8Array: Int8Array as unknown as Ctor,
  Uint8Array: Uint8Array as unknown as Ctor,
  Int16Array: Int16Array as unknown as Ctor,
  Uint16Array: Uint16Array as unknown as Ctor,
  Int32Array: Int32Array as unknown as Ctor,
  Uint32Array: Uint32Array as unknown as Ctor,
  BigInt64Array: BigInt64Array as unknown as Ctor,
  BigUint64Array: BigUint64Array as unknown as Ctor,
  Float32Array: Float32Array as unknown as Ctor,
  Float64Array: Float64Array as unknown as Ctor,
};

type Send = (id: number, status: number, value: bigint, fvalue?: number) => void;

const WAIT_RESULTS: Record<string, bigint> = { ok: 0n, 'not-equal': 1n, 'timed-out': 2n };

function word(sab: SharedArrayBuffer, r: Request): { i32: Int32Array | null; i64: BigInt64Array | null; index: 0 } {
  if (r.kind === 8) return { i32: null, i64: new BigInt64Array(sab, r.off, 1), index: 0 };
  return { i32: new Int32Array(sab, r.off, 1), i64: null, index: 0 };
}

function execute(r: Request, send: Send): void {
  if (r.op === OP.alloc) {
    const id = ++allocSeq;
    segments.set(id, new SharedArrayBuffer(Math.max(8, Number(r.a))));
    send(r.id, STATUS.ok, BigInt(id));
    return;
  }
  const sab = segments.get(r.seg);
  if (!sab) {
    if (r.seg < BROKER_ALLOC_BASE) {
      const list = early.get(r.seg) ?? [];
      list.push(() => execute(r, send));
      early.set(r.seg, list);
      return;
    }
    send(r.id, STATUS.unknownSegment, 0n);
    return;
  }
  if (r.op === OP.eload || r.op === OP.estore) {
    const kind = ELEMENT_KINDS[r.kind];
    if (!kind) return send(r.id, STATUS.badRequest, 0n);
    const view = new CTORS[kind](sab, r.off, 1);
    const float = kind === 'Float32Array' || kind === 'Float64Array';
    const big = kind === 'BigInt64Array' || kind === 'BigUint64Array';
    if (r.op === OP.eload) {
      const v = float ? view[0] : Atomics.load(view as unknown as Int32Array, 0);
      return send(r.id, STATUS.ok, float ? 0n : BigInt(v as number | bigint), float ? (v as number) : 0);
    }
    if (float) view[0] = r.f;
    else Atomics.store(view as unknown as Int32Array, 0, (big ? r.a : Number(r.a)) as number);
    return send(r.id, STATUS.ok, 0n);
  }
  const { i32, i64 } = word(sab, r);
  const n = (x: bigint): number => Number(BigInt.asIntN(32, x));
  switch (r.op) {
    case OP.load:
      return send(r.id, STATUS.ok, i64 ? Atomics.load(i64, 0) : BigInt(Atomics.load(i32!, 0)));
    case OP.store:
      if (i64) Atomics.store(i64, 0, r.a);
      else Atomics.store(i32!, 0, n(r.a));
      return send(r.id, STATUS.ok, r.a);
    case OP.add:
      return send(r.id, STATUS.ok, i64 ? Atomics.add(i64, 0, r.a) : BigInt(Atomics.add(i32!, 0, n(r.a))));
    case OP.sub:
      return send(r.id, STATUS.ok, i64 ? Atomics.sub(i64, 0, r.a) : BigInt(Atomics.sub(i32!, 0, n(r.a))));
    case OP.exchange:
      return send(r.id, STATUS.ok, i64 ? Atomics.exchange(i64, 0, r.a) : BigInt(Atomics.exchange(i32!, 0, n(r.a))));
    case OP.compareExchange:
      return send(r.id, STATUS.ok, i64 ? Atomics.compareExchange(i64, 0, r.a, r.b) : BigInt(Atomics.compareExchange(i32!, 0, n(r.a), n(r.b))));
    case OP.notify:
      return send(r.id, STATUS.ok, BigInt(Atomics.notify(i32!, 0, r.a < 0n ? undefined : Number(r.a))));
    case OP.wait: {
      const res = Atomics.waitAsync(i32!, 0, n(r.a), Math.max(0, r.f));
      if (!res.async) return send(r.id, STATUS.ok, WAIT_RESULTS[res.value] ?? 0n);
      void res.value.then((v) => send(r.id, STATUS.ok, WAIT_RESULTS[v] ?? 0n));
      return;
    }
    default:
      return send(r.id, STATUS.badRequest, 0n);
  }
}

function serve(socket: Socket): void {
  socket.setNoDelay(true);
  const reader = new FrameReader(REQ_BYTES);
  // Replies of one burst of requests go out in one write.
  let out: Buffer[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (!socket.destroyed && out.length) socket.write(out.length === 1 ? out[0]! : Buffer.concat(out));
    out = [];
  };
  const send: Send = (id, status, value, fvalue = 0) => {
    const b = Buffer.allocUnsafe(REP_BYTES);
    encodeReply(new DataView(b.buffer, b.byteOffset, REP_BYTES), 0, { id, status, value, fvalue });
    out.push(b);
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(flush);
    }
  };
  socket.on('data', (chunk: Buffer) => {
    for (const f of reader.push(chunk)) {
      execute(decodeRequest(new DataView(f.buffer, f.byteOffset, REQ_BYTES), 0), send);
    }
  });
  // A child that dies just goes: its pending waits end within their slice, replies are dropped.
  socket.on('error', () => socket.destroy());
}

// Referenced: this thread lives as long as its parent (whose Worker object is unreferenced).
const server = createServer(serve);
server.listen(path);
