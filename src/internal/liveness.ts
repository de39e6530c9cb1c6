/**
 * Who is running: identity keys of threads, and whether the holder behind a
 * key is still alive (for taking over a lock whose holder died).
 *
 * A key is the pid in the high 32 bits and the thread id in the low 32 bits.
 * Another process is alive while its pid exists and is not a zombie. A thread
 * of this process is dead once its parent saw it exit: parents record that in
 * a table shared by every thread of the process (handed to each new worker
 * thread at boot).
 * @internal
 */
import { threadId, isMainThread } from 'node:worker_threads';
import { readFileSync } from 'node:fs';

/** This thread's key. */
export function selfKey(): bigint {
  return (BigInt(process.pid) << 32n) | BigInt(threadId);
}

/** Human description of a key, for messages. */
export function describeKey(key: bigint): string {
  const pid = Number(key >> 32n);
  const tid = Number(key & 0xffffffffn);
  return tid === 0 ? `process ${pid}` : `worker thread ${tid} of process ${pid}`;
}

/** True while a process with this pid exists and is not a zombie. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const KEY = Symbol.for('multiprocessing-ts.liveThreads');
const SIZE = 4096;

/** The process-wide table: slot `tid % SIZE` holds `-tid` once thread `tid` ended. */
export function liveTable(): Int32Array | null {
  const g = globalThis as unknown as Record<symbol, Int32Array | undefined>;
  if (!g[KEY] && isMainThread) g[KEY] = new Int32Array(new SharedArrayBuffer(4 * SIZE));
  return g[KEY] ?? null;
}

/** Installs the table a new worker thread received from its parent. */
export function setLiveTable(sab: SharedArrayBuffer): void {
  (globalThis as unknown as Record<symbol, Int32Array>)[KEY] = new Int32Array(sab);
}

/** Records that worker thread `tid` of this process ended. */
export function markThreadDead(tid: number): void {
  const t = liveTable();
  if (t) Atomics.store(t, tid % SIZE, -tid);
}

/** Whether the holder behind `key` may still be running. */
export function ownerAlive(key: bigint): boolean {
  if (key === 0n) return true;
  const pid = Number(key >> 32n);
  // pid 0: a key read while its holder was clearing or writing it (the two words are not
  // written at once): that holder is running.
  if (pid === 0) return true;
  if (pid !== process.pid) return pidAlive(pid);
  const tid = Number(key & 0xffffffffn);
  if (tid === threadId || tid === 0) return true;
  const t = liveTable();
  return !(t !== null && Atomics.load(t, tid % SIZE) === -tid);
}
