/**
 * The transport of queues and pipes: a ring of bytes in shared memory, any
 * number of writers and readers in any workers of any process.
 *
 * Layout of the segment (after the segment header):
 * - words 0..31: positions, counters, sequence words waited on, two mutexes;
 * - bytes 128..1151: the table of holders of the two sides (pipes only);
 * - bytes 1152..: the data, `cap` bytes (a power of two).
 *
 * A message is one record, or for a message larger than a quarter of the
 * ring, a series of pieces. A record is 8-byte aligned: a 16-byte header
 * (payload length, flags FIRST/LAST/SKIP, total message length) and the
 * payload. A SKIP record fills the end of the ring when the next record does
 * not fit there.
 *
 * Writers take the write mutex, check room, copy, then publish by moving
 * TAIL (release) and bumping DSEQ; readers take the read mutex, copy the
 * record out, then move HEAD and bump SSEQ. A worker killed before it moved
 * the position leaves no trace (a reader's item stays for the next reader);
 * after, the item is gone with it. A message in pieces holds both mutexes
 * for its whole length; a writer or reader that dies half way is detected
 * (its mutex's holder is dead) and the partial message is dropped.
 * Waits never hold a mutex, except between the pieces of one message.
 * @internal
 */
import { allocate, attach, segmentRef, createItemSegment, takeItemSegment, dropItemSegment, type Segment, type SegmentRef } from './segments.js';
import { waitAsync, waitSync, notify, SLICE_MS } from './waiting.js';
import { ShmMutex } from './mutex.js';
import { ownerAlive, selfKey } from './liveness.js';
import { ProcessError } from '../errors.js';

// Header words (Int32 index, relative to the object's base), one cache line per side so
// that a writer and a reader on two cores do not keep stealing each other's line:
// - the writers' line (bytes 0..63): TAIL, DSEQ, PUBLISHED, the write mutex and its owner;
// - the readers' line (bytes 64..127): HEAD, SSEQ, CONSUMED, the read mutex and its owner;
// - a line of words that change rarely (bytes 128..191): sizes, sleeper counts, holders.
const TAIL = 0;
const DSEQ = 1; // bumped when data is published or a writer side closes
const PUBLISHED = 2; // messages published (wraps; count = PUBLISHED - CONSUMED)
const WMUTEX = 3; // state word; owner at int64 index 4 (bytes 32..39)
const W_OWNER = 4;
const HEAD = 16;
const SSEQ = 17; // bumped when room is made or a reader side closes
const CONSUMED = 18;
const RMUTEX = 19; // state word; owner at int64 index 12 (bytes 96..103)
const R_OWNER = 12;
const CAP = 32;
const MAXSIZE = 33;
const R_SLEEP = 34;
const W_SLEEP = 35;
/** JoinableQueue: items put and not yet marked done. */
export const UNFINISHED = 36;
const J_SLEEP = 37;
const HMUTEX = 38; // holders table; owner at int64 index 20 (bytes 160..167)
const H_OWNER = 20;
const TOTAL = 42; // + side: sum of the holder counts of side 0 (writers) / 1 (readers)
const INIT = 44; // 1 once initialised
const SIDE = 45; // 1: large messages go to item segments (queues); 0: in pieces (pipes)
// 1 once a publisher has woken the sleeping readers (writers), 0 again when one goes to sleep:
// while the woken ones are still getting up, further publishes skip the wake-up call (a
// system call for waiters in other processes), which they would only repeat.
const R_WOKEN = 46;
const W_WOKEN = 47;
const UNBOUNDED = 0x7fffffff;

const HOLDERS_BYTE = 192;
const SLOTS = 32; // per side; a slot is 16 bytes: int64 key, int32 count
const DATA_BYTE = HOLDERS_BYTE + 2 * SLOTS * 16; // 1216

/** Loads of a waited-on word before sleeping (a few microseconds). */
const SPINS = 2000;

const HDR = 16;
const F_FIRST = 1;
const F_LAST = 2;
const F_SKIP = 4;
const F_SIDE = 8; // the payload is the name of an item segment holding the message
/** Large items in segments of their own (MULTIPROCESSING_TS_ITEM_SEGMENTS=0: always in pieces, for tests). */
const ITEM_SEGMENTS = process.env.MULTIPROCESSING_TS_ITEM_SEGMENTS !== '0';

/** Result of a read that waited too long. */
export const TIMEOUT: unique symbol = Symbol('ring-timeout');
/** Result of a read on a drained ring whose writers are all gone. */
export const EOF: unique symbol = Symbol('ring-eof');
/** Result of a write when no reader is left (pipes). */
export const NO_READER: unique symbol = Symbol('ring-no-reader');

/** Returned by a step that needs a mutex another worker holds: wait for it with lock*Sync/Async. */
export const LOCK: unique symbol = Symbol('ring-lock');

export type RingRead = Uint8Array | typeof TIMEOUT | typeof EOF;

/** Sides of the holders table. */
export const WRITERS = 0;
export const READERS = 1;

const SELF = selfKey();
const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

function pad8(n: number): number {
  return (n + 7) & ~7;
}

/** How `Ring` values travel. */
export interface RingRef {
  seg: SegmentRef;
}

/** What a wait needs: which word, and the value it had. */
interface Blocked {
  word: number;
  seen: number;
  sleepers: number;
}

/** A write in progress (a message in pieces keeps its state between waits). */
interface WriteJob {
  data: Uint8Array; // the whole message (or the name of its item segment)
  off: number; // bytes already published
  started: boolean; // holding the write mutex between pieces
  countsItem: boolean;
  /** Set when the message went to an item segment: its length and the segment's name. */
  side: { total: number; name: string } | null;
  /** Publish without waking sleeping readers: the writer calls `wakeReaders()` after a burst. */
  quiet: boolean;
}

/** A read in progress. */
interface ReadJob {
  buf: Uint8Array | null; // the message being assembled
  off: number;
  holding: boolean;
  maxLength: number;
  requireComplete: boolean;
}

export class Ring {
  readonly #seg: Segment;
  readonly #i32: Int32Array;
  readonly #i64: BigInt64Array;
  readonly #u8: Uint8Array;
  readonly #d32: Int32Array;
  readonly #cap: number;
  readonly #mask: number;
  readonly #piece: number;
  readonly #wm: ShmMutex;
  readonly #rm: ShmMutex;
  readonly #hm: ShmMutex;
  readonly #bytes: number;
  readonly #maxsize: number;

  readonly #sideItems: boolean;

  private constructor(seg: Segment, bytes: number, cap: number | null, maxsize: number, sideItems = false) {
    this.#seg = seg;
    this.#bytes = bytes;
    this.#i32 = new Int32Array(seg.sab, seg.base, DATA_BYTE / 4);
    this.#i64 = new BigInt64Array(seg.sab, seg.base, DATA_BYTE / 8);
    if (cap !== null) {
      Atomics.store(this.#i32, CAP, cap);
      Atomics.store(this.#i32, MAXSIZE, maxsize);
      Atomics.store(this.#i32, SIDE, sideItems ? 1 : 0);
      Atomics.store(this.#i32, INIT, 1);
    }
    this.#cap = Atomics.load(this.#i32, CAP);
    this.#maxsize = Atomics.load(this.#i32, MAXSIZE);
    this.#sideItems = Atomics.load(this.#i32, SIDE) === 1 && ITEM_SEGMENTS;
    this.#mask = this.#cap - 1;
    this.#piece = this.#cap / 4 - HDR;
    this.#u8 = new Uint8Array(seg.sab, seg.base + DATA_BYTE, this.#cap);
    this.#d32 = new Int32Array(seg.sab, seg.base + DATA_BYTE, this.#cap / 4);
    this.#wm = new ShmMutex(this.#i32, WMUTEX, this.#i64, W_OWNER, 'the write side of a queue or pipe');
    this.#rm = new ShmMutex(this.#i32, RMUTEX, this.#i64, R_OWNER, 'the read side of a queue or pipe');
    this.#hm = new ShmMutex(this.#i32, HMUTEX, this.#i64, H_OWNER, 'the holders table of a pipe');
  }

  /**
   * A new ring of `capacity` bytes (rounded up to a power of two, at least 4 KiB).
   * `sideItems`: a message larger than a piece goes to a segment of its own (queues:
   * no producer waits behind another's large item), else through the ring in pieces
   * (pipes: copying in and out overlap, the faster way for one writer and one reader).
   */
  static create(capacity: number, maxsize: number, sideItems = false): Ring {
    let cap = 4096;
    while (cap < capacity) cap *= 2;
    const bytes = DATA_BYTE + cap;
    return new Ring(allocate(bytes), bytes, cap, maxsize, sideItems);
  }

  /** Reaches a ring described by `ref` (from another worker). */
  static attach(ref: RingRef): Ring {
    return new Ring(attach(ref.seg), ref.seg.size, null, 0);
  }

  /** @internal for transfer. */
  ref(transport: 'thread' | 'process'): RingRef {
    return { seg: segmentRef(this.#seg, transport, this.#bytes) };
  }

  /** Header words, for queue-level counters (JoinableQueue). */
  get words(): Int32Array {
    return this.#i32;
  }

  get maxsize(): number {
    return Atomics.load(this.#i32, MAXSIZE);
  }

  /** Complete messages waiting. */
  count(): number {
    return (Atomics.load(this.#i32, PUBLISHED) - Atomics.load(this.#i32, CONSUMED)) | 0;
  }

  /** True when the queue holds `maxsize` messages. */
  #full(): boolean {
    const max = this.#maxsize;
    return max !== UNBOUNDED && this.count() >= max;
  }

  // ---------------------------------------------------------------------------------
  // Writing

  newWrite(parts: Uint8Array | readonly Uint8Array[], countsItem = true, quiet = false): WriteJob {
    let data: Uint8Array;
    if (parts instanceof Uint8Array) data = parts;
    else if (parts.length === 1) data = parts[0]!;
    else {
      let n = 0;
      for (const p of parts) n += p.length;
      data = new Uint8Array(n);
      let o = 0;
      for (const p of parts) {
        data.set(p, o);
        o += p.length;
      }
    }
    // A large message goes to a segment of its own when this mode has named segments: the
    // ring then carries only its name, so no other writer waits behind it. Else it goes
    // through the ring in pieces.
    if (data.length > this.#piece && this.#sideItems) {
      const name = createItemSegment(this.#seg, data);
      if (name !== null) {
        return { data: utf8.encode(name), off: 0, started: false, countsItem, side: { total: data.length, name }, quiet };
      }
    }
    return { data, off: 0, started: false, countsItem, side: null, quiet };
  }

  /**
   * Wakes the sleeping readers (after quiet writes), unless a wake-up is already on its way to
   * them. A writer that fills a burst of messages and then wakes once lets a reader find the
   * whole burst, instead of getting up for the first message and going back to sleep.
   */
  wakeReaders(): void {
    const a = this.#i32;
    if (Atomics.load(a, R_SLEEP) > 0 && Atomics.exchange(a, R_WOKEN, 1) === 0) notify(a, DSEQ, Infinity);
  }

  /**
   * Advances a write as far as it can go without waiting. Returns null when
   * the message is all published, else what to wait for. `checkReaders`:
   * a pipe refuses when no reader is left.
   */
  stepWrite(job: WriteJob, checkReaders: boolean): Blocked | typeof NO_READER | typeof LOCK | null {
    const a = this.#i32;
    for (;;) {
      if (checkReaders && !job.started && this.holders(READERS) === 0) return NO_READER;
      if (!job.started) {
        const seen = Atomics.load(a, SSEQ); // read before the count: a change after it ends the wait
        if (job.countsItem && this.#full()) return { word: SSEQ, seen, sleepers: W_SLEEP };
        if (!this.#wm.tryLock()) return LOCK;
        job.started = true;
      }
      if (job.off === 0 && job.countsItem && this.#full()) {
        const seen = Atomics.load(a, SSEQ);
        this.#wm.unlock();
        job.started = false;
        if (this.#full()) return { word: SSEQ, seen, sleepers: W_SLEEP };
        continue;
      }
      const total = job.data.length;
      const n = Math.min(this.#piece, total - job.off);
      const size = job.side ? job.side.total : total;
      const need = HDR + pad8(n);
      const tail = Atomics.load(a, TAIL);
      const seen = Atomics.load(a, SSEQ);
      const free = this.#cap - ((tail - Atomics.load(a, HEAD)) >>> 0);
      const pos = tail & this.#mask;
      const room = this.#cap - pos;
      const skip = room < need ? room : 0;
      if (free < skip + need) {
        if (job.off === 0) {
          // Nothing published yet: let go of the mutex while waiting for room.
          this.#wm.unlock();
          job.started = false;
        }
        if (checkReaders && this.holders(READERS) === 0) {
          if (job.started) {
            this.#wm.unlock();
            job.started = false;
          }
          return NO_READER;
        }
        return { word: SSEQ, seen, sleepers: W_SLEEP };
      }
      let at = pos;
      let t = tail;
      if (skip) {
        const w = at >> 2;
        this.#d32[w] = 0;
        this.#d32[w + 1] = F_SKIP;
        t = (t + skip) >>> 0;
        at = 0;
      }
      const first = job.off === 0;
      const last = job.off + n === total;
      const w = at >> 2;
      this.#d32[w] = n;
      this.#d32[w + 1] = (first ? F_FIRST : 0) | (last ? F_LAST : 0) | (job.side ? F_SIDE : 0);
      this.#d32[w + 2] = size % 0x100000000;
      this.#d32[w + 3] = Math.floor(size / 0x100000000);
      if (n > 64) this.#u8.set(n === total ? job.data : job.data.subarray(job.off, job.off + n), at + HDR);
      else {
        const u8 = this.#u8;
        const src = job.data;
        for (let i = 0, o = at + HDR, from = job.off; i < n; i++) u8[o + i] = src[from + i]!;
      }
      job.off += n;
      // Publish: the release store orders the bytes above before the new tail.
      Atomics.store(a, TAIL, (t + need) >>> 0);
      if (last) {
        Atomics.add(a, PUBLISHED, 1);
        this.#wm.unlock();
        job.started = false;
      }
      Atomics.add(a, DSEQ, 1);
      // (A message in pieces wakes its reader at every piece: the reader holds the read side.)
      if ((!job.quiet || !last) && Atomics.load(a, R_SLEEP) > 0 && Atomics.exchange(a, R_WOKEN, 1) === 0) notify(a, DSEQ, Infinity);
      if (last) return null;
    }
  }

  /** Lets go of a write that cannot finish (an abort before any piece was published). */
  abandonWrite(job: WriteJob): void {
    if (job.started) {
      this.#wm.unlock();
      job.started = false;
    }
    if (job.side && job.off === 0) dropItemSegment(job.side.name);
  }

  /** Whether the writer holding the write mutex died (a reader waits on a message in pieces). */
  writerDead(): boolean {
    return this.#wm.holderDead();
  }

  // ---------------------------------------------------------------------------------
  // Reading

  newRead(maxLength = Infinity, requireComplete = false): ReadJob {
    return { buf: null, off: 0, holding: false, maxLength, requireComplete };
  }

  /**
   * Advances a read as far as it can go without waiting: a whole message,
   * EOF (pipes: drained and every writer gone), or what to wait for.
   * `requireComplete` (non-blocking gets): only start on a complete message.
   */
  stepRead(job: ReadJob, eofOnNoWriters: boolean): Uint8Array | typeof EOF | typeof LOCK | Blocked {
    const a = this.#i32;
    for (;;) {
      const seen = Atomics.load(a, DSEQ);
      if (!job.holding) {
        if (Atomics.load(a, HEAD) === Atomics.load(a, TAIL) || (job.requireComplete && this.count() <= 0)) {
          // Writers first, then the positions: a writer publishes its last message before it
          // lets go, so once no writer is seen, a message still to come is already visible.
          // (The other order lost it: empty seen, then the message and the close, then no writer.)
          if (eofOnNoWriters && this.holders(WRITERS) === 0 && Atomics.load(a, HEAD) === Atomics.load(a, TAIL)) return EOF;
          return { word: DSEQ, seen, sleepers: R_SLEEP };
        }
        if (!this.#rm.tryLock()) return LOCK;
        job.holding = true;
      }
      const head = Atomics.load(a, HEAD);
      if (head === Atomics.load(a, TAIL)) {
        if (job.buf === null) {
          this.#rm.unlock();
          job.holding = false;
          continue;
        }
        // Between the pieces of a message: its writer may have died.
        if (this.writerDead()) {
          job.buf = null;
          job.off = 0;
          this.#rm.unlock();
          job.holding = false;
          continue;
        }
        return { word: DSEQ, seen, sleepers: R_SLEEP };
      }
      const at = head & this.#mask;
      const w = at >> 2;
      const n = this.#d32[w]!;
      const flags = this.#d32[w + 1]!;
      if (flags & F_SKIP) {
        this.#advance(head, this.#cap - at);
        continue;
      }
      const need = HDR + pad8(n);
      if (flags & F_FIRST) {
        if (job.buf !== null) {
          // The previous message's writer died half way: drop its pieces.
          job.buf = null;
          job.off = 0;
        }
        const total = (this.#d32[w + 2]! >>> 0) + this.#d32[w + 3]! * 0x100000000;
        if (total > job.maxLength) {
          // Python: the message is not delivered, the end stops being readable.
          this.#rm.unlock();
          job.holding = false;
          const err = new ProcessError(`bad message length: the message has ${total} bytes, more than maxLength (${job.maxLength})`);
          Object.defineProperty(err, 'badLength', { value: true });
          throw err;
        }
        if (flags & F_SIDE) {
          // Copy the item out before moving the read position: a reader killed meanwhile
          // leaves it for the next one.
          const name = utf8d.decode(this.#u8.slice(at + HDR, at + HDR + n));
          const out = takeItemSegment(name, total);
          this.#advance(head, need);
          Atomics.add(a, CONSUMED, 1);
          this.#rm.unlock();
          job.holding = false;
          this.#wakeWriters();
          dropItemSegment(name);
          if (out === null) continue; // removed by a sweep: the item is lost
          return out;
        }
        if (flags & F_LAST) {
          const out = this.#u8.slice(at + HDR, at + HDR + n);
          this.#advance(head, need);
          Atomics.add(a, CONSUMED, 1);
          this.#rm.unlock();
          job.holding = false;
          this.#wakeWriters();
          return out;
        }
        job.buf = new Uint8Array(total);
        job.off = 0;
      } else if (job.buf === null) {
        // A piece of a message whose reader died: skip it (and the message's count with its last piece).
        this.#advance(head, need);
        if (flags & F_LAST) Atomics.add(a, CONSUMED, 1);
        this.#wakeWriters();
        continue;
      }
      job.buf.set(this.#u8.subarray(at + HDR, at + HDR + n), job.off);
      job.off += n;
      this.#advance(head, need);
      if (flags & F_LAST) {
        const out = job.buf;
        job.buf = null;
        Atomics.add(a, CONSUMED, 1);
        this.#rm.unlock();
        job.holding = false;
        this.#wakeWriters();
        return out;
      }
      this.#wakeWriters();
    }
  }

  #advance(head: number, by: number): void {
    Atomics.store(this.#i32, HEAD, (head + by) >>> 0);
  }

  #wakeWriters(): void {
    const a = this.#i32;
    Atomics.add(a, SSEQ, 1);
    if (Atomics.load(a, W_SLEEP) > 0 && Atomics.exchange(a, W_WOKEN, 1) === 0) notify(a, SSEQ, Infinity);
  }

  /** Lets go of a read that will not go on (an abort before any piece was taken). */
  abandonRead(job: ReadJob): void {
    if (job.holding && job.buf === null) {
      this.#rm.unlock();
      job.holding = false;
    }
  }

  /** True when a read has started on a message in pieces (an abort must not stop it). */
  readInProgress(job: ReadJob): boolean {
    return job.buf !== null;
  }

  // ---------------------------------------------------------------------------------
  // Waiting

  /** Takes the write mutex for `job` (after a step returned LOCK). */
  lockWriterSync(job: WriteJob, deadline: number): boolean {
    if (!this.#wm.lockSync(deadline)) return false;
    job.started = true;
    return true;
  }

  async lockWriterAsync(job: WriteJob, deadline: number, signal?: AbortSignal): Promise<boolean> {
    if (!(await this.#wm.lockAsync(deadline, signal))) return false;
    job.started = true;
    return true;
  }

  /** Takes the read mutex for `job` (after a step returned LOCK). */
  lockReaderSync(job: ReadJob, deadline: number): boolean {
    if (!this.#rm.lockSync(deadline)) return false;
    job.holding = true;
    return true;
  }

  async lockReaderAsync(job: ReadJob, deadline: number, signal?: AbortSignal): Promise<boolean> {
    if (!(await this.#rm.lockAsync(deadline, signal))) return false;
    job.holding = true;
    return true;
  }

  /** Brief spinning first: a ring passing a stream of items rarely needs to sleep. */
  #spin(b: Blocked): boolean {
    const a = this.#i32;
    for (let k = 0; k < SPINS; k++) if (Atomics.load(a, b.word) !== b.seen) return true;
    return false;
  }

  /**
   * Counts the caller among the sleepers, then re-arms the wake-up call: the store comes
   * after the count and before the wait's own check of the word, so a publish that the wait
   * would miss finds either the count and a cleared flag (and calls), or a word that already
   * moved (and the wait returns at once).
   */
  #sleeping(b: Blocked): void {
    const a = this.#i32;
    Atomics.add(a, b.sleepers, 1);
    if (b.sleepers === R_SLEEP) Atomics.store(a, R_WOKEN, 0);
    else if (b.sleepers === W_SLEEP) Atomics.store(a, W_WOKEN, 0);
  }

  waitSync(b: Blocked, timeoutMs: number): void {
    if (this.#spin(b)) return;
    const a = this.#i32;
    this.#sleeping(b);
    try {
      waitSync(a, b.word, b.seen, Math.min(timeoutMs, SLICE_MS));
    } finally {
      Atomics.sub(a, b.sleepers, 1);
    }
  }

  async waitAsync(b: Blocked, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.#spin(b)) return;
    const a = this.#i32;
    this.#sleeping(b);
    try {
      await waitAsync(a, b.word, b.seen, Math.min(timeoutMs, SLICE_MS), signal);
    } finally {
      Atomics.sub(a, b.sleepers, 1);
    }
  }

  /** Wakes every waiter of both sides (after a side closed, or a counter changed). */
  wakeAll(): void {
    const a = this.#i32;
    Atomics.add(a, DSEQ, 1);
    Atomics.add(a, SSEQ, 1);
    notify(a, DSEQ, Infinity);
    notify(a, SSEQ, Infinity);
  }

  /**
   * For poll: null when data is there (a whole message, or the first pieces
   * of one), or with `eof` when the ring is drained and every writer gone;
   * else what to wait for.
   */
  pollBlocked(eof: boolean): Blocked | null {
    const a = this.#i32;
    const seen = Atomics.load(a, DSEQ);
    // Any bytes count (as Python's poll): a message in pieces completes only while it is read.
    if (Atomics.load(a, HEAD) !== Atomics.load(a, TAIL)) return null;
    if (eof && this.holders(WRITERS) === 0) return null;
    return { word: DSEQ, seen, sleepers: R_SLEEP };
  }

  // ---------------------------------------------------------------------------------
  // JoinableQueue counters

  addUnfinished(): void {
    Atomics.add(this.#i32, UNFINISHED, 1);
  }

  /** Marks one task done; false when none was outstanding. */
  taskDone(): boolean {
    const a = this.#i32;
    for (;;) {
      const v = Atomics.load(a, UNFINISHED);
      if (v <= 0) return false;
      if (Atomics.compareExchange(a, UNFINISHED, v, v - 1) === v) {
        if (v === 1 && Atomics.load(a, J_SLEEP) > 0) notify(a, UNFINISHED, Infinity);
        return true;
      }
    }
  }

  /** What `join` waits on while tasks are outstanding. */
  joinBlocked(): Blocked | null {
    const v = Atomics.load(this.#i32, UNFINISHED);
    return v === 0 ? null : { word: UNFINISHED, seen: v, sleepers: J_SLEEP };
  }

  // ---------------------------------------------------------------------------------
  // Holders of the two sides (pipes): who has a copy of which end

  #slot(side: number, i: number): number {
    return (HOLDERS_BYTE + (side * SLOTS + i) * 16) / 8; // int64 index of the key
  }

  /** Adds `n` copies held by `key` (default: this thread). */
  hold(side: number, n = 1, key: bigint = SELF): void {
    this.#hm.lockSync();
    try {
      let free = -1;
      for (let i = 0; i < SLOTS; i++) {
        const k = this.#slot(side, i);
        const owner = this.#i64[k]!;
        if (owner === key) {
          this.#i32[k * 2 + 2]! += n;
          Atomics.add(this.#i32, TOTAL + side, n);
          return;
        }
        if (owner === 0n && free < 0) free = i;
      }
      if (free < 0) this.#reap(side);
      for (let i = 0; free < 0 && i < SLOTS; i++) if (this.#i64[this.#slot(side, i)] === 0n) free = i;
      if (free < 0) throw new ProcessError(`too many workers hold copies of this pipe end (at most ${SLOTS})`);
      const k = this.#slot(side, free);
      this.#i64[k] = key;
      this.#i32[k * 2 + 2] = n;
      Atomics.add(this.#i32, TOTAL + side, n);
    } finally {
      this.#hm.unlock();
    }
  }

  /** Drops one copy held by `key`. */
  release(side: number, key: bigint = SELF): void {
    let found = false;
    this.#hm.lockSync();
    try {
      for (let i = 0; i < SLOTS; i++) {
        const k = this.#slot(side, i);
        if (this.#i64[k] === key) {
          if (--this.#i32[k * 2 + 2]! <= 0) {
            this.#i32[k * 2 + 2] = 0;
            this.#i64[k] = 0n;
          }
          Atomics.sub(this.#i32, TOTAL + side, 1);
          found = true;
          break;
        }
      }
    } finally {
      this.#hm.unlock();
    }
    if (found) this.wakeAll();
  }

  /** Frees the slots of holders that ended (caller holds the table's mutex). */
  #reap(side: number): number {
    let dropped = 0;
    for (let i = 0; i < SLOTS; i++) {
      const k = this.#slot(side, i);
      const owner = this.#i64[k]!;
      // Negative keys are copies in flight (revived later), never reaped here.
      if (owner > 0n && !ownerAlive(owner)) {
        const c = this.#i32[k * 2 + 2]!;
        this.#i64[k] = 0n;
        this.#i32[k * 2 + 2] = 0;
        Atomics.sub(this.#i32, TOTAL + side, c);
        dropped += c;
      }
    }
    return dropped;
  }

  /** Copies of a side still open anywhere (fast: one word). */
  holders(side: number): number {
    return Atomics.load(this.#i32, TOTAL + side);
  }

  /** Drops the copies of holders that ended; true if any was dropped. */
  reapDead(side: number): boolean {
    if (Atomics.load(this.#i32, TOTAL + side) === 0) return false;
    this.#hm.lockSync();
    let dropped: number;
    try {
      dropped = this.#reap(side);
    } finally {
      this.#hm.unlock();
    }
    if (dropped) this.wakeAll();
    return dropped > 0;
  }
}

// -------------------------------------------------------------------------------------
// Drivers: run a write or read to its end, blocking (Sync) or not (async)

function deadlineOf(timeoutMs: number): number {
  return timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
}

function brokenPipe(): ProcessError {
  const err = new ProcessError('broken pipe: every copy of the receiving end is closed');
  Object.defineProperty(err, 'code', { value: 'EPIPE', enumerable: true });
  return err;
}

/** After a wait slice that passed without news, drop holders that ended (pipes). */
function reapAfter(ring: Ring, side: number, startedAt: number): void {
  if (performance.now() - startedAt >= SLICE_MS - 1) ring.reapDead(side);
}

/**
 * Publishes a whole message. Resolves false if `timeoutMs` passed before
 * any of it was published; once a message in pieces has started it is
 * finished whatever the timeout or signal says. `pipe`: refuse (EPIPE) when
 * no reader is left.
 */
export function writeSync(ring: Ring, job: WriteJob, timeoutMs: number, pipe: boolean): boolean {
  const deadline = deadlineOf(timeoutMs);
  for (;;) {
    const r = ring.stepWrite(job, pipe);
    if (r === null) return true;
    if (r === NO_READER) {
      ring.abandonWrite(job);
      throw brokenPipe();
    }
    const going = job.off > 0;
    const left = going ? Infinity : deadline - performance.now();
    if (left <= 0) {
      ring.abandonWrite(job);
      return false;
    }
    if (r === LOCK) {
      if (!ring.lockWriterSync(job, going ? Infinity : deadline)) return false;
      continue;
    }
    // Waiting for room: the readers must be awake to make it (quiet writes did not wake them).
    if (job.quiet) ring.wakeReaders();
    const t0 = performance.now();
    ring.waitSync(r, left);
    if (pipe) reapAfter(ring, READERS, t0);
  }
}

/** The async `writeSync`; an abort before any of the message was published rejects with its reason. */
export async function writeAsync(ring: Ring, job: WriteJob, timeoutMs: number, pipe: boolean, signal?: AbortSignal): Promise<boolean> {
  const deadline = deadlineOf(timeoutMs);
  for (;;) {
    const r = ring.stepWrite(job, pipe);
    if (r === null) return true;
    if (r === NO_READER) {
      ring.abandonWrite(job);
      throw brokenPipe();
    }
    const going = job.off > 0;
    const left = going ? Infinity : deadline - performance.now();
    if (left <= 0) {
      ring.abandonWrite(job);
      return false;
    }
    const sig = going ? undefined : signal;
    try {
      if (r === LOCK) {
        if (!(await ring.lockWriterAsync(job, going ? Infinity : deadline, sig))) return false;
        continue;
      }
      if (job.quiet) ring.wakeReaders();
      const t0 = performance.now();
      await ring.waitAsync(r, left, sig);
      if (pipe) reapAfter(ring, READERS, t0);
    } catch (e) {
      ring.abandonWrite(job);
      throw e;
    }
  }
}

/**
 * Takes one whole message. `TIMEOUT` if `timeoutMs` passed before one
 * started; `EOF` (pipes) when drained and every writer is gone.
 */
export function readSync(ring: Ring, job: ReadJob, timeoutMs: number, pipe: boolean): RingRead {
  // (A read that does not wait reads no clock: the first read of the global `performance` in
  // a new worker loads it, about half a millisecond before its first task.)
  const waits = timeoutMs > 0;
  const deadline = waits ? deadlineOf(timeoutMs) : 0;
  for (;;) {
    const r = ring.stepRead(job, pipe);
    if (r instanceof Uint8Array || r === EOF) return r;
    const going = ring.readInProgress(job);
    const left = going ? Infinity : waits ? deadline - performance.now() : 0;
    if (left <= 0) {
      ring.abandonRead(job);
      return TIMEOUT;
    }
    if (r === LOCK) {
      if (!ring.lockReaderSync(job, going ? Infinity : deadline)) return TIMEOUT;
      continue;
    }
    const t0 = performance.now();
    ring.waitSync(r, left);
    if (pipe) reapAfter(ring, WRITERS, t0);
  }
}

/** The async `readSync`; an abort before a message started rejects with its reason. */
export async function readAsync(ring: Ring, job: ReadJob, timeoutMs: number, pipe: boolean, signal?: AbortSignal): Promise<RingRead> {
  const deadline = deadlineOf(timeoutMs);
  for (;;) {
    const r = ring.stepRead(job, pipe);
    if (r instanceof Uint8Array || r === EOF) return r;
    const going = ring.readInProgress(job);
    const left = going ? Infinity : deadline - performance.now();
    if (left <= 0) {
      ring.abandonRead(job);
      return TIMEOUT;
    }
    const sig = going ? undefined : signal;
    try {
      if (r === LOCK) {
        if (!(await ring.lockReaderAsync(job, going ? Infinity : deadline, sig))) return TIMEOUT;
        continue;
      }
      const t0 = performance.now();
      await ring.waitAsync(r, left, sig);
      if (pipe) reapAfter(ring, WRITERS, t0);
    } catch (e) {
      ring.abandonRead(job);
      throw e;
    }
  }
}

/** Waits until `pollBlocked` says ready; false when `timeoutMs` passed. */
export function pollSync(ring: Ring, timeoutMs: number): boolean {
  const deadline = deadlineOf(timeoutMs);
  for (;;) {
    const b = ring.pollBlocked(true);
    if (b === null) return true;
    const left = deadline - performance.now();
    if (left <= 0) return false;
    const t0 = performance.now();
    ring.waitSync(b, left);
    reapAfter(ring, WRITERS, t0);
  }
}

/** The async `pollSync`. */
export async function pollAsync(ring: Ring, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  const deadline = deadlineOf(timeoutMs);
  for (;;) {
    const b = ring.pollBlocked(true);
    if (b === null) return true;
    const left = deadline - performance.now();
    if (left <= 0) return false;
    const t0 = performance.now();
    await ring.waitAsync(b, left, signal);
    reapAfter(ring, WRITERS, t0);
  }
}
