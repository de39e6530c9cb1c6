/**
 * Frames between a broker child's client thread and the parent's broker
 * thread (a Unix socket), little-endian, fixed size.
 *
 * Request (40 bytes): u32 id, u8 op, u8 kind, u16 0, u32 segment,
 * u32 byteOffset, i64 a, i64 b, f64 f.
 * Reply (24 bytes): u32 id, i32 status, i64 value, f64 fvalue.
 * @internal
 */

export const REQ_BYTES = 40;
export const REP_BYTES = 24;

/** Word operations (kind 4: int32, 8: int64) and element operations (kind: ELEMENT_KINDS index). */
export const OP = {
  load: 1,
  store: 2,
  add: 3,
  sub: 4,
  exchange: 5,
  compareExchange: 6,
  /** a: expected, f: timeout ms; value 0 woken, 1 not-equal, 2 timed out. */
  wait: 7,
  /** a: count (-1 all). */
  notify: 8,
  /** a: size in bytes; value: the new segment's id. */
  alloc: 9,
  /** Element load: value (integers) or fvalue (floats). */
  eload: 10,
  /** Element store: a (integers) or f (floats). */
  estore: 11,
} as const;

/** Element kinds of Value/Array, by index in requests. */
export const ELEMENT_KINDS = [
  'Int8Array',
  'Uint8Array',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'BigInt64Array',
  'BigUint64Array',
  'Float32Array',
  'Float64Array',
] as const;

/** Reply status. */
export const STATUS = { ok: 0, unknownSegment: 1, badRequest: 2 } as const;

/** Ids of segments the broker allocates itself (for children); the parent's registrations stay below. */
export const BROKER_ALLOC_BASE = 0x40000000;

/** A request, decoded. */
export interface Request {
  id: number;
  op: number;
  kind: number;
  seg: number;
  off: number;
  a: bigint;
  b: bigint;
  f: number;
}

export function encodeRequest(view: DataView, at: number, r: Request): void {
  view.setUint32(at, r.id, true);
  view.setUint8(at + 4, r.op);
  view.setUint8(at + 5, r.kind);
  view.setUint16(at + 6, 0, true);
  view.setUint32(at + 8, r.seg, true);
  view.setUint32(at + 12, r.off, true);
  view.setBigInt64(at + 16, r.a, true);
  view.setBigInt64(at + 24, r.b, true);
  view.setFloat64(at + 32, r.f, true);
}

export function decodeRequest(view: DataView, at: number): Request {
  return {
    id: view.getUint32(at, true),
    op: view.getUint8(at + 4),
    kind: view.getUint8(at + 5),
    seg: view.getUint32(at + 8, true),
    off: view.getUint32(at + 12, true),
    a: view.getBigInt64(at + 16, true),
    b: view.getBigInt64(at + 24, true),
    f: view.getFloat64(at + 32, true),
  };
}

/** A reply, decoded. */
export interface Reply {
  id: number;
  status: number;
  value: bigint;
  fvalue: number;
}

export function encodeReply(view: DataView, at: number, r: Reply): void {
  view.setUint32(at, r.id, true);
  view.setInt32(at + 4, r.status, true);
  view.setBigInt64(at + 8, r.value, true);
  view.setFloat64(at + 16, r.fvalue, true);
}

export function decodeReply(view: DataView, at: number): Reply {
  return { id: view.getUint32(at, true), status: view.getInt32(at + 4, true), value: view.getBigInt64(at + 8, true), fvalue: view.getFloat64(at + 16, true) };
}

/**
 * Splits a byte stream into fixed-size frames: `push` a chunk, get back the
 * complete frames (as one Buffer each) in order.
 */
export class FrameReader {
  #rest: Buffer = Buffer.alloc(0);
  constructor(private readonly size: number) {}

  push(chunk: Buffer): Buffer[] {
    const buf = this.#rest.length ? Buffer.concat([this.#rest, chunk]) : chunk;
    const out: Buffer[] = [];
    let at = 0;
    for (; at + this.size <= buf.length; at += this.size) out.push(buf.subarray(at, at + this.size));
    this.#rest = Buffer.from(buf.subarray(at));
    return out;
  }
}
