/**
 * Shared memory segments behind the library's objects (locks, values, …).
 *
 * With the native part a segment is a POSIX shared-memory object mapped as a
 * real `SharedArrayBuffer`, so any process can attach it by name; without it,
 * a plain `SharedArrayBuffer` (shared by worker threads only).
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
import { isMainThread } from 'node:worker_threads';
import { randomBytes } from 'node:crypto';
import { native } from './native.js';
import { state } from './state.js';
import { pidAlive } from './liveness.js';
import { ProcessError } from '../errors.js';
import { getLogger } from '../logging.js';

/** Bytes reserved at the start of a named segment for the attachment table. */
export const HEADER_BYTES = 128;
const MAGIC = 0x6d707473; // 'mpts'
const SLOTS = 15;

/** A piece of shared memory, usable by this thread. */
export interface Segment {
  readonly sab: SharedArrayBuffer;
  /** POSIX name, or null for a thread-only SharedArrayBuffer. */
  readonly name: string | null;
  /** Byte offset where the object's own data starts. */
  readonly base: number;
}

/** How a segment travels to another worker. */
export interface SegmentRef {
  name: string | null;
  sab?: SharedArrayBuffer;
  size: number;
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

function header(sab: SharedArrayBuffer): Int32Array {
  return new Int32Array(sab, 0, HEADER_BYTES / 4);
}

function lockHeader(h: Int32Array): void {
  while (Atomics.compareExchange(h, 1, 0, 1) !== 0) {
    /* held for a few instructions by another process: spin */
  }
}

function unlockHeader(h: Int32Array): void {
  Atomics.store(h, 1, 0);
}

/** Adds `delta` handles of this process to the segment's table; returns the number of processes attached. */
function account(sab: SharedArrayBuffer, delta: number, clearAll = false): number {
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

function detach(name: string, clearAll = false): void {
  const st = ss();
  const n = st.attachedHere.get(name) ?? 0;
  if (!clearAll && n > 1) {
    st.attachedHere.set(name, n - 1);
    return;
  }
  st.attachedHere.delete(name);
  st.cache.delete(name);
  if (!native) return;
  let sab: SharedArrayBuffer;
  try {
    sab = native.shmOpen(name);
  } catch {
    return; // already unlinked
  }
  if (account(sab, clearAll ? 0 : -1, clearAll) === 0) native.shmUnlink(name);
}

function installExitHook(st: SegState): void {
  if (st.exitHook || !isMainThread) return;
  st.exitHook = true;
  // The whole process is going: drop its handles from every table (threads included).
  process.once('exit', () => {
    for (const name of [...st.attachedHere.keys()]) detach(name, true);
  });
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
  if (st.swept || !native || !state().isMain) return;
  st.swept = true;
  let names: string[];
  try {
    names = readdirSync('/dev/shm').filter((n) => n.startsWith('mpts-'));
  } catch {
    return;
  }
  let removed = 0;
  for (const file of names) {
    try {
      const sab = native.shmOpen(`/${file}`);
      const h = header(sab);
      if (h[0] !== MAGIC) continue;
      let alive = false;
      for (let i = 0; i < SLOTS; i++) {
        const p = h[2 + i * 2]!;
        if (p !== 0 && pidAlive(p)) alive = true;
      }
      if (!alive && native.shmUnlink(`/${file}`)) removed++;
    } catch {
      /* raced with its owner: leave it */
    }
  }
  if (removed) getLogger().info(`removed ${removed} shared memory segment(s) left by crashed programs`);
}

/** Allocates a segment with `size` bytes of data for a library object. */
export function allocate(size: number): Segment {
  const st = ss();
  if (!native) return { sab: new SharedArrayBuffer(size), name: null, base: 0 };
  sweepLeftovers();
  const name = `/mpts-${process.pid}-${++st.seq}-${randomBytes(4).toString('hex')}`;
  const sab = native.shmCreate(name, HEADER_BYTES + size);
  const h = header(sab);
  h[0] = MAGIC;
  account(sab, 1);
  const seg = track({ sab, name, base: HEADER_BYTES });
  // account() above counted the creating handle; track() counted it in this process.
  return seg;
}

/**
 * What a worker needs to reach the segment. A worker thread gets the buffer
 * itself; another process gets the name.
 */
export function segmentRef(seg: Segment, transport: 'thread' | 'process', size: number): SegmentRef {
  if (transport === 'thread') return { name: seg.name, sab: seg.sab, size };
  if (seg.name === null) {
    throw new ProcessError(
      "this object lives in memory that only worker threads can share: the native part of multiprocessing-ts (built at install) is missing, so objects cannot cross to the 'process' start method. Reinstall with a C++ toolchain, or use getContext('thread').",
    );
  }
  return { name: seg.name, size };
}

/** Reaches a segment described by a SegmentRef (attaching by name if needed). */
export function attach(ref: SegmentRef): Segment {
  const st = ss();
  if (ref.name !== null) {
    const hit = st.cache.get(ref.name)?.deref();
    if (hit) return hit;
    if (!native) throw new ProcessError('cannot attach a named shared memory segment: the native part is missing');
    const sab = ref.sab ?? native.shmOpen(ref.name);
    account(sab, 1);
    return track({ sab, name: ref.name, base: HEADER_BYTES });
  }
  if (!ref.sab) throw new ProcessError('a thread-only shared object reached another process');
  return { sab: ref.sab, name: null, base: 0 };
}
