/**
 * Named shared memory (Python's `multiprocessing.shared_memory`):
 * `SharedMemory` and `ShareableList`.
 *
 * A `SharedMemory` the program creates lives until `unlink()`, as in Python;
 * any process can attach it by name. It needs POSIX shared memory: the native
 * part (built at install) or, failing that, the optional package `koffi`.
 * Under koffi, `buf` is a view of a plain `ArrayBuffer`, not of a
 * `SharedArrayBuffer`: read and write words that other workers change with
 * `Atomics` (the compiler may otherwise keep a plain read in a register).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { ProcessError } from './errors.js';
import { namedStore } from './internal/segments.js';
import { REDUCE, registerHandleKind, currentTransport, type Reduced } from './reduction.js';

/** Options of `new SharedMemory(...)`, as Python's `SharedMemory(name, create, size)`. */
export interface SharedMemoryOptions {
  /** Name of the segment (without a leading `/`). @default a random `psm_…` name when creating */
  name?: string;
  /** Create a new segment (it must not exist) instead of attaching an existing one. @default false */
  create?: boolean;
  /** Size in bytes of a new segment (> 0). Ignored when attaching. */
  size?: number;
}

function requireNative(what: string): NonNullable<ReturnType<typeof namedStore>> {
  const store = namedStore();
  if (!store) {
    throw new ProcessError(
      `${what} needs POSIX shared memory: neither the native part of multiprocessing-ts (built at install) nor the optional package koffi is usable here; reinstall with a C++ toolchain (node-gyp), or install koffi`,
    );
  }
  return store;
}

function posixName(name: string): string {
  return name.startsWith('/') ? name : `/${name}`;
}

const kAttach = Symbol('attach');

/**
 * A block of shared memory with a name (Python's `SharedMemory`).
 * @example
 * ```ts
 * const shm = new SharedMemory({ create: true, size: 1024 });
 * shm.buf[0] = 42;                       // a Uint8Array over the shared bytes
 * // elsewhere: const other = new SharedMemory({ name: shm.name }); other.buf[0] === 42
 * shm.close(); shm.unlink();
 * ```
 */
export class SharedMemory {
  #name: string;
  #sab: SharedArrayBuffer | ArrayBuffer | null;
  #buf: Uint8Array | null;

  /**
   * @throws TypeError/RangeError for bad options; ProcessError with `code` `EEXIST` when
   *   creating a name that exists, `ENOENT` when attaching one that does not.
   */
  constructor(options: SharedMemoryOptions = {}, from?: { [kAttach]: { name: string; sab?: SharedArrayBuffer } }) {
    if (from) {
      this.#name = from[kAttach].name;
      this.#sab = from[kAttach].sab ?? wrap(() => requireNative('SharedMemory').open(posixName(this.#name)), this.#name);
      this.#buf = new Uint8Array(this.#sab);
      return;
    }
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`SharedMemory options must be an object like { name, create, size }; received ${options === null ? 'null' : typeof options}`);
    }
    const { name, create = false, size = 0 } = options;
    if (name !== undefined && (typeof name !== 'string' || name.length === 0)) {
      throw new TypeError(`name must be a non-empty string; received ${typeof name}`);
    }
    if (typeof create !== 'boolean') throw new TypeError(`create must be a boolean; received ${typeof create}`);
    const n = requireNative('SharedMemory');
    if (create) {
      if (typeof size !== 'number' || !Number.isInteger(size) || size <= 0) {
        throw new RangeError(`'size' must be a positive integer when creating shared memory; received ${String(size)}`);
      }
      this.#name = name ?? `psm_${randomBytes(8).toString('hex')}`;
      this.#sab = wrap(() => n.create(posixName(this.#name), size), this.#name);
    } else {
      if (name === undefined) throw new TypeError("'name' can only be omitted if create is true");
      this.#name = name;
      this.#sab = wrap(() => n.open(posixName(name)), name);
    }
    this.#buf = new Uint8Array(this.#sab);
  }

  /** The segment's name (pass it to another worker to attach). */
  get name(): string {
    return this.#name;
  }

  /** Size in bytes. */
  get size(): number {
    return this.#sab?.byteLength ?? 0;
  }

  /**
   * The shared bytes. Under the koffi fallback this views a plain
   * `ArrayBuffer`: use `Atomics` (on an `Int32Array` over `buf.buffer`, for
   * instance) for words other workers change. @throws ProcessError after `close()`.
   */
  get buf(): Uint8Array {
    if (!this.#buf) throw new ProcessError(`SharedMemory '${this.#name}' is closed`);
    return this.#buf;
  }

  /**
   * Stops using the segment from this object (the memory is unmapped once no
   * view of it remains). The segment itself lives on until `unlink()`.
   */
  close(): void {
    this.#buf = null;
    this.#sab = null;
  }

  /** Removes the name: no one can attach any more; the memory goes once every user has let go. */
  unlink(): void {
    if (!requireNative('SharedMemory').unlink(posixName(this.#name))) {
      const err = new ProcessError(`no shared memory named '${this.#name}' to unlink (No such file or directory)`);
      Object.defineProperty(err, 'code', { value: 'ENOENT', enumerable: true });
      throw err;
    }
  }

  /** @internal */
  [REDUCE](): Reduced {
    if (!this.#sab) throw new ProcessError(`SharedMemory '${this.#name}' is closed and cannot be sent`);
    const sab = this.#sab;
    return { kind: 'SharedMemory', state: currentTransport() === 'thread' && sab instanceof SharedArrayBuffer ? { name: this.#name, sab } : { name: this.#name } };
  }

  /** Calls `close()` (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Python-style description. */
  toString(): string {
    return `SharedMemory('${this.#name}', size=${this.size})`;
  }
}

function wrap(fn: () => SharedArrayBuffer | ArrayBuffer, name: string): SharedArrayBuffer | ArrayBuffer {
  try {
    return fn();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const err = new ProcessError(
      code === 'EEXIST'
        ? `shared memory '${name}' already exists (File exists)`
        : code === 'ENOENT'
          ? `no shared memory named '${name}' (No such file or directory)`
          : `shared memory '${name}': ${(e as Error).message}`,
      { cause: e },
    );
    Object.defineProperty(err, 'code', { value: code ?? 'ERR_MP_PROCESS', enumerable: true });
    throw err;
  }
}

registerHandleKind('SharedMemory', (s) => new SharedMemory({}, { [kAttach]: s as { name: string; sab?: SharedArrayBuffer } }));

// ---------------------------------------------------------------------------
// ShareableList
//
// Layout (little endian): u32 magic, u32 count, then count entries of
// { u32 type, u32 offset, u32 capacity, u32 length }, then the data area.

/** What a ShareableList item can hold. */
export type ShareableItem = number | bigint | boolean | string | Uint8Array | null;

const SL_MAGIC = 0x534c6973; // 'SLis'
const T_NONE = 0;
const T_BOOL = 1;
const T_INT = 2;
const T_FLOAT = 3;
const T_STR = 4;
const T_BYTES = 5;
const T_BIGINT = 6;

function kindOf(v: ShareableItem): number {
  if (v === null) return T_NONE;
  switch (typeof v) {
    case 'boolean':
      return T_BOOL;
    case 'number':
      return Number.isInteger(v) ? T_INT : T_FLOAT;
    case 'bigint':
      return T_BIGINT;
    case 'string':
      return T_STR;
    default:
      if (v instanceof Uint8Array) return T_BYTES;
  }
  throw new TypeError(`a ShareableList holds numbers, bigints, booleans, strings, Uint8Arrays and null; received ${typeof v}`);
}

function fenceFor(buf: Uint8Array): Int32Array | null {
  return buf.buffer instanceof SharedArrayBuffer ? null : new Int32Array(buf.buffer, buf.byteOffset, 1);
}

function same(a: ShareableItem, b: ShareableItem): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.from(a).equals(b);
  return a === b;
}

function capacityFor(v: ShareableItem): number {
  if (typeof v === 'string') return Math.max(8, Math.ceil(Buffer.byteLength(v, 'utf8') / 8) * 8);
  if (v instanceof Uint8Array) return Math.max(8, Math.ceil(v.length / 8) * 8);
  return 8;
}

/**
 * A fixed-length list stored in a SharedMemory (Python's `ShareableList`):
 * numbers, bigints, booleans, strings, bytes and null. A string or bytes item
 * can be replaced by one that fits the space of the first (rounded up to 8
 * bytes).
 * @example
 * ```ts
 * const sl = new ShareableList([1, 2.5, 'text', null]);
 * sl.set(0, 10);
 * // elsewhere: new ShareableList(null, { name: sl.shm.name }).get(0) === 10
 * ```
 */
export class ShareableList implements Iterable<ShareableItem> {
  /** The shared memory holding the list. */
  readonly shm: SharedMemory;
  readonly #view: DataView;
  /**
   * Koffi fallback (a plain ArrayBuffer): an atomic read before each access
   * and after each write orders the DataView accesses (V8 neither caches nor
   * moves plain loads and stores across an atomic operation). Null on a
   * SharedArrayBuffer.
   */
  readonly #fence: Int32Array | null;

  /**
   * @param sequence - the items of a new list, or `null` to attach `options.name`.
   * @param options - `name`: name of the segment to create or attach.
   */
  constructor(sequence: Iterable<ShareableItem> | null, options: { name?: string } = {}) {
    if (sequence === null || sequence === undefined) {
      if (options.name === undefined) throw new TypeError('ShareableList(null) needs options.name to attach');
      this.shm = new SharedMemory({ name: options.name });
      this.#view = new DataView(this.shm.buf.buffer, this.shm.buf.byteOffset, this.shm.buf.byteLength);
      this.#fence = fenceFor(this.shm.buf);
      if (this.#view.getUint32(0, true) !== SL_MAGIC) throw new ProcessError(`shared memory '${options.name}' does not hold a ShareableList`);
      return;
    }
    const items = [...sequence];
    items.forEach(kindOf);
    const headerBytes = 8 + items.length * 16;
    const dataStart = Math.ceil(headerBytes / 8) * 8;
    const total = dataStart + items.reduce<number>((sum, v) => sum + capacityFor(v), 0);
    this.shm = new SharedMemory({ name: options.name, create: true, size: Math.max(total, 8) });
    this.#view = new DataView(this.shm.buf.buffer, this.shm.buf.byteOffset, this.shm.buf.byteLength);
    this.#fence = fenceFor(this.shm.buf);
    this.#view.setUint32(4, items.length, true);
    let offset = dataStart;
    items.forEach((v, i) => {
      const cap = capacityFor(v);
      this.#view.setUint32(8 + i * 16 + 4, offset, true);
      this.#view.setUint32(8 + i * 16 + 8, cap, true);
      offset += cap;
      this.#write(i, v);
    });
    this.#view.setUint32(0, SL_MAGIC, true);
  }

  /** Number of items. */
  get length(): number {
    if (this.#fence) Atomics.load(this.#fence, 0);
    return this.#view.getUint32(4, true);
  }

  #entry(i: number): { type: number; offset: number; cap: number; len: number; at: number } {
    if (typeof i !== 'number' || !Number.isInteger(i)) throw new TypeError(`index must be an integer; received ${String(i)}`);
    const n = this.length;
    const j = i < 0 ? i + n : i;
    if (j < 0 || j >= n) throw new RangeError(`index ${i} out of range for a ShareableList of length ${n}`);
    const at = 8 + j * 16;
    const v = this.#view;
    return { type: v.getUint32(at, true), offset: v.getUint32(at + 4, true), cap: v.getUint32(at + 8, true), len: v.getUint32(at + 12, true), at };
  }

  /** Item `i` (negative counts from the end). */
  get(i: number): ShareableItem {
    const e = this.#entry(i);
    const v = this.#view;
    switch (e.type) {
      case T_NONE:
        return null;
      case T_BOOL:
        return v.getUint8(e.offset) === 1;
      case T_INT:
        return Number(v.getBigInt64(e.offset, true));
      case T_BIGINT:
        return v.getBigInt64(e.offset, true);
      case T_FLOAT:
        return v.getFloat64(e.offset, true);
      case T_STR:
        return Buffer.from(v.buffer, v.byteOffset + e.offset, e.len).toString('utf8');
      default:
        return new Uint8Array(v.buffer, v.byteOffset + e.offset, e.len).slice();
    }
  }

  /**
   * Replaces item `i`. @throws RangeError when a string or bytes value does not fit the
   * item's space (Python: "exceeds available storage").
   */
  set(i: number, value: ShareableItem): void {
    kindOf(value);
    const e = this.#entry(i);
    if (capacityFor(value) > e.cap) {
      throw new RangeError(`value of ${capacityFor(value)} bytes exceeds available storage for existing item (${e.cap} bytes)`);
    }
    this.#write((e.at - 8) / 16, value);
  }

  #write(j: number, value: ShareableItem): void {
    const at = 8 + j * 16;
    const v = this.#view;
    const offset = v.getUint32(at + 4, true);
    const type = kindOf(value);
    let len = 0;
    switch (type) {
      case T_BOOL:
        v.setUint8(offset, value ? 1 : 0);
        break;
      case T_INT:
        v.setBigInt64(offset, BigInt(value as number), true);
        break;
      case T_BIGINT:
        v.setBigInt64(offset, BigInt.asIntN(64, value as bigint), true);
        break;
      case T_FLOAT:
        v.setFloat64(offset, value as number, true);
        break;
      case T_STR: {
        const b = Buffer.from(value as string, 'utf8');
        new Uint8Array(v.buffer, v.byteOffset + offset, b.length).set(b);
        len = b.length;
        break;
      }
      case T_BYTES:
        new Uint8Array(v.buffer, v.byteOffset + offset, (value as Uint8Array).length).set(value as Uint8Array);
        len = (value as Uint8Array).length;
        break;
    }
    v.setUint32(at + 12, len, true);
    v.setUint32(at, type, true);
    if (this.#fence) Atomics.load(this.#fence, 0);
  }

  /** Number of items equal to `value` (bytes compare by content, as in Python). */
  count(value: ShareableItem): number {
    let c = 0;
    for (const x of this) if (same(x, value)) c++;
    return c;
  }

  /** Index of the first item equal to `value`. @throws RangeError when absent (Python's ValueError). */
  index(value: ShareableItem): number {
    let i = 0;
    for (const x of this) {
      if (same(x, value)) return i;
      i++;
    }
    throw new RangeError(`${String(value)} not in this container`);
  }

  /** Iterates over the items. */
  *[Symbol.iterator](): Iterator<ShareableItem> {
    for (let i = 0; i < this.length; i++) yield this.get(i);
  }

  /** @internal */
  [REDUCE](): Reduced {
    return { kind: 'ShareableList', state: { shm: this.shm } };
  }

  /** Python-style description. */
  toString(): string {
    return `ShareableList([${[...this].map((x) => (typeof x === 'string' ? `'${x}'` : String(x))).join(', ')}], name='${this.shm.name}')`;
  }
}

registerHandleKind('ShareableList', (s) => new ShareableList(null, { name: (s as { shm: SharedMemory }).shm.name }));
