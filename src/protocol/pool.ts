/**
 * Messages between a Pool and its workers (through shared-memory queues).
 * @internal
 */
import type { FnRefData } from './messages.js';
import { encodeValue, decodeValue, finish } from '../internal/codec.js';

/** `fn(...args)`: one call. */
export const TASK_APPLY = 0;
/** `fn(item)` for each item of a chunk. */
export const TASK_MAP = 1;
/** `fn(...item)` for each item of a chunk. */
export const TASK_STARMAP = 2;

export type TaskKind = typeof TASK_APPLY | typeof TASK_MAP | typeof TASK_STARMAP;

/**
 * A task: [task id, function id, the function's reference (only the first
 * time a worker gets this function id, else null), kind, arguments or chunk].
 */
export type PoolTask = [id: number, fnId: number, ref: FnRefData | null, kind: TaskKind, payload: unknown[]];

/** A result: [task id, worker index, 1 ok / 0 failed, value or error, milliseconds the task ran]. */
export type PoolResult = [id: number, worker: number, ok: 0 | 1, value: unknown, ms: number];

// ---------------------------------------------------------------------------------------
// Byte forms (the queues carry raw frames; each value is encoded on its own, so numbers and
// short strings skip the serializer)


const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

function frame(head: number[], f64: number | null, parts: Uint8Array[]): Uint8Array {
  let n = head.length * 4 + (f64 === null ? 0 : 8) + parts.length * 4;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  const dv = new DataView(out.buffer);
  let o = 0;
  for (const h of head) {
    dv.setInt32(o, h, true);
    o += 4;
  }
  if (f64 !== null) {
    dv.setFloat64(o, f64, true);
    o += 8;
  }
  for (const p of parts) {
    dv.setUint32(o, p.length, true);
    o += 4;
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function parts(bytes: Uint8Array, at: number, count: number): Uint8Array[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Uint8Array[] = [];
  let o = at;
  for (let i = 0; i < count; i++) {
    const n = dv.getUint32(o, true);
    o += 4;
    out.push(bytes.subarray(o, o + n));
    o += n;
  }
  return out;
}

/** Values decoded; a promise only when some value needs reviving (library objects, functions). */
function values(ps: Uint8Array[]): unknown[] | Promise<unknown[]> {
  let async = false;
  const vs = ps.map((p) => {
    const v = finish(decodeValue(p));
    if (v instanceof Promise) async = true;
    return v;
  });
  return async ? Promise.all(vs) : vs;
}

/** A task as bytes. `what` names the values in errors. */
export function encodeTask(t: PoolTask): Uint8Array {
  const [id, fnId, ref, kind, payload] = t;
  const refBytes = ref ? utf8.encode(JSON.stringify(ref)) : new Uint8Array(0);
  // A call's few arguments one by one (numbers and strings skip the serializer); a chunk of
  // items as one array (the serializer handles a large array in bulk).
  const enc = kind === TASK_APPLY ? payload.map((v, i) => encodeValue(v, `argument ${i}`)) : [encodeValue(payload, 'the chunk of items')];
  return frame([id, fnId, kind, enc.length], null, [refBytes, ...enc]);
}

/** The task back from bytes (the payload may need an await). */
export function decodeTask(bytes: Uint8Array): { id: number; fnId: number; ref: FnRefData | null; kind: TaskKind; payload: unknown[] | Promise<unknown[]> } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const id = dv.getInt32(0, true);
  const fnId = dv.getInt32(4, true);
  const kind = dv.getInt32(8, true) as TaskKind;
  const count = dv.getInt32(12, true);
  const [refBytes, ...rest] = parts(bytes, 16, count + 1);
  const ref = refBytes!.length ? (JSON.parse(utf8d.decode(refBytes)) as FnRefData) : null;
  if (kind === TASK_APPLY) return { id, fnId, ref, kind, payload: values(rest) };
  const chunk = values(rest);
  return { id, fnId, ref, kind, payload: chunk instanceof Promise ? chunk.then((c) => c[0] as unknown[]) : (chunk[0] as unknown[]) };
}

/** A result as bytes. */
export function encodeResult(id: number, worker: number, ok: 0 | 1, value: unknown, ms: number): Uint8Array {
  return frame([id, worker, ok], ms, [encodeValue(value, ok ? 'the result' : 'the error')]);
}

/** The result back from bytes (the value may need an await). */
export function decodeResult(bytes: Uint8Array): { id: number; worker: number; ok: 0 | 1; ms: number; value: unknown } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [p] = parts(bytes, 20, 1);
  return { id: dv.getInt32(0, true), worker: dv.getInt32(4, true), ok: dv.getInt32(8, true) as 0 | 1, ms: dv.getFloat64(12, true), value: finish(decodeValue(p!)) };
}

/** Why a task was stopped from the pool's side: its signal aborted, or its timeout ran out. */
export const STOP_ABORT = 1;
export const STOP_TIMEOUT = 2;
export type StopKind = typeof STOP_ABORT | typeof STOP_TIMEOUT;

/** A stop request on a worker's control queue: [task id, why]. */
export function encodeStop(id: number, why: StopKind): Uint8Array {
  const out = new Uint8Array(8);
  const dv = new DataView(out.buffer);
  dv.setInt32(0, id, true);
  dv.setInt32(4, why, true);
  return out;
}

/** A stop request back from bytes. */
export function decodeStop(bytes: Uint8Array): { id: number; why: StopKind } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { id: dv.getInt32(0, true), why: dv.getInt32(4, true) as StopKind };
}
