/**
 * Shared memory segments behind the library's objects (locks, values, …).
 *
 * How a segment is made depends on the memory mode (internal/memory):
 * - `native`: a POSIX shared-memory object mapped as a real
 *   `SharedArrayBuffer` by the addon; any process attaches it by name, a
 *   worker thread gets the buffer itself;
 * - `koffi`: the same POSIX object mapped through `koffi` as a plain
 *   `ArrayBuffer`; every thread and process attaches it by name (an
 *   `ArrayBuffer` cannot be shared by posting it);
 * - `local`: a plain `SharedArrayBuffer`, shared by worker threads; a segment
 *   that may live at a broker (locks, values) crosses to a `'process'` child
 *   as an id registered with this process's broker thread;
 * - `broker` (a `'process'` child of a `local` parent): the memory lives in
 *   the parent; the segment is an id there, reached through
 *   internal/broker-client, and `sab` is a local stand-in that is never read.
 *
 * Lifetime of named segments: the first 128 bytes hold a table of the
 * processes that have it attached (pid, number of live handles in that
 * process). A handle collected by the GC detaches; a process's exit detaches
 * all its handles; the last detach unlinks the name. A crashed program's
 * segments are removed by the next program using the library: at start the
 * main process unlinks every `mpts-*` segment none of whose attached
 * processes is alive (Python's resource tracker does this job there).
 * @internal
 */
import { readdirSync } from 'node:fs';
import { isMainThread, threadId } from 'node:worker_threads';
import { native } from './native.js';
import { state, randomSuffix } from './state.js';
import { pidAlive, ownerAlive } from './liveness.js';
import { memoryMode, koffiApi } from './memory.js';
import { brokerRegister, brokerLookup } from './broker.js';
import { remoteAllocate } from './broker-client.js';
import { ProcessError } from '../errors.js';
import { getLogger } from '../logging.js';

/** Bytes reserved at the start of a named segment for the attachment table. */
export const HEADER_BYTES = 128;
const MAGIC = 0x6d707473; // 'mpts'
// Header words: [0] MAGIC; [1] the table's lock: 0 free, else its holder's pid; [2 + 2i, 3 + 2i]
// slot i: pid, handles; [HOLDER_TID] the lock holder's thread id + 1 (0 while it is written).
const SLOTS = 14;
const LOCK = 1;
const HOLDER_TID = 2 + SLOTS * 2;
/** Spins between two looks at whether the table lock's holder is still alive. */
const SPINS_PER_CHECK = 1024;
/** A holder of our own process whose thread word stays unwritten this long has ended half way. */
const HALF_WRITTEN_MS = 1000;

/** A piece of shared memory, usable by this thread. */
export interface Segment {
  /**
   * The memory: a `SharedArrayBuffer` (native, local), a plain `ArrayBuffer`
   * mapped by koffi (use `Atomics` for every shared access), or, in broker
   * mode, a local stand-in of the right size that holds nothing.
   */
  readonly sab: SharedArrayBuffer | ArrayBuffer;
  /** POSIX name, or null for a process-local or broker segment. */
  readonly name: string | null;
  /** Byte offset where the object's own data starts. */
  readonly base: number;
  /** Broker mode: the segment's id at the parent's broker (its memory is there). */
  readonly remote: number | null;
  /** Whether the segment may live at a broker (its users go through word operations). */
  readonly brokered: boolean;
}

/** How a segment travels to another worker. */
export interface SegmentRef {
  name: string | null;
  sab?: SharedArrayBuffer;
  size: number;
  /** Id at the broker of the main process (mode local/broker). */
  remote?: number;
}

/** Options of `allocate`/`attach`. */
export interface SegmentOptions {
  /**
   * The caller accesses the memory only through the word operations of
   * internal/word-ops, so the segment may live at a broker. Without it, broker
   * mode throws (the memory cannot be mapped there).
   */
  broker?: boolean;
}

/** The POSIX shared-memory calls of this mode (null: no named segments). */
interface Store {
  create(name: string, size: number): SharedArrayBuffer | ArrayBuffer;
  open(name: string): SharedArrayBuffer | ArrayBuffer;
  unlink(name: string): boolean;
}

let storeOfThread: Store | null | undefined;

/** Named shared memory in this mode, or null (local, broker). */
export function namedStore(): Store | null {
  if (storeOfThread !== undefined) return storeOfThread;
  const mode = memoryMode();
  if (mode === 'native' && native) {
    const n = native;
    storeOfThread = { create: (name, size) => n.shmCreate(name, size), open: (name) => n.shmOpen(name), unlink: (name) => n.shmUnlink(name) };
  } else if (mode === 'koffi') {
    const k = koffiApi();
    storeOfThread = { create: (name, size) => k.shmCreate(name, size).buf, open: (name) => k.shmOpen(name).buf, unlink: (name) => k.shmUnlink(name) };
  } else storeOfThread = null;
  return storeOfThread;
}

function noBroker(what: string): ProcessError {
  return new ProcessError(
    `${what} needs memory shared between processes: neither the native part of multiprocessing-ts nor the optional package koffi is usable here, ` +
      "and only locks, semaphores, conditions, events, barriers and values can go through the parent's broker. Install a C++ toolchain (or koffi), or use getContext('thread').",
  );
}

interface SegState {
  seq: number;
  cache: Map<string, WeakRef<Segment>>;
  registry: FinalizationRegistry<string> | null;
  attachedHere: Map<string, number>;
  exitHook: boolean;
  swept: boolean;
}

const KEY = Symbol.for('multiprocessing-ts.segments');
function ss(): SegState {
  const g = globalThis as unknown as Record<symbol, SegState | undefined>;
  return (g[KEY] ??= { seq: 0, cache: new Map(), registry: null, attachedHere: new Map(), exitHook: false, swept: false });
}

function header(sab: SharedArrayBuffer | ArrayBuffer): Int32Array {
  return new Int32Array(sab, 0, HEADER_BYTES / 4);
}

/**
 * Takes the attachment table's lock. It is held for a few instructions, so a taker spins; but a
 * process killed, or a worker thread terminated, inside those instructions never lets go, and
 * spinning on would stall the caller for good (a process's exit hook among them, which then
 * cannot even be stopped by a signal). So every SPINS_PER_CHECK turns the taker looks at the
 * holder, and takes the lock over when it has ended.
 */
function lockHeader(h: Int32Array): void {
  const me = process.pid;
  let spins = 0;
  let halfWrittenSince = 0;
  for (;;) {
    if (Atomics.compareExchange(h, LOCK, 0, me) === 0) break;
    if (++spins % SPINS_PER_CHECK !== 0) continue;
    const holder = Atomics.load(h, LOCK);
    if (holder === 0) continue;
    const tidWord = Atomics.load(h, HOLDER_TID);
    let ended: boolean;
    if (holder !== me) ended = !pidAlive(holder);
    else if (tidWord !== 0) ended = tidWord - 1 !== threadId && !ownerAlive((BigInt(holder) << 32n) | BigInt(tidWord - 1));
    else {
      // A thread of this process took it and has not written its id yet: it normally does so at once.
      halfWrittenSince ||= performance.now();
      ended = performance.now() - halfWrittenSince > HALF_WRITTEN_MS;
    }
    if (ended && Atomics.compareExchange(h, LOCK, holder, me) === holder) {
      getLogger().debug(`took over the table lock of a shared memory segment from ended process ${holder}`);
      break;
    }
  }
  Atomics.store(h, HOLDER_TID, threadId + 1);
}

function unlockHeader(h: Int32Array): void {
  Atomics.store(h, HOLDER_TID, 0);
  Atomics.store(h, LOCK, 0);
}

/** Adds `delta` handles of this process to the segment's table; returns the number of processes attached. */
function account(sab: SharedArrayBuffer | ArrayBuffer, delta: number, clearAll = false): number {
  const h = header(sab);
  const pid = process.pid;
  lockHeader(h);
  try {
    let mine = -1;
    let free = -1;
    for (let i = 0; i < SLOTS; i++) {
      const p = h[2 + i * 2]!;
      if (p === pid) mine = i;
      else if (p === 0 && free < 0) free = i;
    }
    if (mine < 0 && delta > 0) {
      mine = free; // a full table only loses tracking, never memory safety
      if (mine >= 0) h[2 + mine * 2] = pid;
    }
    if (mine >= 0) {
      const c = clearAll ? 0 : Math.max(0, h[3 + mine * 2]! + delta);
      h[3 + mine * 2] = c;
      if (c === 0) h[2 + mine * 2] = 0;
    }
    let attached = 0;
    for (let i = 0; i < SLOTS; i++) if (h[2 + i * 2] !== 0) attached++;
    return attached;
  } finally {
    unlockHeader(h);
  }
}

/**
 * Whether a process in the table still runs (this one too, while another of
 * its threads holds a handle); those killed, children this process
 * terminated say, never let go.
 */
function othersAlive(sab: SharedArrayBuffer | ArrayBuffer): boolean {
  const h = header(sab);
  for (let i = 0; i < SLOTS; i++) {
    const p = Atomics.load(h, 2 + i * 2);
    if (p !== 0 && pidAlive(p)) return true;
  }
  return false;
}

function detach(name: string, clearAll = false): void {
  const st = ss();
  const n = st.attachedHere.get(name) ?? 0;
  if (!clearAll && n > 1) {
    st.attachedHere.set(name, n - 1);
    return;
  }
  st.attachedHere.delete(name);
  const hit = st.cache.get(name)?.deref();
  st.cache.delete(name);
  const store = namedStore();
  if (!store) return;
  let sab: SharedArrayBuffer | ArrayBuffer;
  try {
    sab = hit?.sab ?? store.open(name);
  } catch {
    return; // already unlinked
  }
  if (account(sab, clearAll ? 0 : -1, clearAll) === 0 || !othersAlive(sab)) store.unlink(name);
}

function installExitHook(st: SegState): void {
  if (st.exitHook) return;
  st.exitHook = true;
  if (!isMainThread) {
    // A worker thread that ends normally lets go of its handles (a terminated one cannot:
    // the main thread's sweep at exit covers it).
    process.once('exit', () => {
      for (const name of [...st.attachedHere.keys()]) detach(name);
    });
    return;
  }
  // The whole process is going: drop it from the table of every segment it may have
  // attached, whichever thread did (threads' handles are not known here).
  process.once('exit', () => {
    for (const name of [...st.attachedHere.keys()]) detach(name, true);
    leaveAll();
  });
}

/** At exit of the process: removes this pid from every library segment's table. */
function leaveAll(): void {
  const store = namedStore();
  if (!store) return;
  let names: string[];
  try {
    names = readdirSync('/dev/shm').filter((n) => n.startsWith('mpts-'));
  } catch {
    return;
  }
  for (const file of names) {
    try {
      const sab = store.open(`/${file}`);
      const h = header(sab);
      if (h[0] !== MAGIC) continue;
      let mine = false;
      for (let i = 0; i < SLOTS; i++) if (Atomics.load(h, 2 + i * 2) === process.pid) mine = true;
      // Only segments this process was in: one just created elsewhere has an empty table a moment.
      if (!mine) continue;
      if (account(sab, 0, true) === 0 || !othersAlive(sab)) store.unlink(`/${file}`);
    } catch {
      /* gone meanwhile */
    }
  }
}

/**
 * Makes sure this process's exit cleans the segments its threads attached
 * (called when a worker thread is started, which may attach segments the
 * main thread never sees).
 */
export function watchSegments(): void {
  if (isMainThread && namedStore()) installExitHook(ss());
}

function track(seg: Segment): Segment {
  const st = ss();
  if (seg.name === null) return seg;
  st.registry ??= new FinalizationRegistry((name: string) => detach(name));
  st.registry.register(seg, seg.name);
  st.cache.set(seg.name, new WeakRef(seg));
  st.attachedHere.set(seg.name, (st.attachedHere.get(seg.name) ?? 0) + 1);
  installExitHook(st);
  return seg;
}

/** Unlinks segments left by programs that died without cleaning up. */
function sweepLeftovers(): void {
  const st = ss();
  const store = namedStore();
  if (st.swept || !store || !state().isMain) return;
  st.swept = true;
  let names: string[];
  try {
    names = readdirSync('/dev/shm').filter((n) => n.startsWith('mpts-'));
  } catch {
    return;
  }
  let removed = 0;
  const present = new Set(names);
  for (const file of names) {
    try {
      // A large queue item in a segment of its own lives as long as its queue's segment.
      const item = ITEM_NAME.exec(file);
      if (item) {
        if (!present.has(item[1]!) && store.unlink(`/${file}`)) removed++;
        continue;
      }
      // A segment whose header was never written (its creator was killed between creating and
      // initialising it, or it is still being made): nobody else can have attached it, so it
      // goes once the process that made it (named in the segment's name) has ended.
      let h: Int32Array | null = null;
      try {
        const sab = store.open(`/${file}`);
        if (sab.byteLength >= HEADER_BYTES) h = header(sab);
      } catch {
        // empty (never sized): cannot be mapped
      }
      if (h === null || h[0] !== MAGIC) {
        const creator = Number(/^mpts-(\d+)-/.exec(file)?.[1] ?? 0);
        if (creator > 0 && creator !== process.pid && !pidAlive(creator) && store.unlink(`/${file}`)) removed++;
        continue;
      }
      let alive = false;
      for (let i = 0; i < SLOTS; i++) {
        const p = h[2 + i * 2]!;
        if (p !== 0 && pidAlive(p)) alive = true;
      }
      if (!alive && store.unlink(`/${file}`)) removed++;
    } catch {
      /* raced with its owner: leave it */
    }
  }
  if (removed) getLogger().info(`removed ${removed} shared memory segment(s) left by crashed programs`);
}

/** Names of item segments: `<queue segment name>-i<pid>x<seq>`. */
const ITEM_NAME = /^(mpts-.+)-i\d+x\d+$/;
let itemSeq = 0;

/**
 * A segment holding one large item of the queue or pipe whose segment is
 * `owner`, or null when this mode has no named segments. It is not tracked:
 * the reader unlinks it once it has copied the item out, and the sweep of
 * leftovers removes it once its owner's segment is gone.
 */
export function createItemSegment(owner: Segment, data: Uint8Array): string | null {
  const store = namedStore();
  if (!store || owner.name === null) return null;
  const name = `${owner.name}-i${process.pid}x${++itemSeq}`;
  const buf = store.create(name, Math.max(1, data.length));
  new Uint8Array(buf, 0, data.length).set(data);
  return name;
}

/** Copies out the first `length` bytes of an item segment and removes it; null if it is gone. */
export function takeItemSegment(name: string, length: number): Uint8Array | null {
  const store = namedStore();
  if (!store) return null;
  let buf: SharedArrayBuffer | ArrayBuffer;
  try {
    buf = store.open(name);
  } catch {
    return null;
  }
  const out = new Uint8Array(length);
  out.set(new Uint8Array(buf, 0, length));
  return out;
}

/** Removes an item segment (after it was taken, or when its write was abandoned). */
export function dropItemSegment(name: string): void {
  try {
    namedStore()?.unlink(name);
  } catch {
    /* already gone */
  }
}

/** Allocates a segment with `size` bytes of data for a library object. */
export function allocate(size: number, options: SegmentOptions = {}): Segment {
  const st = ss();
  const brokered = options.broker === true;
  const store = namedStore();
  if (!store) {
    if (memoryMode() === 'broker') {
      if (!brokered) throw noBroker('this object');
      return { sab: new ArrayBuffer(size), name: null, base: 0, remote: remoteAllocate(size), brokered };
    }
    return { sab: new SharedArrayBuffer(size), name: null, base: 0, remote: null, brokered };
  }
  sweepLeftovers();
  const name = `/mpts-${process.pid}-${++st.seq}-${threadId}-${randomSuffix()}`;
  const sab = store.create(name, HEADER_BYTES + size);
  const h = header(sab);
  Atomics.store(h, 0, MAGIC);
  account(sab, 1);
  // account() above counted the creating handle in the table; track() counts it in this thread.
  return track({ sab, name, base: HEADER_BYTES, remote: null, brokered });
}

/**
 * What a worker needs to reach the segment. A worker thread gets the buffer
 * itself when it is a SharedArrayBuffer, the name otherwise; another process
 * gets the name, or the segment's id at the broker.
 */
export function segmentRef(seg: Segment, transport: 'thread' | 'process', size: number): SegmentRef {
  if (seg.remote !== null) return { name: null, size, remote: seg.remote };
  if (seg.name !== null) {
    if (transport === 'thread' && seg.sab instanceof SharedArrayBuffer) return { name: seg.name, sab: seg.sab, size };
    return { name: seg.name, size };
  }
  const sab = seg.sab as SharedArrayBuffer;
  if (transport === 'thread') return { name: null, sab, size };
  if (!seg.brokered) {
    throw new ProcessError(
      "this object lives in memory that only worker threads can share: neither the native part of multiprocessing-ts (built at install) nor the optional package koffi is usable, so it cannot cross to the 'process' start method. Reinstall with a C++ toolchain (or install koffi), or use getContext('thread').",
    );
  }
  return { name: null, size, remote: brokerRegister(sab) };
}

/** Reaches a segment described by a SegmentRef (attaching by name if needed). */
export function attach(ref: SegmentRef, options: SegmentOptions = {}): Segment {
  const st = ss();
  const brokered = options.broker === true;
  if (ref.remote !== undefined) {
    if (memoryMode() === 'broker') {
      if (!brokered) throw noBroker('this object');
      return { sab: new ArrayBuffer(ref.size), name: null, base: 0, remote: ref.remote, brokered };
    }
    // Back in the process that owns the broker: the memory itself.
    const sab = brokerLookup(ref.remote);
    if (!sab) throw new ProcessError(`shared object ${ref.remote} is unknown to this process's broker`);
    return { sab, name: null, base: 0, remote: null, brokered };
  }
  if (ref.name !== null) {
    const hit = st.cache.get(ref.name)?.deref();
    if (hit) return hit;
    const store = namedStore();
    if (!store) throw new ProcessError('cannot attach a named shared memory segment: neither the native part nor koffi is usable here');
    const sab = ref.sab ?? store.open(ref.name);
    account(sab, 1);
    return track({ sab, name: ref.name, base: HEADER_BYTES, remote: null, brokered });
  }
  if (!ref.sab) throw new ProcessError('a thread-only shared object reached another process');
  return { sab: ref.sab, name: null, base: 0, remote: null, brokered };
}

/** @internal test hooks: the attachment table's lock on a header of `HEADER_BYTES`. */
export const _tableLock = { lock: lockHeader, unlock: unlockHeader, holderTidIndex: HOLDER_TID };
