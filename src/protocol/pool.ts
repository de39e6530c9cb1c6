/**
 * Messages between a Pool and its workers (through shared-memory queues).
 * @internal
 */
import type { FnRefData } from './messages.js';
import { encodeValue, decodeValueAt, finish, isI32Value, writeI32Value } from '../internal/codec.js';

/** `fn(...args)`: one call. */
export const TASK_APPLY = 0;
/** `fn(item)` for each item of a chunk. */
export const TASK_MAP = 1;
/** `fn(...item)` for each item of a chunk. */
export const TASK_STARMAP = 2;

export type TaskKind = typeof TASK_APPLY | typeof TASK_MAP | typeof TASK_STARMAP;

// ---------------------------------------------------------------------------------------
// Byte forms (the queues carry raw frames; each value is encoded on its own, so numbers and
// short strings skip the serializer)

const utf8 = new TextEncoder();
const utf8d = new TextDecoder();
const NO_BYTES = new Uint8Array(0);

/**
 * Frames are built in one buffer per thread, reused by every frame (a pool hands out tasks by
 * the hundred thousand per second: one allocation less each counts). `frameView()` is valid
 * until the next frame is started (copy it to keep it).
 */
let fbuf = new Uint8Array(1024);
let fdv = new DataView(fbuf.buffer);
let flen = 0;

function room(n: number): void {
  if (flen + n <= fbuf.length) return;
  let size = fbuf.length * 2;
  while (size < flen + n) size *= 2;
  const next = new Uint8Array(size);
  next.set(fbuf.subarray(0, flen));
  fbuf = next;
  fdv = new DataView(next.buffer);
}

function putI32(v: number): void {
  room(4);
  fdv.setInt32(flen, v, true);
  flen += 4;
}

function putF64(v: number): void {
  room(8);
  fdv.setFloat64(flen, v, true);
  flen += 8;
}

/** A length-prefixed part. */
function putPart(p: Uint8Array): void {
  room(4 + p.length);
  fdv.setUint32(flen, p.length, true);
  fbuf.set(p, flen + 4);
  flen += 4 + p.length;
}

/** A value as a length-prefixed part; int32s written in place. */
function putValue(v: unknown, what: string): void {
  if (isI32Value(v)) {
    room(9);
    fdv.setUint32(flen, 5, true);
    writeI32Value(fbuf, flen + 4, v);
    flen += 9;
    return;
  }
  // encodeValue may itself take a while (serializer), but never starts a frame: safe to hold ours.
  putPart(encodeValue(v, what));
}

function frameView(): Uint8Array {
  return fbuf.subarray(0, flen);
}

function i32At(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24);
}

/**
 * A task as bytes: `[id, fnId, kind, count]`, the function's reference (empty when the
 * worker has it), then the arguments one by one (numbers and strings skip the serializer) or a
 * chunk of items as one array (the serializer handles a large array in bulk); `first` is the
 * index of the chunk's first item in the whole input, for error messages.
 * The bytes are a view of the thread's frame buffer: write them before building another frame.
 */
export function encodeTask(id: number, fnId: number, ref: FnRefData | null, kind: TaskKind, payload: unknown[], first = 0): Uint8Array {
  // The function's reference and a chunk are encoded before the frame starts; a call's
  // arguments go into it one by one (one that cannot be sent throws half way: the next frame
  // starts over, so nothing is left behind).
  const refBytes = ref ? utf8.encode(JSON.stringify(ref)) : NO_BYTES;
  const chunk = kind === TASK_APPLY ? null : encodeChunk(payload, first);
  flen = 0;
  putI32(id);
  putI32(fnId);
  putI32(kind);
  putI32(chunk ? 1 : payload.length);
  putPart(refBytes);
  if (chunk) putPart(chunk);
  else for (let i = 0; i < payload.length; i++) putValue(payload[i], `argument ${i}`);
  return frameView();
}

/**
 * A chunk of a map's items. An item that cannot be sent is named by its index in the whole
 * input (`items[1234]`), as the caller knows it, not within its chunk.
 */
function encodeChunk(items: unknown[], first: number): Uint8Array {
  try {
    return encodeValue(items, 'items');
  } catch (e) {
    if (!(e instanceof TypeError) || first === 0) throw e;
    throw new TypeError(e.message.replace(/^items\[(\d+)\]/, (_, k: string) => `items[${first + Number(k)}]`));
  }
}

/** The task back from bytes (the payload may need an await). */
export function decodeTask(bytes: Uint8Array): { id: number; fnId: number; ref: FnRefData | null; kind: TaskKind; payload: unknown[] | Promise<unknown[]> } {
  const id = i32At(bytes, 0);
  const fnId = i32At(bytes, 4);
  const kind = i32At(bytes, 8) as TaskKind;
  const count = i32At(bytes, 12);
  const refLength = i32At(bytes, 16) >>> 0;
  const ref = refLength ? (JSON.parse(utf8d.decode(bytes.subarray(20, 20 + refLength))) as FnRefData) : null;
  // The values: a call's arguments, or one array holding a chunk's items.
  const vs = new Array<unknown>(count);
  let async = false;
  for (let i = 0, o = 20 + refLength; i < count; i++) {
    const n = i32At(bytes, o) >>> 0;
    const v = finish(decodeValueAt(bytes, o + 4, n));
    if (v instanceof Promise) async = true;
    vs[i] = v;
    o += 4 + n;
  }
  const all = async ? Promise.all(vs) : vs;
  if (kind === TASK_APPLY) return { id, fnId, ref, kind, payload: all };
  return { id, fnId, ref, kind, payload: all instanceof Promise ? all.then((c) => c[0] as unknown[]) : (all[0] as unknown[]) };
}

/**
 * A result as bytes: `[task id, worker index, 1 ok / 0 failed]` (int32), the milliseconds the
 * task ran (float64), then the value or error as a length-prefixed part. A view of the thread's
 * frame buffer, valid until the next frame is built.
 */
export function encodeResult(id: number, worker: number, ok: 0 | 1, value: unknown, ms: number): Uint8Array {
  const part = isI32Value(value) ? null : encodeValue(value, ok ? 'the result' : 'the error');
  flen = 0;
  putI32(id);
  putI32(worker);
  putI32(ok);
  putF64(ms);
  if (part) putPart(part);
  else putValue(value, 'the result');
  return frameView();
}

/** A decoded result. One object per thread, overwritten by the next `decodeResult`. */
export interface DecodedResult {
  id: number;
  worker: number;
  ok: 0 | 1;
  ms: number;
  value: unknown;
}

const decoded: DecodedResult = { id: 0, worker: 0, ok: 0, ms: 0, value: undefined };
const f64 = new Float64Array(1);
const f64b = new Uint8Array(f64.buffer);

/** The result back from bytes (the value may need an await). Read its fields before the next call. */
export function decodeResult(bytes: Uint8Array): DecodedResult {
  decoded.id = i32At(bytes, 0);
  decoded.worker = i32At(bytes, 4);
  decoded.ok = i32At(bytes, 8) as 0 | 1;
  for (let i = 0; i < 8; i++) f64b[i] = bytes[12 + i]!;
  decoded.ms = f64[0]!;
  const n = i32At(bytes, 20) >>> 0;
  decoded.value = finish(decodeValueAt(bytes, 24, n));
  return decoded;
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
