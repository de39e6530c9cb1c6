/**
 * Connections (Python's `multiprocessing.connection`): `Connection`, `Pipe`,
 * `wait`. A connection carries whole messages: `send`/`recv` for values,
 * `sendBytes`/`recvBytes`/`recvBytesInto` for raw bytes.
 * @module
 */
import { ProcessError, EOFError, BufferTooShort, TimeoutError } from './errors.js';
import { validateSignal, validateTimeout, asBytes, intArg, pollTimeout } from './internal/validators.js';
import { TIMED_OUT, type Channel, type ReadResult } from './internal/channel.js';
import { decodeValue, decodeFullySync, encodeValue, finish } from './internal/codec.js';
import { RingChannel, type RingChannelState } from './internal/ring-channel.js';
import { Ring } from './internal/ring.js';
import { REDUCE, RETAIN, registerHandleKind, currentTransport, type Reduced } from './reduction.js';

/** Default bytes of shared memory per direction of a pipe (pages are used only once written). */
const PIPE_BUFFER = 1024 * 1024;
const UNBOUNDED = 0x7fffffff;

/** Options of the waiting calls of a connection. */
export interface RecvOptions {
  /** Rejects the call with the signal's reason when aborted; nothing is consumed then. */
  signal?: AbortSignal;
}

/** A byte buffer accepted by `sendBytes` / `recvBytesInto`. */
export type BytesLike = ArrayBufferView | ArrayBuffer;

const kChannel = Symbol('channel');

/**
 * One end of a connection (Python's `multiprocessing.connection.Connection`).
 * Ends of a `Pipe` can be passed to any worker (as `Process` arguments, in
 * queue items, through other pipes); the pipe reports the end of the stream
 * (`EOFError`) once every copy of the other end anywhere is closed.
 *
 * `S` is the type of values sent from this end, `R` of values received.
 * @example
 * ```ts
 * const [a, b] = Pipe<string>();
 * await a.send('hello');
 * console.log(await b.recv()); // 'hello'
 * ```
 */
export class Connection<S = unknown, R = S> {
  readonly #channel: Channel;
  #closed = false;
  #retained = 0;
  #readable: boolean;
  readonly #writable: boolean;

  /** @internal use `Pipe()`, `Client()` or `Listener.accept()`. */
  constructor(channel: Channel, key?: typeof kChannel) {
    if (key !== kChannel) throw new TypeError('Connection cannot be constructed directly: use Pipe(), Client() or Listener.accept()');
    this.#channel = channel;
    this.#readable = channel.canRead;
    this.#writable = channel.canWrite;
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }
  /** True when this end can receive. */
  get readable(): boolean {
    return this.#readable;
  }
  /** True when this end can send. */
  get writable(): boolean {
    return this.#writable;
  }

  #checkWrite(): void {
    if (this.#closed) throw new ProcessError('handle is closed: this Connection was closed');
    if (!this.#writable) throw new ProcessError('connection is read-only: this end of a one-way Pipe can only receive');
  }

  #checkRead(): void {
    if (this.#closed) throw new ProcessError('handle is closed: this Connection was closed');
    if (!this.#readable) throw new ProcessError('connection is write-only: this end cannot receive');
  }

  #checkSync(name: string): void {
    if (!this.#channel.supportsSync) {
      throw new ProcessError(`${name}() is not available on a socket connection (Listener/Client): sockets need the event loop; use the async form`);
    }
  }

  /** Sends one value (any value a `Process` argument may be). Resolves once it is in the connection. */
  async send(obj: S, options?: RecvOptions): Promise<void> {
    this.#checkWrite();
    const signal = validateSignal(options);
    signal?.throwIfAborted();
    await this.#channel.write([encodeValue(obj, 'the message')], signal);
  }

  /** Blocking `send`. */
  sendSync(obj: S): void {
    this.#checkWrite();
    this.#checkSync('sendSync');
    this.#channel.writeSync([encodeValue(obj, 'the message')]);
  }

  #slice(buf: unknown, offset: unknown, size: unknown): Uint8Array {
    const bytes = asBytes(buf, 'buf');
    const off = offset === undefined ? 0 : intArg(offset, 'offset');
    if (off < 0) throw new RangeError('offset is negative');
    if (bytes.length < off) throw new RangeError('buffer length < offset');
    let n: number;
    if (size === undefined) n = bytes.length - off;
    else {
      n = intArg(size, 'size');
      if (n < 0) throw new RangeError('size is negative');
      if (off + n > bytes.length) throw new RangeError('buffer length < offset + size');
    }
    return bytes.subarray(off, off + n);
  }

  /** Sends `buf[offset, offset + size)` as one message of raw bytes. */
  async sendBytes(buf: BytesLike, offset?: number, size?: number, options?: RecvOptions): Promise<void> {
    this.#checkWrite();
    const part = this.#slice(buf, offset, size);
    const signal = validateSignal(options);
    signal?.throwIfAborted();
    await this.#channel.write([part], signal);
  }

  /** Blocking `sendBytes`. */
  sendBytesSync(buf: BytesLike, offset?: number, size?: number): void {
    this.#checkWrite();
    this.#checkSync('sendBytesSync');
    this.#channel.writeSync([this.#slice(buf, offset, size)]);
  }

  #frame(r: ReadResult): Uint8Array {
    if (r === null) throw new EOFError('the other end of the connection is closed and nothing is left to read');
    if (r === TIMED_OUT) throw new TimeoutError('no message arrived in time');
    return r;
  }

  #maxLength(maxLength: unknown): number | undefined {
    if (maxLength === undefined || maxLength === null) return undefined;
    const m = intArg(maxLength, 'maxLength');
    if (m < 0) throw new RangeError('negative maxLength');
    return m;
  }

  async #read(signal: AbortSignal | undefined, maxLength?: number): Promise<Uint8Array> {
    try {
      return this.#frame(await this.#channel.read(Infinity, signal, maxLength));
    } catch (e) {
      this.#afterReadError(e);
      throw e;
    }
  }

  #readSync(maxLength?: number): Uint8Array {
    try {
      return this.#frame(this.#channel.readSync(Infinity, maxLength));
    } catch (e) {
      this.#afterReadError(e);
      throw e;
    }
  }

  #afterReadError(e: unknown): void {
    // Python: a message over maxlength leaves the connection unreadable.
    if (e instanceof ProcessError && (e as { badLength?: boolean }).badLength) this.#readable = false;
  }

  /**
   * Receives one value, waiting without blocking the event loop.
   * @throws EOFError when nothing is left and every copy of the other end is closed.
   */
  async recv(options?: RecvOptions): Promise<R> {
    this.#checkRead();
    const signal = validateSignal(options);
    signal?.throwIfAborted();
    return (await finish(decodeValue(await this.#read(signal)))) as R;
  }

  /** Blocking `recv`. */
  recvSync(): R {
    this.#checkRead();
    this.#checkSync('recvSync');
    return decodeFullySync(this.#readSync()) as R;
  }

  /**
   * Receives one message of raw bytes.
   * @param maxLength - a longer message is an error, after which this end is no longer readable.
   */
  async recvBytes(maxLength?: number, options?: RecvOptions): Promise<Uint8Array> {
    this.#checkRead();
    const m = this.#maxLength(maxLength);
    const signal = validateSignal(options);
    signal?.throwIfAborted();
    return this.#read(signal, m);
  }

  /** Blocking `recvBytes`. */
  recvBytesSync(maxLength?: number): Uint8Array {
    this.#checkRead();
    this.#checkSync('recvBytesSync');
    return this.#readSync(this.#maxLength(maxLength));
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
    this.#checkRead();
    const { dst, off } = this.#into(buf, offset);
    const signal = validateSignal(options);
    signal?.throwIfAborted();
    return this.#copyInto(await this.#read(signal), dst, off);
  }

  /** Blocking `recvBytesInto`. */
  recvBytesIntoSync(buf: BytesLike, offset?: number): number {
    this.#checkRead();
    this.#checkSync('recvBytesIntoSync');
    const { dst, off } = this.#into(buf, offset);
    return this.#copyInto(this.#readSync(), dst, off);
  }

  /**
   * Whether a message (or the end of the stream) is ready. Waits up to `ms`
   * milliseconds: by default not at all (as Python's `poll()`); `null` or
   * `Infinity` waits until something is ready.
   */
  async poll(ms?: number | null, options?: RecvOptions): Promise<boolean> {
    this.#checkRead();
    const t = pollTimeout(ms);
    const signal = validateSignal(options);
    signal?.throwIfAborted();
    return this.#channel.poll(t, signal);
  }

  /** Blocking `poll`. */
  pollSync(ms?: number | null): boolean {
    this.#checkRead();
    this.#checkSync('pollSync');
    return this.#channel.pollSync(pollTimeout(ms));
  }

  /** Closes this end (idempotent). The other end sees `EOFError` once every copy of this end is closed. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#channel.close();
  }

  /** `using` support: closes. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** `await using` support: closes. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  /** @internal */
  [REDUCE](): Reduced {
    // A closed end can still go to a Process that kept a copy of it before the close.
    if (this.#closed && this.#retained === 0) throw new ProcessError('handle is closed: a closed Connection cannot be sent');
    const ch = this.#channel;
    if (!(ch instanceof RingChannel)) {
      throw new TypeError('a socket Connection (from Listener/Client) cannot be sent to another worker; connect from that worker instead');
    }
    return { kind: 'Connection', state: ch.reduce(currentTransport()) };
  }

  /** @internal a copy kept by a Process that has not started yet. */
  [RETAIN](): () => void {
    const ch = this.#channel;
    if (this.#closed || !(ch instanceof RingChannel)) return () => {};
    const release = ch.retain();
    this.#retained++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#retained--;
      release();
    };
  }

  /** Python-style description. */
  toString(): string {
    return `<Connection ${this.#closed ? 'closed' : `${this.#readable ? 'r' : ''}${this.#writable ? 'w' : ''}`}>`;
  }

  /** @internal the channel (for `wait` and for transfer). */
  static _channel(c: Connection<unknown, unknown>): Channel {
    return c.#channel;
  }

  /** @internal builds a connection over a channel (Pipe, Listener, Client). */
  static _over<S, R>(channel: Channel): Connection<S, R> {
    return new Connection<S, R>(channel, kChannel);
  }
}

/** Options of `Pipe`. */
export interface PipeOptions {
  /** Bytes of shared memory per direction (a power of two; larger messages go in pieces). @default 1 MiB */
  bufferSize?: number;
}

/**
 * A pipe (Python's `multiprocessing.Pipe`): two connected `Connection`s. With
 * `duplex` (the default) both ends send and receive; with `duplex: false` the
 * first end only receives and the second only sends. Ends may be passed to
 * any worker; a reader gets `EOFError` once the pipe is drained and every
 * copy of the other end, anywhere, is closed.
 * @example
 * ```ts
 * const [parentEnd, childEnd] = Pipe<string>();
 * const p = new Process({ target: worker, args: [childEnd] });
 * p.start();
 * childEnd.close(); // the child keeps its own copy
 * console.log(await parentEnd.recv());
 * ```
 */
export function Pipe<S = unknown, R = S>(duplex: boolean = true, options?: PipeOptions): [Connection<R, S>, Connection<S, R>] {
  if (typeof duplex !== 'boolean') throw new TypeError(`duplex must be a boolean; received ${typeof duplex}`);
  let size = PIPE_BUFFER;
  if (options !== undefined) {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object like { bufferSize }');
    if (options.bufferSize !== undefined) {
      const b = options.bufferSize;
      if (typeof b !== 'number' || !Number.isInteger(b) || b < 4096 || b > 2 ** 30) {
        throw new RangeError(`options.bufferSize must be an integer from 4096 to 2**30; received ${String(b)}`);
      }
      size = b;
    }
  }
  const ab = Ring.create(size, UNBOUNDED); // written by the second end, read by the first
  if (!duplex) {
    return [Connection._over<R, S>(new RingChannel(ab, null)), Connection._over<S, R>(new RingChannel(null, ab))];
  }
  const ba = Ring.create(size, UNBOUNDED);
  return [Connection._over<R, S>(new RingChannel(ab, ba)), Connection._over<S, R>(new RingChannel(ba, ab))];
}

registerHandleKind('Connection', (s) => Connection._over(RingChannel.revive(s as RingChannelState)));

/**
 * Waits until at least one of `connections` is ready to read (a message, or
 * the end of the stream) and resolves to the ready ones, in the order given.
 * Resolves to `[]` when `ms` passes first (default: wait forever).
 */
export async function wait<C extends Connection<unknown, unknown>>(
  connections: readonly C[],
  ms?: number,
  options?: RecvOptions,
): Promise<C[]> {
  if (!Array.isArray(connections)) throw new TypeError('connections must be an array of Connection objects');
  for (const c of connections) {
    if (!(c instanceof Connection)) throw new TypeError('wait() accepts Connection objects only');
  }
  const t = validateTimeout(ms, 'ms');
  const timeout = t === undefined ? Infinity : Math.max(0, t);
  const signal = validateSignal(options);
  signal?.throwIfAborted();
  const open = connections.filter((c) => !c.closed && c.readable);
  const readyNow = async (): Promise<C[]> => {
    const r = await Promise.all(open.map((c) => Connection._channel(c).poll(0)));
    return open.filter((_, i) => r[i]);
  };
  const hit = await readyNow();
  if (hit.length || timeout === 0) return hit;
  if (open.length === 0) {
    if (timeout === Infinity) throw new ProcessError('wait() was given no open, readable connection: it would wait forever');
    return [];
  }
  const inner = new AbortController();
  const onAbort = () => inner.abort(signal!.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const any = await Promise.any(
      open.map((c) =>
        Connection._channel(c)
          .poll(timeout, inner.signal)
          .then((ok) => (ok ? true : Promise.reject(new Error('timed out')))),
      ),
    ).catch(() => false);
    signal?.throwIfAborted();
    return any ? await readyNow() : [];
  } finally {
    signal?.removeEventListener('abort', onAbort);
    inner.abort(new ProcessError('wait() finished'));
  }
}
