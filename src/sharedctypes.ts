/**
 * Shared values and arrays of C types (Python's `multiprocessing.sharedctypes`):
 * `Value`, `Array` (also exported as `SharedArray`), `RawValue`, `RawArray`.
 *
 * Typecodes are Python's: `'b' 'B' 'h' 'H' 'i' 'I' 'l' 'L' 'q' 'Q' 'f' 'd' 'c'`.
 * Integer codes keep C's overflow (a store wraps around, as a C cast does);
 * the 64-bit codes (`'q' 'Q'`, and `'l' 'L'`, 8 bytes on 64-bit Linux) read
 * and write `bigint`; `'c'` is a one-byte string.
 *
 * Under the koffi fallback (memory that is a plain `ArrayBuffer`) every
 * element access goes through `Atomics`; in a broker child, through the
 * parent's broker. The accessor is chosen when the object is made, so the
 * `SharedArrayBuffer` path stays a plain typed-array access.
 * @module
 */
import { ProcessError } from './errors.js';
import { allocate, attach, segmentRef, type Segment, type SegmentRef } from './internal/segments.js';
import { REDUCE, registerHandleKind, currentTransport, type Reduced } from './reduction.js';
import { elementAccessor, type ElementAccessor, type ElementKind } from './internal/elements.js';
import { Lock, RLock } from './synchronize.js';

/** Python typecodes accepted by Value and Array. */
export type TypeCode = 'b' | 'B' | 'h' | 'H' | 'i' | 'I' | 'l' | 'L' | 'q' | 'Q' | 'f' | 'd' | 'c';

/** Typecodes whose values are `bigint`. */
export type BigTypeCode = 'l' | 'L' | 'q' | 'Q';

/** The JavaScript type of an element of typecode `T`. */
export type ValueOf<T extends TypeCode> = T extends BigTypeCode ? bigint : T extends 'c' ? string : number;

type View =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

/** The typed array of typecode `T`. */
export type TypedArrayOf<T extends TypeCode> = T extends 'b'
  ? Int8Array
  : T extends 'B' | 'c'
    ? Uint8Array
    : T extends 'h'
      ? Int16Array
      : T extends 'H'
        ? Uint16Array
        : T extends 'i'
          ? Int32Array
          : T extends 'I'
            ? Uint32Array
            : T extends 'l' | 'q'
              ? BigInt64Array
              : T extends 'L' | 'Q'
                ? BigUint64Array
                : T extends 'f'
                  ? Float32Array
                  : Float64Array;

interface CodeInfo {
  ctor: new (buffer: SharedArrayBuffer | ArrayBuffer, byteOffset: number, length: number) => View;
  size: number;
  kind: 'int' | 'big' | 'float' | 'char';
  bits: number;
  signed: boolean;
}

const CODES: Record<TypeCode, CodeInfo> = {
  b: { ctor: Int8Array, size: 1, kind: 'int', bits: 8, signed: true },
  B: { ctor: Uint8Array, size: 1, kind: 'int', bits: 8, signed: false },
  h: { ctor: Int16Array, size: 2, kind: 'int', bits: 16, signed: true },
  H: { ctor: Uint16Array, size: 2, kind: 'int', bits: 16, signed: false },
  i: { ctor: Int32Array, size: 4, kind: 'int', bits: 32, signed: true },
  I: { ctor: Uint32Array, size: 4, kind: 'int', bits: 32, signed: false },
  l: { ctor: BigInt64Array, size: 8, kind: 'big', bits: 64, signed: true },
  L: { ctor: BigUint64Array, size: 8, kind: 'big', bits: 64, signed: false },
  q: { ctor: BigInt64Array, size: 8, kind: 'big', bits: 64, signed: true },
  Q: { ctor: BigUint64Array, size: 8, kind: 'big', bits: 64, signed: false },
  f: { ctor: Float32Array, size: 4, kind: 'float', bits: 32, signed: true },
  d: { ctor: Float64Array, size: 8, kind: 'float', bits: 64, signed: true },
  c: { ctor: Uint8Array, size: 1, kind: 'char', bits: 8, signed: false },
};

function codeInfo(typecode: unknown): CodeInfo {
  if (typeof typecode !== 'string' || !Object.hasOwn(CODES, typecode)) {
    throw new TypeError(
      `typecode must be one of ${Object.keys(CODES).map((c) => `'${c}'`).join(' ')}; received ${typeof typecode === 'string' ? `'${typecode}'` : typeof typecode}`,
    );
  }
  return CODES[typecode as TypeCode];
}

/** Converts a JavaScript value to what the typed array stores, with Python's type checks. */
function toRaw(info: CodeInfo, typecode: string, v: unknown): number | bigint {
  switch (info.kind) {
    case 'int':
      if (typeof v === 'number') {
        if (!Number.isInteger(v)) throw new TypeError(`int expected instead of ${Number.isFinite(v) ? 'float' : String(v)} (typecode '${typecode}')`);
        return v; // the typed array wraps it around as a C cast does
      }
      if (typeof v === 'bigint') return Number(info.signed ? BigInt.asIntN(info.bits, v) : BigInt.asUintN(info.bits, v));
      if (typeof v === 'boolean') return v ? 1 : 0;
      throw new TypeError(`int expected instead of ${typeof v} (typecode '${typecode}')`);
    case 'big':
      if (typeof v === 'bigint') return v;
      if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
      if (typeof v === 'boolean') return v ? 1n : 0n;
      throw new TypeError(`int expected instead of ${typeof v === 'number' ? 'float' : typeof v} (typecode '${typecode}')`);
    case 'float':
      if (typeof v === 'number') return v;
      if (typeof v === 'bigint') return Number(v);
      if (typeof v === 'boolean') return v ? 1 : 0;
      throw new TypeError(`must be real number, not ${typeof v} (typecode '${typecode}')`);
    case 'char':
      if (typeof v === 'string' && v.length === 1 && v.charCodeAt(0) < 256) return v.charCodeAt(0);
      if (v instanceof Uint8Array && v.length === 1) return v[0]!;
      throw new TypeError(`one character bytes or a one-character string (code < 256) expected (typecode 'c'); received ${typeof v === 'string' ? `a string of length ${v.length}` : typeof v}`);
  }
}

function fromRaw(info: CodeInfo, raw: number | bigint): number | bigint | string {
  return info.kind === 'char' ? String.fromCharCode(raw as number) : raw;
}

const kInit = Symbol('init');

interface CtypesInit {
  [kInit]: { seg: SegmentRef; typecode: TypeCode; length: number; lock: Lock | RLock | null };
}

type LockOption = boolean | Lock | RLock;

function makeLock(lock: LockOption | undefined): Lock | RLock | null {
  if (lock === undefined || lock === true) return new RLock();
  if (lock === false) return null;
  if (lock instanceof Lock || lock instanceof RLock) return lock;
  throw new TypeError(`lock must be true, false, or a Lock or RLock of multiprocessing-ts; received ${typeof lock}`);
}

function acquired<T>(lock: Lock | RLock | null, fn: () => T): T {
  if (!lock) return fn();
  lock.acquireSync();
  try {
    return fn();
  } finally {
    lock.release();
  }
}

/** True when `.value` can be touched without taking the lock: none, or an RLock the caller holds. */
function free(lock: Lock | RLock | null): boolean {
  // Already held by the caller: taking it again would change nothing for an RLock, and with a
  // plain Lock would wait forever (Python deadlocks there: `with v.get_lock(): v.value += 1`
  // on a Value given a Lock; here the access goes on, the caller holding the lock).
  return lock === null || lock._isMine();
}

/** Storage shared by every value and array class: a segment and a typed view. */
abstract class CtypesBase<T extends TypeCode> {
  /** The typecode of the elements. */
  readonly typecode: T;
  /** @internal */
  protected readonly info: CodeInfo;
  /** @internal */
  protected readonly seg: Segment;
  /** @internal */
  protected readonly data: View;
  /** @internal */
  protected readonly n: number;
  /** @internal null: plain accesses of `data` (a SharedArrayBuffer); else Atomics or the broker. */
  protected readonly acc: ElementAccessor | null;

  /** @internal */
  protected constructor(typecode: T, length: number, from?: SegmentRef) {
    this.info = codeInfo(typecode);
    this.typecode = typecode;
    this.n = length;
    const bytes = Math.max(8, Math.ceil((length * this.info.size) / 8) * 8);
    this.seg = from ? attach(from, { broker: true }) : allocate(bytes, { broker: true });
    this.data = new this.info.ctor(this.seg.sab, this.seg.base, length);
    this.acc = elementAccessor(this.seg, this.data.constructor.name as ElementKind, length);
  }

  /** @internal element `j` as stored. */
  protected read(j: number): number | bigint {
    const acc = this.acc;
    return acc === null ? this.data[j]! : acc.get(j);
  }

  /** @internal stores element `j`. */
  protected write(j: number, raw: number | bigint): void {
    const acc = this.acc;
    if (acc === null) (this.data as unknown as (number | bigint)[])[j] = raw;
    else acc.set(j, raw);
  }

  /** @internal */
  protected segRef(): SegmentRef {
    return segmentRef(this.seg, currentTransport(), Math.max(8, Math.ceil((this.n * this.info.size) / 8) * 8));
  }
}

/**
 * A single C value in shared memory, without a lock (Python's `RawValue`).
 * Reads and writes are not synchronised.
 */
export class RawValue<T extends TypeCode = TypeCode> extends CtypesBase<T> {
  /**
   * @param typecode - Python typecode (`'i'`, `'d'`, `'q'`, …).
   * @param init - initial value. @default 0 (or `'\0'` for `'c'`)
   */
  constructor(typecode: T, init?: ValueOf<T>, from?: CtypesInit) {
    super(typecode, 1, from?.[kInit].seg);
    if (!from && init !== undefined) this.value = init;
  }

  /** The value. */
  get value(): ValueOf<T> {
    return fromRaw(this.info, this.read(0)) as ValueOf<T>;
  }
  /** Stores a new value (with the typecode's C conversion). */
  set value(v: ValueOf<T>) {
    this.write(0, toRaw(this.info, this.typecode, v));
  }

  /** @internal */
  [REDUCE](): Reduced {
    return { kind: 'RawValue', state: { seg: this.segRef(), typecode: this.typecode, length: 1, lock: null } };
  }

  /** Python-style description. */
  override toString(): string {
    return `c_${this.typecode}(${String(this.value)})`;
  }
}

/**
 * A single C value in shared memory with a lock (Python's `Value`).
 * Each read and each write of `.value` takes the lock; for a read-modify-write
 * hold it around both: `await v.getLock().with(() => { v.value += 1; })`.
 * @example
 * ```ts
 * const counter = new Value('i', 0);
 * counter.getLock().acquireSync(); counter.value += 1; counter.getLock().release();
 * ```
 */
export class Value<T extends TypeCode = TypeCode> {
  readonly #raw: RawValue<T>;
  readonly #lock: Lock | RLock | null;

  /**
   * @param typecode - Python typecode.
   * @param init - initial value. @default 0
   * @param options - `lock`: true (a new RLock, the default), false (no lock), or a Lock/RLock to use.
   */
  constructor(typecode: T, init?: ValueOf<T>, options: { lock?: LockOption } = {}, from?: CtypesInit) {
    this.#raw = new RawValue(typecode, init, from);
    this.#lock = from ? from[kInit].lock : makeLock(options.lock);
  }

  /** The typecode. */
  get typecode(): T {
    return this.#raw.typecode;
  }

  /** The value (each access takes the lock, if there is one). */
  get value(): ValueOf<T> {
    const lock = this.#lock;
    // Already held (re-entrant): acquiring and releasing again would change nothing.
    if (free(lock)) return this.#raw.value;
    lock!.acquireSync();
    try {
      return this.#raw.value;
    } finally {
      lock!.release();
    }
  }
  /** Stores a new value (with the typecode's C conversion). */
  set value(v: ValueOf<T>) {
    const lock = this.#lock;
    if (free(lock)) {
      this.#raw.value = v;
      return;
    }
    lock!.acquireSync();
    try {
      this.#raw.value = v;
    } finally {
      lock!.release();
    }
  }

  /**
   * The lock guarding the value. @throws ProcessError when created with `lock: false`
   * (Python returns a raw value there, which has no `get_lock`).
   */
  getLock(): Lock | RLock {
    if (!this.#lock) throw new ProcessError("this Value was created with { lock: false }: it has no lock");
    return this.#lock;
  }

  /** The unsynchronised value underneath (Python's `get_obj()`). */
  getObj(): RawValue<T> {
    return this.#raw;
  }

  /** @internal */
  [REDUCE](): Reduced {
    const r = this.#raw[REDUCE]();
    return { kind: 'Value', state: { ...(r.state as object), lock: this.#lock } };
  }

  /** Python-style description. */
  toString(): string {
    return `<Synchronized wrapper for ${this.#raw.toString()}>`;
  }
}

/** Python's slice bounds `[start, end)` over `n` elements. */
function bounds(n: number, start?: number, end?: number): [number, number] {
  const norm = (x: number | undefined, dflt: number): number => {
    if (x === undefined) return dflt;
    const t = Math.trunc(x) || 0;
    return t < 0 ? Math.max(0, n + t) : Math.min(n, t);
  };
  const from = norm(start, 0);
  return [from, Math.max(from, norm(end, n))];
}

/** What an Array can be created from. */
export type ArrayInit<T extends TypeCode> = number | Iterable<ValueOf<T>> | (T extends 'c' ? string | Uint8Array : never);

function itemsOf<T extends TypeCode>(typecode: T, init: ArrayInit<T>): { length: number; items: readonly unknown[] | Uint8Array | null } {
  if (typeof init === 'number') {
    if (!Number.isInteger(init) || init < 0) throw new RangeError(`size must be an integer >= 0; received ${init}`);
    return { length: init, items: null };
  }
  if (typecode === 'c' && typeof init === 'string') {
    const bytes = Buffer.from(init, 'latin1');
    return { length: bytes.length, items: bytes };
  }
  if (init instanceof Uint8Array && typecode === 'c') return { length: init.length, items: init };
  if (init === null || typeof init !== 'object' || !(Symbol.iterator in init)) {
    throw new TypeError(`size_or_initializer must be a size or an iterable of values; received ${init === null ? 'null' : typeof init}`);
  }
  const items = [...(init as Iterable<unknown>)];
  return { length: items.length, items };
}

/**
 * A fixed-length array of C values in shared memory, without a lock
 * (Python's `RawArray`).
 */
export class RawArray<T extends TypeCode = TypeCode> extends CtypesBase<T> implements Iterable<ValueOf<T>> {
  /**
   * @param typecode - Python typecode.
   * @param sizeOrItems - a length (zero-filled) or the initial items (for `'c'`, also a string or bytes).
   */
  constructor(typecode: T, sizeOrItems: ArrayInit<T>, from?: CtypesInit) {
    const { length, items } = from ? { length: from[kInit].length, items: null } : itemsOf(typecode, sizeOrItems);
    super(typecode, length, from?.[kInit].seg);
    if (items instanceof Uint8Array && this.acc === null) (this.data as Uint8Array).set(items);
    else if (items) for (let i = 0; i < items.length; i++) this.#put(i, items[i]);
  }

  #index(i: number): number {
    if (typeof i !== 'number' || !Number.isInteger(i)) throw new TypeError(`index must be an integer; received ${String(i)}`);
    const j = i < 0 ? i + this.n : i;
    if (j < 0 || j >= this.n) throw new RangeError(`invalid index ${i} for an array of length ${this.n}`);
    return j;
  }

  #put(j: number, v: unknown): void {
    this.write(j, toRaw(this.info, this.typecode, v));
  }

  /** Number of elements. */
  get length(): number {
    return this.n;
  }

  /** Element `i` (negative counts from the end). @throws RangeError out of range. */
  get(i: number): ValueOf<T> {
    return fromRaw(this.info, this.read(this.#index(i))) as ValueOf<T>;
  }

  /** Sets element `i`. @throws RangeError out of range; TypeError for a value of the wrong type. */
  set(i: number, v: ValueOf<T>): void {
    this.#put(this.#index(i), v);
  }

  /** Elements `start` to `end` (exclusive) as a plain array, like Python's slice. */
  slice(start?: number, end?: number): ValueOf<T>[] {
    if (this.acc === null) {
      return Array.from(this.data.slice(start, end) as ArrayLike<number | bigint>, (x) => fromRaw(this.info, x) as ValueOf<T>);
    }
    const [from, to] = bounds(this.n, start, end);
    const out: ValueOf<T>[] = [];
    for (let j = from; j < to; j++) out.push(fromRaw(this.info, this.read(j)) as ValueOf<T>);
    return out;
  }

  /** A copy of the elements as a plain array. */
  toArray(): ValueOf<T>[] {
    return this.slice();
  }

  /**
   * The typed array over the shared memory itself (no copy, no lock). Under
   * the koffi fallback it views a plain `ArrayBuffer`: use `Atomics` on it for
   * elements other workers change. @throws ProcessError in a broker child (the
   * memory is in the parent).
   */
  get view(): TypedArrayOf<T> {
    if (this.seg.remote !== null) {
      throw new ProcessError("Array.view is not available in a broker child: the memory lives in the parent process; use get/set/toArray");
    }
    return this.data as TypedArrayOf<T>;
  }

  /** `'c'` arrays: the bytes up to the first NUL, as a string (Python's `.value`). */
  get value(): string {
    this.#charOnly('value');
    const bytes = this.#bytes();
    const end = bytes.indexOf(0);
    return Buffer.from(bytes.subarray(0, end < 0 ? bytes.length : end)).toString('latin1');
  }
  /** `'c'` arrays: stores a string (Latin-1), NUL-terminated when shorter than the array. */
  set value(s: string) {
    this.#charOnly('value');
    const bytes = Buffer.from(s, 'latin1');
    if (bytes.length > this.n) throw new RangeError(`byte string too long (${bytes.length} > ${this.n})`);
    this.#setBytes(bytes);
    if (bytes.length < this.n) this.write(bytes.length, 0);
  }

  /** `'c'` arrays: a copy of all the bytes (Python's `.raw`). */
  get raw(): Uint8Array {
    this.#charOnly('raw');
    return this.#bytes();
  }
  /** `'c'` arrays: stores bytes from the start of the array. @throws RangeError when longer than the array. */
  set raw(b: Uint8Array) {
    this.#charOnly('raw');
    if (b.length > this.n) throw new RangeError(`byte string too long (${b.length} > ${this.n})`);
    this.#setBytes(b);
  }

  /** A copy of the bytes of a `'c'` array. */
  #bytes(): Uint8Array {
    if (this.acc === null) return (this.data as Uint8Array).slice();
    const out = new Uint8Array(this.n);
    for (let j = 0; j < this.n; j++) out[j] = this.read(j) as number;
    return out;
  }

  #setBytes(b: Uint8Array): void {
    if (this.acc === null) (this.data as Uint8Array).set(b);
    else for (let j = 0; j < b.length; j++) this.write(j, b[j]!);
  }

  #charOnly(what: string): void {
    if (this.typecode !== 'c') throw new TypeError(`.${what} exists only on arrays of typecode 'c'`);
  }

  /** Iterates over the elements. */
  *[Symbol.iterator](): Iterator<ValueOf<T>> {
    for (let i = 0; i < this.n; i++) yield fromRaw(this.info, this.read(i)) as ValueOf<T>;
  }

  /** @internal */
  [REDUCE](): Reduced {
    return { kind: 'RawArray', state: { seg: this.segRef(), typecode: this.typecode, length: this.n, lock: null } };
  }

  /** Python-style description. */
  override toString(): string {
    return `<c_${this.typecode}_Array_${this.n} [${this.slice(0, 10).join(', ')}${this.n > 10 ? ', ...' : ''}]>`;
  }
}

/**
 * A fixed-length array of C values in shared memory with a lock (Python's
 * `multiprocessing.Array`; also exported as `SharedArray` so that a named
 * import need not shadow the global `Array`). Each `get`/`set` takes the lock.
 * @example
 * ```ts
 * const a = new SharedArray('d', [1.5, 2.5]);
 * a.set(0, 3); a.get(0); [...a]; a.toArray(); a.view; // Float64Array over the shared memory
 * ```
 */
export class SharedArray<T extends TypeCode = TypeCode> implements Iterable<ValueOf<T>> {
  readonly #raw: RawArray<T>;
  readonly #lock: Lock | RLock | null;

  /**
   * @param typecode - Python typecode.
   * @param sizeOrItems - a length (zero-filled) or the initial items.
   * @param options - `lock`: true (a new RLock, the default), false, or a Lock/RLock to use.
   */
  constructor(typecode: T, sizeOrItems: ArrayInit<T>, options: { lock?: LockOption } = {}, from?: CtypesInit) {
    this.#raw = new RawArray(typecode, sizeOrItems, from);
    this.#lock = from ? from[kInit].lock : makeLock(options.lock);
  }

  /** The typecode. */
  get typecode(): T {
    return this.#raw.typecode;
  }

  /** Number of elements. */
  get length(): number {
    return this.#raw.length;
  }

  /** Element `i`, under the lock. */
  get(i: number): ValueOf<T> {
    return acquired(this.#lock, () => this.#raw.get(i));
  }

  /** Sets element `i`, under the lock. */
  set(i: number, v: ValueOf<T>): void {
    acquired(this.#lock, () => this.#raw.set(i, v));
  }

  /** A slice as a plain array, under the lock. */
  slice(start?: number, end?: number): ValueOf<T>[] {
    return acquired(this.#lock, () => this.#raw.slice(start, end));
  }

  /** A copy of all elements, under the lock. */
  toArray(): ValueOf<T>[] {
    return this.slice();
  }

  /** The typed array over the shared memory (no lock: hold `getLock()` yourself). */
  get view(): TypedArrayOf<T> {
    return this.#raw.view;
  }

  /** `'c'` arrays: the string up to the first NUL, under the lock. */
  get value(): string {
    return acquired(this.#lock, () => this.#raw.value);
  }
  /** `'c'` arrays: stores a string (Latin-1), NUL-terminated when shorter than the array. */
  set value(s: string) {
    acquired(this.#lock, () => {
      this.#raw.value = s;
    });
  }

  /** `'c'` arrays: a copy of all the bytes, under the lock. */
  get raw(): Uint8Array {
    return acquired(this.#lock, () => this.#raw.raw);
  }
  /** `'c'` arrays: stores bytes from the start of the array. @throws RangeError when longer than the array. */
  set raw(b: Uint8Array) {
    acquired(this.#lock, () => {
      this.#raw.raw = b;
    });
  }

  /** The lock. @throws ProcessError when created with `lock: false`. */
  getLock(): Lock | RLock {
    if (!this.#lock) throw new ProcessError("this Array was created with { lock: false }: it has no lock");
    return this.#lock;
  }

  /** The unsynchronised array underneath (Python's `get_obj()`). */
  getObj(): RawArray<T> {
    return this.#raw;
  }

  /** Iterates over a copy taken under the lock. */
  [Symbol.iterator](): Iterator<ValueOf<T>> {
    return this.toArray()[Symbol.iterator]();
  }

  /** @internal */
  [REDUCE](): Reduced {
    const r = this.#raw[REDUCE]();
    return { kind: 'SharedArray', state: { ...(r.state as object), lock: this.#lock } };
  }

  /** Python-style description. */
  toString(): string {
    return `<SynchronizedArray wrapper for ${this.#raw.toString()}>`;
  }
}

type CtypesState = CtypesInit[typeof kInit];
const init = (s: unknown): CtypesInit => ({ [kInit]: s as CtypesState });
registerHandleKind('RawValue', (s) => new RawValue((s as CtypesState).typecode, undefined, init(s)));
registerHandleKind('Value', (s) => new Value((s as CtypesState).typecode, undefined, {}, init(s)));
registerHandleKind('RawArray', (s) => new RawArray((s as CtypesState).typecode, 0, init(s)));
registerHandleKind('SharedArray', (s) => new SharedArray((s as CtypesState).typecode, 0, {}, init(s)));

/**
 * @internal typecode checks and conversions, for the plain (unshared) Value
 * and Array of `multiprocessing-ts/dummy`.
 */
export const _ctypes = { codeInfo, toRaw, fromRaw, itemsOf, bounds } as const;
