/**
 * The channel of a `Pipe` end: shared-memory rings (one per direction).
 *
 * Each ring keeps a table of who holds copies of its writing and reading
 * ends (internal/ring: holders). A `Connection` counts as one copy in its
 * thread from creation until `close()` (or until the garbage collector takes
 * it, or its thread or process ends). A copy on its way to another worker
 * (a `Process` argument, a queue item, a message) counts under a token of
 * its own from the moment it is encoded until the receiver revives it, so a
 * reader never sees the end of the stream while a copy is in flight.
 * @internal
 */
import { TIMED_OUT, type Channel, type ReadResult } from './channel.js';
import { noteInFlight, noteRetainable } from '../reduction.js';
import { Ring, READERS, WRITERS, EOF, TIMEOUT, readAsync, readSync, writeAsync, writeSync, pollAsync, pollSync, type RingRef } from './ring.js';

/** How a pipe end travels. */
export interface RingChannelState {
  read: RingRef | null;
  write: RingRef | null;
  /** The in-flight token (a negative holder key) this copy is counted under. */
  token: string;
}

let tokenSeq = 0;
function newToken(): bigint {
  // Negative: never mistaken for a thread's key, never reaped as dead.
  return -((BigInt(process.pid) << 32n) | BigInt(++tokenSeq));
}

interface Held {
  read: Ring | null;
  write: Ring | null;
  open: boolean;
}

const registry = new FinalizationRegistry<Held>((h) => drop(h));

function drop(h: Held): void {
  if (!h.open) return;
  h.open = false;
  h.read?.release(READERS);
  h.write?.release(WRITERS);
}

function result(r: Uint8Array | typeof EOF | typeof TIMEOUT): ReadResult {
  if (r === EOF) return null;
  if (r === TIMEOUT) return TIMED_OUT;
  return r;
}

export class RingChannel implements Channel {
  readonly canRead: boolean;
  readonly canWrite: boolean;
  readonly supportsSync = true;
  readonly #held: Held;

  /** A new end over `read`/`write` rings, counted as a copy held by this thread. */
  constructor(read: Ring | null, write: Ring | null, fromToken?: bigint) {
    this.canRead = read !== null;
    this.canWrite = write !== null;
    this.#held = { read, write, open: true };
    noteRetainable();
    read?.hold(READERS);
    write?.hold(WRITERS);
    if (fromToken !== undefined) {
      read?.release(READERS, fromToken);
      write?.release(WRITERS, fromToken);
    }
    registry.register(this, this.#held, this);
  }

  get #r(): Ring {
    return this.#held.read!;
  }
  get #w(): Ring {
    return this.#held.write!;
  }

  write(parts: readonly Uint8Array[], signal?: AbortSignal): Promise<void> {
    const w = this.#w;
    const job = w.newWrite(parts);
    // One step without waiting first: most sends need no more.
    if (w.stepWrite(job, true) === null) return Promise.resolve();
    return writeAsync(w, job, Infinity, true, signal).then(() => undefined);
  }

  writeSync(parts: readonly Uint8Array[]): void {
    const w = this.#w;
    writeSync(w, w.newWrite(parts), Infinity, true);
  }

  async read(timeoutMs: number, signal?: AbortSignal, maxLength?: number): Promise<ReadResult> {
    const r = this.#r;
    const job = r.newRead(maxLength ?? Infinity);
    const first = r.stepRead(job, true);
    if (first instanceof Uint8Array || first === EOF) return result(first);
    return result(await readAsync(r, job, timeoutMs, true, signal));
  }

  readSync(timeoutMs: number, maxLength?: number): ReadResult {
    const r = this.#r;
    return result(readSync(r, r.newRead(maxLength ?? Infinity), timeoutMs, true));
  }

  poll(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return pollAsync(this.#r, timeoutMs, signal);
  }

  pollSync(timeoutMs: number): boolean {
    return pollSync(this.#r, timeoutMs);
  }

  close(): void {
    registry.unregister(this);
    drop(this.#held);
  }

  /** Counts one more copy under a fresh token; returns the function that drops it (idempotent). */
  #token(): { token: bigint; release: () => void } {
    const token = newToken();
    const { read, write } = this.#held;
    read?.hold(READERS, 1, token);
    write?.hold(WRITERS, 1, token);
    let done = false;
    return {
      token,
      release: () => {
        if (done) return;
        done = true;
        // No-op for a side whose receiver already took the token over.
        read?.release(READERS, token);
        write?.release(WRITERS, token);
      },
    };
  }

  /** A copy kept for a sender that will encode this end later (a Process not started yet). */
  retain(): () => void {
    return this.#token().release;
  }

  /** Counts a copy in flight (under a fresh token) and describes it for the receiver. */
  reduce(transport: 'thread' | 'process'): RingChannelState {
    const { token, release } = this.#token();
    noteInFlight(release);
    const { read, write } = this.#held;
    return { read: read?.ref(transport) ?? null, write: write?.ref(transport) ?? null, token: token.toString() };
  }

  /** The receiving side of `reduce`: a copy held here, the token's count given back. */
  static revive(s: RingChannelState): RingChannel {
    return new RingChannel(s.read ? Ring.attach(s.read) : null, s.write ? Ring.attach(s.write) : null, BigInt(s.token));
  }
}
