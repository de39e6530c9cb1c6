/**
 * The objects a SyncManager's server keeps (the referents of the proxies):
 * dict, list, Namespace, Value, Array, Queue, JoinableQueue, the locks,
 * Condition, Event, Barrier. They live in the server's worker, hold values in
 * their wire form (plain data and reference markers, never revived), and wait
 * without blocking the server: a waiting call is a pending promise that a
 * later call, a timer or a cancellation settles.
 *
 * A method learns who calls it (which client connection, for lock ownership
 * and cancellation) from {@link caller}, valid during the synchronous part of
 * the call.
 * @internal
 */
import { Empty, Full, ProcessError, BrokenBarrierError } from '../errors.js';
import { Pool } from '../pool.js';

/** A client connection as the referents see it. */
export interface CallerConn {
  readonly id: number;
  /** True once the client is gone: a wait that wakes up for it must not take anything. */
  readonly closed: boolean;
  /** Locks this connection holds, released if it disconnects. */
  readonly held: Set<Releasable>;
}

/** Something a connection may hold when it goes away. */
export interface Releasable {
  releaseAllOf(conn: CallerConn): void;
}

/** The current call: its connection, and how to react to a cancellation. */
export interface Caller {
  conn: CallerConn;
  /** Registers what to do if the client cancels this call while it waits. */
  onCancel(fn: () => void): void;
  /** Resolves a reference marker to the object it names (or throws). */
  resolve(ref: unknown): unknown;
  /** The function a reference names, if the server's owner allowed it (or throws). */
  allowedFunction(ref: unknown): (...args: unknown[]) => unknown;
}

let current: Caller | null = null;

/** Runs `fn` with `c` as the current caller. */
export function withCaller<T>(c: Caller, fn: () => T): T {
  const prev = current;
  current = c;
  try {
    return fn();
  } finally {
    current = prev;
  }
}

/** The connection calling now. */
export function caller(): Caller {
  if (current === null) throw new ProcessError('internal error: a manager object was called outside a request');
  return current;
}

/** A cancellation of a waiting call. */
export class Cancelled extends Error {
  constructor() {
    super('cancelled');
  }
}

// ---- argument checks -------------------------------------------------------

function received(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}…` : v}' (string)`;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  return typeof v;
}

/** Optional timeout in ms: undefined/null = forever; NaN/non-number = TypeError. */
function timeoutArg(t: unknown, name = 'timeout'): number | undefined {
  if (t === undefined || t === null) return undefined;
  if (typeof t !== 'number' || Number.isNaN(t)) throw new TypeError(`${name} must be a number of milliseconds or undefined; received ${received(t)}`);
  return t;
}

interface BlockOpts {
  block: boolean;
  timeout: number | undefined;
}

function blockArg(o: unknown): BlockOpts {
  if (o === undefined || o === null) return { block: true, timeout: undefined };
  if (typeof o !== 'object') throw new TypeError(`options must be an object; received ${received(o)}`);
  const r = o as { block?: unknown; timeout?: unknown };
  if (r.block !== undefined && typeof r.block !== 'boolean') throw new TypeError(`options.block must be a boolean; received ${received(r.block)}`);
  return { block: r.block !== false, timeout: timeoutArg(r.timeout, 'options.timeout') };
}

/** Keys of a managed dict: values that compare by value. */
export function checkKey(k: unknown): void {
  const t = typeof k;
  if (k === null || t === 'string' || t === 'number' || t === 'bigint' || t === 'boolean' || t === 'undefined') return;
  throw new TypeError(`unhashable key: a managed dict's keys must be primitives (string, number, bigint, boolean, null, undefined); received ${t === 'object' ? (Array.isArray(k) ? 'an array' : 'an object') : t}`);
}

function keyText(k: unknown): string {
  return typeof k === 'string' ? `'${k}'` : String(k);
}

// ---- waiting ----------------------------------------------------------------

/**
 * Waits until `wake` is called (resolves true), the timeout passes (false),
 * or the client cancels (rejects Cancelled). `arm` registers the wake-up and
 * returns its removal.
 */
function waitUntil(timeout: number | undefined, arm: (wake: () => void) => () => void): Promise<boolean> {
  const c = caller();
  return new Promise<boolean>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = () => {
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      disarm();
    };
    const disarm = arm(() => {
      if (done) return;
      finish();
      resolve(true);
    });
    if (timeout !== undefined) {
      timer = setTimeout(() => {
        if (done) return;
        finish();
        resolve(false);
      }, Math.max(0, timeout));
    }
    c.onCancel(() => {
      if (done) return;
      finish();
      reject(new Cancelled());
    });
  });
}

/** A FIFO of wake-up functions. */
class WaitList {
  #list: Array<() => void> = [];
  add(fn: () => void): () => void {
    this.#list.push(fn);
    return () => {
      const i = this.#list.indexOf(fn);
      if (i >= 0) this.#list.splice(i, 1);
    };
  }
  wakeOne(): boolean {
    const f = this.#list.shift();
    if (f === undefined) return false;
    f();
    return true;
  }
  wakeAll(): void {
    const all = this.#list;
    this.#list = [];
    for (const f of all) f();
  }
  get size(): number {
    return this.#list.length;
  }
}

// ---- dict -------------------------------------------------------------------

/** A managed dict: a Map with primitive keys (Python's dict, insertion-ordered). */
export class ManagedDict {
  static readonly exposed = ['get', 'set', 'delete', 'has', 'keys', 'values', 'items', 'update', 'size', 'pop', 'popitem', 'setdefault', 'clear', 'copy', 'getItem', 'toObject'];
  readonly map: Map<unknown, unknown>;
  constructor(init?: unknown) {
    this.map = new Map();
    if (init !== undefined && init !== null) this.update(init);
  }
  get(k: unknown, dflt?: unknown): unknown {
    const v = this.map.get(k);
    return v === undefined && !this.map.has(k) ? dflt : v;
  }
  getItem(k: unknown): unknown {
    if (!this.map.has(k)) throw new RangeError(`KeyError: ${keyText(k)} is not in the dict`);
    return this.map.get(k);
  }
  set(k: unknown, v: unknown): void {
    checkKey(k);
    this.map.set(k, v);
  }
  delete(k: unknown): boolean {
    return this.map.delete(k);
  }
  has(k: unknown): boolean {
    return this.map.has(k);
  }
  keys(): unknown[] {
    return [...this.map.keys()];
  }
  values(): unknown[] {
    return [...this.map.values()];
  }
  items(): Array<[unknown, unknown]> {
    return [...this.map.entries()];
  }
  update(other: unknown): void {
    if (other instanceof Map) {
      for (const [k, v] of other) this.set(k, v);
    } else if (Array.isArray(other)) {
      other.forEach((e, i) => {
        if (!Array.isArray(e) || e.length !== 2) throw new TypeError(`update: entry ${i} must be a [key, value] pair; received ${received(e)}`);
        this.set(e[0], e[1]);
      });
    } else if (typeof other === 'object' && other !== null && Object.getPrototypeOf(other) === Object.prototype) {
      for (const k of Object.keys(other)) this.map.set(k, (other as Record<string, unknown>)[k]);
    } else {
      throw new TypeError(`update expects a Map, an object or an array of [key, value] pairs; received ${received(other)}`);
    }
  }
  size(): number {
    return this.map.size;
  }
  pop(k: unknown, ...dflt: unknown[]): unknown {
    if (this.map.has(k)) {
      const v = this.map.get(k);
      this.map.delete(k);
      return v;
    }
    if (dflt.length > 0) return dflt[0];
    throw new RangeError(`KeyError: ${keyText(k)} is not in the dict`);
  }
  popitem(): [unknown, unknown] {
    if (this.map.size === 0) throw new RangeError("KeyError: 'popitem(): dictionary is empty'");
    let last: [unknown, unknown] | undefined;
    for (const e of this.map) last = e;
    this.map.delete(last![0]);
    return last!;
  }
  setdefault(k: unknown, dflt?: unknown): unknown {
    if (this.map.has(k)) return this.map.get(k);
    this.set(k, dflt);
    return dflt;
  }
  clear(): void {
    this.map.clear();
  }
  copy(): Map<unknown, unknown> {
    return new Map(this.map);
  }
  toObject(): Record<string, unknown> {
    const o: Record<string, unknown> = {};
    for (const [k, v] of this.map) Object.defineProperty(o, String(k), { value: v, enumerable: true, writable: true, configurable: true });
    return o;
  }
  valueOf(): unknown {
    return this.copy();
  }
}

// ---- list -------------------------------------------------------------------

function intArg(i: unknown, name: string): number {
  if (typeof i !== 'number' || !Number.isInteger(i)) throw new TypeError(`${name} must be an integer; received ${received(i)}`);
  return i;
}

function compare(a: unknown, b: unknown): number {
  const ta = typeof a;
  const tb = typeof b;
  const num = (t: string) => t === 'number' || t === 'bigint' || t === 'boolean';
  if (num(ta) && num(tb)) {
    const x = a as number;
    const y = b as number;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (ta === 'string' && tb === 'string') return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const c = compare(a[i], b[i]);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }
  throw new TypeError(`'<' not supported between ${Array.isArray(a) ? 'array' : ta} and ${Array.isArray(b) ? 'array' : tb} (sort() orders numbers, strings and arrays of them)`);
}

/** Equality of wire values (Python's `==` on plain data). */
function equal(a: unknown, b: unknown): boolean {
  if (Object.is(a, b) || a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equal(x, b[i]));
  if (a instanceof Map && b instanceof Map) {
    if (a.size !== b.size) return false;
    for (const [k, v] of a) if (!b.has(k) || !equal(v, b.get(k))) return false;
    return true;
  }
  if (Object.getPrototypeOf(a) === Object.prototype && Object.getPrototypeOf(b) === Object.prototype) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return false;
}

/** A managed list (Python's list, with its negative indexes). */
export class ManagedList {
  static readonly exposed = ['append', 'extend', 'get', 'set', 'delete', 'pop', 'insert', 'length', 'slice', 'setSlice', 'index', 'count', 'remove', 'reverse', 'sort', 'has', 'clear', 'copy'];
  readonly items: unknown[];
  constructor(init?: unknown) {
    if (init === undefined || init === null) this.items = [];
    else if (Array.isArray(init)) this.items = init;
    else if (init instanceof Set || init instanceof Map) this.items = [...init];
    else throw new TypeError(`a managed list starts from an array; received ${received(init)}`);
  }
  #index(i: unknown, what = 'list index'): number {
    const n = intArg(i, 'index');
    const j = n < 0 ? n + this.items.length : n;
    if (j < 0 || j >= this.items.length) throw new RangeError(`IndexError: ${what} out of range (index ${n}, length ${this.items.length})`);
    return j;
  }
  append(v: unknown): void {
    this.items.push(v);
  }
  extend(vs: unknown): void {
    if (!Array.isArray(vs)) throw new TypeError(`extend expects an array; received ${received(vs)}`);
    for (const v of vs) this.items.push(v);
  }
  get(i: unknown): unknown {
    return this.items[this.#index(i)];
  }
  set(i: unknown, v: unknown): void {
    this.items[this.#index(i, 'list assignment index')] = v;
  }
  delete(i: unknown): void {
    this.items.splice(this.#index(i, 'list assignment index'), 1);
  }
  pop(i?: unknown): unknown {
    if (this.items.length === 0) throw new RangeError('IndexError: pop from empty list');
    const j = i === undefined ? this.items.length - 1 : this.#index(i, 'pop index');
    return this.items.splice(j, 1)[0];
  }
  insert(i: unknown, v: unknown): void {
    let j = intArg(i, 'index');
    const n = this.items.length;
    if (j < 0) j = Math.max(0, j + n);
    if (j > n) j = n;
    this.items.splice(j, 0, v);
  }
  length(): number {
    return this.items.length;
  }
  slice(start?: unknown, end?: unknown): unknown[] {
    return this.items.slice(start === undefined || start === null ? undefined : intArg(start, 'start'), end === undefined || end === null ? undefined : intArg(end, 'end'));
  }
  setSlice(start: unknown, end: unknown, vs: unknown): void {
    if (!Array.isArray(vs)) throw new TypeError(`setSlice expects an array of new items; received ${received(vs)}`);
    const n = this.items.length;
    const norm = (x: unknown, d: number) => {
      if (x === undefined || x === null) return d;
      const v = intArg(x, 'index');
      return Math.min(n, Math.max(0, v < 0 ? v + n : v));
    };
    const s = norm(start, 0);
    const e = Math.max(s, norm(end, n));
    this.items.splice(s, e - s, ...vs);
  }
  index(v: unknown, start?: unknown, end?: unknown): number {
    const n = this.items.length;
    const norm = (x: unknown, d: number) => {
      if (x === undefined || x === null) return d;
      const k = intArg(x, 'index');
      return Math.min(n, Math.max(0, k < 0 ? k + n : k));
    };
    for (let i = norm(start, 0); i < norm(end, n); i++) if (equal(this.items[i], v)) return i;
    throw new RangeError('ValueError: the value is not in the list');
  }
  count(v: unknown): number {
    let c = 0;
    for (const x of this.items) if (equal(x, v)) c++;
    return c;
  }
  has(v: unknown): boolean {
    return this.items.some((x) => equal(x, v));
  }
  remove(v: unknown): void {
    const i = this.items.findIndex((x) => equal(x, v));
    if (i < 0) throw new RangeError('ValueError: list.remove(x): x not in list');
    this.items.splice(i, 1);
  }
  reverse(): void {
    this.items.reverse();
  }
  sort(options?: unknown): void {
    const reverse = typeof options === 'object' && options !== null && (options as { reverse?: unknown }).reverse === true;
    const copy = this.items.slice();
    copy.sort(reverse ? (a, b) => compare(b, a) : compare);
    for (let i = 0; i < copy.length; i++) this.items[i] = copy[i];
  }
  clear(): void {
    this.items.length = 0;
  }
  copy(): unknown[] {
    return this.items.slice();
  }
  valueOf(): unknown {
    return this.items.slice();
  }
}

// ---- Namespace, Value, Array ---------------------------------------------------

/** A managed Namespace: named attributes. */
export class ManagedNamespace {
  static readonly exposed = ['get', 'set', 'delete', 'has', 'toObject'];
  readonly attrs = new Map<string, unknown>();
  constructor(init?: unknown) {
    if (init === undefined || init === null) return;
    if (typeof init !== 'object' || Object.getPrototypeOf(init) !== Object.prototype) throw new TypeError(`a Namespace starts from a plain object; received ${received(init)}`);
    for (const k of Object.keys(init)) this.attrs.set(k, (init as Record<string, unknown>)[k]);
  }
  #name(n: unknown): string {
    if (typeof n !== 'string') throw new TypeError(`attribute name must be string, not ${received(n)}`);
    return n;
  }
  get(name: unknown): unknown {
    const n = this.#name(name);
    if (!this.attrs.has(n)) throw new TypeError(`AttributeError: 'Namespace' object has no attribute '${n}'`);
    return this.attrs.get(n);
  }
  set(name: unknown, v: unknown): void {
    this.attrs.set(this.#name(name), v);
  }
  delete(name: unknown): void {
    const n = this.#name(name);
    if (!this.attrs.delete(n)) throw new TypeError(`AttributeError: 'Namespace' object has no attribute '${n}'`);
  }
  has(name: unknown): boolean {
    return this.attrs.has(this.#name(name));
  }
  toObject(): Record<string, unknown> {
    const o: Record<string, unknown> = {};
    for (const [k, v] of this.attrs) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
    return o;
  }
  valueOf(): unknown {
    return this.toObject();
  }
}

/** A managed Value: one value and its typecode (only stored, as Python's). */
export class ManagedValue {
  static readonly exposed = ['get', 'set', 'typecode'];
  #value: unknown;
  readonly #typecode: unknown;
  constructor(typecode: unknown, value: unknown) {
    this.#typecode = typecode;
    this.#value = value;
  }
  get(): unknown {
    return this.#value;
  }
  set(v: unknown): void {
    this.#value = v;
  }
  typecode(): unknown {
    return this.#typecode;
  }
  valueOf(): unknown {
    return this.#value;
  }
}

const ARRAY_CODES: Record<string, new (n: number) => ArrayLike<number | bigint> & { [i: number]: number | bigint }> = {
  b: Int8Array,
  B: Uint8Array,
  h: Int16Array,
  H: Uint16Array,
  i: Int32Array,
  I: Uint32Array,
  l: BigInt64Array,
  L: BigUint64Array,
  q: BigInt64Array,
  Q: BigUint64Array,
  f: Float32Array,
  d: Float64Array,
};

/** A managed Array: a fixed-type array (Python's `array.array`). */
export class ManagedArray {
  static readonly exposed = ['length', 'get', 'set', 'slice', 'toArray', 'typecode'];
  readonly #typecode: string;
  #data: ArrayLike<number | bigint> & { [i: number]: number | bigint };
  constructor(typecode: unknown, init: unknown) {
    if (typeof typecode !== 'string' || !Object.hasOwn(ARRAY_CODES, typecode)) {
      throw new TypeError(`typecode must be one of ${Object.keys(ARRAY_CODES).map((c) => `'${c}'`).join(' ')}; received ${received(typecode)}`);
    }
    this.#typecode = typecode;
    const C = ARRAY_CODES[typecode]!;
    let src: unknown[];
    if (typeof init === 'number') {
      if (!Number.isInteger(init) || init < 0) throw new RangeError(`the length of an Array must be a non-negative integer; received ${init}`);
      src = new Array(init).fill(C === BigInt64Array || C === BigUint64Array ? 0n : 0);
    } else if (Array.isArray(init) || ArrayBuffer.isView(init)) src = Array.from(init as ArrayLike<unknown>);
    else throw new TypeError(`an Array starts from an array of values or a length; received ${received(init)}`);
    const data = new C(src.length);
    this.#data = data;
    src.forEach((v, i) => this.#put(i, v));
  }
  #put(i: number, v: unknown): void {
    const big = this.#data instanceof BigInt64Array || this.#data instanceof BigUint64Array;
    if (big ? typeof v !== 'bigint' : typeof v !== 'number') throw new TypeError(`the items of an Array of typecode '${this.#typecode}' are ${big ? 'bigints' : 'numbers'}; received ${received(v)}`);
    if (!big && this.#typecode !== 'f' && this.#typecode !== 'd' && !Number.isInteger(v)) throw new TypeError(`integer expected (typecode '${this.#typecode}'); received ${received(v)}`);
    this.#data[i] = v as number;
  }
  #index(i: unknown): number {
    const n = intArg(i, 'index');
    const j = n < 0 ? n + this.#data.length : n;
    if (j < 0 || j >= this.#data.length) throw new RangeError(`IndexError: array index out of range (index ${n}, length ${this.#data.length})`);
    return j;
  }
  length(): number {
    return this.#data.length;
  }
  get(i: unknown): unknown {
    return this.#data[this.#index(i)];
  }
  set(i: unknown, v: unknown): void {
    this.#put(this.#index(i), v);
  }
  slice(start?: unknown, end?: unknown): unknown[] {
    return Array.from(this.#data).slice(start === undefined || start === null ? undefined : intArg(start, 'start'), end === undefined || end === null ? undefined : intArg(end, 'end'));
  }
  toArray(): unknown[] {
    return Array.from(this.#data);
  }
  typecode(): string {
    return this.#typecode;
  }
  valueOf(): unknown {
    return this.toArray();
  }
}

// ---- queues -------------------------------------------------------------------

/** A managed Queue (Python's `queue.Queue`, which the manager uses for Queue and JoinableQueue alike). */
export class ManagedQueue {
  static readonly exposed = ['put', 'get', 'putNowait', 'getNowait', 'qsize', 'empty', 'full', 'taskDone', 'join'];
  readonly #max: number;
  #items: unknown[] = [];
  #head = 0;
  readonly #getters = new WaitList();
  readonly #putters = new WaitList();
  readonly #joiners = new WaitList();
  #unfinished = 0;
  constructor(maxsize?: unknown) {
    const m = maxsize === undefined || maxsize === null ? 0 : maxsize;
    if (typeof m !== 'number' || !Number.isInteger(m)) throw new TypeError(`maxsize must be an integer; received ${received(m)}`);
    this.#max = m;
  }
  qsize(): number {
    return this.#items.length - this.#head;
  }
  empty(): boolean {
    return this.qsize() === 0;
  }
  full(): boolean {
    return this.#max > 0 && this.qsize() >= this.#max;
  }
  #push(v: unknown): void {
    this.#items.push(v);
    this.#unfinished++;
    this.#getters.wakeOne();
  }
  #shift(): unknown {
    const v = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    this.#putters.wakeOne();
    return v;
  }
  put(v: unknown, options?: unknown): void | Promise<void> {
    const { block, timeout } = blockArg(options);
    if (!this.full()) return this.#push(v);
    if (!block || (timeout !== undefined && timeout <= 0)) throw new Full('the queue is full');
    return this.#wait(this.#putters, () => !this.full(), timeout, () => new Full(`the queue stayed full for ${timeout} ms`), () => this.#push(v));
  }
  putNowait(v: unknown): void {
    if (this.full()) throw new Full('the queue is full');
    this.#push(v);
  }
  get(options?: unknown): unknown {
    const { block, timeout } = blockArg(options);
    if (!this.empty()) return this.#shift();
    if (!block || (timeout !== undefined && timeout <= 0)) throw new Empty('the queue is empty');
    return this.#wait(this.#getters, () => !this.empty(), timeout, () => new Empty(`no item arrived within ${timeout} ms`), () => this.#shift());
  }
  getNowait(): unknown {
    if (this.empty()) throw new Empty('the queue is empty');
    return this.#shift();
  }
  /** Waits until `ready()`, then runs `take` at once (in the same turn, so no one else gets in between). */
  async #wait<R>(list: WaitList, ready: () => boolean, timeout: number | undefined, timeoutError: () => Error, take: () => R): Promise<R> {
    const conn = caller().conn;
    const deadline = timeout === undefined ? undefined : Date.now() + timeout;
    for (;;) {
      const left = deadline === undefined ? undefined : deadline - Date.now();
      if (left !== undefined && left <= 0) throw timeoutError();
      // registered again after each wake-up: another caller may have taken the turn
      const woke = await waitUntil(left, (wake) => list.add(wake));
      if (conn.closed) {
        // its client left between the wake-up and now: pass the turn on, take nothing
        list.wakeOne();
        throw new Cancelled();
      }
      if (ready()) return take();
      if (!woke) throw timeoutError();
    }
  }
  taskDone(): void {
    if (this.#unfinished <= 0) throw new ProcessError('task_done() called too many times');
    if (--this.#unfinished === 0) this.#joiners.wakeAll();
  }
  async join(): Promise<void> {
    if (this.#unfinished === 0) return;
    await waitUntil(undefined, (wake) => this.#joiners.add(wake));
  }
}

// ---- locks ----------------------------------------------------------------------

/** Python's `threading.Lock` in the server: anyone may release it; a holder that disconnects releases it. */
export class ManagedLock implements Releasable {
  static readonly exposed = ['acquire', 'release', 'locked'];
  protected holder: CallerConn | null = null;
  protected count = 0;
  protected readonly waiters = new WaitList();
  readonly reentrant: boolean = false;

  locked(): boolean {
    return this.count > 0;
  }

  protected canTake(conn: CallerConn): boolean {
    return this.count === 0 || (this.reentrant && this.holder === conn);
  }

  protected take(conn: CallerConn): void {
    this.count++;
    this.holder = conn;
    conn.held.add(this);
  }

  /** `acquire({ block, timeout })` → true once held; false when not acquired in time. */
  acquire(options?: unknown): boolean | Promise<boolean> {
    const { block, timeout } = blockArg(options);
    const conn = caller().conn;
    if (this.canTake(conn)) {
      this.take(conn);
      return true;
    }
    if (!block || (timeout !== undefined && timeout <= 0)) return false;
    return this.acquireWaiting(conn, timeout);
  }

  /** Waits its turn (FIFO); used by acquire and by Condition.wait. */
  async acquireWaiting(conn: CallerConn, timeout: number | undefined): Promise<boolean> {
    const deadline = timeout === undefined ? undefined : Date.now() + timeout;
    for (;;) {
      const left = deadline === undefined ? undefined : deadline - Date.now();
      if (left !== undefined && left <= 0) return false;
      const woke = await waitUntil(left, (wake) => this.waiters.add(wake));
      if (conn.closed) {
        this.waiters.wakeOne();
        throw new Cancelled();
      }
      if (this.canTake(conn)) {
        this.take(conn);
        return true;
      }
      if (!woke) return false;
    }
  }

  /** Waits for the lock without a caller context (Condition re-acquiring). */
  takeWhenFree(conn: CallerConn): Promise<void> {
    if (this.canTake(conn)) {
      this.take(conn);
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const tryTake = () => {
        if (this.canTake(conn)) {
          this.take(conn);
          resolve();
        } else this.waiters.add(tryTake);
      };
      this.waiters.add(tryTake);
    });
  }

  release(): void {
    const conn = caller().conn;
    if (this.count === 0) throw new ProcessError('release unlocked lock: this manager Lock is not held');
    this.releaseBy(conn);
  }

  protected releaseBy(conn: CallerConn): void {
    void conn;
    this.count = 0;
    this.holder?.held.delete(this);
    this.holder = null;
    this.waiters.wakeOne();
  }

  /** Owner bookkeeping for Condition: the holder's depth, and giving it all up. */
  heldBy(conn: CallerConn): boolean {
    return this.count > 0 && (!this.reentrant || this.holder === conn);
  }

  releaseAll(): number {
    const n = this.count;
    this.count = 0;
    this.holder?.held.delete(this);
    this.holder = null;
    this.waiters.wakeOne();
    return n;
  }

  restore(conn: CallerConn, n: number): void {
    this.count = n;
    this.holder = conn;
    conn.held.add(this);
  }

  releaseAllOf(conn: CallerConn): void {
    if (this.holder === conn && this.count > 0) this.releaseAll();
  }
}

/** Python's `threading.RLock` in the server: owned by the client connection that acquired it. */
export class ManagedRLock extends ManagedLock {
  override readonly reentrant = true;
  override release(): void {
    const conn = caller().conn;
    if (this.count === 0 || this.holder !== conn) throw new ProcessError('cannot release un-acquired lock: this manager RLock is not held by the caller');
    this.releaseBy(conn);
  }
  protected override releaseBy(conn: CallerConn): void {
    void conn;
    if (--this.count > 0) return;
    this.holder?.held.delete(this);
    this.holder = null;
    this.waiters.wakeOne();
  }
}

/** Python's `threading.Semaphore` / `BoundedSemaphore` in the server. */
export class ManagedSemaphore {
  static readonly exposed = ['acquire', 'release', 'getValue'];
  #value: number;
  readonly #initial: number;
  readonly #bounded: boolean;
  readonly #waiters = new WaitList();
  constructor(value: unknown, bounded: boolean) {
    const v = value === undefined || value === null ? 1 : value;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`value must be an integer; received ${received(v)}`);
    if (v < 0) throw new RangeError('semaphore initial value must be >= 0');
    this.#value = v;
    this.#initial = v;
    this.#bounded = bounded;
  }
  acquire(options?: unknown): boolean | Promise<boolean> {
    const { block, timeout } = blockArg(options);
    if (this.#value > 0) {
      this.#value--;
      return true;
    }
    if (!block || (timeout !== undefined && timeout <= 0)) return false;
    return this.#wait(timeout);
  }
  async #wait(timeout: number | undefined): Promise<boolean> {
    const conn = caller().conn;
    const deadline = timeout === undefined ? undefined : Date.now() + timeout;
    for (;;) {
      const left = deadline === undefined ? undefined : deadline - Date.now();
      if (left !== undefined && left <= 0) return false;
      const woke = await waitUntil(left, (wake) => this.#waiters.add(wake));
      if (conn.closed) {
        this.#waiters.wakeOne();
        throw new Cancelled();
      }
      if (this.#value > 0) {
        this.#value--;
        return true;
      }
      if (!woke) return false;
    }
  }
  release(n?: unknown): void {
    const k = n === undefined ? 1 : intArg(n, 'n');
    if (k < 1) throw new RangeError('n must be one or more');
    if (this.#bounded && this.#value + k > this.#initial) throw new ProcessError('Semaphore released too many times: a BoundedSemaphore cannot go above its initial value');
    this.#value += k;
    for (let i = 0; i < k; i++) this.#waiters.wakeOne();
  }
  getValue(): number {
    return this.#value;
  }
}

/** Python's `threading.Condition` in the server, over a managed Lock or RLock. */
export class ManagedCondition {
  static readonly exposed = ['acquire', 'release', 'wait', 'notify', 'notifyAll'];
  readonly lock: ManagedLock;
  readonly #waiters = new WaitList();
  constructor(lock?: unknown) {
    if (lock === undefined || lock === null) this.lock = new ManagedRLock();
    else {
      const l = caller().resolve(lock);
      if (!(l instanceof ManagedLock)) throw new TypeError('the lock of a Condition must be a manager Lock or RLock proxy');
      this.lock = l;
    }
  }
  acquire(options?: unknown): boolean | Promise<boolean> {
    return this.lock.acquire(options);
  }
  release(): void {
    this.lock.release();
  }
  #mustOwn(conn: CallerConn, what: string): void {
    if (!this.lock.heldBy(conn)) throw new ProcessError(`cannot ${what} on un-acquired lock: acquire the Condition first`);
  }
  wait(timeout?: unknown): Promise<boolean> {
    const t = timeoutArg(timeout);
    const c = caller();
    const conn = c.conn;
    this.#mustOwn(conn, 'wait');
    const depth = this.lock.releaseAll();
    let cancelled = false;
    const woke = waitUntil(t, (wake) => this.#waiters.add(wake)).catch((e: unknown) => {
      if (e instanceof Cancelled) {
        cancelled = true;
        return false;
      }
      throw e;
    });
    return woke.then(async (ok) => {
      await this.lock.takeWhenFree(conn);
      if (depth > 1) this.lock.restore(conn, depth);
      if (cancelled || conn.closed) {
        // the client gave up: it must not be left holding the lock it asked to wait on
        this.lock.releaseAll();
        throw new Cancelled();
      }
      return ok;
    });
  }
  notify(n?: unknown): void {
    this.#mustOwn(caller().conn, 'notify');
    const k = n === undefined ? 1 : intArg(n, 'n');
    for (let i = 0; i < k; i++) if (!this.#waiters.wakeOne()) break;
  }
  notifyAll(): void {
    this.#mustOwn(caller().conn, 'notify');
    this.#waiters.wakeAll();
  }
}

/** Python's `threading.Event` in the server. */
export class ManagedEvent {
  static readonly exposed = ['isSet', 'set', 'clear', 'wait'];
  #flag = false;
  readonly #waiters = new WaitList();
  isSet(): boolean {
    return this.#flag;
  }
  set(): void {
    this.#flag = true;
    this.#waiters.wakeAll();
  }
  clear(): void {
    this.#flag = false;
  }
  wait(timeout?: unknown): boolean | Promise<boolean> {
    const t = timeoutArg(timeout);
    if (this.#flag) return true;
    if (t !== undefined && t <= 0) return false;
    return waitUntil(t, (wake) => this.#waiters.add(wake)).then(() => this.#flag);
  }
}

/** Python's `threading.Barrier` in the server (no action: code does not cross to a manager). */
export class ManagedBarrier {
  static readonly exposed = ['wait', 'abort', 'reset', 'parties', 'nWaiting', 'broken'];
  readonly #parties: number;
  readonly #timeout: number | undefined;
  #waiting: Array<{ resolve: (i: number) => void; reject: (e: unknown) => void }> = [];
  #broken = false;
  constructor(parties: unknown, options?: unknown) {
    if (typeof parties !== 'number' || !Number.isInteger(parties) || parties < 1) throw new RangeError(`parties must be an integer > 0; received ${received(parties)}`);
    this.#parties = parties;
    const o = (typeof options === 'object' && options !== null ? options : {}) as { timeout?: unknown; action?: unknown };
    if (o.action !== undefined && o.action !== null) throw new TypeError('a manager Barrier cannot run an action: code does not cross to a manager (run it in the one caller whose wait() returned 0)');
    this.#timeout = timeoutArg(o.timeout, 'options.timeout');
  }
  parties(): number {
    return this.#parties;
  }
  nWaiting(): number {
    return this.#waiting.length;
  }
  broken(): boolean {
    return this.#broken;
  }
  wait(timeout?: unknown): number | Promise<number> {
    const t = timeout === undefined ? this.#timeout : timeoutArg(timeout);
    if (this.#broken) throw new BrokenBarrierError('the barrier is broken');
    const index = this.#waiting.length;
    if (index + 1 === this.#parties) {
      const all = this.#waiting;
      this.#waiting = [];
      all.forEach((w, i) => w.resolve(i));
      return index;
    }
    const c = caller();
    return new Promise<number>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      this.#waiting.push({
        resolve: (i: number) => {
          if (timer) clearTimeout(timer);
          resolve(i);
        },
        reject: (e: unknown) => {
          if (timer) clearTimeout(timer);
          reject(e);
        },
      });
      if (t !== undefined) timer = setTimeout(() => this.#break(), Math.max(0, t));
      c.onCancel(() => this.#break());
    });
  }
  #break(): void {
    this.#broken = true;
    const all = this.#waiting;
    this.#waiting = [];
    for (const w of all) w.reject(new BrokenBarrierError('the barrier is broken'));
  }
  abort(): void {
    this.#break();
  }
  reset(): void {
    const all = this.#waiting;
    this.#waiting = [];
    for (const w of all) w.reject(new BrokenBarrierError('the barrier was reset'));
    this.#broken = false;
  }
}

/** Things the server ends when it stops. */
export interface Disposable {
  dispose(): void;
}

/**
 * A managed Pool (Python's `Pool` behind a manager): runs tasks in the
 * server's workers. Only functions that the manager's owner listed
 * (`poolFunctions`) can run: a reference from the wire names one of them,
 * never a module to import.
 */
export class ManagedPool implements Disposable {
  static readonly exposed = ['apply', 'map', 'starmap', 'close', 'terminate', 'join'];
  readonly #pool: Pool;
  constructor(processes?: unknown) {
    const n = processes === undefined || processes === null ? undefined : processes;
    if (n !== undefined && (typeof n !== 'number' || !Number.isInteger(n) || n < 1)) throw new RangeError(`processes must be an integer >= 1; received ${received(n)}`);
    this.#pool = new Pool({ processes: n as number | undefined });
  }
  apply(ref: unknown, args?: unknown): Promise<unknown> {
    const fn = caller().allowedFunction(ref);
    if (args !== undefined && args !== null && !Array.isArray(args)) throw new TypeError(`args must be an array; received ${received(args)}`);
    return this.#pool.apply(fn, (args ?? []) as unknown[]);
  }
  map(ref: unknown, items: unknown, chunksize?: unknown): Promise<unknown[]> {
    const fn = caller().allowedFunction(ref);
    if (!Array.isArray(items)) throw new TypeError(`items must be an array; received ${received(items)}`);
    return this.#pool.map(fn, items, (chunksize ?? undefined) as number | undefined);
  }
  starmap(ref: unknown, items: unknown, chunksize?: unknown): Promise<unknown[]> {
    const fn = caller().allowedFunction(ref);
    if (!Array.isArray(items)) throw new TypeError(`items must be an array of argument arrays; received ${received(items)}`);
    return this.#pool.starmap(fn, items as unknown[][], (chunksize ?? undefined) as number | undefined);
  }
  close(): void {
    this.#pool.close();
  }
  terminate(): void {
    this.#pool.terminate();
  }
  join(): Promise<void> {
    return this.#pool.join();
  }
  dispose(): void {
    this.#pool.terminate();
  }
}

/** The typeids a SyncManager's server builds in, and how (`plain`: values stay in wire form). */
export const BUILTIN_TYPES: Record<string, { make: (...args: unknown[]) => object; exposed: readonly string[]; proxy: string; plain?: false }> = {
  dict: { make: (init) => new ManagedDict(init), exposed: ManagedDict.exposed, proxy: 'DictProxy' },
  list: { make: (init) => new ManagedList(init), exposed: ManagedList.exposed, proxy: 'ListProxy' },
  Namespace: { make: (init) => new ManagedNamespace(init), exposed: ManagedNamespace.exposed, proxy: 'NamespaceProxy' },
  Value: { make: (code, v) => new ManagedValue(code, v), exposed: ManagedValue.exposed, proxy: 'ValueProxy' },
  Array: { make: (code, init) => new ManagedArray(code, init), exposed: ManagedArray.exposed, proxy: 'ArrayProxy' },
  Queue: { make: (m) => new ManagedQueue(m), exposed: ManagedQueue.exposed, proxy: 'QueueProxy' },
  JoinableQueue: { make: (m) => new ManagedQueue(m), exposed: ManagedQueue.exposed, proxy: 'JoinableQueueProxy' },
  Lock: { make: () => new ManagedLock(), exposed: ManagedLock.exposed, proxy: 'AcquirerProxy' },
  RLock: { make: () => new ManagedRLock(), exposed: ManagedLock.exposed, proxy: 'AcquirerProxy' },
  Semaphore: { make: (v) => new ManagedSemaphore(v, false), exposed: ManagedSemaphore.exposed, proxy: 'SemaphoreProxy' },
  BoundedSemaphore: { make: (v) => new ManagedSemaphore(v, true), exposed: ManagedSemaphore.exposed, proxy: 'SemaphoreProxy' },
  Condition: { make: (lock) => new ManagedCondition(lock), exposed: ManagedCondition.exposed, proxy: 'ConditionProxy' },
  Event: { make: () => new ManagedEvent(), exposed: ManagedEvent.exposed, proxy: 'EventProxy' },
  Barrier: { make: (p, o) => new ManagedBarrier(p, o), exposed: ManagedBarrier.exposed, proxy: 'BarrierProxy' },
  Pool: { make: (n) => new ManagedPool(n), exposed: ManagedPool.exposed, proxy: 'PoolProxy', plain: false },
};
