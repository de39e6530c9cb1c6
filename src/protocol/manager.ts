/**
 * Wire format of managers (client <-> manager server), and the safe encoding
 * of the values inside it.
 *
 * Transport: the frames of `Listener`/`Client` (Python's 4-byte length
 * prefix) after the `authkey` challenge-response. Each frame is one V8
 * serializer payload (structured clone: plain data only, no classes, no
 * functions) holding a batch of messages:
 *
 * - request:  `[id, op, target, method, walked, args]`
 * - response: `[id, status, walked, value]`
 *
 * Values that hold more than plain data (proxies, instances of registered
 * classes, errors) are walked first: those parts become markers, plain
 * objects with the own key {@link MARK}. Decoding rebuilds only what is on
 * an allow-list: proxies (by typeid, from the receiver's own tables),
 * classes registered in the receiving worker, and error classes (built-in,
 * this library's, or registered). Nothing from the wire is ever evaluated,
 * imported or called, and no property is set by plain assignment (so a key
 * named `__proto__` stays a plain data property).
 * @internal
 */
import { serialize, deserialize } from 'node:v8';
import { state } from '../internal/state.js';
import { errorClasses, RemoteError } from '../errors.js';
import { plainDataScan } from '../reduction.js';

/** Request operations. */
export const OP_CALL = 0;
export const OP_CREATE = 1;
export const OP_INCREF = 2;
export const OP_DECREF = 3;
export const OP_CANCEL = 4;
export const OP_SHUTDOWN = 5;
export const OP_INFO = 6;

/** Response statuses. */
export const ST_OK = 0;
/** The referent raised: the value is the error (walked). */
export const ST_ERROR = 1;
/** The server refused the request (unknown object, method not exposed, bad message): the value is a message. */
export const ST_REMOTE = 2;
/** The request was cancelled before it took effect. */
export const ST_CANCELLED = 3;

export type Request = [id: number, op: number, target: number | string, method: string, walked: 0 | 1, args: unknown[]];
export type Response = [id: number, status: number, walked: 0 | 1, value: unknown];

/** Key that marks a walked part. Chosen so that it does not collide with ordinary data. */
export const MARK = '\u0000mp-mgr';

/** Reference to a managed object. */
export interface ProxyMarker {
  [MARK]: 'p';
  /** object id */
  i: number;
  /** typeid */
  t: string;
  /** exposed method names (null: those of the proxy type) */
  x: string[] | null;
  /** name of the proxy class */
  n: string;
}

type ClassMarker = { [MARK]: 'c'; n: string; f: Record<string, unknown> };
type ErrorMarker = { [MARK]: 'e'; c: string; n: string; m: string; s: string | undefined; p: Record<string, unknown>; k?: unknown; hk: boolean };
type EscapeMarker = { [MARK]: 'x'; v: Record<string, unknown> };
export type Marker = ProxyMarker | ClassMarker | ErrorMarker | EscapeMarker;

/** Encodes a batch. */
export function encodeFrame(batch: unknown[]): Uint8Array {
  return serialize(batch);
}

/** Decodes a batch; throws on anything that is not an array. */
export function decodeFrame(bytes: Uint8Array): unknown[] {
  const v: unknown = deserialize(bytes);
  if (!Array.isArray(v)) throw new TypeError('bad manager message: a frame must hold an array');
  return v;
}

/** Checks the shape of one request from the wire. */
export function checkRequest(r: unknown): Request {
  if (
    !Array.isArray(r) ||
    r.length !== 6 ||
    typeof r[0] !== 'number' ||
    !Number.isSafeInteger(r[0]) ||
    typeof r[1] !== 'number' ||
    (typeof r[2] !== 'number' && typeof r[2] !== 'string') ||
    typeof r[3] !== 'string' ||
    (r[4] !== 0 && r[4] !== 1) ||
    !Array.isArray(r[5])
  ) {
    throw new TypeError('bad manager message: malformed request');
  }
  return r as Request;
}

/** Checks the shape of one response from the wire. */
export function checkResponse(r: unknown): Response {
  if (!Array.isArray(r) || r.length !== 4 || typeof r[0] !== 'number' || typeof r[1] !== 'number' || (r[2] !== 0 && r[2] !== 1)) {
    throw new TypeError('bad manager message: malformed response');
  }
  return r as Response;
}

// ---- scanning and walking out -----------------------------------------------

const passThroughTags = new Set([
  '[object Date]',
  '[object RegExp]',
  '[object ArrayBuffer]',
  '[object DataView]',
  '[object Boolean]',
  '[object Number]',
  '[object String]',
  '[object BigInt]',
]);

/** True when a value holds anything but plain data (so it must be walked). */
export const needsWalk = plainDataScan(passThroughTags, MARK);

/** How a walk out names special objects; returns undefined for "not mine". */
export type ProxyToMarker = (v: object) => ProxyMarker | undefined;

function refuse(path: string, what: string): TypeError {
  return new TypeError(
    `${path} cannot be sent to a manager: ${what}. Managed objects hold plain data (primitives, plain objects, arrays, Map, Set, Date, RegExp, typed arrays), ` +
      'instances of registered classes, errors, and other manager proxies.',
  );
}

function define(target: object, key: string | number, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Walks a value to send: proxies, registered classes and errors become
 * markers; library objects of other kinds, functions, symbols and promises
 * are refused with a TypeError naming their path.
 */
export function walkOut(value: unknown, path: string, toMarker: ProxyToMarker, seen: Map<object, unknown> = new Map()): unknown {
  if (value === null) return null;
  const t = typeof value;
  if (t === 'number' || t === 'string' || t === 'boolean' || t === 'undefined' || t === 'bigint') return value;
  if (t === 'symbol') throw refuse(path, 'it is a symbol');
  if (t === 'function') throw refuse(path, 'it is a function (code never crosses to a manager)');
  const obj = value as object;
  if (seen.has(obj)) return seen.get(obj);
  const pm = toMarker(obj);
  if (pm !== undefined) {
    seen.set(obj, pm);
    return pm;
  }
  if (typeof (obj as Record<symbol, unknown>)[Symbol.for('multiprocessing-ts.reduce')] === 'function') {
    const cname = (Object.getPrototypeOf(obj) as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'object';
    throw refuse(path, `it is a ${cname} of this library, which lives in this machine's shared memory (use the manager's own ${cname}() instead)`);
  }
  if (obj instanceof Error) return errorOut(obj, path, toMarker, seen);
  if (ArrayBuffer.isView(obj)) return obj;
  if (Array.isArray(obj)) {
    const out: unknown[] = new Array(obj.length);
    seen.set(obj, out);
    for (let i = 0; i < obj.length; i++) out[i] = walkOut(obj[i], `${path}[${i}]`, toMarker, seen);
    return out;
  }
  if (obj instanceof Map) {
    const out = new Map();
    seen.set(obj, out);
    let i = 0;
    for (const [k, v] of obj) {
      out.set(walkOut(k, `${path}.<key ${i}>`, toMarker, seen), walkOut(v, `${path}.get(${typeof k === 'string' ? JSON.stringify(k) : `<key ${i}>`})`, toMarker, seen));
      i++;
    }
    return out;
  }
  if (obj instanceof Set) {
    const out = new Set();
    seen.set(obj, out);
    let i = 0;
    for (const v of obj) out.add(walkOut(v, `${path}.<item ${i++}>`, toMarker, seen));
    return out;
  }
  const tag = Object.prototype.toString.call(obj);
  if (passThroughTags.has(tag)) return obj;
  if (tag === '[object Promise]') throw refuse(path, 'it is a Promise (await it first)');
  if (tag === '[object SharedArrayBuffer]') throw refuse(path, 'it is a SharedArrayBuffer (shared memory cannot cross a socket)');
  const proto = Object.getPrototypeOf(obj) as object | null;
  const regName = proto !== null && proto !== Object.prototype ? state().classNames.get(proto) : undefined;
  if (regName !== undefined) {
    const f: Record<string, unknown> = {};
    const m: ClassMarker = { [MARK]: 'c', n: regName, f };
    seen.set(obj, m);
    for (const key of Object.keys(obj)) define(f, key, walkOut((obj as Record<string, unknown>)[key], `${path}.${key}`, toMarker, seen));
    return m;
  }
  if (proto !== null && proto !== Object.prototype) {
    if (tag === '[object WeakMap]' || tag === '[object WeakSet]') throw refuse(path, 'it is a weak collection');
    if (typeof (obj as { on?: unknown }).on === 'function') throw refuse(path, 'it is an event emitter or stream (it holds OS resources)');
  }
  const out: Record<string, unknown> = {};
  seen.set(obj, out);
  for (const key of Object.keys(obj)) define(out, key, walkOut((obj as Record<string, unknown>)[key], `${path}.${key}`, toMarker, seen));
  if (Object.hasOwn(obj, MARK)) return { [MARK]: 'x', v: out } satisfies EscapeMarker;
  return out;
}

function errorOut(err: Error, path: string, toMarker: ProxyToMarker, seen: Map<object, unknown>): ErrorMarker {
  const proto = Object.getPrototypeOf(err) as object | null;
  const cls = (proto && state().classNames.get(proto)) ?? (proto as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'Error';
  const p: Record<string, unknown> = {};
  const m: ErrorMarker = { [MARK]: 'e', c: cls, n: String(err.name), m: String(err.message), s: typeof err.stack === 'string' ? err.stack : undefined, p, hk: 'cause' in err };
  seen.set(err, m);
  for (const key of Object.keys(err)) {
    let v: unknown;
    try {
      v = walkOut((err as unknown as Record<string, unknown>)[key], `${path}.${key}`, toMarker, seen);
    } catch {
      v = String((err as unknown as Record<string, unknown>)[key]);
    }
    define(p, key, v);
  }
  if ('cause' in err) {
    try {
      m.k = walkOut(err.cause, `${path}.cause`, toMarker, seen);
    } catch {
      m.k = String(err.cause);
    }
  }
  return m;
}

/** Encodes an error raised by a referent (always walked). */
export function errorToWire(err: unknown, toMarker: ProxyToMarker): unknown {
  try {
    return walkOut(err instanceof Error ? err : new Error(String(err)), 'error', toMarker);
  } catch {
    return walkOut(new Error(String(err)), 'error', () => undefined);
  }
}

// ---- walking in ---------------------------------------------------------------

/** True for a marker of any kind (own key, plain prototype, string tag). */
export function isMarker(v: unknown): v is Marker {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype && Object.hasOwn(v, MARK) && typeof (v as Record<string, unknown>)[MARK] === 'string';
}

/** True for a well-formed proxy marker. */
export function isProxyMarker(v: unknown): v is ProxyMarker {
  if (!isMarker(v) || v[MARK] !== 'p') return false;
  const m = v as ProxyMarker;
  return typeof m.i === 'number' && typeof m.t === 'string' && typeof m.n === 'string' && (m.x === null || (Array.isArray(m.x) && m.x.every((s) => typeof s === 'string')));
}

/** Builds a proxy from a marker in this worker. */
export type MarkerToProxy = (m: ProxyMarker) => unknown;

const builtinErrors: Record<string, { prototype: object }> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
  AggregateError,
};

const BRAND = Symbol.for('multiprocessing-ts.error-kinds');

/**
 * Rebuilds a received value: markers become proxies, registered class
 * instances and errors; everything else stays the plain data it is. Works
 * in place on the deserialized graph (which nothing else references).
 */
export function walkIn(v: unknown, toProxy: MarkerToProxy, seen: Map<object, unknown> = new Map()): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (seen.has(v)) return seen.get(v);
  if (isMarker(v)) {
    const m = v as Marker;
    switch (m[MARK]) {
      case 'p': {
        if (!isProxyMarker(m)) throw new TypeError('bad manager message: malformed proxy reference');
        const p = toProxy(m);
        seen.set(v, p);
        return p;
      }
      case 'c': {
        const cls = typeof m.n === 'string' ? state().classes.get(m.n) : undefined;
        const obj: Record<string, unknown> = cls ? Object.create((cls as { prototype: object }).prototype) : {};
        seen.set(v, obj);
        const f = typeof m.f === 'object' && m.f !== null ? m.f : {};
        for (const key of Object.keys(f)) define(obj, key, walkIn(f[key], toProxy, seen));
        return obj;
      }
      case 'e':
        return errorIn(m, toProxy, seen);
      case 'x': {
        const out: Record<string, unknown> = {};
        seen.set(v, out);
        const inner = typeof m.v === 'object' && m.v !== null ? m.v : {};
        for (const key of Object.keys(inner)) define(out, key, walkIn(inner[key], toProxy, seen));
        return out;
      }
      default:
        throw new TypeError('bad manager message: unknown marker');
    }
  }
  if (Array.isArray(v)) {
    seen.set(v, v);
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (typeof x === 'object' && x !== null) v[i] = walkIn(x, toProxy, seen);
    }
    return v;
  }
  if (v instanceof Map) {
    const out = new Map();
    seen.set(v, out);
    for (const [k, x] of v) out.set(walkIn(k, toProxy, seen), walkIn(x, toProxy, seen));
    return out;
  }
  if (v instanceof Set) {
    const out = new Set();
    seen.set(v, out);
    for (const x of v) out.add(walkIn(x, toProxy, seen));
    return out;
  }
  if (ArrayBuffer.isView(v) || Object.getPrototypeOf(v) !== Object.prototype) return v;
  seen.set(v, v);
  const o = v as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    const x = o[key];
    if (typeof x !== 'object' || x === null) continue;
    const y = walkIn(x, toProxy, seen);
    if (y !== x) define(o, key, y);
  }
  return v;
}

function errorIn(m: ErrorMarker, toProxy: MarkerToProxy, seen: Map<object, unknown>): Error {
  const name = typeof m.c === 'string' ? m.c : 'Error';
  const registered = state().classes.get(name) as { prototype: object } | undefined;
  const ctor: { prototype: object } | undefined =
    (registered && registered.prototype instanceof Error ? registered : undefined) ??
    (Object.hasOwn(errorClasses, name) ? errorClasses[name] : undefined) ??
    (Object.hasOwn(builtinErrors, name) ? builtinErrors[name] : undefined);
  const err = Object.create((ctor ?? RemoteError).prototype as object) as Error;
  seen.set(m, err);
  const kinds = (ctor ?? RemoteError) as unknown as { kinds?: readonly string[]; code?: string };
  if (kinds.kinds) Object.defineProperty(err, BRAND, { value: kinds.kinds });
  if (kinds.code) define(err, 'code', kinds.code);
  if (!ctor) define(err, 'remoteClass', name);
  Object.defineProperty(err, 'message', { value: String(m.m), enumerable: false, writable: true, configurable: true });
  if (err.name !== m.n) Object.defineProperty(err, 'name', { value: String(m.n), enumerable: false, writable: true, configurable: true });
  const p = typeof m.p === 'object' && m.p !== null ? m.p : {};
  for (const key of Object.keys(p)) define(err, key, walkIn(p[key], toProxy, seen));
  if (m.hk === true) Object.defineProperty(err, 'cause', { value: walkIn(m.k, toProxy, seen), enumerable: false, writable: true, configurable: true });
  const here = new Error().stack?.split('\n').slice(2).join('\n') ?? '';
  Object.defineProperty(err, 'stack', {
    value: `${typeof m.s === 'string' ? m.s : `${String(m.n)}: ${String(m.m)}`}\n    --- the error above was raised in the manager's server; rebuilt here ---\n${here}`,
    enumerable: false,
    writable: true,
    configurable: true,
  });
  return err;
}

/** Calls `fn` on every proxy marker inside `v` (for the server's reference counts). */
export function forEachProxyMarker(v: unknown, fn: (m: ProxyMarker, replace: (n: ProxyMarker) => void) => void, seen: Set<object> = new Set()): void {
  if (typeof v !== 'object' || v === null || seen.has(v) || ArrayBuffer.isView(v)) return;
  seen.add(v);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (isProxyMarker(x)) fn(x, (n) => (v[i] = n));
      else forEachProxyMarker(x, fn, seen);
    }
    return;
  }
  if (v instanceof Map) {
    for (const [k, x] of v) {
      if (isProxyMarker(x)) fn(x, (n) => v.set(k, n));
      else forEachProxyMarker(x, fn, seen);
    }
    return;
  }
  if (v instanceof Set) {
    for (const x of [...v]) {
      if (isProxyMarker(x)) {
        fn(x, (n) => {
          v.delete(x);
          v.add(n);
        });
      } else forEachProxyMarker(x, fn, seen);
    }
    return;
  }
  if (Object.getPrototypeOf(v) !== Object.prototype) return;
  const o = v as Record<string, unknown>;
  if (isMarker(v)) {
    // class / error / escape: look inside their data
    for (const key of Object.keys(o)) if (key !== MARK) forEachProxyMarker(o[key], fn, seen);
    return;
  }
  for (const key of Object.keys(o)) {
    const x = o[key];
    if (isProxyMarker(x)) fn(x, (n) => define(o, key, n));
    else forEachProxyMarker(x, fn, seen);
  }
}
