/**
 * `Pipe` and `Connection` of `multiprocessing-ts/dummy` (Python's
 * `multiprocessing.dummy.connection`): two ends over in-memory queues, with
 * the methods of the real `Connection`.
 * @internal
 */
import { BufferTooShort, EOFError, ProcessError } from '../errors.js';
import { validateSignal, asBytes, intArg, pollTimeout } from '../internal/validators.js';
import type { BytesLike, RecvOptions } from '../connection.js';
import { WaitList, sleepSync, wouldHang } from './common.js';

/** One direction of a pipe. */
class Channel {
  readonly items: { value: unknown; bytes: boolean }[] = [];
  writerClosed = false;
  readerClosed = false;
  readonly readers = new WaitList();
}

const kMake = Symbol('make');

/**
 * One end of a dummy pipe. Values are passed as they are (by reference, as
 * Python's dummy pipes do); `sendBytes` sends a copy of the bytes. `S` is the
 * type of values sent from this end, `R` of values received.
 */
export class Connection<S = unknown, R = S> {
  readonly #in: Channel | null;
  readonly #out: Channel | null;
  #closed = false;

  /** @internal use `Pipe()`. */
  constructor(key: symbol, inbound: unknown, outbound: unknown) {
    if (key !== kMake) throw new TypeError('Connection cannot be constructed directly: use Pipe()');
    this.#in = inbound as Channel | null;
    this.#out = outbound as Channel | null;
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True when this end can receive. */
  get readable(): boolean {
    return this.#in !== null;
  }

  /** True when this end can send. */
  get writable(): boolean {
    return this.#out !== null;
  }

  #checkWrite(): Channel {
    if (this.#closed) throw new ProcessError('handle is closed: this Connection was closed');
    if (!this.#out) throw new ProcessError('connection is read-only: this end of a one-way Pipe can only receive');
    if (this.#out.readerClosed) throw new ProcessError('broken pipe: the other end of the connection is closed, nothing would read this message');
    return this.#out;
  }

  #checkRead(): Channel {
    if (this.#closed) throw new ProcessError('handle is closed: this Connection was closed');
    if (!this.#in) throw new ProcessError('connection is write-only: this end cannot receive');
    return this.#in;
  }

  #push(value: unknown, bytes: boolean): void {
    const ch = this.#checkWrite();
    ch.items.push({ value, bytes });
    ch.readers.wakeAll();
  }

  /** Sends one value (not copied). Resolves at once: a dummy pipe has no bound. */
  async send(obj: S, options?: RecvOptions): Promise<void> {
    validateSignal(options)?.throwIfAborted();
    this.#push(obj, false);
  }

  /** Blocking `send` (never waits). */
  sendSync(obj: S): void {
    this.#push(obj, false);
  }

  #slice(buf: BytesLike, offset?: number, size?: number): Uint8Array {
    const bytes = asBytes(buf, 'buf');
    const off = offset === undefined ? 0 : intArg(offset, 'offset');
    if (off < 0) throw new RangeError('offset is negative');
    if (bytes.length < off) throw new RangeError('buffer length < offset');
    let n = bytes.length - off;
    if (size !== undefined) {
      n = intArg(size, 'size');
      if (n < 0) throw new RangeError('size is negative');
      if (off + n > bytes.length) throw new RangeError('buffer length < offset + size');
    }
    return bytes.slice(off, off + n);
  }

  /** Sends a copy of `buf[offset, offset + size)` as one message of bytes. */
  async sendBytes(buf: BytesLike, offset?: number, size?: number, options?: RecvOptions): Promise<void> {
    validateSignal(options)?.throwIfAborted();
    this.#push(this.#slice(buf, offset, size), true);
  }

  /** Blocking `sendBytes` (never waits). */
  sendBytesSync(buf: BytesLike, offset?: number, size?: number): void {
    this.#push(this.#slice(buf, offset, size), true);
  }

  /** The next message, or null when none is there yet. @throws EOFError when drained and the other end is closed. */
  #next(ch: Channel): { value: unknown; bytes: boolean } | null {
    const m = ch.items.shift();
    if (m) return m;
    if (ch.writerClosed) throw new EOFError('the other end of the connection is closed and nothing is left to read');
    return null;
  }

  async #read(signal: AbortSignal | undefined): Promise<{ value: unknown; bytes: boolean }> {
    const ch = this.#checkRead();
    signal?.throwIfAborted();
    for (;;) {
      const m = this.#next(ch);
      if (m) return m;
      await ch.readers.wait(null, Infinity, signal);
      if (this.#closed) throw new ProcessError('handle is closed: this Connection was closed while receiving');
    }
  }

  #readSync(call: string): { value: unknown; bytes: boolean } {
    const m = this.#next(this.#checkRead());
    if (m) return m;
    throw wouldHang(call, 'no message is in the pipe');
  }

  #bytesOf(m: { value: unknown; bytes: boolean }, maxLength: number | undefined): Uint8Array {
    if (!m.bytes) throw new ProcessError('the message was sent with send(), not sendBytes(): receive it with recv()');
    const b = m.value as Uint8Array;
    if (maxLength !== undefined && b.length > maxLength) throw new ProcessError(`bad message length: ${b.length} bytes > maxLength ${maxLength}`);
    return b;
  }

  #maxLength(maxLength: unknown): number | undefined {
    if (maxLength === undefined || maxLength === null) return undefined;
    const m = intArg(maxLength, 'maxLength');
    if (m < 0) throw new RangeError('negative maxLength');
    return m;
  }

  /**
   * Receives one value, waiting for it.
   * @throws EOFError when nothing is left and the other end is closed.
   */
  async recv(options?: RecvOptions): Promise<R> {
    return (await this.#read(validateSignal(options))).value as R;
  }

  /**
   * Blocking `recv`: the next message when one is there.
   * @throws EOFError when drained and the other end is closed.
   * @throws ProcessError when no message is there (none could arrive while the thread blocks).
   */
  recvSync(): R {
    return this.#readSync('recvSync()').value as R;
  }

  /** Receives one message of bytes. @param maxLength - a longer message is an error. */
  async recvBytes(maxLength?: number, options?: RecvOptions): Promise<Uint8Array> {
    const m = this.#maxLength(maxLength);
    return this.#bytesOf(await this.#read(validateSignal(options)), m);
  }

  /** Blocking `recvBytes` (see `recvSync`). */
  recvBytesSync(maxLength?: number): Uint8Array {
    const m = this.#maxLength(maxLength);
    return this.#bytesOf(this.#readSync('recvBytesSync()'), m);
  }

  #into(buf: unknown, offset: unknown): { dst: Uint8Array; off: number } {
    const dst = asBytes(buf, 'buf');
    const off = offset === undefined ? 0 : intArg(offset, 'offset');
    if (off < 0) throw new RangeError('negative offset');
    if (off > dst.length) throw new RangeError('offset too large');
    return { dst, off };
  }

  #copyInto(msg: Uint8Array, dst: Uint8Array, off: number): number {
    if (msg.length > dst.length - off) {
      const err = new BufferTooShort(`the message (${msg.length} bytes) does not fit the buffer (${dst.length - off} bytes from offset ${off}); it is on error.bytes`);
      Object.defineProperty(err, 'bytes', { value: msg, enumerable: true });
      throw err;
    }
    dst.set(msg, off);
    return msg.length;
  }

  /**
   * Receives one message into `buf` at byte `offset`; resolves to its length.
   * @throws BufferTooShort (with the message on `.bytes`) when it does not fit; the message is consumed.
   */
  async recvBytesInto(buf: BytesLike, offset?: number, options?: RecvOptions): Promise<number> {
    const { dst, off } = this.#into(buf, offset);
    return this.#copyInto(this.#bytesOf(await this.#read(validateSignal(options)), undefined), dst, off);
  }

  /** Blocking `recvBytesInto` (see `recvSync`). */
  recvBytesIntoSync(buf: BytesLike, offset?: number): number {
    const { dst, off } = this.#into(buf, offset);
    return this.#copyInto(this.#bytesOf(this.#readSync('recvBytesIntoSync()'), undefined), dst, off);
  }

  /**
   * Whether a message (or the end of the stream) is ready. Waits up to `ms`
   * milliseconds: by default not at all (as Python's `poll()`); `null` or
   * `Infinity` waits until something is ready.
   */
  async poll(ms?: number | null, options?: RecvOptions): Promise<boolean> {
    const ch = this.#checkRead();
    const t = pollTimeout(ms);
    const signal = validateSignal(options);
    signal?.throwIfAborted();
    const deadline = performance.now() + t;
    for (;;) {
      if (ch.items.length > 0 || ch.writerClosed) return true;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await ch.readers.wait(null, left, signal);
      if (this.#closed) throw new ProcessError('handle is closed: this Connection was closed while polling');
    }
  }

  /**
   * Blocking `poll`: true when something is ready now; else blocks `ms` and returns false.
   * @throws ProcessError when nothing is ready and `ms` is `null`/`Infinity`.
   */
  pollSync(ms?: number | null): boolean {
    const ch = this.#checkRead();
    const t = pollTimeout(ms);
    if (ch.items.length > 0 || ch.writerClosed) return true;
    if (t === Infinity) throw wouldHang('pollSync()', 'no message is in the pipe');
    sleepSync(t);
    return false;
  }

  /** Closes this end (idempotent): the other end reads what is left, then gets `EOFError`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#out) {
      this.#out.writerClosed = true;
      this.#out.readers.wakeAll();
    }
    if (this.#in) {
      this.#in.readerClosed = true;
      this.#in.readers.wakeAll();
    }
  }

  /** `using` support: closes. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** `await using` support: closes. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  /** Python-style description. */
  toString(): string {
    return `<dummy Connection${this.#closed ? ' closed' : ''}>`;
  }
}

/**
 * A pipe between async tasks (Python's `multiprocessing.dummy.Pipe`): two
 * connected `Connection`s. With `duplex` (the default) both ends send and
 * receive; with `duplex: false` the first end only receives and the second
 * only sends. A reader gets `EOFError` once the pipe is drained and the other
 * end is closed.
 * @example
 * ```ts
 * const [a, b] = Pipe<string>();
 * await a.send('hello');
 * console.log(await b.recv()); // 'hello'
 * ```
 */
export function Pipe<S = unknown, R = S>(duplex: boolean = true): [Connection<R, S>, Connection<S, R>] {
  if (typeof duplex !== 'boolean') throw new TypeError(`duplex must be a boolean; received ${typeof duplex}`);
  const ab = new Channel(); // written by the second end, read by the first
  if (!duplex) return [new Connection<R, S>(kMake, ab, null), new Connection<S, R>(kMake, null, ab)];
  const ba = new Channel();
  return [new Connection<R, S>(kMake, ab, ba), new Connection<S, R>(kMake, ba, ab)];
}
