/**
 * A `Channel` over a stream socket (Unix or TCP), speaking Python's framing of
 * `multiprocessing.connection.Connection` on POSIX: each frame is a 4-byte
 * big-endian signed length followed by the payload; a payload longer than
 * 0x7fffffff bytes has the length -1 followed by an 8-byte big-endian unsigned
 * length. Python peers (`Listener`, `Client`, `send_bytes`, `recv_bytes`)
 * therefore read and write the same frames.
 *
 * Reading: incoming bytes are parsed as they arrive; complete frames wait in
 * a queue until read. A length prefix over the channel's limit (a garbage or
 * hostile peer) destroys the socket at once: reads then deliver the frames
 * that were already complete, then reject. While many complete frames wait
 * unread (over {@link READ_HIGH_WATER} bytes), the socket stops reading, so
 * a fast sender is held back by the kernel as with Python's blocking reads.
 *
 * Writing: a frame goes out with its header in one write when small; a write
 * resolves once the socket has handed the whole frame to the kernel, and the
 * next frame waits for `'drain'` when the socket's buffer is full.
 *
 * Liveness: the socket keeps the event loop alive only while an operation on
 * it is pending (a read, poll or write), as a Python program is kept alive only
 * by a thread blocked on it.
 * @internal
 */
import type { Socket } from 'node:net';
import { constants as bufferConstants } from 'node:buffer';
import { ProcessError } from '../errors.js';
import { TIMED_OUT, type Channel, type ReadResult } from './channel.js';

/** Frames up to this many bytes go out in one write with their header (as Python does). */
export const SMALL_FRAME = 16384;

/** Largest length that fits the 4-byte header; longer frames use the 12-byte form. */
export const MAX_SHORT_LENGTH = 0x7fffffff;

/** Cap on each frame read during the authentication handshake (as Python's `recv_bytes(256)`). */
export const HANDSHAKE_FRAME_LIMIT = 256;

/**
 * Default cap on one incoming message: 1 GiB. A peer announcing more is
 * dropped. Raise it with the `maxMessageSize` option (up to
 * {@link MAX_MESSAGE_SIZE}) to receive bigger messages.
 */
export const DEFAULT_MAX_MESSAGE_SIZE = 2 ** 30;

/** Largest `maxMessageSize` accepted: the largest buffer this Node.js can allocate. */
export const MAX_MESSAGE_SIZE: number = bufferConstants.MAX_LENGTH;

/** Complete unread frames above this many bytes pause reading from the socket. */
export const READ_HIGH_WATER = 8 * 2 ** 20;

/** Options of a socket channel. */
export interface SocketChannelOptions {
  /** Largest frame accepted from the peer, in bytes. */
  maxMessageSize?: number;
  /**
   * How many of the first incoming frames belong to the authentication
   * handshake: each of them is capped at {@link HANDSHAKE_FRAME_LIMIT} bytes.
   */
  handshakeFrames?: number;
  /** Whether pending operations keep the event loop alive (default true). */
  keepAliveWhileBusy?: boolean;
}

/** The header of a frame of `n` bytes. */
export function encodeHeader(n: number): Uint8Array {
  if (n <= MAX_SHORT_LENGTH) {
    const h = Buffer.allocUnsafe(4);
    h.writeInt32BE(n, 0);
    return h;
  }
  const h = Buffer.allocUnsafe(12);
  h.writeInt32BE(-1, 0);
  h.writeUInt32BE(Math.floor(n / 2 ** 32), 4);
  h.writeUInt32BE(n % 2 ** 32 >>> 0, 8);
  return h;
}

function badLength(message: string): ProcessError {
  const err = new ProcessError(message);
  Object.defineProperty(err, 'badLength', { value: true });
  return err;
}

/** A `ProcessError` with code `'EPIPE'` (Python's `BrokenPipeError`). */
function brokenPipe(cause?: unknown): ProcessError {
  const err = new ProcessError('broken pipe: the other end of the connection is closed', cause === undefined ? undefined : { cause });
  Object.defineProperty(err, 'code', { value: 'EPIPE', enumerable: true, configurable: true, writable: true });
  return err;
}

function closedError(): ProcessError {
  return new ProcessError('handle is closed: this Connection was closed');
}

/** A fresh buffer of exactly `n` bytes with its own ArrayBuffer. */
function fresh(n: number): Uint8Array {
  if (n <= 4096) return new Uint8Array(n);
  const b = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

const NOT_YET = Symbol('not-yet');

/**
 * Resolves once the event loop has run at least one full I/O phase after this
 * call (bytes already in a socket's kernel buffer have been read by then): the
 * first `setImmediate` may still run in the current loop iteration, after its
 * I/O phase; the second runs after the next one.
 */
function ioTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

interface Reader {
  maxLength: number | undefined;
  resolve(r: ReadResult): void;
  reject(e: unknown): void;
  cleanup(): void;
}

interface Poller {
  resolve(r: boolean): void;
  reject(e: unknown): void;
  cleanup(): void;
}

/** A `Channel` over a connected `net.Socket`, in Python's framing. @internal */
export class SocketChannel implements Channel {
  readonly canRead = true;
  readonly canWrite = true;
  readonly supportsSync = false;

  readonly #socket: Socket;
  readonly #maxMessageSize: number;
  readonly #handshakeFrames: number;
  #keepAlive: boolean;

  // parser state
  readonly #hdr = Buffer.alloc(12);
  #hdrGot = 0;
  #hdrNeed = 4;
  #frameIndex = 0;
  #inPayload = false;
  #payloadLength = 0;
  #payloadGot = 0;
  #parts: Uint8Array[] = [];

  // complete frames
  #frames: Uint8Array[] = [];
  #framesHead = 0;
  #queuedBytes = 0;
  #paused = false;

  // end states
  #eof = false;
  #eofMidFrame = false;
  #fatal: ProcessError | null = null;
  #unreadable: ProcessError | null = null;
  #closed = false;
  #socketError: unknown = undefined;

  // waiters
  #writers: Reader[] = [];
  #granted = false;
  #readers: Reader[] = [];
  readonly #pollers = new Set<Poller>();
  #busy = 0;
  #refd = false;

  constructor(socket: Socket, options: SocketChannelOptions = {}) {
    this.#socket = socket;
    this.#maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    this.#handshakeFrames = options.handshakeFrames ?? 0;
    this.#keepAlive = options.keepAliveWhileBusy ?? true;
    socket.setNoDelay(true);
    socket.unref();
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#onEnd());
    socket.on('error', (e) => {
      this.#socketError ??= e;
    });
    socket.on('close', () => {
      this.#onEnd();
      this.#failWriters();
    });
    socket.on('drain', () => this.#wakeWriter());
  }

  /** Whether pending operations keep the event loop alive. */
  setKeepAliveWhileBusy(on: boolean): void {
    if (this.#keepAlive === on) return;
    this.#keepAlive = on;
    const ref = on && this.#busy > 0;
    if (ref !== this.#refd) {
      this.#refd = ref;
      if (ref) this.#socket.ref();
      else this.#socket.unref();
    }
  }

  /** The peer's address as Python reports it: `[host, port]` for TCP, `''` for a Unix socket. */
  peerAddress(): string | [string, number] {
    const s = this.#socket;
    if (s.remoteAddress !== undefined && s.remotePort !== undefined) return [s.remoteAddress, s.remotePort];
    return '';
  }

  #hold(): void {
    if (++this.#busy === 1 && this.#keepAlive && !this.#refd) {
      this.#refd = true;
      this.#socket.ref();
    }
  }

  #release(): void {
    if (--this.#busy === 0 && this.#refd) {
      this.#refd = false;
      this.#socket.unref();
    }
  }

  // ---- parsing ----------------------------------------------------------

  #midFrame(): boolean {
    return this.#inPayload || this.#hdrGot > 0;
  }

  #onData(chunk: Buffer): void {
    if (this.#closed || this.#fatal !== null || this.#unreadable !== null) return;
    const n = chunk.length;
    let off = 0;
    while (off < n) {
      if (!this.#inPayload) {
        const take = Math.min(this.#hdrNeed - this.#hdrGot, n - off);
        chunk.copy(this.#hdr, this.#hdrGot, off, off + take);
        this.#hdrGot += take;
        off += take;
        if (this.#hdrGot < this.#hdrNeed) break;
        let length: number;
        if (this.#hdrNeed === 4) {
          const short = this.#hdr.readInt32BE(0);
          if (short === -1) {
            this.#hdrNeed = 12;
            continue;
          }
          if (short < 0) {
            this.#drop(`bad message length: the peer sent a negative length prefix (${short}); the connection was dropped`);
            return;
          }
          length = short;
        } else {
          length = this.#hdr.readUInt32BE(4) * 2 ** 32 + this.#hdr.readUInt32BE(8);
        }
        this.#hdrGot = 0;
        this.#hdrNeed = 4;
        const inHandshake = this.#frameIndex < this.#handshakeFrames;
        const limit = inHandshake ? HANDSHAKE_FRAME_LIMIT : this.#maxMessageSize;
        this.#frameIndex++;
        if (length > limit) {
          this.#drop(
            inHandshake
              ? `bad message length: the peer announced a message of ${length} bytes during the authentication handshake (at most ${HANDSHAKE_FRAME_LIMIT}); the connection was dropped`
              : `bad message length: the peer announced a message of ${length} bytes, over this connection's limit of ${this.#maxMessageSize} (the maxMessageSize option); the connection was dropped`,
          );
          return;
        }
        if (n - off >= length) {
          // the whole payload is in this chunk
          const frame = fresh(length);
          if (length > 0) frame.set(chunk.subarray(off, off + length));
          off += length;
          this.#push(frame);
          continue;
        }
        this.#inPayload = true;
        this.#payloadLength = length;
        this.#payloadGot = 0;
        this.#parts = [];
      } else {
        const take = Math.min(this.#payloadLength - this.#payloadGot, n - off);
        this.#parts.push(chunk.subarray(off, off + take));
        this.#payloadGot += take;
        off += take;
        if (this.#payloadGot === this.#payloadLength) {
          const frame = fresh(this.#payloadLength);
          let at = 0;
          for (const p of this.#parts) {
            frame.set(p, at);
            at += p.length;
          }
          this.#parts = [];
          this.#inPayload = false;
          this.#push(frame);
        }
      }
    }
    if (this.#queuedBytes >= READ_HIGH_WATER && !this.#paused) {
      this.#paused = true;
      this.#socket.pause();
    }
    this.#serve();
  }

  #push(frame: Uint8Array): void {
    this.#frames.push(frame);
    this.#queuedBytes += frame.length;
  }

  /** A hostile or broken peer: keep the complete frames, refuse the rest, destroy the socket. */
  #drop(message: string): void {
    this.#fatal = new ProcessError(message);
    this.#inPayload = false;
    this.#parts = [];
    this.#hdrGot = 0;
    this.#socket.destroy();
    this.#serve();
  }

  #onEnd(): void {
    if (this.#eof) return;
    this.#eof = true;
    this.#eofMidFrame = this.#midFrame();
    this.#parts = [];
    this.#serve();
  }

  // ---- reading ----------------------------------------------------------

  #queued(): number {
    return this.#frames.length - this.#framesHead;
  }

  #shift(): Uint8Array {
    const f = this.#frames[this.#framesHead]!;
    this.#frames[this.#framesHead++] = undefined as unknown as Uint8Array;
    if (this.#framesHead > 64 && this.#framesHead * 2 > this.#frames.length) {
      this.#frames = this.#frames.slice(this.#framesHead);
      this.#framesHead = 0;
    }
    this.#queuedBytes -= f.length;
    if (this.#paused && this.#queuedBytes < READ_HIGH_WATER) {
      this.#paused = false;
      this.#socket.resume();
    }
    return f;
  }

  /** Python: a message over maxLength is not delivered and this end stops being readable. */
  #refuse(length: number, maxLength: number): never {
    const err = badLength(`bad message length: the message has ${length} bytes, more than maxLength (${maxLength})`);
    this.#unreadable = err;
    this.#frames = [];
    this.#framesHead = 0;
    this.#queuedBytes = 0;
    this.#inPayload = false;
    this.#parts = [];
    if (this.#paused) {
      this.#paused = false;
      this.#socket.resume();
    }
    throw err;
  }

  /** One read attempt: a frame, `null` at the end, NOT_YET, or a throw. */
  #tryRead(maxLength: number | undefined): Uint8Array | null | typeof NOT_YET {
    if (this.#closed) throw closedError();
    if (this.#unreadable !== null) throw this.#unreadable;
    if (this.#queued() > 0) {
      const next = this.#frames[this.#framesHead]!;
      if (maxLength !== undefined && next.length > maxLength) this.#refuse(next.length, maxLength);
      return this.#shift();
    }
    if (this.#fatal !== null) throw this.#fatal;
    if (this.#eof) {
      if (this.#eofMidFrame) throw new ProcessError('got end of file during message: the peer closed the connection in the middle of a message');
      return null;
    }
    if (this.#inPayload && maxLength !== undefined && this.#payloadLength > maxLength) this.#refuse(this.#payloadLength, maxLength);
    return NOT_YET;
  }

  #readyToRead(): boolean {
    return this.#queued() > 0 || this.#fatal !== null || this.#eof || this.#unreadable !== null || this.#closed;
  }

  #serve(): void {
    while (this.#readers.length > 0) {
      const r = this.#readers[0]!;
      let out: Uint8Array | null | typeof NOT_YET;
      try {
        out = this.#tryRead(r.maxLength);
      } catch (e) {
        this.#readers.shift();
        r.cleanup();
        r.reject(e);
        continue;
      }
      if (out === NOT_YET) break;
      this.#readers.shift();
      r.cleanup();
      r.resolve(out);
    }
    if (this.#pollers.size > 0 && this.#readyToRead()) {
      const all = [...this.#pollers];
      this.#pollers.clear();
      for (const p of all) {
        p.cleanup();
        if (this.#closed) p.reject(closedError());
        else p.resolve(true);
      }
    }
  }

  /** Sets up the timer and abort listener of a waiter; returns its cleanup. */
  #arm(timeoutMs: number, signal: AbortSignal | undefined, onTimeout: () => void, onAbort: () => void): () => void {
    const timer = Number.isFinite(timeoutMs) ? setTimeout(onTimeout, timeoutMs) : undefined;
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#hold();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      this.#release();
    };
  }

  read(timeoutMs: number, signal?: AbortSignal, maxLength?: number): Promise<ReadResult> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#readers.length === 0) {
      try {
        const out = this.#tryRead(maxLength);
        if (out !== NOT_YET) return Promise.resolve(out);
      } catch (e) {
        return Promise.reject(e);
      }
    } else if (this.#closed) {
      return Promise.reject(closedError());
    }
    if (!(timeoutMs > 0)) return this.#readAfterIoTurn(maxLength);
    return new Promise<ReadResult>((resolve, reject) => {
      const reader: Reader = {
        maxLength,
        resolve,
        reject,
        cleanup: () => {},
      };
      const remove = () => {
        const i = this.#readers.indexOf(reader);
        if (i >= 0) this.#readers.splice(i, 1);
        reader.cleanup();
      };
      reader.cleanup = this.#arm(
        timeoutMs,
        signal,
        () => {
          remove();
          resolve(TIMED_OUT);
        },
        () => {
          remove();
          reject(signal!.reason);
        },
      );
      this.#readers.push(reader);
    });
  }

  /**
   * A read that does not wait: bytes already in the kernel are taken in first
   * (one turn of the event loop's I/O phase), so that, as with Python's
   * `poll()`, a message the peer has finished sending counts as arrived.
   */
  async #readAfterIoTurn(maxLength: number | undefined): Promise<ReadResult> {
    await ioTurn();
    if (this.#readers.length > 0) return TIMED_OUT;
    const out = this.#tryRead(maxLength);
    return out === NOT_YET ? TIMED_OUT : out;
  }

  readSync(): ReadResult {
    throw new ProcessError('blocking reads are not available on a socket connection: use the async form');
  }

  poll(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#closed) return Promise.reject(closedError());
    if (this.#readyToRead()) return Promise.resolve(true);
    if (!(timeoutMs > 0)) {
      return ioTurn().then(() => {
        if (this.#closed) throw closedError();
        return this.#readyToRead();
      });
    }
    return new Promise<boolean>((resolve, reject) => {
      const poller: Poller = { resolve, reject, cleanup: () => {} };
      poller.cleanup = this.#arm(
        timeoutMs,
        signal,
        () => {
          this.#pollers.delete(poller);
          poller.cleanup();
          resolve(false);
        },
        () => {
          this.#pollers.delete(poller);
          poller.cleanup();
          reject(signal!.reason);
        },
      );
      this.#pollers.add(poller);
    });
  }

  pollSync(): boolean {
    throw new ProcessError('blocking polls are not available on a socket connection: use the async form');
  }

  // ---- writing ----------------------------------------------------------

  #checkWritable(): void {
    if (this.#closed) throw closedError();
    const s = this.#socket;
    if (s.destroyed || s.writableEnded || !s.writable) throw brokenPipe(this.#socketError);
  }

  /** A writer must queue while the socket's buffer is full or others queue before it. */
  #mustWait(): boolean {
    return this.#socket.writableNeedDrain || this.#writers.length > 0 || this.#granted;
  }

  /** Lets the first queued writer go when the socket has room (on 'drain' and after each write). */
  #wakeWriter(): void {
    if (this.#granted || this.#socket.writableNeedDrain) return;
    const w = this.#writers.shift();
    if (w === undefined) return;
    this.#granted = true;
    w.cleanup();
    w.resolve(null);
  }

  #failWriters(): void {
    const all = this.#writers.splice(0);
    for (const w of all) {
      w.cleanup();
      w.reject(this.#closed ? closedError() : brokenPipe(this.#socketError));
    }
  }

  /** Waits for this writer's turn, in FIFO order; rejects on abort (nothing sent). */
  #turn(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const w: Reader = { maxLength: undefined, resolve: () => resolve(), reject, cleanup: () => {} };
      const onAbort = () => {
        const i = this.#writers.indexOf(w);
        if (i >= 0) this.#writers.splice(i, 1);
        w.cleanup();
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      w.cleanup = () => signal?.removeEventListener('abort', onAbort);
      this.#writers.push(w);
    });
  }

  async write(parts: readonly Uint8Array[], signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    this.#checkWritable();
    let held = false;
    try {
      if (this.#mustWait()) {
        this.#hold();
        held = true;
      }
      if (this.#mustWait()) {
        await this.#turn(signal);
        this.#granted = false;
        try {
          this.#checkWritable();
        } catch (e) {
          this.#failWriters();
          throw e;
        }
      }
      let n = 0;
      for (const p of parts) n += p.byteLength;
      const header = encodeHeader(n);
      const s = this.#socket;
      const flushed = new Promise<void>((resolve, reject) => {
        const cb = (err?: Error | null) => {
          if (err) reject(this.#closed ? closedError() : brokenPipe(err));
          else resolve();
        };
        if (n <= SMALL_FRAME) {
          // header and payload in one write (Python does the same, against Nagle delays)
          const buf = Buffer.allocUnsafe(header.length + n);
          buf.set(header, 0);
          let at = header.length;
          for (const p of parts) {
            buf.set(p, at);
            at += p.byteLength;
          }
          s.write(buf, cb);
        } else {
          // header and parts in one writev, without copying the payload
          const chunks = parts.filter((p) => p.byteLength > 0);
          s.cork();
          s.write(header);
          for (let i = 0; i < chunks.length - 1; i++) s.write(chunks[i]!);
          s.write(chunks[chunks.length - 1]!, cb);
          s.uncork();
        }
      });
      this.#wakeWriter();
      // Keep the program alive while the frame waits in Node's buffer (not
      // needed when the kernel took it at once: the callback comes next tick).
      if (!held && s.writableLength > 0) {
        this.#hold();
        held = true;
      }
      await flushed;
    } finally {
      if (held) this.#release();
    }
  }

  writeSync(): void {
    throw new ProcessError('blocking writes are not available on a socket connection: use the async form');
  }

  // ---- closing ----------------------------------------------------------

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#frames = [];
    this.#framesHead = 0;
    this.#queuedBytes = 0;
    this.#parts = [];
    this.#failWriters();
    const s = this.#socket;
    if (s.writableLength === 0 || s.destroyed) s.destroy();
    else {
      // frames handed to the socket but not yet to the kernel still go out
      s.end();
      s.once('finish', () => s.destroy());
    }
    this.#serve();
  }
}
