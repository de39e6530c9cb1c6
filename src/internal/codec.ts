/**
 * Byte encoding of the values that travel through queues and pipes.
 *
 * The first byte says what follows. Numbers, booleans, null, undefined and
 * short one-byte strings have their own forms (no serializer involved, a few
 * bytes each); everything else is the value prepared by `reduction.encode`
 * (library handles as references, errors with their class, exported
 * functions as references) and written with V8's serializer (structured
 * clone). Library handles travel by name, so the bytes are valid in any
 * worker of any process.
 * @internal
 */
import { nodeV8 } from './builtins.js';
import { decode, decodeSync, encode, encodingFor } from '../reduction.js';
import type { Encoded } from '../protocol/messages.js';
import { native } from './native.js';

const T_UNDEFINED = 0;
const T_NULL = 1;
const T_TRUE = 2;
const T_FALSE = 3;
const T_F64 = 4;
const T_I32 = 5;
const T_LATIN1 = 6;
const T_UTF8 = 7;
const T_CLONE = 8; // V8 serializer, plain data
const T_WALKED = 9; // V8 serializer, data that needs reviving

/** Strings up to this length are checked for the one-byte form. */
const SHORT = 256;

const f64 = new Float64Array(1);
const f64b = new Uint8Array(f64.buffer);
const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

function one(tag: number): Uint8Array {
  const b = new Uint8Array(1);
  b[0] = tag;
  return b;
}

/**
 * Encodes `value`. `what` names it in errors ("the item", "the message").
 * @throws TypeError naming the part of the value that cannot be sent.
 */
export function encodeValue(value: unknown, what: string): Uint8Array {
  switch (typeof value) {
    case 'undefined':
      return one(T_UNDEFINED);
    case 'boolean':
      return one(value ? T_TRUE : T_FALSE);
    case 'number': {
      if ((value | 0) === value && !Object.is(value, -0)) {
        const b = new Uint8Array(5);
        b[0] = T_I32;
        b[1] = value & 0xff;
        b[2] = (value >>> 8) & 0xff;
        b[3] = (value >>> 16) & 0xff;
        b[4] = (value >>> 24) & 0xff;
        return b;
      }
      const b = new Uint8Array(9);
      b[0] = T_F64;
      f64[0] = value;
      b.set(f64b, 1);
      return b;
    }
    case 'string': {
      const n = value.length;
      if (n <= SHORT) {
        let oneByte = true;
        for (let i = 0; i < n; i++) {
          if (value.charCodeAt(i) > 0xff) {
            oneByte = false;
            break;
          }
        }
        if (oneByte) {
          const b = new Uint8Array(n + 1);
          b[0] = T_LATIN1;
          for (let i = 0; i < n; i++) b[i + 1] = value.charCodeAt(i);
          return b;
        }
      }
      const body = utf8.encode(value);
      const b = new Uint8Array(body.length + 1);
      b[0] = T_UTF8;
      b.set(body, 1);
      return b;
    }
    default:
      if (value === null) return one(T_NULL);
      return encodeCloned(value, what);
  }
}

function serializeWith(enc: Encoded): Uint8Array {
  const body = nodeV8().serialize(enc.data);
  const b = new Uint8Array(body.length + 1);
  b[0] = enc.walked ? T_WALKED : T_CLONE;
  b.set(body, 1);
  return b;
}

function encodeCloned(value: unknown, what: string): Uint8Array {
  // By name whenever names exist: the reader may be in another process.
  const to = native ? 'process' : 'thread';
  try {
    return serializeWith(encodingFor(to, () => encode(value, what)));
  } catch (err) {
    if (err instanceof TypeError && !(err as { name?: string }).name?.includes('DataClone')) {
      // Raised by the walk, with the path already in the message.
      if (!String((err as Error).message).includes('could not be cloned')) throw err;
    }
    // Walk again to name the part that cannot be cloned.
    let enc: Encoded;
    try {
      enc = encodingFor(to, () => encode(value, what, true));
    } catch (e) {
      throw e instanceof TypeError ? e : new TypeError(`${what} cannot be sent: ${(e as Error).message}`);
    }
    try {
      return serializeWith(enc);
    } catch (e2) {
      const msg = (e2 as Error).message;
      const hint = /SharedArrayBuffer/.test(msg)
        ? ' (without the native part, shared objects cannot travel through queues and pipes)'
        : '';
      throw new TypeError(`${what} cannot be sent: ${msg}${hint}`);
    }
  }
}

/** True when `encodeValue(v)` is the 5-byte int32 form (see `writeI32Value`). */
export function isI32Value(v: unknown): v is number {
  return typeof v === 'number' && (v | 0) === v && !Object.is(v, -0);
}

/** Writes, at `at` in `out`, the 5 bytes `encodeValue(v)` gives for an int32 `v`: no allocation. */
export function writeI32Value(out: Uint8Array, at: number, v: number): void {
  out[at] = T_I32;
  out[at + 1] = v & 0xff;
  out[at + 2] = (v >>> 8) & 0xff;
  out[at + 3] = (v >>> 16) & 0xff;
  out[at + 4] = (v >>> 24) & 0xff;
}

/** `decodeValue(bytes.subarray(at, at + n))`, without the view for the small forms. */
export function decodeValueAt(bytes: Uint8Array, at: number, n: number): unknown {
  if (n === 5 && bytes[at] === T_I32) return bytes[at + 1]! | (bytes[at + 2]! << 8) | (bytes[at + 3]! << 16) | (bytes[at + 4]! << 24);
  return decodeValue(bytes.subarray(at, at + n));
}

/** Decodes what `encodeValue` wrote. `bytes` must not be shared memory. */
export function decodeValue(bytes: Uint8Array): unknown {
  const tag = bytes[0];
  switch (tag) {
    case T_UNDEFINED:
      return undefined;
    case T_NULL:
      return null;
    case T_TRUE:
      return true;
    case T_FALSE:
      return false;
    case T_I32:
      return bytes[1]! | (bytes[2]! << 8) | (bytes[3]! << 16) | (bytes[4]! << 24);
    case T_F64:
      f64b.set(bytes.subarray(1, 9));
      return f64[0];
    case T_LATIN1: {
      const n = bytes.length - 1;
      if (n < 64) {
        let s = '';
        for (let i = 1; i <= n; i++) s += String.fromCharCode(bytes[i]!);
        return s;
      }
      return Buffer.from(bytes.buffer, bytes.byteOffset + 1, n).toString('latin1');
    }
    case T_UTF8:
      return utf8d.decode(bytes.subarray(1));
    case T_CLONE:
      return nodeV8().deserialize(bytes.subarray(1));
    case T_WALKED:
      return { [kNeedsRevive]: nodeV8().deserialize(bytes.subarray(1)) };
    default:
      throw new TypeError(`corrupt message: unknown tag ${String(tag)}`);
  }
}

const kNeedsRevive = Symbol('needs-revive');

/** True when `decodeValue`'s result still needs `finish`/`finishSync`. */
function pending(v: unknown): v is { [kNeedsRevive]: unknown } {
  return typeof v === 'object' && v !== null && kNeedsRevive in v;
}

/** Completes a decoded value: revives library handles, errors, functions (may import modules). */
export function finish(v: unknown): unknown {
  if (!pending(v)) return v;
  return decode({ data: v[kNeedsRevive], walked: true });
}

/**
 * Decodes fully without waiting. Values holding function references need
 * their modules loaded: without waiting, only those `decodeSync` can load.
 */
export function decodeFullySync(bytes: Uint8Array): unknown {
  const v = decodeValue(bytes);
  if (!pending(v)) return v;
  return decodeSync({ data: v[kNeedsRevive], walked: true });
}
