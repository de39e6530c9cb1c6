/**
 * `Value` and `Array` of `multiprocessing-ts/dummy`: the typecodes, C
 * conversions and methods of the real ones, over plain (unshared) memory.
 * @internal
 */
import { ProcessError } from '../errors.js';
import { _ctypes, type ArrayInit, type TypeCode, type TypedArrayOf, type ValueOf } from '../sharedctypes.js';
import { Lock, RLock } from './synchronize.js';

const { codeInfo, toRaw, fromRaw, itemsOf, bounds } = _ctypes;

/** The `lock` option of a dummy Value or Array: true (a new dummy RLock, the default), false, or a dummy Lock/RLock. */
export type DummyLockOption = boolean | Lock | RLock;

function makeLock(lock: DummyLockOption | undefined): Lock | RLock | null {
  if (lock === undefined || lock === true) return new RLock();
  if (lock === false) return null;
  if (lock instanceof Lock || lock instanceof RLock) return lock;
  throw new TypeError(`lock must be true, false, or a Lock or RLock of multiprocessing-ts/dummy; received ${typeof lock}`);
}

function options(o: unknown): { lock?: DummyLockOption } {
  if (o === undefined) return {};
  if (typeof o !== 'object' || o === null) throw new TypeError(`options must be an object like { lock }; received ${o === null ? 'null' : typeof o}`);
  return o as { lock?: DummyLockOption };
}

/**
 * A single C value (Python's `multiprocessing.dummy.Value`): Python's
 * typecodes and C overflow, as the real `Value`, in ordinary memory. Reads and
 * writes need no lock in one thread; `getLock()` is there for code that
 * holds it across an `await`.
 * @example
 * ```ts
 * const hits = new Value('i', 0);
 * hits.value += 1;
 * ```
 */
export class Value<T extends TypeCode = TypeCode> {
  readonly #code: T;
  readonly #info: ReturnType<typeof codeInfo>;
  readonly #data: TypedArrayOf<T>;
  readonly #lock: Lock | RLock | null;

  /**
   * @param typecode - Python typecode (`'i'`, `'d'`, `'q'`, …).
   * @param init - initial value. @default 0 (or `'\0'` for `'c'`)
   * @param opts - `lock`: true (a new RLock, the default), false (no lock), or a dummy Lock/RLock.
   */
  constructor(typecode: T, init?: ValueOf<T>, opts?: { lock?: DummyLockOption }) {
    this.#info = codeInfo(typecode);
    this.#code = typecode;
    this.#data = new this.#info.ctor(new ArrayBuffer(this.#info.size), 0, 1) as TypedArrayOf<T>;
    this.#lock = makeLock(options(opts).lock);
    if (init !== undefined) this.value = init;
  }

  /** The typecode. */
  get typecode(): T {
    return this.#code;
  }

  /** The value. */
  get value(): ValueOf<T> {
    return fromRaw(this.#info, this.#data[0]!) as ValueOf<T>;
  }
  /** Stores a new value (with the typecode's C conversion). */
  set value(v: ValueOf<T>) {
    (this.#data as unknown as (number | bigint)[])[0] = toRaw(this.#info, this.#code, v);
  }

  /** The lock. @throws ProcessError when created with `lock: false`. */
  getLock(): Lock | RLock {
    if (!this.#lock) throw new ProcessError('this Value was created with { lock: false }: it has no lock');
    return this.#lock;
  }

  /** The value itself (there is no separate raw object here). */
  getObj(): Value<T> {
    return this;
  }

  /** Python-style description. */
  toString(): string {
    return `c_${this.#code}(${String(this.value)})`;
  }
}

/**
 * A fixed-length array of C values (Python's `multiprocessing.dummy.Array`),
 * with the methods of the real `Array`, in ordinary memory. Also exported as
 * `SharedArray`.
 * @example
 * ```ts
 * const a = new Array('d', [1.5, 2.5]);
 * a.set(0, 3); a.get(0); [...a]; a.toArray(); a.view; // Float64Array
 * ```
 */
export class DummyArray<T extends TypeCode = TypeCode> implements Iterable<ValueOf<T>> {
  readonly #code: T;
  readonly #info: ReturnType<typeof codeInfo>;
  readonly #data: TypedArrayOf<T>;
  readonly #lock: Lock | RLock | null;

  /**
   * @param typecode - Python typecode.
   * @param sizeOrItems - a length (zero-filled) or the initial items (for `'c'`, also a string or bytes).
   * @param opts - `lock`: true (a new RLock, the default), false, or a dummy Lock/RLock.
   */
  constructor(typecode: T, sizeOrItems: ArrayInit<T>, opts?: { lock?: DummyLockOption }) {
    this.#info = codeInfo(typecode);
    this.#code = typecode;
    const { length, items } = itemsOf(typecode, sizeOrItems);
    this.#data = new this.#info.ctor(new ArrayBuffer(length * this.#info.size), 0, length) as TypedArrayOf<T>;
    this.#lock = makeLock(options(opts).lock);
    if (items instanceof Uint8Array) (this.#data as Uint8Array).set(items);
    else if (items) for (let i = 0; i < items.length; i++) this.#put(i, items[i]);
  }

  #index(i: number): number {
    if (typeof i !== 'number' || !Number.isInteger(i)) throw new TypeError(`index must be an integer; received ${String(i)}`);
    const n = this.#data.length;
    const j = i < 0 ? i + n : i;
    if (j < 0 || j >= n) throw new RangeError(`invalid index ${i} for an array of length ${n}`);
    return j;
  }

  #put(j: number, v: unknown): void {
    (this.#data as unknown as (number | bigint)[])[j] = toRaw(this.#info, this.#code, v);
  }

  #charOnly(what: string): void {
    if (this.#code !== 'c') throw new TypeError(`.${what} exists only on arrays of typecode 'c'`);
  }

  /** The typecode. */
  get typecode(): T {
    return this.#code;
  }

  /** Number of elements. */
  get length(): number {
    return this.#data.length;
  }

  /** Element `i` (negative counts from the end). @throws RangeError out of range. */
  get(i: number): ValueOf<T> {
    return fromRaw(this.#info, this.#data[this.#index(i)]!) as ValueOf<T>;
  }

  /** Sets element `i`. @throws RangeError out of range; TypeError for a value of the wrong type. */
  set(i: number, v: ValueOf<T>): void {
    this.#put(this.#index(i), v);
  }

  /** Elements `start` to `end` (exclusive) as a plain array, like Python's slice. */
  slice(start?: number, end?: number): ValueOf<T>[] {
    const [from, to] = bounds(this.#data.length, start, end);
    const out: ValueOf<T>[] = [];
    for (let j = from; j < to; j++) out.push(fromRaw(this.#info, this.#data[j]!) as ValueOf<T>);
    return out;
  }

  /** A copy of the elements as a plain array. */
  toArray(): ValueOf<T>[] {
    return this.slice();
  }

  /** The typed array holding the elements (no copy). */
  get view(): TypedArrayOf<T> {
    return this.#data;
  }

  /** `'c'` arrays: the bytes up to the first NUL, as a string (Python's `.value`). */
  get value(): string {
    this.#charOnly('value');
    const bytes = this.#data as Uint8Array;
    const end = bytes.indexOf(0);
    return Buffer.from(bytes.subarray(0, end < 0 ? bytes.length : end)).toString('latin1');
  }
  /** `'c'` arrays: stores a string (Latin-1), NUL-terminated when shorter than the array. */
  set value(s: string) {
    this.#charOnly('value');
    const bytes = Buffer.from(s, 'latin1');
    if (bytes.length > this.length) throw new RangeError(`byte string too long (${bytes.length} > ${this.length})`);
    (this.#data as Uint8Array).set(bytes);
    if (bytes.length < this.length) (this.#data as Uint8Array)[bytes.length] = 0;
  }

  /** `'c'` arrays: a copy of all the bytes (Python's `.raw`). */
  get raw(): Uint8Array {
    this.#charOnly('raw');
    return (this.#data as Uint8Array).slice();
  }
  /** `'c'` arrays: stores bytes from the start of the array. @throws RangeError when longer than the array. */
  set raw(b: Uint8Array) {
    this.#charOnly('raw');
    if (b.length > this.length) throw new RangeError(`byte string too long (${b.length} > ${this.length})`);
    (this.#data as Uint8Array).set(b);
  }

  /** The lock. @throws ProcessError when created with `lock: false`. */
  getLock(): Lock | RLock {
    if (!this.#lock) throw new ProcessError('this Array was created with { lock: false }: it has no lock');
    return this.#lock;
  }

  /** The array itself (there is no separate raw object here). */
  getObj(): DummyArray<T> {
    return this;
  }

  /** Iterates over the elements. */
  *[Symbol.iterator](): Iterator<ValueOf<T>> {
    for (let i = 0; i < this.#data.length; i++) yield fromRaw(this.#info, this.#data[i]!) as ValueOf<T>;
  }

  /** Python-style description. */
  toString(): string {
    const n = this.length;
    return `<c_${this.#code}_Array_${n} [${this.slice(0, 10).join(', ')}${n > 10 ? ', ...' : ''}]>`;
  }
}
