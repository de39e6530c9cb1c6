/**
 * How `Value`/`Array` read and write their elements, chosen once per object:
 * - on a `SharedArrayBuffer` (native addon, or threads only): plain typed-array
 *   accesses, as before (`null` accessor: no indirection on that path);
 * - on a plain `ArrayBuffer` mapped by koffi: `Atomics.load`/`Atomics.store`
 *   (so that no read is cached and no write is delayed by the compiler);
 *   floats go through an integer view of the same bytes and are reinterpreted;
 * - in a broker child: a remote load/store at the parent's broker.
 * @internal
 */
import type { Segment } from './segments.js';
import { remoteElements } from './broker-client.js';

/** Element kinds, by typed-array constructor name. */
export type ElementKind =
  | 'Int8Array'
  | 'Uint8Array'
  | 'Int16Array'
  | 'Uint16Array'
  | 'Int32Array'
  | 'Uint32Array'
  | 'BigInt64Array'
  | 'BigUint64Array'
  | 'Float32Array'
  | 'Float64Array';

/** Reads and writes element `j` (already range-checked). */
export interface ElementAccessor {
  get(j: number): number | bigint;
  set(j: number, v: number | bigint): void;
}

type IntView = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;

const f32 = new Float32Array(1);
const f32bits = new Int32Array(f32.buffer);
const f64 = new Float64Array(1);
const f64bits = new BigInt64Array(f64.buffer);

function atomicAccessor(kind: ElementKind, buf: ArrayBuffer, base: number, length: number): ElementAccessor {
  switch (kind) {
    case 'Float32Array': {
      const bits = new Int32Array(buf, base, length);
      return {
        get: (j) => {
          f32bits[0] = Atomics.load(bits, j);
          return f32[0]!;
        },
        set: (j, v) => {
          f32[0] = v as number;
          Atomics.store(bits, j, f32bits[0]!);
        },
      };
    }
    case 'Float64Array': {
      const bits = new BigInt64Array(buf, base, length);
      return {
        get: (j) => {
          f64bits[0] = Atomics.load(bits, j);
          return f64[0]!;
        },
        set: (j, v) => {
          f64[0] = v as number;
          Atomics.store(bits, j, f64bits[0]!);
        },
      };
    }
    case 'BigInt64Array':
    case 'BigUint64Array': {
      const view = kind === 'BigInt64Array' ? new BigInt64Array(buf, base, length) : new BigUint64Array(buf, base, length);
      return { get: (j) => Atomics.load(view, j), set: (j, v) => void Atomics.store(view, j, v as bigint) };
    }
    default: {
      const Ctor = { Int8Array, Uint8Array, Int16Array, Uint16Array, Int32Array, Uint32Array }[kind];
      const view: IntView = new Ctor(buf, base, length);
      return { get: (j) => Atomics.load(view, j), set: (j, v) => void Atomics.store(view, j, v as number) };
    }
  }
}

/**
 * The accessor for `length` elements of `kind` at `seg.base`, or `null` when
 * plain typed-array accesses are right (a SharedArrayBuffer).
 */
export function elementAccessor(seg: Segment, kind: ElementKind, length: number): ElementAccessor | null {
  if (seg.remote !== null) return remoteElements(seg.remote, kind, seg.base);
  if (seg.sab instanceof SharedArrayBuffer) return null;
  return atomicAccessor(kind, seg.sab, seg.base, length);
}
