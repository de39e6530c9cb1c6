/**
 * How values cross between workers: structured clone, plus a registry.
 *
 * - Fast path: plain data (primitives, arrays, plain objects, Map, Set, Date,
 *   typed arrays…) is sent as it is and the transport's structured clone does
 *   the work; a cheap scan decides. The object walk below runs only when the
 *   scan finds registered classes, library handles, errors or functions, or
 *   when the transport's clone failed (to name the offending part).
 * - Registered classes (`registerClass`) arrive as instances of their class.
 * - Library objects (locks, queues, … in later modules) implement
 *   {@link REDUCE} and arrive as live handles, at any depth.
 * - Errors keep class, message, own properties, `cause` and the remote stack.
 * - Top-level exported functions cross as references.
 * @module
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { state } from './internal/state.js';
import { errorClasses, RemoteError } from './errors.js';
import { lookupFunction, loadReference, loadReferenceSync } from './fnref.js';
import { entryUrl } from './backends/entry-url.js';
import type { Encoded, FnRefData } from './protocol/messages.js';

/** Method by which library objects describe themselves for transfer. @internal */
export const REDUCE = Symbol.for('multiprocessing-ts.reduce');

/**
 * Method by which library objects that count their copies (pipe ends) take
 * one more for a holder that will send them later (a `Process` not yet
 * started). Returns the function that gives it back. @internal
 */
export const RETAIN = Symbol.for('multiprocessing-ts.retain');

// On globalThis: an app that loads both builds has pipes from either.
const RETAINABLES = Symbol.for('multiprocessing-ts.retainables');
const flags = globalThis as unknown as Record<symbol, boolean | undefined>;

/** Called when an object with {@link RETAIN} is first made: until then `retainAll` need not walk. @internal */
export function noteRetainable(): void {
  flags[RETAINABLES] = true;
}

/** Calls {@link RETAIN} on every library object inside `value`; returns the release functions. @internal */
export function retainAll(value: unknown, out: Array<() => void> = [], seen: Set<object> = new Set()): Array<() => void> {
  // Most programs never make a pipe: no walk over every Process's arguments for them.
  if (!flags[RETAINABLES]) return out;
  if (typeof value !== 'object' || value === null || seen.has(value) || ArrayBuffer.isView(value)) return out;
  seen.add(value);
  const r = (value as { [RETAIN]?: () => () => void })[RETAIN];
  if (typeof r === 'function') {
    out.push(r.call(value));
    return out;
  }
  if (Array.isArray(value)) for (const x of value) retainAll(x, out, seen);
  else if (value instanceof Map) for (const [k, x] of value) (retainAll(k, out, seen), retainAll(x, out, seen));
  else if (value instanceof Set) for (const x of value) retainAll(x, out, seen);
  else if (Object.getPrototypeOf(value) === Object.prototype) for (const k of Object.keys(value)) retainAll((value as Record<string, unknown>)[k], out, seen);
  return out;
}

let inFlight: Array<() => void> | null = null;

/**
 * Library objects call this when encoding counted a copy in flight; the
 * function gives the copy back if the receiver never takes it. @internal
 */
export function noteInFlight(release: () => void): void {
  inFlight?.push(release);
}

/** Runs `fn` (which encodes) and returns the in-flight copies it counted. @internal */
export function collectInFlight<T>(fn: () => T): { result: T; inFlight: Array<() => void> } {
  const prev = inFlight;
  const mine: Array<() => void> = [];
  inFlight = mine;
  try {
    return { result: fn(), inFlight: mine };
  } finally {
    inFlight = prev;
  }
}

let transport: 'thread' | 'process' = 'thread';

/** Where the value being encoded is going (library objects pick what to send by it). @internal */
export function currentTransport(): 'thread' | 'process' {
  return transport;
}

/** Runs `fn` (which encodes values) for a worker reached through `to`. @internal */
export function encodingFor<T>(to: 'thread' | 'process', fn: () => T): T {
  const prev = transport;
  transport = to;
  try {
    return fn();
  } finally {
    transport = prev;
  }
}

/** What a library object returns from its {@link REDUCE} method. @internal */
export interface Reduced {
  kind: string;
  state: unknown;
}

const MARK = '__mp_ts__';

type Marker =
  | { [MARK]: 'class'; name: string; fields: Record<string, unknown> }
  | { [MARK]: 'error'; cls: string; name: string; message: string; stack: string | undefined; props: Record<string, unknown>; cause?: unknown; hasCause: boolean; errors?: unknown[] }
  | { [MARK]: 'fn'; ref: FnRefData }
  | { [MARK]: 'handle'; kind: string; state: unknown }
  | { [MARK]: 'escape'; value: Record<string, unknown> };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Constructor = abstract new (...args: any[]) => unknown;

/**
 * Registers a class so that its instances keep their prototype when they
 * cross to a worker (as arguments, fields, results or errors). Register it in
 * a module that workers import too (the module defining the class is best).
 *
 * Instances are rebuilt without calling the constructor: own fields are
 * copied by structured clone onto an object made from `C.prototype`.
 *
 * @param cls - the class.
 * @param name - registration name; default: `cls.name`. Two classes may not share a name.
 * @returns the class, so it can wrap a class expression.
 * @example
 * ```ts
 * export class Point { constructor(public x: number, public y: number) {} norm() { return Math.hypot(this.x, this.y); } }
 * registerClass(Point);
 * ```
 */
export function registerClass<C extends Constructor>(cls: C, name?: string): C {
  if (typeof cls !== 'function' || !cls.prototype) {
    throw new TypeError(`registerClass expects a class; received ${cls === null ? 'null' : typeof cls}`);
  }
  const key = name ?? cls.name;
  if (typeof key !== 'string' || key.length === 0) {
    throw new TypeError('registerClass needs a name for an anonymous class: registerClass(C, "Name")');
  }
  const st = state();
  const existing = st.classes.get(key);
  if (existing && existing !== cls) {
    throw new TypeError(
      `registerClass: another class is already registered as '${key}'; pass a distinct name: registerClass(C, 'Other${key}')`,
    );
  }
  st.classes.set(key, cls as never);
  st.classNames.set(cls.prototype, key);
  return cls;
}

/** Registers how to rebuild a library handle of `kind` in this thread. @internal */
export function registerHandleKind(kind: string, revive: (state: unknown) => unknown): void {
  state().handleRevivers.set(kind, revive);
}

function cloneError(path: string, what: string): TypeError {
  return new TypeError(
    `${path} cannot be sent to a worker: ${what}. Only structured-cloneable data ` +
      `(primitives, plain objects, arrays, Map, Set, Date, RegExp, typed arrays, …), registered classes, ` +
      `top-level exported functions and this library's objects can cross.`,
  );
}

const builtinProtos = new Set<unknown>([
  Object.prototype,
  Array.prototype,
  null,
]);

function isPlainObject(v: object): boolean {
  return builtinProtos.has(Object.getPrototypeOf(v));
}

const passThroughTags = new Set([
  '[object Date]',
  '[object RegExp]',
  '[object ArrayBuffer]',
  '[object SharedArrayBuffer]',
  '[object DataView]',
  '[object Boolean]',
  '[object Number]',
  '[object String]',
  '[object BigInt]',
  '[object Blob]',
]);

/**
 * Walks a value, replacing what structured clone cannot carry (registered
 * class instances, errors, functions, library handles) with markers.
 * Throws a TypeError naming the path of a part that cannot cross.
 * @internal
 */
export function walk(value: unknown, path: string, seen: Map<object, unknown> = new Map()): unknown {
  if (value === null) return value;
  const t = typeof value;
  if (t === 'number' || t === 'string' || t === 'boolean' || t === 'undefined' || t === 'bigint') return value;
  if (t === 'symbol') throw cloneError(path, 'it is a symbol');
  if (t === 'function') {
    let ref: FnRefData;
    try {
      ref = lookupFunction(value as object);
    } catch (e) {
      const err = new TypeError(`${path} is a function that cannot be sent: ${(e as Error).message}`);
      throw err;
    }
    return { [MARK]: 'fn', ref } satisfies Marker;
  }
  const obj = value as object;
  if (seen.has(obj)) return seen.get(obj);
  const reducer = (obj as { [REDUCE]?: () => Reduced })[REDUCE];
  if (typeof reducer === 'function') {
    const r = reducer.call(obj);
    const m: Marker = { [MARK]: 'handle', kind: r.kind, state: undefined };
    seen.set(obj, m);
    // A handle's state may hold other library objects or functions (a Condition's lock,
    // a Barrier's action): walk it too.
    m.state = walk(r.state, `${path}<${r.kind}>`, seen);
    return m;
  }
  if (obj instanceof Error) return encodeError(obj, path, seen);
  const proto = Object.getPrototypeOf(obj) as object | null;
  const regName = proto ? state().classNames.get(proto) : undefined;
  if (regName !== undefined) {
    const fields: Record<string, unknown> = {};
    const m: Marker = { [MARK]: 'class', name: regName, fields };
    seen.set(obj, m);
    for (const key of Object.keys(obj)) fields[key] = walk((obj as Record<string, unknown>)[key], `${path}.${key}`, seen);
    return m;
  }
  if (Array.isArray(obj)) {
    const out: unknown[] = new Array(obj.length);
    seen.set(obj, out);
    for (let i = 0; i < obj.length; i++) out[i] = walk(obj[i], `${path}[${i}]`, seen);
    return out;
  }
  if (ArrayBuffer.isView(obj)) return obj;
  if (obj instanceof Map) {
    const out = new Map();
    seen.set(obj, out);
    let i = 0;
    for (const [k, v] of obj) {
      out.set(walk(k, `${path}.<key ${i}>`, seen), walk(v, `${path}.get(${typeof k === 'string' ? JSON.stringify(k) : `<key ${i}>`})`, seen));
      i++;
    }
    return out;
  }
  if (obj instanceof Set) {
    const out = new Set();
    seen.set(obj, out);
    let i = 0;
    for (const v of obj) out.add(walk(v, `${path}.<item ${i++}>`, seen));
    return out;
  }
  const tag = Object.prototype.toString.call(obj);
  if (passThroughTags.has(tag)) return obj;
  if (!isPlainObject(obj)) {
    const cname = (proto as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'unknown';
    if (tag === '[object Promise]') throw cloneError(path, 'it is a Promise (await it first)');
    if (tag === '[object WeakMap]' || tag === '[object WeakSet]') throw cloneError(path, `it is a ${cname}`);
    if (typeof (obj as { pipe?: unknown }).pipe === 'function' || typeof (obj as { on?: unknown }).on === 'function') {
      throw cloneError(path, `it is a ${cname} (streams, sockets and event emitters hold OS resources)`);
    }
    // An instance of an unregistered class: structured clone would drop its prototype.
    // Keep Python's spirit (the data arrives) but say how to keep the class.
  }
  const out: Record<string, unknown> = {};
  seen.set(obj, out);
  for (const key of Object.keys(obj)) out[key] = walk((obj as Record<string, unknown>)[key], `${path}.${key}`, seen);
  if (Object.hasOwn(obj, MARK)) return { [MARK]: 'escape', value: out } satisfies Marker;
  return out;
}

function encodeError(err: Error, path: string, seen: Map<object, unknown>): Marker {
  const ctorName = (Object.getPrototypeOf(err) as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'Error';
  const regName = state().classNames.get(Object.getPrototypeOf(err));
  const props: Record<string, unknown> = {};
  const m: Marker = {
    [MARK]: 'error',
    cls: regName ?? ctorName,
    name: String(err.name),
    message: String(err.message),
    stack: typeof err.stack === 'string' ? err.stack : undefined,
    props,
    hasCause: 'cause' in err,
  };
  seen.set(err, m);
  for (const key of Object.keys(err)) {
    if (key === 'cause' || key === 'errors') continue;
    try {
      props[key] = walk((err as unknown as Record<string, unknown>)[key], `${path}.${key}`, seen);
    } catch {
      props[key] = String((err as unknown as Record<string, unknown>)[key]);
    }
  }
  if ('cause' in err) {
    try {
      m.cause = walk(err.cause, `${path}.cause`, seen);
    } catch {
      m.cause = String(err.cause);
    }
  }
  if (err instanceof AggregateError) m.errors = err.errors.map((e, i) => walk(e, `${path}.errors[${i}]`, seen));
  return m;
}

const builtinErrors: Record<string, ErrorConstructor | AggregateErrorConstructor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
  AggregateError,
};

/**
 * Encodes a value for crossing. @internal
 *
 * A scan (no allocation, no copy) looks for what structured clone would not
 * carry faithfully: functions, errors, instances of classes (registered or
 * not), library handles. Only then does the walk (which copies) run; plain
 * data goes to the transport as it is. If the transport's clone still refuses
 * a value, the caller encodes again with `force` to name the offending part.
 */
export function encode(value: unknown, path: string, force = false): Encoded {
  if (!force && !needsWalk(value)) return { data: value, walked: false };
  return { data: walk(value, path), walked: true };
}

/**
 * @internal a scan for values that hold anything but plain data, to be walked before
 * sending: functions, symbols, objects with a prototype other than a pass-through builtin
 * (`passThrough`: their `Object.prototype.toString` tags), and plain objects carrying the own
 * key `mark`. Shared by the worker codec here and the managers' wire format.
 */
export function plainDataScan(passThrough: ReadonlySet<string>, mark: string): (value: unknown) => boolean {
  const needsWalk = (value: unknown, seen: Set<object> | null): boolean => {
    if (value === null) return false;
    const t = typeof value;
    if (t !== 'object') return t === 'function' || t === 'symbol';
    const obj = value as object;
    if (ArrayBuffer.isView(obj)) return false;
    if (Array.isArray(obj)) {
      // The common case (a call's arguments: primitives) needs no bookkeeping.
      for (let i = 0; i < obj.length; i++) {
        const v: unknown = obj[i];
        if (v !== null && (typeof v === 'object' || typeof v === 'function' || typeof v === 'symbol')) {
          seen ??= new Set();
          if (seen.has(obj)) return false;
          seen.add(obj);
          for (let j = i; j < obj.length; j++) if (needsWalk(obj[j], seen)) return true;
          return false;
        }
      }
      return false;
    }
    seen ??= new Set();
    if (seen.has(obj)) return false;
    seen.add(obj);
    const proto = Object.getPrototypeOf(obj) as object | null;
    if (proto !== Object.prototype && proto !== null) {
      if (obj instanceof Map) {
        for (const [k, v] of obj) if (needsWalk(k, seen) || needsWalk(v, seen)) return true;
        return false;
      }
      if (obj instanceof Set) {
        for (const v of obj) if (needsWalk(v, seen)) return true;
        return false;
      }
      // Errors, registered classes, library handles, and anything else with a prototype.
      return !passThrough.has(Object.prototype.toString.call(obj));
    }
    if (Object.hasOwn(obj, mark)) return true;
    for (const key of Object.keys(obj)) if (needsWalk((obj as Record<string, unknown>)[key], seen)) return true;
    return false;
  };
  return (value) => needsWalk(value, null);
}

/** True when `value` holds anything structured clone would not carry faithfully. */
const needsWalk = plainDataScan(passThroughTags, MARK);

/**
 * The module that registers each kind of library handle. A worker whose code
 * imports the library for its types only (a pool worker, a target module that
 * only receives a queue) has not loaded these; `decode` imports the ones a
 * value needs, and only those: loading all of them costs a new worker about
 * 8 ms on the test machine, most of a pool's cold start.
 */
const HANDLE_MODULES: Record<string, () => Promise<unknown>> = {};
for (const [load, kinds] of [
  [() => import('./synchronize.js'), ['Lock', 'RLock', 'Semaphore', 'BoundedSemaphore', 'Event', 'Condition', 'Barrier']],
  [() => import('./sharedctypes.js'), ['RawValue', 'Value', 'RawArray', 'SharedArray']],
  [() => import('./shared-memory.js'), ['SharedMemory', 'ShareableList']],
  [() => import('./queues.js'), ['Queue', 'JoinableQueue', 'SimpleQueue']],
  [() => import('./connection.js'), ['Connection']],
  [() => import('./managers.js'), ['ManagerProxy']],
] as const) {
  for (const kind of kinds) HANDLE_MODULES[kind] = load;
}

/**
 * Decodes a value that crossed; imports modules of function references.
 * `after`: a promise to wait for before reviving (a target's module, which may
 * register the classes the value holds), while the imports go on beside it. @internal
 */
export async function decode(enc: Encoded, after?: Promise<unknown>): Promise<unknown> {
  if (!enc.walked) {
    await after;
    return enc.data;
  }
  const revivers = state().handleRevivers;
  const fns = new Map<string, unknown>();
  const pending: Promise<unknown>[] = [];
  const kinds = new Set<string>();
  collectRefs(
    enc.data,
    new Set(),
    (ref) => {
      const key = `${ref.kind}:${ref.url}#${ref.name}`;
      if (!fns.has(key)) {
        fns.set(key, undefined);
        pending.push(loadReference(ref).then((f) => void fns.set(key, f)));
      }
    },
    (kind) => {
      if (revivers.has(kind) || kinds.has(kind)) return;
      kinds.add(kind);
      const load = HANDLE_MODULES[kind];
      if (load) pending.push(load());
    },
  );
  if (after) pending.push(after);
  await Promise.all(pending);
  return revive(enc.data, new Map(), fns);
}

/**
 * Loads every module of library handles without waiting, for `decodeSync` in a
 * worker that has not loaded them (see HANDLE_MODULES). Through `require`,
 * which Node 20.19 and later can do for ES modules: the modules it loads are
 * the same instances `import` gives.
 */
function loadHandleModulesSync(kind: string): void {
  try {
    const req = createRequire(import.meta.url);
    req(fileURLToPath(entryUrl('handles')));
  } catch (e) {
    throw new TypeError(
      `cannot revive a library object of kind '${kind}' in this worker without waiting ` +
        `(${(e as Error).message}); import 'multiprocessing-ts' in the worker's module, or use the async form`,
    );
  }
}

/**
 * Decodes a value that crossed, without waiting: function references must
 * name CommonJS modules, ES modules already loaded here, or ES modules this
 * worker may load with `require()` (see `requireModule`). @internal
 */
export function decodeSync(enc: Encoded): unknown {
  if (!enc.walked) return enc.data;
  const revivers = state().handleRevivers;
  const fns = new Map<string, unknown>();
  collectRefs(
    enc.data,
    new Set(),
    (ref) => {
      const key = `${ref.kind}:${ref.url}#${ref.name}`;
      if (!fns.has(key)) fns.set(key, loadReferenceSync(ref));
    },
    (kind) => {
      if (!revivers.has(kind) && HANDLE_MODULES[kind]) loadHandleModulesSync(kind);
    },
  );
  return revive(enc.data, new Map(), fns);
}

function isMarker(v: unknown): v is Marker {
  return typeof v === 'object' && v !== null && Object.hasOwn(v, MARK) && Object.getPrototypeOf(v) === Object.prototype;
}

/** Finds the function references and the kinds of library handles inside a value that crossed. */
function collectRefs(v: unknown, seen: Set<object>, found: (ref: FnRefData) => void, handle: (kind: string) => void): void {
  if (typeof v !== 'object' || v === null || seen.has(v)) return;
  seen.add(v);
  if (isMarker(v)) {
    if (v[MARK] === 'fn') return found(v.ref);
    if (v[MARK] === 'handle') handle(v.kind);
  }
  if (Array.isArray(v)) for (const x of v) collectRefs(x, seen, found, handle);
  else if (v instanceof Map) for (const [k, x] of v) (collectRefs(k, seen, found, handle), collectRefs(x, seen, found, handle));
  else if (v instanceof Set) for (const x of v) collectRefs(x, seen, found, handle);
  else if (!ArrayBuffer.isView(v)) for (const key of Object.keys(v)) collectRefs((v as Record<string, unknown>)[key], seen, found, handle);
}

function revive(v: unknown, seen: Map<object, unknown>, fns: Map<string, unknown>): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (seen.has(v)) return seen.get(v);
  if (isMarker(v)) {
    switch (v[MARK]) {
      case 'fn':
        return fns.get(`${v.ref.kind}:${v.ref.url}#${v.ref.name}`);
      case 'handle': {
        const reviver = state().handleRevivers.get(v.kind);
        if (!reviver) throw new TypeError(`no reviver for library object of kind '${v.kind}' in this worker`);
        const h = reviver(revive(v.state, seen, fns));
        seen.set(v, h);
        return h;
      }
      case 'class': {
        const cls = state().classes.get(v.name);
        const obj: Record<string, unknown> = cls ? Object.create(cls.prototype as object) : {};
        seen.set(v, obj);
        for (const key of Object.keys(v.fields)) obj[key] = revive(v.fields[key], seen, fns);
        return obj;
      }
      case 'error':
        return reviveError(v, seen, fns);
      case 'escape': {
        const out: Record<string, unknown> = {};
        seen.set(v, out);
        for (const key of Object.keys(v.value)) out[key] = revive(v.value[key], seen, fns);
        return out;
      }
    }
  }
  if (Array.isArray(v)) {
    seen.set(v, v);
    for (let i = 0; i < v.length; i++) v[i] = revive(v[i], seen, fns);
    return v;
  }
  if (v instanceof Map) {
    const out = new Map();
    seen.set(v, out);
    for (const [k, x] of v) out.set(revive(k, seen, fns), revive(x, seen, fns));
    return out;
  }
  if (v instanceof Set) {
    const out = new Set();
    seen.set(v, out);
    for (const x of v) out.add(revive(x, seen, fns));
    return out;
  }
  if (ArrayBuffer.isView(v) || Object.getPrototypeOf(v) !== Object.prototype) return v;
  seen.set(v, v);
  for (const key of Object.keys(v)) (v as Record<string, unknown>)[key] = revive((v as Record<string, unknown>)[key], seen, fns);
  return v;
}

function reviveError(m: Extract<Marker, { [MARK]: 'error' }>, seen: Map<object, unknown>, fns: Map<string, unknown>): Error {
  const registered = state().classes.get(m.cls);
  const ctor: { prototype: object } | undefined =
    registered ?? errorClasses[m.cls] ?? builtinErrors[m.cls];
  let err: Error;
  if (ctor) {
    err = Object.create(ctor.prototype) as Error;
  } else {
    err = Object.create(RemoteError.prototype) as Error;
    Object.defineProperty(err, Symbol.for('multiprocessing-ts.error-kinds'), { value: RemoteError.kinds });
    Object.defineProperty(err, 'code', { value: RemoteError.code, enumerable: true, writable: true, configurable: true });
    Object.defineProperty(err, 'remoteClass', { value: m.cls, enumerable: true, writable: true, configurable: true });
  }
  seen.set(m, err);
  if (ctor && (errorClasses[m.cls] !== undefined || (registered && registered.prototype instanceof Error && 'kinds' in registered))) {
    const kinds = (ctor as unknown as { kinds?: readonly string[] }).kinds;
    if (kinds) Object.defineProperty(err, Symbol.for('multiprocessing-ts.error-kinds'), { value: kinds });
  }
  Object.defineProperty(err, 'message', { value: m.message, enumerable: false, writable: true, configurable: true });
  if (err.name !== m.name) Object.defineProperty(err, 'name', { value: m.name, enumerable: false, writable: true, configurable: true });
  for (const key of Object.keys(m.props)) (err as unknown as Record<string, unknown>)[key] = revive(m.props[key], seen, fns);
  if (m.hasCause) Object.defineProperty(err, 'cause', { value: revive(m.cause, seen, fns), enumerable: false, writable: true, configurable: true });
  if (m.errors) Object.defineProperty(err, 'errors', { value: m.errors.map((e) => revive(e, seen, fns)), enumerable: false, writable: true, configurable: true });
  const here = new Error().stack?.split('\n').slice(1).join('\n') ?? '';
  const remote = m.stack ?? `${m.name}: ${m.message}`;
  Object.defineProperty(err, 'stack', {
    value: `${remote}\n    --- the error above was raised in a worker; rebuilt here ---\n${here}`,
    enumerable: false,
    writable: true,
    configurable: true,
  });
  return err;
}

/** Encodes an error (always walked: keeps class, props, cause, stack). @internal */
export function encodeErrorValue(err: unknown): Encoded {
  try {
    return { data: walk(err, 'error'), walked: true };
  } catch {
    return { data: walk(new Error(String(err)), 'error'), walked: true };
  }
}
